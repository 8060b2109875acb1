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

STUDY = "1.2.826.0.1.3680043.10.999.1.4242"


@pytest.fixture
def folder(tmp_path):
    """Three mammograms: a SEG of a mass on the first; the second and third (two views of one
    study) each with an SR holding a box of one calcification finding."""
    root = tmp_path / "study"
    (root / "annotations").mkdir(parents=True)
    first = pydicom.dcmread(write_dicom(root / "a.dcm", rows=48, columns=64, laterality="L"))
    views = [
        pydicom.dcmread(
            write_dicom(
                root / f"{view}.dcm",
                rows=48,
                columns=64,
                laterality="R",
                view=view,
                study_uid=STUDY,
            )
        )
        for view in ("CC", "MLO")
    ]
    mask = np.zeros((48, 64), np.uint8)
    mask[10:20, 30:45] = 1
    segmentation(first, mask, LabelMap(("mass",))).save_as(root / "annotations" / "seg.dcm")
    for n, view in enumerate(views):
        box = ExportMark("box", {"x": 4 + n, "y": 5, "width": 12.5, "height": 9})
        finding = ExportFinding("7", view.SOPInstanceUID, "calcification", birads="3", marks=(box,))
        measurement_report(view, [finding]).save_as(root / "annotations" / f"sr{n}.dcm")
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
    assert "dicom-seg-sr: 3 images, 2 exams" in out.getvalue()
    assert "0 failed" in out.getvalue()
    findings = {
        f.finding_type: f
        for f in Finding.objects.filter(project__name="Elsewhere").prefetch_related("marks")
    }
    assert set(findings) == {"mass", "calcification"}
    assert all(f.source == Source.REFERENCE for f in findings.values())
    # And the boxes of one finding on the two views are one finding with a mark on each
    cc, mlo = sorted(findings["calcification"].marks.all(), key=lambda m: m.geometry["x"])
    assert cc.kind == "box" and cc.geometry == {"x": 4, "y": 5, "width": 12.5, "height": 9}
    assert (mlo.geometry["x"], mlo.image.view, cc.image.view) == (5, "MLO", "CC")
    assert findings["calcification"].birads == "3"
    assert cc.image.laterality == findings["calcification"].laterality == "R"
    [drawn] = findings["mass"].marks.all()
    assert drawn.kind == "mask" and drawn.image.laterality == "L"
    full = np.zeros((48, 64), np.uint8)
    g = drawn.geometry
    full[g["y"] : g["y"] + g["height"], g["x"] : g["x"] + g["width"]] = load_mask(drawn.mask_key)
    assert np.array_equal(full, mask)
    assert Image.objects.filter(project__name="Elsewhere").count() == 3
