"""Fixtures of the security checks: two seeded projects and users in every relation."""

from __future__ import annotations

import pytest

# The real Redis and Celery worker fixtures, for the crash-consistency test.
from tests.integration.conftest import (  # noqa: F401
    live_celery,
    redis_url,
    start_worker,
    wait_for_job,
)
from tests.security.seed import ID_BASE, move_id_sequences, seed_project

ROLES = ("viewer", "annotator", "reviewer", "owner")


@pytest.fixture(autouse=True)
def isolated_media(tmp_path, settings):
    """A media folder of this test's own, so what other tests left behind (rolled-back rows
    leave their files) never counts as this test's leak or orphan."""
    media = tmp_path / "media"
    media.mkdir()
    settings.MEDIA_ROOT = media
    default = {**settings.STORAGES["default"], "OPTIONS": {"location": str(media)}}
    if default["BACKEND"].endswith("FileSystemStorage"):
        settings.STORAGES = {**settings.STORAGES, "default": default}
    return media


@pytest.fixture
def seeded_projects(make_user):
    """Projects A and B (B's ids in a distinctive range), A's members in every role, B's owner,
    a staff user."""
    users = {f"a_{role}": make_user(f"a-{role}") for role in ROLES}
    a = seed_project("A", "AQX", {role: users[f"a_{role}"] for role in ROLES})
    move_id_sequences(ID_BASE)
    b_owner = make_user("canary-b-owner-zv")
    b = seed_project("B", "BZV", {"owner": b_owner})
    users["b_owner"] = b_owner
    users["staff"] = make_user("staff-sam", staff=True)
    return a, b, users
