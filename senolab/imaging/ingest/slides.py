"""Whole-slide images: SVS, pyramidal TIFF and DICOM SM folders, read through tiffslide.

What is stored is a copy made safe to share: the label and macro images of a slide (photographs
of the glass slide, whose label often carries a name or an accession number) are removed from
the TIFF, and identifying fields of the Aperio description (file name, date, time, user) are
blanked. DICOM whole-slide images (VL Whole Slide Microscopy) are converted at ingest into a
pyramidal TIFF, so one reader (tiffslide) serves every slide and no DICOM header survives.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import re
import shutil
import struct
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import tifffile
import tiffslide
from django.core.files.storage import default_storage

from senolab.imaging import storage
from senolab.imaging.ingest.raster import exam_for
from senolab.imaging.models import Slide
from senolab.projects.models import Project

SLIDE_SUFFIXES = {".svs": "svs", ".tif": "tiff", ".tiff": "tiff"}
WSI_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.77.1.6"
# Aperio description fields that may identify a person, a place or a moment.
APERIO_IDENTIFYING = ("Filename", "Date", "Time", "User", "ScanScope ID", "ImageID", "Barcode")
TILE = 256
# Coarser than 0.1 mm per pixel is no microscope scan: such a resolution tag is a default.
MAX_MPP = 100.0
# DICOM slides are converted in memory (RGB, 3 bytes a pixel): about 1.2 GB at most.
MAX_DICOM_PIXELS = 20_000 * 20_000


class SlideError(ValueError):
    """A slide that cannot be ingested; the message says why."""


@dataclass
class SlideResult:
    slide: Slide
    created: bool


# --- making a copy safe ------------------------------------------------------------------------


def _associated_pages(tf: tifffile.TiffFile) -> list[int]:
    """Indices of pages holding label or macro images."""
    drop = []
    for series in tf.series:
        if series.name.lower() in ("label", "macro"):
            drop += [page.index for page in series.pages if page is not None]
    for page in tf.pages:
        words = (getattr(page, "description", "") or "").lower().split()
        if page.index and words and words[0] in ("label", "macro") and page.index not in drop:
            drop.append(page.index)
    return sorted(set(drop))


def strip_associated_images(path: Path) -> int:
    """Remove label and macro pages from a TIFF in place; returns how many were removed.

    Their pixel data is overwritten with zeros and the IFD chain is relinked around them, so
    neither a reader nor a byte scan finds them.
    """
    with tifffile.TiffFile(path) as tf:
        drop = _associated_pages(tf)
        if not drop:
            return 0
        fmt = tf.tiff
        pages = [(p.index, p.offset, list(p.dataoffsets), list(p.databytecounts)) for p in tf.pages]
    with open(path, "r+b") as fh:
        kept = [p for p in pages if p[0] not in drop]
        for index, _, offsets, counts in pages:
            if index in drop:
                for offset, count in zip(offsets, counts, strict=False):
                    fh.seek(offset)
                    fh.write(b"\0" * count)
        for position, (_, ifd_offset, _, _) in enumerate(kept):
            fh.seek(ifd_offset)
            (tag_count,) = struct.unpack(fmt.tagnoformat, fh.read(fmt.tagnosize))
            following = kept[position + 1][1] if position + 1 < len(kept) else 0
            fh.seek(ifd_offset + fmt.tagnosize + tag_count * fmt.tagsize)
            fh.write(struct.pack(fmt.offsetformat, following))
    return len(drop)


def scrub_descriptions(path: Path) -> None:
    """Blank identifying `key = value` fields of Aperio descriptions, in place."""
    pattern = re.compile(r"\|\s*(" + "|".join(map(re.escape, APERIO_IDENTIFYING)) + r")\s*=[^|]*")
    with tifffile.TiffFile(path) as tf:
        descriptions = [(p.index, getattr(p, "description", "") or "") for p in tf.pages]
    for index, text in descriptions:
        cleaned = pattern.sub(lambda m: f"|{m.group(1)} = ", text)
        if cleaned != text:
            tifffile.tiffcomment(path, cleaned.encode("ascii", "replace"), pageindex=index)


# --- DICOM whole-slide images --------------------------------------------------------------------


def _dicom_volume(folder: Path) -> tuple[np.ndarray, float | None]:
    """The largest VOLUME level of the DICOM WSI in folder as (rows, cols, 3) and its mpp."""
    import pydicom

    best = None
    files = [folder] if folder.is_file() else sorted(p for p in folder.rglob("*") if p.is_file())
    for path in files:
        try:
            header = pydicom.dcmread(path, stop_before_pixels=True)
        except Exception:  # noqa: BLE001 - non-DICOM files in the folder are skipped
            continue
        if str(header.get("SOPClassUID", "")) != WSI_SOP_CLASS:
            continue
        image_type = {str(v).upper() for v in header.get("ImageType") or []}
        if image_type & {"LABEL", "OVERVIEW", "THUMBNAIL"}:  # labels may carry identifiers
            continue
        size = int(header.TotalPixelMatrixColumns) * int(header.TotalPixelMatrixRows)
        if best is None or size > best[0]:
            best = (size, path)
    if best is None:
        raise SlideError("no DICOM whole-slide (VL WSI, VOLUME) image found")
    if best[0] > MAX_DICOM_PIXELS:
        raise SlideError(
            f"this DICOM slide has {best[0]:,} pixels; converting more than "
            f"{MAX_DICOM_PIXELS:,} at ingest is not supported"
        )
    ds = pydicom.dcmread(best[1])
    try:
        frames = ds.pixel_array
    except Exception as exc:  # noqa: BLE001 - names the transfer syntax a decoder lacks
        raise SlideError(
            f"the slide's frames could not be decoded (transfer syntax "
            f"{ds.file_meta.TransferSyntaxUID.name})"
        ) from exc
    frames = frames.reshape(int(ds.get("NumberOfFrames", 1)), ds.Rows, ds.Columns, -1)
    total_rows, total_cols = int(ds.TotalPixelMatrixRows), int(ds.TotalPixelMatrixColumns)
    canvas = np.full((total_rows, total_cols, frames.shape[3]), 255, frames.dtype)
    per_frame = ds.get("PerFrameFunctionalGroupsSequence")
    tiles_across = -(-total_cols // ds.Columns)
    for i, tile in enumerate(frames):
        if per_frame is not None and "PlanePositionSlideSequence" in per_frame[i]:
            pos = per_frame[i].PlanePositionSlideSequence[0]
            r0 = int(pos.RowPositionInTotalImagePixelMatrix) - 1
            c0 = int(pos.ColumnPositionInTotalImagePixelMatrix) - 1
        else:  # TILED_FULL: row-major tiles, first focal plane and optical path first
            if i >= tiles_across * -(-total_rows // ds.Rows):
                break
            r0, c0 = (i // tiles_across) * ds.Rows, (i % tiles_across) * ds.Columns
        h, w = min(ds.Rows, total_rows - r0), min(ds.Columns, total_cols - c0)
        if h > 0 and w > 0:
            canvas[r0 : r0 + h, c0 : c0 + w] = tile[:h, :w]
    mpp = None
    shared = ds.get("SharedFunctionalGroupsSequence")
    if shared and "PixelMeasuresSequence" in shared[0]:
        mpp = float(shared[0].PixelMeasuresSequence[0].PixelSpacing[0]) * 1000.0
    if canvas.shape[2] == 1:
        canvas = np.repeat(canvas, 3, axis=2)
    return canvas.astype(np.uint8), mpp


def write_pyramidal_tiff(
    out: Path | Any, rgb: np.ndarray, *, mpp: float | None = None, min_side: int = 256
) -> None:
    """A tiled, JPEG-compressed pyramidal TIFF (SubIFDs) that tiffslide and OpenSlide read."""
    levels = [rgb]
    while max(levels[-1].shape[:2]) > min_side * 2:
        a = levels[-1]
        h, w = a.shape[0] // 2 * 2, a.shape[1] // 2 * 2
        levels.append(
            a[:h, :w].reshape(h // 2, 2, w // 2, 2, -1).mean(axis=(1, 3)).astype(np.uint8)
        )
    options: dict[str, Any] = {
        "tile": (TILE, TILE),
        "compression": "jpeg",
        "compressionargs": {"level": 90},
        "photometric": "rgb",
    }
    if mpp:
        options |= {"resolution": (1e4 / mpp, 1e4 / mpp), "resolutionunit": "CENTIMETER"}
    with tifffile.TiffWriter(out) as tw:
        tw.write(levels[0], subifds=len(levels) - 1, **options)
        for scale, level in enumerate(levels[1:], 1):
            if mpp:
                options["resolution"] = (1e4 / (mpp * 2**scale),) * 2
            tw.write(level, subfiletype=1, **options)


# --- ingest -------------------------------------------------------------------------------------


def _is_dicom(path: Path) -> bool:
    return path.is_dir() or path.suffix.lower() == ".dcm"


def _source_sha256(path: Path) -> str:
    """Of the file's bytes; for a folder, of its files' hashes in name order."""
    if not path.is_dir():
        return storage.sha256_of_file(path)
    digest = hashlib.sha256()
    for f in sorted(p for p in path.rglob("*") if p.is_file()):
        digest.update(storage.sha256_of_file(f).encode())
    return digest.hexdigest()


def _prepare_copy(path: Path, workdir: Path) -> tuple[Path, str]:
    """A de-identified TIFF copy of the slide at path and its format name."""
    if _is_dicom(path):
        rgb, mpp = _dicom_volume(path)
        out = workdir / "slide.tiff"
        write_pyramidal_tiff(out, rgb, mpp=mpp)
        return out, "dicom-sm"
    fmt = SLIDE_SUFFIXES.get(path.suffix.lower())
    if fmt is None:
        raise SlideError(f"'{path.suffix}' is not a slide format (SVS, TIFF, DICOM SM folder)")
    out = workdir / f"slide.{fmt}"
    shutil.copyfile(path, out)
    try:
        strip_associated_images(out)
        scrub_descriptions(out)
    except (tifffile.TiffFileError, OSError, ValueError) as exc:
        raise SlideError(f"not a readable TIFF slide ({type(exc).__name__})") from exc
    return out, fmt


def _describe(path: Path) -> dict[str, Any]:
    try:
        with tiffslide.TiffSlide(path) as ts:
            props = ts.properties
            width, height = ts.dimensions
            levels = [
                {"width": int(w), "height": int(h), "downsample": float(d)}
                for (w, h), d in zip(ts.level_dimensions, ts.level_downsamples, strict=True)
            ]
    except Exception as exc:  # noqa: BLE001 - whatever tiffslide raises means unreadable
        raise SlideError(f"tiffslide cannot read this slide ({type(exc).__name__})") from exc

    def number(name: str) -> float | None:
        value = props.get(name)
        return float(value) if value not in (None, "") else None

    return {
        "width": int(width),
        "height": int(height),
        "levels": levels,
        "mpp_x": number("tiffslide.mpp-x"),
        "mpp_y": number("tiffslide.mpp-y"),
        "objective_power": number("tiffslide.objective-power"),
        "vendor": str(props.get("tiffslide.vendor") or ""),
    }


def store_slide(
    project: Project,
    path: str | Path,
    *,
    patient_key: str,
    exam_key: str,
    user: Any = None,
    source: str = "slides",
    site: str = "",
    batch: storage.FileBatch | None = None,
) -> SlideResult:
    """Ingest one slide; returns it and whether it was created (False: the same bytes again)."""
    path = Path(path)
    if not path.exists():
        raise SlideError("no slide file or folder at the given path")
    source_sha = _source_sha256(path)
    existing = Slide.objects.filter(project=project, source_sha256=source_sha).first()
    if existing:
        return SlideResult(existing, False)
    with tempfile.TemporaryDirectory(prefix="senolab-slide-") as tmp:
        copy, fmt = _prepare_copy(path, Path(tmp))
        meta = _describe(copy)
        if meta["mpp_x"] and meta["mpp_x"] > MAX_MPP:
            # A generic TIFF's resolution tag is often a 72 dpi default, not a microscope's.
            meta["mpp_x"] = meta["mpp_y"] = None
        with contextlib.nullcontext(batch) if batch else storage.files_with_rows() as files:
            exam, series = exam_for(
                project,
                patient_key=patient_key,
                exam_key=exam_key,
                modality="SM",
                site=site,
                source=source,
            )
            key = storage.new_key(project.pk, "slides", "svs" if fmt == "svs" else "tiff")
            with open(copy, "rb") as fh:
                files.save(key, fh)
            slide = Slide.objects.create(
                project=project,
                exam=exam,
                series=series,
                format=fmt,
                storage_key=key,
                sha256=storage.sha256_of_file(copy),
                source_sha256=source_sha,
                size_bytes=copy.stat().st_size,
                **meta,
            )
    return SlideResult(slide, True)


def ingest_slide(
    project: Project,
    path: str | Path,
    *,
    patient_key: str,
    exam_key: str,
    user: Any = None,
    **options: Any,
) -> Slide:
    """Store a whole-slide image (SVS, pyramidal TIFF, DICOM SM file or folder) de-identified.

    Args:
        project: the project the slide goes into.
        path: the slide file, or a folder of DICOM WSI instances.
        patient_key, exam_key: the caller's identifiers; pseudonymised, never stored as given.
        options: source (importer name), site.
    """
    return store_slide(
        project, path, patient_key=patient_key, exam_key=exam_key, user=user, **options
    ).slide


@functools.lru_cache(maxsize=32)
def open_slide_key(key: str) -> tiffslide.TiffSlide:
    """A stored slide opened with tiffslide by its storage key, cached per process."""
    try:
        return tiffslide.TiffSlide(default_storage.path(key))
    except NotImplementedError:  # remote storage (S3): tiffslide reads the file object
        handle: Any = storage.open_file(key)
        return tiffslide.TiffSlide(handle)


def open_slide(slide: Slide) -> tiffslide.TiffSlide:
    """The slide's stored copy opened with tiffslide, cached per process (keys never change)."""
    return open_slide_key(slide.storage_key)
