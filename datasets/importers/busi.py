"""BUSI importer: `<benign|malignant|normal>/<class> (N).png` with `<class> (N)_mask.png` masks.

Each image is its own patient and exam (the data set gives no patient identifiers). The class
folder is the pathology label of the exam; every mask file (`_mask`, `_mask_1`, ...) becomes one
reference finding with a mask mark. Normal images have empty masks and no finding. The published
images are RGB PNGs with equal channels; the raster ingest stores those as grayscale.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from datasets.importers.base import (
    ImportReport,
    Progress,
    add_reference_finding,
    mask_mark,
    report_progress,
    set_reference_label,
)
from senolab.imaging import storage
from senolab.imaging.ingest.raster import RasterError, decode_raster, store_raster
from senolab.projects.models import Project

CLASSES = ("benign", "malignant", "normal")
IMAGE = re.compile(r"^(benign|malignant|normal) \((\d+)\)\.png$", re.IGNORECASE)


def _class_folders(root: Path) -> dict[str, Path]:
    folders: dict[str, Path] = {}
    for path in sorted([root, *root.rglob("*")]):
        if path.is_dir() and path.name.lower() in CLASSES and path.name.lower() not in folders:
            folders[path.name.lower()] = path
    return folders


def _masks_of(image_path: Path) -> list[Path]:
    stem = re.escape(image_path.stem)
    pattern = re.compile(rf"^{stem}_mask(_\d+)?\.png$", re.IGNORECASE)
    return sorted(p for p in image_path.parent.iterdir() if pattern.match(p.name))


def import_busi(
    project: Project, path: Path, *, user: Any = None, progress: Progress | None = None
) -> ImportReport:
    """Import a BUSI tree (Dataset_BUSI_with_GT or its class folders) with masks and labels."""
    report = ImportReport("busi")
    folders = _class_folders(Path(path))
    if not folders:
        report.failed.append(("folder", "no benign/, malignant/ or normal/ folder: not BUSI"))
        return report
    items = [
        (cls, p)
        for cls, folder in folders.items()
        for p in sorted(folder.iterdir())
        if p.is_file() and "_mask" not in p.name.lower() and p.suffix.lower() == ".png"
    ]
    for done, (cls, image_path) in enumerate(items):
        report_progress(progress, done, len(items), f"BUSI {done}/{len(items)}")
        match = IMAGE.match(image_path.name)
        label = f"{cls} #{done + 1}"
        if not match or match.group(1).lower() != cls:
            report.failed.append((label, "file name is not '<class> (N).png' of its folder"))
            continue
        label = f"{cls} ({match.group(2)})"
        try:
            _import_image(project, cls, int(match.group(2)), image_path, report, user)
        except RasterError as exc:
            report.failed.append((label, str(exc)))
    report_progress(progress, len(items), len(items), report.summary().splitlines()[0])
    return report


def _import_image(
    project: Project, cls: str, number: int, image_path: Path, report: ImportReport, user: Any
) -> None:
    masks = []
    for mask_path in _masks_of(image_path):
        masks.append(decode_raster(mask_path.read_bytes(), "png"))
    with storage.files_with_rows() as batch:
        result = store_raster(
            project,
            image_path,
            patient_key=f"busi:{cls}:{number}",
            exam_key="us",
            modality="US",
            source="busi",
            user=user,
            batch=batch,
            description=f"BUSI {cls}",
        )
        if not result.created:
            report.duplicates += 1
            return
        image, exam = result.image, result.image.exam
        for mask in masks:
            if mask.shape[:2] != (image.rows, image.columns):
                raise RasterError(
                    f"a mask of {mask.shape[1]}x{mask.shape[0]} does not match "
                    f"the image's {image.columns}x{image.rows}"
                )
        report.images.append(image.pk)
        report.exams.add(exam.pk)
        if cls != "normal":
            for mask in masks:
                mark = mask_mark(project, np.asarray(mask), batch, image=image)
                if mark is None:
                    continue
                add_reference_finding(exam, finding_type="mass", pathology=cls, marks=[mark])
                report.findings += 1
        set_reference_label(exam, pathology=cls)
        report.labels += 1
