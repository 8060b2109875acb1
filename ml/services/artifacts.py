"""Model versions leave and come back: a package (zip) of the artifact, its model card and
checksums; importing one into another project (or installation) verifies the checksum first.

Package members:
- `model.pt`: the artifact as stored (weights, recipe, calibration; ml/engine/artifact.py);
- `model_card.json`: what the model is (CARD_FORMAT): task, label, modality, recipe and its
  config, the training snapshot's content hash, the test metrics, calibration (temperature),
  decision threshold, lineage, intended use, and the artifact's sha256 and size;
- `SHA256SUMS`: sha256 of the two files above, in `sha256sum` format.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from django.db import transaction

from exports.archive import stream_zip
from ml.models import ModelVersion, VersionStatus
from ml.services.errors import MLServiceError
from senolab.imaging import storage
from senolab.projects.models import Project

CARD_FORMAT = "senolab-model-card/1"
ARTIFACT_MEMBER = "model.pt"
CARD_MEMBER = "model_card.json"
SUMS_MEMBER = "SHA256SUMS"
CHUNK = 1 << 20
INTENDED_USE = (
    "Research use only: a model trained on de-identified research data in Senolab, to be "
    "evaluated against its metrics and the population it was trained on before any use. Not a "
    "medical device; its outputs are proposals for a reader to accept or reject."
)


class PackageRefused(MLServiceError):
    """An uploaded package that cannot be imported (damaged, tampered, not a package)."""

    field = "file"


def model_card(version: ModelVersion) -> dict[str, Any]:
    return {
        "format": CARD_FORMAT,
        "name": f"{version.recipe} v{version.pk}",
        "task": version.task,
        "label": version.label,
        "modality": version.modality,
        "recipe": version.recipe,
        "recipe_config": version.recipe_config,
        "snapshot_hash": version.snapshot_hash,
        "metrics": version.metrics,
        "calibration": {"method": "temperature scaling", "temperature": version.temperature},
        "threshold": version.threshold,
        "intended_use": INTENDED_USE,
        "lineage": {
            "version": version.pk,
            "parent": version.parent_id,
            "training_run": version.training_run_id,
            "status": version.status,
            "created_at": version.created_at.isoformat() if version.created_at else None,
        },
        "artifact": {
            "file": ARTIFACT_MEMBER,
            "sha256": version.artifact_sha256,
            "size": version.artifact_size,
        },
    }


def _chunks(key: str) -> Iterator[bytes]:
    with storage.open_file(key) as fh:
        while chunk := fh.read(CHUNK):
            yield chunk


def package_chunks(version: ModelVersion) -> Iterator[bytes]:
    """The package's zip bytes, streamed (the artifact is read in 1 MiB chunks)."""
    card = json.dumps(model_card(version), indent=1, sort_keys=True).encode()
    sums = (
        f"{version.artifact_sha256}  {ARTIFACT_MEMBER}\n"
        f"{hashlib.sha256(card).hexdigest()}  {CARD_MEMBER}\n"
    )
    return stream_zip(
        [
            (CARD_MEMBER, [card]),
            (SUMS_MEMBER, [sums]),
            (ARTIFACT_MEMBER, _chunks(version.artifact_key)),
        ]
    )


def import_package(project: Project, upload: IO[bytes], *, user: Any = None) -> ModelVersion:
    """Register the package's model as a candidate version of `project`, after checking that the
    artifact's sha256 is the one its card and SHA256SUMS state. Raises PackageRefused."""
    try:
        archive = zipfile.ZipFile(upload)
    except zipfile.BadZipFile as exc:
        raise PackageRefused("This is not a model package (a zip with model_card.json).") from exc
    with archive:
        names = set(archive.namelist())
        missing = [n for n in (CARD_MEMBER, ARTIFACT_MEMBER) if n not in names]
        if missing:
            raise PackageRefused(f"The package has no {missing[0]}.")
        try:
            card = json.loads(archive.read(CARD_MEMBER))
            stated = str(card["artifact"]["sha256"])
        except (ValueError, KeyError, TypeError) as exc:
            raise PackageRefused(
                "The model card is not readable JSON with artifact.sha256."
            ) from exc
        if card.get("format") != CARD_FORMAT:
            raise PackageRefused(f"Unknown model card format {card.get('format')!r}.")
        sums = _sums(archive.read(SUMS_MEMBER).decode()) if SUMS_MEMBER in names else {}
        if sums.get(ARTIFACT_MEMBER, stated) != stated:
            raise PackageRefused("SHA256SUMS and the model card state different checksums.")
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / ARTIFACT_MEMBER
            digest = hashlib.sha256()
            with archive.open(ARTIFACT_MEMBER) as src, open(path, "wb") as dst:
                while chunk := src.read(CHUNK):
                    digest.update(chunk)
                    dst.write(chunk)
            actual = digest.hexdigest()
            if actual != stated:
                raise PackageRefused(
                    f"The artifact's sha256 is {actual} but its model card states {stated}: "
                    "the file was changed or damaged, so nothing was imported."
                )
            return _register(project, card, path, actual, user)


def _sums(text: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2:
            out[parts[1].lstrip("*")] = parts[0]
    return out


def _register(
    project: Project, card: dict[str, Any], path: Path, sha256: str, user: Any
) -> ModelVersion:
    key = storage.new_key(project.pk, "models", "pt")
    with storage.files_with_rows() as batch, transaction.atomic():
        with open(path, "rb") as fh:
            batch.save(key, fh)
        stored = hashlib.sha256()
        for chunk in _chunks(key):
            stored.update(chunk)
        if stored.hexdigest() != sha256:
            raise PackageRefused("The stored artifact is corrupt; nothing was imported.")
        calibration = card.get("calibration") or {}
        return ModelVersion.objects.create(
            project=project,
            task=str(card.get("task") or ""),
            label=str(card.get("label") or ""),
            modality=str(card.get("modality") or ""),
            recipe=str(card.get("recipe") or ""),
            recipe_config=card.get("recipe_config") or {},
            snapshot=None,
            snapshot_hash=str(card.get("snapshot_hash") or ""),
            artifact_key=key,
            artifact_sha256=sha256,
            artifact_size=path.stat().st_size,
            metrics=card.get("metrics") or {},
            temperature=float(calibration.get("temperature") or 1.0),
            threshold=None if card.get("threshold") is None else float(card["threshold"]),
            status=VersionStatus.CANDIDATE,
            trained_by=None,
        )
