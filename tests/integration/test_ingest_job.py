"""An ingest Job end to end: upload through the API, a real Redis, a real Celery worker."""

from __future__ import annotations

import io
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from senolab.imaging import pixelcache, storage
from senolab.imaging.models import Image
from senolab.jobs.models import Job, JobStatus
from tests.factories.dicom import make_dicom

pytestmark = pytest.mark.django_db(transaction=True)


def dicom_bytes(**overrides) -> bytes:
    buf = io.BytesIO()
    make_dicom(**overrides).save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def test_uploaded_zip_is_ingested_by_a_worker_with_progress_and_failures_reported(
    make_user, make_project, client_for, start_worker, wait_for_job
):
    # given a worker on the default queue and an annotator's zip of a four-view exam plus junk
    worker = start_worker("itest-ingest@localhost", queues="default")
    annotator = make_user()
    project = make_project(owner=make_user(), annotator=annotator)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for n, (side, view) in enumerate([("R", "CC"), ("L", "CC"), ("R", "MLO"), ("L", "MLO")]):
            zf.writestr(
                f"exam/{side}{view}.dcm",
                dicom_bytes(
                    laterality=side,
                    view=view,
                    seed=n,
                    rows=64,
                    columns=48,
                    study_uid="1.2.826.0.1.3680043.10.999.1.77",
                ),
            )
        zf.writestr("exam/notes.dcm", b"not an image")
    # when it is uploaded through the API
    response = client_for(annotator).post(
        f"/api/projects/{project.pk}/uploads/",
        {"file": [SimpleUploadedFile("exam.zip", buf.getvalue(), "application/zip")]},
        format="multipart",
    )
    assert response.status_code == 202, response.content
    # then the worker process runs the Job to the end and reports on the row
    job = wait_for_job(response.json()["id"], lambda j: j.is_finished, timeout=90, what="finished")
    assert job.status == JobStatus.SUCCEEDED, (job.message, job.error)
    assert (job.worker, job.progress) == (worker.hostname, 1.0)
    assert job.result["image_count"] == 4 and job.result["duplicates"] == 0
    assert [f["item"] for f in job.result["failed"]] == ["upload file 1, file 5"]
    # and the four views are one exam whose pixel caches this process can read
    images = Image.objects.filter(project=project)
    assert images.values("exam").distinct().count() == 1
    assert {(i.laterality, i.view) for i in images} == {(s, v) for s in "RL" for v in ("CC", "MLO")}
    assert all(pixelcache.read_pixels(i).shape == (64, 48) for i in images)
    # and the staged upload was removed
    staged = [u["key"] for u in Job.objects.get(pk=job.pk).params["uploads"]]
    assert staged and not any(storage.exists(k) for k in staged)
