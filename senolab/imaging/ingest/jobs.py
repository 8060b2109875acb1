"""Ingest as a Job: uploads are staged in media storage, a worker ingests them, then deletes them;
`manage.py ingest_dicom` runs the same kind of Job in its own process on local paths.

Staged uploads live under `incoming/` (outside every project's folder) under generated keys;
the client's file names are never kept. The Job row's params name the staged keys; its result
lists the created images, duplicates and every failed item with its reason.
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from django.core.files.base import File
from django.core.files.storage import default_storage

from senolab.imaging import storage
from senolab.jobs.models import Job, JobKind
from senolab.jobs.services import JobFailed, Progress, create_job, run_in_process

if TYPE_CHECKING:
    from senolab.imaging.ingest.service import IngestReport
    from senolab.projects.models import Project

JOB_KIND = JobKind.INGEST
STAGING_PREFIX = "incoming"


def stage_upload(data: IO[bytes], kind: str) -> str:
    """Copy an upload into media storage under a generated key (chunked, never in memory)."""
    if kind not in ("dicom", "zip"):
        raise ValueError(f"unknown upload kind {kind!r}")
    key = f"{STAGING_PREFIX}/{uuid.uuid4().hex}.{'zip' if kind == 'zip' else 'dcm'}"
    data.seek(0)
    saved = default_storage.save(key, File(data))
    if saved != key:
        default_storage.delete(saved)
        raise FileExistsError("staging key already taken")
    return key


def discard_staged(keys: list[str]) -> None:
    for key in keys:
        if key.startswith(f"{STAGING_PREFIX}/"):
            storage.delete_quietly(key)


def ingest_job_params(
    uploads: list[dict[str, str]], rejected: list[tuple[str, str]]
) -> dict[str, Any]:
    """uploads: [{"key", "label"}]; rejected: items refused when the upload arrived."""
    return {"uploads": uploads, "rejected": [list(r) for r in rejected]}


def run_ingest_job(job: Job, progress: Progress) -> dict[str, Any]:
    """The work of an ingest Job: fetch the staged uploads, ingest them, discard them."""
    from senolab.imaging.ingest.service import ingest_paths
    from senolab.projects.models import Project

    uploads = job.params.get("uploads", [])
    keys = [u["key"] for u in uploads]
    try:
        project = Project.objects.filter(pk=job.project_id or 0).first()
        if project is None:
            raise JobFailed("The project of this upload no longer exists.")
        with tempfile.TemporaryDirectory(prefix="senolab-upload-") as tmp:
            paths = []
            for number, upload in enumerate(uploads, start=1):
                path = Path(tmp) / f"{number:05d}.{upload['key'].rsplit('.', 1)[-1]}"
                with storage.open_file(upload["key"]) as src, open(path, "wb") as out:
                    shutil.copyfileobj(src, out, 1 << 20)
                paths.append(path)
            report = ingest_paths(
                project,
                paths,
                user=job.created_by,
                progress=progress,
                labels=[u["label"] for u in uploads],
            )
    finally:
        discard_staged(keys)
        _mark_discarded(job)
    report.failed[:0] = [tuple(r) for r in job.params.get("rejected", [])]
    return ingest_result(job, report)


def ingest_result(job: Job, report: IngestReport) -> dict[str, Any]:
    """The result of an ingest Job; JobFailed when nothing went in (the result, which says why
    for each item, is kept on the row all the same)."""
    result = report.as_result()
    if report.failed and not report.images and not report.duplicates:
        Job.objects.filter(pk=job.pk).update(result=result)
        first = report.failed[0]
        more = f" (and {len(report.failed) - 1} more)" if len(report.failed) > 1 else ""
        raise JobFailed(f"Nothing was ingested. {first[0]}: {first[1]}{more}")
    return result


def ingest_paths_in_process(
    project: Project,
    paths: list[Path],
    *,
    echo: Callable[[float, str], None] | None = None,
    worker: str = "manage.py ingest_dicom",
) -> tuple[Job, IngestReport | None]:
    """Ingest local files, folders and zips here and now as an ingest Job (no worker needed), so
    that /api/jobs/ shows its progress as it shows an upload's. The params hold the number of
    paths, never the paths (folder names may carry identifiers)."""
    from senolab.imaging.ingest.service import ingest_paths

    reports: list[IngestReport] = []

    def work(job: Job, progress: Progress) -> dict[str, Any]:
        reports.append(ingest_paths(project, paths, progress=progress))
        return ingest_result(job, reports[0])

    job = create_job(
        JobKind.INGEST, project=project, params={"paths": len(paths), "started_by": worker}
    )
    job = run_in_process(job, work, worker=worker, echo=echo)
    return job, (reports[0] if reports else None)


def check_upload(upload: IO[bytes], size: int) -> str:
    """What an uploaded file is ("dicom" or "zip"), after the checks that need no decoding:
    IngestError (too_large for size limits) says why one is refused."""
    from django.conf import settings

    from senolab.imaging.ingest import IngestError, dicomfile
    from senolab.imaging.ingest.archives import inspect_archive, is_zip
    from senolab.imaging.ingest.decode import check_decodable
    from senolab.imaging.ingest.service import max_dicom_bytes

    if size <= 0:
        raise IngestError("the file is empty")
    if size > int(settings.SENOLAB_MAX_UPLOAD_BYTES):
        raise IngestError("the file is larger than this server accepts", too_large=True)
    upload.seek(0)
    head = upload.read(dicomfile.DICM_OFFSET + 4)
    upload.seek(0)
    if is_zip(head):
        inspect_archive(upload)
        return "zip"
    if not dicomfile.looks_like_dicom(head):
        raise IngestError(
            "the file is neither a DICOM file (Part 10, with the 'DICM' marker "
            "after its preamble) nor a zip archive"
        )
    if size > max_dicom_bytes():
        raise IngestError(
            f"a DICOM file may be at most {max_dicom_bytes() >> 20} MiB", too_large=True
        )
    ds = dicomfile.read_dataset(upload.read())
    upload.seek(0)
    dicomfile.check_image(ds)
    check_decodable(ds)
    return "dicom"


def discard_orphaned_uploads() -> int:
    """Staged uploads of ingest jobs that ended without their clean-up (a killed worker).
    Each finished job is looked at once: it is then marked "discarded" in its params."""
    from senolab.jobs.models import FINISHED_STATUSES

    removed = 0
    finished = (
        Job.objects.filter(kind=JOB_KIND, status__in=FINISHED_STATUSES)
        .exclude(params__has_key="discarded")
        .only("pk", "params")
    )
    for job in finished:
        keys = [u["key"] for u in job.params.get("uploads", []) if isinstance(u, dict)]
        present = [k for k in keys if storage.exists(k)]
        discard_staged(present)
        removed += len(present)
        _mark_discarded(job)
    return removed


def _mark_discarded(job: Job) -> None:
    Job.objects.filter(pk=job.pk).update(params={**job.params, "discarded": True})
