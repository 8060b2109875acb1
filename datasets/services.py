"""Operations of the datasets app: a data set import as a Job."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from datasets.importers import ImportReport, import_dataset
from senolab.jobs.models import Job, JobKind
from senolab.jobs.services import JobFailed, Progress, create_job, run_in_process
from senolab.projects.models import Project


def import_dataset_in_process(
    project: Project,
    fmt: str,
    path: str | Path,
    *,
    user: Any = None,
    echo: Callable[[float, str], None] | None = None,
    worker: str = "manage.py import_dataset",
) -> tuple[Job, ImportReport | None]:
    """Import a data set here and now as an import_dataset Job (no worker needed), so that
    /api/jobs/ shows its progress. The Job fails, with the reason, on an unknown format, a missing
    path, or when every item failed; its result counts what came in."""
    reports: list[ImportReport] = []

    def work(job: Job, progress: Progress) -> dict[str, Any]:
        try:
            report = import_dataset(project, fmt, path, user=user, progress=progress)
        except (ValueError, FileNotFoundError) as exc:
            raise JobFailed(str(exc)) from exc
        reports.append(report)
        result = report.as_result()
        if report.nothing_imported:
            Job.objects.filter(pk=job.pk).update(result=result)
            raise JobFailed(f"Nothing was imported: {len(report.failed)} items failed.")
        return result

    job = create_job(
        JobKind.IMPORT_DATASET,
        project=project,
        user=user,
        params={"format": fmt, "started_by": worker},
    )
    job = run_in_process(job, work, worker=worker, echo=echo)
    return job, (reports[0] if reports else None)
