"""COCO detection/segmentation JSON, written as a stream of text chunks.

Beside COCO's own keys, images carry senolab_key, modality, laterality, view, split, patient
(pseudonym) and exam; annotations carry senolab_finding (marks of one finding share it), birads,
pathology and, for drawn shapes, senolab_mark (kind and geometry as stored), so that an export
imports back with the same findings (datasets/importers/senolab_export.py).

images, categories (the label map), and one annotation per region mark: bbox [x, y, w, h],
segmentation as polygons (polygon and freehand marks, boxes, ellipses as 64-gons) or as
uncompressed-size RLE (mask marks, by pycocotools), area, iscrowd 0. Points and lengths
outline nothing and are left out. Image ids are 1..n in input order; annotations refer to
them through a key -> id table (the one thing that grows with the export: an int per image).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np

from exports.geometry import bounding_box, has_region, outline, polygon_area
from exports.model import ExportFinding, ExportImage, ExportMark, LabelMap

RECORDS_PER_BATCH = 500
# Chunks are joined to about this many characters before they are yielded.
CHUNK_CHARS = 1 << 16


# One encoder for every record: json.dumps with separators builds a new one per call.
_dumps = json.JSONEncoder(separators=(",", ":"), check_circular=False).encode


def _rounded(values: Iterable[float]) -> list[float]:
    return [round(v, 2) for v in values]


def mask_run_lengths(mark: ExportMark, width: int, height: int) -> list[int]:
    """COCO's uncompressed RLE of a mask mark on the whole image (column-major runs, starting
    with a run of zeros), computed from the mark's own columns only: the whole image's canvas
    (8.5 MB for a mammogram) is never built."""
    x, y = int(mark.geometry.get("x", 0)), int(mark.geometry.get("y", 0))
    part = np.asarray(mark.mask) != 0
    part = part[: max(height - y, 0), : max(width - x, 0)]
    columns = np.zeros((height, part.shape[1]), np.uint8)
    columns[y : y + part.shape[0]] = part
    flat = columns.ravel(order="F")
    changes = np.flatnonzero(np.diff(flat)) + 1
    edges = np.concatenate(([0], changes, [flat.size]))
    runs = np.diff(edges).tolist()
    if flat.size and flat[0]:
        runs.insert(0, 0)
    runs[0] += x * height  # the zero columns before the mark
    after = (width - x - part.shape[1]) * height
    if len(runs) % 2:  # ends on a run of zeros
        runs[-1] += after
    elif after:
        runs.append(after)
    return runs


def mark_annotation(mark: ExportMark, width: int, height: int) -> dict[str, Any]:
    """bbox, segmentation and area of one region mark."""
    if mark.kind == "mask":
        from pycocotools import mask as mask_utils

        rle = mask_utils.frPyObjects(
            {"counts": mask_run_lengths(mark, width, height), "size": [height, width]},
            height,
            width,
        )
        box = mask_utils.toBbox(rle).tolist()
        area = float(mask_utils.area(rle))
        rle["counts"] = rle["counts"].decode("ascii")
        return {"bbox": box, "segmentation": rle, "area": area}
    points = outline(mark)
    flat = [v for p in points for v in p]
    box = bounding_box(points)
    if mark.kind == "ellipse":  # computed vertices: hundredths of a pixel are enough
        flat, box = _rounded(flat), _rounded(box)
    return {"bbox": box, "segmentation": [flat], "area": round(polygon_area(points), 2)}


def _image_record(image_id: int, image: ExportImage) -> dict[str, Any]:
    return {
        "id": image_id,
        "file_name": image.file_name,
        "width": image.width,
        "height": image.height,
        "senolab_key": image.key,
        "modality": image.modality,
        "laterality": image.laterality,
        "view": image.view,
        "split": image.split,
        "patient": image.patient,
        "exam": image.exam,
    }


def _buffered(parts: Iterable[str]) -> Iterator[str]:
    buffer: list[str] = []
    size = 0
    for part in parts:
        buffer.append(part)
        size += len(part)
        if size >= CHUNK_CHARS:
            yield "".join(buffer)
            buffer, size = [], 0
    if buffer:
        yield "".join(buffer)


def _array(records: Iterable[dict[str, Any]]) -> Iterator[str]:
    """The records comma-separated, encoded RECORDS_PER_BATCH at a time (one encoder call per
    batch instead of per record: the per-call set-up costs more than a small record)."""
    batch: list[dict[str, Any]] = []
    first = True
    for record in records:
        batch.append(record)
        if len(batch) == RECORDS_PER_BATCH:
            yield ("" if first else ",") + _dumps(batch)[1:-1]
            batch.clear()
            first = False
    if batch:
        yield ("" if first else ",") + _dumps(batch)[1:-1]


def write_coco(
    images: Iterable[ExportImage],
    findings: Iterable[ExportFinding],
    label_map: LabelMap,
    info: dict[str, Any] | None = None,
) -> Iterator[str]:
    """COCO JSON text chunks. `images` is read once before `findings`; a finding whose image
    is not among them, or whose type is not in the label map, raises ValueError."""
    ids: dict[str, tuple[int, int, int]] = {}

    def image_records() -> Iterator[dict[str, Any]]:
        for image in images:
            image_id = len(ids) + 1
            ids[image.key] = (image_id, image.width, image.height)
            yield _image_record(image_id, image)

    def annotation_records() -> Iterator[dict[str, Any]]:
        annotation_id = 0
        for finding in findings:
            if finding.image_key not in ids:
                raise ValueError(
                    f"Finding {finding.key} refers to image {finding.image_key}, "
                    "which is not in the export."
                )
            image_id, width, height = ids[finding.image_key]
            category = label_map.value(finding.finding_type)
            for mark in finding.marks:
                if not has_region(mark):
                    continue
                annotation_id += 1
                record = {
                    "id": annotation_id,
                    "image_id": image_id,
                    "category_id": category,
                    **mark_annotation(mark, width, height),
                    "iscrowd": 0,
                    "senolab_finding": finding.key,
                    "birads": finding.birads,
                    "pathology": finding.pathology,
                }
                if mark.kind != "mask":  # the drawn shape itself, for an exact re-import
                    record["senolab_mark"] = {"kind": mark.kind, "geometry": dict(mark.geometry)}
                yield record

    categories = [
        {"id": i + 1, "name": name, "supercategory": "finding"}
        for i, name in enumerate(label_map.names)
    ]

    def document() -> Iterator[str]:
        yield '{"info":' + _dumps(info or {"description": "Senolab export"})
        yield ',"licenses":[],"categories":' + _dumps(categories)
        yield ',"images":['
        yield from _array(image_records())
        yield '],"annotations":['
        yield from _array(annotation_records())
        yield "]}"

    return _buffered(document())
