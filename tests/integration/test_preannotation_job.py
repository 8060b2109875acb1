"""A pre-annotation Job in a real Celery worker: killed mid-way and resumed, it redoes only the
exams it had not finished, and every exam ends with one reading per active version."""

from __future__ import annotations

import time

import pytest

from ml.models import Prediction, VersionStatus
from ml.services import prediction, registry
from senolab.imaging.models import Exam
from senolab.jobs.models import Job, JobStatus
from tests.factories import case_project
from tests.ml.test_commands import train

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def exam_rows(job_id) -> int:
    return Prediction.objects.filter(job_id=job_id, image__isnull=True).count()


def test_a_preannotation_job_killed_mid_way_resumes_without_redoing_finished_exams(
    owner, client_for, start_worker, wait_for_job
):
    # given a project of 40 exams and an active (tiny, trained here) model version
    project = case_project(n_patients=20, exams_per_patient=2, owner=owner)
    _, version = train(project)
    registry.activate(version)
    version.refresh_from_db()
    assert version.status == VersionStatus.ACTIVE
    exams = sorted(Exam.objects.filter(project=project).values_list("pk", flat=True))
    # and a pre-annotation job of the whole project, one exam per batch, in a real worker
    worker = start_worker("itest-preannotate@localhost", queues="gpu")
    job = prediction.start_preannotation(project, user=owner, batch=1)
    # when the worker is killed once some exams are finished but not all
    deadline = time.monotonic() + 240
    while exam_rows(job.pk) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    worker.kill()
    finished_before = dict(
        Prediction.objects.filter(job=job, image__isnull=True).values_list("exam_id", "pk")
    )
    rows_before = set(Prediction.objects.filter(job=job).values_list("pk", flat=True))
    assert 2 <= len(finished_before) < len(exams), (
        f"the kill came at {len(finished_before)} of {len(exams)} exams: nothing to resume"
    )
    # and the worker comes back (which fails the job it lost)
    worker.start(timeout=180)
    failed = wait_for_job(job.pk, lambda j: j.is_finished, timeout=120, what="failed")
    assert failed.status == JobStatus.FAILED and "stopped unexpectedly" in failed.message
    # when a reviewer resumes it through the API
    response = client_for(owner).post(f"/api/preannotations/{job.pk}/resume/")
    assert response.status_code == 202, response.content
    done = wait_for_job(job.pk, lambda j: j.is_finished, timeout=240, what="finished")
    # then it succeeds, having skipped the exams it had finished before the kill
    assert done.status == JobStatus.SUCCEEDED, done.message
    assert done.result["skipped"] == len(finished_before)
    # and every exam has exactly one exam-level reading of the version from this job, those
    # finished before the kill being the very same rows (not redone)
    after = list(
        Prediction.objects.filter(job=job, image__isnull=True).values_list("exam_id", "pk")
    )
    assert sorted(e for e, _ in after) == exams
    assert {e: pk for e, pk in after if e in finished_before} == finished_before
    assert rows_before <= set(Prediction.objects.filter(job=job).values_list("pk", flat=True))
    # and each exam's image rows were written once (one per image read)
    per_image = Prediction.objects.filter(job=job, image__isnull=False)
    assert per_image.count() == len(set(per_image.values_list("image_id", flat=True)))
    assert Job.objects.get(pk=job.pk).progress == 1.0
