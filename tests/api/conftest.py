"""Tiny imaging fixtures for the API tests: two projects, a few raster images each, built with
the platform's own ingest helpers (pixel cache included)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from senolab.imaging.models import Exam, Image
from senolab.projects.models import Project
from tests.factories import raster_image


@dataclass
class TwoProjects:
    """Project A (with a user per role) and project B (owned by someone else)."""

    a: Project
    b: Project
    users: dict[str, object]
    exam_a: Exam
    exam_b: Exam
    image_a: Image
    image_b: Image
    extra: dict = field(default_factory=dict)


@pytest.fixture
def two_projects(make_user, make_project) -> TwoProjects:
    users = {role: make_user(f"a_{role}") for role in ("viewer", "annotator", "owner")}
    users["b_owner"] = make_user("b_owner")
    a = make_project("A", **{r: users[r] for r in ("viewer", "annotator", "owner")})
    b = make_project("B", owner=users["b_owner"])
    image_a = raster_image(a, site="north")
    image_b = raster_image(b, patient="q1", exam="f1", site="north")
    return TwoProjects(a, b, users, image_a.exam, image_b.exam, image_a, image_b)
