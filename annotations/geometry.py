"""Mark geometry: the shape each kind must have, checked against the size of its image or slide.

Coordinates are pixels of level 0, origin top-left, x to the right, y down. A shape may touch
the far edge (x == columns) but not leave the image.
"""

from __future__ import annotations

import base64
import binascii
import io
import math
from typing import Any

import numpy as np

from annotations.models import MarkKind

MAX_POINTS = 10_000
# A mask PNG larger than this many pixels is refused before decoding (decompression bombs).
MAX_MASK_PIXELS = 100_000_000


class GeometryError(ValueError):
    """The geometry does not fit its kind or its image; the message says why."""


def _number(geometry: dict[str, Any], key: str) -> float:
    value = geometry.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise GeometryError(f"'{key}' must be a finite number; got {value!r}.")
    return float(value)


def _inside(x: float, y: float, width: int, height: int, what: str) -> None:
    if not (0 <= x <= width and 0 <= y <= height):
        raise GeometryError(
            f"{what} ({x:g}, {y:g}) lies outside the image of {width} x {height} pixels."
        )


def _points(geometry: dict[str, Any], minimum: int, width: int, height: int) -> list[list[float]]:
    points = geometry.get("points")
    if not isinstance(points, list) or len(points) < minimum:
        raise GeometryError(f"'points' must be a list of at least {minimum} [x, y] pairs.")
    if len(points) > MAX_POINTS:
        raise GeometryError(f"'points' has {len(points)} pairs; at most {MAX_POINTS} are allowed.")
    out = []
    for i, point in enumerate(points):
        if not isinstance(point, list | tuple) or len(point) != 2:
            raise GeometryError(f"points[{i}] must be an [x, y] pair.")
        x = _number({"x": point[0]}, "x")
        y = _number({"y": point[1]}, "y")
        _inside(x, y, width, height, f"points[{i}]")
        out.append([x, y])
    return out


def _rect(geometry: dict[str, Any], width: int, height: int) -> dict[str, float]:
    x, y = _number(geometry, "x"), _number(geometry, "y")
    w, h = _number(geometry, "width"), _number(geometry, "height")
    if w <= 0 or h <= 0:
        raise GeometryError("'width' and 'height' must be positive.")
    _inside(x, y, width, height, "The top-left corner")
    _inside(x + w, y + h, width, height, "The bottom-right corner")
    return {"x": x, "y": y, "width": w, "height": h}


def validate_geometry(kind: str, geometry: Any, width: int, height: int) -> dict[str, Any]:
    """The geometry normalised (floats, known keys only); GeometryError when it is not valid.

    width/height are the image's columns/rows (or the slide's level-0 size).
    """
    if not isinstance(geometry, dict):
        raise GeometryError("'geometry' must be a JSON object.")
    if kind in (MarkKind.BOX, MarkKind.MASK):
        return _rect(geometry, width, height)
    if kind == MarkKind.ELLIPSE:
        cx, cy = _number(geometry, "cx"), _number(geometry, "cy")
        rx, ry = _number(geometry, "rx"), _number(geometry, "ry")
        if rx <= 0 or ry <= 0:
            raise GeometryError("'rx' and 'ry' must be positive.")
        _inside(cx, cy, width, height, "The centre")
        return {"cx": cx, "cy": cy, "rx": rx, "ry": ry}
    if kind == MarkKind.POINT:
        x, y = _number(geometry, "x"), _number(geometry, "y")
        _inside(x, y, width, height, "The point")
        out = {"x": x, "y": y}
        if "radius" in geometry:
            out["radius"] = abs(_number(geometry, "radius"))
        return out
    if kind == MarkKind.LENGTH:
        points = _points(geometry, 2, width, height)
        if len(points) != 2:
            raise GeometryError("A length has exactly two points.")
        return {"points": points}
    if kind in (MarkKind.POLYGON, MarkKind.FREEHAND):
        return {"points": _points(geometry, 3, width, height)}
    raise GeometryError(f"Unknown mark kind {kind!r}; one of {', '.join(MarkKind.values)}.")


def decode_mask_png(encoded: str) -> np.ndarray:
    """A boolean (H, W) mask from base64 PNG text (a data: URL prefix is allowed)."""
    from PIL import Image as PILImage
    from PIL import UnidentifiedImageError

    if "," in encoded[:64] and encoded.startswith("data:"):
        encoded = encoded.split(",", 1)[1]
    try:
        data = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise GeometryError("'mask_png_base64' is not valid base64.") from exc
    try:
        with PILImage.open(io.BytesIO(data)) as img:
            if img.format != "PNG":
                raise GeometryError("The mask must be a PNG image.")
            if img.width * img.height > MAX_MASK_PIXELS:
                raise GeometryError("The mask PNG is too large.")
            pixels = np.asarray(img.convert("L"))
    except (UnidentifiedImageError, OSError) as exc:
        raise GeometryError("'mask_png_base64' is not a readable PNG image.") from exc
    return pixels > 127


def encode_mask_png(mask: np.ndarray) -> bytes:
    """A one-channel 0/255 PNG of a boolean mask."""
    from PIL import Image as PILImage

    buf = io.BytesIO()
    PILImage.fromarray(np.asarray(mask, dtype=np.uint8) * 255).save(buf, format="PNG")
    return buf.getvalue()


def mask_geometry(mask: np.ndarray, geometry: Any, width: int, height: int) -> dict[str, Any]:
    """The mask's box: the given one (which must match the PNG's size) or, when the geometry
    names no size, the PNG placed at the given (or zero) offset."""
    geometry = dict(geometry or {})
    rows, cols = mask.shape
    geometry.setdefault("x", 0)
    geometry.setdefault("y", 0)
    geometry.setdefault("width", cols)
    geometry.setdefault("height", rows)
    box = _rect(geometry, width, height)
    if (int(box["width"]), int(box["height"])) != (cols, rows) or not all(
        float(v).is_integer() for v in box.values()
    ):
        raise GeometryError(
            f"The mask PNG is {cols} x {rows} pixels but its box is "
            f"{box['width']:g} x {box['height']:g} at whole-pixel positions."
        )
    return {k: int(v) for k, v in box.items()}


def region_mask(
    kind: str, geometry: dict[str, Any], height: int, width: int, stored: np.ndarray | None = None
) -> np.ndarray | None:
    """The (height, width) boolean region a mark covers: a box, an ellipse, a polygon or
    freehand contour, or a mask (its stored pixels placed at its box). None for marks with no
    area (points, lengths). Used to compare readers' marks (annotations.agreement_report)."""
    from PIL import Image as PILImage
    from PIL import ImageDraw

    canvas = PILImage.new("1", (width, height), 0)
    draw = ImageDraw.Draw(canvas)
    g = geometry or {}
    if kind == MarkKind.BOX:
        x, y, w, h = (float(g[k]) for k in ("x", "y", "width", "height"))
        draw.rectangle([x, y, x + w - 1, y + h - 1], fill=1)
    elif kind == MarkKind.ELLIPSE:
        cx, cy, rx, ry = (float(g[k]) for k in ("cx", "cy", "rx", "ry"))
        draw.ellipse([cx - rx, cy - ry, cx + rx, cy + ry], fill=1)
    elif kind in (MarkKind.POLYGON, MarkKind.FREEHAND) and len(g.get("points", [])) >= 3:
        draw.polygon([(float(p[0]), float(p[1])) for p in g["points"]], fill=1)
    elif kind == MarkKind.MASK and stored is not None:
        out = np.zeros((height, width), bool)
        x, y = int(g.get("x", 0)), int(g.get("y", 0))
        part = np.asarray(stored, bool)[: max(0, height - y), : max(0, width - x)]
        out[y : y + part.shape[0], x : x + part.shape[1]] = part
        return out
    else:
        return None
    return np.asarray(canvas, dtype=bool)
