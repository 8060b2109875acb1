"""Helpers of the ingest tests: a private media folder per test, and what a project stored."""

from __future__ import annotations

from pathlib import Path

import pytest

from senolab.imaging.models import Exam, Image, Patient, Series


@pytest.fixture
def media(tmp_path_factory, settings) -> Path:
    """A media folder of this test's own, so that 'nothing stored' can be checked exactly."""
    root = tmp_path_factory.mktemp("media")
    settings.MEDIA_ROOT = root
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(root)},
        },
    }
    return root


def stored_files(media: Path) -> list[Path]:
    return sorted(p for p in media.rglob("*") if p.is_file())


def row_counts(project) -> tuple[int, ...]:
    return tuple(m.objects.filter(project=project).count() for m in (Patient, Exam, Series, Image))
