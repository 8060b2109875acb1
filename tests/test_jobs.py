import pytest
from django.utils import timezone

from senolab.jobs import services
from senolab.jobs.models import Job, JobKind, JobStatus

pytestmark = pytest.mark.django_db


def test_run_job_records_success_with_result_and_full_progress(project):
    job = services.create_job(JobKind.INGEST, project=project)

    def work(job, progress):
        progress(0.5, "half way")
        return {"answer": 42}

    job = services.run_job(job.pk, work)

    assert job.status == JobStatus.SUCCEEDED
    assert job.progress == 1.0
    assert job.result == {"answer": 42}
    assert job.started_at and job.finished_at


def test_run_job_records_failure_with_message(project):
    job = services.create_job(JobKind.INGEST, project=project)

    def work(job, progress):
        raise services.JobFailed("3 of 5 files could not be read")

    job = services.run_job(job.pk, work)

    assert job.status == JobStatus.FAILED
    assert "3 of 5 files" in job.message


def test_cancel_requested_while_running_stops_at_next_progress_report(project):
    job = services.create_job(JobKind.INGEST, project=project)
    reached_end = []

    def work(job, progress):
        services.request_cancel(Job.objects.get(pk=job.pk))
        progress(0.1, "working")
        reached_end.append(True)

    job = services.run_job(job.pk, work)

    assert job.status == JobStatus.CANCELLED
    assert not reached_end


def test_a_job_already_claimed_is_not_run_twice(project):
    job = services.create_job(JobKind.INGEST, project=project)
    runs = []
    services.run_job(job.pk, lambda j, p: runs.append(1))
    services.run_job(job.pk, lambda j, p: runs.append(1))
    assert runs == [1]


def test_restarted_worker_fails_the_jobs_it_was_running(project):
    job = services.create_job(JobKind.INGEST, project=project)
    Job.objects.filter(pk=job.pk).update(status=JobStatus.RUNNING, worker="celery@gpu1")

    assert services.fail_jobs_of_lost_worker("celery@gpu1") == 1

    job.refresh_from_db()
    assert job.status == JobStatus.FAILED
    assert "stopped unexpectedly" in job.message


def test_stale_running_job_is_reaped(project):
    job = services.create_job(JobKind.INGEST, project=project)
    old = timezone.now() - services.STALE_AFTER * 2
    Job.objects.filter(pk=job.pk).update(status=JobStatus.RUNNING, heartbeat_at=old)

    assert services.reap_stale_jobs() == 1
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED


def test_job_endpoint_hides_jobs_of_other_projects(make_user, make_project, client_for):
    alice, bob = make_user(), make_user()
    _a, b = make_project(owner=alice), make_project(owner=bob)
    job_b = services.create_job("ingest", project=b)

    response = client_for(alice).get(f"/api/jobs/{job_b.pk}/")
    listing = client_for(alice).get("/api/jobs/")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert listing.json()["count"] == 0


def test_a_job_of_an_undeclared_kind_is_refused(project):
    # Given a kind that JobKind does not declare
    # When a job of that kind is created, then it is refused and no row is written
    with pytest.raises(ValueError):
        services.create_job("export-everything", project=project)
    assert not Job.objects.exists()


def test_the_jobs_api_declares_the_job_kinds(admin_client):
    # Given the OpenAPI schema
    schema = admin_client.get("/api/schema/?format=json").json()
    # Then the job's kind is an enum of the declared kinds
    kinds = schema["components"]["schemas"]["JobKindEnum"]["enum"]
    assert set(kinds) == set(JobKind.values)
    assert {"ingest", "import_dataset", "train", "evaluate", "predict"} <= set(kinds)


def test_progress_lines_follow_the_steps_without_flooding_the_terminal():
    from senolab.jobs.console import ProgressLines

    # given a progress printer with a frozen clock
    lines: list[str] = []
    lines_printer = ProgressLines(lines.append, step=0.1, interval=5.0, clock=lambda: 0.0)
    # when a thousand items report, each with its own message
    for done in range(1, 1001):
        lines_printer(done / 1000, f"item {done}/1000")
    # then one line as it starts and one per tenth are written, the last one at 100%
    assert len(lines) == 11
    assert lines[-1] == "100.0% item 1000/1000"


def test_progress_lines_announce_a_new_message_once_the_interval_passed():
    from senolab.jobs.console import ProgressLines

    # given a printer whose clock moves 6 s per report
    now = iter(range(0, 600, 6))
    lines: list[str] = []
    printer = ProgressLines(lines.append, step=0.5, interval=5.0, clock=lambda: next(now))
    # when a long stage reports new messages within one step
    for epoch in range(1, 4):
        printer(0.1, f"Epoch {epoch}/40")
    # then each new message is a line of its own
    assert [line.split()[-1] for line in lines] == ["1/40", "2/40", "3/40"]


def test_a_job_run_in_process_reports_to_its_row_and_to_the_echo(project):
    # given a job run here, with an echo (a command's printer)
    job = services.create_job(JobKind.INGEST, project=project)
    echoed: list[tuple[float, str]] = []
    seen_on_row: list[float] = []

    def work(job, progress):
        progress(0.5, "half way")
        seen_on_row.append(Job.objects.get(pk=job.pk).progress)
        return {"done": True}

    # when it runs
    job = services.run_in_process(
        job, work, worker="manage.py test", echo=lambda f, m: echoed.append((f, m))
    )
    # then the row saw the progress while it ran, the echo got it too, and the job succeeded
    assert seen_on_row == [0.5] and echoed == [(0.5, "half way")]
    assert (job.status, job.progress, job.worker) == (JobStatus.SUCCEEDED, 1.0, "manage.py test")


def test_ctrl_c_in_a_job_run_in_process_cancels_it(project):
    # given a job run here whose work is interrupted from the keyboard
    job = services.create_job(JobKind.INGEST, project=project)

    def work(job, progress):
        raise KeyboardInterrupt

    # when it runs, the interrupt still stops the command
    with pytest.raises(KeyboardInterrupt):
        services.run_in_process(job, work, worker="manage.py test")
    # and the job is not left running for the reaper
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED and job.finished_at
