"""Tiny synthetic annotated projects: 32x32 images in real pixel caches, reference labels
(built by tests.factories.case_project)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from senolab.projects.models import Project
from tests.factories import case_project
from tests.ml.exportcase import export_project  # noqa: F401 (a fixture of the export tests)


@pytest.fixture
def make_case_project(db) -> Callable[..., Project]:
    return case_project
