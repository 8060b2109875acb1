"""The pixel cache: a fast-decoding copy of every image's pixels, written once at ingest.

The de-identified original is kept as it came (it may be JPEG 2000, which decodes slowly); the
viewer, the renderer and the training pipeline read this cache instead. Format: one file per
pyramid level holding the raw array (native dtype, C order) compressed with zstd, which decodes
at memory speed. Level 0 is full resolution; each further level halves both sides until the
longer side is at most MIN_LEVEL_SIDE. The layout is recorded on Image.pixel_cache:

    {"format": "zstd-raw/1", "dtype": "uint16", "frames": 1, "samples": 1,
     "levels": [{"key": "...", "shape": [frames, rows, cols, samples]}, ...]}
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np
import zstandard

from senolab.imaging import storage

FORMAT = "zstd-raw/1"
MIN_LEVEL_SIDE = 512
ZSTD_LEVEL = 3


def _as_4d(pixels: np.ndarray, frames: int) -> np.ndarray:
    """(frames, rows, cols, samples) for any 2-D, 3-D (frames or samples) or 4-D input."""
    a = np.asarray(pixels)
    if a.ndim == 2:
        return a[None, :, :, None]
    if a.ndim == 3:
        return a[:, :, :, None] if frames > 1 else a[None, :, :, :]
    if a.ndim == 4:
        return a
    raise ValueError(f"cannot cache pixels of shape {a.shape}")


def _halve(a: np.ndarray) -> np.ndarray:
    """2x2 mean pooling over rows and columns of a (frames, rows, cols, samples) array."""
    f, h, w, s = a.shape
    h2, w2 = h // 2, w // 2
    b = a[:, : h2 * 2, : w2 * 2, :].reshape(f, h2, 2, w2, 2, s).astype(np.float32).mean(axis=(2, 4))
    if np.issubdtype(a.dtype, np.integer):
        b = np.rint(b)
    return b.astype(a.dtype)


def build_levels(pixels: np.ndarray, frames: int = 1) -> list[np.ndarray]:
    levels = [np.ascontiguousarray(_as_4d(pixels, frames))]
    while max(levels[-1].shape[1:3]) > MIN_LEVEL_SIDE and min(levels[-1].shape[1:3]) >= 2:
        levels.append(_halve(levels[-1]))
    return levels


def write_pixel_cache(
    project_id: int, pixels: np.ndarray, batch: storage.FileBatch, frames: int = 1
) -> tuple[str, dict[str, Any]]:
    """Compress pixels into cache files saved through batch.

    Returns (key of level 0, the layout for Image.pixel_cache).
    """
    compressor = zstandard.ZstdCompressor(level=ZSTD_LEVEL)
    layout_levels: list[dict[str, Any]] = []
    for level in build_levels(pixels, frames):
        key = storage.new_key(project_id, "pixels", "zst")
        batch.save(key, compressor.compress(level.tobytes()))
        layout_levels.append({"key": key, "shape": list(level.shape)})
    first = layout_levels[0]["shape"]
    layout = {
        "format": FORMAT,
        "dtype": str(np.asarray(pixels).dtype),
        "frames": first[0],
        "samples": first[3],
        "levels": layout_levels,
    }
    return layout_levels[0]["key"], layout


def read_level(layout: dict[str, Any], level: int = 0) -> np.ndarray:
    """All frames of one level as (frames, rows, cols, samples)."""
    if layout.get("format") != FORMAT:
        raise ValueError("this image has no pixel cache of a known format")
    levels = layout["levels"]
    entry = levels[min(max(level, 0), len(levels) - 1)]
    raw = zstandard.ZstdDecompressor().decompress(storage.read(entry["key"]))
    return np.frombuffer(raw, dtype=np.dtype(layout["dtype"])).reshape(entry["shape"])


def read_pixels(image: Any, level: int = 0, frame: int = 0) -> np.ndarray:
    """One frame of an Image as (rows, cols) or (rows, cols, samples), native dtype."""
    a = read_level(image.pixel_cache, level)
    frame_pixels = a[min(max(frame, 0), a.shape[0] - 1)]
    return frame_pixels[:, :, 0] if frame_pixels.shape[2] == 1 else frame_pixels


def level_for_size(layout: dict[str, Any], max_side: int) -> int:
    """The smallest level whose longer side is still at least max_side (for rendering)."""
    best = 0
    for i, entry in enumerate(layout.get("levels", [])):
        if max(entry["shape"][1:3]) >= max_side:
            best = i
    return best


def level_for_sides(layout: dict[str, Any], long_side: int, short_side: int) -> int:
    """The smallest level whose longer side is still at least long_side and whose shorter side
    is still at least short_side (level 0 when none is that large)."""
    best = 0
    for i, entry in enumerate(layout.get("levels", [])):
        rows, cols = entry["shape"][1:3]
        if max(rows, cols) >= long_side and min(rows, cols) >= short_side:
            best = i
    return best


def read_reduced(
    layout: dict[str, Any], long_side: int, short_side: int, frame: int = 0
) -> tuple[np.ndarray, int, tuple[int, int]]:
    """Frame `frame` at the smallest level with sides of at least (long_side, short_side):
    (pixels as read_pixels gives them, the factor that level's sides are divided by, i.e. its
    pixel (r, c) averages level 0's rows factor*r .. factor*r + factor - 1 (and columns alike),
    level 0's (rows, cols))."""
    levels = layout.get("levels") or []
    full = (int(levels[0]["shape"][1]), int(levels[0]["shape"][2])) if levels else (0, 0)
    level = level_for_sides(layout, long_side, short_side)
    factor = 2**level
    rows, cols = levels[level]["shape"][1:3] if levels else (0, 0)
    if (rows, cols) != (full[0] // factor, full[1] // factor):  # not a halving pyramid
        level, factor = 0, 1
    pixels = read_pixels(SimpleNamespace(pixel_cache=layout), level, frame)
    return pixels, factor, full


def cache_keys(layout: dict[str, Any]) -> list[str]:
    return [entry["key"] for entry in layout.get("levels", [])]
