"""Workspace pages: log-in required, per-project 404s, the Vite entry from the manifest with
the page's ids and CSRF token, or a clear message when the frontend is not built."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np
import pytest
from django.test import Client

from senolab.imaging.ingest.raster import ingest_raster
from senolab.imaging.models import Slide

pytestmark = pytest.mark.django_db

MANIFEST = {
    "src/main.ts": {
        "file": "assets/main-abc123.js",
        "src": "src/main.ts",
        "isEntry": True,
        "css": ["assets/main-def456.css"],
        "imports": ["_vendor-789.js"],
    },
    "_vendor-789.js": {"file": "assets/vendor-789.js", "css": ["assets/vendor-000.css"]},
}


@pytest.fixture
def built(tmp_path: Path, settings) -> Path:
    """A frontend build: only its manifest matters to the pages."""
    (tmp_path / ".vite").mkdir()
    (tmp_path / ".vite" / "manifest.json").write_text(json.dumps(MANIFEST))
    settings.FRONTEND_DIST = tmp_path
    return tmp_path


@pytest.fixture
def not_built(tmp_path: Path, settings) -> Path:
    settings.FRONTEND_DIST = tmp_path / "absent"
    return tmp_path


@pytest.fixture
def exam(project):
    image = ingest_raster(
        project,
        np.arange(64, dtype=np.uint8).reshape(8, 8),
        patient_key="p",
        exam_key="e",
        modality="MG",
        laterality="R",
        view="CC",
    )
    return image.exam


def _signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _config(response) -> dict:
    match = re.search(
        r'<script id="senolab-config" type="application/json">(.*?)</script>',
        response.content.decode(),
        re.S,
    )
    assert match, "the page carries no senolab-config"
    return json.loads(match.group(1))


@pytest.mark.parametrize("path", ["/", "/exams/1/", "/slides/1/"])
def test_pages_send_anonymous_users_to_the_login_page(path):
    response = Client().get(path)
    assert response.status_code == 302
    assert response["Location"].startswith(f"/login/?next={path}")


def test_login_page_signs_a_user_in_and_returns_to_the_page_asked_for(owner):
    client = Client(enforce_csrf_checks=True)
    page = client.get("/login/?next=/exams/1/")
    assert page.status_code == 200 and b'name="password"' in page.content
    token = client.cookies["csrftoken"].value
    response = client.post(
        "/login/",
        {
            "username": "owner",
            "password": "test-pass-123",
            "next": "/exams/1/",
            "csrfmiddlewaretoken": token,
        },
    )
    assert response.status_code == 302 and response["Location"] == "/exams/1/"
    wrong = Client().post("/login/", {"username": "owner", "password": "nope"})
    assert wrong.status_code == 200 and b"errorlist" in wrong.content


def test_exam_page_loads_the_vite_entry_with_ids_and_csrf_token(built, owner, project, exam):
    # When the owner opens the exam page of a built frontend
    response = _signed_in(owner).get(f"/exams/{exam.pk}/")
    # Then the page loads the entry, its CSS and its chunks' CSS from the manifest
    html = response.content.decode()
    assert response.status_code == 200
    assert '<script type="module" src="/static/assets/main-abc123.js"></script>' in html
    assert 'href="/static/assets/main-def456.css"' in html
    assert 'href="/static/assets/vendor-000.css"' in html
    assert 'rel="modulepreload" href="/static/assets/vendor-789.js"' in html
    assert "frontend-missing" not in html
    # And hands the app its ids, the API base and a CSRF token
    config = _config(response)
    assert (config["page"], config["examId"], config["projectId"]) == ("exam", exam.pk, project.pk)
    assert config["apiBase"] == "/api/" and len(config["csrfToken"]) >= 32
    assert config["projects"] == [{"id": project.pk, "name": project.name, "role": "owner"}]


def test_pages_say_how_to_build_the_frontend_when_it_is_missing(not_built, owner, exam):
    response = _signed_in(owner).get(f"/exams/{exam.pk}/")
    html = response.content.decode()
    assert response.status_code == 200
    assert "Frontend not built: run <code>make</code>" in html
    assert 'type="module"' not in html
    assert _config(response)["examId"] == exam.pk


def test_worklist_page_picks_the_users_project(built, make_user, make_project):
    reader = make_user()
    first, second = make_project("A", annotator=reader), make_project("B", viewer=reader)
    client = _signed_in(reader)
    assert _config(client.get("/"))["projectId"] == first.pk
    assert _config(client.get(f"/?project={second.pk}"))["projectId"] == second.pk
    assert client.get("/?project=999999").status_code == 404


def test_exam_and_slide_of_another_project_are_404(built, make_user, project, exam):
    outsider = _signed_in(make_user())
    slide = Slide.objects.create(
        project=project,
        exam=exam,
        format="tiff",
        width=10,
        height=10,
        storage_key="k",
        sha256="0" * 64,
        source_sha256="1" * 64,
    )
    assert outsider.get(f"/exams/{exam.pk}/").status_code == 404
    assert outsider.get(f"/slides/{slide.pk}/").status_code == 404


def test_slide_page_carries_slide_and_exam_ids(built, owner, project, exam):
    slide = Slide.objects.create(
        project=project,
        exam=exam,
        format="tiff",
        width=10,
        height=10,
        storage_key="k",
        sha256="0" * 64,
        source_sha256="1" * 64,
    )
    config = _config(_signed_in(owner).get(f"/slides/{slide.pk}/"))
    assert (config["page"], config["slideId"], config["examId"]) == ("slide", slide.pk, exam.pk)


def test_rebuilding_the_frontend_is_picked_up_without_a_restart(built, owner, exam):
    client = _signed_in(owner)
    assert "main-abc123.js" in client.get(f"/exams/{exam.pk}/").content.decode()
    manifest = dict(MANIFEST, **{"src/main.ts": {"file": "assets/main-new.js"}})
    path = built / ".vite" / "manifest.json"
    path.write_text(json.dumps(manifest))
    os.utime(path, (path.stat().st_atime, path.stat().st_mtime + 5))
    assert "main-new.js" in client.get(f"/exams/{exam.pk}/").content.decode()


def test_session_writes_to_the_api_need_the_pages_csrf_token(built, owner, project, exam):
    # Given a signed-in browser session that opened a page (and so holds the CSRF cookie)
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)
    token = _config(client.get(f"/exams/{exam.pk}/"))["csrfToken"]
    body = {"exam": exam.pk, "finding_type": "mass"}
    # When it writes without and with the token the page handed out
    refused = client.post("/api/findings/", body, content_type="application/json")
    accepted = client.post(
        "/api/findings/", body, content_type="application/json", headers={"X-CSRFToken": token}
    )
    # Then only the write carrying the token is accepted
    assert refused.status_code == 403 and "CSRF" in refused.json()["error"]["message"]
    assert accepted.status_code == 201


def test_projects_page_carries_the_chosen_project_and_whether_the_user_is_staff(
    built, make_user, make_project
):
    # Given a member of two projects and a staff user
    reader, staff = make_user(), make_user(staff=True)
    make_project("A", owner=reader)
    second = make_project("B", viewer=reader)

    # When they open the projects page
    config = _config(_signed_in(reader).get(f"/projects/?project={second.pk}"))

    # Then the page is the projects page on the chosen project; only staff get the admin link
    assert (config["page"], config["projectId"]) == ("projects", second.pk)
    assert config["user"]["isStaff"] is False
    assert _config(_signed_in(staff).get("/projects/"))["user"]["isStaff"] is True
    assert Client().get("/projects/").status_code == 302


def test_sign_out_is_a_post_that_ends_the_session(owner):
    client = _signed_in(owner)
    assert client.post("/logout/").status_code == 302
    assert client.get("/").status_code == 302  # back to the log-in page
