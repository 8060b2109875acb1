"""DICOM ingest: `ingest_paths` for files, folders and zip archives, `ingest_dicom_file` for one.

Each item goes in whole or not at all. It is first prepared without touching the database
(read, parse, decode, pixel cache levels compressed), then de-identified (senolab.imaging.deid)
and committed: its de-identified original, its pixel cache files and its Patient/Exam/Series/
Image rows are stored in one `files_with_rows()` block, journaled so that a process killed
mid-item leaves files a later sweep removes (see journal.py). A file already in the project
(same bytes, or the same SOP Instance UID after remapping) is a duplicate, not a new row.

A batch prepares the next items on a few threads (decoders and zstd release the GIL) while
the calling thread commits one item after the other, in order; only that thread uses the
database. It goes on past a failed item and reports it with a label that names no file
(client file names may carry patient names) and a message a person understands.
"""

from __future__ import annotations

import io
import logging
import os
import tempfile
from collections import Counter, deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.dispatch import Signal

from senolab.imaging import pixelcache, storage
from senolab.imaging.deid.burned_in import detect_text, quarantine_fields
from senolab.imaging.ingest import IngestError, dicomfile
from senolab.imaging.ingest.collect import Item, collect_items
from senolab.imaging.ingest.decode import decode_pixels
from senolab.imaging.ingest.journal import journaled_files_with_rows, sweep_interrupted
from senolab.imaging.models import Exam, Image, PixelStatus, Series
from senolab.projects.models import Project

# Sent once an ingest finished and committed, with `project` and `images` (the new Image ids),
# so that a domain app can act on new exams (ml pre-annotates them when the project asks)
# without the platform importing it.
images_ingested = Signal()

logger = logging.getLogger(__name__)

Progress = Callable[[float, str], None]
# Image.extra key: keywords of retained characteristics emptied because their value was invalid.
REMOVED_CHARACTERISTICS = "removed_characteristics"


@dataclass
class IngestReport:
    """What a batch did: created Image ids, duplicates, failed items, skipped side files,
    retained patient characteristics emptied as invalid (per attribute keyword) and images
    quarantined for burned-in text."""

    images: list[int] = field(default_factory=list)
    duplicates: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    skipped: int = 0
    removed_characteristics: Counter[str] = field(default_factory=Counter)
    quarantined: int = 0

    def add_image(self, image: Image) -> None:
        self.images.append(image.pk)
        self.removed_characteristics.update(image.extra.get(REMOVED_CHARACTERISTICS, []))
        if image.pixel_status == PixelStatus.QUARANTINED:
            self.quarantined += 1

    def as_result(self) -> dict[str, Any]:
        """The Job result: ids and counts, each failure as {"item", "message"}."""
        return {
            "images": self.images,
            "image_count": len(self.images),
            "duplicates": self.duplicates,
            "skipped": self.skipped,
            "failed": [{"item": label, "message": message} for label, message in self.failed],
            "removed_characteristics": dict(sorted(self.removed_characteristics.items())),
            "quarantined": self.quarantined,
        }


class _PendingFiles(storage.FileBatch):
    """Collects (key, bytes) to save later, inside the item's files_with_rows block."""

    def __init__(self) -> None:
        super().__init__()
        self.pending: list[tuple[str, bytes]] = []

    def save(self, key: str, data: Any) -> str:
        self.pending.append((key, data if isinstance(data, bytes) else data.read()))
        return key

    def save_into(self, batch: storage.FileBatch) -> None:
        for key, data in self.pending:
            batch.save(key, data)


@dataclass
class Prepared:
    """An item read, parsed, decoded and cached in memory, ready to be committed."""

    source_sha: str
    ds: Any
    fields: dict[str, Any]
    series_fields: dict[str, Any]
    transfer_syntax: str
    cache: _PendingFiles
    text_detected: bool = False


class _Duplicate(Exception):
    """Rolls back an item whose remapped SOP Instance UID is already in the project."""

    def __init__(self, image: Image) -> None:
        super().__init__("duplicate")
        self.image = image


def max_dicom_bytes() -> int:
    return int(settings.SENOLAB_MAX_DICOM_BYTES)


def read_limited(path: Path) -> bytes:
    """The file's bytes, refusing empty files and files past the per-file limit."""
    try:
        size = path.stat().st_size
        if size > max_dicom_bytes():
            raise IngestError(
                f"the file is larger than the {max_dicom_bytes() >> 20} MiB "
                "accepted for one DICOM file"
            )
        with open(path, "rb") as fh:
            data = fh.read(size + 1)
    except OSError as exc:
        raise IngestError(f"the file could not be read ({exc.strerror or 'I/O error'})") from None
    if not data:
        raise IngestError("the file is empty")
    return data


def prepare(project_id: int, data: bytes, source_sha: str) -> Prepared:
    """Everything that needs no database: parse, decode, compress the pixel cache levels."""
    ds = dicomfile.read_dataset(data)
    dicomfile.check_image(ds)
    pixels = decode_pixels(ds, data)
    fields = dicomfile.image_fields(ds, pixels)
    cache = _PendingFiles()
    cache_key, layout = pixelcache.write_pixel_cache(
        project_id, pixels, cache, frames=fields["frame_count"]
    )
    fields.update(pixel_cache_key=cache_key, pixel_cache=layout)
    return Prepared(
        source_sha,
        ds,
        fields,
        dicomfile.series_fields(ds),
        str(ds.file_meta.TransferSyntaxUID),
        cache,
        text_detected=detect_text(pixels),
    )


def commit(project: Project, item: Prepared) -> tuple[Image, bool]:
    """De-identify and store one prepared item, atomically; (Image, created)."""
    try:
        with journaled_files_with_rows() as batch:
            return _store(project, item, batch), True
    except _Duplicate as duplicate:
        return duplicate.image, False
    except IntegrityError:
        # A concurrent ingest of the same file won the race; its row is the answer.
        existing = Image.objects.filter(project=project, source_sha256=item.source_sha).first()
        if existing is None:
            raise
        return existing, False


def _existing(project: Project, source_sha: str) -> Image | None:
    return Image.objects.filter(project=project, source_sha256=source_sha).first()


def ingest_dicom_file(project: Project, path: Path | str, *, user: Any = None) -> Image:
    """Ingest one DICOM file atomically; a duplicate returns the Image already stored.

    Raises IngestError for a rejected file (nothing of it stored).
    """
    return ingest_file(project, Path(path), user=user)[0]


def ingest_file(project: Project, path: Path, *, user: Any = None) -> tuple[Image, bool]:
    """(Image, created): created is False for a duplicate."""
    data = read_limited(path)
    source_sha = storage.sha256_of(data)
    existing = _existing(project, source_sha)
    if existing is not None:
        return existing, False
    return commit(project, prepare(project.pk, data, source_sha))


def _deidentify(ds: Any, project: Project) -> Any:
    from senolab.imaging.deid import DeidentificationError, deidentify

    try:
        return deidentify(ds, project)
    except DeidentificationError as exc:
        raise IngestError(f"de-identification failed: {exc.message}") from None


def _store(project: Project, item: Prepared, batch: storage.FileBatch) -> Image:
    ds, fields = item.ds, item.fields
    deid = _deidentify(ds, project)
    sop_uid = str(ds.SOPInstanceUID)
    existing = Image.objects.filter(project=project, sop_instance_uid=sop_uid).first()
    if existing is not None:
        raise _Duplicate(existing)
    modality = fields["modality"]
    exam, _ = Exam.objects.get_or_create(
        project=project,
        study_uid=str(ds.StudyInstanceUID),
        defaults={
            "patient": deid.patient,
            "study_date": deid.study_date,
            "modalities": [modality],
            "source": "dicom",
        },
    )
    if modality not in exam.modalities:
        exam.modalities = sorted({*exam.modalities, modality})
        exam.save(update_fields=["modalities"])
    series, _ = Series.objects.get_or_create(
        project=project,
        exam=exam,
        series_uid=str(ds.SeriesInstanceUID),
        defaults=item.series_fields,
    )
    stored = _encode(ds)
    key = batch.save(storage.new_key(project.pk, "images", "dcm"), stored)
    item.cache.save_into(batch)
    if deid.removed_characteristics:
        fields = {
            **fields,
            "extra": {
                **fields["extra"],
                REMOVED_CHARACTERISTICS: list(deid.removed_characteristics),
            },
        }
    return Image.objects.create(
        project=project,
        exam=exam,
        series=series,
        sop_instance_uid=sop_uid,
        transfer_syntax_uid=item.transfer_syntax,
        burned_in_annotation=deid.burned_in,
        **quarantine_fields(deid.burned_in, ds, text_detected=item.text_detected),
        source_format="dicom",
        storage_key=key,
        sha256=storage.sha256_of(stored),
        source_sha256=item.source_sha,
        size_bytes=len(stored),
        **fields,
    )


def _encode(ds: Any) -> bytes:
    """The de-identified data set as a Part 10 file; pixel data kept exactly as it came."""
    buf = io.BytesIO()
    ds.preamble = b"\x00" * 128
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


# --- batches -------------------------------------------------------------------------------------


def prepare_threads() -> int:
    configured = int(settings.SENOLAB_INGEST_THREADS or 0)
    return configured if configured > 0 else max(1, min(4, os.cpu_count() or 1))


def ingest_paths(
    project: Project,
    paths: list[Path],
    *,
    user: Any = None,
    progress: Progress | None = None,
    labels: list[str] | None = None,
) -> IngestReport:
    """Ingest DICOM files, folders (recursively) and zip archives into project.

    labels name the paths in the report (default "item N"); they must not carry identifiers.
    progress(fraction, message) is called as items finish; it may raise to cancel the batch
    (items already stored stay stored, each one whole).
    """
    report = IngestReport()
    sweep_interrupted()  # files of items a killed process left behind
    if progress:
        progress(0.0, "Reading the upload")
    with tempfile.TemporaryDirectory(prefix="senolab-ingest-") as workdir:
        collected = collect_items([Path(p) for p in paths], Path(workdir), labels)
        report.failed.extend(collected.failed)
        report.skipped = collected.skipped
        _run_batch(project, collected.items, report, progress)
    if report.images:
        images = list(report.images)
        transaction.on_commit(
            lambda: images_ingested.send(sender=Project, project=project, images=images)
        )
    return report


def _run_batch(
    project: Project, items: list[Item], report: IngestReport, progress: Progress | None
) -> None:
    threads = prepare_threads()
    total = len(items)
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="ingest") as pool:
        window: deque[tuple[Item, Future[Prepared] | None]] = deque()
        try:
            for done, item in enumerate(items, start=1):
                window.append((item, _submit(pool, project, item, report)))
                if len(window) > threads:  # bounded: each prepared mammogram holds ~100 MB
                    _finish(project, *window.popleft(), report)
                    _report(progress, done - len(window), total, report)
            while window:
                _finish(project, *window.popleft(), report)
                _report(progress, total - len(window), total, report)
        finally:
            for _, future in window:  # cancelled or failed: prepared items are just dropped
                if future is not None:
                    future.cancel()


def _report(progress: Progress | None, done: int, total: int, report: IngestReport) -> None:
    if progress:
        progress(
            done / max(total, 1),
            f"{done} of {total} files: {len(report.images)} new, "
            f"{report.duplicates} duplicates, "
            f"{len(report.failed)} failed",
        )


def _submit(
    pool: ThreadPoolExecutor, project: Project, item: Item, report: IngestReport
) -> Future[Prepared] | None:
    """Read and hash here (the duplicate check needs the database); prepare on a thread."""
    try:
        data = read_limited(item.path)
        source_sha = storage.sha256_of(data)
        if _existing(project, source_sha) is not None:
            report.duplicates += 1
            return None
    except IngestError as exc:
        report.failed.append((item.label, str(exc)))
        return None
    return pool.submit(prepare, project.pk, data, source_sha)


def _finish(
    project: Project, item: Item, future: Future[Prepared] | None, report: IngestReport
) -> None:
    if future is None:
        return
    try:
        image, created = commit(project, future.result())
    except IngestError as exc:
        report.failed.append((item.label, str(exc)))
        return
    except Exception as exc:  # noqa: BLE001 - one broken item must not stop the batch
        # Only the type is logged: exception texts from parsers can quote header values.
        logger.error("ingest of %s failed unexpectedly: %s", item.label, type(exc).__name__)
        report.failed.append(
            (
                item.label,
                f"internal error while ingesting ({type(exc).__name__}); the item was not stored",
            )
        )
        return
    if created:
        report.add_image(image)
    else:
        report.duplicates += 1
