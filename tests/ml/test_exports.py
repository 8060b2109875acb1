"""Data set exports (ml.services.exports): the zip holds what the annotations say, in every
format, read back by the standard tools; quarantined images and identifiers stay inside."""

from __future__ import annotations

import csv
import io
import json
import shutil
import subprocess
import zipfile
from pathlib import Path

import highdicom as hd
import numpy as np
import pytest
from PIL import Image as PILImage

from annotations.models import ExamLabel, Finding, Mark, Source
from ml.models import DatasetExport
from ml.services import exports
from senolab.imaging import storage
from senolab.imaging.models import Image
from senolab.jobs.models import JobStatus
from senolab.jobs.services import run_job
from tests.factories.dicom import IDENTIFIERS
from tests.ml.exportcase import MASK

BOX = {"x": 4, "y": 4, "width": 10, "height": 10}

DCIODVFY = shutil.which("dciodvfy")
ALL_FORMATS = list(exports.FORMATS)


def run(project, formats, filters=None, user=None):
    export = exports.start_export(project, formats, filters, user=user, enqueue=False)
    job = run_job(export.job_id, exports.run_export)
    assert job.status == JobStatus.SUCCEEDED, job.message
    export.refresh_from_db()
    return export, zipfile.ZipFile(io.BytesIO(storage.read(export.archive_key)))


def test_an_export_records_its_findings_and_leaves_quarantined_images_out(export_project, owner):
    project, image, accepted, masked, quarantined_exam = export_project
    # When everything is exported
    export, archive = run(project, ["coco", "csv"], user=owner)
    # Then the row records each finding with its version, source, origin and author
    recorded = {f["id"]: f for f in export.findings}
    assert recorded[accepted.pk]["version"] == 2
    assert recorded[accepted.pk]["origin"] == {
        "kind": "accepted",
        "prediction": 7,
        "model_version": 3,
    }
    assert recorded[accepted.pk]["created_by"] == owner.pk
    assert recorded[masked.pk]["source"] == Source.HUMAN
    # And the quarantined exam's finding and image are not there
    quarantined = Finding.objects.get(exam=quarantined_exam)
    assert quarantined.pk not in recorded
    coco = json.loads(archive.read("annotations/coco.json"))
    keys = {im["senolab_key"] for im in coco["images"]}
    assert str(Image.objects.get(exam=quarantined_exam).pk) not in keys
    assert export.counts == {
        "exams": 3,
        "images": 3,
        "findings": 4,
        "marks": 6,
        "proposals_accepted": 1,
    }
    # And the zip's sha256 is the one recorded, as is the snapshot in export.json
    assert storage.sha256_of(storage.read(export.archive_key)) == export.archive_sha256
    doc = json.loads(archive.read("export.json"))
    assert doc["snapshot"]["content_hash"] == export.snapshot.content_hash
    assert {f["id"] for f in doc["findings"]} == set(recorded)


def test_pycocotools_reads_the_boxes_polygons_and_mask_pixels(export_project, tmp_path):
    from pycocotools.coco import COCO

    project, image, accepted, masked, _ = export_project
    _, archive = run(project, ["coco"])
    path = tmp_path / "coco.json"
    path.write_bytes(archive.read("annotations/coco.json"))
    # When pycocotools loads the COCO file
    api = COCO(str(path))
    by_key = {im["senolab_key"]: im["id"] for im in api.dataset["images"]}
    anns = api.loadAnns(api.getAnnIds(imgIds=[by_key[str(image.pk)]]))
    by_finding = {a["senolab_finding"]: a for a in anns}
    # Then the box is where it was drawn, coded as its finding type
    box = by_finding[str(accepted.pk)]
    assert box["bbox"] == [5.0, 6.0, 10.0, 8.0]
    assert api.loadCats(box["category_id"])[0]["name"] == "mass"
    assert box["birads"] == "4"
    # And the mask's pixels are the stored mask, placed at its box
    pixels = api.annToMask(by_finding[str(masked.pk)])
    expected = np.zeros((48, 64), np.uint8)
    expected[20:26, 30:38] = MASK
    assert np.array_equal(pixels, expected)
    # And a synthetic case's polygon keeps its points
    polygon_exam = Mark.objects.filter(kind="polygon").first()
    anns = api.loadAnns(api.getAnnIds(imgIds=[by_key[str(polygon_exam.image_id)]]))
    polygons = [a["segmentation"][0] for a in anns if len(a["segmentation"][0]) == 8]
    assert polygons == [[10.0, 10.0, 22.0, 10.0, 22.0, 22.0, 10.0, 22.0]]


def test_the_csv_masks_and_datalist_agree_with_the_annotations(export_project):
    project, image, accepted, masked, _ = export_project
    _, archive = run(project, ["csv", "masks_png", "masks_nifti", "monai", "images_png"])
    exams = list(csv.DictReader(io.StringIO(archive.read("labels/exams.csv").decode())))
    row = next(r for r in exams if r["exam"] == str(image.exam_id))
    assert row["birads"] == "4" and row["density"] == "C" and row["malignant"] == "1"
    # The PNG label map: the box painted with mass's value, the mask with calcification's
    label_map = json.loads(archive.read("masks/label_map.json"))
    values = {name: int(v) for v, name in label_map.items()}
    mask = np.asarray(PILImage.open(io.BytesIO(archive.read(f"masks/{image.pk}.png"))))
    assert mask.shape == (48, 64)
    assert (mask[6:14, 5:15] == values["mass"]).all()
    assert int((mask == values["calcification"]).sum()) == int(MASK.sum())
    # The image PNG holds the pixels; the datalist pairs it with its NIfTI mask
    pixels = np.asarray(PILImage.open(io.BytesIO(archive.read(f"images/{image.pk}.png"))))
    assert pixels.shape == (48, 64)
    datalist = json.loads(archive.read("datalist.json"))
    entries = [e for part in datalist.values() for e in part]
    assert {"image": f"images/{image.pk}.png", "label": f"masks/{image.pk}.nii"} in entries
    assert len(entries) == 3


def test_the_breast_csv_holds_each_breast_with_labels_or_findings_of_its_own(export_project):
    project, image, accepted, masked, _ = export_project
    # Given a label recorded for the right breast of the mammogram's exam (its image is the
    # left breast, where the box and mask findings lie, their own laterality not set)
    ExamLabel.objects.create(
        project=project, exam=image.exam, laterality="R", birads="2", density="B"
    )
    assert image.laterality == "L" and accepted.laterality == masked.laterality == ""
    # When the CSV is exported
    _, archive = run(project, ["csv"])
    rows = list(csv.DictReader(io.StringIO(archive.read("labels/breasts.csv").decode())))
    # Then each breast of that exam is a row with its own labels, and no other exam has one
    assert [(r["exam"], r["laterality"]) for r in rows] == [
        (str(image.exam_id), "L"),
        (str(image.exam_id), "R"),
    ]
    left, right = rows
    assert (left["birads"], left["pathology"], left["density"]) == ("4", "malignant", "")
    assert (right["birads"], right["pathology"], right["density"]) == ("2", "", "B")
    assert left["patient"] == right["patient"] != ""


def test_dicom_seg_and_sr_read_back_and_pass_dciodvfy(export_project, tmp_path):
    project, image, accepted, masked, _ = export_project
    export, archive = run(project, ["dicom_seg", "dicom_sr"])
    # Every image with marks has its SEG and SR, raster ones against their Secondary Capture
    assert export.counts["dicom_seg"] == 3 and export.counts["dicom_sr"] == 3
    seg_path, sr_path = tmp_path / "seg.dcm", tmp_path / "sr.dcm"
    seg_path.write_bytes(archive.read(f"dicom/seg/{image.pk}.dcm"))
    sr_path.write_bytes(archive.read(f"dicom/sr/{image.pk}.dcm"))
    raster = Mark.objects.filter(kind="polygon").first().image
    raster_seg = tmp_path / "raster-seg.dcm"
    raster_seg.write_bytes(archive.read(f"dicom/seg/{raster.pk}.dcm"))
    raster_sr = tmp_path / "raster-sr.dcm"
    raster_sr.write_bytes(archive.read(f"dicom/sr/{raster.pk}.dcm"))
    assert hd.seg.segread(raster_seg).get_source_image_uids()[0][2] == raster.sop_instance_uid
    assert len(hd.sr.srread(raster_sr).content.get_planar_roi_measurement_groups()) == 2
    seg = hd.seg.segread(seg_path)
    source_uid = image.sop_instance_uid
    assert seg.get_source_image_uids()[0][2] == source_uid
    pixels = seg.get_pixels_by_source_instance(
        source_sop_instance_uids=[source_uid], combine_segments=True
    )[0]
    # the box's polygon is filled edges included (11 x 9 pixels), then the mask's pixels
    assert int((pixels > 0).sum()) == 11 * 9 + int(MASK.sum())
    sr = hd.sr.srread(sr_path)
    groups = sr.content.get_planar_roi_measurement_groups()
    assert len(groups) == 1  # the box (the mask is in the SEG)
    if DCIODVFY:
        for path in (seg_path, sr_path, raster_seg, raster_sr):
            done = subprocess.run([DCIODVFY, str(path)], capture_output=True, text=True)
            errors = [x for x in (done.stdout + done.stderr).splitlines() if "Error" in x]
            assert errors == [], errors


def test_no_identifier_leaves_in_any_format(export_project, owner):
    project, image, *_ = export_project
    # Given an export of every format (the DICOM source carried every factory identifier)
    _, archive = run(project, ALL_FORMATS, user=owner)
    # Then no member holds any of them, nor the pseudonym map's keys
    planted = [v.encode() for v in IDENTIFIERS.values()]
    planted += [v.split("^")[0].encode() for v in IDENTIFIERS.values() if "^" in v]
    assert len(archive.namelist()) > 10
    for name in archive.namelist():
        data = archive.read(name)
        found = [p for p in planted if p in data]
        assert found == [], f"{name} holds {found}"


def test_filters_choose_the_exams(export_project):
    project, image, *_ = export_project
    export, _ = run(project, ["csv"], exports.ExportFilters(modality="MG"))
    assert export.counts["exams"] == 1 and export.counts["images"] == 1
    export, _ = run(project, ["csv"], exports.ExportFilters(ground_truth="reference"))
    # the reference-only ground truth sees no finding of the mammogram (human findings)
    assert {f["source"] for f in export.findings} == {"reference"}
    with pytest.raises(exports.ExportRequestError, match="Unknown format 'xml'"):
        exports.start_export(project, ["coco", "xml"])
    with pytest.raises(exports.ExportRequestError, match="label_status is one of"):
        exports.ExportFilters.of({"label_status": "maybe"})


def test_readers_choose_the_exams_and_one_reader_can_be_the_ground_truth(
    export_project, owner, make_user
):
    from annotations.models import ReadingAssignment, ReadingStatus
    from senolab.projects.models import Membership, Role

    project, image, accepted, *_ = export_project
    reader = make_user("export-reader")
    Membership.objects.create(project=project, user=reader, role=Role.ANNOTATOR)
    from senolab.imaging.models import Exam

    us_exams = list(Exam.objects.filter(project=project, modalities=["US"]).order_by("id"))[:2]
    # Given the reader's own finding on the first ultrasound exam, a submitted reading of the
    # second, and an unsubmitted one of the mammogram
    own = Finding.objects.create(
        project=project,
        exam=us_exams[0],
        source=Source.HUMAN,
        finding_type="mass",
        birads="3",
        created_by=reader,
    )
    first_mark = Mark.objects.filter(finding__exam=us_exams[0]).first()
    Mark.objects.create(finding=own, image=first_mark.image, kind="box", geometry=BOX)
    for exam, status in ((us_exams[1], ReadingStatus.DONE), (image.exam, ReadingStatus.ASSIGNED)):
        ReadingAssignment.objects.create(project=project, exam=exam, reader=reader, status=status)

    # When exports take the reader's exams, then the owner's
    by_reader, _ = run(project, ["csv"], exports.ExportFilters(readers=("export-reader",)))
    by_owner, _ = run(project, ["csv"], exports.ExportFilters(readers=("owner",)))
    # Then the reader's are the two ultrasound exams they read, not the assigned mammogram
    assert by_reader.counts["exams"] == 2 and by_reader.counts["images"] == 2
    assert by_reader.filters["readers"] == ["export-reader"]
    # and the owner's is the mammogram whose finding the owner accepted
    assert by_owner.counts["exams"] == 1
    assert {f["id"] for f in by_owner.findings} >= {accepted.pk}

    # When the reader's own reads are the ground truth
    theirs, _ = run(
        project,
        ["csv"],
        exports.ExportFilters(ground_truth="reader", ground_truth_reader="export-reader"),
    )
    # Then the export holds their finding alone, on the exam they annotated
    assert [f["id"] for f in theirs.findings] == [own.pk]
    assert theirs.counts["exams"] == 1
    with pytest.raises(exports.ExportRequestError, match="Name the reader"):
        exports.ExportFilters.of({"ground_truth": "reader"})
    with pytest.raises(exports.ExportRequestError, match="goes with ground_truth"):
        exports.ExportFilters.of({"ground_truth_reader": "export-reader"})
    with pytest.raises(exports.ExportRequestError, match="list of usernames"):
        exports.ExportFilters.of({"readers": "export-reader"})


def test_a_filter_matching_nothing_fails_the_job_with_the_reason(export_project):
    project, *_ = export_project
    export = exports.start_export(
        project, ["coco"], exports.ExportFilters(site="nowhere"), enqueue=False
    )
    job = run_job(export.job_id, exports.run_export)
    assert job.status == JobStatus.FAILED
    assert job.message == "No exam matches the filters."
    assert not DatasetExport.objects.get(pk=export.pk).archive_key


def test_the_records_read_page_by_page(export_project):
    project, *_ = export_project
    export, _ = run(project, ["coco"])
    first, more = exports.read_records(export, 0, 2)
    rest, more_after = exports.read_records(export, 2, 2)
    assert more and not more_after
    assert len(first) == 2 and len(rest) == 1
    keys = [r["image"]["key"] for r in first + rest]
    assert len(set(keys)) == 3


def test_the_archive_is_stored_only_when_complete(export_project, monkeypatch):
    project, *_ = export_project
    saved: list[str] = []
    real_save = storage.save

    def counting_save(key, data):
        saved.append(key)
        return real_save(key, data)

    def broken_png(layout):
        raise OSError("disk gone")

    monkeypatch.setattr(storage, "save", counting_save)
    monkeypatch.setattr(exports, "_png_of_pixels", broken_png)
    export = exports.start_export(project, ["coco", "images_png"], enqueue=False)
    job = run_job(export.job_id, exports.run_export)
    assert job.status == JobStatus.FAILED
    assert [k for k in saved if k.endswith(".zip")] == []
    assert not DatasetExport.objects.get(pk=export.pk).archive_key


def test_the_job_result_names_the_export_and_its_hash(export_project):
    project, *_ = export_project
    before = set(_stored_keys(project))
    export, _ = run(project, ["coco"])
    result = export.job.result
    assert result["export"] == export.pk
    assert result["archive_sha256"] == export.archive_sha256
    assert result["content_hash"] == export.snapshot.content_hash
    assert Path(export.archive_key).suffix == ".zip"
    assert set(_stored_keys(project)) - before == {Path(export.archive_key).name}


def test_a_cancelled_export_stores_nothing(export_project, monkeypatch):
    from senolab.jobs.models import Job

    project, *_ = export_project
    export = exports.start_export(project, ["images_png"], enqueue=False)
    real_png = exports._png_of_pixels

    def png_then_cancel(layout):
        # someone cancels while the first image is written; the next progress report stops it
        Job.objects.filter(pk=export.job_id).update(cancel_requested=True)
        return real_png(layout)

    monkeypatch.setattr(exports, "_png_of_pixels", png_then_cancel)
    before = set(_stored_keys(project))
    job = run_job(export.job_id, exports.run_export)
    assert job.status == JobStatus.CANCELLED
    assert not DatasetExport.objects.get(pk=export.pk).archive_key
    assert set(_stored_keys(project)) == before


def _stored_keys(project) -> list[str]:
    from django.core.files.storage import default_storage

    folder = f"{storage.project_prefix(project.pk)}/exports"
    if not default_storage.exists(folder):
        return []
    return default_storage.listdir(folder)[1]
