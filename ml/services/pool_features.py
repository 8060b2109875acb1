"""The per-version cache of what active learning reads besides scores: each image's embedding,
class probabilities and Monte Carlo dropout samples (ml.ImageFeatures, float16 bytes).

`pool_features` runs the model only on the exams with no cached row for the version (or, for
BALD, rows with fewer dropout passes than asked), stores their rows in one transaction (and
their Predictions where the version had none, so the prediction cache fills too), and returns
the arrays of every asked exam from the database. A second round on the same version runs no
model. Torch is reached through ml.services.engine, in the worker only.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

import numpy as np
from django.db import transaction

from ml.models import ImageFeatures, ModelVersion, Prediction
from ml.services import engine, registry
from ml.services.prediction import store_predictions
from ml.services.snapshots import build_manifest, cases_from_manifest
from senolab.jobs import services as jobs
from senolab.jobs.models import Job

F16 = np.dtype("<f2")


@dataclass
class PoolFeatures:
    """Cached arrays of a version's images, ordered by exam then image.

    Args:
        image_ids: N image ids.
        exam_ids: N exam ids (of each image).
        embeddings: N x D float16.
        probabilities: N x C float16 class probabilities (C = 1 for segmentation: lesion).
        samples: T x N x C float16 dropout probabilities, or None when none were asked for.
    """

    image_ids: np.ndarray
    exam_ids: np.ndarray
    embeddings: np.ndarray
    probabilities: np.ndarray
    samples: np.ndarray | None


def predict_exams(
    version: ModelVersion,
    exam_ids: list[int],
    progress: jobs.Progress,
    *,
    explain: bool,
    embeddings: bool = False,
    mc_samples: int = 0,
) -> list[Any]:
    """Run the version on the exams (the engine's CasePredictions), reporting 5-80%."""
    manifest, _ = build_manifest(version.project, "any", exam_ids)
    for entry in manifest:  # ground-truth masks are not needed to predict
        for im in entry["images"]:
            im.pop("mask_key", None)

    def report(fraction: float, message: str, metrics: dict | None = None) -> None:
        progress(0.05 + 0.75 * float(fraction), message)

    api = engine.api()
    try:
        return api.predict(
            registry.local_artifact(version),
            cases_from_manifest(manifest),
            device=engine.default_device(),
            explain=explain,
            embeddings=embeddings,
            mc_samples=mc_samples,
            progress=report,
        )
    except api.DropoutUnavailable as exc:
        raise jobs.JobFailed(f"BALD cannot run on model version {version.pk}: {exc}.") from exc


def exams_to_predict(version: ModelVersion, exam_ids: list[int], mc_passes: int) -> list[int]:
    """The exams with no cached row for the version, or rows with fewer than `mc_passes`."""
    rows = ImageFeatures.objects.filter(model_version=version, exam_id__in=exam_ids).values_list(
        "exam_id", "mc_passes"
    )
    have, short = set(), set()
    for exam_id, passes in rows:
        have.add(exam_id)
        if passes < mc_passes:
            short.add(exam_id)
    return [e for e in exam_ids if e not in have or e in short]


def store_features(version: ModelVersion, outputs: list[Any], mc_passes: int) -> int:
    """One row per image each prediction carries an embedding for, replacing older rows of the
    same images, in one transaction. Returns the rows written."""
    rows = []
    for out in outputs:
        for key, embedding in out.image_embeddings.items():
            samples = out.image_samples.get(key)
            scores = out.image_scores.get(key) or out.scores
            rows.append(
                ImageFeatures(
                    model_version=version,
                    image_id=int(key),
                    exam_id=int(out.case_key),
                    embedding=np.asarray(embedding, F16).tobytes(),
                    probabilities=np.asarray(list(scores.values()), F16).tobytes(),
                    samples=b"" if samples is None else np.asarray(samples, F16).tobytes(),
                    mc_passes=0 if samples is None else mc_passes,
                )
            )
    with transaction.atomic():
        ImageFeatures.objects.filter(
            model_version=version, image_id__in=[r.image_id for r in rows]
        ).delete()
        ImageFeatures.objects.bulk_create(rows, batch_size=500)
    return len(rows)


def load_features(version: ModelVersion, exam_ids: list[int], mc_passes: int = 0) -> PoolFeatures:
    """The cached arrays of the exams' images (the first `mc_passes` samples of each)."""
    rows = list(
        ImageFeatures.objects.filter(model_version=version, exam_id__in=exam_ids)
        .order_by("exam_id", "image_id")
        .values_list("image_id", "exam_id", "embedding", "probabilities", "samples")
    )

    def array(data: Any) -> np.ndarray:
        return np.frombuffer(bytes(data), F16)

    embeddings = np.stack([array(r[2]) for r in rows]) if rows else np.zeros((0, 0), F16)
    probabilities = np.stack([array(r[3]) for r in rows]) if rows else np.zeros((0, 0), F16)
    samples = None
    if mc_passes and rows:
        classes = probabilities.shape[1]
        samples = np.stack([array(r[4]).reshape(-1, classes)[:mc_passes] for r in rows], axis=1)
    return PoolFeatures(
        np.asarray([r[0] for r in rows], np.int64),
        np.asarray([r[1] for r in rows], np.int64),
        embeddings,
        probabilities,
        samples,
    )


def pool_features(
    version: ModelVersion,
    exam_ids: list[int],
    job: Job | None,
    progress: jobs.Progress,
    *,
    mc_passes: int = 0,
    store_predictions_of: Collection[int] | None = None,
) -> PoolFeatures:
    """The exams' cached features, predicting (and caching) only the exams missing them. The
    predicted exams' Predictions are stored too where the version has none, only for the
    exams in `store_predictions_of` when given (a read exam needs no machine proposal)."""
    missing = exams_to_predict(version, exam_ids, mc_passes)
    progress(0.02, f"{len(exam_ids)} exams, {len(missing)} to run the model on")
    if missing:
        predicted = set(
            Prediction.objects.filter(model_version=version, exam_id__in=missing)
            .exclude(image=None)
            .values_list("exam_id", flat=True)
        )
        wanted = set(exam_ids if store_predictions_of is None else store_predictions_of)
        to_store = (set(missing) & wanted) - predicted
        outputs = predict_exams(
            version,
            missing,
            progress,
            # segmentation rounds score the stored probability maps: keep them for new rows
            explain=version.task == "segmentation" and bool(to_store),
            embeddings=True,
            mc_samples=mc_passes,
        )
        store_predictions(version, [o for o in outputs if int(o.case_key) in to_store], job)
        store_features(version, outputs, mc_passes)
    return load_features(version, exam_ids, mc_passes)
