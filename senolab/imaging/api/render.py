"""Pixels for the browser: windowed PNGs from the pixel cache, and Deep Zoom slide tiles.

Images are never decoded from their original here: every read goes through the pixel cache
written at ingest (senolab.imaging.pixelcache). Slide tiles are read from the stored copy with
tiffslide at the pyramid level nearest the requested scale; senolab.imaging.tiles caches them.
"""

from __future__ import annotations

import io
import math

import numpy as np
from PIL import Image as PILImage

from senolab.imaging import pixelcache
from senolab.imaging.models import Image, Slide

MAX_RENDER_SIDE = 4096
DZI_TILE = 256
DZI_OVERLAP = 0
TILE_QUALITY = 80


def window(pixels: np.ndarray, width: float | None, center: float | None) -> np.ndarray:
    """Map pixel values to 0..255 through a linear window; without one, the full range."""
    data = pixels.astype(np.float32)
    if width is None or center is None or width <= 0:
        low, high = float(data.min()), float(data.max())
    else:
        low, high = center - width / 2.0, center + width / 2.0
    if high <= low:
        high = low + 1.0
    scaled = (data - low) * (255.0 / (high - low))
    return np.clip(scaled, 0, 255).astype(np.uint8)


def render_png(
    image: Image,
    *,
    size: int | None = None,
    frame: int = 0,
    ww: float | None = None,
    wc: float | None = None,
    invert: bool = False,
) -> bytes:
    """The image (one frame) as an 8-bit PNG whose longer side is at most `size`."""
    layout = image.pixel_cache
    level = pixelcache.level_for_size(layout, size) if size else 0
    pixels = pixelcache.read_pixels(image, level=level, frame=frame)
    if ww is None and wc is None and image.window_width and image.window_center:
        ww, wc = image.window_width, image.window_center
    if pixels.ndim == 3 and pixels.dtype == np.uint8 and ww is None:
        out = pixels  # colour images are shown as stored unless a window is asked for
    else:
        out = window(pixels, ww, wc)
    # MONOCHROME1 stores bright as low values; the viewer expects bright tissue.
    if (image.photometric_interpretation == "MONOCHROME1") != bool(invert):
        out = 255 - out
    picture = PILImage.fromarray(np.ascontiguousarray(out))
    if size and max(picture.size) > size:
        picture.thumbnail((size, size), PILImage.Resampling.LANCZOS)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def raw_pixels(image: Image, *, level: int = 0, frame: int = 0) -> tuple[bytes, np.ndarray]:
    """One frame of a cached level as little-endian bytes, and the array they came from."""
    pixels = pixelcache.read_pixels(image, level=level, frame=frame)
    little = pixels.astype(pixels.dtype.newbyteorder("<"), copy=False)
    return np.ascontiguousarray(little).tobytes(), pixels


# --- Deep Zoom -----------------------------------------------------------------------------------


def max_level_of(width: int, height: int) -> int:
    """The full-resolution Deep Zoom level of a picture this size."""
    return max(0, math.ceil(math.log2(max(width, height, 1))))


def dzi_max_level(slide: Slide) -> int:
    return max_level_of(slide.width, slide.height)


def dzi_xml(slide: Slide) -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<Image xmlns="http://schemas.microsoft.com/deepzoom/2008" '
        f'Format="jpeg" Overlap="{DZI_OVERLAP}" TileSize="{DZI_TILE}">'
        f'<Size Width="{slide.width}" Height="{slide.height}"/></Image>'
    )


def tile_bounds(
    width: int, height: int, level: int, col: int, row: int
) -> tuple[int, int, int, int] | None:
    """(x, y, w, h) of a tile in the coordinates of its DZI level, or None past the edge."""
    max_level = max_level_of(width, height)
    if level < 0 or level > max_level or col < 0 or row < 0:
        return None
    scale = 2 ** (max_level - level)
    level_width, level_height = math.ceil(width / scale), math.ceil(height / scale)
    x, y = col * DZI_TILE, row * DZI_TILE
    if x >= level_width or y >= level_height:
        return None
    return x, y, min(DZI_TILE, level_width - x), min(DZI_TILE, level_height - y)


def decode_tiles(
    storage_key: str, width: int, height: int, level: int, col: int, row: int, block: int
) -> dict[tuple[int, int], bytes]:
    """Read a block of up to `block` x `block` Deep Zoom tiles of a stored slide, starting at
    tile (col, row), in one region read, and JPEG-encode each: {(col, row): JPEG}.

    A viewer asks for neighbouring tiles together, and a slide's own tiles (often 240 or 256 px,
    JPEG-compressed) do not line up with Deep Zoom's: read one tile at a time, each source tile
    under a tile's edges is decoded two to four times; read by the block, about once. Callers
    cache the result (senolab.imaging.tiles); this always decodes.
    """
    from senolab.imaging.ingest.slides import open_slide_key

    first = tile_bounds(width, height, level, col, row)
    if first is None:
        return {}
    x, y, _, _ = first
    max_level = max_level_of(width, height)
    scale = 2 ** (max_level - level)
    level_width, level_height = math.ceil(width / scale), math.ceil(height / scale)
    w = min(block * DZI_TILE, level_width - x)
    h = min(block * DZI_TILE, level_height - y)
    reader = open_slide_key(storage_key)
    best = reader.get_best_level_for_downsample(scale)
    downsample = reader.level_downsamples[best]
    slide_w, slide_h = reader.level_dimensions[best]
    x0, y0 = x * scale, y * scale
    read_w = min(math.ceil(w * scale / downsample), slide_w - int(x0 / downsample))
    read_h = min(math.ceil(h * scale / downsample), slide_h - int(y0 / downsample))
    region = reader.read_region((x0, y0), best, (max(read_w, 1), max(read_h, 1)))
    picture = region.convert("RGB")
    if picture.size != (w, h):
        picture = picture.resize((w, h), PILImage.Resampling.BILINEAR)
    tiles: dict[tuple[int, int], bytes] = {}
    for top in range(0, h, DZI_TILE):
        for left in range(0, w, DZI_TILE):
            box = (left, top, min(left + DZI_TILE, w), min(top + DZI_TILE, h))
            buffer = io.BytesIO()
            picture.crop(box).save(buffer, format="JPEG", quality=TILE_QUALITY)
            tiles[(col + left // DZI_TILE, row + top // DZI_TILE)] = buffer.getvalue()
    return tiles


# --- DICOM for images that did not come as DICOM -------------------------------------------------

SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"


def secondary_capture(image: Image) -> bytes:
    """A raster image as a DICOM Secondary Capture built from its pixel cache, so a viewer
    opens every image the same way. It carries only pseudonymous values (the patient's
    pseudonym and the remapped UIDs), never anything of the uploaded file."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import UID, ExplicitVRLittleEndian, generate_uid

    pixels = pixelcache.read_level(image.pixel_cache, 0)  # (frames, rows, cols, samples)
    frames, rows, cols, samples = pixels.shape
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UID(SECONDARY_CAPTURE)
    sop_uid = UID(image.sop_instance_uid or generate_uid())
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = SECONDARY_CAPTURE
    ds.SOPInstanceUID = sop_uid
    ds.StudyInstanceUID = image.exam.study_uid or generate_uid()
    ds.SeriesInstanceUID = image.series.series_uid or generate_uid()
    ds.PatientID = image.exam.patient.pseudonym
    ds.PatientName = image.exam.patient.pseudonym
    ds.Modality = image.modality
    ds.ConversionType = "WSD"
    ds.InstanceNumber = image.instance_number or 1
    ds.ImageLaterality = image.laterality if image.laterality in ("L", "R", "B") else ""
    ds.Rows, ds.Columns, ds.SamplesPerPixel = rows, cols, samples
    if frames > 1:
        ds.NumberOfFrames = frames
    if samples == 3:
        ds.PhotometricInterpretation = "RGB"
        ds.PlanarConfiguration = 0
    else:
        ds.PhotometricInterpretation = image.photometric_interpretation or "MONOCHROME2"
    bits = pixels.dtype.itemsize * 8
    ds.BitsAllocated = bits
    ds.BitsStored = image.bits_stored if 0 < image.bits_stored <= bits else bits
    ds.HighBit = ds.BitsStored - 1
    ds.PixelRepresentation = 1 if np.issubdtype(pixels.dtype, np.signedinteger) else 0
    if image.window_center is not None and image.window_width:
        ds.WindowCenter, ds.WindowWidth = image.window_center, image.window_width
    if image.pixel_spacing:
        ds.PixelSpacing = [float(v) for v in image.pixel_spacing]
    little = pixels.astype(pixels.dtype.newbyteorder("<"), copy=False)
    ds.PixelData = np.ascontiguousarray(little).tobytes()
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()
