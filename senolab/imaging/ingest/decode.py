"""Pixel decoding at ingest, through pydicom's pixel data handlers, with GDCM as the last resort.

pydicom 3 tries each installed plugin for the transfer syntax in turn (pylibjpeg with openjpeg
and libjpeg, GDCM, Pillow, pyjpegls, its own RLE decoder). Its GDCM plugin declines a few
streams that GDCM itself reads (12-bit JPEG Extended, the NEMA mammogram's JPEG copy), so when
every plugin fails and python-gdcm is installed, GDCM's own reader gets one try before the item
is rejected. Every rejection names the transfer syntax by name and UID.
"""

from __future__ import annotations

import logging
import os
import tempfile
from typing import Any

import numpy as np
from pydicom.dataset import Dataset
from pydicom.uid import UID

from senolab.imaging.ingest import IngestError

logger = logging.getLogger(__name__)


def syntax_label(uid: Any) -> str:
    """'JPEG 2000 Image Compression (1.2.840.10008.1.2.4.91)'; an unknown UID stays itself."""
    uid = UID(str(uid or ""))
    name = uid.name if uid.name != str(uid) else "an unknown transfer syntax"
    return f"{name} ({uid})" if str(uid) else "no transfer syntax"


def transfer_syntax(ds: Dataset) -> UID:
    meta = getattr(ds, "file_meta", None)
    uid = getattr(meta, "TransferSyntaxUID", None) if meta is not None else None
    if not uid:
        raise IngestError(
            "the file names no transfer syntax (its file meta information is missing or incomplete)"
        )
    return UID(str(uid))


def _gdcm_available() -> bool:
    try:
        import gdcm  # noqa: F401
    except ImportError:
        return False
    return True


def check_decodable(ds: Dataset) -> None:
    """Refuse, before any work, a transfer syntax that no installed decoder handles."""
    from pydicom.pixels.decoders.base import get_decoder

    uid = transfer_syntax(ds)
    if not uid.is_compressed:
        return
    try:
        decoder = get_decoder(uid)
    except NotImplementedError:
        raise IngestError(
            f"the pixel data is encoded in {syntax_label(uid)}, which no installed decoder can read"
        ) from None
    if not decoder.is_available and not _gdcm_available():
        raise IngestError(
            f"the pixel data is encoded in {syntax_label(uid)}; its decoders are not "
            f"installed ({'; '.join(decoder.missing_dependencies) or 'none available'})"
        )


def decode_pixels(ds: Dataset, data: bytes | None = None) -> np.ndarray:
    """All frames of the image as pydicom returns them: (rows, cols[, samples]) for one frame,
    (frames, rows, cols[, samples]) for more; colour as RGB; native dtype.

    `data` (the file's bytes) lets GDCM's own reader try when pydicom's plugins all fail.
    """
    uid = transfer_syntax(ds)
    check_decodable(ds)
    try:
        return _as_rgb_if_palette(ds, ds.pixel_array)
    except MemoryError:
        raise IngestError("the image is too large to decode on this server") from None
    except Exception as exc:  # noqa: BLE001 - any decoder failure rejects the item
        failure = exc
    if uid.is_compressed and data is not None and _gdcm_available():
        try:
            return _decode_with_gdcm(ds, data)
        except Exception:  # noqa: BLE001 - reported below, with pydicom's reason
            logger.debug("GDCM could not decode %s either", syntax_label(uid))
    if not uid.is_compressed:
        raise IngestError(
            f"the pixel data is truncated or inconsistent with the image "
            f"attributes ({_reason(failure)})"
        ) from None
    raise IngestError(
        f"the pixel data in {syntax_label(uid)} could not be decoded by any installed decoder "
        f"({_reason(failure)})"
    ) from None


def _reason(exc: Exception) -> str:
    """A decoder's complaint, first line only, bounded: these carry no header values."""
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    if len(lines) > 1:  # pydicom's "raised by all available plugins:" then one line each
        lines = lines[1:]
    return ("; ".join(lines) or type(exc).__name__)[:300]


def _as_rgb_if_palette(ds: Dataset, pixels: np.ndarray) -> np.ndarray:
    if str(ds.get("PhotometricInterpretation", "")) == "PALETTE COLOR":
        from pydicom.pixels import apply_color_lut

        return apply_color_lut(pixels, ds)
    return pixels


def _decode_with_gdcm(ds: Dataset, data: bytes) -> np.ndarray:
    """GDCM's own reader on the file's bytes (it reads from a path, so a private temp file)."""
    import gdcm

    fd, name = tempfile.mkstemp(suffix=".dcm")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        reader = gdcm.ImageReader()
        reader.SetFileName(name)
        if not reader.Read():
            raise ValueError("GDCM could not read the file")
        image = reader.GetImage()
        fmt = image.GetPixelFormat()
        dtype = {
            (8, 0): np.uint8,
            (8, 1): np.int8,
            (16, 0): np.uint16,
            (16, 1): np.int16,
            (32, 0): np.uint32,
            (32, 1): np.int32,
        }[(fmt.GetBitsAllocated(), fmt.GetPixelRepresentation())]
        buffer = image.GetBuffer()
        raw = buffer.encode("utf-8", "surrogateescape") if isinstance(buffer, str) else buffer
    finally:
        os.unlink(name)
    rows, cols = int(ds.Rows), int(ds.Columns)
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    samples = int(fmt.GetSamplesPerPixel())
    pixels = np.frombuffer(raw, dtype=dtype)
    expected = frames * rows * cols * samples
    if pixels.size != expected:
        raise ValueError(f"GDCM returned {pixels.size} values, expected {expected}")
    shape: tuple[int, ...] = (rows, cols) if frames == 1 else (frames, rows, cols)
    return pixels.reshape(shape + ((samples,) if samples > 1 else ())).copy()
