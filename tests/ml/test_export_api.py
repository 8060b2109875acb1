"""/api/dataset-exports/: create (a Job), follow, download, read by pages; roles; audit rows;
clear 400s for bad formats and filters."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile

import pytest

from ml.models import DatasetExport
from senolab.audit.models import AuditAction, AuditEvent
from senolab.projects.models import Membership, Role


@pytest.fixture
def team(export_project, make_user):
    project = export_project[0]
    users = {}
    for role in (Role.VIEWER, Role.REVIEWER):
        users[role] = make_user(f"export-{role}")
        Membership.objects.create(project=project, user=users[role], role=role)
    return project, users


def create(client, project, django_capture_on_commit_callbacks, **body):
    with django_capture_on_commit_callbacks(execute=True):
        return client.post(
            "/api/dataset-exports/",
            {"project": project.pk, **body},
            format="json",
        )


def test_a_reviewer_exports_follows_and_downloads(
    team, client_for, django_capture_on_commit_callbacks
):
    project, users = team
    client = client_for(users[Role.REVIEWER])
    # When a reviewer asks for COCO and CSV of the mammograms
    response = create(
        client,
        project,
        django_capture_on_commit_callbacks,
        formats=["coco", "csv"],
        modality="MG",
        label_status="labelled",
    )
    assert response.status_code == 202, response.content
    export_id = response.json()["id"]
    assert response.json()["job"]["kind"] == "export"
    # Then the export (run eagerly here) is done, with its counts and hashes
    detail = client.get(f"/api/dataset-exports/{export_id}/").json()
    assert detail["status"] == "succeeded", detail
    assert detail["counts"]["images"] == 1
    assert len(detail["content_hash"]) == 64
    assert {f["source"] for f in detail["findings"]} == {"human"}
    # And the download streams the zip whose sha256 is recorded
    download = client.get(f"/api/dataset-exports/{export_id}/download/")
    assert download.status_code == 200
    body = b"".join(download.streaming_content)
    assert hashlib.sha256(body).hexdigest() == detail["archive_sha256"]
    assert download["X-Content-SHA256"] == detail["archive_sha256"]
    names = zipfile.ZipFile(io.BytesIO(body)).namelist()
    assert "annotations/coco.json" in names and "labels/exams.csv" in names
    # And the creation and the download are rows of the access audit log
    actions = list(
        AuditEvent.objects.filter(object_type="export", object_id=str(export_id))
        .order_by("at", "id")
        .values_list("action", "actor_name")
    )
    assert actions == [
        (AuditAction.EXPORT_CREATED, "export-reviewer"),
        (AuditAction.EXPORT_DOWNLOADED, "export-reviewer"),
    ]
    # And the list shows it
    listed = client.get("/api/dataset-exports/", {"project": project.pk}).json()
    assert [e["id"] for e in listed["results"]] == [export_id]


def test_the_records_come_page_by_page(team, client_for, django_capture_on_commit_callbacks):
    project, users = team
    client = client_for(users[Role.REVIEWER])
    export_id = create(
        client, project, django_capture_on_commit_callbacks, formats=["coco"]
    ).json()["id"]
    first = client.get(f"/api/dataset-exports/{export_id}/records/", {"limit": 2}).json()
    assert first["next_offset"] == 2 and len(first["records"]) == 2
    rest = client.get(
        f"/api/dataset-exports/{export_id}/records/", {"offset": 2, "limit": 2}
    ).json()
    assert rest["next_offset"] is None and len(rest["records"]) == 1
    keys = {r["image"]["key"] for r in first["records"] + rest["records"]}
    assert len(keys) == 3
    bad = client.get(f"/api/dataset-exports/{export_id}/records/", {"limit": 0})
    assert bad.status_code == 400
    assert "between 1 and 200" in json.dumps(bad.json())


def test_viewers_follow_but_neither_export_nor_download(
    team, client_for, django_capture_on_commit_callbacks
):
    project, users = team
    reviewer, viewer = client_for(users[Role.REVIEWER]), client_for(users[Role.VIEWER])
    export_id = create(
        reviewer, project, django_capture_on_commit_callbacks, formats=["csv"]
    ).json()["id"]
    seen = viewer.get(f"/api/dataset-exports/{export_id}/")
    assert seen.status_code == 200 and seen.json()["status"] == "succeeded"
    assert seen.json()["findings"] is None  # which findings (reference ones too): reviewers only
    assert viewer.get(f"/api/dataset-exports/{export_id}/download/").status_code == 403
    assert viewer.get(f"/api/dataset-exports/{export_id}/records/").status_code == 403
    refused = create(viewer, project, django_capture_on_commit_callbacks, formats=["csv"])
    assert refused.status_code == 403
    assert DatasetExport.objects.count() == 1


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"formats": ["coco", "xml"]}, "formats", "Unknown format 'xml'; formats are coco, csv"),
        ({"formats": []}, "formats", "Ask for at least one of coco, csv"),
        ({"formats": ["coco"], "label_status": "maybe"}, "label_status", "not a valid choice"),
        (
            {"formats": ["coco"], "date_from": "2021-01-01", "date_to": "2020-01-01"},
            "date_to",
            "date_to is before date_from",
        ),
        ({"formats": ["coco"], "date_from": "yesterday"}, "date_from", "Date has wrong format"),
        ({"formats": ["coco"], "readers": ["stranger"]}, "readers", "'stranger' is not a member"),
        (
            {"formats": ["coco"], "ground_truth": "reader"},
            "ground_truth_reader",
            "Name the reader whose reads are the ground truth",
        ),
        (
            {"formats": ["coco"], "ground_truth": "reader", "ground_truth_reader": "stranger"},
            "ground_truth_reader",
            "'stranger' is not a member of this project",
        ),
    ],
)
def test_bad_requests_are_400s_naming_the_field(
    team, client_for, django_capture_on_commit_callbacks, body, field, words
):
    project, users = team
    response = create(
        client_for(users[Role.REVIEWER]), project, django_capture_on_commit_callbacks, **body
    )
    assert response.status_code == 400
    text = json.dumps(response.json())
    assert field in text and words in text, text
    assert not DatasetExport.objects.exists()


def test_an_unfinished_export_is_not_downloadable(team, client_for):
    from ml.services import exports

    project, users = team
    export = exports.start_export(project, ["coco"], enqueue=False)
    response = client_for(users[Role.REVIEWER]).get(f"/api/dataset-exports/{export.pk}/download/")
    assert response.status_code == 400
    assert "not finished" in json.dumps(response.json())
