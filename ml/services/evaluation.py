"""Evaluation: an evaluate Job measures a model version on a split of its snapshot, and
`evaluate_folder` (manage.py evaluate) measures it on an external data set."""

from __future__ import annotations

import logging
import uuid
from pathlib import Path
from typing import Any

from celery import signature
from django.conf import settings
from django.db import transaction

from datasets.importers import import_dataset
from ml.models import ModelVersion
from ml.services import engine, registry
from ml.services.errors import NothingToEvaluate
from ml.services.results import flat_metrics, json_safe
from ml.services.snapshots import (
    build_manifest,
    case_manufacturers,
    cases_from_manifest,
    snapshot_cases,
)
from senolab.imaging import storage
from senolab.jobs import services as jobs
from senolab.jobs.models import Job, JobKind
from senolab.projects.models import Project

logger = logging.getLogger(__name__)

EVALUATE_TASK = "ml.evaluate_task"
# The flat metric keys that `manage.py evaluate --json` writes and bench/quality prints.
FLAT_METRIC_KEYS = (
    "n",
    "auc",
    "auc_ci",
    "sensitivity",
    "specificity",
    "threshold",
    "accuracy",
    "f1",
    "dice",
    "froc",
)


def start_evaluation(version: ModelVersion, split: str = "test", *, user=None) -> Job:
    """An evaluate Job on a split of the version's snapshot ("all" = every case)."""
    params = {"model_version": version.pk, "split": split}
    with transaction.atomic():
        job = jobs.create_job(
            JobKind.EVALUATE,
            project=version.project,
            user=user,
            params=params,
            queue=settings.SENOLAB_GPU_QUEUE,
        )
        jobs.enqueue(job, signature(EVALUATE_TASK))
    return job


def run_evaluation(job: Job, progress: jobs.Progress) -> dict[str, Any]:
    """Evaluate the version on its snapshot's split; the metrics become the Job's result."""
    api = engine.api()
    version = ModelVersion.objects.select_related("snapshot").get(pk=job.params["model_version"])
    if version.snapshot is None:
        raise jobs.JobFailed("This model version has no data set snapshot to evaluate on.")
    split = job.params.get("split", "test")
    cases = snapshot_cases(version.snapshot, None if split == "all" else split)
    if not cases:
        raise jobs.JobFailed(f"The snapshot has no {split} cases.")
    metrics = api.evaluate(
        registry.local_artifact(version),
        cases,
        device=engine.default_device(),
        progress=engine.job_progress(progress),
        groups={"manufacturer": case_manufacturers(cases)},
    )
    return {
        "model_version": version.pk,
        "split": split,
        "metrics": json_safe(flat_metrics(metrics)),
        # Figures with 95% intervals per site and per scanner manufacturer.
        "groups": json_safe(metrics.get("groups", {})),
    }


def evaluate_folder(
    version: ModelVersion, fmt: str, path: str | Path, *, device: str | None = None, progress=None
) -> dict[str, Any]:
    """Import `path` into a throw-away project, evaluate the version on all of it, clean up.

    The source folder is only read. The throw-away project, its rows and its stored files are
    deleted afterwards, whether evaluation succeeded or not. Raises
    NothingToEvaluate when no image with ground truth was imported.
    """
    tag = uuid.uuid4().hex[:12]
    project = Project.objects.create(name=f"evaluation-{tag}", slug=f"evaluation-{tag}")
    try:
        import_dataset(project, fmt, Path(path))
        manifest, masks = build_manifest(project, "reference")
        # Materialise ground-truth masks in memory-backed storage keys for the engine.
        keys = {
            digest: storage.save(storage.new_key(project.pk, "gt-masks", "png"), data)
            for digest, data in masks.items()
        }
        for entry in manifest:
            for im in entry["images"]:
                if im["mask_sha256"]:
                    im["mask_key"] = keys[im["mask_sha256"]]
        cases = cases_from_manifest(manifest)
        if not cases:
            raise NothingToEvaluate(
                "Nothing to evaluate: no images with ground truth were imported."
            )
        metrics = engine.api().evaluate(
            registry.local_artifact(version),
            cases,
            device=device or engine.default_device(),
            progress=progress,
            groups={"manufacturer": case_manufacturers(cases)},
        )
        return json_safe(metrics)
    finally:
        with transaction.atomic():
            project_id = project.pk
            project.delete()
            storage.delete_project_files(project_id)
