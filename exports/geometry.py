"""Mark geometry as the formats need it: outlines, boxes, areas and rasterised masks.

Coordinates stay the annotations API's: pixels, origin at the top-left corner of the image.
Points and lengths locate or measure but outline nothing, so they have no region here.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

from exports.model import REGION_KINDS, ExportMark

# An ellipse becomes a polygon of this many vertices (area error < 0.2 %).
ELLIPSE_VERTICES = 64


def has_region(mark: ExportMark) -> bool:
    return mark.kind in REGION_KINDS and (mark.kind != "mask" or mark.mask is not None)


def outline(mark: ExportMark) -> list[tuple[float, float]]:
    """The region's boundary as (x, y) vertices (not closed) for box, ellipse and polygons."""
    g = mark.geometry
    if mark.kind == "box":
        x, y, w, h = float(g["x"]), float(g["y"]), float(g["width"]), float(g["height"])
        return [(x, y), (x + w, y), (x + w, y + h), (x, y + h)]
    if mark.kind == "ellipse":
        cx, cy, rx, ry = (float(g[k]) for k in ("cx", "cy", "rx", "ry"))
        step = 2 * math.pi / ELLIPSE_VERTICES
        return [
            (cx + rx * math.cos(i * step), cy + ry * math.sin(i * step))
            for i in range(ELLIPSE_VERTICES)
        ]
    if mark.kind in ("polygon", "freehand"):
        return [(float(p[0]), float(p[1])) for p in g["points"]]
    raise ValueError(f"A {mark.kind} mark has no outline.")


def polygon_area(points: list[tuple[float, float]]) -> float:
    """Shoelace area of a simple polygon (plain Python: faster than NumPy for a few dozen
    vertices, which is what marks have)."""
    twice = 0.0
    x0, y0 = points[-1]
    for x1, y1 in points:
        twice += x0 * y1 - x1 * y0
        x0, y0 = x1, y1
    return abs(twice) / 2


def bounding_box(points: list[tuple[float, float]]) -> list[float]:
    """[x, y, width, height] around the points."""
    xs = [p[0] for p in points]
    ys = [p[1] for p in points]
    return [min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)]


def full_mask(mark: ExportMark, width: int, height: int) -> np.ndarray:
    """A mask mark's pixels placed on the whole image: (height, width) uint8 0/1."""
    if mark.mask is None:
        raise ValueError("A mask mark needs its pixels.")
    canvas = np.zeros((height, width), np.uint8)
    x, y = int(mark.geometry.get("x", 0)), int(mark.geometry.get("y", 0))
    part = (np.asarray(mark.mask) != 0).astype(np.uint8)
    rows = min(part.shape[0], height - y)
    cols = min(part.shape[1], width - x)
    canvas[y : y + rows, x : x + cols] = part[:rows, :cols]
    return canvas


def label_mask(marks: Iterable[tuple[int, ExportMark]], width: int, height: int) -> np.ndarray:
    """One (height, width) uint8 label map from (value, mark) pairs; later marks paint over
    earlier ones where they overlap."""
    from PIL import Image as PILImage
    from PIL import ImageDraw

    canvas = PILImage.new("L", (width, height), 0)
    draw = ImageDraw.Draw(canvas)
    for value, mark in marks:
        if not has_region(mark):
            continue
        if mark.kind == "mask":
            layer = PILImage.fromarray(full_mask(mark, width, height) * 255)
            canvas.paste(value, (0, 0, width, height), layer)
        else:
            draw.polygon(outline(mark), fill=value)
    return np.asarray(canvas)
