"""MedMNIST importer: an `.npz` with `<split>_images` and `<split>_labels` for any of the splits.

BreastMNIST (MedMNIST v2) labels: 0 = malignant, 1 = normal or benign. BreastMNIST cannot tell
normal from benign, so label 1 is recorded as pathology "benign" with the original label kept
in the label's attributes ("medmnist_label"); the split is kept as "split" so the official
split can be reproduced. Other MedMNIST data sets keep only the numeric label.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from datasets.importers.base import (
    ImportReport,
    Progress,
    report_progress,
    set_reference_label,
)
from senolab.imaging import storage
from senolab.imaging.ingest.raster import RasterError, store_raster
from senolab.projects.models import Project

SPLITS = ("train", "val", "test")
BREASTMNIST_PATHOLOGY = {0: "malignant", 1: "benign"}


def _load(path: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as npz:
            return {name: npz[name] for name in npz.files}
    except (OSError, ValueError) as exc:
        raise RasterError(f"not a readable .npz file ({type(exc).__name__})") from exc


def import_medmnist(
    project: Project,
    path: Path,
    *,
    user: Any = None,
    progress: Progress | None = None,
    dataset: str = "",
) -> ImportReport:
    """Import every split of a MedMNIST npz; `dataset` defaults to the file's name."""
    report = ImportReport("medmnist")
    files = sorted(Path(path).glob("*.npz")) if Path(path).is_dir() else [Path(path)]
    if not files:
        report.failed.append(("folder", "no .npz file found"))
        return report
    for npz_path in files:
        name = (dataset or npz_path.stem).lower()
        try:
            arrays = _load(npz_path)
        except RasterError as exc:
            report.failed.append((npz_path.stem, str(exc)))
            continue
        splits = [s for s in SPLITS if f"{s}_images" in arrays and f"{s}_labels" in arrays]
        if not splits:
            report.failed.append((npz_path.stem, "no <split>_images/<split>_labels arrays"))
            continue
        total = sum(len(arrays[f"{s}_images"]) for s in splits)
        done = 0
        for split in splits:
            images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
            labels = labels.reshape(len(labels), -1)
            if len(labels) != len(images):
                report.failed.append((f"{name} {split}", "images and labels differ in count"))
                continue
            for index in range(len(images)):
                report_progress(progress, done, total, f"{name} {split} {index}")
                done += 1
                try:
                    _import_one(
                        project, name, split, index, images[index], labels[index], report, user
                    )
                except RasterError as exc:
                    report.failed.append((f"{name} {split} #{index}", str(exc)))
    report_progress(progress, 1, 1, report.summary().splitlines()[0])
    return report


def _import_one(
    project: Project,
    name: str,
    split: str,
    index: int,
    pixels: np.ndarray,
    label: np.ndarray,
    report: ImportReport,
    user: Any,
) -> None:
    breast = "breastmnist" in name
    with storage.files_with_rows() as batch:
        result = store_raster(
            project,
            pixels,
            patient_key=f"medmnist:{name}:{split}:{index}",
            exam_key="0",
            modality="US" if breast else "OT",
            source="medmnist",
            user=user,
            batch=batch,
            description=f"{name} {split} #{index}",
        )
        if not result.created:
            report.duplicates += 1
            return
        exam = result.image.exam
        report.images.append(result.image.pk)
        report.exams.add(exam.pk)
        values = [int(v) for v in label]
        attributes: dict[str, Any] = {
            "split": split,
            "medmnist_label": values[0] if len(values) == 1 else values,
        }
        pathology = BREASTMNIST_PATHOLOGY.get(values[0], "") if breast else ""
        set_reference_label(exam, pathology=pathology, attributes=attributes)
        report.labels += 1
