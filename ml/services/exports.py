"""Data set exports: a snapshot chosen by filters, written in standard formats into one zip.

`start_export` checks the request and creates the DatasetExport row with its export Job on the
`default` queue; the worker (`ml.export_task` -> `run_export`) selects the exams, builds (or
reuses) the immutable DatasetSnapshot that training would build from them, reads the findings the
snapshot's ground truth comes from, records each (id, version, source, origin, author), and
streams the formats asked for into a temporary zip that is stored only once complete, with its
sha256. The writers are the `exports` package (pure functions, docs/exports.md).

What leaves: pseudonyms, exam/image ids of this installation, sites, shifted dates are not
written; images only as their stored de-identified originals or as PNGs of their pixels;
quarantined (burned-in) images never (the snapshot takes `usable_for_research` images only).
Free-text fields (notes, descriptions, clinical `fields`) are not exported.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import logging
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
from celery import signature
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from annotations.models import (
    ExamLabel,
    Finding,
    Mark,
    ReadingAssignment,
    ReadingStatus,
    Source,
)
from exports import coco, masks, tables
from exports.archive import stream_zip
from exports.model import (
    ExportExam,
    ExportFinding,
    ExportImage,
    ExportMark,
    LabelMap,
    exams_from_manifest,
    images_from_manifest,
)
from ml.models import DatasetExport, DatasetSnapshot, GroundTruth
from ml.services.errors import MLServiceError, NothingToTrain
from ml.services.snapshots import build_snapshot, load_mask, load_pixels, snapshot_findings
from senolab.imaging import storage
from senolab.imaging.api.render import secondary_capture
from senolab.imaging.models import Exam, Image
from senolab.jobs import services as jobs
from senolab.jobs.models import Job, JobKind
from senolab.projects.models import Project

logger = logging.getLogger(__name__)

EXPORT_TASK = "ml.export_task"

# The formats a request may ask for, and what each writes into the zip (docs/exports.md).
FORMATS: dict[str, str] = {
    "coco": "annotations/coco.json: COCO boxes, polygons and RLE masks",
    "csv": "labels/exams.csv, labels/breasts.csv, labels/images.csv",
    "masks_png": "masks/<image>.png label maps and masks/label_map.json",
    "masks_nifti": "masks/<image>.nii label maps and masks/label_map.json",
    "monai": "datalist.json (MONAI) pairing images/<image>.png with masks/<image>.nii",
    "dicom_seg": "dicom/seg/<image>.dcm: a DICOM SEG per image with region marks",
    "dicom_sr": "dicom/sr/<image>.dcm: a TID 1500 SR per image with located marks",
    "images_png": "images/<image>.png: the pixels (8 or 16 bit grey, or RGB)",
    "images_dicom": "images/<image>.dcm: the de-identified DICOM (raster: Secondary Capture)",
}
# Marks the SR reports as regions (masks go to the SEG, lengths are left out).
SR_KINDS = frozenset({"box", "polygon", "freehand", "ellipse", "point"})
# Empty in the Secondary Capture of a raster image (nothing is known of them).
RASTER_EMPTY_ATTRIBUTES = (
    "PatientBirthDate",
    "PatientSex",
    "StudyDate",
    "StudyTime",
    "ReferringPhysicianName",
    "StudyID",
    "AccessionNumber",
    "PatientOrientation",
)
LABEL_STATUSES = ("any", "labelled", "unlabelled")
# Clinical fields with a fixed meaning; free-text `fields` of a record never leave.
CLINICAL_COLUMNS = (
    "age_at_exam",
    "breast_density",
    "biopsy_outcome",
    "risk_factors",
    "receptor_status",
)
# The snapshot names its validation split "val"; the export formats "validation".
SPLIT_NAMES = {"train": "train", "val": "validation", "test": "test"}
# A JSON page of records (GET .../records/) serves exports of at most this many images.
PAGEABLE_IMAGES = 5000


class ExportRequestError(MLServiceError):
    """A request that cannot be exported; `field` names the input at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class ExportFilters:
    """Which exams an export takes (all optional): modality (an image of it), reviewed_only
    (exam status done), site, date_from/date_to (study date, as stored: shifted per patient),
    label_status (labelled: any finding or label; unlabelled: none), ground_truth (the snapshot's
    source rule), ground_truth_reader (the username whose reads are the ground truth, for
    ground_truth "reader"), readers (usernames: exams that one of them has read, i.e. submitted
    a reading of, or written a finding or label on), seed (the patient-level split)."""

    modality: str = ""
    reviewed_only: bool = False
    site: str = ""
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    label_status: str = "any"
    ground_truth: str = GroundTruth.ANY
    ground_truth_reader: str = ""
    readers: tuple[str, ...] = ()
    seed: int = 0

    @classmethod
    def of(cls, data: dict[str, Any]) -> ExportFilters:
        """From a request's (already typed) values; ExportRequestError on a bad combination."""
        known = {f for f in cls.__dataclass_fields__}
        unknown = sorted(set(data) - known)
        if unknown:
            names = ", ".join(sorted(known))
            raise ExportRequestError(
                unknown[0], f"Unknown filter {unknown[0]!r}; filters are {names}."
            )
        values = dict(data)
        if "readers" in values:
            readers = values["readers"]
            if not isinstance(readers, list | tuple) or not all(
                isinstance(r, str) and r for r in readers
            ):
                raise ExportRequestError("readers", "readers is a list of usernames.")
            values["readers"] = tuple(dict.fromkeys(readers))
        filters = cls(**values)
        if filters.label_status not in LABEL_STATUSES:
            raise ExportRequestError(
                "label_status", f"label_status is one of {', '.join(LABEL_STATUSES)}."
            )
        if filters.ground_truth not in GroundTruth.values:
            raise ExportRequestError(
                "ground_truth", f"ground_truth is one of {', '.join(GroundTruth.values)}."
            )
        if filters.date_from and filters.date_to and filters.date_from > filters.date_to:
            raise ExportRequestError("date_to", "date_to is before date_from.")
        if filters.ground_truth == GroundTruth.READER and not filters.ground_truth_reader:
            raise ExportRequestError(
                "ground_truth_reader", "Name the reader whose reads are the ground truth."
            )
        if filters.ground_truth != GroundTruth.READER and filters.ground_truth_reader:
            raise ExportRequestError(
                "ground_truth_reader", 'ground_truth_reader goes with ground_truth "reader".'
            )
        return filters

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            if isinstance(value, dt.date):
                value = value.isoformat()
            out[name] = list(value) if isinstance(value, tuple) else value
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ExportFilters:
        values = dict(data)
        for name in ("date_from", "date_to"):
            if values.get(name):
                values[name] = dt.date.fromisoformat(values[name])
        if isinstance(values.get("readers"), list):
            values["readers"] = tuple(values["readers"])
        return cls(**values)


def check_formats(formats: Iterable[str]) -> list[str]:
    """The formats in a fixed order, without repeats; ExportRequestError names an unknown one."""
    asked = list(dict.fromkeys(formats))
    if not asked:
        raise ExportRequestError("formats", f"Ask for at least one of {', '.join(FORMATS)}.")
    unknown = [f for f in asked if f not in FORMATS]
    if unknown:
        raise ExportRequestError(
            "formats", f"Unknown format {unknown[0]!r}; formats are {', '.join(FORMATS)}."
        )
    return [f for f in FORMATS if f in asked]


# --- starting an export --------------------------------------------------------------------------


def start_export(
    project: Project,
    formats: Iterable[str],
    filters: ExportFilters | None = None,
    *,
    user: Any = None,
    enqueue: bool = True,
) -> DatasetExport:
    """Create the DatasetExport and its export Job on the default queue; the worker does the
    rest. Raises ExportRequestError for an unknown format."""
    chosen = check_formats(formats)
    filters = filters or ExportFilters()
    params = {"formats": chosen, "filters": filters.as_json()}
    with transaction.atomic():
        job = jobs.create_job(JobKind.EXPORT, project=project, user=user, params=params)
        export = DatasetExport.objects.create(
            project=project,
            job=job,
            formats=chosen,
            filters=filters.as_json(),
            created_by=user if user is not None and user.is_authenticated else None,
        )
        Job.objects.filter(pk=job.pk).update(params={**params, "export": export.pk})
        if enqueue:
            jobs.enqueue(job, signature(EXPORT_TASK))
    return export


# --- selecting exams ----------------------------------------------------------------------------


def select_exam_ids(project: Project, filters: ExportFilters) -> list[int]:
    """Exams of the project matching the filters (the snapshot then keeps those with usable
    images)."""
    exams = Exam.objects.filter(project=project)
    if filters.modality:
        exams = exams.filter(
            Exists(Image.objects.filter(exam=OuterRef("pk"), modality=filters.modality))
        )
    if filters.reviewed_only:
        exams = exams.filter(status="done")
    if filters.site:
        exams = exams.filter(site=filters.site)
    if filters.date_from:
        exams = exams.filter(study_date__gte=filters.date_from)
    if filters.date_to:
        exams = exams.filter(study_date__lte=filters.date_to)
    if filters.label_status != "any":
        sources = [filters.ground_truth] if filters.ground_truth != GroundTruth.ANY else None
        finding_q = Q(exam=OuterRef("pk"), deleted=False)
        label_q = Q(exam=OuterRef("pk"))
        if sources:
            finding_q &= Q(source__in=sources)
            label_q &= Q(source__in=sources)
        labelled = Exists(Finding.objects.filter(finding_q)) | Exists(
            ExamLabel.objects.filter(label_q)
        )
        exams = exams.filter(labelled if filters.label_status == "labelled" else ~labelled)
    if filters.readers:
        readers = list(filters.readers)
        exams = exams.filter(
            Exists(
                ReadingAssignment.objects.filter(
                    exam=OuterRef("pk"), reader__username__in=readers, status=ReadingStatus.DONE
                )
            )
            | Exists(
                Finding.objects.filter(
                    exam=OuterRef("pk"),
                    deleted=False,
                    source=Source.HUMAN,
                    created_by__username__in=readers,
                )
            )
            | Exists(
                ExamLabel.objects.filter(
                    exam=OuterRef("pk"), source=Source.HUMAN, author__username__in=readers
                )
            )
        )
    return list(exams.order_by("id").values_list("id", flat=True))


# --- running it (on the worker) -----------------------------------------------------------------


@dataclass
class _Plan:
    """What the export holds, read once: images, exams, findings grouped by image."""

    snapshot: DatasetSnapshot
    images: list[ExportImage]
    exams: list[ExportExam]
    marks_by_image: dict[str, list[tuple[Finding, Mark]]]
    label_map: LabelMap
    sources: dict[str, dict[str, Any]]  # image key -> {"format", "storage_key"}
    layouts: dict[str, dict[str, Any]]  # image key -> pixel-cache layout

    def findings_of(self, image_key: str) -> list[ExportFinding]:
        """The image's findings as the writers take them (one per finding, its marks on this
        image; mask pixels read here, per image, so memory stays flat)."""
        grouped: dict[int, list[Mark]] = {}
        rows: dict[int, Finding] = {}
        for finding, mark in self.marks_by_image.get(image_key, []):
            grouped.setdefault(finding.pk, []).append(mark)
            rows[finding.pk] = finding
        out = []
        for pk, marks in grouped.items():
            finding = rows[pk]
            out.append(
                ExportFinding(
                    key=str(pk),
                    image_key=image_key,
                    finding_type=finding.finding_type or "other",
                    birads=finding.birads,
                    pathology=finding.pathology,
                    marks=tuple(_export_mark(m) for m in marks),
                )
            )
        return out

    def all_findings(self) -> Iterator[ExportFinding]:
        for image in self.images:
            yield from self.findings_of(image.key)


def _export_mark(mark: Mark) -> ExportMark:
    pixels = load_mask(mark.mask_key) if mark.kind == "mask" and mark.mask_key else None
    return ExportMark(kind=mark.kind, geometry=dict(mark.geometry or {}), mask=pixels)


def _plan(snapshot: DatasetSnapshot, modality: str) -> tuple[_Plan, list[dict[str, Any]]]:
    split = {key: SPLIT_NAMES.get(name, name) for key, name in snapshot.split.items()}
    manifest = snapshot.manifest
    if modality:
        manifest = [
            {**e, "images": [im for im in e["images"] if im["modality"] == modality]}
            for e in manifest
        ]
    images = list(images_from_manifest(manifest, split))
    exams = list(exams_from_manifest(manifest, split))
    exams = [
        ExportExam(
            key=e.key,
            patient=e.patient,
            site=e.site,
            split=e.split,
            labels=e.labels,
            clinical={k: v for k, v in e.clinical.items() if k in CLINICAL_COLUMNS},
            breasts=e.breasts,
        )
        for e in exams
    ]
    image_keys = {im.key for im in images}
    marks_by_image: dict[str, list[tuple[Finding, Mark]]] = {}
    recorded: list[dict[str, Any]] = []
    types: set[str] = set()
    for finding in snapshot_findings(snapshot):
        marks = [m for m in finding.marks.all() if str(m.image_id) in image_keys]
        if not marks:
            continue
        for mark in marks:
            marks_by_image.setdefault(str(mark.image_id), []).append((finding, mark))
        types.add(finding.finding_type or "other")
        recorded.append(
            {
                "id": finding.pk,
                "version": finding.version,
                "source": finding.source,
                "origin": finding.origin or {},
                "created_by": finding.created_by_id,
                "updated_by": finding.updated_by_id,
            }
        )
    sources = {
        str(pk): {"format": fmt, "storage_key": key}
        for pk, fmt, key in Image.objects.filter(pk__in=[int(k) for k in image_keys]).values_list(
            "pk", "source_format", "storage_key"
        )
    }
    layouts = {im["key"]: im["pixel_cache"] for e in manifest for im in e["images"]}
    plan = _Plan(
        snapshot, images, exams, marks_by_image, LabelMap.of(sorted(types)), sources, layouts
    )
    return plan, recorded


def _png_of_pixels(layout: dict[str, Any]) -> bytes:
    from PIL import Image as PILImage

    pixels = np.asarray(load_pixels(layout))
    if pixels.dtype not in (np.uint8, np.uint16):
        pixels = np.clip(pixels, 0, 65535).astype(np.uint16)
    buffer = io.BytesIO()
    PILImage.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def _source_dataset(plan: _Plan, image_key: str):
    """The image's de-identified DICOM: the stored file, or for a raster original the
    Secondary Capture the viewer gets (pseudonym and remapped UIDs only)."""
    import pydicom

    source = plan.sources.get(image_key, {})
    if source.get("format") == "dicom" and source.get("storage_key"):
        with storage.open_file(source["storage_key"]) as fh:
            return pydicom.dcmread(fh)
    image = Image.objects.select_related("exam__patient", "series").get(pk=int(image_key))
    ds = pydicom.dcmread(io.BytesIO(secondary_capture(image)))
    # The type 2 attributes (present, may be empty) that SEG and SR copy from their source
    for keyword in RASTER_EMPTY_ATTRIBUTES:
        if keyword not in ds:
            setattr(ds, keyword, "")
    if "SeriesNumber" not in ds:
        ds.SeriesNumber = 1
    return ds


def _dicom_bytes(ds) -> bytes:
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def _records(plan: _Plan) -> Iterator[str]:
    """records.jsonl: one line per image with its findings and marks (what the JSON pages
    serve). Mask marks carry their box; their pixels are in the COCO or mask files."""
    for image in plan.images:
        record = {
            "image": {
                "key": image.key,
                "file_name": image.file_name,
                "width": image.width,
                "height": image.height,
                "modality": image.modality,
                "laterality": image.laterality,
                "view": image.view,
                "patient": image.patient,
                "exam": image.exam,
                "split": image.split,
            },
            "findings": [
                {
                    "key": f.key,
                    "finding_type": f.finding_type,
                    "birads": f.birads,
                    "pathology": f.pathology,
                    "marks": [{"kind": m.kind, "geometry": dict(m.geometry)} for m in f.marks],
                }
                for f in plan.findings_of(image.key)
            ],
        }
        yield json.dumps(record, separators=(",", ":")) + "\n"


def _members(
    plan: _Plan,
    formats: list[str],
    manifest_doc: dict[str, Any],
    progress: jobs.Progress,
    counts: dict[str, int],
) -> Iterator[tuple[str, Iterable[bytes | str]]]:
    """(name, chunks) of every file of the zip, made as they are written."""
    yield "export.json", [json.dumps(manifest_doc, indent=1)]
    yield "records.jsonl", _records(plan)
    n = max(len(plan.images), 1)
    if "coco" in formats:
        info = {
            "description": f"Senolab export {manifest_doc['export']}",
            "snapshot": plan.snapshot.content_hash,
        }
        yield (
            "annotations/coco.json",
            coco.write_coco(plan.images, plan.all_findings(), plan.label_map, info),
        )
    if "csv" in formats:
        yield "labels/exams.csv", tables.exam_csv(plan.exams, clinical=CLINICAL_COLUMNS)
        yield "labels/breasts.csv", tables.breast_csv(plan.exams)
        yield "labels/images.csv", tables.image_csv(plan.images)
    mask_kinds = [k for k in ("masks_png", "masks_nifti") if k in formats]
    if "monai" in formats and "masks_nifti" not in mask_kinds:
        mask_kinds.append("masks_nifti")
    if mask_kinds:
        yield "masks/label_map.json", [masks.label_map_json(plan.label_map)]
    for i, image in enumerate(plan.images):
        progress(0.2 + 0.75 * i / n, f"Image {i + 1}/{len(plan.images)}")
        if "images_png" in formats or "monai" in formats:
            yield image.file_name, [_png_of_pixels(plan.layouts[image.key])]
            counts["image_files"] = counts.get("image_files", 0) + 1
        source = None
        if {"images_dicom", "dicom_seg", "dicom_sr"} & set(formats):
            source = _source_dataset(plan, image.key)
        if "images_dicom" in formats and source is not None:
            yield f"images/{image.key}.dcm", [_dicom_bytes(source)]
        findings = plan.findings_of(image.key)
        label = None
        if mask_kinds or ("dicom_seg" in formats and source is not None):
            label = masks.image_mask(image, findings, plan.label_map)
        if "masks_png" in mask_kinds and label is not None:
            yield f"masks/{image.key}.png", [masks.mask_png(label)]
        if "masks_nifti" in mask_kinds and label is not None:
            yield f"masks/{image.key}.nii", [masks.mask_nifti(label)]
        if source is not None and findings:
            yield from _dicom_members(plan, image, source, findings, label, formats, counts)
    if "monai" in formats:
        yield "datalist.json", masks.monai_datalist(masks.datalist_entries(plan.images))


def _dicom_members(plan, image, source, findings, label, formats, counts):
    from exports import dicom

    if "dicom_seg" in formats and label is not None and label.any():
        seg = dicom.segmentation(source, label, plan.label_map)
        counts["dicom_seg"] = counts.get("dicom_seg", 0) + 1
        yield f"dicom/seg/{image.key}.dcm", [_dicom_bytes(seg)]
    located = any(m.kind in SR_KINDS for f in findings for m in f.marks)
    if "dicom_sr" in formats and located:
        sr = dicom.measurement_report(source, findings)
        counts["dicom_sr"] = counts.get("dicom_sr", 0) + 1
        yield f"dicom/sr/{image.key}.dcm", [_dicom_bytes(sr)]


def run_export(job: Job, progress: jobs.Progress) -> dict[str, Any]:
    """The work of an export Job: select, snapshot, record the findings, write the zip."""
    export = DatasetExport.objects.select_related("project").get(job=job)
    filters = ExportFilters.from_json(export.filters)
    progress(0.02, "Selecting exams")
    exam_ids = select_exam_ids(export.project, filters)
    if not exam_ids:
        raise jobs.JobFailed("No exam matches the filters.")
    ground_truth_reader = None
    if filters.ground_truth_reader:
        ground_truth_reader = (
            get_user_model().objects.filter(username=filters.ground_truth_reader).first()
        )
        if ground_truth_reader is None:
            raise jobs.JobFailed(
                f"The reader {filters.ground_truth_reader!r} named as ground truth is gone."
            )
    progress(0.05, f"Snapshot of {len(exam_ids)} exams")
    try:
        snapshot = build_snapshot(
            export.project,
            ground_truth=filters.ground_truth,
            ground_truth_reader=ground_truth_reader,
            seed=filters.seed,
            exam_ids=exam_ids,
            user=export.created_by,
        )
    except NothingToTrain as exc:
        raise jobs.JobFailed(
            "No exam matching the filters has an image that may leave (quarantined images "
            "are left out)."
        ) from exc
    plan, recorded = _plan(snapshot, filters.modality)
    if not plan.images:
        raise jobs.JobFailed(f"No {filters.modality} image in the exams matching the filters.")
    counts = {
        "exams": len(plan.exams),
        "images": len(plan.images),
        "findings": len(recorded),
        "marks": sum(len(v) for v in plan.marks_by_image.values()),
        "proposals_accepted": sum(1 for r in recorded if r["origin"]),
    }
    DatasetExport.objects.filter(pk=export.pk).update(
        snapshot=snapshot, findings=recorded, counts=counts
    )
    manifest_doc = {
        "export": export.pk,
        "formats": export.formats,
        "filters": export.filters,
        "snapshot": {
            "content_hash": snapshot.content_hash,
            "seed": snapshot.seed,
            "fractions": snapshot.fractions,
            "ground_truth": snapshot.ground_truth,
        },
        "split": {k: SPLIT_NAMES.get(v, v) for k, v in snapshot.split.items()},
        "label_map": plan.label_map.as_dict(),
        "findings": recorded,
        "counts": counts,
        "created_at": timezone.now().isoformat(),
    }
    progress(0.2, "Writing")
    digest = hashlib.sha256()
    size = 0
    with tempfile.NamedTemporaryFile(suffix=".zip") as tmp:
        for chunk in stream_zip(_members(plan, export.formats, manifest_doc, progress, counts)):
            tmp.write(chunk)
            digest.update(chunk)
            size += len(chunk)
        tmp.seek(0)
        progress(0.96, "Storing")
        key = storage.save(storage.new_key(export.project_id, "exports", "zip"), tmp)
    DatasetExport.objects.filter(pk=export.pk).update(
        archive_key=key,
        archive_sha256=digest.hexdigest(),
        archive_size=size,
        counts=counts,
        finished_at=timezone.now(),
    )
    return {
        "export": export.pk,
        "counts": counts,
        "content_hash": snapshot.content_hash,
        "archive_sha256": digest.hexdigest(),
        "archive_size": size,
    }


# --- reading a finished export -----------------------------------------------------------------


def read_records(export: DatasetExport, offset: int, limit: int) -> tuple[list[dict], bool]:
    """Records offset..offset+limit of the export's records.jsonl (from the stored zip), and
    whether more follow. Streams the member: nothing before `offset` is kept."""
    import zipfile

    out: list[dict] = []
    more = False
    with storage.open_file(export.archive_key) as fh, zipfile.ZipFile(fh) as archive:
        with archive.open("records.jsonl") as member:
            for n, line in enumerate(io.TextIOWrapper(member, encoding="utf-8")):
                if n < offset:
                    continue
                if len(out) == limit:
                    more = True
                    break
                out.append(json.loads(line))
    return out, more
