"""The model registry: register a trained version with its verified artifact, activate, retire,
and hand a version's artifact to the engine as a checked local file."""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.dispatch import Signal
from django.utils import timezone

from ml.models import ModelVersion, TrainingRun, VersionStatus
from ml.services.results import json_safe
from senolab.imaging import storage
from senolab.jobs import services as jobs
from senolab.jobs.models import JobStatus

# Sent with `version` after an activation commits (a project's round policy listens).
version_activated = Signal()


def register_version(run: TrainingRun, recipe: Any, result: Any) -> ModelVersion:
    """Store the artifact under a generated key and register the version, atomically.

    The artifact's checksum is verified against the engine's before and after it is stored; the
    row is written in the same transaction, and the stored file is deleted if anything fails.
    """
    path = Path(result.artifact_path)
    if not path.is_file():
        raise jobs.JobFailed("The engine reported an artifact that does not exist.")
    if storage.sha256_of_file(path) != result.sha256:
        raise jobs.JobFailed("The model artifact does not match its checksum; not registered.")
    key = storage.new_key(run.project_id, "models", path.suffix.lstrip(".") or "pt")
    with storage.files_with_rows() as batch:
        with open(path, "rb") as fh:
            batch.save(key, fh)
        with storage.open_file(key) as fh:
            stored = hashlib.sha256(fh.read()).hexdigest()
        if stored != result.sha256:
            raise jobs.JobFailed("The stored model artifact is corrupt; not registered.")
        version = ModelVersion.objects.create(
            project_id=run.project_id,
            task=getattr(recipe, "task", ""),
            label=getattr(recipe, "label", "") or "",
            modality=getattr(recipe, "modality", "") or "",
            recipe=run.recipe,
            recipe_config=_recipe_config(recipe),
            snapshot=run.snapshot,
            snapshot_hash=run.snapshot.content_hash if run.snapshot else "",
            training_run=run,
            parent=run.parent_version,
            artifact_key=key,
            artifact_sha256=result.sha256,
            artifact_size=path.stat().st_size,
            metrics=json_safe(result.metrics),
            temperature=float(result.temperature or 1.0),
            threshold=None if result.threshold is None else float(result.threshold),
            trained_by=run.created_by,
        )
        TrainingRun.objects.filter(pk=run.pk).update(
            history=json_safe(getattr(result, "history", None) or run.history),
            status=JobStatus.SUCCEEDED,
            finished_at=timezone.now(),
        )
    return version


def _recipe_config(recipe: Any) -> dict[str, Any]:
    if dataclasses.is_dataclass(recipe) and not isinstance(recipe, type):
        return json_safe(dataclasses.asdict(recipe))
    return json_safe(getattr(recipe, "__dict__", {}))


def local_artifact(version: ModelVersion) -> str:
    """A local path of the version's artifact, checked against its checksum."""
    path = artifact_file(version)
    if storage.sha256_of_file(path) != version.artifact_sha256:
        raise jobs.JobFailed(f"The artifact of model version {version.pk} fails its checksum.")
    return str(path)


def artifact_file(version: ModelVersion) -> Path:
    """A local path of the version's artifact (copied from remote storage once), unchecked."""
    try:
        path = Path(storage.default_storage.path(version.artifact_key))
    except NotImplementedError:  # remote storage: keep a verified copy in the model dir
        path = Path(settings.SENOLAB_MODEL_DIR) / "cache" / f"{version.artifact_sha256}.pt"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".part")
            with storage.open_file(version.artifact_key) as src, open(tmp, "wb") as dst:
                for block in iter(lambda: src.read(1 << 20), b""):
                    dst.write(block)
            tmp.rename(path)
    return path


def activate(version: ModelVersion) -> ModelVersion:
    """Make this the one active version of its project and task; the previous one is retired.
    `version_activated` is sent once the change is committed."""
    with transaction.atomic():
        ModelVersion.objects.select_for_update().filter(
            project_id=version.project_id,
            task=version.task,
            label=version.label,
            status=VersionStatus.ACTIVE,
        ).exclude(pk=version.pk).update(status=VersionStatus.RETIRED)
        ModelVersion.objects.filter(pk=version.pk).update(status=VersionStatus.ACTIVE)
        transaction.on_commit(lambda: version_activated.send(sender=ModelVersion, version=version))
    version.refresh_from_db()
    return version


def retire(version: ModelVersion) -> ModelVersion:
    ModelVersion.objects.filter(pk=version.pk).update(status=VersionStatus.RETIRED)
    version.refresh_from_db()
    return version
