"""/api/docs/ works offline: Swagger UI from drf-spectacular-sidecar's pinned local copy, its
start-up script a file of our own, no CDN in the page or its Content-Security-Policy."""

from __future__ import annotations

import re

import pytest
from django.contrib.staticfiles import finders
from django.test import Client

pytestmark = pytest.mark.django_db


def test_api_docs_load_swagger_ui_from_local_static_files_only():
    # When the docs page is opened
    response = Client().get("/api/docs/")

    # Then every script and stylesheet it loads is ours, and each static one exists
    assert response.status_code == 200
    page = response.content.decode()
    urls = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert any("swagger-ui-bundle.js" in u for u in urls)
    for url in urls:
        assert url.startswith("/"), f"{url} is not served by Senolab"
        if url.startswith("/static/"):
            assert finders.find(url.removeprefix("/static/")), f"{url} is not a static file"
    assert "<script>" not in page, "an inline script would need 'unsafe-inline' in the CSP"


def test_api_docs_policy_allows_no_other_origin():
    csp = Client().get("/api/docs/")["Content-Security-Policy"]
    assert "http" not in csp and "unsafe-inline' https" not in csp
    assert "script-src 'self'" in csp


def test_api_docs_start_up_script_is_served():
    response = Client().get("/api/docs/?script=")
    assert response.status_code == 200
    assert "SwaggerUIBundle" in response.content.decode()


def test_every_page_links_the_favicon(owner):
    client = Client()
    assert finders.find("senolab/favicon.svg")
    admin = client.get("/admin/login/").content.decode()
    assert 'rel="icon" href="/static/senolab/favicon.svg"' in admin
    login = client.get("/login/").content.decode()
    assert 'rel="icon" href="/static/senolab/favicon.svg"' in login
    client.force_login(owner)
    assert 'rel="icon" href="/static/senolab/favicon.svg"' in client.get("/").content.decode()
    assert 'href="/static/senolab/favicon.svg"' in client.get("/api/docs/").content.decode()
