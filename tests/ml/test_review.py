"""Review of proposals through the API: accept, edit and reject write their provenance, the
findings name the proposal they came from, active versions by default, blind readers refused."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image as PILImage

from annotations.models import Finding, ReadingAssignment
from annotations.reads import FIRST_READ_FIRST
from ml.models import Prediction, Provenance, VersionStatus
from senolab.imaging import storage
from tests.factories import mask_png_base64, raster_image
from tests.ml.test_api import make_version


@pytest.fixture
def members(make_user):
    return {role: make_user(role) for role in ("owner", "reviewer", "annotator", "viewer")}


@pytest.fixture
def room(make_project, members):
    """A project with one 40 x 30 MG image, an active and a retired version, and proposals."""
    project = make_project("Review", **members)
    image = raster_image(project, shape=(40, 30))
    active = make_version(project, modality="MG", status=VersionStatus.ACTIVE)
    old = make_version(project, modality="MG", status=VersionStatus.RETIRED, label="old")
    mask = np.zeros((40, 30), np.uint8)
    mask[10:20, 5:15] = 255
    buf = io.BytesIO()
    PILImage.fromarray(mask).save(buf, format="PNG")
    mask_key = storage.save(storage.new_key(project.pk, "masks", "png"), buf.getvalue())
    exam_level = Prediction.objects.create(
        project=project,
        model_version=active,
        exam=image.exam,
        outputs={"level": "exam", "probability": 0.9, "scores": {"benign": 0.1, "malignant": 0.9}},
    )
    circle = Prediction.objects.create(
        project=project,
        model_version=active,
        exam=image.exam,
        image=image,
        outputs={
            "level": "image",
            "probability": 0.8,
            "lesions": [{"cx": 10.0, "cy": 15.0, "radius": 4.0, "score": 0.8}],
        },
    )
    masked = Prediction.objects.create(
        project=project,
        model_version=active,
        exam=image.exam,
        image=image,
        outputs={"level": "image", "probability": 0.3, "has_mask": True},
        mask_key=mask_key,
    )
    retired = Prediction.objects.create(
        project=project,
        model_version=old,
        exam=image.exam,
        image=image,
        outputs={"level": "image", "probability": 0.99, "lesions": [{"cx": 1, "cy": 1}]},
    )
    return {
        "project": project,
        "image": image,
        "exam": image.exam,
        "active": active,
        "exam_level": exam_level,
        "circle": circle,
        "masked": masked,
        "retired": retired,
    }


def test_the_proposals_of_an_exam_are_the_active_versions_unless_all_are_asked_for(
    room, members, client_for
):
    client = client_for(members["viewer"])
    # when a viewer lists the exam's proposals
    shown = client.get(f"/api/exams/{room['exam'].pk}/proposals/")
    # then only the active version's are there, each tied to its image (or the exam) and version
    assert shown.status_code == 200
    rows = {p["id"]: p for p in shown.json()}
    assert set(rows) == {room["exam_level"].pk, room["circle"].pk, room["masked"].pk}
    assert rows[room["exam_level"].pk]["image"] is None
    assert rows[room["circle"].pk]["image"] == room["image"].pk
    assert rows[room["masked"].pk]["mask_url"] == f"/api/predictions/{room['masked'].pk}/mask/"
    assert all(p["model_version"] == room["active"].pk for p in rows.values())
    # and with ?all=1 the retired version's are listed too
    every = client.get(f"/api/exams/{room['exam'].pk}/proposals/?all=1").json()
    assert room["retired"].pk in {p["id"] for p in every}


def test_accepting_a_proposal_makes_a_human_finding_that_names_it(room, members, client_for):
    annotator = members["annotator"]
    # when an annotator accepts the circle proposal
    response = client_for(annotator).post(
        f"/api/proposals/{room['circle'].pk}/accept/", {"finding_type": "mass"}, format="json"
    )
    # then a human finding with the circle as its mark exists, its origin names the proposal
    assert response.status_code == 200, response.content
    finding = Finding.objects.get(pk=response.json()["findings"][0]["id"])
    assert finding.source == "human" and finding.finding_type == "mass"
    assert finding.origin == {
        "kind": "accepted",
        "prediction": room["circle"].pk,
        "model_version": room["active"].pk,
    }
    mark = finding.marks.get()
    assert mark.kind == "ellipse" and mark.image_id == room["image"].pk
    assert mark.geometry == {"cx": 10.0, "cy": 15.0, "rx": 4.0, "ry": 4.0}
    # and the proposal says who accepted it and when
    room["circle"].refresh_from_db()
    assert room["circle"].provenance == Provenance.ACCEPTED
    assert room["circle"].reviewed_by == annotator and room["circle"].reviewed_at is not None
    assert room["circle"].review == {"findings": [finding.pk]}
    # and the findings API shows the origin
    listed = client_for(annotator).get(f"/api/findings/{finding.pk}/").json()
    assert listed["origin"]["kind"] == "accepted"
    # and a second review of the same proposal is a conflict
    again = client_for(annotator).post(f"/api/proposals/{room['circle'].pk}/accept/", {})
    assert again.status_code == 409


def test_accepting_a_mask_proposal_stores_the_predicted_mask_as_a_mask_mark(
    room, members, client_for
):
    response = client_for(members["annotator"]).post(
        f"/api/proposals/{room['masked'].pk}/accept/", {}, format="json"
    )
    assert response.status_code == 200, response.content
    mark = Finding.objects.get(pk=response.json()["findings"][0]["id"]).marks.get()
    assert mark.kind == "mask"
    assert mark.geometry == {"x": 5.0, "y": 10.0, "width": 10.0, "height": 10.0}


def test_editing_a_proposal_stores_the_overlap_between_proposal_and_final_mark(
    room, members, client_for
):
    # given the 10 x 10 predicted mask at (5, 10); the reviewer draws a mask of its left half
    # plus as much again outside it (10 x 10 at (0, 10): 50 pixels shared)
    final = np.ones((10, 10), bool)
    body = {
        "finding_type": "mass",
        "marks": [
            {
                "image": room["image"].pk,
                "kind": "mask",
                "geometry": {"x": 0, "y": 10, "width": 10, "height": 10},
                "mask_png_base64": mask_png_base64(final),
            }
        ],
    }
    response = client_for(members["annotator"]).post(
        f"/api/proposals/{room['masked'].pk}/edit/", body, format="json"
    )
    assert response.status_code == 200, response.content
    finding = Finding.objects.get(pk=response.json()["findings"][0]["id"])
    # then IoU = 50 / 150 and Dice = 2 * 50 / 200, on the origin and on the proposal
    overlap = {"iou": pytest.approx(1 / 3, abs=1e-5), "dice": pytest.approx(0.5, abs=1e-5)}
    assert finding.origin["kind"] == "edited"
    assert finding.origin["prediction"] == room["masked"].pk
    assert finding.origin["overlap"] == overlap
    room["masked"].refresh_from_db()
    assert room["masked"].provenance == Provenance.EDITED
    assert room["masked"].review["overlap"] == overlap


def test_rejecting_needs_a_reason_from_the_project_list(room, members, client_for):
    client = client_for(members["annotator"])
    reasons = room["project"].rejection_reasons
    assert reasons, "the project's default rejection reasons are empty"
    # when the reason is not one of the project's
    wrong = client.post(
        f"/api/proposals/{room['circle'].pk}/reject/", {"reason": "meh"}, format="json"
    )
    # then it is refused, naming the reasons, and nothing is recorded
    assert wrong.status_code == 400
    assert reasons[0] in wrong.content.decode()
    room["circle"].refresh_from_db()
    assert room["circle"].provenance == Provenance.PROPOSED
    # when it is one of them, the rejection is stored with its reason, reviewer and time
    done = client.post(
        f"/api/proposals/{room['circle'].pk}/reject/", {"reason": reasons[0]}, format="json"
    )
    assert done.status_code == 200, done.content
    room["circle"].refresh_from_db()
    assert room["circle"].provenance == Provenance.REJECTED
    assert room["circle"].review == {"reason": reasons[0]}
    assert room["circle"].reviewed_by == members["annotator"]
    assert not Finding.objects.filter(exam=room["exam"]).exists()


def test_accept_all_above_a_threshold_needs_confirmation_and_reviewer_role(
    room, members, client_for
):
    url = f"/api/exams/{room['exam'].pk}/proposals/accept-all/"
    # an annotator may not accept in bulk
    denied = client_for(members["annotator"]).post(url, {"threshold": 0.5}, format="json")
    assert denied.status_code == 403
    reviewer = client_for(members["reviewer"])
    # without confirm=true the reviewer is told how many would be accepted, and nothing is
    unconfirmed = reviewer.post(url, {"threshold": 0.5}, format="json")
    assert unconfirmed.status_code == 400 and "1 proposal(s)" in unconfirmed.content.decode()
    assert not Finding.objects.filter(exam=room["exam"]).exists()
    # with it, only the active proposal above 0.5 that outlines a region is accepted
    confirmed = reviewer.post(url, {"threshold": 0.5, "confirm": True}, format="json")
    assert confirmed.status_code == 200, confirmed.content
    assert set(confirmed.json()["accepted"]) == {str(room["circle"].pk)}
    states = dict(Prediction.objects.values_list("pk", "provenance"))
    assert states[room["circle"].pk] == Provenance.ACCEPTED
    assert states[room["masked"].pk] == Provenance.PROPOSED  # 0.3 < 0.5
    assert states[room["retired"].pk] == Provenance.PROPOSED  # not an active version


def test_a_viewer_may_not_review_and_an_outsider_sees_nothing(room, members, client_for, make_user):
    viewer = client_for(members["viewer"])
    assert viewer.post(f"/api/proposals/{room['circle'].pk}/accept/", {}).status_code == 403
    outsider = client_for(make_user("outsider"))
    assert outsider.post(f"/api/proposals/{room['circle'].pk}/accept/", {}).status_code == 404
    assert outsider.get(f"/api/exams/{room['exam'].pk}/proposals/").status_code == 404


def test_a_blind_reader_gets_no_proposals_and_reviews_none_before_the_first_read(
    room, members, client_for
):
    # given a project that reads blind
    project = room["project"]
    project.blind_first_read = True
    project.save(update_fields=["blind_first_read"])
    client = client_for(members["annotator"])
    # then the reader is refused the proposals, and cannot accept one, with the rule's message
    listed = client.get(f"/api/exams/{room['exam'].pk}/proposals/")
    assert listed.status_code == 403 and FIRST_READ_FIRST in listed.content.decode()
    accepted = client.post(f"/api/proposals/{room['circle'].pk}/accept/", {})
    assert accepted.status_code == 403
    # until the first read is submitted
    from django.utils import timezone

    ReadingAssignment.objects.create(
        project=project,
        exam=room["exam"],
        reader=members["annotator"],
        first_read_submitted_at=timezone.now(),
    )
    assert client.get(f"/api/exams/{room['exam'].pk}/proposals/").status_code == 200


def test_the_owner_sets_the_rejection_reasons_and_a_reviewer_cannot(room, members, client_for):
    url = f"/api/projects/{room['project'].pk}/"
    owner = client_for(members["owner"])
    bad = owner.patch(url, {"rejection_reasons": ["ok", ""]}, format="json")
    assert bad.status_code == 400
    done = owner.patch(url, {"rejection_reasons": [" Calcified node "]}, format="json")
    assert done.status_code == 200 and done.json()["rejection_reasons"] == ["Calcified node"]
    refused = client_for(members["reviewer"]).patch(url, {"rejection_reasons": []}, format="json")
    assert refused.status_code == 403
    # and a rejection now takes the new reason only
    client = client_for(members["annotator"])
    old = client.post(
        f"/api/proposals/{room['circle'].pk}/reject/", {"reason": "Wrong location"}, format="json"
    )
    assert old.status_code == 400
    new = client.post(
        f"/api/proposals/{room['circle'].pk}/reject/", {"reason": "Calcified node"}, format="json"
    )
    assert new.status_code == 200
