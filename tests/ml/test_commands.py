"""manage.py train / evaluate with the real engine on tiny synthetic data (seconds on CPU)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from django.core.management import call_command
from PIL import Image as PILImage

from ml.models import ModelVersion, TrainingRun
from senolab.imaging import storage
from senolab.projects.models import Project
from tests.factories import case_pixels
from tests.ml_engine.test_recipes_and_splits import REQUIRED

TINY = ["--epochs", "2", "--input-size", "32", "--batch-size", "8"]


def train(project: Project, recipe: str = "busi-malignancy") -> tuple[str, ModelVersion]:
    out, err = io.StringIO(), io.StringIO()
    call_command(
        "train",
        "--project",
        project.name,
        "--recipe",
        recipe,
        "--wait",
        *TINY,
        stdout=out,
        stderr=err,
    )
    last = out.getvalue().strip().splitlines()[-1]
    return last, ModelVersion.objects.get(pk=int(last))


def test_list_recipes_names_every_shipped_recipe():
    out = io.StringIO()
    call_command("train", "--list-recipes", stdout=out)
    names = {line.split("\t")[0] for line in out.getvalue().splitlines()}
    assert REQUIRED <= names


@pytest.mark.slow
def test_train_wait_registers_a_version_with_lineage_and_prints_its_id_last(make_case_project):
    # given a tiny separable project
    project = make_case_project(n_patients=10, exams_per_patient=2)
    # when it is trained and waited for
    printed, version = train(project)
    # then the version printed last carries its snapshot hash, checksum, metrics and history
    run = TrainingRun.objects.get(model_version=version)
    assert printed == str(version.pk)
    assert version.snapshot_hash == run.snapshot.content_hash and len(version.snapshot_hash) == 64
    assert storage.sha256_of(storage.read(version.artifact_key)) == version.artifact_sha256
    assert version.status == "candidate" and version.task == "classification"
    assert 0.0 <= version.metrics["auc"] <= 1.0 and len(version.metrics["auc_ci"]) == 2
    assert version.metrics["n"] == sum(1 for s in run.snapshot.split.values() if s == "test")
    assert len(run.history) >= 2 and run.job.status == "succeeded"
    assert run.job.progress == 1.0


def test_train_of_unknown_project_or_recipe_fails_with_a_message(make_case_project):
    from django.core.management.base import CommandError

    project = make_case_project(n_patients=2, exams_per_patient=1)
    with pytest.raises(CommandError, match="no project"):
        call_command("train", "--project", "nope", "--recipe", "busi-malignancy", "--wait")
    with pytest.raises(CommandError, match="unknown recipe"):
        call_command("train", "--project", project.name, "--recipe", "nope", "--wait")
    assert not TrainingRun.objects.exists()


def write_busi(root: Path, per_class: int = 4) -> Path:
    """A BUSI-layout folder of RGB PNGs: malignant images carry a bright disc and a mask."""
    rng = np.random.default_rng(1)
    for name in ("benign", "malignant"):
        (root / name).mkdir(parents=True)
        for i in range(1, per_class + 1):
            gray = case_pixels(name == "malignant", rng)
            PILImage.fromarray(np.stack([gray] * 3, -1)).save(root / name / f"{name} ({i}).png")
            mask = np.zeros_like(gray)
            mask[10:22, 10:22] = 255
            PILImage.fromarray(mask).save(root / name / f"{name} ({i})_mask.png")
    return root


@pytest.mark.slow
def test_evaluate_writes_flat_metrics_and_leaves_no_throwaway_project(make_case_project, tmp_path):
    # given a trained version and an external BUSI-layout folder
    project = make_case_project(n_patients=10, exams_per_patient=2)
    _, version = train(project)
    folder = write_busi(tmp_path / "busi")
    before = sorted(p.name for p in folder.rglob("*"))
    projects = set(Project.objects.values_list("pk", flat=True))
    # when it is evaluated there
    out = tmp_path / "metrics.json"
    call_command(
        "evaluate",
        "--model-version",
        str(version.pk),
        "--format",
        "busi",
        str(folder),
        "--json",
        str(out),
        stdout=io.StringIO(),
    )
    # then the JSON has the flat keys over all 8 cases, and nothing else remains
    metrics = json.loads(out.read_text())
    assert metrics["n"] == 8
    for key in ("auc", "auc_ci", "sensitivity", "specificity", "accuracy", "f1"):
        assert key in metrics
    assert set(Project.objects.values_list("pk", flat=True)) == projects
    assert sorted(p.name for p in folder.rglob("*")) == before
