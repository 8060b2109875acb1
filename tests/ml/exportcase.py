"""A project to export: synthetic ultrasound cases, an ingested DICOM mammogram carrying every
factory identifier, a quarantined image (used by tests/ml/test_exports*.py)."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image as PILImage

from annotations.models import ExamLabel, Finding, Mark, Source
from senolab.imaging import storage
from senolab.imaging.ingest.service import ingest_dicom_file
from senolab.imaging.models import Image, Patient, PixelStatus
from tests.factories import case_exam
from tests.factories.dicom import write_dicom

MASK = np.zeros((6, 8), np.uint8)
MASK[1:5, 2:7] = 1


def _png(mask: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    PILImage.fromarray(mask * 255).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def export_project(make_project, owner, tmp_path):
    """Two synthetic ultrasound exams (polygon + ellipse), one ingested DICOM mammogram
    carrying every factory identifier (a box finding accepted from a proposal, a mask finding),
    and a quarantined image with a finding of its own."""
    project = make_project("Export", owner=owner)
    rng = np.random.default_rng(0)
    for i, pathology in enumerate(["benign", "malignant"]):
        patient = Patient.objects.create(project=project, pseudonym=f"SNL-{i:04d}")
        case_exam(project, patient, i + 1, pathology, rng)
    image = ingest_dicom_file(project, write_dicom(tmp_path / "mg.dcm", rows=48, columns=64))
    assert image.pixel_status != PixelStatus.QUARANTINED
    accepted = Finding.objects.create(
        project=project,
        exam=image.exam,
        source=Source.HUMAN,
        finding_type="mass",
        birads="4",
        pathology="malignant",
        origin={"kind": "accepted", "prediction": 7, "model_version": 3},
        created_by=owner,
        version=2,
    )
    Mark.objects.create(
        finding=accepted,
        image=image,
        kind="box",
        geometry={"x": 5, "y": 6, "width": 10, "height": 8},
    )
    masked = Finding.objects.create(
        project=project, exam=image.exam, finding_type="calcification", birads="2"
    )
    Mark.objects.create(
        finding=masked,
        image=image,
        kind="mask",
        geometry={"x": 30, "y": 20, "width": 8, "height": 6},
        mask_key=storage.save(storage.new_key(project.pk, "masks", "png"), _png(MASK)),
    )
    ExamLabel.objects.create(project=project, exam=image.exam, birads="4", density="C")
    patient = Patient.objects.create(project=project, pseudonym="SNL-Q")
    quarantined_exam = case_exam(project, patient, 9, "malignant", rng, source=Source.HUMAN)
    Image.objects.filter(exam=quarantined_exam).update(pixel_status=PixelStatus.QUARANTINED)
    return project, image, accepted, masked, quarantined_exam
