"""DICOM SEG and TID 1500 SR read back into marks, by highdicom: the reverse of exports.dicom.

Written for what our export writes, but read through highdicom's general API, so a SEG or SR
from elsewhere is read too when it uses the codes of exports.dicom:
- a SEG segment becomes one full-image mask of the finding type its segmented property type
  codes, on each source instance it covers;
- an SR planar ROI group becomes one mark: a closed POLYLINE a polygon (or the box, polygon or
  freehand its tracking identifier names), an open one of two points a length, ELLIPSE an
  ellipse (a rotated one its 64-vertex outline), CIRCLE an ellipse, POINT a point, with the
  finding type, BI-RADS category and pathology its codes give.

A file that is not a readable SEG or SR, or whose frames do not fit its source, raises
DicomReadError. An item with a code this module does not know, or a shape it cannot hold, is
skipped and listed in `skipped` with the reason; nothing is dropped without a word.
Coordinates stay pixels of the source image, origin top-left, rounded to 1/1000 pixel (SR
coordinates are 32-bit floats).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from exports.dicom import TRACKING_PATTERN, evaluation_of, finding_type_of
from exports.geometry import ELLIPSE_VERTICES
from exports.model import ExportMark

SEG_CLASS = "1.2.840.10008.5.1.4.1.1.66.4"
SR_CLASSES = frozenset(
    {
        "1.2.840.10008.5.1.4.1.1.88.22",  # Enhanced SR
        "1.2.840.10008.5.1.4.1.1.88.33",  # Comprehensive SR
        "1.2.840.10008.5.1.4.1.1.88.34",  # Comprehensive 3D SR
    }
)
# Kinds a tracking identifier may name for a closed POLYLINE.
POLYLINE_KINDS = frozenset({"box", "polygon", "freehand"})


class DicomReadError(ValueError):
    """The file is not a SEG or SR this reader can use; the message names it and says why."""


@dataclass(frozen=True)
class SegmentMask:
    """One segment's pixels on one source instance: (rows, cols) bool."""

    source_uid: str
    segment_number: int
    finding_type: str
    mask: np.ndarray
    label: str = ""


@dataclass(frozen=True)
class RegionMark:
    """One planar ROI group: its mark on the source instance and the finding's codes.

    Args:
        finding_key: the finding the group belongs to (from our tracking identifier), or a
            key of its own when the identifier is not ours.
    """

    finding_key: str
    source_uid: str
    finding_type: str
    mark: ExportMark
    birads: str = ""
    pathology: str = ""


@dataclass
class ReadResult:
    segments: list[SegmentMask] = field(default_factory=list)
    regions: list[RegionMark] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)


def read_segmentation(path: Path, label: str) -> ReadResult:
    """The non-empty segments of a SEG, per source instance; label names the file in messages.

    Raises DicomReadError when highdicom cannot read it as a Segmentation or its frames
    cannot be placed on single-frame source instances."""
    import highdicom as hd

    try:
        seg = hd.seg.segread(path)
    except Exception as exc:  # noqa: BLE001 - any parser failure means the same to the user
        raise DicomReadError(f"{label} cannot be read as a DICOM Segmentation: {exc}") from None
    try:
        sources = [str(uid) for _, _, uid in seg.get_source_image_uids()]
        numbers = list(seg.segment_numbers)
        descriptions = {n: seg.get_segment_description(n) for n in numbers}
    except (AttributeError, KeyError, IndexError, TypeError, ValueError) as exc:
        raise DicomReadError(f"{label} is not a readable DICOM Segmentation: {exc}") from None
    if not sources:
        raise DicomReadError(f"{label} references no source image.")
    result = ReadResult()
    types: dict[int, str] = {}
    for number, description in descriptions.items():
        code = description.segmented_property_type
        finding_type = finding_type_of(code)
        if finding_type is None:
            result.skipped.append(
                (
                    f"{label} segment {number}",
                    f"unknown segmented property type ({code.value}, "
                    f"{code.scheme_designator}, {code.meaning!r})",
                )
            )
            continue
        types[number] = finding_type
    for uid in sources:
        try:
            pixels = seg.get_pixels_by_source_instance(
                source_sop_instance_uids=[uid], segment_numbers=list(types) or numbers
            )
        except (AttributeError, KeyError, IndexError, TypeError, ValueError, RuntimeError) as exc:
            raise DicomReadError(
                f"{label} is not a valid DICOM Segmentation: its frames on source {uid} "
                f"cannot be read ({exc})"
            ) from None
        if not types:
            continue
        for i, number in enumerate(types):
            mask = np.asarray(pixels[0, :, :, i]) >= 0.5  # fractional segments: half or more
            if mask.any():
                result.segments.append(SegmentMask(uid, number, types[number], mask, label))
    return result


def read_measurement_report(path: Path, label: str) -> ReadResult:
    """The planar ROI groups of a TID 1500 SR as marks; groups of other kinds are skipped
    and listed. Raises DicomReadError when the content is not a measurement report."""
    import highdicom as hd

    try:
        sr = hd.sr.srread(path)
    except Exception as exc:  # noqa: BLE001 - any parser failure means the same to the user
        raise DicomReadError(f"{label} cannot be read as a DICOM SR: {exc}") from None
    report: Any = sr.content
    if not hasattr(report, "get_planar_roi_measurement_groups"):
        # A valid SR of another template (a CAD or free-text report): nothing of ours to read
        return ReadResult(skipped=[(label, "not a TID 1500 measurement report: not read")])
    try:
        planar = report.get_planar_roi_measurement_groups()
        others = len(report.get_volumetric_roi_measurement_groups()) + len(
            report.get_image_measurement_groups()
        )
    except (AttributeError, KeyError, IndexError, TypeError, ValueError) as exc:
        raise DicomReadError(
            f"{label} is not a readable TID 1500 measurement report: {exc}"
        ) from None
    result = ReadResult()
    if others:
        result.skipped.append(
            (label, f"{others} measurement group(s) without an image region are not read")
        )
    for n, group in enumerate(planar, 1):
        item = f"{label} group {n}"
        try:
            region = _region_mark(group, item)
        except _Skip as skip:
            result.skipped.append((item, str(skip)))
            continue
        if region is not None:
            result.regions.append(region)
    return result


class _Skip(Exception):
    pass


def _region_mark(group: Any, item: str) -> RegionMark | None:
    roi = group.roi
    if roi is None:
        raise _Skip("the group has no image region (a referenced segment or volume)")
    try:
        source_uid = str(roi.ContentSequence[0].ReferencedSOPSequence[0].ReferencedSOPInstanceUID)
    except (AttributeError, IndexError):
        raise _Skip("the region references no source image") from None
    code = group.finding_type
    finding_type = finding_type_of(code) if code is not None else None
    if finding_type is None:
        what = f"({code.value}, {code.scheme_designator}, {code.meaning!r})" if code else "none"
        raise _Skip(f"unknown finding type {what}")
    values: dict[str, str] = {}
    for evaluation in group.get_qualitative_evaluations():
        known = evaluation_of(evaluation.name, evaluation.value)
        if known is None:
            raise _Skip(
                f"unknown evaluation ({evaluation.name.value}, {evaluation.name.meaning!r}) = "
                f"({evaluation.value.value}, {evaluation.value.meaning!r})"
            )
        values[known[0]] = known[1]
    tracking = TRACKING_PATTERN.match(str(group.tracking_identifier or ""))
    drawn = tracking.group("kind") if tracking else None
    key = tracking.group("finding") if tracking else f"{item} ({group.tracking_uid})"
    mark = _mark(str(roi.GraphicType), np.asarray(roi.value, float), drawn)
    return RegionMark(key, source_uid, finding_type, mark, **values)


def _num(value: Any) -> float | int:
    rounded = round(float(value), 3)
    return int(rounded) if rounded.is_integer() else rounded


def _mark(graphic_type: str, coords: np.ndarray, drawn: str | None) -> ExportMark:
    points = [[_num(x), _num(y)] for x, y in coords.reshape(-1, 2)]
    if graphic_type == "POINT":
        return ExportMark("point", {"x": points[0][0], "y": points[0][1]})
    if graphic_type == "POLYLINE":
        closed = len(points) > 3 and points[0] == points[-1]
        if not closed:
            if len(points) == 2:
                return ExportMark("length", {"points": points})
            raise _Skip(f"an open polyline of {len(points)} points outlines no region")
        points = points[:-1]
        if drawn == "box":
            xs, ys = [p[0] for p in points], [p[1] for p in points]
            width, height = _num(max(xs) - min(xs)), _num(max(ys) - min(ys))
            return ExportMark("box", {"x": min(xs), "y": min(ys), "width": width, "height": height})
        return ExportMark(drawn if drawn in POLYLINE_KINDS else "polygon", {"points": points})
    if graphic_type == "CIRCLE":
        (cx, cy), (px, py) = coords[0], coords[1]
        r = _num(math.hypot(px - cx, py - cy))
        return ExportMark("ellipse", {"cx": _num(cx), "cy": _num(cy), "rx": r, "ry": r})
    if graphic_type == "ELLIPSE":
        return _ellipse(coords.reshape(4, 2))
    raise _Skip(f"graphic type {graphic_type} is not read")


def _ellipse(axes: np.ndarray) -> ExportMark:
    """An ellipse from its major then minor axis end points; an axis-aligned one keeps its
    centre and radii, a rotated one becomes its outline (our ellipses have no angle)."""
    (a1, a2), (b1, b2) = axes[:2], axes[2:]
    centre = (a1 + a2) / 2
    major, minor = np.linalg.norm(a2 - a1) / 2, np.linalg.norm(b2 - b1) / 2
    direction = (a2 - a1) / (2 * major) if major else np.array([1.0, 0.0])
    if abs(direction[1]) < 1e-6 or abs(direction[0]) < 1e-6:
        horizontal = abs(direction[1]) < 1e-6
        rx, ry = (major, minor) if horizontal else (minor, major)
        geometry = {"cx": _num(centre[0]), "cy": _num(centre[1]), "rx": _num(rx), "ry": _num(ry)}
        return ExportMark("ellipse", geometry)
    across = np.array([-direction[1], direction[0]])
    step = 2 * math.pi / ELLIPSE_VERTICES
    outline = [
        centre + major * math.cos(i * step) * direction + minor * math.sin(i * step) * across
        for i in range(ELLIPSE_VERTICES)
    ]
    return ExportMark("polygon", {"points": [[_num(x), _num(y)] for x, y in outline]})


def dicom_kind(path: Path) -> str | None:
    """ "seg", "sr" or "image" (any other DICOM object) from the file's header; None when the
    file is not DICOM."""
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        header = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=["SOPClassUID"])
    except (InvalidDicomError, OSError, ValueError, EOFError, AttributeError):
        return None
    sop_class = str(header.get("SOPClassUID", ""))
    if not sop_class:
        return None
    if sop_class == SEG_CLASS:
        return "seg"
    return "sr" if sop_class in SR_CLASSES else "image"
