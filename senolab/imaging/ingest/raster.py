"""Raster ingest: PNG, JPEG, TIFF, PGM files or numpy arrays become Images with a pixel cache.

What is kept as the original carries no metadata that could name a person: a PNG is kept as it
came minus its text, EXIF and time chunks; any other format is re-encoded losslessly as PNG. The
Image row and the pixel cache describe the pixels as readers get them (RGB whose channels are
equal becomes one channel). Raster files have no patient header, so the caller names the patient
and the exam with keys of its own (for example the data set's case number); the keys go through
the project's pseudonym map like DICOM patient IDs do. Re-ingesting the same source bytes returns
the existing Image (dedupe by the sha256 of the bytes as they came).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from django.db import IntegrityError

from senolab.imaging import pixelcache, storage
from senolab.imaging.models import Exam, Image, Modality, Series
from senolab.imaging.pseudonyms import pseudonymize_patient, remap_uid
from senolab.projects.models import Project

RASTER_SUFFIXES = {
    ".png": "png",
    ".jpg": "jpeg",
    ".jpeg": "jpeg",
    ".tif": "tiff",
    ".tiff": "tiff",
    ".pgm": "pgm",
    ".ppm": "pgm",
    ".npy": "npy",
}
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PNG_KEPT_CHUNKS = {
    b"IHDR",
    b"PLTE",
    b"IDAT",
    b"IEND",
    b"tRNS",
    b"gAMA",
    b"cHRM",
    b"sRGB",
    b"iCCP",
    b"sBIT",
    b"pHYs",
    b"bKGD",
}
SIDECAR_FIELDS = {
    "patient_key",
    "exam_key",
    "modality",
    "laterality",
    "view",
    "site",
    "study_date",
    "pixel_spacing",
    "description",
}


class RasterError(ValueError):
    """A raster that cannot be ingested; the message says why (and names no file)."""


@dataclass
class RasterResult:
    image: Image
    created: bool


def decode_raster(data: bytes, fmt: str) -> np.ndarray:
    """Pixels of an encoded raster as (rows, cols) or (rows, cols, 3), uint8 or uint16."""
    try:
        if fmt == "tiff":
            import tifffile

            pixels = tifffile.imread(io.BytesIO(data), key=0)
        elif fmt == "npy":
            pixels = np.load(io.BytesIO(data), allow_pickle=False)
        else:
            from PIL import Image as PILImage

            with PILImage.open(io.BytesIO(data)) as im:
                im.load()
                if im.mode in ("I;16", "I;16B", "I;16L", "I"):
                    pixels = np.asarray(im).astype(np.uint16)
                elif im.mode in ("L", "RGB"):
                    pixels = np.asarray(im)
                elif im.mode in ("1", "P", "LA", "PA"):
                    pixels = np.asarray(im.convert("L"))
                else:
                    pixels = np.asarray(im.convert("RGB"))
    except Exception as exc:  # noqa: BLE001 - any decoder failure is a rejected item
        raise RasterError(
            f"the {fmt.upper()} data could not be decoded ({type(exc).__name__})"
        ) from exc
    return normalise_pixels(pixels)


def normalise_pixels(pixels: np.ndarray) -> np.ndarray:
    """2-D grayscale or RGB uint8/uint16; RGB whose channels are equal becomes grayscale."""
    a = np.asarray(pixels)
    if a.ndim == 3 and a.shape[2] == 4:
        a = a[:, :, :3]
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if (
        a.ndim == 3
        and a.shape[2] == 3
        and (np.array_equal(a[:, :, 0], a[:, :, 1]) and np.array_equal(a[:, :, 0], a[:, :, 2]))
    ):
        # Ultrasound PNGs are often grey stored as RGB: one channel is what readers expect.
        a = a[:, :, 0]
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] != 3) or min(a.shape[:2]) < 1:
        raise RasterError(f"pixels of shape {a.shape} are neither grayscale nor RGB")
    if a.dtype == np.bool_:
        a = a.astype(np.uint8) * 255
    if a.dtype not in (np.uint8, np.uint16):
        if np.issubdtype(a.dtype, np.floating) and np.nanmax(a) <= 1.0 and np.nanmin(a) >= 0:
            a = np.rint(np.nan_to_num(a) * 255)
        if a.min() < 0 or a.max() > 65535:
            raise RasterError("pixel values must lie in 0..65535")
        a = a.astype(np.uint8 if a.max() <= 255 else np.uint16)
    return np.ascontiguousarray(a)


def _png_bytes(pixels: np.ndarray) -> bytes:
    from PIL import Image as PILImage

    buf = io.BytesIO()
    # Fast deflate: this copy is rarely read (the pixel cache serves readers).
    PILImage.fromarray(pixels).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def strip_png_metadata(data: bytes) -> bytes | None:
    """The PNG without text, EXIF and time chunks (which may name a person), or None if the
    bytes are not a well-formed PNG. Pixels are untouched: no decode, no re-encode."""
    if not data.startswith(PNG_SIGNATURE):
        return None
    out, pos = [PNG_SIGNATURE], len(PNG_SIGNATURE)
    while pos + 8 <= len(data):
        length = int.from_bytes(data[pos : pos + 4], "big")
        kind = data[pos + 4 : pos + 8]
        end = pos + 12 + length
        if end > len(data):
            return None
        if kind in PNG_KEPT_CHUNKS:
            out.append(data[pos:end])
        pos = end
        if kind == b"IEND":
            return b"".join(out)
    return None


def _stored_copy(pixels: np.ndarray, raw: bytes, fmt: str) -> bytes:
    """What is kept as the original: the PNG as it came minus metadata, else a lossless PNG."""
    if fmt == "png":
        stripped = strip_png_metadata(raw)
        if stripped is not None:
            return stripped
    return _png_bytes(pixels)


def exam_for(
    project: Project,
    *,
    patient_key: str,
    exam_key: str,
    modality: str,
    site: str = "",
    study_date: dt.date | None = None,
    source: str = "",
    description: str = "",
) -> tuple[Exam, Series]:
    """The Exam and the modality's Series for caller-chosen keys, created on first sight."""
    patient, offset = pseudonymize_patient(project, patient_key)
    study_uid = remap_uid(project, f"exam:{patient_key}:{exam_key}")
    shifted = study_date + dt.timedelta(days=offset) if study_date else None
    exam, _ = Exam.objects.get_or_create(
        project=project,
        study_uid=study_uid,
        defaults={
            "patient": patient,
            "study_date": shifted,
            "site": site,
            "source": source,
            "description": description,
            "modalities": [modality],
        },
    )
    if modality not in exam.modalities:
        exam.modalities = sorted({*exam.modalities, modality})
        exam.save(update_fields=["modalities"])
    series_uid = remap_uid(project, f"series:{patient_key}:{exam_key}:{modality}")
    series, _ = Series.objects.get_or_create(
        project=project,
        exam=exam,
        series_uid=series_uid,
        defaults={"modality": modality, "number": 1, "body_part": "BREAST"},
    )
    return exam, series


def _read_source(source: np.ndarray | str | Path) -> tuple[np.ndarray, bytes, str]:
    if isinstance(source, np.ndarray):
        pixels = normalise_pixels(source)
        meta = f"{source.dtype.str}{source.shape}".encode()
        return pixels, meta + np.ascontiguousarray(source).tobytes(), "npy"
    path = Path(source)
    fmt = RASTER_SUFFIXES.get(path.suffix.lower())
    if fmt is None:
        raise RasterError(f"'{path.suffix}' is not a raster format (PNG, JPEG, TIFF, PGM)")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise RasterError(f"the file could not be read ({exc.strerror})") from exc
    return decode_raster(data, fmt), data, fmt


def store_raster(
    project: Project,
    pixels_or_path: np.ndarray | str | Path,
    *,
    patient_key: str,
    exam_key: str,
    modality: str,
    laterality: str = "U",
    view: str = "",
    site: str = "",
    study_date: dt.date | None = None,
    user: Any = None,
    source: str = "raster",
    pixel_spacing: list[float] | None = None,
    description: str = "",
    batch: storage.FileBatch | None = None,
) -> RasterResult:
    """Ingest one raster; returns the Image and whether it was created (False: a duplicate).

    With batch, the caller's `files_with_rows()` block owns the transaction, so the ground truth
    it writes next is stored with the image or not at all.
    """
    if modality not in Modality.values:
        raise RasterError(f"unknown modality '{modality}'")
    pixels, raw, fmt = _read_source(pixels_or_path)
    source_sha = storage.sha256_of(raw)
    existing = Image.objects.filter(project=project, source_sha256=source_sha).first()
    if existing:
        return RasterResult(existing, False)
    stored = _stored_copy(pixels, raw, fmt)
    rgb = pixels.ndim == 3
    bits = 16 if pixels.dtype == np.uint16 else 8
    bits_stored = max(int(pixels.max()).bit_length(), 8) if bits == 16 else 8
    lo, hi = float(pixels.min()), float(pixels.max())
    try:
        with contextlib.nullcontext(batch) if batch else storage.files_with_rows() as files:
            exam, series = exam_for(
                project,
                patient_key=patient_key,
                exam_key=exam_key,
                modality=modality,
                site=site,
                study_date=study_date,
                source=source,
                description=description,
            )
            key = files.save(storage.new_key(project.pk, "images", "png"), stored)
            cache_key, layout = pixelcache.write_pixel_cache(project.pk, pixels, files)
            image = Image.objects.create(
                project=project,
                exam=exam,
                series=series,
                sop_instance_uid=remap_uid(project, f"raster:{source_sha}"),
                instance_number=series.images.count() + 1,
                modality=modality,
                laterality=laterality or "U",
                view=view or "",
                rows=pixels.shape[0],
                columns=pixels.shape[1],
                samples_per_pixel=3 if rgb else 1,
                bits_allocated=bits,
                bits_stored=bits_stored,
                pixel_spacing=pixel_spacing,
                photometric_interpretation="RGB" if rgb else "MONOCHROME2",
                window_center=(lo + hi) / 2,
                window_width=max(hi - lo, 1.0),
                source_format=fmt,
                storage_key=key,
                sha256=storage.sha256_of(stored),
                source_sha256=source_sha,
                size_bytes=len(stored),
                pixel_cache_key=cache_key,
                pixel_cache=layout,
            )
    except IntegrityError:  # a concurrent ingest of the same bytes won the race
        if batch is not None:
            raise
        existing = Image.objects.filter(project=project, source_sha256=source_sha).first()
        if existing is None:
            raise
        return RasterResult(existing, False)
    return RasterResult(image, True)


def ingest_raster(
    project: Project,
    pixels_or_path: np.ndarray | str | Path,
    *,
    patient_key: str,
    exam_key: str,
    modality: str,
    laterality: str = "U",
    view: str = "",
    site: str = "",
    study_date: dt.date | None = None,
    user: Any = None,
    **options: Any,
) -> Image:
    """Store a raster image (file or array) as an Image of the given patient and exam keys.

    Args:
        project: the project the image goes into.
        pixels_or_path: a PNG/JPEG/TIFF/PGM path, or an array (rows, cols) or (rows, cols, 3).
        patient_key, exam_key: the caller's identifiers; pseudonymised, never stored as given.
        modality, laterality, view, site, study_date: what the Image and Exam record.
        options: source (importer name), pixel_spacing [row, col] in mm, description.
    """
    return store_raster(
        project,
        pixels_or_path,
        patient_key=patient_key,
        exam_key=exam_key,
        modality=modality,
        laterality=laterality,
        view=view,
        site=site,
        study_date=study_date,
        user=user,
        **options,
    ).image


def read_sidecar(path: Path) -> dict[str, Any]:
    """The metadata sidecar of a raster file (`image.png.json` or `image.json`), if any."""
    for candidate in (path.with_name(path.name + ".json"), path.with_suffix(".json")):
        if candidate.is_file():
            try:
                meta = json.loads(candidate.read_text())
            except (OSError, ValueError) as exc:
                raise RasterError(f"the metadata sidecar is not valid JSON ({exc})") from exc
            if not isinstance(meta, dict):
                raise RasterError("the metadata sidecar must be a JSON object")
            unknown = set(meta) - SIDECAR_FIELDS
            if unknown:
                raise RasterError(f"unknown sidecar fields: {sorted(unknown)}")
            return meta
    return {}


def ingest_raster_with_sidecar(
    project: Project, path: Path, *, user: Any = None, **defaults: Any
) -> RasterResult:
    """Ingest a raster file whose patient, exam and view come from its JSON sidecar."""
    meta = {**defaults, **read_sidecar(Path(path))}
    if not meta.get("patient_key") or not meta.get("exam_key"):
        raise RasterError("the sidecar (or the caller) must give patient_key and exam_key")
    study_date = meta.pop("study_date", None)
    if isinstance(study_date, str):
        try:
            study_date = dt.date.fromisoformat(study_date)
        except ValueError as exc:
            raise RasterError("study_date must be an ISO date (YYYY-MM-DD)") from exc
    modality = meta.pop("modality", "OT")
    return store_raster(project, path, modality=modality, study_date=study_date, user=user, **meta)
