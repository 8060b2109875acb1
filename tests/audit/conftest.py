"""Two projects with an image each, users in several relations to them, and a way to see the
audit rows an action added."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from django.test import Client

from senolab.audit.models import AuditEvent
from senolab.imaging.models import Image
from senolab.projects.models import Project
from tests.factories import raster_image


@dataclass
class Clinic:
    a: Project
    b: Project
    image_a: Image
    image_b: Image
    users: dict[str, object]


@pytest.fixture
def clinic(make_user, make_project) -> Clinic:
    users = {name: make_user(name) for name in ("a_owner", "a_reviewer", "a_viewer", "b_owner")}
    users["staff"] = make_user("staff", staff=True)
    a = make_project(
        "A", owner=users["a_owner"], reviewer=users["a_reviewer"], viewer=users["a_viewer"]
    )
    b = make_project("B", owner=users["b_owner"])
    return Clinic(a, b, raster_image(a), raster_image(b, patient="q1", exam="f1"), users)


@pytest.fixture
def session_of():
    """A browser-like client logged in through a real session (force_login)."""

    def make(user) -> Client:
        client = Client()
        client.force_login(user)
        return client

    return make


class NewRows:
    """The audit rows added since the mark, as (action, object_type, object_id, project_id)."""

    def __init__(self) -> None:
        self.mark()

    def mark(self) -> None:
        last = AuditEvent.objects.order_by("-id").values_list("id", flat=True).first()
        self.last_id = last or 0

    def rows(self) -> list[AuditEvent]:
        return list(AuditEvent.objects.filter(id__gt=self.last_id).order_by("id"))

    def __call__(self) -> list[tuple[str, str, str, int | None]]:
        return [(r.action, r.object_type, r.object_id, r.project_id) for r in self.rows()]


@pytest.fixture
def new_rows(db) -> NewRows:
    return NewRows()
