"""Blind first read: who may see an exam's proposals before submitting an own read."""

from __future__ import annotations

import pytest
from django.utils import timezone

from annotations.models import ReadingAssignment
from annotations.reads import proposals_withheld
from tests.factories.records import create_project, create_user, raster_image

pytestmark = pytest.mark.django_db


def _exam(**project_fields):
    owner, reader = create_user(), create_user()
    project = create_project(owner=owner, annotator=reader)
    for name, value in project_fields.items():
        setattr(project, name, value)
    project.save()
    return raster_image(project).exam, owner, reader


def test_a_project_without_blind_first_read_shows_proposals_to_readers():
    exam, _, reader = _exam()
    assert proposals_withheld(exam, reader) is None


def test_a_blind_project_withholds_proposals_until_the_reader_submits_a_first_read():
    exam, owner, reader = _exam(blind_first_read=True)
    assignment = ReadingAssignment.objects.create(project=exam.project, exam=exam, reader=reader)

    assert "submit your own first read" in proposals_withheld(exam, reader)
    assert proposals_withheld(exam, owner) is None

    assignment.first_read_submitted_at = timezone.now()
    assignment.save()
    assert proposals_withheld(exam, reader) is None
