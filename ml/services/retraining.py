"""Scheduled retraining with champion/challenger promotion.

A project's RetrainingPolicy owns a django-celery-beat PeriodicTask (kept in step on every save,
deleted with the policy). Each beat tick calls `check_policy`: it starts a retraining Job only
when enough annotations were reviewed since the last run, and otherwise records why not. The
Job (`run_retraining`, on the gpu queue) builds a new snapshot with the policy's filters, trains
the challenger through the training service, evaluates the challenger and the active champion on
the snapshot's (patient-level) test split, compares them case by case (ml.engine.compare: a
seeded paired bootstrap, overall, per site and per scanner manufacturer) and promotes the
challenger with registry.activate only when it wins by the margin and loses on no protected
site; otherwise the challenger stays a candidate with the reason.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from typing import Any

from celery import signature
from celery.schedules import crontab
from django.conf import settings
from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

from annotations.models import ExamLabel, Finding, Source
from ml.engine.compare import (
    COMPARABLE_METRICS,
    METRICS_OF_KIND,
    decide,
    figures,
    paired_by_group,
    paired_comparison,
)
from ml.engine.recipes import Recipe
from ml.models import (
    GroundTruth,
    ModelVersion,
    Prediction,
    RetrainingDecision,
    RetrainingPolicy,
    RetrainingRun,
    TrainingRun,
    VersionStatus,
)
from ml.services import engine, registry, training
from ml.services.errors import MLServiceError, RecipeNotFound
from ml.services.exports import ExportFilters, ExportRequestError, select_exam_ids
from ml.services.results import json_safe
from ml.services.snapshots import build_snapshot_for, case_manufacturers, snapshot_cases
from senolab.jobs import services as jobs
from senolab.jobs.models import FINISHED_STATUSES, Job, JobKind

RETRAIN_TASK = "ml.retrain_task"
CHECK_TASK = "ml.check_retraining_policy_task"
# What a policy's overrides may replace (as a training run's): the recipe's own fields.
RECIPE_FIELDS = frozenset(f.name for f in dataclasses.fields(Recipe)) - {"name", "task"}
# Resamples of the paired bootstrap (its RNG is seeded with the policy's snapshot seed).
N_BOOT = 1000


class RetrainingRefused(MLServiceError):
    """A policy or a run request that cannot be accepted; `field` names the input at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


# --- the policy and its schedule ------------------------------------------------------------


def metrics_of_recipe(recipe_name: str) -> tuple[str, ...]:
    """The metrics a comparison can use for this recipe's outputs (no torch: the catalogue)."""
    recipe = next((r for r in engine.recipe_descriptions() if r["name"] == recipe_name), None)
    if recipe is None:
        raise RecipeNotFound(recipe_name)
    if recipe["task"] == "segmentation":
        return METRICS_OF_KIND["segmentation"]
    if recipe["task"] == "classification" and len(recipe["classes"]) > 2:
        return METRICS_OF_KIND["multiclass"]
    return METRICS_OF_KIND["binary"]


def cron_fields(cron: str) -> dict[str, str]:
    """The five fields of a cron line as CrontabSchedule's; RetrainingRefused when malformed."""
    parts = cron.split()
    if len(parts) != 5:
        raise RetrainingRefused(
            "cron", "Give five fields: minute hour day-of-month month day-of-week."
        )
    names = ("minute", "hour", "day_of_month", "month_of_year", "day_of_week")
    fields = dict(zip(names, parts, strict=True))
    try:
        crontab(**fields)
    except ValueError as exc:
        raise RetrainingRefused("cron", f"Not a valid cron line: {exc}") from exc
    return fields


def check_policy_fields(policy: RetrainingPolicy) -> None:
    """Refuse a policy that could not run: unknown recipe, a metric its outputs lack, bad
    filters, a schedule given twice or malformed, a negative margin."""
    if policy.metric not in COMPARABLE_METRICS:
        raise RetrainingRefused("metric", f"metric is one of {', '.join(COMPARABLE_METRICS)}.")
    try:
        usable = metrics_of_recipe(policy.recipe)
    except RecipeNotFound as exc:
        raise RetrainingRefused("recipe", str(exc)) from exc
    if not isinstance(policy.overrides, dict):
        raise RetrainingRefused("overrides", "Give recipe fields and their values.")
    unknown = sorted(set(policy.overrides) - RECIPE_FIELDS)
    if unknown:
        raise RetrainingRefused("overrides", f"{unknown[0]!r} is not a recipe field.")
    if policy.metric not in usable:
        raise RetrainingRefused(
            "metric",
            f"{policy.recipe} reports {', '.join(usable)}; {policy.metric} cannot be compared.",
        )
    try:
        values = dataclasses.asdict(ExportFilters.from_json(policy.filters))
        if values["ground_truth_reader"]:
            raise ExportRequestError(
                "ground_truth_reader", "The policy names its reader in ground_truth_reader."
            )
        if values["ground_truth"] == GroundTruth.READER:
            if policy.ground_truth_reader is None:
                raise RetrainingRefused(
                    "ground_truth_reader", "Name the reader whose reads are the ground truth."
                )
            values["ground_truth_reader"] = policy.ground_truth_reader.get_username()
        filters = ExportFilters.of(values)
    except (ExportRequestError, TypeError, ValueError, AttributeError) as exc:
        raise RetrainingRefused("filters", str(exc)) from exc
    for field in dataclasses.fields(ExportFilters):
        value, default = getattr(filters, field.name), field.default
        wanted: Any = (dt.date, type(None)) if default is None else type(default)
        if isinstance(default, str):
            wanted = str  # a TextChoices default takes the plain string
        if not isinstance(value, wanted) or (wanted is int and isinstance(value, bool)):
            raise RetrainingRefused("filters", f"filters.{field.name} is not a {field.type}.")
    if policy.cron and policy.interval_seconds:
        raise RetrainingRefused("cron", "Give a cron line or an interval, not both.")
    if policy.cron:
        cron_fields(policy.cron)
    if policy.margin < 0:
        raise RetrainingRefused("margin", "The margin is a difference to win by: 0 or more.")
    if not isinstance(policy.protected_sites, list) or not all(
        isinstance(s, str) for s in policy.protected_sites
    ):
        raise RetrainingRefused("protected_sites", "Give a list of site names.")
    if policy.fine_tune and not filters.site:
        raise RetrainingRefused(
            "fine_tune", "A site fine-tune names its site in filters.site (its exams only)."
        )


def sync_schedule(policy: RetrainingPolicy) -> PeriodicTask | None:
    """Create, update or delete the policy's PeriodicTask to match its schedule (called on every
    save). A policy with no schedule has none: it runs only when asked."""
    task = (
        PeriodicTask.objects.filter(pk=policy.periodic_task_id).first()
        if policy.periodic_task_id
        else None
    )
    if not policy.cron and not policy.interval_seconds:
        if task is not None:
            task.delete()  # SET_NULL clears the policy's link
        return None
    cron_schedule = interval = None
    if policy.cron:
        cron_schedule, _ = CrontabSchedule.objects.get_or_create(
            **cron_fields(policy.cron), timezone=settings.TIME_ZONE
        )
    else:
        interval, _ = IntervalSchedule.objects.get_or_create(
            every=policy.interval_seconds, period=IntervalSchedule.SECONDS
        )
    values = {
        "name": f"retraining policy {policy.pk} (project {policy.project_id})",
        "task": CHECK_TASK,
        "kwargs": json.dumps({"policy_id": policy.pk}),
        # The look is a few queries: it must not wait behind trainings on the gpu queue.
        "queue": settings.CELERY_TASK_DEFAULT_QUEUE,
        "crontab": cron_schedule,
        "interval": interval,
        "enabled": policy.enabled,
        "description": f"Looks at {policy} (ml.RetrainingPolicy {policy.pk}).",
    }
    if task is None:
        task = PeriodicTask.objects.create(**values)
        RetrainingPolicy.objects.filter(pk=policy.pk).update(periodic_task=task)
        policy.periodic_task = task
    else:
        for name, value in values.items():
            setattr(task, name, value)
        task.save()
    return task


def delete_schedule(policy: RetrainingPolicy) -> None:
    if policy.periodic_task_id:
        PeriodicTask.objects.filter(pk=policy.periodic_task_id).delete()


_PERIOD_SECONDS = {
    IntervalSchedule.SECONDS: 1,
    IntervalSchedule.MINUTES: 60,
    IntervalSchedule.HOURS: 3600,
    IntervalSchedule.DAYS: 86400,
}


def adopt_schedule(task: PeriodicTask) -> RetrainingPolicy | None:
    """An admin's edit of a policy's PeriodicTask (in the Django admin) becomes the policy's own
    schedule, so the next save of the policy keeps it instead of writing the old one back: a
    crontab becomes `cron`, an interval `interval_seconds` (one of microseconds stays as the
    policy had it), and the task's `enabled` the policy's."""
    policy = RetrainingPolicy.objects.filter(periodic_task_id=task.pk).first()
    if policy is None:
        return None
    cron, interval_seconds = policy.cron, policy.interval_seconds
    if task.crontab_id is not None:
        c = task.crontab
        cron = f"{c.minute} {c.hour} {c.day_of_month} {c.month_of_year} {c.day_of_week}"
        interval_seconds = None
    elif task.interval_id is not None and task.interval.period in _PERIOD_SECONDS:
        cron, interval_seconds = "", task.interval.every * _PERIOD_SECONDS[task.interval.period]
    changed = {
        name: value
        for name, value in (
            ("cron", cron),
            ("interval_seconds", interval_seconds),
            ("enabled", task.enabled),
        )
        if getattr(policy, name) != value
    }
    if changed:
        RetrainingPolicy.objects.filter(pk=policy.pk).update(**changed)
        for name, value in changed.items():
            setattr(policy, name, value)
    return policy


def forget_schedule(task: PeriodicTask) -> None:
    """An admin deleted a policy's PeriodicTask: the policy keeps no schedule (it runs when
    asked), so that its next save does not make the task again."""
    RetrainingPolicy.objects.filter(periodic_task_id=task.pk).update(cron="", interval_seconds=None)


# --- the trigger ----------------------------------------------------------------------------


def last_run(policy: RetrainingPolicy) -> RetrainingRun | None:
    return RetrainingRun.objects.filter(policy=policy).order_by("-created_at", "-id").first()


def new_reviewed_annotations(policy: RetrainingPolicy) -> int:
    """Annotations (findings and exam labels) of the policy's ground-truth source on reviewed
    exams (status done) matching its filters, written or changed since its last run started
    (all of them before the first run)."""
    filters = ExportFilters.from_json(policy.filters)
    exam_ids = select_exam_ids(
        policy.project, dataclasses.replace(filters, reviewed_only=True, label_status="any")
    )
    previous = last_run(policy)
    since = Q(updated_at__gt=previous.created_at) if previous else Q()
    sources = {
        GroundTruth.REFERENCE: [Source.REFERENCE],
        GroundTruth.HUMAN: [Source.HUMAN],
        GroundTruth.CONSENSUS: [Source.CONSENSUS],
        GroundTruth.MAJORITY: [Source.HUMAN],
        GroundTruth.READER: [Source.HUMAN],
    }.get(GroundTruth(filters.ground_truth))
    findings = Finding.objects.filter(since, exam_id__in=exam_ids, deleted=False)
    labels = ExamLabel.objects.filter(since, exam_id__in=exam_ids)
    if sources:
        findings, labels = findings.filter(source__in=sources), labels.filter(source__in=sources)
    if filters.ground_truth == GroundTruth.READER:
        findings = findings.filter(created_by_id=policy.ground_truth_reader_id)
        labels = labels.filter(author_id=policy.ground_truth_reader_id)
    return findings.count() + labels.count()


def run_in_flight(policy: RetrainingPolicy) -> RetrainingRun | None:
    return (
        RetrainingRun.objects.filter(policy=policy, job__isnull=False)
        .exclude(job__status__in=FINISHED_STATUSES)
        .first()
    )


def check_policy(policy_id: int) -> dict[str, Any]:
    """A beat tick: start a run when the trigger is reached, else record why not."""
    policy = RetrainingPolicy.objects.select_related("project").filter(pk=policy_id).first()
    if policy is None:
        return {"started": False, "why": "The policy no longer exists."}
    run = None
    if not policy.enabled:
        why = "Disabled."
    elif (busy := run_in_flight(policy)) is not None:
        why = f"Retraining run {busy.pk} is still in progress."
    else:
        count = new_reviewed_annotations(policy)
        if count < policy.min_new_annotations:
            why = (
                f"{count} newly reviewed annotation(s) since the last run; "
                f"{policy.min_new_annotations} are needed."
            )
        else:
            try:
                run = start_retraining(policy, trigger="schedule", new_annotations=count)
                why = f"Started retraining run {run.pk} on {count} newly reviewed annotation(s)."
            except MLServiceError as exc:  # e.g. a recipe that is no longer shipped
                why = f"Not started: {exc}"
    RetrainingPolicy.objects.filter(pk=policy.pk).update(
        last_checked_at=timezone.now(), last_check=why[:300]
    )
    return {"started": run is not None, "run": run.pk if run else None, "why": why}


# --- starting and running a retraining --------------------------------------------------------


def start_retraining(
    policy: RetrainingPolicy,
    *,
    trigger: str = "manual",
    user=None,
    new_annotations: int | None = None,
    enqueue: bool = True,
) -> RetrainingRun:
    """A RetrainingRun and its retrain Job on the gpu queue. RetrainingRefused while another
    run of the policy is in progress or when the policy cannot run as it stands."""
    check_policy_fields(policy)
    if (busy := run_in_flight(policy)) is not None:
        raise RetrainingRefused("policy", f"Retraining run {busy.pk} is still in progress.")
    if new_annotations is None:
        new_annotations = new_reviewed_annotations(policy)
    user = user if user is not None and user.is_authenticated else None
    with transaction.atomic():
        job = jobs.create_job(
            JobKind.RETRAIN,
            project=policy.project,
            user=user,
            params={"policy": policy.pk, "recipe": policy.recipe, "trigger": trigger},
            queue=settings.SENOLAB_GPU_QUEUE,
        )
        run = RetrainingRun.objects.create(
            project=policy.project,
            policy=policy,
            job=job,
            trigger=trigger,
            new_annotations=new_annotations,
            metric=policy.metric,
            margin=policy.margin,
            protected_sites=list(policy.protected_sites),
            created_by=user,
        )
        if enqueue:
            jobs.enqueue(job, signature(RETRAIN_TASK))
    return run


def _stage(progress: jobs.Progress, low: float, high: float):
    def report(fraction: float, message: str = "", *_: Any) -> None:
        progress(low + (high - low) * float(fraction), message)

    return report


def run_retraining(job: Job, progress: jobs.Progress) -> dict[str, Any]:
    """The work of a retrain Job: snapshot, train, compare, decide. Raises to fail the job; the
    run's decision is then "failed" with the reason (a challenger already registered stays a
    candidate)."""
    try:
        return _run_retraining(job, progress)
    except jobs.JobCancelled:
        _settle_unfinished(job, "The retraining was cancelled.")
        raise
    except Exception as exc:
        _settle_unfinished(job, f"The retraining failed: {exc}")
        raise


def _settle_unfinished(job: Job, reason: str) -> None:
    RetrainingRun.objects.filter(job=job, decision=RetrainingDecision.PENDING).update(
        decision=RetrainingDecision.FAILED, reason=reason[:2000], finished_at=timezone.now()
    )


def settle_runs_of_finished_jobs() -> int:
    """Runs whose job was finished elsewhere (a lost worker, the reaper, a cancel while queued)
    end as failed with the job's message. One UPDATE per run; safe at any time."""
    count = 0
    pending = RetrainingRun.objects.filter(
        decision=RetrainingDecision.PENDING, job__status__in=FINISHED_STATUSES
    ).select_related("job")
    for run in pending:
        assert run.job is not None
        count += RetrainingRun.objects.filter(
            pk=run.pk, decision=RetrainingDecision.PENDING
        ).update(
            decision=RetrainingDecision.FAILED,
            reason=f"The retraining Job ended {run.job.status}: {run.job.message}"[:2000],
            finished_at=run.job.finished_at or timezone.now(),
        )
    return count


def _run_retraining(job: Job, progress: jobs.Progress) -> dict[str, Any]:
    retraining = RetrainingRun.objects.select_related("project", "policy").get(job=job)
    policy = retraining.policy
    if policy is None:
        raise jobs.JobFailed("The retraining policy was deleted before its run started.")
    filters = ExportFilters.from_json(policy.filters)
    progress(0.01, "Building the data set snapshot")
    try:
        recipe = engine.api().load_recipe(policy.recipe)
    except (KeyError, FileNotFoundError) as exc:
        raise jobs.JobFailed(f"Unknown recipe {policy.recipe!r}: {exc}") from exc
    exam_ids = select_exam_ids(policy.project, filters)
    if not exam_ids:
        raise jobs.JobFailed("No exam matches the policy's filters.")
    try:
        snapshot = build_snapshot_for(
            policy.project,
            recipe,
            seed=filters.seed,
            ground_truth=filters.ground_truth,
            user=retraining.created_by,
            ground_truth_reader=policy.ground_truth_reader,
            exam_ids=exam_ids,
        )
    except MLServiceError as exc:
        raise jobs.JobFailed(f"No training data: {exc}") from exc
    parent = _fine_tune_parent(policy, recipe) if policy.fine_tune else None
    params = {
        "seed": filters.seed,
        "ground_truth": filters.ground_truth,
        "ground_truth_reader": policy.ground_truth_reader_id,
        "recipe": policy.recipe,
        "overrides": dict(policy.overrides or {}),
        "retraining_run": retraining.pk,
        "fine_tune_site": filters.site if parent is not None else "",
    }
    training_run = TrainingRun.objects.create(
        project=policy.project,
        recipe=policy.recipe,
        snapshot=snapshot,
        job=job,
        params=params,
        parent_version=parent,
        created_by=retraining.created_by,
    )
    RetrainingRun.objects.filter(pk=retraining.pk).update(
        snapshot=snapshot, training_run=training_run
    )
    trained = training.run_training(job, _stage(progress, 0.02, 0.7))
    challenger = ModelVersion.objects.get(pk=trained["model_version"])
    RetrainingRun.objects.filter(pk=retraining.pk).update(challenger=challenger)
    champion = (
        ModelVersion.objects.filter(
            project=policy.project,
            task=challenger.task,
            label=challenger.label,
            status=VersionStatus.ACTIVE,
        )
        .exclude(pk=challenger.pk)
        .first()
    )
    comparison, promote, reason = _compare(
        retraining, snapshot, challenger, champion, filters.seed, progress
    )
    if promote:
        registry.activate(challenger)
    decision = RetrainingDecision.PROMOTED if promote else RetrainingDecision.KEPT
    RetrainingRun.objects.filter(pk=retraining.pk).update(
        champion=champion,
        comparison=json_safe(comparison),
        decision=decision,
        reason=reason,
        finished_at=timezone.now(),
    )
    return {
        "retraining_run": retraining.pk,
        "model_version": challenger.pk,
        "champion": champion.pk if champion else None,
        "decision": decision.value,
        "reason": reason,
    }


def _fine_tune_parent(policy: RetrainingPolicy, recipe: Any) -> ModelVersion:
    """The active version a site fine-tune starts from: the project's champion for the
    recipe's task and label, trained with the same recipe (its weights must fit)."""
    champion = ModelVersion.objects.filter(
        project=policy.project,
        task=recipe.task,
        label=recipe.label,
        status=VersionStatus.ACTIVE,
    ).first()
    if champion is None:
        raise jobs.JobFailed(
            f"A site fine-tune starts from the active version for {recipe.task} of "
            f"{recipe.label!r}; this project has none."
        )
    if champion.recipe != policy.recipe:
        raise jobs.JobFailed(
            f"A site fine-tune starts from the active version, trained with {champion.recipe}; "
            f"the policy's recipe is {policy.recipe}."
        )
    return champion


def _compare(
    retraining: RetrainingRun,
    snapshot,
    challenger: ModelVersion,
    champion: ModelVersion | None,
    seed: int,
    progress: jobs.Progress,
) -> tuple[dict[str, Any], bool, str]:
    """(comparison, promote, reason) of the challenger against the champion on the snapshot's
    test split."""
    api, device = engine.api(), engine.default_device()
    cases = snapshot_cases(snapshot, "test")
    if not cases:
        return {}, False, "The new snapshot has no test cases to compare on."
    progress(0.72, f"Evaluating the challenger on {len(cases)} test cases")
    ours = api.case_outcomes(
        registry.local_artifact(challenger),
        cases,
        device=device,
        progress=_stage(progress, 0.72, 0.82),
    )
    comparison: dict[str, Any] = {
        "test_cases": len(cases),
        "challenger": figures(ours, n_boot=N_BOOT, seed=seed),
    }
    if champion is None:
        promote = comparison["challenger"].get(retraining.metric) is not None
        reason = (
            "No active version of this task and label: the challenger becomes the first."
            if promote
            else f"The challenger's {retraining.metric} is undefined on the test split."
        )
        return comparison, promote, reason
    progress(0.84, f"Evaluating the champion (version {champion.pk}) on the same cases")
    try:
        theirs = api.case_outcomes(
            registry.local_artifact(champion),
            cases,
            device=device,
            progress=_stage(progress, 0.84, 0.94),
        )
    except (api.LesionsRequired, ValueError) as exc:
        return comparison, False, f"The champion cannot read these test cases: {exc}"
    if theirs.kind != ours.kind or sorted(theirs.keys) != sorted(ours.keys):
        return comparison, False, "The champion's outputs cannot be paired with the challenger's."
    progress(0.95, "Comparing case by case")
    comparison["champion"] = figures(theirs, n_boot=N_BOOT, seed=seed)
    metric = retraining.metric
    sites = {case.key: case.site for case in cases}
    comparison["overall"] = paired_comparison(ours, theirs, metric, n_boot=N_BOOT, seed=seed)
    comparison["sites"] = paired_by_group(ours, theirs, metric, sites, n_boot=N_BOOT, seed=seed)
    comparison["manufacturers"] = paired_by_group(
        ours, theirs, metric, case_manufacturers(cases), n_boot=N_BOOT, seed=seed
    )
    outcome = decide(
        comparison["overall"],
        comparison["sites"],
        metric=metric,
        margin=retraining.margin,
        protected_sites=retraining.protected_sites,
    )
    return comparison, outcome.promote, outcome.reason


# --- lineage ---------------------------------------------------------------------------------


def lineage(run: RetrainingRun) -> dict[str, Any]:
    """snapshot -> run -> version -> proposals -> reader decisions, as ids and counts."""
    snapshot = run.snapshot
    version = run.challenger
    decisions: dict[str, int] = {}
    proposals = 0
    if version is not None:
        rows = (
            Prediction.objects.filter(model_version=version)
            .values("provenance")
            .annotate(n=Count("id"))
        )
        decisions = {row["provenance"]: row["n"] for row in rows}
        proposals = sum(decisions.values())
    return {
        "snapshot": {
            "id": snapshot.pk,
            "content_hash": snapshot.content_hash,
            "cases": len(snapshot.case_ids),
        }
        if snapshot
        else None,
        "training_run": run.training_run_id,
        "model_version": {"id": version.pk, "status": version.status} if version else None,
        # A site fine-tune's challenger names the version it started from.
        "parent": version.parent_id if version else None,
        "proposals": proposals,
        "reader_decisions": {
            name: decisions.get(name, 0) for name in ("proposed", "accepted", "edited", "rejected")
        },
    }


__all__ = [
    "CHECK_TASK",
    "RETRAIN_TASK",
    "RetrainingRefused",
    "adopt_schedule",
    "check_policy",
    "check_policy_fields",
    "delete_schedule",
    "forget_schedule",
    "lineage",
    "new_reviewed_annotations",
    "run_retraining",
    "settle_runs_of_finished_jobs",
    "start_retraining",
    "sync_schedule",
]
