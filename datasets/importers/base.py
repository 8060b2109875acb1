"""What every importer shares: the report, progress, and ground-truth rows (source "reference")."""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from annotations.models import ExamLabel, Finding, Mark, Source
from senolab.imaging import storage
from senolab.imaging.models import Exam, Image, Slide
from senolab.projects.models import Project

Progress = Callable[[float, str], None]


@dataclass
class ImportReport:
    """What an import did: created rows, duplicates skipped, and items refused with the reason."""

    format: str
    images: list[int] = field(default_factory=list)
    slides: list[int] = field(default_factory=list)
    exams: set[int] = field(default_factory=set)
    findings: int = 0
    labels: int = 0
    duplicates: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)

    @property
    def nothing_imported(self) -> bool:
        return bool(self.failed) and not self.images and not self.slides and not self.duplicates

    def as_result(self) -> dict[str, Any]:
        """The Job result: counts, and the first failures as {"item", "message"}."""
        return {
            "format": self.format,
            "image_count": len(self.images),
            "slide_count": len(self.slides),
            "exam_count": len(self.exams),
            "findings": self.findings,
            "labels": self.labels,
            "duplicates": self.duplicates,
            "failed_count": len(self.failed),
            "failed": [{"item": item, "message": message} for item, message in self.failed[:200]],
        }

    def summary(self) -> str:
        parts = [
            f"{self.format}: {len(self.images)} images",
            f"{len(self.slides)} slides" if self.slides else "",
            f"{len(self.exams)} exams",
            f"{self.findings} reference findings",
            f"{self.labels} reference labels",
            f"{self.duplicates} duplicates skipped",
            f"{len(self.failed)} failed",
        ]
        lines = [", ".join(p for p in parts if p)]
        lines += [f"  failed {label}: {message}" for label, message in self.failed[:50]]
        if len(self.failed) > 50:
            lines.append(f"  ... and {len(self.failed) - 50} more")
        return "\n".join(lines)


def report_progress(progress: Progress | None, done: int, total: int, message: str) -> None:
    if progress is not None:
        progress(done / total if total else 1.0, message)


def add_reference_finding(
    exam: Exam,
    *,
    finding_type: str = "",
    pathology: str = "",
    birads: str = "",
    laterality: str = "",
    attributes: dict[str, Any] | None = None,
    note: str = "",
    marks: list[dict[str, Any]] | None = None,
) -> Finding:
    """An imported ground-truth finding with its marks (dicts of Mark fields)."""
    finding = Finding.objects.create(
        project_id=exam.project_id,
        exam=exam,
        source=Source.REFERENCE,
        finding_type=finding_type,
        pathology=pathology,
        birads=birads,
        laterality=laterality,
        attributes=attributes or {},
        note=note,
    )
    for mark in marks or []:
        Mark.objects.create(finding=finding, **mark)
    return finding


def set_reference_label(exam: Exam, *, laterality: str = "", **values: Any) -> ExamLabel:
    """Create or update the exam's (or one breast's) reference label; only given values change."""
    label, _ = ExamLabel.objects.get_or_create(
        project_id=exam.project_id,
        exam=exam,
        source=Source.REFERENCE,
        laterality=laterality,
        author=None,
    )
    for name, value in values.items():
        setattr(label, name, value)
    label.save()
    return label


def mask_mark(
    project: Project,
    mask: np.ndarray,
    batch: storage.FileBatch,
    *,
    image: Image | None = None,
    slide: Slide | None = None,
) -> dict[str, Any] | None:
    """A mask Mark (dict) cropped to its bounding box, the PNG saved through batch; None if empty.

    Geometry is the bounding box in image pixels; the PNG (0/255) covers exactly that box.
    """
    from PIL import Image as PILImage

    binary = np.asarray(np.asarray(mask) > 0)
    if binary.ndim == 3:
        binary = np.asarray(binary.any(axis=2))
    ys, xs = np.nonzero(binary)
    if ys.size == 0:
        return None
    y0, y1, x0, x1 = int(ys.min()), int(ys.max()) + 1, int(xs.min()), int(xs.max()) + 1
    buf = io.BytesIO()
    PILImage.fromarray((binary[y0:y1, x0:x1] * 255).astype(np.uint8)).save(buf, format="PNG")
    key = batch.save(storage.new_key(project.pk, "masks", "png"), buf.getvalue())
    return {
        "image": image,
        "slide": slide,
        "kind": "mask",
        "mask_key": key,
        "geometry": {"x": x0, "y": y0, "width": x1 - x0, "height": y1 - y0},
    }
