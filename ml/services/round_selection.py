"""The worker side of a round's selection: scores from the stored Predictions (uncertainty,
random) or selection on the cached image features (core-set, BADGE, BALD), aggregated per exam,
and the cut to a minutes budget. ml.services.active_learning runs these in the round's Job.
Torch (through ml.engine.active) is imported in the worker only.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np

from ml.models import ActiveLearningRound, ModelVersion, Prediction
from ml.services import engine, pool_features, reading_time
from ml.services.prediction import store_predictions
from senolab.imaging import storage
from senolab.imaging.models import Image
from senolab.jobs import services as jobs
from senolab.jobs.models import Job

# Selected on the cached image features (embeddings, MC-dropout samples).
FEATURE_STRATEGIES = ("coreset", "badge", "bald")
DEFAULT_MC_SAMPLES = 10


def version_of(al_round: ActiveLearningRound) -> ModelVersion:
    if al_round.model_version is None:
        raise jobs.JobFailed("The round's model version was deleted.")
    return al_round.model_version


def class_probabilities(outputs: dict[str, Any]) -> list[float]:
    scores = outputs.get("scores") or {}
    if len(scores) >= 2:
        return [float(v) for v in scores.values()]
    p = float(outputs.get("probability", 0.5))
    return [1.0 - p, p]


def probability_map(key: str) -> np.ndarray:
    from PIL import Image as PILImage

    with PILImage.open(io.BytesIO(storage.read(key))) as im:
        return np.asarray(im.convert("L"), dtype=np.float32) / 255.0


def image_scores(
    version: ModelVersion, predictions: list[Prediction], strategy: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """(exam of each image, the strategy's score of each image, class probabilities of each
    image or None for segmentation)."""
    active = engine.active()
    exams = np.asarray([p.exam_id for p in predictions], dtype=np.int64)
    if version.task == "segmentation":
        scores = [
            float(active.segmentation_uncertainty(probability_map(p.heatmap_key)[None])[0])
            if p.heatmap_key
            else 0.0
            for p in predictions
        ]
        return exams, np.asarray(scores, dtype=np.float32), None
    probabilities = np.asarray([class_probabilities(p.outputs) for p in predictions], np.float32)
    score_of = active.UNCERTAINTY.get(strategy, active.entropy_scores)
    return exams, score_of(probabilities).numpy(), probabilities


def predict_and_store(
    version: ModelVersion, exam_ids: list[int], job: Job, progress: jobs.Progress, *, explain: bool
) -> None:
    """Predict the exams with the version and store the Predictions (the per-version cache)."""
    outputs = pool_features.predict_exams(version, exam_ids, progress, explain=explain)
    store_predictions(version, outputs, job)


def scored_selection(
    al_round: ActiveLearningRound, job: Job, progress: jobs.Progress, active, budget: int
) -> tuple[np.ndarray, np.ndarray, Any, np.ndarray | None, list[str]]:
    """(pool exams, their scores, the selection, their class probabilities or None, class
    names) of a strategy scored from the stored Predictions."""
    version = version_of(al_round)
    pool = list(al_round.pool)
    explain = version.task == "segmentation"  # the probability maps are what it scores
    predicted = set(
        Prediction.objects.filter(model_version=version, exam_id__in=pool)
        .exclude(image=None)
        .values_list("exam_id", flat=True)
    )
    missing = [e for e in pool if e not in predicted]
    progress(0.02, f"{len(pool)} exams in the pool, {len(missing)} to predict")
    if missing:
        predict_and_store(version, missing, job, progress, explain=explain)
    progress(0.85, "scoring the pool")
    predictions = list(
        Prediction.objects.filter(model_version=version, exam_id__in=pool)
        .exclude(image=None)
        .order_by("exam_id", "image_id", "-created_at")
    )
    latest: dict[int | None, Prediction] = {}
    for p in predictions:  # the newest prediction of each image
        latest.setdefault(p.image_id, p)
    predictions = list(latest.values())
    if not predictions:
        raise jobs.JobFailed("The model predicted none of the pool's exams.")
    exam_of_image, scores, probabilities = image_scores(version, predictions, al_round.strategy)
    aggregate = al_round.params.get("aggregate", "max")
    exams, exam_score = active.exam_scores(scores, exam_of_image, how=aggregate)
    if al_round.strategy == "random":
        selection = active.random_selection(
            len(exams), budget, seed=int(al_round.params.get("seed", 0))
        )
    else:
        top = np.argsort(-exam_score, kind="stable")[:budget]
        selection = active.Selection(top, exam_score[top], al_round.strategy)
    exam_probabilities = None
    if probabilities is not None:  # the exam's class probabilities: the mean over its images
        exam_probabilities = np.stack(
            [probabilities[exam_of_image == e].mean(axis=0) for e in exams]
        )
    classes = list((predictions[0].outputs.get("scores") or {}).keys())
    return exams, exam_score, selection, exam_probabilities, classes


def mean_by_exam(values: np.ndarray, exam_of_image: np.ndarray, exams: np.ndarray) -> np.ndarray:
    """Per exam (in `exams` order), the mean of its images' rows."""
    _, inverse = np.unique(exam_of_image, return_inverse=True)
    sums = np.zeros((len(exams), values.shape[1]), np.float64)
    np.add.at(sums, inverse, values.astype(np.float32))
    return (sums / np.bincount(inverse, minlength=len(exams))[:, None]).astype(np.float32)


def covered_exam_ids(al_round: ActiveLearningRound) -> list[int]:
    """The exams of the version's modality outside the round's pool (read, or given to a
    reader): core-set's initial centres."""
    version = version_of(al_round)
    images = Image.objects.filter(project_id=al_round.project_id)
    if version.modality:
        images = images.filter(modality=version.modality)
    pool = set(al_round.pool)
    return sorted(set(images.values_list("exam_id", flat=True)) - pool)


def feature_selection(
    al_round: ActiveLearningRound, job: Job, progress: jobs.Progress, active, budget: int
) -> tuple[np.ndarray, np.ndarray, Any, np.ndarray | None, list[str]]:
    """Core-set, BADGE or BALD on the version's cached features, aggregated per exam."""
    version = version_of(al_round)
    strategy, params = al_round.strategy, al_round.params
    pool = list(al_round.pool)
    covered = covered_exam_ids(al_round) if strategy == "coreset" else []
    passes = int(params.get("mc_samples", DEFAULT_MC_SAMPLES)) if strategy == "bald" else 0
    features = pool_features.pool_features(
        version, pool + covered, job, progress, mc_passes=passes, store_predictions_of=pool
    )
    progress(0.85, f"selecting by {strategy}")
    in_pool = np.isin(features.exam_ids, np.asarray(pool, np.int64))
    if not in_pool.any():
        raise jobs.JobFailed("The model read none of the pool's images.")
    exam_of_image = features.exam_ids[in_pool]
    exams = np.unique(exam_of_image)
    embeddings = mean_by_exam(features.embeddings[in_pool], exam_of_image, exams)
    probabilities = mean_by_exam(features.probabilities[in_pool], exam_of_image, exams)
    seed = int(params.get("seed", 0))
    if strategy == "coreset":
        known = ~in_pool
        labelled = (
            mean_by_exam(
                features.embeddings[known],
                features.exam_ids[known],
                np.unique(features.exam_ids[known]),
            )
            if known.any()
            else None
        )
        selection = active.coreset_selection(embeddings, budget, labelled=labelled, seed=seed)
        # With no covered exam, the first pick is a seeded draw at no distance from a centre:
        # it scores 0 (JSON has no infinity).
        finite = np.where(np.isfinite(selection.scores), selection.scores, 0).astype(np.float32)
        selection = active.Selection(selection.indices, finite, strategy)
        exam_score = np.zeros(len(exams), np.float32)
        exam_score[selection.indices] = selection.scores
    elif strategy == "badge":
        selection = active.badge_selection(probabilities, embeddings, budget, seed=seed)
        exam_score = np.zeros(len(exams), np.float32)
        exam_score[selection.indices] = selection.scores
    else:
        assert features.samples is not None
        image_bald = active.bald_scores(features.samples[:, in_pool].astype(np.float32))
        _, exam_score = active.exam_scores(
            image_bald, exam_of_image, how=params.get("aggregate", "max")
        )
        top = np.argsort(-exam_score, kind="stable")[:budget]
        selection = active.Selection(top, exam_score[top], strategy)
    classes = list(version.recipe_config.get("classes") or [])
    if not classes:  # a version registered without its recipe: its predictions name them
        first = Prediction.objects.filter(model_version=version).exclude(image=None).first()
        classes = list((first.outputs.get("scores") or {}).keys()) if first else []
    task_probabilities = probabilities if version.task == "classification" else None
    return exams, exam_score, selection, task_probabilities, classes


def within_minutes(
    al_round: ActiveLearningRound, exams: np.ndarray, selection: Any
) -> tuple[Any, dict[int, float] | None]:
    """The selection cut to the round's minutes budget (rank order, each pick while its
    modality's minutes still fit, at most `budget` picks), and the minutes of every exam of the
    pool (None without a minutes budget)."""
    params = al_round.params
    if params.get("budget_minutes") is None:
        return selection, None
    minutes_of = params.get("minutes_per_exam") or {}
    modality = reading_time.exam_modalities([int(e) for e in exams], version_of(al_round).modality)
    cost = {int(e): float(minutes_of.get(modality.get(int(e), ""), 0)) for e in exams}
    left = float(params["budget_minutes"])
    keep: list[int] = []
    for position, i in enumerate(selection.indices.tolist()):
        minutes = cost[int(exams[i])]
        if len(keep) == al_round.budget:
            break
        if 0 < minutes <= left + 1e-9:
            keep.append(position)
            left -= minutes
    index = np.asarray(keep, np.int64)
    kept = type(selection)(selection.indices[index], selection.scores[index], selection.strategy)
    return kept, cost
