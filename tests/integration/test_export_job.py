"""A data set export through a real Redis and a real Celery worker on the default queue only:
the export task is not caught by the gpu route, and the zip is stored when the job succeeds."""

from __future__ import annotations

import io
import zipfile

import pytest

from ml.models import DatasetExport
from ml.services import exports
from senolab.imaging import storage
from senolab.jobs.models import JobStatus
from tests.ml import exportcase

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

export_project = exportcase.export_project  # the fixture, shared with tests/ml


def test_an_export_job_runs_in_a_default_queue_worker(
    export_project, owner, start_worker, wait_for_job
):
    project, image, *_ = export_project
    # given a worker that listens to the default queue only
    worker = start_worker("itest-export@localhost", queues="default")
    # when an export is started (enqueued through the broker)
    export = exports.start_export(project, ["coco", "csv", "dicom_seg"], user=owner)
    # then the worker runs it to the end with progress, and the zip is in storage
    job = wait_for_job(export.job_id, lambda j: j.is_finished, timeout=120, what="finished")
    assert job.status == JobStatus.SUCCEEDED, job.message
    assert job.worker == worker.hostname
    assert job.progress == 1.0
    export = DatasetExport.objects.get(pk=export.pk)
    data = storage.read(export.archive_key)
    assert storage.sha256_of(data) == export.archive_sha256
    names = zipfile.ZipFile(io.BytesIO(data)).namelist()
    assert "annotations/coco.json" in names and f"dicom/seg/{image.pk}.dcm" in names
