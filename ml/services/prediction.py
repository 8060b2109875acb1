"""Prediction: a predict Job runs a model version on exams of its project and stores one
Prediction per image (outputs, lesions, and the per-image map as a PNG: a probability map for
segmentation and detection models, a Grad-CAM for classifiers). Predictions are never annotations.
"""

from __future__ import annotations

import io
import logging
from typing import Any

import numpy as np
from celery import signature
from django.conf import settings
from django.db import transaction

from ml.models import ModelVersion, Prediction
from ml.services import engine, registry
from ml.services.errors import ExamsNotInProject
from ml.services.results import json_safe
from ml.services.snapshots import build_manifest, cases_from_manifest
from senolab.imaging import storage
from senolab.imaging.models import Exam, Image
from senolab.jobs import services as jobs
from senolab.jobs.models import Job, JobKind

logger = logging.getLogger(__name__)

PREDICT_TASK = "ml.predict_task"


# --- starting jobs --------------------------------------------------------------------------------


def start_prediction(
    version: ModelVersion, exam_ids: list[int], *, explain: bool = True, user=None
) -> Job:
    """A predict Job for exams of the version's project (others are refused, not leaked).

    Raises ExamsNotInProject when any exam is not one of the project's.
    """
    found = set(
        Exam.objects.filter(project_id=version.project_id, pk__in=exam_ids).values_list(
            "pk", flat=True
        )
    )
    if len(found) != len(set(exam_ids)):
        raise ExamsNotInProject()
    params = {"model_version": version.pk, "exams": sorted(found), "explain": explain}
    with transaction.atomic():
        job = jobs.create_job(
            JobKind.PREDICT,
            project=version.project,
            user=user,
            params=params,
            queue=settings.SENOLAB_GPU_QUEUE,
        )
        jobs.enqueue(job, signature(PREDICT_TASK))
    return job


# --- worker side ----------------------------------------------------------------------------------


def _heatmap_png(heatmap: np.ndarray) -> bytes:
    from PIL import Image as PILImage

    buf = io.BytesIO()
    scaled = (np.clip(np.asarray(heatmap, dtype=np.float32), 0, 1) * 255).astype(np.uint8)
    PILImage.fromarray(scaled).save(buf, format="PNG")
    return buf.getvalue()


def store_predictions(version: ModelVersion, outputs: list[Any], job: Job | None) -> int:
    """One Prediction per image of each predicted case, atomically; its map kept as a PNG."""
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
                "scores": json_safe(out.scores),
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
                    outputs={**base, "lesions": json_safe(lesions)},
                    heatmap_key=key,
                )
                count += 1
    return count


def run_prediction(job: Job, progress: jobs.Progress) -> dict[str, Any]:
    """Run the version on the job's exams and store Predictions (never annotations)."""
    api = engine.api()
    version = ModelVersion.objects.select_related("project").get(pk=job.params["model_version"])
    manifest, _ = build_manifest(version.project, "any", job.params["exams"])
    # Masks of ground truth are not needed to predict; drop them so nothing is read from storage.
    for entry in manifest:
        for im in entry["images"]:
            im.pop("mask_key", None)
    cases = cases_from_manifest(manifest)
    outputs = api.predict(
        registry.local_artifact(version),
        cases,
        device=engine.default_device(),
        explain=job.params.get("explain", True),
        progress=engine.job_progress(progress),
    )
    stored = store_predictions(version, outputs, job)
    return {"model_version": version.pk, "predictions": stored, "cases": len(outputs)}
