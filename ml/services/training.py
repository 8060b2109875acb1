"""Training: start a run (a TrainingRun and its train Job on the gpu queue) and, on the worker,
snapshot the project, train with the engine and register the model version.

The engine is reached through ml.services.engine, which imports torch only when a run starts.
"""

from __future__ import annotations

import dataclasses
import logging
import tempfile
import time
from pathlib import Path
from typing import Any

from celery import signature
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import OuterRef, Subquery
from django.utils import timezone

from ml.models import ModelVersion, TrainingRun
from ml.services import engine, registry
from ml.services.errors import NothingToTrain, ParentVersionMismatch, RecipeNotFound
from ml.services.results import flat_metrics
from ml.services.snapshots import (
    build_snapshot_for,
    case_manufacturers,
    snapshot_cases,
    split_of,
)
from senolab.jobs import services as jobs
from senolab.jobs.models import FINISHED_STATUSES, Job, JobKind, JobStatus
from senolab.projects.models import Project

logger = logging.getLogger(__name__)

HEARTBEAT_EVERY_S = 30.0
TRAIN_TASK = "ml.train_task"


# --- starting a training ------------------------------------------------------------------------


def start_training(
    project: Project,
    recipe: str,
    *,
    user=None,
    seed: int = 0,
    ground_truth: str = "any",
    ground_truth_reader=None,
    parent: ModelVersion | None = None,
    enqueue: bool = True,
    overrides: dict[str, Any] | None = None,
) -> TrainingRun:
    """Create the TrainingRun and its Job on the gpu queue; the worker does the rest.

    `overrides` replace recipe fields for this run only (e.g. epochs for a quick check); they
    are kept in the run's params and in the version's recipe_config. Raises RecipeNotFound and
    ParentVersionMismatch for a request that cannot run.
    """
    if recipe not in engine.recipe_names_without_torch():
        raise RecipeNotFound(recipe)
    if parent is not None and parent.project_id != project.pk:
        raise ParentVersionMismatch()
    params = {
        "seed": seed,
        "ground_truth": ground_truth,
        "ground_truth_reader": getattr(ground_truth_reader, "pk", None),
        "recipe": recipe,
        "overrides": overrides or {},
    }
    with transaction.atomic():
        job = jobs.create_job(
            JobKind.TRAIN,
            project=project,
            user=user,
            params=params,
            queue=settings.SENOLAB_GPU_QUEUE,
        )
        run = TrainingRun.objects.create(
            project=project,
            recipe=recipe,
            job=job,
            params=params,
            parent_version=parent,
            created_by=user if user is not None and user.is_authenticated else None,
        )
        if enqueue:
            jobs.enqueue(job, signature(TRAIN_TASK))
    return run


# --- running it (on the worker) -----------------------------------------------------------------


class _RunReporter:
    """Turns the engine's callbacks into Job progress, run history and cancel checks."""

    def __init__(self, run: TrainingRun, progress: jobs.Progress) -> None:
        self.run = run
        self.progress = progress
        self.last_beat = 0.0

    def __call__(self, fraction: float, message: str, metrics: dict[str, float]) -> None:
        if metrics:
            self.run.history = [*self.run.history, {k: _plain(v) for k, v in metrics.items()}]
            TrainingRun.objects.filter(pk=self.run.pk).update(history=self.run.history)
        self.last_beat = time.monotonic()
        # Raises JobCancelled when someone asked to cancel: the run stops here.
        self.progress(0.05 + 0.9 * float(fraction), message)

    def should_stop(self) -> bool:
        # Called often (per batch); a heartbeat now and then keeps the reaper away during long
        # epochs, and the cancel flag is read from the row.
        job_id = self.run.job_id
        if job_id is None:
            return False
        now = time.monotonic()
        if now - self.last_beat > HEARTBEAT_EVERY_S:
            self.last_beat = now
            Job.objects.filter(pk=job_id).update(heartbeat_at=timezone.now())
        return Job.objects.filter(pk=job_id, cancel_requested=True).exists()


def _plain(value: Any) -> Any:
    try:
        return float(value)
    except (TypeError, ValueError):
        return value


def run_training(job: Job, progress: jobs.Progress) -> dict[str, Any]:
    """The work of a train Job: snapshot, train, register the version. Raises to fail the job.

    The run's final status is written here, before run_job writes the job's: whoever sees the
    job finished sees its run finished too (a success is written with the version, atomically).
    run_job maps a JobCancelled to cancelled and any other exception to failed; so do we.
    """
    try:
        return _run_training(job, progress)
    except jobs.JobCancelled:
        settle_run(job, JobStatus.CANCELLED)
        raise
    except Exception:
        settle_run(job, JobStatus.FAILED)
        raise


def settle_run(job: Job, status: str) -> None:
    """Give the job's run a final status (and a finish time) unless it already has one."""
    TrainingRun.objects.filter(job=job).exclude(status__in=FINISHED_STATUSES).update(
        status=status, finished_at=timezone.now()
    )


def _run_training(job: Job, progress: jobs.Progress) -> dict[str, Any]:
    api = engine.api()
    run = TrainingRun.objects.select_related("project", "parent_version").get(job=job)
    TrainingRun.objects.filter(pk=run.pk).update(status="running")
    try:
        recipe = api.load_recipe(run.recipe)
        overrides = dict(run.params.get("overrides") or {})
        if "input_size" in overrides:
            overrides["input_size"] = tuple(overrides["input_size"])
        recipe = dataclasses.replace(recipe, **overrides)
    except (KeyError, ValueError, TypeError, FileNotFoundError, api.RecipeError) as exc:
        raise jobs.JobFailed(f"Unknown or invalid recipe {run.recipe!r}: {exc}") from exc
    progress(0.01, "Building the data set snapshot")
    label = getattr(recipe, "label", "") or ""
    try:
        # A run made with its snapshot (a retraining's, chosen by the policy's filters) keeps it.
        snapshot = run.snapshot or build_snapshot_for(
            run.project,
            recipe,
            seed=run.params.get("seed", 0),
            ground_truth=run.params.get("ground_truth", "any"),
            user=run.created_by,
            ground_truth_reader=get_user_model()
            .objects.filter(pk=run.params.get("ground_truth_reader"))
            .first(),
        )
    except NothingToTrain as exc:
        raise jobs.JobFailed(f"No training data for {label or run.recipe}: {exc}") from exc
    device = engine.default_device()
    TrainingRun.objects.filter(pk=run.pk).update(snapshot=snapshot, device=device)
    run.snapshot = snapshot
    progress(0.05, f"Training on {len(snapshot.case_ids)} cases ({device})")
    reporter = _RunReporter(run, progress)
    init = registry.local_artifact(run.parent_version) if run.parent_version else None
    work_dir = Path(settings.SENOLAB_MODEL_DIR) / "runs"
    work_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f"run-{run.pk}-", dir=work_dir) as out_dir:
        try:
            result = api.train(
                recipe,
                split_of(snapshot),
                out_dir,
                device=device,
                progress=reporter,
                should_stop=reporter.should_stop,
                init_checkpoint=init,
                groups={"manufacturer": case_manufacturers(snapshot_cases(snapshot, "test"))},
            )
        except api.Cancelled as exc:
            raise jobs.JobCancelled() from exc
        except ValueError as exc:  # nothing to learn from (e.g. one class only)
            raise jobs.JobFailed(str(exc)) from exc
        if reporter.should_stop():
            raise jobs.JobCancelled()
        progress(0.97, "Registering the model version")
        version = registry.register_version(run, recipe, result)
    return {
        "model_version": version.pk,
        "training_run": run.pk,
        "metrics": flat_metrics(version.metrics),
    }


def mirror_run_status(job: Job) -> None:
    """Copy the finished job's status and finish time onto its run (lists show it without a join).

    run_training has already settled the run before the job finished; this aligns finished_at
    with the job's and covers a job that finished without running (cancelled while queued).
    """
    if job.status in FINISHED_STATUSES:
        TrainingRun.objects.filter(job=job).update(status=job.status, finished_at=job.finished_at)


def settle_runs_of_finished_jobs() -> int:
    """Runs whose job was finished by someone else (a lost worker, the reaper, a cancel while
    queued) take its final status. One UPDATE; safe to call at any time."""
    job_of_run = Job.objects.filter(pk=OuterRef("job_id"))
    return (
        TrainingRun.objects.filter(job__status__in=FINISHED_STATUSES)
        .exclude(status__in=FINISHED_STATUSES)
        .update(
            status=Subquery(job_of_run.values("status")[:1]),
            finished_at=Subquery(job_of_run.values("finished_at")[:1]),
        )
    )
