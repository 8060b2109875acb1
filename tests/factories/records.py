"""Rows the tests build: users, projects with members by role, images and exams (through the
platform's own raster ingest, pixel cache included), annotated synthetic cases, mask PNGs."""

from __future__ import annotations

import base64
import datetime as dt
import io
import itertools

import numpy as np
from django.contrib.auth import get_user_model
from PIL import Image as PILImage

from annotations.models import ExamLabel, Finding, Mark, Source
from senolab.imaging import storage
from senolab.imaging.ingest.raster import ingest_raster
from senolab.imaging.models import Exam, Image, Patient, Series
from senolab.imaging.pixelcache import write_pixel_cache
from senolab.projects.models import Membership, Project, Role

PASSWORD = "test-pass-123"
_counter = itertools.count(1)


def create_user(username: str | None = None, *, staff: bool = False):
    """A user with the tests' password; a generated name unless one is given."""
    name = username or f"user{next(_counter)}"
    return get_user_model().objects.create_user(username=name, password=PASSWORD, is_staff=staff)


def create_project(name: str | None = None, **members) -> Project:
    """create_project("A", owner=user, annotator=other) creates the memberships too."""
    n = next(_counter)
    project = Project.objects.create(name=name or f"Project {n}", slug=f"project-{n}")
    for role, user in members.items():
        Membership.objects.create(project=project, user=user, role=Role(role))
    return project


def raster_image(
    project: Project,
    *,
    patient: str = "p1",
    exam: str = "e1",
    modality: str = "MG",
    laterality: str = "L",
    view: str = "CC",
    shape: tuple[int, ...] = (40, 30),
    dtype: str = "uint16",
    seed: int | None = None,
    **fields,
) -> Image:
    """One image with distinct pixels (ingest refuses exact duplicates), ingested as a raster
    data set's image is; `fields` go to ingest_raster (site, study_date, ...)."""
    rng = np.random.default_rng(next(_counter) if seed is None else seed)
    high = 4095 if dtype == "uint16" else 255
    pixels = rng.integers(0, high, shape).astype(dtype)
    fields.setdefault("study_date", dt.date(2020, 1, 1))
    return ingest_raster(
        project,
        pixels,
        patient_key=patient,
        exam_key=exam,
        modality=modality,
        laterality=laterality,
        view=view,
        **fields,
    )


CASE_SIDE = 32


def case_pixels(malignant: bool, rng: np.random.Generator) -> np.ndarray:
    """Noise, plus a bright disc in the centre for malignant cases: a separable toy task."""
    pixels = rng.normal(60, 12, (CASE_SIDE, CASE_SIDE))
    if malignant:
        yy, xx = np.mgrid[:CASE_SIDE, :CASE_SIDE]
        pixels[(yy - 16) ** 2 + (xx - 16) ** 2 <= 36] += 120
    return np.clip(pixels, 0, 255).astype(np.uint8)


def case_exam(
    project: Project,
    patient: Patient,
    index: int,
    pathology: str,
    rng: np.random.Generator,
    *,
    source: str = Source.REFERENCE,
) -> Exam:
    """A one-image ultrasound exam in a real pixel cache with its pathology label and, unless
    normal, a mass finding marked by a polygon and an ellipse around the disc."""
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
    pixels = case_pixels(pathology == "malignant", rng)
    with storage.files_with_rows() as batch:
        key, layout = write_pixel_cache(project.pk, pixels, batch)
        image = Image.objects.create(
            project=project,
            exam=exam,
            series=series,
            sop_instance_uid=f"2.25.8{index}",
            modality="US",
            rows=CASE_SIDE,
            columns=CASE_SIDE,
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


def case_project(n_patients: int = 8, exams_per_patient: int = 2, **members) -> Project:
    """A project whose patients alternate benign / malignant, each with a few case exams."""
    project = create_project(**members)
    rng = np.random.default_rng(0)
    index = 0
    for p in range(n_patients):
        patient = Patient.objects.create(project=project, pseudonym=f"SNL-{p:04d}")
        for _ in range(exams_per_patient):
            index += 1
            case_exam(project, patient, index, "malignant" if p % 2 else "benign", rng)
    return project


def mask_png_base64(mask: np.ndarray) -> str:
    """A binary mask as the API takes it: an 8-bit PNG (0/255), base64."""
    buffer = io.BytesIO()
    PILImage.fromarray(mask.astype(np.uint8) * 255).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def pyramid_tiff(path, width: int = 600, height: int = 400) -> None:
    """A tiny tiled pyramidal TIFF slide: red left half, blue right half, one half-size level."""
    import tifffile

    rgb = np.zeros((height, width, 3), np.uint8)
    rgb[:, : width // 2, 0] = 255
    rgb[:, width // 2 :, 2] = 255
    with tifffile.TiffWriter(path) as tw:
        tw.write(rgb, tile=(256, 256), photometric="rgb", subifds=1)
        tw.write(rgb[::2, ::2], tile=(256, 256), photometric="rgb", subfiletype=1)
