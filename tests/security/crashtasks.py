"""An ingest Job task for the crash-consistency test: the platform's ingest service, run by a
real Celery worker through the shared JobTask base (as every platform task is).

Workers load it with `--include tests.security.crashtasks`; the test sends it by name.
"""

from __future__ import annotations

from pathlib import Path

from celery import shared_task

from senolab.jobs.base import JobTask

INGEST_TASK = "tests.security.ingest_job_task"


@shared_task(bind=True, base=JobTask, name=INGEST_TASK)
def ingest_job_task(self, job_id: str) -> str:
    return self.run_job(job_id, run_ingest)


def run_ingest(job, progress) -> dict:
    from senolab.imaging.ingest.service import ingest_paths
    from senolab.projects.models import Project

    project = Project.objects.get(pk=job.project_id)
    report = ingest_paths(project, [Path(p) for p in job.params["paths"]], progress=progress)
    return {
        "images": len(report.images),
        "duplicates": report.duplicates,
        "failed": len(report.failed),
    }
