"""`import_dataset --format dicom-seg-sr`: a folder of DICOM images with a SEG and an SR made
elsewhere (not an export zip) becomes images and reference findings placed by UID."""

from __future__ import annotations

import io

import numpy as np
import pydicom
import pytest
from django.core.management import call_command

from annotations.models import Finding, Source
from exports.dicom import measurement_report, segmentation
from exports.model import ExportFinding, ExportMark, LabelMap
from ml.services.snapshots import load_mask
from senolab.imaging.models import Image
from tests.factories.dicom import write_dicom

pytestmark = pytest.mark.django_db


@pytest.fixture
def folder(tmp_path):
    """Two mammograms; a SEG of a mass on the first, an SR with a box on the second."""
    root = tmp_path / "study"
    (root / "annotations").mkdir(parents=True)
    first = pydicom.dcmread(write_dicom(root / "a.dcm", rows=48, columns=64, laterality="L"))
    second = pydicom.dcmread(write_dicom(root / "b.dcm", rows=48, columns=64, laterality="R"))
    mask = np.zeros((48, 64), np.uint8)
    mask[10:20, 30:45] = 1
    segmentation(first, mask, LabelMap(("mass",))).save_as(root / "annotations" / "seg.dcm")
    box = ExportMark("box", {"x": 4, "y": 5, "width": 12.5, "height": 9})
    finding = ExportFinding("7", "b", "calcification", birads="3", marks=(box,))
    measurement_report(second, [finding]).save_as(root / "annotations" / "sr.dcm")
    return root, mask


def test_a_folder_of_images_seg_and_sr_imports_as_findings_on_its_images(folder, owner):
    root, mask = folder
    out = io.StringIO()
    # When the command imports the folder into a new project
    call_command(
        "import_dataset",
        str(root),
        "--format",
        "dicom-seg-sr",
        "--project",
        "Elsewhere",
        "--create",
        stdout=out,
        stderr=io.StringIO(),
    )
    # Then both images came in and each annotation is a reference finding on its image
    assert "dicom-seg-sr: 2 images" in out.getvalue() and "0 failed" in out.getvalue()
    findings = {
        f.finding_type: f
        for f in Finding.objects.filter(project__name="Elsewhere").prefetch_related("marks")
    }
    assert set(findings) == {"mass", "calcification"}
    assert all(f.source == Source.REFERENCE for f in findings.values())
    [box] = findings["calcification"].marks.all()
    assert box.kind == "box" and box.geometry == {"x": 4, "y": 5, "width": 12.5, "height": 9}
    assert findings["calcification"].birads == "3"
    assert box.image.laterality == findings["calcification"].laterality == "R"
    [drawn] = findings["mass"].marks.all()
    assert drawn.kind == "mask" and drawn.image.laterality == "L"
    full = np.zeros((48, 64), np.uint8)
    g = drawn.geometry
    full[g["y"] : g["y"] + g["height"], g["x"] : g["x"] + g["width"]] = load_mask(drawn.mask_key)
    assert np.array_equal(full, mask)
    assert Image.objects.filter(project__name="Elsewhere").count() == 2
