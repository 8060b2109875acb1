"""Exam-level and breast-level labels: schema-checked, per reader, with the same 409 rule."""

from __future__ import annotations

import pytest

from annotations.models import ExamLabel

pytestmark = pytest.mark.django_db


def test_exam_and_breast_labels_are_saved_and_a_stale_save_gets_409(room, client_for):
    # Given an annotator labelling the exam (density, BI-RADS) and the left breast
    client = client_for(room.annotator)
    url = f"/api/exam-labels/?exam={room.exam.pk}"
    exam_level = client.put(url, {"version": 0, "density": "C", "birads": "2"}, format="json")
    left = client.put(url, {"version": 0, "laterality": "L", "birads": "4"}, format="json")
    # When a second tab still at version 1 saves after the first tab saved
    newer = client.put(url, {"version": 1, "density": "D"}, format="json")
    stale = client.put(url, {"version": 1, "density": "B"}, format="json")
    # Then the labels are stored, and the stale one is a 409 showing version 2
    assert exam_level.status_code == 200 and exam_level.json()["version"] == 1
    assert left.status_code == 200 and left.json()["laterality"] == "L"
    assert newer.status_code == 200 and newer.json()["version"] == 2
    assert stale.status_code == 409
    assert stale.json()["error"]["detail"]["current"]["density"] == "D"
    listed = client.get(url).json()
    assert sorted((row["laterality"], row["birads"]) for row in listed) == [("", "2"), ("L", "4")]


def test_creating_a_label_twice_is_a_conflict_not_a_duplicate(room, client_for):
    client = client_for(room.annotator)
    url = f"/api/exam-labels/?exam={room.exam.pk}"
    client.put(url, {"version": 0, "density": "A"}, format="json")
    again = client.put(url, {"version": 0, "density": "B"}, format="json")
    assert again.status_code == 409
    assert ExamLabel.objects.get().density == "A"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"version": 0, "density": "E"}, "not a breast density of this project"),
        ({"version": 0, "birads": "9"}, "not a BI-RADS category of this project"),
        ({"version": 0, "laterality": "B"}, "L or R"),
    ],
)
def test_labels_outside_the_schema_are_refused(room, client_for, body, message):
    response = client_for(room.annotator).put(
        f"/api/exam-labels/?exam={room.exam.pk}", body, format="json"
    )
    assert response.status_code == 400
    assert message in response.json()["error"]["message"]
    assert not ExamLabel.objects.exists()


def test_viewers_read_labels_but_cannot_save_them(room, client_for):
    url = f"/api/exam-labels/?exam={room.exam.pk}"
    response = client_for(room.viewer).put(url, {"version": 0, "density": "A"}, format="json")
    assert response.status_code == 403
    assert client_for(room.viewer).get(url).status_code == 200
