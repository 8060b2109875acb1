"""A training run's status is final no later than its job's, whoever finishes the job."""

from __future__ import annotations

import pytest

from ml.models import TrainingRun
from ml.services import training
from senolab.jobs import services as jobs
from senolab.jobs.models import Job, JobStatus

pytestmark = pytest.mark.django_db


@pytest.fixture
def queued_run(make_case_project, owner):
    project = make_case_project(n_patients=2, exams_per_patient=1, owner=owner)
    return training.start_training(project, "busi-malignancy", user=owner, enqueue=False)


@pytest.mark.parametrize(
    ("raised", "final"),
    [
        (jobs.JobCancelled(), JobStatus.CANCELLED),
        (jobs.JobFailed("no data"), JobStatus.FAILED),
        (RuntimeError("boom"), JobStatus.FAILED),
    ],
)
def test_the_run_is_settled_before_its_job_is_finished(queued_run, monkeypatch, raised, final):
    # Given a training whose work ends in a cancel or a failure
    seen = {}

    def work(job, progress):
        raise raised

    monkeypatch.setattr(training, "_run_training", work)
    real_finish = jobs._finish

    def finish(job, status, **kwargs):
        # When run_job writes the job's final status, the run already has it
        seen["run"] = TrainingRun.objects.get(pk=queued_run.pk).status
        return real_finish(job, status, **kwargs)

    monkeypatch.setattr(jobs, "_finish", finish)
    job = jobs.run_job(queued_run.job_id, training.run_training, worker="test")
    # Then the run was final before the job was, and both agree
    assert job.status == final
    assert seen["run"] == final
    settled = TrainingRun.objects.get(pk=queued_run.pk)
    assert settled.status == final and settled.finished_at is not None


def test_runs_of_jobs_finished_elsewhere_take_the_jobs_status(queued_run):
    # Given a run whose job was cancelled while queued (no worker ever ran it) and one whose
    # worker died (the jobs app failed the job; the run still says running)
    jobs.request_cancel(Job.objects.get(pk=queued_run.job_id))
    other = training.start_training(queued_run.project, "busi-malignancy", enqueue=False)
    TrainingRun.objects.filter(pk=other.pk).update(status=JobStatus.RUNNING)
    Job.objects.filter(pk=other.job_id).update(status=JobStatus.RUNNING, worker="w@host")
    jobs.fail_jobs_of_lost_worker("w@host")
    # When the runs are settled (as a starting worker does)
    assert training.settle_runs_of_finished_jobs() == 2
    # Then each run has its job's status and finish time; a second pass changes nothing
    for run in (queued_run, other):
        run.refresh_from_db()
        job = Job.objects.get(pk=run.job_id)
        assert (run.status, run.finished_at) == (job.status, job.finished_at)
    assert queued_run.status == JobStatus.CANCELLED and other.status == JobStatus.FAILED
    assert training.settle_runs_of_finished_jobs() == 0


def test_the_reaper_settles_a_run_as_it_fails_its_job(
    queued_run, django_capture_on_commit_callbacks
):
    # Given a running training whose heartbeat stopped long ago (its worker is gone for good)
    from datetime import timedelta

    from django.utils import timezone

    TrainingRun.objects.filter(pk=queued_run.pk).update(status=JobStatus.RUNNING)
    Job.objects.filter(pk=queued_run.job_id).update(
        status=JobStatus.RUNNING, heartbeat_at=timezone.now() - timedelta(hours=1)
    )
    # When the reaper fails the job (no worker starts afterwards)
    with django_capture_on_commit_callbacks(execute=True):
        assert jobs.reap_stale_jobs() == 1
    # Then the run took the job's status in the same breath
    queued_run.refresh_from_db()
    job = Job.objects.get(pk=queued_run.job_id)
    assert job.status == JobStatus.FAILED
    assert (queued_run.status, queued_run.finished_at) == (job.status, job.finished_at)


def test_api_filters_runs_by_the_status_it_shows(queued_run, owner, client_for):
    # Given a run whose job was cancelled while its row still says queued
    Job.objects.filter(pk=queued_run.job_id).update(status=JobStatus.CANCELLED)
    client = client_for(owner)
    # Then filtering on the shown status finds it, and on the stale one does not
    found = client.get("/api/training-runs/", {"status": "cancelled"}).json()
    stale = client.get("/api/training-runs/", {"status": "queued"}).json()
    ids = [r["id"] for r in found.get("results", found)]
    assert ids == [queued_run.pk]
    assert not stale.get("results", stale)
