"""Celery entry points of imaging: thin tasks that run a service function through JobTask."""

from __future__ import annotations

from typing import Any

from celery import shared_task
from celery.signals import worker_init

from senolab.jobs.base import JobTask

INGEST_TASK = "imaging.ingest_task"


@shared_task(bind=True, base=JobTask, name=INGEST_TASK)
def ingest_task(self: JobTask, job_id: str) -> str:
    """Ingest the uploads a Job names (default queue); the result lists every failed item."""
    from senolab.imaging.ingest.jobs import run_ingest_job  # pydicom loads in workers only

    return self.run_job(job_id, run_ingest_job)


@worker_init.connect
def sweep_interrupted_ingests(**kwargs: Any) -> None:
    """A (re)starting worker first removes files of ingest items killed before their commit:
    this runs before worker_ready, where the jobs they belonged to are marked failed."""
    from senolab.imaging.ingest.jobs import discard_orphaned_uploads
    from senolab.imaging.ingest.journal import sweep_interrupted

    sweep_interrupted()
    discard_orphaned_uploads()
