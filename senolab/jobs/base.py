"""The shared Celery base task: a task body is one call to a service through run_job."""

from __future__ import annotations

from collections.abc import Callable

from celery import Task

from senolab.jobs.services import Progress, run_job


class JobTask(Task):
    """Base for tasks whose first argument is a Job id; records the outcome on the row."""

    def run_job(self, job_id: str, work: Callable[..., dict | None]) -> str:
        worker = getattr(self.request, "hostname", "") or ""
        job = run_job(job_id, work, worker=worker)
        return job.status


__all__ = ["JobTask", "Progress"]
