"""A model version leaves as a package (artifact, model card, checksums) and comes into another
project verified; a tampered artifact or card is refused with the reason."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile

import pytest

from ml.models import ModelVersion
from ml.services import artifacts
from senolab.audit.models import AuditAction, AuditEvent
from senolab.imaging import storage
from senolab.projects.models import Membership, Role

ARTIFACT = bytes(range(256)) * 4099  # about 1 MiB: read in more than one chunk


@pytest.fixture
def version(make_project, owner):
    project = make_project("Source", owner=owner)
    key = storage.save(storage.new_key(project.pk, "models", "pt"), ARTIFACT)
    return ModelVersion.objects.create(
        project=project,
        task="classification",
        label="malignant",
        modality="US",
        recipe="busi-malignancy",
        recipe_config={"epochs": 3},
        snapshot_hash="ab" * 32,
        artifact_key=key,
        artifact_sha256=hashlib.sha256(ARTIFACT).hexdigest(),
        artifact_size=len(ARTIFACT),
        metrics={"auc": 0.81, "auc_ci": [0.7, 0.9]},
        temperature=1.7,
        threshold=0.42,
        trained_by=owner,
    )


def download(client, version) -> bytes:
    response = client.get(f"/api/model-versions/{version.pk}/package/")
    assert response.status_code == 200, response.content
    return b"".join(response.streaming_content)


def test_the_package_holds_the_artifact_its_card_and_checksums(version, owner, client_for):
    body = download(client_for(owner), version)
    archive = zipfile.ZipFile(io.BytesIO(body))
    card = json.loads(archive.read("model_card.json"))
    assert archive.read("model.pt") == ARTIFACT
    assert card["artifact"]["sha256"] == hashlib.sha256(ARTIFACT).hexdigest()
    assert card["snapshot_hash"] == "ab" * 32
    assert card["metrics"]["auc"] == 0.81
    assert card["calibration"]["temperature"] == 1.7 and card["threshold"] == 0.42
    assert "Research use only" in card["intended_use"]
    sums = archive.read("SHA256SUMS").decode()
    assert f"{card['artifact']['sha256']}  model.pt" in sums
    assert hashlib.sha256(archive.read("model_card.json")).hexdigest() in sums
    assert AuditEvent.objects.filter(
        action=AuditAction.ARTIFACT_DOWNLOADED, object_id=str(version.pk)
    ).exists()


def test_a_package_imports_into_another_project_verified(version, owner, make_project, client_for):
    body = download(client_for(owner), version)
    target = make_project("Target", owner=owner)
    response = client_for(owner).post(
        "/api/model-versions/import/",
        {"project": target.pk, "file": io.BytesIO(body)},
        format="multipart",
    )
    assert response.status_code == 201, response.content
    imported = ModelVersion.objects.get(pk=response.json()["id"])
    assert imported.project == target and imported.status == "candidate"
    assert storage.read(imported.artifact_key) == ARTIFACT
    assert imported.artifact_sha256 == version.artifact_sha256
    assert (imported.temperature, imported.threshold) == (1.7, 0.42)
    assert imported.snapshot_hash == version.snapshot_hash
    assert AuditEvent.objects.filter(
        action=AuditAction.ARTIFACT_IMPORTED, object_id=str(imported.pk)
    ).exists()


def _tampered(body: bytes, member: str, change) -> bytes:
    source = zipfile.ZipFile(io.BytesIO(body))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as target:
        for name in source.namelist():
            data = source.read(name)
            target.writestr(name, change(data) if name == member else data)
    return out.getvalue()


def _flip_one_byte(data: bytes) -> bytes:
    return data[:1000] + bytes([data[1000] ^ 1]) + data[1001:]


def _other_checksum(data: bytes) -> bytes:
    card = json.loads(data)
    card["artifact"]["sha256"] = "0" * 64
    return json.dumps(card).encode()


@pytest.mark.parametrize(
    ("member", "change", "words"),
    [
        ("model.pt", _flip_one_byte, "the file was changed or damaged"),
        ("model_card.json", _other_checksum, "SHA256SUMS and the model card state different"),
    ],
)
def test_a_tampered_package_is_refused_with_the_reason(
    version, owner, make_project, client_for, member, change, words
):
    body = _tampered(download(client_for(owner), version), member, change)
    target = make_project("Target", owner=owner)
    before = ModelVersion.objects.count()
    response = client_for(owner).post(
        "/api/model-versions/import/",
        {"project": target.pk, "file": io.BytesIO(body)},
        format="multipart",
    )
    assert response.status_code == 400
    assert words in json.dumps(response.json())
    assert ModelVersion.objects.count() == before


def test_a_package_without_sums_still_checks_the_card(version, owner, make_project):
    body = _tampered(
        artifacts_zip(version), "model.pt", _flip_one_byte
    )  # the card's checksum is the one left to catch it
    stripped = io.BytesIO()
    source = zipfile.ZipFile(io.BytesIO(body))
    with zipfile.ZipFile(stripped, "w") as target:
        for name in source.namelist():
            if name != "SHA256SUMS":
                target.writestr(name, source.read(name))
    stripped.seek(0)
    with pytest.raises(artifacts.PackageRefused, match="changed or damaged"):
        artifacts.import_package(make_project("T", owner=owner), stripped)


def artifacts_zip(version) -> bytes:
    return b"".join(artifacts.package_chunks(version))


def test_viewers_neither_download_nor_import(version, make_user, client_for):
    viewer = make_user("model-viewer")
    Membership.objects.create(project=version.project, user=viewer, role=Role.VIEWER)
    client = client_for(viewer)
    assert client.get(f"/api/model-versions/{version.pk}/package/").status_code == 403
    response = client.post(
        "/api/model-versions/import/",
        {"project": version.project.pk, "file": io.BytesIO(b"x")},
        format="multipart",
    )
    assert response.status_code == 403
