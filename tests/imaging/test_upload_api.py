"""POST /api/projects/{id}/uploads/: files or zips in, an ingest Job out; bad input refused
with a message and nothing stored."""

from __future__ import annotations

import io
import json
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from pydicom.encaps import encapsulate

from senolab.imaging.models import Image
from senolab.jobs.models import Job
from tests.factories.dicom import dicom_bytes, make_dicom
from tests.imaging.ingest_helpers import media, row_counts, stored_files

pytestmark = pytest.mark.django_db
__all__ = ["media"]


def dicom_upload(name: str = "FACTORYSMITH^JANE.dcm", **overrides) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, dicom_bytes(**overrides), "application/dicom")


@pytest.fixture
def upload_clients(make_user, make_project, client_for):
    annotator, viewer, outsider = make_user(), make_user(), make_user()
    project = make_project(owner=make_user(), annotator=annotator, viewer=viewer)
    make_project(owner=outsider)
    return project, client_for(annotator), client_for(viewer), client_for(outsider)


def post(client, project_id, files, capture) -> object:
    with capture(execute=True):
        return client.post(
            f"/api/projects/{project_id}/uploads/", {"file": files}, format="multipart"
        )


def test_upload_of_dicom_files_starts_a_job_that_ingests_them(
    upload_clients, media, django_capture_on_commit_callbacks
):
    project, annotator, _, _ = upload_clients
    # when an annotator uploads two mammograms
    response = post(
        annotator,
        project.pk,
        [dicom_upload(seed=1), dicom_upload(seed=2, view="MLO")],
        django_capture_on_commit_callbacks,
    )
    # then a Job answers (202), and it ingested both
    assert response.status_code == 202, response.content
    job = Job.objects.get(pk=response.json()["id"])
    assert (job.kind, job.status, job.project_id) == ("ingest", "succeeded", project.pk)
    assert job.result["image_count"] == 2 and job.result["failed"] == []
    assert set(Image.objects.filter(project=project).values_list("view", flat=True)) == {
        "CC",
        "MLO",
    }
    # and the staged upload is gone, and no client file name was kept anywhere
    assert not list((media / "incoming").rglob("*"))
    assert "FACTORYSMITH" not in json.dumps(job.params) + json.dumps(job.result)


def test_zip_upload_is_expanded_and_its_bad_members_listed(
    upload_clients, media, django_capture_on_commit_callbacks
):
    project, annotator, _, _ = upload_clients
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("study/a.dcm", dicom_bytes(seed=3))
        zf.writestr("study/b.dcm", dicom_bytes(seed=4))
        zf.writestr("study/c.dcm", b"not a dicom file at all")
    upload = SimpleUploadedFile("folder.zip", buf.getvalue(), "application/zip")
    response = post(annotator, project.pk, [upload], django_capture_on_commit_callbacks)
    assert response.status_code == 202
    job = Job.objects.get(pk=response.json()["id"])
    assert job.status == "succeeded" and job.result["image_count"] == 2
    assert [f["item"] for f in job.result["failed"]] == ["upload file 1, file 3"]
    assert "not a DICOM" in job.result["failed"][0]["message"]


def test_a_bad_file_beside_good_ones_is_listed_as_failed_and_the_others_go_in(
    upload_clients, media, django_capture_on_commit_callbacks
):
    project, annotator, _, _ = upload_clients
    bad = SimpleUploadedFile("x.dcm", b"\x00" * 300, "application/dicom")
    response = post(
        annotator, project.pk, [dicom_upload(seed=5), bad], django_capture_on_commit_callbacks
    )
    assert response.status_code == 202
    job = Job.objects.get(pk=response.json()["id"])
    assert job.result["image_count"] == 1
    assert job.result["failed"][0]["item"] == "upload file 2"


@pytest.mark.parametrize(
    "data, message",
    [
        (dicom_bytes(seed=6)[:-200], "truncated"),
        (dicom_bytes(seed=7, PixelData=None), "no pixel data"),
        (b"%PDF-1.4 a report", "neither a DICOM file"),
        (b"", "empty"),
    ],
    ids=["truncated", "no pixel data", "not dicom", "empty"],
)
def test_upload_of_a_single_bad_file_is_400_and_stores_nothing(
    upload_clients, media, django_capture_on_commit_callbacks, data, message
):
    project, annotator, _, _ = upload_clients
    response = post(
        annotator,
        project.pk,
        [SimpleUploadedFile("s.dcm", data)],
        django_capture_on_commit_callbacks,
    )
    assert response.status_code == 400
    assert message in response.json()["error"]["message"]
    assert row_counts(project) == (0, 0, 0, 0) and stored_files(media) == []
    assert not Job.objects.filter(project=project).exists()


def test_upload_in_a_transfer_syntax_without_decoder_is_refused_naming_it(
    upload_clients, media, django_capture_on_commit_callbacks
):
    project, annotator, _, _ = upload_clients
    ds = make_dicom(seed=8)
    ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.4.106"
    ds.PixelData = encapsulate([ds.PixelData])
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    response = post(
        annotator,
        project.pk,
        [SimpleUploadedFile("j.dcm", buf.getvalue())],
        django_capture_on_commit_callbacks,
    )
    assert response.status_code == 400
    assert "1.2.840.10008.1.2.4.106" in response.json()["error"]["message"]
    assert stored_files(media) == []


def test_undecodable_pixels_fail_the_job_naming_the_transfer_syntax_and_store_nothing(
    upload_clients, media, django_capture_on_commit_callbacks
):
    project, annotator, _, _ = upload_clients
    ds = make_dicom(seed=9, transfer_syntax="1.2.840.10008.1.2.4.90")
    ds.PixelData = encapsulate([b"\xff\x4f\xff\x51" + bytes(80)])
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    response = post(
        annotator,
        project.pk,
        [SimpleUploadedFile("k.dcm", buf.getvalue())],
        django_capture_on_commit_callbacks,
    )
    assert response.status_code == 202
    job = Job.objects.get(pk=response.json()["id"])
    assert job.status == "failed" and "JPEG 2000" in job.message
    assert "1.2.840.10008.1.2.4.90" in job.result["failed"][0]["message"]
    assert row_counts(project) == (0, 0, 0, 0) and stored_files(media) == []


def test_oversize_upload_is_413(
    upload_clients, media, settings, django_capture_on_commit_callbacks
):
    project, annotator, _, _ = upload_clients
    settings.SENOLAB_MAX_UPLOAD_BYTES = 2000
    response = post(
        annotator, project.pk, [dicom_upload(seed=10)], django_capture_on_commit_callbacks
    )
    assert response.status_code == 413
    assert "larger than" in response.json()["error"]["message"]
    assert stored_files(media) == []


def test_archive_expanding_past_the_limit_is_413(
    upload_clients, media, settings, django_capture_on_commit_callbacks
):
    project, annotator, _, _ = upload_clients
    settings.SENOLAB_MAX_ARCHIVE_EXPANDED_BYTES = 3000
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("a.dcm", dicom_bytes(seed=11))
    response = post(
        annotator,
        project.pk,
        [SimpleUploadedFile("a.zip", buf.getvalue())],
        django_capture_on_commit_callbacks,
    )
    assert response.status_code == 413
    assert "expand past" in response.json()["error"]["message"]


def test_unknown_or_foreign_project_is_404_and_viewers_get_403(
    upload_clients, media, django_capture_on_commit_callbacks
):
    project, annotator, viewer, outsider = upload_clients
    capture = django_capture_on_commit_callbacks
    assert post(annotator, 999999, [dicom_upload(seed=12)], capture).status_code == 404
    assert post(outsider, project.pk, [dicom_upload(seed=12)], capture).status_code == 404
    assert post(viewer, project.pk, [dicom_upload(seed=12)], capture).status_code == 403
    assert stored_files(media) == []


def test_upload_without_files_or_as_json_is_refused(upload_clients, media):
    project, annotator, _, _ = upload_clients
    url = f"/api/projects/{project.pk}/uploads/"
    empty = annotator.post(url, {}, format="multipart")
    assert empty.status_code == 400 and "Attach" in empty.json()["error"]["message"]
    assert annotator.post(url, {"file": "x"}, format="json").status_code == 415
