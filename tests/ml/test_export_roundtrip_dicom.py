"""An export made of DICOM images, SEG and SR imports back into a new project with the same
findings; a damaged SEG refuses the whole import and stores nothing."""

from __future__ import annotations

import io
import zipfile

import pytest
from pydicom import dcmread
from pydicom.sr.codedict import codes

from annotations.models import Finding, Mark
from datasets.importers import import_dataset
from datasets.services import import_dataset_in_process
from ml.services import exports
from senolab.imaging import storage
from senolab.imaging.models import Image, Patient
from senolab.jobs.models import JobStatus
from senolab.jobs.services import run_job
from tests.ml.test_export_roundtrip import findings_by_pixels

DICOM_FORMATS = ["dicom_seg", "dicom_sr", "images_dicom"]


@pytest.fixture
def exported(export_project, tmp_path):
    """The export project (a point added to its box finding) exported as DICOM images, SEG
    and SR: (project, zip path, export row)."""
    project, image, accepted, *_ = export_project
    Mark.objects.create(finding=accepted, image=image, kind="point", geometry={"x": 3, "y": 4})
    export = exports.start_export(project, DICOM_FORMATS, enqueue=False)
    assert run_job(export.job_id, exports.run_export).status == JobStatus.SUCCEEDED
    export.refresh_from_db()
    path = tmp_path / "export.zip"
    path.write_bytes(storage.read(export.archive_key))
    return project, path, export


def _rewrite(path, name, change) -> None:
    """Replace one member of the zip at path by change(its bytes)."""
    with zipfile.ZipFile(path) as archive:
        members = {n: archive.read(n) for n in archive.namelist()}
    members[name] = change(members[name])
    with zipfile.ZipFile(path, "w") as archive:
        for n, data in members.items():
            archive.writestr(n, data)


def _stored_files(project) -> set[str]:
    """Every file under the project's storage prefix."""
    from django.core.files.storage import default_storage

    def walk(folder: str) -> set[str]:
        try:
            dirs, files = default_storage.listdir(folder)
        except FileNotFoundError:
            return set()
        found = {f"{folder}/{name}" for name in files}
        for name in dirs:
            found |= walk(f"{folder}/{name}")
        return found

    return walk(storage.project_prefix(project.pk))


def _seg_members(path) -> list[str]:
    """The SEG files of the export (one per image with a region mark)."""
    with zipfile.ZipFile(path) as archive:
        return sorted(n for n in archive.namelist() if n.startswith("dicom/seg/"))


def test_an_exported_seg_and_sr_set_imports_back_with_the_same_findings(
    exported, make_project, owner
):
    project, path, export = exported
    # Given an export with the images as DICOM, a SEG for the mask, SRs for the drawn marks
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
    assert "annotations/coco.json" not in names
    assert sum(n.startswith("dicom/sr/") for n in names) == 3
    assert len(_seg_members(path)) == 3
    # When it is imported into a new project
    target = make_project("DICOM round trip", owner=owner)
    report = import_dataset(target, "senolab-export", path, user=owner)
    # Then nothing was skipped, and the new project holds the same findings on the same pixels:
    # types, BI-RADS and pathology of the SR's findings, every box, polygon, ellipse and point
    # exactly, the mask's pixels; the SEG carries no BI-RADS or pathology
    assert report.failed == []
    assert len(report.images) == 3
    exported_ids = {f["id"] for f in export.findings}
    on_exported_images = {
        m.image_id for f in Finding.objects.filter(pk__in=exported_ids) for m in f.marks.all()
    }
    kept = findings_by_pixels(project, only_images=on_exported_images)
    expected = {
        pixels: sorted(
            (kind, "", "", marks) if marks[0][0] == "mask" else (kind, birads, pathology, marks)
            for kind, birads, pathology, marks in findings
        )
        for pixels, findings in kept.items()
    }
    assert findings_by_pixels(target) == expected
    assert report.findings == len(exported_ids) == 4
    mammogram = [f for fs in expected.values() for f in fs if f[1] == "4"]
    assert [m[0] for m in mammogram[0][3]] == ["box", "point"]


def test_the_images_are_de_identified_again_for_the_new_project(exported, make_project, owner):
    project, path, _ = exported
    target = make_project("DICOM round trip", owner=owner)
    import_dataset(target, "senolab-export", path, user=owner)
    # The exported UIDs are this project's remapped ones; the new project remaps them again
    exported_uids = set(Image.objects.filter(project=project).values_list("sop_instance_uid"))
    imported_uids = set(Image.objects.filter(project=target).values_list("sop_instance_uid"))
    assert imported_uids and not imported_uids & exported_uids
    # And the patients get this project's pseudonyms, not the exporting project's
    exported_names = set(Patient.objects.filter(project=project).values_list("pseudonym"))
    imported_names = set(Patient.objects.filter(project=target).values_list("pseudonym"))
    assert len(imported_names) == 3 and not imported_names & exported_names


def test_a_truncated_seg_refuses_the_import_and_stores_nothing(exported, make_project, owner):
    _, path, _ = exported
    name = _seg_members(path)[0]
    _rewrite(path, name, lambda data: data[: len(data) - 200])
    target = make_project("Tampered", owner=owner)
    files_before = _stored_files(target)
    # When the import runs as a Job
    job, report = import_dataset_in_process(target, "senolab-export", path, user=owner)
    # Then it fails, naming the file, and the new project holds no image, finding or file
    assert job.status == JobStatus.FAILED
    assert name in job.message and "Segmentation" in job.message
    assert report is None
    assert not Image.objects.filter(project=target).exists()
    assert not Finding.objects.filter(project=target).exists()
    assert _stored_files(target) == files_before


def test_a_seg_of_another_size_than_its_image_refuses_the_import(exported, make_project, owner):
    _, path, _ = exported
    name = _seg_members(path)[-1]

    def shrink(data: bytes) -> bytes:
        ds = dcmread(io.BytesIO(data))
        ds.Columns = ds.Columns // 2
        ds.PixelData = ds.PixelData[: len(ds.PixelData) // 2]
        buffer = io.BytesIO()
        ds.save_as(buffer)
        return buffer.getvalue()

    _rewrite(path, name, shrink)
    target = make_project("Tampered", owner=owner)
    files_before = _stored_files(target)
    job, _ = import_dataset_in_process(target, "senolab-export", path, user=owner)
    assert job.status == JobStatus.FAILED
    assert name in job.message
    assert not Image.objects.filter(project=target).exists()
    assert _stored_files(target) == files_before


def test_a_segment_of_an_unknown_type_is_skipped_and_reported(exported, make_project, owner):
    _, path, _ = exported

    def recode(data: bytes) -> bytes:
        ds = dcmread(io.BytesIO(data))
        for segment in ds.SegmentSequence:
            item = segment.SegmentedPropertyTypeCodeSequence[0]
            item.CodeValue, item.CodeMeaning = codes.SCT.Liver.value, "Liver"
        buffer = io.BytesIO()
        ds.save_as(buffer)
        return buffer.getvalue()

    for name in _seg_members(path):
        _rewrite(path, name, recode)
    target = make_project("Foreign codes", owner=owner)
    report = import_dataset(target, "senolab-export", path, user=owner)
    # The SR findings come in; each unknown segment is listed with its code, not dropped
    assert report.findings == 3
    assert report.failed and all("unknown segmented property type" in m for _, m in report.failed)
    assert any(codes.SCT.Liver.value in m for _, m in report.failed)
    assert not Mark.objects.filter(finding__project=target, kind="mask").exists()


def test_a_failure_after_the_images_are_stored_takes_them_back_with_their_files(
    exported, make_project, owner, monkeypatch
):
    from datasets.importers import dicom_annotations

    _, path, _ = exported
    target = make_project("Interrupted", owner=owner)
    files_before = _stored_files(target)
    created = []
    add_finding = dicom_annotations.add_reference_finding

    def fail_on_the_second(exam, **values):
        if created:
            raise RuntimeError("the database went away")
        created.append(add_finding(exam, **values))
        return created[-1]

    monkeypatch.setattr(dicom_annotations, "add_reference_finding", fail_on_the_second)
    # When the import fails while storing its second finding, its images already ingested
    with pytest.raises(RuntimeError):
        import_dataset(target, "senolab-export", path, user=owner)
    # Then neither the images, the first finding, nor any file of them is left
    assert len(created) == 1
    assert not Image.objects.filter(project=target).exists()
    assert not Finding.objects.filter(project=target).exists()
    assert _stored_files(target) == files_before


def test_an_export_imported_twice_adds_its_findings_once(exported, make_project, owner):
    _, path, _ = exported
    target = make_project("Twice", owner=owner)
    first = import_dataset(target, "senolab-export", path, user=owner)
    # When the same export is imported again
    second = import_dataset(target, "senolab-export", path, user=owner)
    # Then its images are duplicates, no finding is added, and the report says why
    assert first.findings == 4 and second.findings == 0
    assert second.duplicates == 3 and second.images == []
    assert second.failed == [("3 annotated images already in the project", second.failed[0][1])]
    assert Finding.objects.filter(project=target).count() == 4
