"""Reading one DICOM file defensively, and what the platform records about its image.

Files are parsed from memory through a reader that refuses any value running past the end of
the data: a header that declares a 4 GiB element in a 1 KiB file is rejected as truncated
instead of making a file reader allocate the declared size.
"""

from __future__ import annotations

import io
import struct
from typing import Any

import numpy as np
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError

from senolab.imaging.ingest import IngestError

DICM_OFFSET = 128
MAGIC = b"DICM"
# Reads longer than this that run past the end are values, not the probing of small headers.
SHORT_READ = 16

# SOP classes that are not images to read: each has its own path (or none yet).
NOT_IMAGES = {
    "1.2.840.10008.1.3.10": "a DICOMDIR (media directory) holds no image",
    "1.2.840.10008.5.1.4.1.1.66.4": "segmentation objects are not images to ingest",
    "1.2.840.10008.5.1.4.1.1.77.1.6": "whole-slide microscopy goes through the slide importer",
}

# View for Mammography (CID 4014): SNOMED CT codes and their legacy SNOMED-RT equivalents.
VIEW_CODES = {
    "399162004": "CC",
    "R-10242": "CC",
    "399368009": "MLO",
    "R-10226": "MLO",
    "399260004": "ML",
    "R-10224": "ML",
    "399352003": "LM",
    "R-10230": "LM",
    "399192003": "XCCL",
    "R-1024A": "XCCL",
    "399101009": "XCCM",
    "R-1024B": "XCCM",
    "399099002": "LMO",
    "R-10228": "LMO",
    "399196000": "FB",
    "R-10234": "FB",
    "399188001": "SIO",
    "R-102D0": "SIO",
}
VIEW_WORDS = {
    "CC": "CC",
    "MLO": "MLO",
    "ML": "ML",
    "LM": "LM",
    "LMO": "LMO",
    "XCCL": "XCCL",
    "XCCM": "XCCM",
    "FB": "FB",
    "SIO": "SIO",
}
MODALITIES = {"MG", "US", "MR", "SM"}
# Acquisition attributes kept on Image.extra: none of them names or dates a person.
EXTRA_KEYWORDS = (
    "Manufacturer",
    "ManufacturerModelName",
    "KVP",
    "ExposureTime",
    "XRayTubeCurrent",
    "BodyPartThickness",
    "CompressionForce",
    "AnodeTargetMaterial",
    "FilterMaterial",
    "RescaleSlope",
    "RescaleIntercept",
    "PresentationIntentType",
    "PresentationLUTShape",
    "MagneticFieldStrength",
    "RepetitionTime",
    "EchoTime",
    "SliceThickness",
    "SOPClassUID",
)


class BoundedReader(io.BytesIO):
    """BytesIO that raises instead of returning less than a long read asked for."""

    def read(self, size: int | None = -1) -> bytes:
        if size is not None and size > SHORT_READ:
            remaining = len(self.getbuffer()) - self.tell()
            if size > remaining:
                raise IngestError(
                    f"the file is truncated: an element declares {size} bytes but only "
                    f"{max(remaining, 0)} remain"
                )
        return super().read(size)


def looks_like_dicom(head: bytes) -> bool:
    """The Part 10 magic after the preamble."""
    return head[DICM_OFFSET : DICM_OFFSET + 4] == MAGIC


def read_dataset(data: bytes) -> Dataset:
    """Parse a DICOM Part 10 file held in memory; IngestError says why one is refused."""
    import pydicom

    if not data:
        raise IngestError("the file is empty")
    if not looks_like_dicom(data[: DICM_OFFSET + 4]):
        raise IngestError("not a DICOM file (no 'DICM' marker after the 128-byte preamble)")
    try:
        ds = pydicom.dcmread(BoundedReader(data))
    except IngestError:
        raise
    except InvalidDicomError:
        raise IngestError("not a valid DICOM file (its file meta information is broken)") from None
    except (EOFError, ValueError, TypeError, KeyError, IndexError, OSError, struct.error):
        raise IngestError("the DICOM file is truncated or malformed and cannot be parsed") from None
    return ds


def check_image(ds: Dataset) -> None:
    """Refuse data sets that hold no image this platform stores."""
    sop_class = str(
        ds.get("SOPClassUID", "")
        or getattr(getattr(ds, "file_meta", None), "MediaStorageSOPClassUID", "")
    )
    if sop_class in NOT_IMAGES:
        raise IngestError(NOT_IMAGES[sop_class])
    if not any(k in ds for k in ("PixelData", "FloatPixelData", "DoubleFloatPixelData")):
        raise IngestError("the DICOM file has no pixel data (not an image)")
    for keyword in ("Rows", "Columns", "BitsAllocated", "SamplesPerPixel"):
        try:
            value = int(ds.get(keyword) or 0)
        except (TypeError, ValueError):
            value = 0
        if value <= 0:
            raise IngestError(f"the image attribute {keyword} is missing or invalid")
    if not str(ds.get("SOPInstanceUID", "") or ""):
        raise IngestError("the DICOM file has no SOP Instance UID")
    _check_native_length(ds)


def _check_native_length(ds: Dataset) -> None:
    """Uncompressed pixel data must hold every pixel the attributes declare."""
    meta = getattr(ds, "file_meta", None)
    syntax = getattr(meta, "TransferSyntaxUID", None) if meta is not None else None
    if syntax is None or syntax.is_compressed or "PixelData" not in ds:
        return
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    bits = int(ds.BitsAllocated)
    expected = int(ds.Rows) * int(ds.Columns) * int(ds.SamplesPerPixel) * frames
    expected = (expected + 7) // 8 if bits == 1 else expected * (bits // 8)
    if str(ds.get("PhotometricInterpretation", "")) == "YBR_FULL_422":
        expected = expected // 3 * 2
    actual = len(ds.PixelData or b"")
    if actual < expected:
        raise IngestError(
            f"the pixel data is truncated: {actual} of the {expected} bytes the "
            "image attributes declare"
        )


def _text(ds: Dataset, keyword: str) -> str:
    value = ds.get(keyword, "")
    if isinstance(value, list | tuple):
        value = value[0] if value else ""
    return str(value or "").strip().upper()


def laterality(ds: Dataset) -> str:
    """R, L, B or U from ImageLaterality, else Laterality, else FrameLaterality."""
    for keyword in ("ImageLaterality", "Laterality"):
        value = _text(ds, keyword)
        if value in ("R", "L", "B"):
            return value
    for group in ds.get("SharedFunctionalGroupsSequence", []) or []:
        for item in group.get("FrameAnatomySequence", []) or []:
            value = _text(item, "FrameLaterality")
            if value in ("R", "L", "B"):
                return value
    return "U"


def mammography_view(ds: Dataset) -> str:
    """The view from ViewCodeSequence (CID 4014 codes) or ViewPosition; '' when none given."""
    for item in ds.get("ViewCodeSequence", []) or []:
        view = VIEW_CODES.get(str(item.get("CodeValue", "")).strip())
        if view:
            return view
        meaning = str(item.get("CodeMeaning", "")).strip().lower()
        if "oblique" in meaning and "medio" in meaning:
            return "MLO"
        if "cranio-caudal" in meaning and "exaggerated" not in meaning:
            return "CC"
    position = _text(ds, "ViewPosition")
    if position in VIEW_WORDS:
        return VIEW_WORDS[position]
    return "OTHER" if position else ""


def modality(ds: Dataset) -> str:
    value = _text(ds, "Modality")
    if value in MODALITIES:
        return value
    if value in ("RG", "DX", "CR") and "BREAST" in _text(ds, "BodyPartExamined"):
        return "MG"  # e.g. the NEMA mammogram, stored as Secondary Capture with Modality RG
    return "OT"


def _float(ds: Dataset, keyword: str) -> float | None:
    value = ds.get(keyword)
    if isinstance(value, list | tuple) or (
        hasattr(value, "__len__") and not isinstance(value, str | bytes)
    ):
        value = value[0] if len(value) else None
    try:
        return float(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def pixel_spacing(ds: Dataset) -> list[float] | None:
    for keyword in ("PixelSpacing", "ImagerPixelSpacing"):
        value = ds.get(keyword)
        try:
            if value is not None and len(value) == 2:
                return [float(value[0]), float(value[1])]
        except (TypeError, ValueError):
            continue
    return None


def _jsonable(value: Any) -> Any:
    if isinstance(value, list | tuple) or type(value).__name__ == "MultiValue":
        return [_jsonable(v) for v in value]
    if isinstance(value, int | float | str):
        return value if not isinstance(value, str) else value[:64]
    try:
        return float(value)
    except (TypeError, ValueError):
        return str(value)[:64]


def image_fields(ds: Dataset, pixels: np.ndarray) -> dict[str, Any]:
    """Image row fields read from the (original) header and the decoded pixels."""
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    samples = pixels.shape[-1] if pixels.ndim == (4 if frames > 1 else 3) else 1
    photometric = "RGB" if samples == 3 else _text(ds, "PhotometricInterpretation") or "MONOCHROME2"
    center, width = _float(ds, "WindowCenter"), _float(ds, "WindowWidth")
    if center is None or not width:
        lo, hi = float(np.min(pixels)), float(np.max(pixels))
        center, width = (lo + hi) / 2, max(hi - lo, 1.0)
    kind = modality(ds)
    try:
        number = (
            int(ds.get("InstanceNumber")) if ds.get("InstanceNumber") not in (None, "") else None
        )
    except (TypeError, ValueError):
        number = None
    return {
        "modality": kind,
        "laterality": laterality(ds),
        "view": mammography_view(ds) if kind == "MG" else "",
        "frame_count": frames,
        "rows": int(ds.Rows),
        "columns": int(ds.Columns),
        "samples_per_pixel": samples,
        "bits_allocated": int(ds.BitsAllocated),
        "bits_stored": int(ds.get("BitsStored") or ds.BitsAllocated),
        "pixel_spacing": pixel_spacing(ds),
        "photometric_interpretation": photometric[:20],
        "window_center": center,
        "window_width": width,
        "instance_number": number,
        "extra": {k: _jsonable(ds.get(k)) for k in EXTRA_KEYWORDS if ds.get(k) not in (None, "")},
    }


def series_fields(ds: Dataset) -> dict[str, Any]:
    try:
        number = int(ds.get("SeriesNumber")) if ds.get("SeriesNumber") not in (None, "") else None
    except (TypeError, ValueError):
        number = None
    return {
        "modality": modality(ds),
        "number": number,
        "body_part": _text(ds, "BodyPartExamined")[:40],
    }
