"""GET /api/ lists every top-level resource, found in the URL configuration."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient


@pytest.mark.django_db
def test_api_root_links_every_top_level_resource_for_a_signed_in_user(make_user):
    # Given a signed-in user
    client = APIClient()
    client.force_authenticate(make_user())
    # When they open /api/
    response = client.get("/api/")
    # Then every top-level collection is linked, with the schema and its docs
    assert response.status_code == 200
    links = response.json()
    expected = {"projects", "exams", "images", "slides", "jobs", "findings", "worklist"}
    assert expected <= set(links), sorted(links)
    assert links["schema"].endswith("/api/schema/") and links["docs"].endswith("/api/docs/")
    assert all("/api/" in url and "<" not in url and "(?P" not in url for url in links.values())
    # And each link answers (no link to a route that needs a parameter)
    assert all(client.get(url).status_code < 500 for url in links.values())


@pytest.mark.django_db
def test_api_root_is_not_public():
    assert APIClient().get("/api/").status_code in (401, 403)
