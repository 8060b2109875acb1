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

Core-set, BADGE and BALD read the version's cached image features instead (ml.services.
pool_features: embeddings, class probabilities, Monte Carlo dropout samples, float16 per image
and version); an exam's embedding is the mean of its images', its probabilities the mean of
theirs, and its BALD score the max (or mean) of its images'. Core-set starts from every exam
of the modality outside the pool (read or already given to a reader) as a covered centre.

A round's budget is a number of exams, or readers' minutes (`budget_minutes`): the strategy
ranks up to the number of exams the minutes could buy, and picks are taken in rank order while
their modality's minutes per exam (ml.services.reading_time) still fit.

Torch (through ml.engine.active) is imported in the worker only.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import signature
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from annotations.models import ExamLabel, Finding, ReadingAssignment, Source
from ml.models import (
    ActiveLearningPolicy,
    ActiveLearningRound,
    ModelVersion,
    RoundState,
    VersionStatus,
)
from ml.services import engine, reading_time, round_selection
from ml.services.errors import MLServiceError
from senolab.imaging.models import Exam, Image
from senolab.jobs import services as jobs
from senolab.jobs.models import Job, JobKind
from senolab.projects.models import Project

logger = logging.getLogger(__name__)

ROUND_TASK = "ml.active_round_task"

# Scored from the stored Predictions (class probabilities, probability maps).
SCORE_STRATEGIES = ("random", "least_confidence", "margin", "entropy")
FEATURE_STRATEGIES = round_selection.FEATURE_STRATEGIES
DEFAULT_MC_SAMPLES = round_selection.DEFAULT_MC_SAMPLES
ROUND_STRATEGIES = SCORE_STRATEGIES + FEATURE_STRATEGIES
CLASSIFIER_STRATEGIES = ("badge", "bald")  # they read class probabilities
GREEDY = ("coreset", "badge")
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
    budget: int | None,
    *,
    version_id: int | None = None,
    readers: list[Any] | None = None,
    seed: int = 0,
    aggregate: str = "max",
    rare_class: str = "",
    rare_share: float = 0.2,
    budget_minutes: float | None = None,
    minutes_per_exam: dict[str, float] | None = None,
    mc_samples: int = DEFAULT_MC_SAMPLES,
    trigger: str = "request",
    user=None,
) -> ActiveLearningRound:
    """A queued round and its Job. Raises RoundRefused (naming the field) for an unknown
    strategy, a budget under 1 exam or 1 minute, no active model, an empty pool, BADGE or BALD
    on a model without class probabilities, or a minutes budget for a modality with neither
    recorded reading times nor a default in `minutes_per_exam`; `readers` (project members) each
    get every pick. With `rare_class`, the balance guard keeps `rare_share` of the picks for
    the exams most likely of that class (classification versions). With `budget_minutes`,
    `budget` (optional then) caps the number of exams too."""
    if strategy not in ROUND_STRATEGIES:
        raise RoundRefused(
            "strategy", f"Unknown strategy {strategy!r}; use one of {', '.join(ROUND_STRATEGIES)}."
        )
    if budget_minutes is None and budget is None:
        raise RoundRefused("budget", "Give a budget in exams or in readers' minutes.")
    if budget is not None and budget < 1:
        raise RoundRefused("budget", "The budget must be at least 1 exam.")
    if budget_minutes is not None and not budget_minutes >= 1:
        raise RoundRefused("budget_minutes", "A minutes budget must be at least 1 minute.")
    if aggregate not in ("max", "mean"):
        raise RoundRefused("aggregate", "Aggregate image scores by 'max' or 'mean'.")
    if not 0 <= rare_share <= 1:
        raise RoundRefused("rare_share", "The rare-class share lies between 0 and 1.")
    if strategy == "bald" and not 2 <= mc_samples <= 100:
        raise RoundRefused("mc_samples", "BALD takes 2 to 100 Monte Carlo dropout passes.")
    version = round_version(project, version_id)
    if strategy in CLASSIFIER_STRATEGIES and version.task != "classification":
        raise RoundRefused(
            "strategy",
            f"{strategy} reads class probabilities; model version {version.pk} is a "
            f"{version.task} model: use coreset, entropy or random.",
        )
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
    if trigger != "request":
        params["trigger"] = trigger
    if rare_class:
        params.update(rare_class=rare_class, rare_share=rare_share)
    if strategy == "bald":
        params["mc_samples"] = mc_samples
    if budget_minutes is not None:
        minutes = _minutes_params(project, version, pool, budget_minutes, minutes_per_exam or {})
        params.update(minutes)
        cheapest = min(minutes["minutes_per_exam"].values())
        budget = min(budget or len(pool), max(int(budget_minutes // cheapest), 1))
    assert budget is not None
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


def _minutes_params(
    project: Project,
    version: ModelVersion,
    pool: list[int],
    budget_minutes: float,
    defaults: dict[str, float],
) -> dict[str, Any]:
    """The round's minutes budget and the minutes per exam of each modality of its pool."""
    bad = [m for m, v in defaults.items() if not isinstance(v, int | float) or v <= 0]
    if bad:
        raise RoundRefused(
            "minutes_per_exam", f"Minutes per exam must be positive numbers: {', '.join(bad)}."
        )
    modalities = set(reading_time.exam_modalities(pool, version.modality).values())
    minutes, source, missing = reading_time.minutes_per_exam(project, modalities, defaults)
    if missing:
        raise RoundRefused(
            "minutes_per_exam",
            f"No recorded reading times for {', '.join(missing)} in this project: give the "
            "minutes an exam takes, e.g. {" + ", ".join(f'"{m}": 5' for m in missing) + "}.",
        )
    if budget_minutes < min(minutes.values()):
        raise RoundRefused(
            "budget_minutes",
            f"{budget_minutes:g} minutes buy no exam: one takes {min(minutes.values()):g}.",
        )
    return {
        "budget_minutes": budget_minutes,
        "minutes_per_exam": minutes,
        "minutes_source": source,
    }


def start_policy_round(version: ModelVersion) -> ActiveLearningRound | None:
    """The round a project's policy asks for when `version`, made by a training run, has just
    been activated; None when there is no such policy or the round cannot start (logged)."""
    policy = ActiveLearningPolicy.objects.filter(
        project_id=version.project_id, after_training=True
    ).first()
    if policy is None or version.training_run_id is None:
        return None
    if version.task not in ("classification", "segmentation"):
        return None
    options = dict(policy.params)
    names = options.pop("readers", [])
    readers = list(
        get_user_model().objects.filter(
            username__in=names, memberships__project_id=version.project_id
        )
    )
    allowed = {"seed", "aggregate", "rare_class", "rare_share", "mc_samples"}
    try:
        return start_round(
            version.project,
            policy.strategy,
            policy.budget if policy.budget_minutes is None else None,
            version_id=version.pk,
            readers=readers,
            budget_minutes=policy.budget_minutes,
            minutes_per_exam=policy.minutes_per_exam,
            trigger="training",
            user=version.trained_by,
            **{k: v for k, v in options.items() if k in allowed},
        )
    except RoundRefused as exc:
        logger.warning(
            "project %s: no round after training version %s (%s: %s)",
            version.project_id,
            version.pk,
            exc.field,
            exc,
        )
        return None


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


def _run_round(al_round: ActiveLearningRound, job: Job, progress: jobs.Progress, active) -> dict:
    version = al_round.model_version
    if version is None:
        raise jobs.JobFailed("The round's model version was deleted.")
    choose = (
        round_selection.feature_selection
        if al_round.strategy in round_selection.FEATURE_STRATEGIES
        else round_selection.scored_selection
    )
    # A minutes budget walks the ranking past exams whose minutes no longer fit, so ranked
    # strategies rank the whole pool; greedy ones (each pick depends on the earlier) pick the cap.
    depth = al_round.budget
    if al_round.params.get("budget_minutes") is not None and al_round.strategy not in GREEDY:
        depth = len(al_round.pool)
    exams, exam_score, picked, probabilities, classes = choose(
        al_round, job, progress, active, depth
    )
    picked, minutes = round_selection.within_minutes(al_round, exams, picked)
    guarded: set[int] = set()
    rare = al_round.params.get("rare_class")
    if rare and probabilities is not None:
        if rare not in classes:
            raise jobs.JobFailed(f"The model has no class {rare!r}; its classes: {classes}.")
        before = set(picked.indices.tolist())
        picked = active.balance_guard(
            picked,
            probabilities,
            rare_class=classes.index(rare),
            share=float(al_round.params.get("rare_share", 0.2)),
        )
        guarded = set(picked.indices.tolist()) - before
    picks: list[dict[str, Any]] = []
    for rank, i in enumerate(picked.indices.tolist(), start=1):
        pick: dict[str, Any] = {
            "exam": int(exams[i]),
            "score": round(float(exam_score[i]), 6),
            "rank": rank,
        }
        if i in guarded:  # scored by its probability of the rare class instead
            pick.update(reason="balance", score=round(float(picked.scores[rank - 1]), 6))
        if minutes is not None:  # a guard's replacement counts at its own modality's minutes
            pick["minutes"] = round(minutes[pick["exam"]], 3)
        picks.append(pick)
    progress(0.95, f"{len(picks)} exams picked")
    _open(al_round, picks)
    result = {"round": al_round.pk, "pool": len(al_round.pool), "picks": len(picks)}
    if minutes is not None:
        result["minutes"] = round(sum(p["minutes"] for p in picks), 3)
    return result


def _open(al_round: ActiveLearningRound, picks: list[dict[str, Any]]) -> None:
    """Record the picks, give them to the round's readers, and make this the open round."""
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
