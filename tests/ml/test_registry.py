"""Registering a model version: checksum verified, file and row stored together or not at all."""

from __future__ import annotations

import hashlib
from pathlib import Path
from types import SimpleNamespace
from unittest import mock

import pytest

from ml.models import ModelVersion
from ml.services import registry, training
from ml.services.snapshots import build_snapshot
from senolab.imaging import storage
from senolab.jobs.services import JobFailed


def stored_model_files(project_id: int) -> list[str]:
    from django.core.files.storage import default_storage

    try:
        return default_storage.listdir(f"projects/{project_id}/models")[1]
    except FileNotFoundError:
        return []


@pytest.fixture
def run_and_result(make_case_project, tmp_path):
    project = make_case_project(n_patients=4, exams_per_patient=1)
    run = training.start_training(project, "busi-malignancy", enqueue=False)
    run.snapshot = build_snapshot(project)
    run.save()
    artifact = tmp_path / "model.pt"
    artifact.write_bytes(b"weights" * 100)
    # The engine's TrainResult shape (plumbing only: no engine call is being tested here).
    result = SimpleNamespace(
        artifact_path=str(artifact),
        sha256=hashlib.sha256(artifact.read_bytes()).hexdigest(),
        metrics={"n": 1, "auc": 0.5},
        history=[{"epoch": 1}],
        temperature=1.2,
        threshold=0.4,
    )
    recipe = SimpleNamespace(task="classification", label="malignant", modality="US")
    return run, recipe, result


def test_registered_version_points_at_a_stored_artifact_with_its_checksum(run_and_result):
    run, recipe, result = run_and_result
    version = registry.register_version(run, recipe, result)
    assert storage.sha256_of(storage.read(version.artifact_key)) == result.sha256
    assert version.snapshot_hash == run.snapshot.content_hash
    assert version.temperature == pytest.approx(1.2)


def test_artifact_that_fails_its_checksum_is_not_registered(run_and_result):
    run, recipe, result = run_and_result
    Path(result.artifact_path).write_bytes(b"tampered")
    before = stored_model_files(run.project_id)
    with pytest.raises(JobFailed, match="checksum"):
        registry.register_version(run, recipe, result)
    assert not ModelVersion.objects.exists()
    assert stored_model_files(run.project_id) == before


def test_failure_while_writing_the_row_removes_the_stored_artifact(run_and_result):
    run, recipe, result = run_and_result
    before = stored_model_files(run.project_id)
    with mock.patch.object(ModelVersion.objects, "create", side_effect=RuntimeError("db down")):
        with pytest.raises(RuntimeError):
            registry.register_version(run, recipe, result)
    assert not ModelVersion.objects.exists()
    assert stored_model_files(run.project_id) == before


def test_project_with_runs_and_versions_can_be_deleted_but_a_used_snapshot_cannot(run_and_result):
    from django.db.models import RestrictedError

    from senolab.projects.models import Project

    run, recipe, result = run_and_result
    registry.register_version(run, recipe, result)
    with pytest.raises(RestrictedError):
        run.snapshot.delete()
    Project.objects.get(pk=run.project_id).delete()
    assert not ModelVersion.objects.exists()
