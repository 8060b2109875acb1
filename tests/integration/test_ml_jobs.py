"""Training jobs in a real Celery worker: cancelled or killed runs register no model version."""

from __future__ import annotations

import time

import numpy as np
import pytest

from ml import services
from ml.models import ModelVersion, TrainingRun
from senolab.imaging.models import Patient
from senolab.jobs.models import JobStatus
from tests.factories import case_exam

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

# Enough epochs that the run is surely still training when it is cancelled or killed.
LONG = {"epochs": 500, "input_size": [32, 32], "batch_size": 4, "patience": 1000}


@pytest.fixture
def training_project(make_project, owner):
    project = make_project("ML jobs", owner=owner)
    rng = np.random.default_rng(0)
    for p in range(8):
        patient = Patient.objects.create(project=project, pseudonym=f"SNL-{p:04d}")
        case_exam(project, patient, p + 1, "malignant" if p % 2 else "benign", rng)
    return project


def run_status_within(run_pk: int, wanted: str, *, seconds: float) -> str:
    deadline = time.monotonic() + seconds
    status = TrainingRun.objects.get(pk=run_pk).status
    while status != wanted and time.monotonic() < deadline:
        time.sleep(0.2)
        status = TrainingRun.objects.get(pk=run_pk).status
    return status


def in_epochs(job) -> bool:
    # The engine reports "Epoch k/N" once an epoch is done: training is under way.
    return job.status == JobStatus.RUNNING and "Epoch" in job.message


def test_cancelled_training_job_ends_cancelled_with_no_model_version(
    training_project, owner, client_for, start_worker, wait_for_job
):
    # given a long training running in a worker on the gpu queue
    start_worker("itest-ml-cancel@localhost")
    run = services.start_training(training_project, "busi-malignancy", user=owner, overrides=LONG)
    wait_for_job(run.job_id, in_epochs, timeout=240, what="training epochs")
    # when its owner cancels it through the jobs API
    assert client_for(owner).post(f"/api/jobs/{run.job_id}/cancel/").status_code == 200
    # then the job is cancelled, the run already says so (it is settled before the job is
    # finished, so no wait is needed), and no version was registered
    job = wait_for_job(run.job_id, lambda j: j.is_finished, timeout=120, what="finished")
    assert job.status == JobStatus.CANCELLED, job.message
    settled = TrainingRun.objects.get(pk=run.pk)
    assert settled.status == JobStatus.CANCELLED
    assert settled.finished_at is not None
    assert not ModelVersion.objects.exists()


def test_training_worker_killed_mid_run_leaves_failed_job_and_no_model_version(
    training_project, owner, start_worker, wait_for_job
):
    # given a long training running in a worker that is then SIGKILLed
    worker = start_worker("itest-ml-kill@localhost")
    run = services.start_training(training_project, "busi-malignancy", user=owner, overrides=LONG)
    wait_for_job(run.job_id, in_epochs, timeout=240, what="training epochs")
    worker.kill()
    # when the worker comes back under the same name
    worker.start(timeout=180)
    # then the job is failed with a message and nothing was registered
    job = wait_for_job(run.job_id, lambda j: j.is_finished, timeout=120, what="finished")
    assert job.status == JobStatus.FAILED
    assert "stopped unexpectedly" in job.message
    # and the run takes its job's status when the worker comes back (the ML worker_ready
    # receiver runs after the jobs app's one, so this is a short, bounded wait)
    assert run_status_within(run.pk, JobStatus.FAILED, seconds=30) == JobStatus.FAILED
    assert not ModelVersion.objects.exists()
