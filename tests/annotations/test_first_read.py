"""Blind first read through the API: the reader's own read is frozen when submitted (a second
submission is 409), the final read is stored beside it, and the proposals stay withheld by the
server until the first read is in."""

from __future__ import annotations

import pytest

from annotations.models import ReadingAssignment, ReadingStatus
from tests.annotations.helpers import finding_body

pytestmark = pytest.mark.django_db


@pytest.fixture
def blind(room):
    room.project.blind_first_read = True
    room.project.save()
    return room


def _label(client, room, **fields):
    body = {"exam": room.exam.pk, "version": 0, **fields}
    response = client.put("/api/exam-labels/", body, format="json")
    assert response.status_code == 200, response.content
    return response.json()


def test_first_read_is_frozen_and_a_second_submission_is_refused(blind, client_for):
    # Given a reader with a finding and a density label on a blind exam
    reader = client_for(blind.annotator)
    finding = reader.post("/api/findings/", finding_body(blind, birads="3"), format="json").json()
    _label(reader, blind, density="B")
    assert reader.get(f"/api/worklist/{blind.exam.pk}/read/").json()["proposals_withheld"]

    # When the first read is submitted
    response = reader.post(f"/api/worklist/{blind.exam.pk}/first-read/")

    # Then the read is stored as it was, and proposals are no longer withheld
    assert response.status_code == 201, response.content
    assert response.json()["first_read_submitted_at"] and not response.json()["proposals_withheld"]
    reading = ReadingAssignment.objects.get(exam=blind.exam, reader=blind.annotator)
    assert [f["birads"] for f in reading.first_read["findings"]] == ["3"]
    assert [x["density"] for x in reading.first_read["labels"]] == ["B"]
    frozen = reading.first_read

    # And a second submission is a 409 with a sentence, leaving the first read untouched
    reader.patch(f"/api/findings/{finding['id']}/", {"version": 1, "birads": "5"}, format="json")
    again = reader.post(f"/api/worklist/{blind.exam.pk}/first-read/")
    assert again.status_code == 409
    assert "cannot be changed" in again.json()["error"]["message"]
    reading.refresh_from_db()
    assert reading.first_read == frozen

    # When the final read is submitted, both reads are kept and the reading is done
    final = reader.post(f"/api/worklist/{blind.exam.pk}/final-read/")
    assert final.status_code == 201
    reading.refresh_from_db()
    assert [f["birads"] for f in reading.first_read["findings"]] == ["3"]
    assert [f["birads"] for f in reading.final_read["findings"]] == ["5"]
    assert reading.status == ReadingStatus.DONE and reading.final_read_submitted_at
    assert reader.post(f"/api/worklist/{blind.exam.pk}/final-read/").status_code == 409


def test_final_read_before_the_first_read_is_refused_in_a_blind_project(blind, client_for):
    response = client_for(blind.annotator).post(f"/api/worklist/{blind.exam.pk}/final-read/")
    assert response.status_code == 409
    assert "first read" in response.json()["error"]["message"]


def test_a_first_read_needs_a_blind_project_and_the_annotator_role(room, client_for):
    assert (
        client_for(room.annotator).post(f"/api/worklist/{room.exam.pk}/first-read/").status_code
        == 400
    )
    room.project.blind_first_read = True
    room.project.save()
    assert (
        client_for(room.viewer).post(f"/api/worklist/{room.exam.pk}/first-read/").status_code == 403
    )
    assert (
        client_for(room.outsider).post(f"/api/worklist/{room.exam.pk}/first-read/").status_code
        == 404
    )


def test_the_first_read_holds_only_the_readers_own_findings(blind, client_for):
    client_for(blind.reviewer).post(
        "/api/findings/", finding_body(blind, birads="5"), format="json"
    )
    client_for(blind.annotator).post(
        "/api/findings/", finding_body(blind, birads="2"), format="json"
    )
    client_for(blind.annotator).post(f"/api/worklist/{blind.exam.pk}/first-read/")
    reading = ReadingAssignment.objects.get(exam=blind.exam, reader=blind.annotator)
    assert [f["birads"] for f in reading.first_read["findings"]] == ["2"]


def test_the_exam_proposals_are_withheld_until_the_first_read(blind, client_for):
    # Given a blind reader who has not submitted a first read
    reader = client_for(blind.annotator)
    url = f"/api/exams/{blind.exam.pk}/proposals/"
    # Then the proposals endpoint refuses with the reason; the owner is never refused
    refused = reader.get(url)
    assert refused.status_code == 403
    assert "submit your own first read" in refused.json()["error"]["message"]
    assert client_for(blind.owner).get(url).status_code == 200
    # When the first read is submitted, the proposals are served
    reader.post(f"/api/worklist/{blind.exam.pk}/first-read/")
    assert reader.get(url).status_code == 200
