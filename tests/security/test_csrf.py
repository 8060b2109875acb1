"""Session-authenticated writes need the CSRF token, on every API operation that writes."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.security.matrix import fill_path
from tests.security.operations import api_operations

WRITES = ("POST", "PUT", "PATCH", "DELETE")


@pytest.mark.django_db
def test_every_session_write_without_a_csrf_token_is_refused(seeded_projects):
    # Given the owner of project A logged in with a session cookie (as the browser is)
    a, _, users = seeded_projects
    client = Client(enforce_csrf_checks=True)
    client.force_login(users["a_owner"])
    writes = [op for op in api_operations() if op.method in WRITES]
    assert writes, "no write operations found"
    # When a page of another site makes them write without the token
    answered = {}
    for op in writes:
        path, _ = fill_path(op, a)
        response = getattr(client, op.method.lower())(path, "{}", content_type="application/json")
        answered[str(op)] = response.status_code
    # Then every write is refused with 403
    assert {op: s for op, s in answered.items() if s != 403} == {}


@pytest.mark.django_db
def test_session_write_with_the_csrf_token_is_let_through(seeded_projects):
    a, _, users = seeded_projects
    client = Client(enforce_csrf_checks=True)
    client.force_login(users["a_owner"])
    client.get("/accounts/login/")  # sets the csrftoken cookie, as any page does
    token = client.cookies["csrftoken"].value
    job = next(o for m, o in a.objects.items() if m.__name__ == "Job")
    response = client.post(f"/api/jobs/{job.pk}/cancel/", HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 200
