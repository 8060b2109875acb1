"""Active-learning rounds: a model version scores the project's unread pool, a strategy of
ml.engine.active picks the exams an expert should read next, and the picks lead the worklist
while the round is open.

The pool is every exam of the project with images of the version's modality that no reader has
been given and that holds no expert read (no human or consensus finding or label); imported
reference labels do not take an exam out of the pool. Scores come from the version's
Predictions, which are the per-version cache: exams of the pool the version has not predicted
yet are predicted first (and stored), so a second round on the same version runs no model.
Scores are per image and aggregated to the exam with `exam_scores` (an exam is as uncertain as
its most uncertain image, or the mean); a segmentation version scores each image by the mean
entropy inside its predicted region (`segmentation_uncertainty`) from the stored probability
maps.

Torch (through ml.engine.active) is imported in the worker only.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
from celery import signature
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from annotations.models import ExamLabel, Finding, ReadingAssignment, Source
from ml.models import ActiveLearningRound, ModelVersion, Prediction, RoundState, VersionStatus
from ml.services import engine, registry
from ml.services.errors import MLServiceError
from ml.services.prediction import store_predictions
from ml.services.snapshots import build_manifest, cases_from_manifest
from senolab.imaging import storage
from senolab.imaging.models import Exam, Image
from senolab.jobs import services as jobs
from senolab.jobs.models import Job, JobKind
from senolab.projects.models import Project

ROUND_TASK = "ml.active_round_task"

# The strategies a round can run on what a model version stores today (class probabilities and
# probability maps). Core-set, BADGE and BALD need embeddings or MC-dropout samples, which the
# engine's predict does not return yet.
ROUND_STRATEGIES = ("random", "least_confidence", "margin", "entropy")
EXPERT_SOURCES = (Source.HUMAN, Source.CONSENSUS)


class RoundRefused(MLServiceError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


# --- the pool -------------------------------------------------------------------------------------


def pool_exam_ids(project: Project, modality: str = "") -> list[int]:
    """Exams with images (of the modality, when one is named) that no reader has been given and
    no expert has read."""
    read = Q(
        pk__in=Finding.objects.filter(
            project=project, source__in=EXPERT_SOURCES, deleted=False
        ).values("exam_id")
    ) | Q(
        pk__in=ExamLabel.objects.filter(project=project, source__in=EXPERT_SOURCES).values(
            "exam_id"
        )
    )
    given = Q(pk__in=ReadingAssignment.objects.filter(project=project).values("exam_id"))
    images = Image.objects.filter(project=project)
    if modality:
        images = images.filter(modality=modality)
    with_images = images.values("exam_id")
    return sorted(
        Exam.objects.filter(project=project, pk__in=with_images)
        .exclude(read | given)
        .values_list("pk", flat=True)
    )


def round_version(project: Project, version_id: int | None = None) -> ModelVersion:
    """The named version of the project, else its active classification or segmentation one."""
    versions = ModelVersion.objects.filter(
        project=project, task__in=("classification", "segmentation")
    )
    if version_id is not None:
        found = versions.filter(pk=version_id).first()
        if found is None:
            raise RoundRefused("model_version", "No such classification or segmentation version.")
        return found
    found = versions.filter(status=VersionStatus.ACTIVE).order_by("-created_at").first()
    if found is None:
        raise RoundRefused(
            "model_version",
            "This project has no active classification or segmentation model: train and "
            "activate one first.",
        )
    return found


# --- starting, closing ----------------------------------------------------------------------------


def start_round(
    project: Project,
    strategy: str,
    budget: int,
    *,
    version_id: int | None = None,
    readers: list[Any] | None = None,
    seed: int = 0,
    aggregate: str = "max",
    rare_class: str = "",
    rare_share: float = 0.2,
    user=None,
) -> ActiveLearningRound:
    """A queued round and its Job. Raises RoundRefused for an unknown strategy, a budget under
    1, no active model or an empty pool; `readers` (project members) each get every pick. With
    `rare_class`, the balance guard keeps `rare_share` of the picks for the exams most likely of
    that class (classification versions)."""
    if strategy not in ROUND_STRATEGIES:
        raise RoundRefused(
            "strategy", f"Unknown strategy {strategy!r}; use one of {', '.join(ROUND_STRATEGIES)}."
        )
    if budget < 1:
        raise RoundRefused("budget", "The budget must be at least 1 exam.")
    if aggregate not in ("max", "mean"):
        raise RoundRefused("aggregate", "Aggregate image scores by 'max' or 'mean'.")
    if not 0 <= rare_share <= 1:
        raise RoundRefused("rare_share", "The rare-class share lies between 0 and 1.")
    version = round_version(project, version_id)
    classes = version.recipe_config.get("classes") or []
    if rare_class and (version.task != "classification" or (classes and rare_class not in classes)):
        raise RoundRefused(
            "rare_class", f"The model version has no class {rare_class!r}: {', '.join(classes)}."
        )
    pool = pool_exam_ids(project, version.modality)
    if not pool:
        raise RoundRefused(
            "project",
            f"The pool is empty: every exam with {version.modality or 'any'} images is assigned "
            "or read.",
        )
    reader_ids = [r.pk for r in readers or []]
    params: dict[str, Any] = {"seed": seed, "aggregate": aggregate, "readers": reader_ids}
    if rare_class:
        params.update(rare_class=rare_class, rare_share=rare_share)
    with transaction.atomic():
        job = jobs.create_job(
            JobKind.ACTIVE_ROUND,
            project=project,
            user=user,
            params={"model_version": version.pk, "strategy": strategy, "budget": budget},
            queue=settings.SENOLAB_GPU_QUEUE,
        )
        al_round = ActiveLearningRound.objects.create(
            project=project,
            model_version=version,
            strategy=strategy,
            params=params,
            budget=budget,
            pool=pool,
            job=job,
            created_by=job.created_by,
        )
        jobs.enqueue(job, signature(ROUND_TASK))
    return al_round


def close_round(al_round: ActiveLearningRound) -> ActiveLearningRound:
    """Close an open round: its picks stop leading the worklist (their assignments stay)."""
    if al_round.state != RoundState.OPEN:
        raise RoundRefused(
            "state", f"Only an open round can be closed; this one is {al_round.state}."
        )
    al_round.state = RoundState.CLOSED
    al_round.closed_at = timezone.now()
    al_round.save(update_fields=["state", "closed_at"])
    return al_round


def open_round_ranking(project: Project) -> list[int]:
    """The open round's picked exams in rank order (the worklist's ranking hook)."""
    al_round = ActiveLearningRound.objects.filter(project=project, state=RoundState.OPEN).first()
    return [int(p["exam"]) for p in al_round.picks] if al_round else []


# --- worker side ----------------------------------------------------------------------------------


def _class_probabilities(outputs: dict[str, Any]) -> list[float]:
    scores = outputs.get("scores") or {}
    if len(scores) >= 2:
        return [float(v) for v in scores.values()]
    p = float(outputs.get("probability", 0.5))
    return [1.0 - p, p]


def _probability_map(key: str) -> np.ndarray:
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
            float(active.segmentation_uncertainty(_probability_map(p.heatmap_key)[None])[0])
            if p.heatmap_key
            else 0.0
            for p in predictions
        ]
        return exams, np.asarray(scores, dtype=np.float32), None
    probabilities = np.asarray([_class_probabilities(p.outputs) for p in predictions], np.float32)
    score_of = active.UNCERTAINTY.get(strategy, active.entropy_scores)
    return exams, score_of(probabilities).numpy(), probabilities


def run_round(job: Job, progress: jobs.Progress) -> dict[str, Any]:
    """Score the pool, pick by the strategy, give the picks to the readers, open the round."""
    active = engine.active()
    al_round = ActiveLearningRound.objects.select_related("model_version", "project").get(job=job)
    ActiveLearningRound.objects.filter(pk=al_round.pk).update(state=RoundState.RUNNING)
    try:
        result = _run_round(al_round, job, progress, active)
    except Exception:
        ActiveLearningRound.objects.filter(pk=al_round.pk).update(state=RoundState.FAILED)
        raise
    return result


def _predict(
    version: ModelVersion, exam_ids: list[int], job: Job, progress: jobs.Progress, *, explain: bool
) -> None:
    """Predict the exams with the version and store the Predictions (the per-version cache)."""
    manifest, _ = build_manifest(version.project, "any", exam_ids)
    for entry in manifest:  # ground-truth masks are not needed to predict
        for im in entry["images"]:
            im.pop("mask_key", None)

    def report(fraction: float, message: str, metrics: dict | None = None) -> None:
        progress(0.05 + 0.75 * float(fraction), message)

    outputs = engine.api().predict(
        registry.local_artifact(version),
        cases_from_manifest(manifest),
        device=engine.default_device(),
        explain=explain,
        progress=report,
    )
    store_predictions(version, outputs, job)


def _run_round(al_round: ActiveLearningRound, job: Job, progress: jobs.Progress, active) -> dict:
    version = al_round.model_version
    if version is None:
        raise jobs.JobFailed("The round's model version was deleted.")
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
        _predict(version, missing, job, progress, explain=explain)
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
            len(exams), al_round.budget, seed=int(al_round.params.get("seed", 0))
        )
    else:
        top = np.argsort(-exam_score, kind="stable")[: al_round.budget]
        selection = active.Selection(top, exam_score[top], al_round.strategy)
    guarded: set[int] = set()
    rare = al_round.params.get("rare_class")
    if rare and probabilities is not None:
        classes = list((predictions[0].outputs.get("scores") or {}).keys())
        if rare not in classes:
            raise jobs.JobFailed(f"The model has no class {rare!r}; its classes: {classes}.")
        # The exam's class probabilities: the mean over its images.
        exam_probabilities = np.stack(
            [probabilities[exam_of_image == e].mean(axis=0) for e in exams]
        )
        before = set(selection.indices.tolist())
        selection = active.balance_guard(
            selection,
            exam_probabilities,
            rare_class=classes.index(rare),
            share=float(al_round.params.get("rare_share", 0.2)),
        )
        guarded = set(selection.indices.tolist()) - before
    picks: list[dict[str, Any]] = []
    for rank, i in enumerate(selection.indices.tolist(), start=1):
        pick: dict[str, Any] = {
            "exam": int(exams[i]),
            "score": round(float(exam_score[i]), 6),
            "rank": rank,
        }
        if i in guarded:  # scored by its probability of the rare class instead
            pick.update(reason="balance", score=round(float(selection.scores[rank - 1]), 6))
        picks.append(pick)
    progress(0.95, f"{len(picks)} exams picked")
    _open(al_round, picks)
    return {"round": al_round.pk, "pool": len(pool), "picks": len(picks)}


def _open(al_round: ActiveLearningRound, picks: list[dict[str, Any]]) -> None:
    """Record the picks, give them to the round's readers, and make this the open round."""
    from django.contrib.auth import get_user_model

    readers = list(get_user_model().objects.filter(pk__in=al_round.params.get("readers", [])))
    with transaction.atomic():
        now = timezone.now()
        ActiveLearningRound.objects.filter(
            project_id=al_round.project_id, state=RoundState.OPEN
        ).update(state=RoundState.CLOSED, closed_at=now)
        for pick in picks:
            chosen_by = {
                "round": al_round.pk,
                "strategy": al_round.strategy,
                "rank": pick["rank"],
                "score": pick["score"],
            }
            for reader in readers:
                ReadingAssignment.objects.get_or_create(
                    exam_id=pick["exam"],
                    reader=reader,
                    defaults={"project_id": al_round.project_id, "chosen_by": chosen_by},
                )
        al_round.picks = picks
        al_round.state = RoundState.OPEN
        al_round.opened_at = now
        al_round.save(update_fields=["picks", "state", "opened_at"])
