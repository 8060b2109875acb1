"""Tiny imaging fixtures for the API tests: two projects, a few raster images each, built with
the platform's own ingest helpers (pixel cache included)."""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass, field

import numpy as np
import pytest

from senolab.imaging.ingest.raster import ingest_raster
from senolab.imaging.models import Exam, Image
from senolab.projects.models import Project

_seed = itertools.count(1)


def add_image(
    project: Project,
    *,
    patient: str = "p1",
    exam: str = "e1",
    modality: str = "MG",
    laterality: str = "L",
    view: str = "CC",
    site: str = "north",
    study_date: dt.date | None = dt.date(2020, 1, 1),
    shape: tuple[int, ...] = (40, 30),
    dtype: str = "uint16",
) -> Image:
    """One image with distinct pixels (ingest refuses exact duplicates)."""
    rng = np.random.default_rng(next(_seed))
    high = 4095 if dtype == "uint16" else 255
    pixels = rng.integers(0, high, shape).astype(dtype)
    return ingest_raster(
        project,
        pixels,
        patient_key=patient,
        exam_key=exam,
        modality=modality,
        laterality=laterality,
        view=view,
        site=site,
        study_date=study_date,
    )


@dataclass
class World:
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
def world(make_user, make_project) -> World:
    users = {role: make_user(f"a_{role}") for role in ("viewer", "annotator", "owner")}
    users["b_owner"] = make_user("b_owner")
    a = make_project("A", **{r: users[r] for r in ("viewer", "annotator", "owner")})
    b = make_project("B", owner=users["b_owner"])
    image_a = add_image(a)
    image_b = add_image(b, patient="q1", exam="f1")
    return World(a, b, users, image_a.exam, image_b.exam, image_a, image_b)
