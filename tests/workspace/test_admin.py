"""The Django admin lists projects, members, patients, exams and images; ingested rows cannot
be added, deleted or changed there (an exam's workflow fields excepted)."""

from __future__ import annotations

import numpy as np
import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from senolab.imaging.ingest.raster import ingest_raster

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(db) -> Client:
    client = Client()
    client.force_login(get_user_model().objects.create_superuser("root", "", "not-a-real-pw"))
    return client


@pytest.fixture
def image(project):
    pixels = np.arange(64, dtype=np.uint8).reshape(8, 8)
    return ingest_raster(
        project, pixels, patient_key="p", exam_key="e", modality="MG", laterality="R", view="CC"
    )


@pytest.mark.parametrize(
    "path",
    [
        "projects/project",
        "projects/membership",
        "imaging/patient",
        "imaging/exam",
        "imaging/image",
        "imaging/series",
        "imaging/slide",
    ],
)
def test_admin_lists_the_platforms_rows(admin_client, image, path):
    assert admin_client.get(f"/admin/{path}/").status_code == 200


def test_ingested_rows_are_read_only_in_the_admin(admin_client, image):
    # Given an ingested image: no add, no delete, no field to change
    assert admin_client.get("/admin/imaging/image/add/").status_code == 403
    assert admin_client.get(f"/admin/imaging/image/{image.pk}/delete/").status_code == 403
    page = admin_client.get(f"/admin/imaging/image/{image.pk}/change/").content.decode()
    assert 'name="storage_key"' not in page and 'name="laterality"' not in page
    # And its exam: only the workflow fields are inputs
    exam = admin_client.get(f"/admin/imaging/exam/{image.exam_id}/change/").content.decode()
    assert 'name="status"' in exam and 'name="description"' in exam
    assert 'name="study_uid"' not in exam and 'name="patient"' not in exam


def test_a_project_is_not_deleted_from_the_admin(admin_client, project):
    assert admin_client.get(f"/admin/projects/project/{project.pk}/delete/").status_code == 403
    page = admin_client.get(f"/admin/projects/project/{project.pk}/change/").content.decode()
    assert "memberships-TOTAL_FORMS" in page  # members are managed inline
