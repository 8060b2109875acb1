"""Create, run, cancel and reap Jobs. Tasks stay thin: they call run_job with a service function."""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from datetime import timedelta
from typing import Any, Protocol

from django.db import transaction
from django.dispatch import Signal
from django.utils import timezone

from senolab.jobs.models import FINISHED_STATUSES, Job, JobKind, JobStatus

logger = logging.getLogger(__name__)

# A running job that has not reported for this long is presumed lost with its worker.
STALE_AFTER = timedelta(minutes=10)


# Sent (no arguments beyond sender) after jobs were finished in bulk outside their own work: the
# reaper, a lost worker or pool process, a cancel while queued. Apps that keep state beside a job
# (ml's training runs) settle it here instead of waiting for the next worker start.
jobs_finished_elsewhere = Signal()


def _announce(count: int) -> int:
    if count:
        transaction.on_commit(lambda: jobs_finished_elsewhere.send(sender=Job))
    return count


class JobCancelled(Exception):
    """Raised inside a job's work when someone asked to cancel it."""


class JobFailed(Exception):
    """Raised by a service to fail its job with a message a person understands."""


class Progress(Protocol):
    def __call__(self, fraction: float, message: str = "") -> None: ...


def create_job(
    kind: JobKind | str,
    *,
    project=None,
    user=None,
    params: dict | None = None,
    queue: str = "default",
) -> Job:
    """A queued Job row; kind must be one of JobKind (ValueError otherwise)."""
    return Job.objects.create(
        kind=JobKind(kind),
        project=project,
        created_by=user if user and user.is_authenticated else None,
        params=params or {},
        queue=queue,
    )


def enqueue(job: Job, task: Any, *args: Any) -> None:
    """Send task(job.pk, *args) once the surrounding transaction commits."""

    def send() -> None:
        async_result = task.apply_async(args=[str(job.pk), *args], queue=job.queue)
        Job.objects.filter(pk=job.pk, celery_task_id="").update(
            celery_task_id=async_result.id or ""
        )

    transaction.on_commit(send)


def report_progress(job_id, fraction: float, message: str = "") -> None:
    """Record progress and a heartbeat; raise JobCancelled when a cancel was asked for."""
    fraction = max(0.0, min(1.0, float(fraction)))
    now = timezone.now()
    Job.objects.filter(pk=job_id).update(progress=fraction, message=message[:500], heartbeat_at=now)
    if Job.objects.filter(pk=job_id, cancel_requested=True).exists():
        raise JobCancelled()


def run_job(job_id, work: Callable[[Job, Progress], dict | None], *, worker: str = "") -> Job:
    """Run work(job, progress) and record the outcome on the Job row.

    The job is claimed atomically (queued -> running) so a redelivered message cannot run it twice.
    """
    now = timezone.now()
    claimed = Job.objects.filter(pk=job_id, status=JobStatus.QUEUED).update(
        status=JobStatus.RUNNING, started_at=now, heartbeat_at=now, worker=worker
    )
    job = Job.objects.get(pk=job_id)
    if not claimed:
        logger.warning("job %s not run: it is %s", job_id, job.status)
        return job
    if job.cancel_requested:
        return _finish(job, JobStatus.CANCELLED, message="Cancelled before it started.")

    def progress(fraction: float, message: str = "") -> None:
        report_progress(job.pk, fraction, message)

    try:
        result = work(job, progress)
    except JobCancelled:
        return _finish(job, JobStatus.CANCELLED, message="Cancelled.")
    except JobFailed as exc:
        return _finish(job, JobStatus.FAILED, message=str(exc)[:500], error=str(exc))
    except Exception as exc:  # noqa: BLE001 - every failure must land on the row
        logger.exception("job %s (%s) failed", job.pk, job.kind)
        return _finish(
            job,
            JobStatus.FAILED,
            message=f"Failed: {type(exc).__name__}: {exc}"[:500],
            error=traceback.format_exc(),
        )
    return _finish(job, JobStatus.SUCCEEDED, message="Done.", result=result or {}, progress=1.0)


def _finish(
    job: Job,
    status: str,
    *,
    message: str = "",
    error: str = "",
    result: dict | None = None,
    progress: float | None = None,
) -> Job:
    fields: dict[str, Any] = {"status": status, "finished_at": timezone.now(), "message": message}
    if error:
        fields["error"] = error
    if result is not None:
        fields["result"] = result
    if progress is not None:
        fields["progress"] = progress
    Job.objects.filter(pk=job.pk).update(**fields)
    job.refresh_from_db()
    return job


def request_cancel(job: Job) -> Job:
    """Ask a job to stop. A queued job is cancelled at once; a running one at its next report."""
    if job.status in FINISHED_STATUSES:
        return job
    Job.objects.filter(pk=job.pk).update(cancel_requested=True)
    _announce(
        Job.objects.filter(pk=job.pk, status=JobStatus.QUEUED).update(
            status=JobStatus.CANCELLED,
            finished_at=timezone.now(),
            message="Cancelled before it started.",
        )
    )
    job.refresh_from_db()
    return job


def fail_jobs_of_lost_worker(worker: str) -> int:
    """A worker that (re)starts under a name owns no running job any more: those died with it."""
    return _announce(
        Job.objects.filter(status=JobStatus.RUNNING, worker=worker).update(
            status=JobStatus.FAILED,
            finished_at=timezone.now(),
            message="The worker running this job stopped unexpectedly (killed or crashed).",
            error="worker lost",
        )
    )


def fail_job_of_lost_process(job_id) -> int:
    """The pool process running this job died (killed, out of memory) while its worker lived."""
    return _announce(
        Job.objects.filter(pk=job_id, status=JobStatus.RUNNING).update(
            status=JobStatus.FAILED,
            finished_at=timezone.now(),
            message="The process running this job died unexpectedly (killed or out of memory).",
            error="worker process lost",
        )
    )


def reap_stale_jobs(now=None) -> int:
    """Fail running jobs whose heartbeat stopped long ago (their worker is gone for good)."""
    now = now or timezone.now()
    return _announce(
        Job.objects.filter(status=JobStatus.RUNNING, heartbeat_at__lt=now - STALE_AFTER).update(
            status=JobStatus.FAILED,
            finished_at=now,
            message="No progress reported for too long: the worker was lost.",
            error="worker lost",
        )
    )


def run_in_process(
    job: Job,
    work: Callable[[Job, Progress], dict | None],
    *,
    worker: str,
    echo: Callable[[float, str], None] | None = None,
) -> Job:
    """Run a created job's work here and now (management commands), through run_job: the same
    row, progress and outcome as a worker's, so /api/jobs/ shows it whoever started it.

    echo also receives every progress report (a command prints them). Ctrl-C cancels the job.
    """

    def work_with_echo(job: Job, progress: Progress) -> dict | None:
        if echo is None:
            return work(job, progress)

        def both(fraction: float, message: str = "") -> None:
            progress(fraction, message)
            echo(fraction, message)

        return work(job, both)

    try:
        return run_job(job.pk, work_with_echo, worker=worker)
    except KeyboardInterrupt:
        _announce(
            Job.objects.filter(pk=job.pk, status=JobStatus.RUNNING).update(
                status=JobStatus.CANCELLED, finished_at=timezone.now(), message="Interrupted."
            )
        )
        raise
