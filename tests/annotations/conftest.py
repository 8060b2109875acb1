"""A small reading room: one patient with a two-view exam and a prior, another patient, a
slide, and users in every role plus an outsider with a project of their own."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from senolab.imaging.models import Exam, Image, Slide
from senolab.projects.models import Project
from tests.annotations.helpers import COLUMNS, ROWS
from tests.factories import raster_image


@dataclass
class Room:
    project: Project
    exam: Exam
    cc: Image
    mlo: Image
    prior: Image
    other_patient: Image
    slide: Slide
    owner: object
    annotator: object
    reviewer: object
    viewer: object
    outsider: object
    outsider_project: Project
    outsider_image: Image


def _image(project: Project, seed: int, patient: str, exam: str, view: str) -> Image:
    return raster_image(
        project,
        patient=patient,
        exam=exam,
        view=view,
        shape=(ROWS, COLUMNS),
        dtype="uint8",
        seed=seed,
    )


@pytest.fixture
def room(make_user, make_project) -> Room:
    owner, annotator, reviewer, viewer, outsider = (make_user() for _ in range(5))
    project = make_project(owner=owner, annotator=annotator, reviewer=reviewer, viewer=viewer)
    cc = _image(project, 1, "patient-1", "exam-now", "CC")
    mlo = _image(project, 2, "patient-1", "exam-now", "MLO")
    prior = _image(project, 3, "patient-1", "exam-prior", "CC")
    other = _image(project, 4, "patient-2", "exam-other", "CC")
    slide = Slide.objects.create(
        project=project,
        exam=cc.exam,
        format="tiff",
        width=1000,
        height=800,
        storage_key="unused",
        sha256="0" * 64,
        source_sha256="1" * 64,
    )
    outsider_project = make_project(owner=outsider)
    outsider_image = _image(outsider_project, 5, "patient-x", "exam-x", "CC")
    return Room(
        project=project,
        exam=cc.exam,
        cc=cc,
        mlo=mlo,
        prior=prior,
        other_patient=other,
        slide=slide,
        owner=owner,
        annotator=annotator,
        reviewer=reviewer,
        viewer=viewer,
        outsider=outsider,
        outsider_project=outsider_project,
        outsider_image=outsider_image,
    )
