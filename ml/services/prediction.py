"""Running registered model versions: evaluation and prediction jobs, and external evaluation.

Like ml.services, the engine (torch) is imported only inside the functions a worker or a
management command runs; recipe listing reads the TOML files without torch.
"""

from __future__ import annotations

import io
import logging
import uuid
from pathlib import Path
from typing import Any

import numpy as np
from django.db import transaction

from ml.models import ModelVersion, Prediction
from senolab.imaging import storage
from senolab.jobs import services as jobs
from senolab.jobs.models import Job
from senolab.projects.models import Project

logger = logging.getLogger(__name__)

GPU_QUEUE = "gpu"
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


def recipe_descriptions() -> list[dict[str, Any]]:
    """Name, task, label, modality, classes and description of every shipped recipe."""
    from ml.engine.recipes import list_recipes

    return [
        {
            "name": r.name,
            "task": r.task,
            "label": r.label,
            "modality": r.modality,
            "classes": list(r.classes),
            "network": r.network,
            "epochs": r.epochs,
            "description": r.description,
        }
        for r in list_recipes()
    ]


def recipe_names_without_torch() -> list[str]:
    return [r["name"] for r in recipe_descriptions()]


# --- starting jobs --------------------------------------------------------------------------------


def start_prediction(
    version: ModelVersion, exam_ids: list[int], *, explain: bool = True, user=None
) -> Job:
    """A predict Job for exams of the version's project (others are refused, not leaked)."""
    from rest_framework.exceptions import ValidationError

    from ml.tasks import predict_task
    from senolab.imaging.models import Exam

    found = set(
        Exam.objects.filter(project_id=version.project_id, pk__in=exam_ids).values_list(
            "pk", flat=True
        )
    )
    if len(found) != len(set(exam_ids)):
        raise ValidationError({"exams": "Some exams do not exist in this project."})
    params = {"model_version": version.pk, "exams": sorted(found), "explain": explain}
    with transaction.atomic():
        job = jobs.create_job(
            "predict", project=version.project, user=user, params=params, queue=GPU_QUEUE
        )
        jobs.enqueue(job, predict_task)
    return job


def start_evaluation(version: ModelVersion, split: str = "test", *, user=None) -> Job:
    """An evaluate Job on a split of the version's snapshot ("all" = every case)."""
    from ml.tasks import evaluate_task

    params = {"model_version": version.pk, "split": split}
    with transaction.atomic():
        job = jobs.create_job(
            "evaluate", project=version.project, user=user, params=params, queue=GPU_QUEUE
        )
        jobs.enqueue(job, evaluate_task)
    return job


def _engine_progress(progress: jobs.Progress):
    def report(fraction: float, message: str, metrics: dict | None = None) -> None:
        progress(0.05 + 0.9 * float(fraction), message)

    return report


# --- worker side ----------------------------------------------------------------------------------


def run_evaluation(job: Job, progress: jobs.Progress) -> dict[str, Any]:
    """Evaluate the version on its snapshot's split; the metrics become the Job's result."""
    from ml import services
    from ml.snapshots import snapshot_cases

    api = services.engine()
    version = ModelVersion.objects.select_related("snapshot").get(pk=job.params["model_version"])
    if version.snapshot is None:
        raise jobs.JobFailed("This model version has no data set snapshot to evaluate on.")
    split = job.params.get("split", "test")
    cases = snapshot_cases(version.snapshot, None if split == "all" else split)
    if not cases:
        raise jobs.JobFailed(f"The snapshot has no {split} cases.")
    metrics = api.evaluate(
        services.local_artifact(version),
        cases,
        device=services.default_device(),
        progress=_engine_progress(progress),
    )
    return {
        "model_version": version.pk,
        "split": split,
        "metrics": services._json_safe(services._flat(metrics)),
    }


def _heatmap_png(heatmap: np.ndarray) -> bytes:
    from PIL import Image as PILImage

    buf = io.BytesIO()
    scaled = (np.clip(np.asarray(heatmap, dtype=np.float32), 0, 1) * 255).astype(np.uint8)
    PILImage.fromarray(scaled).save(buf, format="PNG")
    return buf.getvalue()


def store_predictions(version: ModelVersion, outputs: list[Any], job: Job | None) -> int:
    """One Prediction per image of each predicted case (heatmap PNG kept per image), atomically."""
    from ml.services import _json_safe
    from senolab.imaging.models import Image

    count = 0
    with storage.files_with_rows() as batch:
        for out in outputs:
            images = list(
                Image.objects.filter(
                    exam_id=int(out.case_key), project_id=version.project_id
                ).order_by("pk")
            )
            base = {
                "probability": float(out.probability),
                "label": out.label,
                "scores": _json_safe(out.scores),
            }
            for image in images:
                lesions = [x for x in out.lesions if str(x.get("image_key")) == str(image.pk)]
                heatmap = out.heatmaps.get(str(image.pk))
                key = ""
                if heatmap is not None:
                    key = batch.save(
                        storage.new_key(version.project_id, "heatmaps", "png"),
                        _heatmap_png(heatmap),
                    )
                Prediction.objects.create(
                    project_id=version.project_id,
                    model_version=version,
                    exam_id=image.exam_id,
                    image=image,
                    job=job,
                    outputs={**base, "lesions": _json_safe(lesions)},
                    heatmap_key=key,
                )
                count += 1
    return count


def run_prediction(job: Job, progress: jobs.Progress) -> dict[str, Any]:
    """Run the version on the job's exams and store Predictions (never annotations)."""
    from ml import services
    from ml.snapshots import build_manifest, cases_from_manifest

    api = services.engine()
    version = ModelVersion.objects.select_related("project").get(pk=job.params["model_version"])
    manifest, _ = build_manifest(version.project, "any", job.params["exams"])
    # Masks of ground truth are not needed to predict; drop them so nothing is read from storage.
    for entry in manifest:
        for im in entry["images"]:
            im.pop("mask_key", None)
    cases = cases_from_manifest(manifest)
    outputs = api.predict(
        services.local_artifact(version),
        cases,
        device=services.default_device(),
        explain=job.params.get("explain", True),
        progress=_engine_progress(progress),
    )
    stored = store_predictions(version, outputs, job)
    return {"model_version": version.pk, "predictions": stored, "cases": len(outputs)}


# --- external evaluation (manage.py evaluate) ------------------------------------------


def evaluate_folder(
    version: ModelVersion, fmt: str, path: str | Path, *, device: str | None = None, progress=None
) -> dict[str, Any]:
    """Import `path` into a throw-away project, evaluate the version on all of it, clean up.

    The source folder is only read. The throw-away project, its rows and its stored files are
    deleted afterwards, whether evaluation succeeded or not.
    """
    from ml import services
    from ml.snapshots import build_manifest, cases_from_manifest
    from senolab.imaging.importers import import_dataset

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
            raise ValueError("Nothing to evaluate: no images with ground truth were imported.")
        metrics = services.engine().evaluate(
            services.local_artifact(version),
            cases,
            device=device or services.default_device(),
            progress=progress,
        )
        return services._json_safe(metrics)
    finally:
        delete_project_files(project)


def delete_project_files(project: Project) -> None:
    """Delete a project's stored files (projects/<id>/...) and then its rows."""
    from django.core.files.storage import default_storage

    def walk(prefix: str) -> None:
        try:
            dirs, files = default_storage.listdir(prefix)
        except (FileNotFoundError, NotImplementedError):
            return
        for name in files:
            storage.delete_quietly(f"{prefix}/{name}")
        for name in dirs:
            walk(f"{prefix}/{name}")

    walk(f"projects/{project.pk}")
    try:
        import shutil

        shutil.rmtree(default_storage.path(f"projects/{project.pk}"), ignore_errors=True)
    except NotImplementedError:
        pass
    project.delete()
