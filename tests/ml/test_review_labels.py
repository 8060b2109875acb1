"""A classifier's exam-level scores accepted as the reader's exam label: density, BI-RADS or
pathology from the proposal's class (or one breast's), its origin naming the proposal; classes
that no label field says are refused with the reason; the reader's other fields are kept."""

from __future__ import annotations

import pytest

from annotations.models import ExamLabel, Source
from ml.models import Prediction, Provenance, VersionStatus
from tests.factories import raster_image
from tests.ml.test_api import make_version

DENSITY = {"classes": ["A", "B", "C"], "values": []}
MALIGNANT = {"classes": ["benign-or-normal", "malignant"], "values": [0, 1]}


@pytest.fixture
def members(make_user):
    return {role: make_user(role) for role in ("owner", "reviewer", "annotator", "viewer")}


def scores_of(
    project, exam, *, label, config, top, breasts=None, task="classification", version=None
):
    version = version or make_version(
        project,
        modality="MG",
        status=VersionStatus.ACTIVE,
        task=task,
        label=label,
        recipe_config=config,
    )
    classes = config["classes"]
    scores = {c: (0.7 if c == top else 0.3 / (len(classes) - 1)) for c in classes}
    return Prediction.objects.create(
        project=project,
        model_version=version,
        exam=exam,
        outputs={
            "level": "exam",
            "probability": scores[classes[-1]],
            "label": top,
            "scores": scores,
            "breasts": breasts or {},
        },
    )


@pytest.fixture
def exam(make_project, members):
    project = make_project("Labels", **members)
    return raster_image(project, shape=(40, 30)).exam


def test_a_density_proposal_becomes_the_readers_label_and_keeps_her_birads(
    exam, members, client_for
):
    annotator = members["annotator"]
    client = client_for(annotator)
    # given the reader's own label with a BI-RADS, and a density model's exam-level scores
    saved = client.put(
        "/api/exam-labels/", {"exam": exam.pk, "version": 0, "birads": "2"}, format="json"
    )
    assert saved.status_code in (200, 201), saved.content
    proposal = scores_of(exam.project, exam, label="density", config=DENSITY, top="C")
    # the list says what accepting it records
    listed = {p["id"]: p for p in client.get(f"/api/exams/{exam.pk}/proposals/").json()}
    assert listed[proposal.pk]["label_choice"] == {"field": "density", "value": "C"}
    # when she accepts it
    response = client.post(f"/api/proposals/{proposal.pk}/accept/", {}, format="json")
    # then her label holds density C beside her BI-RADS, at the next version, naming the proposal
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["findings"] == [] and len(body["labels"]) == 1
    label = ExamLabel.objects.get(exam=exam, author=annotator, source=Source.HUMAN)
    assert (label.density, label.birads, label.version) == ("C", "2", 2)
    assert label.origin == {
        "kind": "accepted",
        "prediction": proposal.pk,
        "model_version": proposal.model_version_id,
        "field": "density",
        "value": "C",
    }
    assert body["labels"][0]["origin"]["value"] == "C"
    proposal.refresh_from_db()
    assert proposal.provenance == Provenance.ACCEPTED and proposal.reviewed_by == annotator
    assert proposal.review["labels"] == [label.pk]
    # and no other reader's label was touched or made
    assert ExamLabel.objects.filter(exam=exam).count() == 1


def test_one_breast_takes_its_own_scores(exam, members, client_for):
    breasts = {"L": {"A": 0.1, "B": 0.8, "C": 0.1}, "R": {"A": 0.6, "B": 0.3, "C": 0.1}}
    proposal = scores_of(
        exam.project, exam, label="density", config=DENSITY, top="C", breasts=breasts
    )
    response = client_for(members["reviewer"]).post(
        f"/api/proposals/{proposal.pk}/accept/", {"laterality": "L"}, format="json"
    )
    assert response.status_code == 200, response.content
    label = ExamLabel.objects.get(exam=exam, laterality="L")
    assert label.density == "B" and label.author == members["reviewer"]
    assert not ExamLabel.objects.filter(exam=exam, laterality="").exists()


def test_a_malignant_call_is_a_pathology_and_benign_or_normal_is_refused(exam, members, client_for):
    client = client_for(members["annotator"])
    malignant = scores_of(exam.project, exam, label="malignant", config=MALIGNANT, top="malignant")
    accepted = client.post(f"/api/proposals/{malignant.pk}/accept/", {}, format="json")
    assert accepted.status_code == 200, accepted.content
    assert ExamLabel.objects.get(exam=exam).pathology == "malignant"
    # a benign-or-normal call cannot say which: refused with the reason, nothing stored
    other = raster_image(exam.project, patient="p2", exam="e2").exam
    unsure = scores_of(
        exam.project,
        other,
        label="malignant",
        config=MALIGNANT,
        top="benign-or-normal",
        version=malignant.model_version,
    )
    assert client.get(f"/api/exams/{other.pk}/proposals/").json()[0]["label_choice"] is None
    refused = client.post(f"/api/proposals/{unsure.pk}/accept/", {}, format="json")
    assert refused.status_code == 400
    assert "benign or normal" in str(refused.json()["error"])
    assert not ExamLabel.objects.filter(exam=other).exists()
    unsure.refresh_from_db()
    assert unsure.provenance == Provenance.PROPOSED


def test_a_model_of_no_label_field_and_a_breast_without_scores_are_refused(
    exam, members, client_for
):
    client = client_for(members["annotator"])
    detector = scores_of(
        exam.project,
        exam,
        label="lesion",
        config={"classes": ["lesion"], "values": []},
        top="lesion",
        task="segmentation",
    )
    response = client.post(f"/api/proposals/{detector.pk}/accept/", {}, format="json")
    assert response.status_code == 400 and "record the label yourself" in str(response.json())
    density = scores_of(exam.project, exam, label="density", config=DENSITY, top="A")
    right = client.post(f"/api/proposals/{density.pk}/accept/", {"laterality": "R"}, format="json")
    assert right.status_code == 400 and "R breast" in str(right.json())
    assert not ExamLabel.objects.filter(exam=exam).exists()


def test_a_viewer_cannot_accept_a_label(exam, members, client_for):
    proposal = scores_of(exam.project, exam, label="density", config=DENSITY, top="B")
    response = client_for(members["viewer"]).post(f"/api/proposals/{proposal.pk}/accept/", {})
    assert response.status_code == 403
    assert not ExamLabel.objects.filter(exam=exam).exists()
