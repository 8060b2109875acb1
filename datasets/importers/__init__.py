"""Importers of published data set layouts, with their labels turned into ground truth.

`import_dataset(project, fmt, path)` dispatches on the format name; each importer reports
progress through `progress(fraction, message)` and returns an ImportReport in which rejected
items are listed with a reason instead of stopping the import.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from datasets.importers.base import ImportReport, Progress
from senolab.projects.models import Project

FORMATS = {
    "mini-mias": ("datasets.importers.mias", "import_mias"),
    "busi": ("datasets.importers.busi", "import_busi"),
    "medmnist": ("datasets.importers.medmnist", "import_medmnist"),
    "dicom": ("datasets.importers.dicom", "import_dicom"),
    "slides": ("datasets.importers.slides", "import_slides"),
    "senolab-export": ("datasets.importers.senolab_export", "import_senolab_export"),
    "dicom-seg-sr": ("datasets.importers.dicom_annotations", "import_dicom_annotations"),
}

__all__ = ["FORMATS", "ImportReport", "import_dataset"]


def import_dataset(
    project: Project,
    fmt: str,
    path: str | Path,
    *,
    user: Any = None,
    progress: Progress | None = None,
    **options: Any,
) -> ImportReport:
    """Import the data set at path in the named published layout (see FORMATS)."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format '{fmt}': one of {', '.join(FORMATS)}")
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no file or folder at {path}")
    module_name, function = FORMATS[fmt]
    importer = getattr(importlib.import_module(module_name), function)
    return importer(project, path, user=user, progress=progress, **options)
