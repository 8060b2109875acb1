"""The predictions API keeps a blind project's proposals from a reader until their first read of
the exam is submitted (annotations.reads); owners see them all along."""

from __future__ import annotations

import pytest

from ml.models import Prediction
from tests.factories import raster_image
from tests.ml.test_api import make_version

pytestmark = pytest.mark.django_db


def test_predictions_of_an_exam_are_listed_to_a_blind_reader_only_after_the_first_read(
    client_for, make_user, make_project
):
    # Given a blind project with a prediction on each of two exams
    owner, reader = make_user(), make_user()
    project = make_project(owner=owner, annotator=reader)
    project.blind_first_read = True
    project.save()
    first, second = raster_image(project, exam="e1"), raster_image(project, exam="e2")
    version = make_version(project)
    for image in (first, second):
        Prediction.objects.create(
            project=project,
            model_version=version,
            exam=image.exam,
            image=image,
            outputs={"probability": 0.8},
        )

    def listed(user) -> set[int]:
        response = client_for(user).get("/api/predictions/", {"project": project.pk})
        assert response.status_code == 200
        return {row["exam"] for row in response.json()["results"]}

    # Then the reader sees none, the owner both
    assert listed(reader) == set()
    assert listed(owner) == {first.exam_id, second.exam_id}
    one = Prediction.objects.get(exam=first.exam)
    assert client_for(reader).get(f"/api/predictions/{one.pk}/").status_code == 404

    # When the reader submits a first read of one exam, its prediction (only) is revealed
    response = client_for(reader).post(f"/api/worklist/{first.exam_id}/first-read/")
    assert response.status_code == 201
    assert listed(reader) == {first.exam_id}
    assert client_for(reader).get(f"/api/predictions/{one.pk}/").status_code == 200
