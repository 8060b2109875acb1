"""Automation-bias figures: reviews of proposals and blind reads changed after the reveal,
per reader and model version, through GET /api/automation-bias/."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import numpy as np
import pytest
from django.utils import timezone

from annotations.models import ReadingAssignment
from tests.factories import mask_png_base64
from tests.ml.test_review import members, room  # noqa: F401 - fixtures

pytestmark = pytest.mark.django_db


def _read(birads: str) -> dict:
    return {"labels": [{"laterality": "", "birads": birads}], "findings": []}


def _blind_reading(project, exam, reader, first: str, final: str) -> None:
    now = timezone.now()
    ReadingAssignment.objects.create(
        project=project,
        exam=exam,
        reader=reader,
        status="done",
        first_read=_read(first),
        first_read_submitted_at=now,
        final_read=_read(final),
        final_read_submitted_at=now + timedelta(seconds=30),
    )


def test_reviews_and_blind_reads_are_counted_per_reader_and_version(room, members, client_for):  # noqa: F811
    # Given an annotator who edits the mask proposal (IoU 1/3, Dice 1/2) and rejects the circle
    annotator = client_for(members["annotator"])
    body = {
        "finding_type": "mass",
        "marks": [
            {
                "image": room["image"].pk,
                "kind": "mask",
                "geometry": {"x": 0, "y": 10, "width": 10, "height": 10},
                "mask_png_base64": mask_png_base64(np.ones((10, 10), bool)),
            }
        ],
    }
    edited = annotator.post(f"/api/proposals/{room['masked'].pk}/edit/", body, format="json")
    assert edited.status_code == 200, edited.content
    reason = room["project"].rejection_reasons[0]
    rejected = annotator.post(
        f"/api/proposals/{room['circle'].pk}/reject/", {"reason": reason}, format="json"
    )
    assert rejected.status_code == 200, rejected.content
    # And, on the exam the active version calls malignant (0.9), one blind reader raising
    # BI-RADS 3 -> 5 after the reveal, and one lowering 4 -> 2
    _blind_reading(room["project"], room["exam"], members["annotator"], "3", "5")
    _blind_reading(room["project"], room["exam"], members["reviewer"], "4", "2")
    # When a reviewer asks for the figures
    response = client_for(members["reviewer"]).get(
        "/api/automation-bias/", {"project": room["project"].pk}
    )
    # Then each reader has one row for the active version
    assert response.status_code == 200, response.content
    rows = {r["reader"]: r for r in response.json()["rows"]}
    version = room["active"].pk
    annotator_row = rows["annotator"]
    assert annotator_row["model_version"] == version
    assert (annotator_row["accepted"], annotator_row["edited"], annotator_row["rejected"]) == (
        0,
        1,
        1,
    )
    assert annotator_row["median_edit_iou"] == pytest.approx(1 / 3, abs=1e-5)
    assert annotator_row["median_edit_dice"] == pytest.approx(0.5, abs=1e-5)
    assert annotator_row["rejection_reasons"] == {reason: 1}
    # And the raised read went towards the model's malignant call, the lowered one away
    assert (annotator_row["reads"], annotator_row["changed_towards_model"]) == (1, 1)
    assert rows["reviewer"]["changed_away_from_model"] == 1
    assert rows["reviewer"]["changed_towards_model"] == 0
    # And the CSV holds the same rows
    download = client_for(members["reviewer"]).get(
        "/api/automation-bias/", {"project": room["project"].pk, "download": "csv"}
    )
    table = list(csv.DictReader(io.StringIO(download.content.decode())))
    assert {r["reader"]: r["edited"] for r in table} == {"annotator": "1", "reviewer": "0"}


def test_a_read_finished_before_any_model_read_the_exam_is_not_counted(
    room,  # noqa: F811
    members,  # noqa: F811
    client_for,
):
    # Given a blind reading submitted before the model's exam-level prediction existed
    room["exam_level"].created_at = timezone.now() + timedelta(days=1)
    room["exam_level"].save(update_fields=["created_at"])
    _blind_reading(room["project"], room["exam"], members["annotator"], "3", "5")
    # Then it counts for no version
    body = (
        client_for(members["owner"])
        .get("/api/automation-bias/", {"project": room["project"].pk})
        .json()
    )
    assert body["rows"] == []


def test_automation_bias_needs_the_reviewer_role(room, members, client_for):  # noqa: F811
    project = room["project"].pk
    assert (
        client_for(members["annotator"])
        .get("/api/automation-bias/", {"project": project})
        .status_code
        == 403
    )
