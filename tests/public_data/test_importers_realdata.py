"""Importers and slide ingest on the real published data in ../shared/data (marked realdata)."""

from __future__ import annotations

import re

import pytest

from annotations.models import ExamLabel, Finding, Mark
from datasets.importers import import_dataset
from senolab.imaging.ingest.slides import ingest_slide, open_slide
from senolab.imaging.models import Image, Patient, Slide

pytestmark = [pytest.mark.django_db, pytest.mark.realdata]


def test_every_mini_mias_image_is_imported_with_its_labels(project, shared_data):
    # given the mini-MIAS folder and its Info.txt
    folder = shared_data / "mini-mias" / "all-mias"
    info = (folder / "Info.txt").read_text()
    films = sorted(set(re.findall(r"^(mdb\d{3}) ", info, re.MULTILINE)))
    rows_with_centre = len(
        re.findall(r"^mdb\d{3} [FGD] [A-Z]{4} [BM] \d+ \d+ \d+", info, re.MULTILINE)
    )
    abnormal_rows = len(re.findall(r"^mdb\d{3} [FGD] (?!NORM)[A-Z]{4}", info, re.MULTILINE))
    # when it is imported
    report = import_dataset(project, "mini-mias", folder)
    # then every film is an image with a label, each abnormality a finding
    assert report.failed == []
    assert len(report.images) == len(films) == 224
    assert Patient.objects.filter(project=project).count() == 112
    assert report.findings == abnormal_rows
    assert Mark.objects.filter(image__project=project, kind="ellipse").count() == rows_with_centre
    labels = ExamLabel.objects.filter(exam__project=project, source="reference")
    assert labels.count() == 224 and set(labels.values_list("density", flat=True)) == {
        "A",
        "B",
        "C",
    }
    # and every left/right pair shares one exam
    assert {Image.objects.filter(exam_id=e).count() for e in report.exams} == {2}
    # and mdb005's first lesion (477, 133 from the bottom) sits at y = 1024 - 133 from the top
    mark = Mark.objects.filter(
        finding__note__startswith="MIAS class CIRC", geometry__cx=477.0
    ).first()
    assert mark is not None and mark.geometry["cy"] == 1024 - 133


def test_every_busi_image_is_imported_with_its_masks(project, shared_data):
    # given the BUSI tree
    root = shared_data / "busi" / "Dataset_BUSI_with_GT"
    counts = {
        cls: len([p for p in (root / cls).glob("*.png") if "_mask" not in p.name])
        for cls in ("benign", "malignant", "normal")
    }
    # when it is imported
    report = import_dataset(project, "busi", root)
    # then every image has its class label, and lesions carry masks
    assert report.failed == []
    assert len(report.images) == sum(counts.values()) == 546
    labels = ExamLabel.objects.filter(exam__project=project, source="reference")
    for cls, n in counts.items():
        assert labels.filter(pathology=cls).count() == n
    lesion_exams = Finding.objects.filter(exam__project=project).values("exam").distinct()
    assert lesion_exams.count() == counts["benign"] + counts["malignant"]
    assert Mark.objects.filter(image__project=project, kind="mask").count() == report.findings


def test_breastmnist_train_and_val_splits_are_imported(project, shared_data):
    report = import_dataset(
        project, "medmnist", shared_data / "breastmnist" / "breastmnist_trainval.npz"
    )
    assert len(report.images) + report.duplicates == 546 + 78 and report.failed == []
    labels = ExamLabel.objects.filter(exam__project=project, source="reference")
    assert labels.filter(attributes__split="val").count() + report.duplicates >= 78
    assert set(labels.values_list("pathology", flat=True)) == {"malignant", "benign"}


@pytest.mark.parametrize(
    ("name", "levels", "mpp"),
    [
        ("CMU-1-Small-Region.svs", [(2220, 2967)], 0.499),
        ("tcga-cr-7395-01a-01-ts1.svs", [(4443, 3567), (2221, 1783)], None),
        ("openslide-python_small.svs", [(16, 16)], 0.499),
        ("openslide-python_boxes.tiff", [(300, 250), (150, 125), (75, 62), (37, 31)], None),
    ],
)
def test_svs_and_tiff_slides_open_with_correct_levels(project, shared_data, name, levels, mpp):
    # when a real slide is ingested
    slide = ingest_slide(
        project, shared_data / "wsi-samples" / name, patient_key=name, exam_key="1"
    )
    # then its levels and resolution are the file's, and a region reads at every level
    assert [(lv["width"], lv["height"]) for lv in slide.levels] == levels
    assert slide.mpp_x == (pytest.approx(mpp) if mpp else None)
    ts = open_slide(slide)
    assert set(ts.associated_images.keys()) <= {"thumbnail"}
    for level in range(len(levels)):
        assert ts.read_region((0, 0), level, (16, 16)).size == (16, 16)


def test_cmu_slide_keeps_no_label_macro_or_scanner_identifiers(project, shared_data):
    from senolab.imaging import storage

    slide = ingest_slide(
        project,
        shared_data / "wsi-samples" / "CMU-1-Small-Region.svs",
        patient_key="cmu",
        exam_key="1",
    )
    stored = storage.read(slide.storage_key)
    assert b"Filename = CMU-1" not in stored and b"b414003d-95c6" not in stored
    assert slide.objective_power == 20 and slide.vendor == "aperio"


def test_dicom_sm_samples_become_slides(project, shared_data):
    report = import_dataset(project, "slides", shared_data / "dicom-format-samples")
    sizes = sorted((s.width, s.height) for s in Slide.objects.filter(project=project))
    assert (3236, 2638) in sizes and (50, 50) in sizes
    assert all(s.format == "dicom-sm" for s in Slide.objects.filter(project=project))
    assert len(report.slides) == len(sizes)
