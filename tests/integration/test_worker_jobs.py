"""Jobs through a real Redis and real Celery worker processes: run, cancel, worker killed."""

from __future__ import annotations

import os
import signal

import pytest

from senolab.celeryconf import app as celery_app
from senolab.jobs import services
from senolab.jobs.models import JobKind, JobStatus
from tests.integration.jobtasks import STEPS_TASK

pytestmark = pytest.mark.django_db(transaction=True)

steps_task = celery_app.signature(STEPS_TASK)


def running_with_progress(job) -> bool:
    return job.status == JobStatus.RUNNING and job.progress > 0


def test_job_runs_end_to_end_in_a_worker_process(project, start_worker, wait_for_job):
    # given a worker listening to both queues
    worker = start_worker("itest-run@localhost")
    job = services.create_job(JobKind.INGEST, project=project, params={"steps": 3}, queue="gpu")

    # when the job is enqueued through the broker
    services.enqueue(job, steps_task)

    # then the worker process claims it, reports progress and records the result on the row
    job = wait_for_job(job.pk, lambda j: j.is_finished, what="a finished state")
    assert job.status == JobStatus.SUCCEEDED, job.message
    assert job.progress == 1.0
    assert job.result["steps"] == 3
    assert job.result["pid"] != os.getpid()
    assert job.worker == worker.hostname
    assert job.celery_task_id


def test_cancelling_a_running_job_through_the_api_stops_it(
    project, owner, client_for, start_worker, wait_for_job
):
    # given a long job running in a worker
    start_worker("itest-cancel@localhost")
    job = services.create_job(JobKind.INGEST, project=project, params={"steps": 400, "delay": 0.05})
    services.enqueue(job, steps_task)
    wait_for_job(job.pk, running_with_progress, what="running")

    # when its project owner cancels it through the polling resource
    response = client_for(owner).post(f"/api/jobs/{job.pk}/cancel/")

    # then the worker stops it at its next progress report
    assert response.status_code == 200
    job = wait_for_job(job.pk, lambda j: j.is_finished, timeout=30, what="a finished state")
    assert job.status == JobStatus.CANCELLED
    assert job.progress < 1.0


def test_job_of_a_worker_killed_mid_job_is_failed_when_the_worker_restarts(
    project, start_worker, wait_for_job
):
    # given a job running in a worker (main process and pool) that is then SIGKILLed
    worker = start_worker("itest-kill@localhost")
    job = services.create_job(JobKind.INGEST, project=project, params={"steps": 400, "delay": 0.05})
    services.enqueue(job, steps_task)
    wait_for_job(job.pk, running_with_progress, what="running")
    worker.kill()
    job.refresh_from_db()
    assert job.status == JobStatus.RUNNING  # nobody is left to say otherwise

    # when the worker comes back under the same name
    worker.start()

    # then the job is failed with a message a person understands, and not run again
    job = wait_for_job(job.pk, lambda j: j.is_finished, timeout=30, what="a finished state")
    assert job.status == JobStatus.FAILED
    assert "stopped unexpectedly" in job.message


def test_job_whose_pool_process_is_killed_fails_while_the_worker_lives_on(
    project, start_worker, wait_for_job
):
    # given a prefork worker whose pool process runs a long job
    worker = start_worker("itest-pool@localhost", pool="prefork")
    job = services.create_job(JobKind.INGEST, project=project, params={"steps": 400, "delay": 0.05})
    services.enqueue(job, steps_task)
    wait_for_job(job.pk, running_with_progress, what="running")

    # when the pool process is killed (as the kernel's OOM killer would)
    for pid in worker.pool_pids():
        os.kill(pid, signal.SIGKILL)

    # then the worker's main process marks the job failed at once
    job = wait_for_job(job.pk, lambda j: j.is_finished, timeout=30, what="a finished state")
    assert job.status == JobStatus.FAILED
    assert "died unexpectedly" in job.message
    assert worker.process is not None and worker.process.poll() is None
