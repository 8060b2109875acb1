"""Importers of published layouts, on tiny synthetic copies of those layouts."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image as PILImage

from annotations.models import ExamLabel, Finding, Mark
from datasets.importers import import_dataset
from datasets.importers.mias import parse_info
from senolab.imaging import storage
from senolab.imaging.models import ClinicalRecord, Image

pytestmark = pytest.mark.django_db

INFO = """MIAS header text that importers must skip
mdb001 G CIRC B 535 425 197
mdb002 G CIRC B 522 280 69
mdb002 G CIRC M 100 200 10
mdb003 D NORM
mdb004 D CALC M *NOTE 3*
"""


def _mias_tree(tmp_path, height: int = 64, width: int = 48):
    folder = tmp_path / "all-mias"
    folder.mkdir()
    (folder / "Info.txt").write_text(INFO)
    for n in (1, 2, 3):
        PILImage.fromarray(np.full((height, width), n * 40, np.uint8)).save(
            folder / f"mdb{n:03d}.pgm"
        )
    return folder


def test_mias_flips_y_to_top_left_and_pairs_left_and_right(project, tmp_path):
    # given a 3-film MIAS folder (mdb004 is listed but has no file)
    folder = _mias_tree(tmp_path)
    # when it is imported
    report = import_dataset(project, "mini-mias", folder)
    # then three images, with mdb001/mdb002 one patient and one exam, mdb003 another
    assert len(report.images) == 3 and report.failed == [("mdb004", report.failed[0][1])]
    images = {
        img.laterality + str(img.exam.patient_id): img
        for img in Image.objects.filter(pk__in=report.images)
    }
    right, left = (Image.objects.get(pk=pk) for pk in report.images[:2])
    assert (right.laterality, left.laterality) == ("R", "L")
    assert right.exam_id == left.exam_id and right.view == "MLO"
    third = Image.objects.get(pk=report.images[2])
    assert third.exam.patient_id != right.exam.patient_id and len(images) == 3
    # and the centre's y is measured from the top (height 64 - y)
    mark = Mark.objects.get(image=right)
    assert mark.kind == "ellipse"
    assert mark.geometry == {"cx": 535.0, "cy": 64 - 425.0, "rx": 197.0, "ry": 197.0}
    # and the left breast has two findings, benign and malignant, with a malignant label
    findings = Finding.objects.filter(marks__image=left, source="reference")
    assert sorted(f.pathology for f in findings) == ["benign", "malignant"]
    label = ExamLabel.objects.get(exam=left.exam, laterality="L", source="reference")
    assert (label.density, label.pathology) == ("B", "malignant")
    normal = ExamLabel.objects.get(exam=third.exam, source="reference")
    assert (normal.density, normal.pathology) == ("C", "normal")
    # The reference density is a label, not a clinical fact: a blind reader would read it there.
    assert not ClinicalRecord.objects.filter(exam=third.exam).exists()
    assert not Finding.objects.filter(exam=third.exam).exists()


def test_mias_reimport_adds_nothing(project, tmp_path):
    folder = _mias_tree(tmp_path)
    import_dataset(project, "mini-mias", folder)
    again = import_dataset(project, "mini-mias", folder)
    assert again.images == [] and again.duplicates == 3
    assert Finding.objects.count() == 3


def test_mias_rows_without_centre_give_a_finding_without_mark():
    entries, bad = parse_info(INFO + "mdb005 F CIRC B\nmdb006 X NORM\n")
    assert entries["mdb004"].rows[0].x is None and entries["mdb004"].rows[0].severity == "M"
    assert entries["mdb005"].rows[0].x is None
    assert [label for label, _ in bad] == ["Info.txt line 8"]


def _busi_tree(tmp_path):
    root = tmp_path / "Dataset_BUSI_with_GT"
    for cls in ("benign", "malignant", "normal"):
        (root / cls).mkdir(parents=True)
    grey = np.repeat(np.arange(30 * 20, dtype=np.uint16).reshape(30, 20)[:, :, None] % 256, 3, 2)
    mask = np.zeros((30, 20), np.uint8)
    mask[5:10, 2:8] = 255
    second = np.zeros((30, 20), np.uint8)
    second[20:25, 10:12] = 255
    PILImage.fromarray(grey.astype(np.uint8)).save(root / "benign" / "benign (1).png")
    PILImage.fromarray(mask).save(root / "benign" / "benign (1)_mask.png")
    PILImage.fromarray(second).save(root / "benign" / "benign (1)_mask_1.png")
    PILImage.fromarray((grey + 1).astype(np.uint8)).save(root / "malignant" / "malignant (7).png")
    PILImage.fromarray(mask).save(root / "malignant" / "malignant (7)_mask.png")
    PILImage.fromarray((grey + 2).astype(np.uint8)).save(root / "normal" / "normal (3).png")
    PILImage.fromarray(np.zeros((30, 20), np.uint8)).save(root / "normal" / "normal (3)_mask.png")
    return root


def test_busi_masks_become_mask_marks_and_class_folders_labels(project, tmp_path):
    # given a BUSI tree with two masks on the benign image and an empty one on the normal
    root = _busi_tree(tmp_path)
    # when it is imported
    report = import_dataset(project, "busi", tmp_path)
    # then three grayscale US images, three lesions with masks, and a label per exam
    assert len(report.images) == 3 and report.failed == [] and report.findings == 3
    images = Image.objects.filter(pk__in=report.images)
    assert {i.modality for i in images} == {"US"} and {i.samples_per_pixel for i in images} == {1}
    marks = Mark.objects.filter(kind="mask").order_by("id")
    assert marks[0].geometry == {"x": 2, "y": 5, "width": 6, "height": 5}
    with storage.open_file(marks[0].mask_key) as fh:
        assert np.asarray(PILImage.open(fh)).shape == (5, 6)
    labels = sorted(
        ExamLabel.objects.filter(source="reference").values_list("pathology", flat=True)
    )
    assert labels == ["benign", "malignant", "normal"]
    assert root.exists()


def test_busi_mask_of_wrong_size_rejects_only_that_image(project, tmp_path):
    root = _busi_tree(tmp_path)
    PILImage.fromarray(np.zeros((9, 9), np.uint8)).save(
        root / "malignant" / "malignant (7)_mask.png"
    )
    report = import_dataset(project, "busi", root)
    assert len(report.images) == 2
    assert report.failed[0][0] == "malignant (7)" and "does not match" in report.failed[0][1]
    assert not Finding.objects.filter(pathology="malignant").exists()


def test_medmnist_npz_imports_every_split_with_labels(project, tmp_path):
    # given a BreastMNIST-like npz with train and val splits, labels shaped (N,) and (N, 1)
    rng = np.random.default_rng(0)
    path = tmp_path / "breastmnist_trainval.npz"
    np.savez(
        path,
        train_images=rng.integers(0, 255, (3, 28, 28), dtype=np.uint8),
        train_labels=np.array([0, 1, 1]),
        val_images=rng.integers(0, 255, (2, 28, 28), dtype=np.uint8),
        val_labels=np.array([[1], [0]]),
    )
    progress = []
    # when it is imported
    report = import_dataset(project, "medmnist", path, progress=lambda f, m: progress.append(f))
    # then five 28x28 images with malignant (0) / benign (1) labels and their split
    assert len(report.images) == 5 and report.failed == []
    labels = ExamLabel.objects.filter(source="reference").order_by("exam_id")
    assert [x.pathology for x in labels] == ["malignant", "benign", "benign", "benign", "malignant"]
    assert [x.attributes["split"] for x in labels] == ["train"] * 3 + ["val"] * 2
    assert progress[-1] == 1.0
    assert {(i.rows, i.columns) for i in Image.objects.all()} == {(28, 28)}


def test_unknown_format_and_missing_path_are_refused(project, tmp_path):
    with pytest.raises(ValueError, match="unknown format"):
        import_dataset(project, "inbreast", tmp_path)
    with pytest.raises(FileNotFoundError):
        import_dataset(project, "busi", tmp_path / "nope")


def test_import_command_creates_the_project_and_prints_a_summary(db, tmp_path, capsys):
    from django.core.management import call_command

    from senolab.projects.models import Project

    # given a BUSI tree and no project yet
    _busi_tree(tmp_path)
    # when the command runs with --create
    call_command(
        "import_dataset", str(tmp_path), "--format", "busi", "--project", "New", "--create"
    )
    # then the project exists and the summary counts the images
    out = capsys.readouterr().out
    assert Project.objects.filter(name="New").exists()
    assert "busi: 3 images" in out and "0 failed" in out


def test_import_command_runs_as_a_job_that_the_jobs_api_shows(
    project, owner, tmp_path, capsys, client_for
):
    from django.core.management import call_command

    from senolab.jobs.models import Job, JobKind, JobStatus

    # given a BUSI tree and a project
    _busi_tree(tmp_path)
    # when the command imports it
    call_command("import_dataset", str(tmp_path), "--format", "busi", "--project", project.name)
    # then one import_dataset Job of the project ended succeeded with full progress
    job = Job.objects.get(project=project)
    assert (job.kind, job.status, job.progress) == (
        JobKind.IMPORT_DATASET,
        JobStatus.SUCCEEDED,
        1.0,
    )
    assert job.result["image_count"] == 3 and job.params["format"] == "busi"
    # and the command printed progress lines as it went
    assert "100.0%" in capsys.readouterr().err
    # and the owner sees the job in /api/jobs/
    listing = client_for(owner).get("/api/jobs/?kind=import_dataset").json()
    assert [row["id"] for row in listing["results"]] == [str(job.pk)]


def test_import_command_of_a_missing_folder_fails_its_job_with_the_reason(project, tmp_path):
    from django.core.management import call_command
    from django.core.management.base import CommandError

    from senolab.jobs.models import Job, JobStatus

    # when the command is pointed at a folder that does not exist
    with pytest.raises(CommandError, match="no file or folder"):
        call_command(
            "import_dataset", str(tmp_path / "nope"), "--format", "busi", "--project", project.name
        )
    # then its Job failed with the same reason
    job = Job.objects.get(project=project)
    assert job.status == JobStatus.FAILED and "no file or folder" in job.message


def test_slides_folder_imports_each_slide_once(project, tmp_path):
    from senolab.imaging.ingest.slides import write_pyramidal_tiff

    # given a folder with two slides and a text file
    write_pyramidal_tiff(tmp_path / "a.tif", np.zeros((64, 64, 3), np.uint8))
    write_pyramidal_tiff(tmp_path / "b.tiff", np.full((64, 80, 3), 200, np.uint8))
    (tmp_path / "notes.txt").write_text("x")
    # when it is imported twice
    first = import_dataset(project, "slides", tmp_path)
    second = import_dataset(project, "slides", tmp_path)
    # then two slides, each its own exam, and the second run finds duplicates
    assert len(first.slides) == 2 and len(first.exams) == 2 and first.failed == []
    assert second.slides == [] and second.duplicates == 2


def test_mimbcd_label_tables_label_each_modality_and_breast(project, tmp_path):
    from datasets.importers.base import ImportReport
    from datasets.importers.dicom import apply_label_tables
    from senolab.imaging.ingest.raster import exam_for

    # given a patient (by its DICOM PatientID) with an MRI and an ultrasound exam
    pid = "9cfd047c-14f1-45c3-aadc-02ec90feeae9"
    mr, _ = exam_for(project, patient_key=pid, exam_key="mr", modality="MR")
    us, _ = exam_for(project, patient_key=pid, exam_key="us", modality="US")
    labels = tmp_path / "labels"
    labels.mkdir()
    (labels / "uta4_severities.csv").write_text(
        "patient_id_anonymized,birads_final,birads_cc_l,birads_us_l,birads_us_r,birads_mri\n"
        f"{pid},5,5,4A,,5\nsomeone-else,2,1,1,,1\n"
    )
    (labels / "uta4_pathologies.csv").write_text(
        "patient_id_anonymized,pathology_cc_l,pathology_us_l,pathology_us_r,pathology_mri\n"
        f"{pid},2,2,0,2\n"
    )
    report = ImportReport("dicom")
    # when the tables are applied
    apply_label_tables(project, tmp_path, report)
    # then the MRI exam and the left breast of the ultrasound exam carry the labels
    mr_label = ExamLabel.objects.get(exam=mr, source="reference")
    assert (mr_label.laterality, mr_label.birads, mr_label.pathology) == ("", "5", "malignant")
    left = ExamLabel.objects.get(exam=us, laterality="L")
    right = ExamLabel.objects.get(exam=us, laterality="R")
    assert (left.birads, left.pathology, left.attributes) == (
        "4A",
        "malignant",
        {"birads_final": "5"},
    )
    assert (right.birads, right.pathology) == ("", "normal")
    assert report.labels == 3 and report.failed == []
