"""Each audited action leaves exactly its row: views (once per log-in session), downloads,
pseudonym-map reads, membership changes, log-ins and failed log-ins, model activations."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tifffile
from django.test import Client

from annotations.models import Mark, MarkKind
from ml.models import ModelVersion
from senolab.audit import services
from senolab.audit.models import AuditAction, AuditEvent
from senolab.imaging.ingest.slides import ingest_slide
from senolab.projects.models import Membership
from tests.factories import PASSWORD, mask_png_base64

pytestmark = pytest.mark.django_db

A = AuditAction


def test_viewing_an_exam_twice_in_one_session_leaves_one_row(clinic, session_of, new_rows):
    # Given a viewer logged in through a session
    client = session_of(clinic.users["a_viewer"])
    exam = clinic.image_a.exam
    new_rows.mark()
    # When they open the exam twice (and its priors, which read the same exam)
    for path in ("", "", "priors/"):
        assert client.get(f"/api/exams/{exam.pk}/{path}").status_code == 200
    # Then one row records the view, with who, where from and the project
    assert new_rows() == [(A.EXAM_VIEWED, "exam", str(exam.pk), clinic.a.pk)]
    row = new_rows.rows()[0]
    assert (row.actor_id, row.actor_name, row.ip) == (
        clinic.users["a_viewer"].pk,
        "a_viewer",
        "127.0.0.1",
    )


def test_a_new_log_in_session_logs_the_view_again(clinic, session_of, new_rows):
    exam = clinic.image_a.exam
    session_of(clinic.users["a_viewer"]).get(f"/api/exams/{exam.pk}/")
    new_rows.mark()
    # When the same user views the exam from a second log-in
    session_of(clinic.users["a_viewer"]).get(f"/api/exams/{exam.pk}/")
    # Then that log-in has its own view row (besides its log-in row)
    assert [r for r in new_rows() if r[0] != A.LOGIN] == [
        (A.EXAM_VIEWED, "exam", str(exam.pk), clinic.a.pk)
    ]


def test_image_pixels_and_png_are_one_image_view_per_session(clinic, session_of, new_rows):
    client = session_of(clinic.users["a_viewer"])
    image = clinic.image_a
    new_rows.mark()
    for path in ("pixels", "render.png", "pixels"):
        assert client.get(f"/api/images/{image.pk}/{path}").status_code == 200
    assert new_rows() == [(A.IMAGE_VIEWED, "image", str(image.pk), clinic.a.pk)]


def test_opening_a_slide_is_one_slide_view(clinic, session_of, new_rows, tmp_path):
    # Given a small pyramidal slide in project A
    rgb = np.zeros((300, 400, 3), np.uint8)
    with tifffile.TiffWriter(tmp_path / "s.tif") as tw:
        tw.write(rgb, tile=(256, 256), photometric="rgb")
    slide = ingest_slide(clinic.a, tmp_path / "s.tif", patient_key="p1", exam_key="e1")
    client = session_of(clinic.users["a_viewer"])
    new_rows.mark()
    # When the viewer opens it twice
    for _ in range(2):
        assert client.get(f"/api/slides/{slide.pk}/dzi.xml").status_code == 200
    # Then one row
    assert new_rows() == [(A.SLIDE_VIEWED, "slide", str(slide.pk), clinic.a.pk)]


def test_downloading_a_dicom_file_leaves_one_download_row(clinic, client_for, new_rows):
    response = client_for(clinic.users["a_viewer"]).get(f"/api/images/{clinic.image_a.pk}/dicom")
    assert response.status_code == 200
    assert new_rows() == [(A.DICOM_DOWNLOADED, "image", str(clinic.image_a.pk), clinic.a.pk)]


def test_every_dicom_download_is_logged_not_only_the_first(clinic, session_of, new_rows):
    client = session_of(clinic.users["a_viewer"])
    new_rows.mark()
    for _ in range(2):
        assert client.get(f"/api/images/{clinic.image_a.pk}/dicom").status_code == 200
    assert [r[0] for r in new_rows()] == [A.DICOM_DOWNLOADED, A.DICOM_DOWNLOADED]


def test_a_refused_download_leaves_no_row(clinic, client_for, new_rows):
    response = client_for(clinic.users["a_viewer"]).get(f"/api/images/{clinic.image_b.pk}/dicom")
    assert response.status_code == 404
    assert new_rows() == []


def test_downloading_a_mask_leaves_one_row(clinic, client_for, new_rows):
    # Given a finding with a mask mark, saved by the owner
    owner = client_for(clinic.users["a_owner"])
    body = {
        "exam": clinic.image_a.exam_id,
        "finding_type": "mass",
        "laterality": "L",
        "marks": [
            {
                "image": clinic.image_a.pk,
                "kind": "mask",
                "geometry": {"x": 1, "y": 1},
                "mask_png_base64": mask_png_base64(np.ones((3, 4), bool)),
            }
        ],
    }
    assert owner.post("/api/findings/", body, format="json").status_code == 201, "setup"
    mark = Mark.objects.get(kind=MarkKind.MASK)
    new_rows.mark()
    # When a viewer downloads the mask
    response = client_for(clinic.users["a_viewer"]).get(f"/api/marks/{mark.pk}/mask.png")
    # Then one row names the mark, its project and its finding
    assert response.status_code == 200
    assert new_rows() == [(A.MASK_DOWNLOADED, "mark", str(mark.pk), clinic.a.pk)]
    assert new_rows.rows()[0].detail == {"finding": mark.finding_id}


def test_reading_the_pseudonym_map_leaves_one_row(clinic, client_for, new_rows):
    response = client_for(clinic.users["a_owner"]).get(f"/api/projects/{clinic.a.pk}/pseudonyms/")
    assert response.status_code == 200
    assert new_rows() == [(A.PSEUDONYM_MAP_READ, "pseudonym_map", str(clinic.a.pk), clinic.a.pk)]


def test_a_refused_pseudonym_map_read_leaves_no_row(clinic, client_for, new_rows):
    response = client_for(clinic.users["a_viewer"]).get(f"/api/projects/{clinic.a.pk}/pseudonyms/")
    assert response.status_code == 403
    assert new_rows() == []


def test_adding_a_member_changing_the_role_and_removing_leave_a_row_each(
    clinic, client_for, make_user, new_rows
):
    owner = client_for(clinic.users["a_owner"])
    newcomer = make_user("newcomer")
    members = f"/api/projects/{clinic.a.pk}/members/"
    # When the owner adds a member as viewer
    added = owner.post(members, {"username": "newcomer", "role": "viewer"}, format="json")
    assert added.status_code == 201, added.content
    membership = Membership.objects.get(user=newcomer)
    mid = str(membership.pk)
    assert new_rows() == [(A.MEMBER_ADDED, "membership", mid, clinic.a.pk)]
    assert new_rows.rows()[0].detail == {"user": newcomer.pk, "role": "viewer"}
    # And makes them an annotator, then saves the same role again (no change, no row)
    new_rows.mark()
    for _ in range(2):
        changed = owner.patch(f"{members}{mid}/", {"role": "annotator"}, format="json")
        assert changed.status_code == 200, changed.content
    assert new_rows() == [(A.MEMBER_ROLE_CHANGED, "membership", mid, clinic.a.pk)]
    assert new_rows.rows()[0].detail == {"user": newcomer.pk, "from": "viewer", "to": "annotator"}
    # And removes them
    new_rows.mark()
    assert owner.delete(f"{members}{mid}/").status_code == 204
    assert new_rows() == [(A.MEMBER_REMOVED, "membership", mid, clinic.a.pk)]
    assert new_rows.rows()[0].detail == {"user": newcomer.pk, "role": "annotator"}
    assert new_rows.rows()[0].actor_id == clinic.users["a_owner"].pk


def test_log_in_and_failed_log_in_leave_a_row_each_and_no_password(clinic, new_rows):
    client = Client()
    # When someone fails to log in, then logs in
    failed = client.post("/login/", {"username": "a_viewer", "password": "wrong-secret-77"})
    assert failed.status_code == 200  # the form again
    ok = client.post("/login/", {"username": "a_viewer", "password": PASSWORD})
    assert ok.status_code == 302
    # Then one failed row with the name tried, and one log-in row of the user
    assert new_rows() == [(A.LOGIN_FAILED, "", "", None), (A.LOGIN, "", "", None)]
    failed_row, login_row = new_rows.rows()
    assert failed_row.actor_id is None and failed_row.detail == {"username": "a_viewer"}
    assert login_row.actor_id == clinic.users["a_viewer"].pk and login_row.ip == "127.0.0.1"
    # And no row holds either password, masked or not
    stored = json.dumps(list(AuditEvent.objects.values()), default=str)
    assert "wrong-secret-77" not in stored and PASSWORD not in stored
    assert "****" not in stored


def test_an_api_token_is_a_log_in_and_a_wrong_password_a_failed_one(clinic, new_rows):
    client = Client()
    bad = client.post("/api/auth/token/", {"username": "a_owner", "password": "nope-nope-1"})
    good = client.post("/api/auth/token/", {"username": "a_owner", "password": PASSWORD})
    assert (bad.status_code, good.status_code) == (401, 200)
    assert [r[0] for r in new_rows()] == [A.LOGIN_FAILED, A.LOGIN]
    assert new_rows.rows()[1].detail == {"via": "token"}


def test_activating_a_model_version_leaves_one_row(clinic, client_for, new_rows):
    version = ModelVersion.objects.create(
        project=clinic.a,
        task="classification",
        label="malignant",
        recipe="tiny",
        snapshot_hash="0" * 64,
        artifact_key="unused",
        artifact_sha256="0" * 64,
    )
    new_rows.mark()
    response = client_for(clinic.users["a_reviewer"]).post(
        f"/api/model-versions/{version.pk}/activate/"
    )
    assert response.status_code == 200
    assert new_rows() == [(A.MODEL_ACTIVATED, "modelversion", str(version.pk), clinic.a.pk)]


def test_export_download_service_records_the_export_of_its_project(clinic, rf, new_rows):
    # The export feature does not exist yet; this is the call it will make
    request = rf.get("/")
    request.user = clinic.users["a_owner"]
    services.record_export_download(request, clinic.a, "exp-7", format="csv")
    assert new_rows() == [(A.EXPORT_DOWNLOADED, "export", "exp-7", clinic.a.pk)]
    assert new_rows.rows()[0].detail == {"format": "csv"}


def test_a_detail_too_large_to_be_a_few_ids_is_refused(clinic, new_rows):
    with pytest.raises(ValueError):
        services.record(A.LOGIN, detail={"blob": "x" * 5000})
    assert new_rows() == []


def test_creating_a_project_records_its_creator_as_the_first_owner(clinic, client_for, new_rows):
    response = client_for(clinic.users["a_viewer"]).post(
        "/api/projects/", {"name": "New study", "slug": "new-study"}, format="json"
    )
    assert response.status_code == 201, response.content
    membership = Membership.objects.get(project_id=response.json()["id"])
    assert new_rows() == [(A.MEMBER_ADDED, "membership", str(membership.pk), response.json()["id"])]
    assert new_rows.rows()[0].detail == {"user": clinic.users["a_viewer"].pk, "role": "owner"}
