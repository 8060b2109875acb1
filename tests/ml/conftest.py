"""Tiny synthetic annotated projects: 32x32 images in real pixel caches, reference labels
(built by tests.factories.case_project)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from ml.models import ModelVersion, Prediction
from senolab.imaging.models import Exam, Image
from senolab.projects.models import Membership, Project, Role
from tests.factories import case_project, create_user
from tests.ml.exportcase import export_project  # noqa: F401 (a fixture of the export tests)

# The malignant probability each exam's image is predicted with, in exam order.
MALIGNANT = [0.95, 0.5, 0.1, 0.58, 0.8, 0.99]


@pytest.fixture
def members(db):
    """Users of each role (and a second annotator) for the active-learning round tests."""
    return {r: create_user(r) for r in ("owner", "reviewer", "annotator", "viewer", "second")}


@pytest.fixture
def scored(members):
    """Six one-image exams with reference labels only, an active version and its predictions."""
    roles = {r: u for r, u in members.items() if r != "second"}
    project = case_project(n_patients=3, exams_per_patient=2, **roles)
    Membership.objects.create(project=project, user=members["second"], role=Role.ANNOTATOR)
    version = ModelVersion.objects.create(
        project=project,
        task="classification",
        label="malignant",
        recipe="us-malignancy",
        snapshot_hash="0" * 64,
        artifact_key="k",
        artifact_sha256="1" * 64,
        metrics={"auc": 0.81},
        status="active",
    )
    exams = list(Exam.objects.filter(project=project).order_by("pk"))
    for exam, p in zip(exams, MALIGNANT, strict=True):
        image = Image.objects.get(exam=exam)
        Prediction.objects.create(
            project=project,
            model_version=version,
            exam=exam,
            image=image,
            outputs={"probability": max(p, 1 - p), "scores": {"benign": 1 - p, "malignant": p}},
        )
    return project, version, exams


@pytest.fixture
def make_case_project(db) -> Callable[..., Project]:
    return case_project
