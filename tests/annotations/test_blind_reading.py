"""Blind reading: in a project with `hide_reference` on, viewers and annotators get no imported
ground truth from any endpoint (findings, masks, labels, worklist, exams and their descriptions,
filters); reviewers and owners still do. Reference findings are read-only to all but owners."""

from __future__ import annotations

import base64
import datetime as dt
import json

import numpy as np
import pytest

from annotations.models import ExamLabel, Finding, Mark, Source
from senolab.imaging import storage
from senolab.imaging.models import Exam
from tests.annotations.helpers import finding_body
from tests.factories import mask_png_base64

pytestmark = pytest.mark.django_db

SECRET = "BUSI malignant"


@pytest.fixture
def truth(room) -> Finding:
    """Imported ground truth on the current exam: a reference finding with a mask, a reference
    label, and the description an importer writes; the prior exam has none."""
    # Read before the "prior" exam, so it is listed among that exam's priors.
    earlier = Exam.objects.get(pk=room.prior.exam_id).study_date - dt.timedelta(days=365)
    Exam.objects.filter(pk=room.exam.pk).update(description=SECRET, study_date=earlier)
    Exam.objects.filter(pk=room.prior.exam_id).update(description="Screening prior")
    finding = Finding.objects.create(
        project=room.project,
        exam=room.exam,
        source=Source.REFERENCE,
        finding_type="mass",
        birads="5",
        pathology="malignant",
    )
    mask = np.zeros((4, 4), dtype=np.uint8)
    mask[1:3, 1:3] = 1
    key = storage.save(
        storage.new_key(room.project.pk, "masks", "png"),
        base64.b64decode(mask_png_base64(mask)),
    )
    Mark.objects.create(
        finding=finding,
        image=room.cc,
        kind="mask",
        mask_key=key,
        geometry={"x": 0, "y": 0, "width": 4, "height": 4},
    )
    ExamLabel.objects.create(
        project=room.project,
        exam=room.exam,
        source=Source.REFERENCE,
        density="D",
        birads="5",
        pathology="malignant",
    )
    return finding


def blind(room) -> None:
    room.project.hide_reference = True
    room.project.save(update_fields=["hide_reference"])


def everything_about_the_exam(client, room, truth) -> dict[str, object]:
    """Every read that could carry the reference, as the client receives it."""
    exam, project = room.exam.pk, room.project.pk
    mark = truth.marks.get()
    return {
        "findings": client.get(f"/api/findings/?exam={exam}").json()["results"],
        "reference findings": client.get(f"/api/findings/?exam={exam}&source=reference").json()[
            "results"
        ],
        "finding": client.get(f"/api/findings/{truth.pk}/").status_code,
        "versions": client.get(f"/api/findings/{truth.pk}/versions/").status_code,
        "mask": client.get(f"/api/marks/{mark.pk}/mask.png").status_code,
        "labels": client.get(f"/api/exam-labels/?exam={exam}").json(),
        "worklist": client.get(f"/api/worklist/?project={project}").json()["results"],
        "worklist birads 5": client.get(f"/api/worklist/?project={project}&birads=5").json()[
            "results"
        ],
        "worklist density D": client.get(f"/api/worklist/?project={project}&density=D").json()[
            "results"
        ],
        "exam": client.get(f"/api/exams/{exam}/").json(),
        "exams": client.get(f"/api/exams/?project={project}").json()["results"],
        "exams birads 5": client.get(f"/api/exams/?project={project}&birads=5").json()["results"],
        "exams density D": client.get(f"/api/exams/?project={project}&density=D").json()["results"],
        "priors": client.get(f"/api/exams/{room.prior.exam_id}/priors/").json(),
    }


@pytest.mark.parametrize("role", ["annotator", "viewer"])
def test_a_blind_reader_gets_no_reference_data_from_any_endpoint(room, client_for, truth, role):
    # Given a project that hides the reference, with a human finding beside the reference one
    blind(room)
    client_for(room.owner).post("/api/findings/", finding_body(room, birads="3"), format="json")
    # When an annotator (or a viewer) reads everything about the exam
    seen = everything_about_the_exam(client_for(getattr(room, role)), room, truth)
    # Then no finding, mask, label, BI-RADS, density or description of the reference comes back
    assert [f["source"] for f in seen["findings"]] == ["human"]
    assert seen["reference findings"] == []
    assert (seen["finding"], seen["versions"], seen["mask"]) == (404, 404, 404)
    assert seen["labels"] == []
    row = next(r for r in seen["worklist"] if r["exam"] == room.exam.pk)
    assert (row["birads"], row["density"], row["description"]) == ("3", "", "")
    assert seen["worklist birads 5"] == [] and seen["worklist density D"] == []
    assert seen["exam"]["description"] == ""
    assert [e["description"] for e in seen["exams"] if e["id"] == room.exam.pk] == [""]
    assert seen["exams birads 5"] == [] and seen["exams density D"] == []
    assert [e["description"] for e in seen["priors"] if e["id"] == room.exam.pk] == [""]
    # And nothing of it hides anywhere in the bodies
    everything = json.dumps(seen)
    assert SECRET not in everything and "malignant" not in everything
    # And an exam without reference keeps its description
    prior = next(r for r in seen["worklist"] if r["exam"] == room.prior.exam_id)
    assert prior["description"] == "Screening prior"


@pytest.mark.parametrize("role", ["reviewer", "owner"])
def test_reviewers_and_owners_of_a_blind_project_still_get_the_reference(
    room, client_for, truth, role
):
    # Given a project that hides the reference from readers
    blind(room)
    # When a reviewer or the owner reads the exam
    seen = everything_about_the_exam(client_for(getattr(room, role)), room, truth)
    # Then the reference is all there
    assert [f["id"] for f in seen["reference findings"]] == [truth.pk]
    assert (seen["finding"], seen["versions"], seen["mask"]) == (200, 200, 200)
    assert [label["source"] for label in seen["labels"]] == ["reference"]
    row = next(r for r in seen["worklist"] if r["exam"] == room.exam.pk)
    assert (row["birads"], row["density"], row["description"]) == ("5", "D", SECRET)
    assert [r["exam"] for r in seen["worklist birads 5"]] == [room.exam.pk]
    assert seen["exam"]["description"] == SECRET
    assert [e["id"] for e in seen["exams birads 5"]] == [room.exam.pk]
    assert [e["description"] for e in seen["priors"] if e["id"] == room.exam.pk] == [SECRET]


def test_without_the_setting_annotators_see_the_reference(room, client_for, truth):
    # Given a project that does not hide the reference (the default)
    assert room.project.hide_reference is False
    # When an annotator reads the exam
    seen = everything_about_the_exam(client_for(room.annotator), room, truth)
    # Then the reference is sent as before
    assert [f["id"] for f in seen["reference findings"]] == [truth.pk]
    assert seen["exam"]["description"] == SECRET
    assert [label["source"] for label in seen["labels"]] == ["reference"]


def test_the_blind_setting_hides_only_its_own_project(room, client_for, truth, make_project):
    # Given the annotator is an owner of a second, blind project with its own reference
    other = make_project(owner=room.annotator, annotator=room.reviewer)
    other.hide_reference = True
    other.save()
    # When the annotator reads the first project, which is not blind
    findings = client_for(room.annotator).get(f"/api/findings/?exam={room.exam.pk}").json()
    # Then the other project's setting changes nothing here
    assert [f["id"] for f in findings["results"]] == [truth.pk]


def test_only_owners_can_switch_blind_reading_on(room, client_for):
    # Given a project
    url = f"/api/projects/{room.project.pk}/"
    # When a reviewer, then the owner, turn hide_reference on
    refused = client_for(room.reviewer).patch(url, {"hide_reference": True}, format="json")
    switched = client_for(room.owner).patch(url, {"hide_reference": True}, format="json")
    # Then only the owner's change is kept, and the project says so
    assert refused.status_code == 403
    assert switched.status_code == 200 and switched.json()["hide_reference"] is True
    room.project.refresh_from_db()
    assert room.project.hide_reference is True


@pytest.mark.parametrize("role", ["annotator", "reviewer"])
def test_non_owners_cannot_edit_or_delete_a_reference_finding(room, client_for, truth, role):
    # Given a reference finding in a project that shows it
    client = client_for(getattr(room, role))
    url = f"/api/findings/{truth.pk}/"
    # When a non-owner edits or deletes it
    edited = client.patch(url, {"version": 1, "birads": "2"}, format="json")
    deleted = client.delete(f"{url}?version=1")
    # Then both are refused with a message that says who may, and nothing changed
    for response in (edited, deleted):
        assert response.status_code == 403
        assert "only an owner" in response.json()["error"]["message"]
    truth.refresh_from_db()
    assert (truth.birads, truth.deleted, truth.version) == ("5", False, 1)


def test_owners_can_edit_and_delete_a_reference_finding(room, client_for, truth):
    # Given a reference finding
    client = client_for(room.owner)
    url = f"/api/findings/{truth.pk}/"
    # When the owner corrects it, then deletes it
    edited = client.patch(url, {"version": 1, "birads": "4"}, format="json")
    deleted = client.delete(f"{url}?version=2")
    # Then both are accepted
    assert edited.status_code == 200 and edited.json()["birads"] == "4"
    assert deleted.status_code == 204
    truth.refresh_from_db()
    assert truth.deleted is True


def test_a_blind_annotator_cannot_reach_a_reference_finding_to_change_it(room, client_for, truth):
    # Given a blind project
    blind(room)
    # When an annotator tries to edit the reference finding by its id
    response = client_for(room.annotator).patch(
        f"/api/findings/{truth.pk}/", {"version": 1, "birads": "2"}, format="json"
    )
    # Then it does not exist for them
    assert response.status_code == 404


def test_a_reviewer_can_ask_the_worklist_to_leave_the_reference_out(room, client_for, truth):
    # Given a project that shows the reference
    client = client_for(room.reviewer)
    url = f"/api/worklist/?project={room.project.pk}"
    # When a reviewer asks for the worklist blind, and with a bad value
    blind = client.get(f"{url}&reference=hide").json()["results"]
    shown = client.get(url).json()["results"]
    bad = client.get(f"{url}&reference=maybe")
    # Then the blind list has no reference BI-RADS, density or description; the other has them
    row = next(r for r in blind if r["exam"] == room.exam.pk)
    assert (row["birads"], row["density"], row["description"]) == ("", "", "")
    row = next(r for r in shown if r["exam"] == room.exam.pk)
    assert (row["birads"], row["density"]) == ("5", "D")
    assert bad.status_code == 400 and "hide" in bad.json()["error"]["message"]
