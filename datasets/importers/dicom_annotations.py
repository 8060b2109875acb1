"""Importer of DICOM images with their DICOM SEG and SR (TID 1500) annotations.

Format `dicom-seg-sr` takes a folder or zip of DICOM files (a Senolab export made with
images_dicom, dicom_seg and dicom_sr is one); `senolab-export` comes here for an export
without COCO. Files are told apart by SOP Class, not by name.

Everything is read and checked before anything is stored: a SEG or SR that cannot be read, or
a SEG whose frames do not fit the image they reference, refuses the whole import (ValueError,
nothing stored). Then, in one transaction whose files are removed again if it fails, the images
go through the platform's DICOM ingest (de-identified, UIDs remapped for this project) and the
SEG and SR references find them by that same remapping: the Image of a referenced SOP Instance
UID u is the project's Image whose UID is remap_uid(project, u) (an image already in the
project counts too, unless this import brings it again: an import made twice adds no findings
the second time). Items that cannot be used (unknown codes, a missing image, a shape outside
its image) are skipped and listed in the report's `failed`.

Findings (source "reference"): the SR groups sharing a finding in their tracking identifier
(and an exam) are one finding with a mark each; each non-empty SEG segment is one mask finding
of its segment's type. Our export draws every region mark into the SEG too, so where an SR
covers the same image, a segment's pixels inside the SR regions of its type are the SR's, and
only what remains becomes a mask finding. docs/exports.md lists what a round trip keeps.
"""

from __future__ import annotations

import hashlib
import re
import tempfile
import zipfile
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from django.db.models import QuerySet

from annotations.geometry import GeometryError, validate_geometry
from datasets.importers.base import (
    ImportReport,
    Progress,
    add_reference_finding,
    mask_mark,
    report_progress,
)
from exports.dicom_read import (
    DicomReadError,
    ReadResult,
    RegionMark,
    SegmentMask,
    dicom_kind,
    read_measurement_report,
    read_segmentation,
)
from exports.geometry import label_mask
from senolab.imaging import storage
from senolab.imaging.ingest import IngestError
from senolab.imaging.ingest.archives import inspect_archive
from senolab.imaging.ingest.collect import SIDECAR_SUFFIXES
from senolab.imaging.models import Image
from senolab.imaging.pseudonyms import remap_uid
from senolab.projects.models import Project

FORMAT = "dicom-seg-sr"
# Member names of our export, safe to quote in messages (other names may carry identifiers).
EXPORT_NAME = re.compile(r"^(images|dicom/seg|dicom/sr)/\d+\.dcm$")
ANNOTATION_FOLDERS = ("dicom/seg/", "dicom/sr/")


@dataclass
class _Set:
    """The files of the import, classified, and what the SEGs and SRs hold."""

    images: list[Path] = field(default_factory=list)
    sizes: dict[str, tuple[int, int]] = field(default_factory=dict)  # SOP UID -> (rows, cols)
    read: ReadResult = field(default_factory=ReadResult)


def import_dicom_annotations(
    project: Project,
    path: Path,
    *,
    user: Any = None,
    progress: Progress | None = None,
    report_format: str = FORMAT,
) -> ImportReport:
    report = ImportReport(report_format)
    with tempfile.TemporaryDirectory(prefix="senolab-dicom-import-") as workdir:
        files = _files(Path(path), Path(workdir))
        report_progress(progress, 0, 1, f"Reading {len(files)} files")
        found = _read_set(files)
        report.failed.extend(found.read.skipped)
        _check_references(project, found)
        if not found.images and not found.read.segments and not found.read.regions:
            report.failed.append(("import", "no DICOM image, SEG or SR was found"))
            return report
        _store(project, found, report, user, progress)
    report_progress(progress, 1, 1, report.summary().splitlines()[0])
    return report


def _files(path: Path, workdir: Path) -> list[tuple[Path, str]]:
    """(file, label) of every candidate file: a zip's members extracted under generated names,
    a folder's files in name order. Labels name only our export's members, else a number."""
    if path.is_file() and zipfile.is_zipfile(path):
        try:
            inspect_archive(path)
        except IngestError as exc:
            raise ValueError(str(exc)) from None
        out = []
        with zipfile.ZipFile(path) as archive:
            members = [m for m in archive.infolist() if not m.is_dir()]
            for n, member in enumerate(members, 1):
                if Path(member.filename).suffix.lower() in SIDECAR_SUFFIXES:
                    continue
                target = workdir / f"{n:06d}.dcm"
                with archive.open(member) as src, open(target, "xb") as dst:
                    while chunk := src.read(1 << 20):
                        dst.write(chunk)
                out.append((target, _label(member.filename, n)))
        return out
    if path.is_file():
        return [(path, "file 1")]
    files = sorted(p for p in path.rglob("*") if p.is_file())
    return [
        (p, _label(p.relative_to(path).as_posix(), n))
        for n, p in enumerate(files, 1)
        if p.suffix.lower() not in SIDECAR_SUFFIXES
    ]


def _label(name: str, number: int) -> str:
    return name if EXPORT_NAME.match(name) else f"file {number}"


def _read_set(files: list[tuple[Path, str]]) -> _Set:
    """Classify and read every file; DicomReadError (a ValueError) refuses the import."""
    import pydicom

    found = _Set()
    for file, label in files:
        kind = dicom_kind(file)
        if kind is None and label.startswith(ANNOTATION_FOLDERS):
            raise DicomReadError(f"{label} is not a DICOM file.")
        if kind == "image":
            header = pydicom.dcmread(file, stop_before_pixels=True)
            uid = str(header.get("SOPInstanceUID", ""))
            found.images.append(file)
            if uid:
                found.sizes[uid] = (int(header.get("Rows", 0)), int(header.get("Columns", 0)))
        elif kind in ("seg", "sr"):
            read = (read_segmentation if kind == "seg" else read_measurement_report)(file, label)
            found.read.segments.extend(read.segments)
            found.read.regions.extend(read.regions)
            found.read.skipped.extend(read.skipped)
    return found


def _check_references(project: Project, found: _Set) -> None:
    """A SEG whose pixels are not the size of the image it references is refused (a
    tampered or foreign file whose masks would land on the wrong pixels)."""
    elsewhere = _project_images(project, {s.source_uid for s in found.read.segments})
    for segment in found.read.segments:
        size = found.sizes.get(segment.source_uid)
        if size is None and segment.source_uid in elsewhere:
            image = elsewhere[segment.source_uid]
            size = (image.rows, image.columns)
        if size is not None and segment.mask.shape != size:
            raise DicomReadError(
                f"{segment.label} segment {segment.segment_number} is {segment.mask.shape[1]} x "
                f"{segment.mask.shape[0]} pixels but the image it references is "
                f"{size[1]} x {size[0]}."
            )


def _project_images(project: Project, uids: set[str]) -> dict[str, Image]:
    """Exported SOP Instance UID -> this project's Image of it (ingest remapped the UID)."""
    remapped = {remap_uid(project, uid): uid for uid in uids}
    images = Image.objects.filter(project=project, sop_instance_uid__in=list(remapped))
    return {remapped[im.sop_instance_uid]: im for im in images.select_related("exam")}


def _store(
    project: Project, found: _Set, report: ImportReport, user: Any, progress: Progress | None
) -> None:
    """Images, then findings, in one transaction; on failure the files go too."""
    from senolab.imaging.ingest.service import ingest_paths  # heavy: import when used

    # Images of this import already in the project (an import made twice): their
    # annotations came with them the first time
    again = set(_project_images(project, set(found.sizes)))
    hashes = [_sha256(file) for file in found.images]
    before = set(_images_of_files(project, hashes).values_list("pk", flat=True))
    with storage.files_with_rows() as batch:
        try:
            if found.images:
                ingest = ingest_paths(
                    project,
                    found.images,
                    user=user,
                    progress=(lambda f, m: progress(0.1 + 0.7 * f, m)) if progress else None,
                )
                report.images = list(ingest.images)
                report.duplicates = ingest.duplicates
                report.failed.extend(ingest.failed)
            report_progress(progress, 8, 10, "Findings")
            uids = {r.source_uid for r in found.read.regions}
            uids |= {s.source_uid for s in found.read.segments}
            images = _project_images(project, uids - again)
            if uids & again:
                report.failed.append(
                    (
                        f"{len(uids & again)} annotated images already in the project",
                        "their SEG and SR findings are not imported again",
                    )
                )
            regions = [r for r in found.read.regions if r.source_uid not in again]
            segments = [x for x in found.read.segments if x.source_uid not in again]
            _add_region_findings(regions, images, report)
            _add_mask_findings(project, segments, regions, images, report, batch)
            report.exams |= {im.exam_id for im in images.values()}
        except BaseException:
            # The ingest stored its images inside this transaction (each in a savepoint), so
            # they roll back with it: their files go too. Found by the files' checksums, so
            # neither an image that was there before nor another import's is touched.
            stored = _images_of_files(project, hashes).exclude(pk__in=before)
            for key, layout in stored.values_list("storage_key", "pixel_cache"):
                batch.keys.append(key)
                batch.keys.extend(level["key"] for level in (layout or {}).get("levels", []))
            raise


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _images_of_files(project: Project, hashes: list[str]) -> QuerySet[Image]:
    """The project's images ingested from files with these sha256 checksums."""
    return Image.objects.filter(project=project, source_sha256__in=hashes)


def _missing(item: str) -> tuple[str, str]:
    return (item, "the image it references is neither in the import nor in the project")


def _add_region_findings(
    regions: list[RegionMark], images: dict[str, Image], report: ImportReport
) -> None:
    groups: dict[tuple[str, int], list[tuple[RegionMark, Image]]] = defaultdict(list)
    for region in regions:
        image = images.get(region.source_uid)
        item = f"finding {region.finding_key} {region.mark.kind}"
        if image is None:
            report.failed.append(_missing(item))
            continue
        try:
            validate_geometry(
                region.mark.kind, dict(region.mark.geometry), image.columns, image.rows
            )
        except GeometryError as exc:
            report.failed.append((item, str(exc)))
            continue
        groups[(region.finding_key, image.exam_id)].append((region, image))
    for members in groups.values():
        first, image = members[0]
        add_reference_finding(
            image.exam,
            finding_type=first.finding_type,
            birads=first.birads,
            pathology=first.pathology,
            laterality=image.laterality if image.laterality in ("L", "R") else "",
            marks=[
                {"image": im, "kind": r.mark.kind, "geometry": dict(r.mark.geometry)}
                for r, im in members
            ],
        )
        report.findings += 1


def _add_mask_findings(
    project: Project,
    segments: list[SegmentMask],
    regions: list[RegionMark],
    images: dict[str, Image],
    report: ImportReport,
    batch: storage.FileBatch,
) -> None:
    drawn: dict[tuple[str, str], list[RegionMark]] = defaultdict(list)
    for region in regions:
        drawn[(region.source_uid, region.finding_type)].append(region)
    for segment in segments:
        image = images.get(segment.source_uid)
        item = f"SEG segment {segment.segment_number} ({segment.finding_type})"
        if image is None:
            report.failed.append(_missing(item))
            continue
        pixels = segment.mask
        same = drawn.get((segment.source_uid, segment.finding_type), [])
        if same:
            covered = label_mask([(1, r.mark) for r in same], image.columns, image.rows)
            pixels = pixels & (covered == 0)
        mark = mask_mark(project, np.asarray(pixels, np.uint8), batch, image=image)
        if mark is None:
            continue  # every pixel is an SR region's
        add_reference_finding(
            image.exam,
            finding_type=segment.finding_type,
            laterality=image.laterality if image.laterality in ("L", "R") else "",
            marks=[mark],
        )
        report.findings += 1
