"""Shared fixtures: users, projects with members in each role, API clients, real-data paths."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from senolab.projects.models import Project
from tests.factories import create_project, create_user


@pytest.fixture(autouse=True)
def _fresh_tile_caches() -> None:
    """Each test starts with no cached slide grants or tiles (they outlive a rolled-back row)."""
    from django.core.cache import caches

    from senolab.imaging import tiles

    tiles.forget()
    caches["tiles"].clear()


@pytest.fixture
def make_user(db) -> Callable[..., object]:
    return create_user


@pytest.fixture
def make_project(db) -> Callable[..., Project]:
    return create_project


@pytest.fixture
def owner(make_user):
    return make_user("owner")


@pytest.fixture
def project(make_project, owner) -> Project:
    return make_project("Project A", owner=owner)


@pytest.fixture
def client_for() -> Callable[[object], APIClient]:
    def make(user) -> APIClient:
        client = APIClient()
        if user is not None:
            client.force_authenticate(user)
        return client

    return make


@pytest.fixture
def shared_data() -> Path:
    """The real data sets; tests that use this skip, with the reason, when they are absent."""
    path = Path(settings.SHARED_DATA_DIR)
    if not path.is_dir():
        pytest.skip(f"real data not present at {path} (set SENOLAB_SHARED_DATA)")
    return path
