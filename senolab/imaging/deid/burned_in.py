"""Burned-in text: quarantine at ingest, release by a reviewer or by masking configured regions.

Which images are quarantined (decided at ingest, `quarantine_fields`):
- BurnedInAnnotation is YES;
- the modality is US and the file does not state BurnedInAnnotation NO: ultrasound scanners
  burn the patient's name, the date and the site into a top band, and many leave the attribute
  out. An explicit NO is the sender's statement and is respected, as raster data sets keep
  their own statement (their importers create images as clean);
- otherwise, text is detected in the top or bottom band of the first frame (`detect_text`): a
  row of at least five bright, glyph-sized marks on a dark band. It errs towards quarantine (a
  film's lead side marker counts too); a reviewer releases what is harmless.

A quarantined image is shown, with a badge, to the project's members, but it is left out of
everything that carries pixels out of the viewer: `Image.objects.usable_for_research()` is the
one filter that training snapshots use and that exports must use. It leaves quarantine when
- a reviewer marks it clean after looking (`mark_reviewed_clean`), or
- its configured regions are masked (`mask_configured_regions`): `SENOLAB_BURNED_IN_MASKS` lists
  rectangles per manufacturer and model, as clinical-trial anonymisers do; the pixels inside
  are set to the image's minimum value in every frame, in the stored de-identified DICOM and in
  the pixel cache. The unmasked de-identified file is kept under `Image.unmasked_storage_key`,
  served to project owners only.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian

from senolab.imaging import pixelcache, storage
from senolab.imaging.ingest import dicomfile
from senolab.imaging.ingest.decode import decode_pixels
from senolab.imaging.models import Image, PixelStatus

logger = logging.getLogger(__name__)

REASON_FLAGGED = "BurnedInAnnotation is YES"
REASON_ULTRASOUND = "ultrasound without BurnedInAnnotation NO"
REASON_DETECTED = "text detected in a border band of the pixels"
# detect_text: the share of the height searched at the top and at the bottom, the glyphs a line
# of text needs, and the size of a glyph in pixels.
TEXT_BAND = 0.15
TEXT_MIN_GLYPHS = 5
GLYPH_HEIGHT = (4, 64)
# CID 7050: what masking adds to the data set's de-identification method.
CLEAN_PIXEL_CODE = ("113101", "Clean Pixel Data Option")
_PALETTE_KEYWORDS = (
    "RedPaletteColorLookupTableDescriptor",
    "GreenPaletteColorLookupTableDescriptor",
    "BluePaletteColorLookupTableDescriptor",
    "RedPaletteColorLookupTableData",
    "GreenPaletteColorLookupTableData",
    "BluePaletteColorLookupTableData",
    "SegmentedRedPaletteColorLookupTableData",
    "SegmentedGreenPaletteColorLookupTableData",
    "SegmentedBluePaletteColorLookupTableData",
    "PaletteColorLookupTableUID",
)


class QuarantineError(Exception):
    """An operation the image's state or the configuration does not allow; a readable message."""

    def __init__(self, message: str, *, conflict: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.conflict = conflict


@dataclass(frozen=True)
class Region:
    """A rectangle in pixels of the full-resolution frame: left, top, width, height."""

    x: int
    y: int
    width: int
    height: int


def detect_text(pixels: np.ndarray) -> bool:
    """Whether the first frame shows a line of text in its top or bottom band: at least
    TEXT_MIN_GLYPHS bright connected marks of a glyph's size on one line, in a band that is
    mostly dark (text over tissue or a bright field is not looked for)."""
    from scipy import ndimage

    frame = np.asarray(pixels)
    if frame.ndim == 4 or (frame.ndim == 3 and frame.shape[-1] not in (3, 4)):
        frame = frame[0]
    if frame.ndim == 3:
        frame = frame[..., :3].mean(axis=-1)
    low, high = float(frame.min()), float(frame.max())
    if frame.ndim != 2 or high <= low:
        return False
    height = max(8, int(frame.shape[0] * TEXT_BAND))
    # Levels as fractions of the whole frame's range, compared on the raw values of the two bands
    # alone: a mammogram's middle is most of its pixels and is never searched.
    dark, bright = low + 0.35 * (high - low), low + 0.6 * (high - low)
    for band in (frame[:height], frame[-height:]):
        if float(np.median(band[::4, ::4])) > dark:
            continue
        labels, count = ndimage.label(band > bright)
        if count < TEXT_MIN_GLYPHS:
            continue
        rows, heights = [], []
        for found in ndimage.find_objects(labels):
            tall = found[0].stop - found[0].start
            wide = found[1].stop - found[1].start
            if GLYPH_HEIGHT[0] <= tall <= GLYPH_HEIGHT[1] and wide <= min(
                GLYPH_HEIGHT[1], 3 * tall
            ):
                rows.append((found[0].start + found[0].stop) / 2)
                heights.append(tall)
        if len(rows) < TEXT_MIN_GLYPHS:
            continue
        centre, text_height = float(np.median(rows)), float(np.median(heights))
        if int((np.abs(np.asarray(rows) - centre) <= text_height).sum()) >= TEXT_MIN_GLYPHS:
            return True
    return False


def quarantine_fields(
    burned_in: bool, ds: Dataset, *, text_detected: bool = False
) -> dict[str, Any]:
    """Image fields for a newly ingested DICOM image (ds: the de-identified data set)."""
    if not burned_in:
        if text_detected:
            return {"pixel_status": PixelStatus.QUARANTINED, "pixel_status_reason": REASON_DETECTED}
        return {"pixel_status": PixelStatus.CLEAN}
    flagged = str(ds.get("BurnedInAnnotation", "") or "").strip().upper() == "YES"
    return {
        "pixel_status": PixelStatus.QUARANTINED,
        "pixel_status_reason": REASON_FLAGGED if flagged else REASON_ULTRASOUND,
    }


def _norm(text: object) -> str:
    return " ".join(str(text or "").split()).casefold()


def regions_for(manufacturer: object, model: object) -> list[Region]:
    """The configured rectangles for a manufacturer and model ("*" as model: any model)."""
    found: list[Region] = []
    for entry in settings.SENOLAB_BURNED_IN_MASKS:
        if _norm(entry["manufacturer"]) != _norm(manufacturer):
            continue
        if entry.get("model", "*") != "*" and _norm(entry["model"]) != _norm(model):
            continue
        found += [Region(*(int(v) for v in rect)) for rect in entry["regions"]]
    return found


def mark_reviewed_clean(image: Image, user: Any) -> Image:
    """A reviewer looked at every frame and found no identifying text."""
    if image.pixel_status != PixelStatus.QUARANTINED:
        raise QuarantineError(
            f"This image is not quarantined (it is {image.get_pixel_status_display().lower()}).",
            conflict=True,
        )
    image.pixel_status = PixelStatus.REVIEWED_CLEAN
    image.pixel_reviewed_by = user
    image.pixel_reviewed_at = timezone.now()
    image.save(update_fields=["pixel_status", "pixel_reviewed_by", "pixel_reviewed_at"])
    return image


def mask_pixels(pixels: np.ndarray, frames: int, regions: list[Region]) -> np.ndarray:
    """A copy of pixels ((rows, cols[, s]) or (frames, rows, cols[, s])) with each region
    set to the image's minimum in every frame; regions are clipped to the frame."""
    masked = np.array(pixels, copy=True)
    view = masked[np.newaxis] if frames == 1 else masked
    fill = view.min()
    rows, cols = view.shape[1], view.shape[2]
    for r in regions:
        top, left = max(r.y, 0), max(r.x, 0)
        bottom, right = min(r.y + r.height, rows), min(r.x + r.width, cols)
        if bottom > top and right > left:
            view[:, top:bottom, left:right, ...] = fill
    return masked


def _masked_dataset(data: bytes, frames: int, regions: list[Region]) -> tuple[Dataset, np.ndarray]:
    ds = dicomfile.read_dataset(data)
    masked = mask_pixels(decode_pixels(ds, data), frames, regions)
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    if masked.ndim == (3 if frames == 1 else 4):  # colour: the decoder returns RGB, interleaved
        for keyword in _PALETTE_KEYWORDS:
            if keyword in ds:
                delattr(ds, keyword)
        bits = masked.dtype.itemsize * 8
        ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.PlanarConfiguration = 3, "RGB", 0
        if int(ds.BitsAllocated) != bits:  # a palette expanded to 8 or 16 bits per sample
            ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = (
                bits,
                bits,
                bits - 1,
                0,
            )
    ds.PixelData = masked.tobytes()
    ds["PixelData"].VR = "OB" if masked.dtype.itemsize == 1 else "OW"
    ds.BurnedInAnnotation = "NO"
    code = Dataset()
    code.CodeValue, code.CodingSchemeDesignator = CLEAN_PIXEL_CODE[0], "DCM"
    code.CodeMeaning = CLEAN_PIXEL_CODE[1]
    ds.DeidentificationMethodCodeSequence = Sequence(
        [*ds.get("DeidentificationMethodCodeSequence", []), code]
    )
    return ds, masked


def _delete_quietly(keys: list[str]) -> None:
    for key in keys:
        storage.delete_quietly(key)


def mask_configured_regions(image: Image, user: Any) -> Image:
    """Mask the regions configured for the image's manufacturer and model (see module doc)."""
    if image.pixel_status != PixelStatus.QUARANTINED:
        raise QuarantineError(
            f"Only a quarantined image is masked; this one is "
            f"{image.get_pixel_status_display().lower()}.",
            conflict=True,
        )
    if image.source_format != "dicom":
        raise QuarantineError("Only DICOM images can be masked.")
    manufacturer = image.extra.get("Manufacturer", "")
    model = image.extra.get("ManufacturerModelName", "")
    regions = regions_for(manufacturer, model)
    if not regions:
        raise QuarantineError(
            f"No mask regions are configured for manufacturer '{manufacturer or '?'}' and "
            f"model '{model or '?'}': add them to SENOLAB_BURNED_IN_MASKS, or have a reviewer "
            "mark the image clean."
        )
    ds, masked = _masked_dataset(storage.read(image.storage_key), image.frame_count, regions)
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    stored = buf.getvalue()
    old_cache = pixelcache.cache_keys(image.pixel_cache or {})
    with storage.files_with_rows() as batch:
        key = batch.save(storage.new_key(image.project_id, "images", "dcm"), stored)
        cache_key, layout = pixelcache.write_pixel_cache(
            image.project_id, masked, batch, frames=image.frame_count
        )
        image.unmasked_storage_key = image.storage_key
        image.storage_key = key
        image.sha256 = storage.sha256_of(stored)
        image.size_bytes = len(stored)
        image.transfer_syntax_uid = str(ExplicitVRLittleEndian)
        image.photometric_interpretation = str(ds.PhotometricInterpretation)
        image.burned_in_annotation = False
        image.pixel_cache_key, image.pixel_cache = cache_key, layout
        image.pixel_status = PixelStatus.CLEANED
        image.pixel_status_reason = f"{len(regions)} configured region(s) masked"
        image.pixel_reviewed_by = user
        image.pixel_reviewed_at = timezone.now()
        image.save()
        # The unmasked cache goes once the masked one is committed (the file stays for owners).
        transaction.on_commit(lambda: _delete_quietly(old_cache))
    return image
