"""Tiny synthetic annotated projects: 32x32 images in real pixel caches, reference labels."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from annotations.models import ExamLabel, Finding, Mark, Source
from senolab.imaging import storage
from senolab.imaging.models import Exam, Image, Patient, Series
from senolab.imaging.pixelcache import write_pixel_cache
from senolab.projects.models import Project

SIDE = 32


def synthetic_pixels(malignant: bool, rng: np.random.Generator) -> np.ndarray:
    """Noise, plus a bright disc in the centre for malignant cases: a separable toy task."""
    pixels = rng.normal(60, 12, (SIDE, SIDE))
    if malignant:
        yy, xx = np.mgrid[:SIDE, :SIDE]
        pixels[(yy - 16) ** 2 + (xx - 16) ** 2 <= 36] += 120
    return np.clip(pixels, 0, 255).astype(np.uint8)


def add_exam(
    project: Project,
    patient: Patient,
    index: int,
    pathology: str,
    rng: np.random.Generator,
    *,
    source: str = Source.REFERENCE,
) -> Exam:
    exam = Exam.objects.create(
        project=project,
        patient=patient,
        study_uid=f"2.25.{index}",
        modalities=["US"],
        source="synthetic",
    )
    series = Series.objects.create(
        project=project, exam=exam, series_uid=f"2.25.9{index}", modality="US"
    )
    pixels = synthetic_pixels(pathology == "malignant", rng)
    with storage.files_with_rows() as batch:
        key, layout = write_pixel_cache(project.pk, pixels, batch)
        image = Image.objects.create(
            project=project,
            exam=exam,
            series=series,
            sop_instance_uid=f"2.25.8{index}",
            modality="US",
            rows=SIDE,
            columns=SIDE,
            source_format="png",
            storage_key=key,
            sha256=f"{index:064x}",
            source_sha256=f"{index:064x}",
            pixel_cache_key=key,
            pixel_cache=layout,
        )
    ExamLabel.objects.create(project=project, exam=exam, source=source, pathology=pathology)
    if pathology != "normal":
        finding = Finding.objects.create(
            project=project, exam=exam, source=source, finding_type="mass", pathology=pathology
        )
        Mark.objects.create(
            finding=finding,
            image=image,
            kind="polygon",
            geometry={"points": [[10, 10], [22, 10], [22, 22], [10, 22]]},
        )
        Mark.objects.create(
            finding=finding,
            image=image,
            kind="ellipse",
            geometry={"cx": 16, "cy": 16, "rx": 6, "ry": 6},
        )
    return exam


@pytest.fixture
def make_case_project(make_project) -> Callable[..., Project]:
    def make(n_patients: int = 8, exams_per_patient: int = 2, **members) -> Project:
        """A project whose patients alternate malignant / benign, each with a few exams."""
        project = make_project(**members)
        rng = np.random.default_rng(0)
        index = 0
        for p in range(n_patients):
            patient = Patient.objects.create(project=project, pseudonym=f"SNL-{p:04d}")
            for _ in range(exams_per_patient):
                index += 1
                add_exam(project, patient, index, "malignant" if p % 2 else "benign", rng)
        return project

    return make
