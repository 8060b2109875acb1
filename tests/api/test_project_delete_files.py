"""Deleting a project deletes every file it stored, after the rows are gone for good; a refused
deletion leaves both rows and files in place."""

from __future__ import annotations

import hashlib
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from django.conf import settings
from django.db.models import ProtectedError
from django.db.models.signals import post_delete

from ml.engine.results import CasePrediction
from ml.services import prediction, registry, training
from senolab.imaging.ingest.slides import ingest_slide, write_pyramidal_tiff
from senolab.imaging.models import Image
from senolab.projects.models import Project
from tests.factories import raster_image

KINDS = {"images", "pixels", "slides", "models", "heatmaps"}


def files_of(project_id: int) -> dict[str, list[Path]]:
    """Stored files of a project by kind (the folder under projects/<id>/)."""
    root = Path(settings.MEDIA_ROOT) / "projects" / str(project_id)
    found: dict[str, list[Path]] = {}
    for path in root.rglob("*"):
        if path.is_file():
            found.setdefault(path.relative_to(root).parts[0], []).append(path)
    return found


def fill(project: Project, tmp_path: Path) -> None:
    """An original and its pixel cache, a slide, a model artifact and a prediction heatmap."""
    image = raster_image(project, patient=f"p{project.pk}")
    rgb = np.random.default_rng(project.pk).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    write_pyramidal_tiff(tmp_path / f"slide-{project.pk}.tif", rgb)
    ingest_slide(project, tmp_path / f"slide-{project.pk}.tif", patient_key="s", exam_key="s1")
    run = training.start_training(project, "busi-malignancy", enqueue=False)
    artifact = tmp_path / f"model-{project.pk}.pt"
    artifact.write_bytes(b"weights" * 10)
    result = SimpleNamespace(
        artifact_path=str(artifact),
        sha256=hashlib.sha256(artifact.read_bytes()).hexdigest(),
        metrics={},
        temperature=1.0,
        threshold=None,
    )
    recipe = SimpleNamespace(task="classification", label="malignant", modality="MG")
    version = registry.register_version(run, recipe, result)
    output = CasePrediction(
        case_key=str(image.exam_id),
        probability=0.5,
        label="malignant",
        heatmaps={str(image.pk): np.full((8, 8), 0.5)},
        masks={str(image.pk): np.ones((8, 8), np.uint8)},
        image_keys=[str(image.pk)],
    )
    prediction.store_predictions(version, [output], None)


@pytest.fixture
def two_filled_projects(make_project, owner, tmp_path):
    doomed = make_project("Doomed", owner=owner)
    kept = make_project("Kept", owner=owner)
    fill(doomed, tmp_path)
    fill(kept, tmp_path)
    assert set(files_of(doomed.pk)) >= KINDS
    return doomed, kept


def test_deleting_a_project_through_the_api_leaves_none_of_its_files(
    two_filled_projects, owner, client_for, django_capture_on_commit_callbacks
):
    # Given two projects with originals, pixel caches, a slide, a model and a heatmap each
    doomed, kept = two_filled_projects
    kept_files = files_of(kept.pk)
    # When the owner deletes one through the API and the request commits
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(owner).delete(f"/api/projects/{doomed.pk}/")
    # Then no file of it remains, not even its folder; the other project keeps all of its own
    assert response.status_code == 204
    assert files_of(doomed.pk) == {}
    assert not (Path(settings.MEDIA_ROOT) / "projects" / str(doomed.pk)).exists()
    assert files_of(kept.pk) == kept_files


def test_a_refused_project_deletion_leaves_its_rows_and_files_in_place(
    two_filled_projects, owner, client_for, django_capture_on_commit_callbacks
):
    # Given a project whose deletion a protected row refuses half-way (after its images went)
    doomed, _ = two_filled_projects
    before = files_of(doomed.pk)

    def refuse(sender, instance, **kwargs):
        raise ProtectedError("kept on purpose", {instance})

    post_delete.connect(refuse, sender=Image, dispatch_uid="refuse-image-delete")
    try:
        with django_capture_on_commit_callbacks(execute=True) as callbacks:
            response = client_for(owner).delete(f"/api/projects/{doomed.pk}/")
    finally:
        post_delete.disconnect(sender=Image, dispatch_uid="refuse-image-delete")
    # Then the API says why, nothing was scheduled, and every row still finds its file
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "conflict"
    assert callbacks == []
    assert Project.objects.filter(pk=doomed.pk).exists()
    assert files_of(doomed.pk) == before
    assert all(Path(settings.MEDIA_ROOT, i.storage_key).is_file() for i in Image.objects.all())
