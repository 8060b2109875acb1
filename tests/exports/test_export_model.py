"""The export model: filled from a snapshot manifest, label values, no Django."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from exports.model import LabelMap, exams_from_manifest, images_from_manifest

ROOT = Path(__file__).resolve().parents[2]

MANIFEST = [
    {
        "key": "7",
        "patient": "PSEUDO-1",
        "site": "north",
        "clinical": {"age_at_exam": 61},
        "labels": {"birads": "2", "density": "B"},
        "lesions": [],
        "images": [
            {
                "key": "70",
                "modality": "MG",
                "laterality": "R",
                "view": "MLO",
                "pixel_spacing": [0.07, 0.07],
                "sha256": "ab",
                "pixel_cache": {"levels": [{"key": "k", "shape": [1, 300, 200, 1]}]},
                "mask_sha256": "",
            }
        ],
    }
]


def test_images_and_exams_are_filled_from_a_snapshot_manifest():
    # When a manifest entry and its split are read
    [image] = images_from_manifest(MANIFEST, {"7": "validation"})
    [exam] = exams_from_manifest(MANIFEST, {"7": "validation"})
    # Then the image takes its size from the pixel cache (rows 300, columns 200)
    assert (image.key, image.width, image.height) == ("70", 200, 300)
    assert (image.exam, image.patient, image.split, image.view) == (
        "7",
        "PSEUDO-1",
        "validation",
        "MLO",
    )
    assert image.file_name == "images/70.png"
    # And the exam keeps its labels and clinical fields
    assert (exam.key, exam.split, exam.labels["density"], exam.clinical["age_at_exam"]) == (
        "7",
        "validation",
        "B",
        61,
    )


def test_label_values_start_at_one_in_the_given_order():
    label_map = LabelMap.of(["mass", "", "calcification", "mass"])
    assert label_map.names == ("mass", "calcification")
    assert (label_map.value("mass"), label_map.value("calcification")) == (1, 2)
    with pytest.raises(ValueError, match="'other' is not in the label map"):
        label_map.value("other")


def test_the_exports_package_imports_without_django():
    # When every exports module is imported in a fresh interpreter
    probe = (
        "import importlib, pkgutil, sys, exports\n"
        "for info in pkgutil.walk_packages(exports.__path__, 'exports.'):\n"
        "    importlib.import_module(info.name)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'django'))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)},
    )
    # Then no Django module was loaded
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
