"""A worker keeps loaded models: a second pre-annotation of the same version does not load its
artifact again, and a new version, a new artifact or a changed file is never served stale."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from ml.engine import api
from ml.engine.artifact import save_artifact
from ml.services import prediction
from senolab.imaging import storage
from senolab.jobs.services import JobFailed
from tests.ml.test_api import make_version

RECIPE = "busi-malignancy"


@pytest.fixture(autouse=True)
def empty_cache():
    prediction.clear_predictors()
    yield
    prediction.clear_predictors()


@pytest.fixture
def loads(monkeypatch):
    """Artifact paths the engine's Predictor was built from, in order."""
    seen: list[str] = []

    class Counting(api.Predictor):
        def __init__(self, artifact_path, device=None):
            seen.append(str(artifact_path))
            super().__init__(artifact_path, device)

    monkeypatch.setattr(api, "Predictor", Counting)
    return seen


def artifact(project, seed: int) -> tuple[str, str]:
    """A freshly initialised network of RECIPE saved in storage: (key, sha256)."""
    import torch

    torch.manual_seed(seed)
    recipe = api.load_recipe(RECIPE)
    model = api.make_pipeline(recipe, "cpu").network()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.pt"
        sha = save_artifact(path, model, recipe, temperature=1.0, threshold=None)
        data = path.read_bytes()
    return storage.save(storage.new_key(project.pk, "models", "pt"), data), sha


def version_of(project, seed: int):
    key, sha = artifact(project, seed)
    return make_version(project, recipe=RECIPE, artifact_key=key, artifact_sha256=sha)


def test_a_version_is_loaded_once_and_a_new_version_or_artifact_loads_afresh(project, loads):
    first = version_of(project, 0)
    # the same version twice: one load, the same model
    one = prediction.loaded_predictor(first, "cpu")
    assert prediction.loaded_predictor(first, "cpu") is one and len(loads) == 1
    # another version: its own model
    second = version_of(project, 1)
    other = prediction.loaded_predictor(second, "cpu")
    assert other is not one and len(loads) == 2
    # the first version given a new artifact: loaded afresh, the old model forgotten
    first.artifact_key, first.artifact_sha256 = artifact(project, 2)
    first.save()
    renewed = prediction.loaded_predictor(first, "cpu")
    assert renewed is not one and len(loads) == 3
    assert loads[-1] == storage.default_storage.path(first.artifact_key)
    # and at most PREDICTOR_CACHE_SIZE models stay loaded: the least recently used goes
    third = version_of(project, 3)
    prediction.loaded_predictor(third, "cpu")
    prediction.loaded_predictor(first, "cpu")
    assert len(loads) == 4
    prediction.loaded_predictor(second, "cpu")
    assert len(loads) == 5


def test_an_artifact_changed_on_disk_is_checked_again_not_served_from_the_cache(project, loads):
    version = version_of(project, 0)
    prediction.loaded_predictor(version, "cpu")
    # when the file is overwritten in place by other weights (same size, a later write)
    path = Path(storage.default_storage.path(version.artifact_key))
    other_key, _ = artifact(project, 1)
    before = path.stat()
    path.write_bytes(Path(storage.default_storage.path(other_key)).read_bytes())
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns + 1_000_000))
    assert path.stat().st_size == before.st_size
    # then the next load reads it again and refuses it: it no longer matches its checksum
    with pytest.raises(JobFailed, match="fails its checksum"):
        prediction.loaded_predictor(version, "cpu")
    assert len(loads) == 1
