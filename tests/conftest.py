"""Shared fixtures: users, projects with members in each role, API clients, real-data paths."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from senolab.projects.models import Membership, Project, Role

_counter = itertools.count(1)


@pytest.fixture
def make_user(db) -> Callable[..., object]:
    def make(username: str | None = None, *, staff: bool = False):
        name = username or f"user{next(_counter)}"
        return get_user_model().objects.create_user(
            username=name, password="test-pass-123", is_staff=staff
        )

    return make


@pytest.fixture
def make_project(db) -> Callable[..., Project]:
    def make(name: str | None = None, **members) -> Project:
        """make_project("A", owner=user, annotator=other) creates memberships too."""
        n = next(_counter)
        project = Project.objects.create(name=name or f"Project {n}", slug=f"project-{n}")
        for role, user in members.items():
            Membership.objects.create(project=project, user=user, role=Role(role))
        return project

    return make


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
