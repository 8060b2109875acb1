"""What an export holds, as plain dataclasses that a DatasetSnapshot manifest fills.

Field names follow the snapshot manifest (ml/snapshots.py): an exam entry has key, patient,
site, clinical and labels; its images have key, modality, laterality and view. Marks carry
their geometry exactly as the annotations API stores it (annotations/geometry.py): pixels of
the image, origin top-left; a mask mark's geometry is its box and `mask` its (height, width)
pixels inside that box.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

SPLIT_NAMES = ("train", "validation", "test")
# Kinds that outline a region (a segmentation); the others only locate or measure.
REGION_KINDS = frozenset({"polygon", "freehand", "ellipse", "mask", "box"})


@dataclass(frozen=True)
class ExportMark:
    """One mark of a finding on one image.

    Args:
        kind: box, ellipse, polygon, freehand, point, length or mask (annotations.MarkKind).
        geometry: as stored: box/mask {x, y, width, height}; ellipse {cx, cy, rx, ry};
            point {x, y[, radius]}; polygon/freehand/length {points: [[x, y], ...]}.
        mask: for kind "mask", the (height, width) pixels inside the box (nonzero = inside).
    """

    kind: str
    geometry: Mapping[str, Any]
    mask: np.ndarray | None = None


@dataclass(frozen=True)
class ExportImage:
    key: str
    width: int
    height: int
    file_name: str
    modality: str = ""
    laterality: str = ""
    view: str = ""
    patient: str = ""
    exam: str = ""
    split: str = ""
    site: str = ""
    labels: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ExportFinding:
    key: str
    image_key: str
    finding_type: str
    birads: str = ""
    pathology: str = ""
    marks: tuple[ExportMark, ...] = ()


@dataclass(frozen=True)
class ExportExam:
    """Exam-level labels and clinical fields; `breasts` holds per-laterality (L/R) labels.

    The snapshot manifest has a "breasts" entry for exams with labels or findings of one side
    (ml.services.snapshots.breast_labels); exams_from_manifest reads it when it is there.
    """

    key: str
    patient: str = ""
    site: str = ""
    split: str = ""
    labels: Mapping[str, Any] = field(default_factory=dict)
    clinical: Mapping[str, Any] = field(default_factory=dict)
    breasts: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class LabelMap:
    """Finding type -> label value (1..n; 0 is background), in a fixed order.

    The same values are COCO category ids, mask pixel values and DICOM SEG segment numbers.
    """

    names: tuple[str, ...]

    @classmethod
    def of(cls, finding_types: Iterable[str]) -> LabelMap:
        return cls(tuple(dict.fromkeys(t for t in finding_types if t)))

    def value(self, finding_type: str) -> int:
        """The label value of a finding type; ValueError names the known ones."""
        try:
            return self.names.index(finding_type) + 1
        except ValueError:
            raise ValueError(
                f"Finding type {finding_type!r} is not in the label map ({', '.join(self.names)})."
            ) from None

    def as_dict(self) -> dict[str, str]:
        """{"0": "background", "1": name, ...}: the label-map JSON beside masks."""
        return {"0": "background", **{str(i + 1): n for i, n in enumerate(self.names)}}


def _size(image_entry: Mapping[str, Any]) -> tuple[int, int]:
    """(width, height) from a manifest image: explicit keys, else the pixel cache's level 0
    shape [frames, rows, cols, samples]."""
    if "width" in image_entry and "height" in image_entry:
        return int(image_entry["width"]), int(image_entry["height"])
    shape = image_entry["pixel_cache"]["levels"][0]["shape"]
    return int(shape[2]), int(shape[1])


def exams_from_manifest(
    manifest: Iterable[Mapping[str, Any]], split: Mapping[str, str]
) -> Iterator[ExportExam]:
    """ExportExams from snapshot manifest entries and the snapshot's split (exam key -> split)."""
    for entry in manifest:
        yield ExportExam(
            key=str(entry["key"]),
            patient=entry.get("patient", ""),
            site=entry.get("site", ""),
            split=split.get(str(entry["key"]), ""),
            labels=entry.get("labels", {}),
            clinical=entry.get("clinical", {}),
            breasts=entry.get("breasts", {}),
        )


def images_from_manifest(
    manifest: Iterable[Mapping[str, Any]], split: Mapping[str, str], extension: str = "png"
) -> Iterator[ExportImage]:
    """ExportImages from snapshot manifest entries; file names are images/<key>.<extension>."""
    for entry in manifest:
        exam_key = str(entry["key"])
        for im in entry["images"]:
            width, height = _size(im)
            yield ExportImage(
                key=str(im["key"]),
                width=width,
                height=height,
                file_name=f"images/{im['key']}.{extension}",
                modality=im.get("modality", ""),
                laterality=im.get("laterality", ""),
                view=im.get("view", ""),
                patient=entry.get("patient", ""),
                exam=exam_key,
                split=split.get(exam_key, ""),
                site=entry.get("site", ""),
                labels=im.get("labels", {}),
            )
