"""Snapshot ground truth with independent readers: the adjudicated consensus, the majority of
the readers, one named reader, or the reference labels, each taking its labels and lesions from
the rows the policy names."""

from __future__ import annotations

import pytest

from annotations.adjudication import record_consensus
from annotations.models import ExamLabel, Finding, Mark
from ml.services.errors import NothingToTrain
from ml.services.snapshots import build_snapshot
from tests.factories import case_project, create_user

pytestmark = pytest.mark.django_db


def reader_read(exam, reader, pathology, *, box=None):
    ExamLabel.objects.create(project=exam.project, exam=exam, author=reader, pathology=pathology)
    if box is not None:
        finding = Finding.objects.create(
            project=exam.project,
            exam=exam,
            created_by=reader,
            finding_type="mass",
            pathology=pathology,
        )
        x, y, w, h = box
        Mark.objects.create(
            finding=finding,
            image=exam.images.first(),
            kind="box",
            geometry={"x": x, "y": y, "width": w, "height": h},
        )


def _exams(project):
    from senolab.imaging.models import Exam

    return list(Exam.objects.filter(project=project).order_by("id"))


def _labels(snapshot):
    return {int(e["key"]): e["labels"] for e in snapshot.manifest}


def _lesions(snapshot):
    return {
        int(e["key"]): [(round(x["cx"]), round(x["cy"])) for x in e["lesions"]]
        for e in snapshot.manifest
    }


def test_each_ground_truth_policy_takes_its_own_rows():
    ann, bob, carl, rev = (create_user() for _ in range(4))
    project = case_project(n_patients=2, exams_per_patient=1, owner=rev, annotator=ann)
    first, second = _exams(project)
    assert {first.labels.get().pathology, second.labels.get().pathology} == {"benign", "malignant"}
    # three readers on the first exam: two say malignant (bob and carl), one benign (ann)
    reader_read(first, ann, "benign", box=(2, 2, 4, 4))
    reader_read(first, bob, "malignant", box=(10, 10, 8, 8))
    reader_read(first, carl, "malignant")

    reference = build_snapshot(project, ground_truth="reference")
    assert (
        _labels(reference)[first.pk]["pathology"] == first.labels.get(source="reference").pathology
    )

    majority = build_snapshot(project, ground_truth="majority")
    assert set(_labels(majority)) == {first.pk}  # the second exam has no reader
    assert _labels(majority)[first.pk]["pathology"] == "malignant"
    # lesions of the reader agreeing with the majority most (bob and carl tie: bob's id is lower)
    assert _lesions(majority)[first.pk] == [(14, 14)]

    by_ann = build_snapshot(project, ground_truth="reader", ground_truth_reader=ann)
    assert _labels(by_ann)[first.pk]["pathology"] == "benign" and _lesions(by_ann)[first.pk] == [
        (4, 4)
    ]
    assert by_ann.ground_truth_reader == ann

    with pytest.raises(NothingToTrain):  # no consensus recorded yet
        build_snapshot(project, ground_truth="consensus")
    bob_finding = Finding.objects.get(created_by=bob)
    record_consensus(
        first, rev, {"pathology": "malignant", "birads": "4", "findings": [bob_finding.pk]}
    )
    consensus = build_snapshot(project, ground_truth="consensus")
    assert set(_labels(consensus)) == {first.pk}
    assert _labels(consensus)[first.pk]["pathology"] == "malignant"
    assert _labels(consensus)[first.pk]["birads"] == "4"
    assert _lesions(consensus)[first.pk] == [(14, 14)]
    assert len({s.content_hash for s in (reference, majority, by_ann, consensus)}) == 4


def test_a_majority_tie_goes_to_the_more_severe_value():
    ann, bob = create_user(), create_user()
    project = case_project(n_patients=1, exams_per_patient=1)
    [exam] = _exams(project)
    reader_read(exam, ann, "benign")
    reader_read(exam, bob, "malignant")
    assert (
        _labels(build_snapshot(project, ground_truth="majority"))[exam.pk]["pathology"]
        == "malignant"
    )


def test_the_reader_policy_needs_a_reader():
    project = case_project(n_patients=1, exams_per_patient=1)
    with pytest.raises(NothingToTrain, match="Name the reader"):
        build_snapshot(project, ground_truth="reader")


def test_training_api_takes_the_named_reader(client_for):
    owner, ann = create_user(), create_user()
    project = case_project(n_patients=1, exams_per_patient=1, owner=owner, annotator=ann)
    client = client_for(owner)
    body = {"project": project.pk, "recipe": "busi-malignancy", "ground_truth": "reader"}
    refused = client.post("/api/training-runs/", body, format="json")
    assert refused.status_code == 400
    outsider = create_user()
    assert (
        client.post(
            "/api/training-runs/", {**body, "ground_truth_reader": outsider.username}, format="json"
        ).status_code
        == 400
    )
    created = client.post(
        "/api/training-runs/", {**body, "ground_truth_reader": ann.username}, format="json"
    )
    assert created.status_code == 201, created.content
    assert created.json()["params"]["ground_truth_reader"] == ann.pk


def test_snapshots_api_builds_by_policy_and_shows_each_cases_labels(client_for):
    ann, rev, viewer = create_user(), create_user(), create_user()
    project = case_project(
        n_patients=2, exams_per_patient=1, reviewer=rev, annotator=ann, viewer=viewer
    )
    first, _ = _exams(project)
    reader_read(first, ann, "malignant", box=(3, 3, 6, 6))
    body = {"project": project.pk, "ground_truth": "reader", "ground_truth_reader": ann.username}
    assert client_for(viewer).post("/api/snapshots/", body, format="json").status_code == 403
    created = client_for(rev).post("/api/snapshots/", body, format="json")
    assert created.status_code == 201, created.content
    data = client_for(viewer).get(f"/api/snapshots/{created.json()['id']}/").json()
    assert data["ground_truth"] == "reader" and data["ground_truth_reader"] == ann.username
    assert [(c["exam"], c["labels"]["pathology"], c["lesions"]) for c in data["cases"]] == [
        (first.pk, "malignant", 1)
    ]
    refused = client_for(rev).post(
        "/api/snapshots/", {"project": project.pk, "ground_truth": "consensus"}, format="json"
    )
    assert refused.status_code == 400 and "No annotated exams" in refused.json()["error"]["message"]
    assert (
        client_for(create_user()).get(f"/api/snapshots/{created.json()['id']}/").status_code == 404
    )
