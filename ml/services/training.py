"""ML operations: start and run trainings, register model versions, evaluate, predict.

The engine (ml.engine, torch/MONAI) is imported inside the functions that run on a worker, so
web processes that import this module never load torch.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import OuterRef, Subquery
from django.utils import timezone

from ml.models import DatasetSnapshot, ModelVersion, TrainingRun, VersionStatus
from senolab.imaging import storage
from senolab.jobs import services as jobs
from senolab.jobs.models import FINISHED_STATUSES, Job, JobStatus
from senolab.projects.models import Project

logger = logging.getLogger(__name__)

GPU_QUEUE = "gpu"
HEARTBEAT_EVERY_S = 30.0


def engine():
    """The engine's public interface, imported on first use (it loads torch)."""
    from ml.engine import api

    return api


def recipe_names() -> list[str]:
    return [str(getattr(r, "name", r)) for r in engine().list_recipes()]


def default_device() -> str:
    configured = os.environ.get("SENOLAB_TRAIN_DEVICE", "")
    if configured:
        return configured
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


# --- starting a training ------------------------------------------------------------------------


def start_training(
    project: Project,
    recipe: str,
    *,
    user=None,
    seed: int = 0,
    ground_truth: str = "any",
    parent: ModelVersion | None = None,
    enqueue: bool = True,
    overrides: dict[str, Any] | None = None,
) -> TrainingRun:
    """Create the TrainingRun and its Job on the gpu queue; the worker does the rest.

    `overrides` replace recipe fields for this run only (e.g. epochs for a quick check); they
    are kept in the run's params and in the version's recipe_config.
    """
    from ml.tasks import train_task

    if parent is not None and parent.project_id != project.pk:
        raise ValueError("The parent version belongs to another project.")
    params = {
        "seed": seed,
        "ground_truth": ground_truth,
        "recipe": recipe,
        "overrides": overrides or {},
    }
    with transaction.atomic():
        job = jobs.create_job("train", project=project, user=user, params=params, queue=GPU_QUEUE)
        run = TrainingRun.objects.create(
            project=project,
            recipe=recipe,
            job=job,
            params=params,
            parent_version=parent,
            created_by=user if user is not None and user.is_authenticated else None,
        )
        if enqueue:
            jobs.enqueue(job, train_task)
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
    api = engine()
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
        snapshot = build_snapshot_for(
            run.project,
            recipe,
            seed=run.params.get("seed", 0),
            ground_truth=run.params.get("ground_truth", "any"),
            user=run.created_by,
        )
    except ValueError as exc:
        raise jobs.JobFailed(f"No training data for {label or run.recipe}: {exc}") from exc
    device = default_device()
    TrainingRun.objects.filter(pk=run.pk).update(snapshot=snapshot, device=device)
    run.snapshot = snapshot
    progress(0.05, f"Training on {len(snapshot.case_ids)} cases ({device})")
    reporter = _RunReporter(run, progress)
    init = local_artifact(run.parent_version) if run.parent_version else None
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
            )
        except api.Cancelled as exc:
            raise jobs.JobCancelled() from exc
        except ValueError as exc:  # nothing to learn from (e.g. one class only)
            raise jobs.JobFailed(str(exc)) from exc
        if reporter.should_stop():
            raise jobs.JobCancelled()
        progress(0.97, "Registering the model version")
        version = register_version(run, recipe, result)
    return {"model_version": version.pk, "training_run": run.pk, "metrics": _flat(version.metrics)}


def build_snapshot_for(
    project: Project, recipe: Any, *, seed: int = 0, ground_truth: str = "any", user=None
) -> DatasetSnapshot:
    from ml.snapshots import build_snapshot

    # Classifiers learn a case label; segmentation and detection learn masks and lesions, so
    # their "label" only names what is outlined and every case is kept (normals are negatives).
    label = getattr(recipe, "label", "") or ""
    classifier = getattr(recipe, "task", "") == "classification"
    return build_snapshot(
        project,
        ground_truth=ground_truth,
        seed=seed,
        stratify_key=label if classifier else "abnormal",
        require_label=label if classifier else "",
        user=user,
    )


def split_of(snapshot: DatasetSnapshot) -> dict[str, list]:
    """The snapshot's cases grouped by split name, as the engine's train() takes them."""
    from ml.snapshots import snapshot_cases

    cases = snapshot_cases(snapshot)
    out: dict[str, list] = {"train": [], "val": [], "test": []}
    for case in cases:
        out.setdefault(snapshot.split[case.key], []).append(case)
    return out


def _flat(metrics: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in metrics.items() if isinstance(v, int | float | str) or k == "auc_ci"}


def register_version(run: TrainingRun, recipe: Any, result: Any) -> ModelVersion:
    """Store the artifact under a generated key and register the version, atomically.

    The artifact's checksum is verified against the engine's before and after it is stored; the
    row is written in the same transaction, and the stored file is deleted if anything fails.
    """
    path = Path(result.artifact_path)
    if not path.is_file():
        raise jobs.JobFailed("The engine reported an artifact that does not exist.")
    if storage.sha256_of_file(path) != result.sha256:
        raise jobs.JobFailed("The model artifact does not match its checksum; not registered.")
    key = storage.new_key(run.project_id, "models", path.suffix.lstrip(".") or "pt")
    with storage.files_with_rows() as batch:
        with open(path, "rb") as fh:
            batch.save(key, fh)
        with storage.open_file(key) as fh:
            stored = hashlib.sha256(fh.read()).hexdigest()
        if stored != result.sha256:
            raise jobs.JobFailed("The stored model artifact is corrupt; not registered.")
        version = ModelVersion.objects.create(
            project_id=run.project_id,
            task=getattr(recipe, "task", ""),
            label=getattr(recipe, "label", "") or "",
            modality=getattr(recipe, "modality", "") or "",
            recipe=run.recipe,
            recipe_config=_recipe_config(recipe),
            snapshot=run.snapshot,
            snapshot_hash=run.snapshot.content_hash if run.snapshot else "",
            training_run=run,
            parent=run.parent_version,
            artifact_key=key,
            artifact_sha256=result.sha256,
            artifact_size=path.stat().st_size,
            metrics=_json_safe(result.metrics),
            temperature=float(result.temperature or 1.0),
            threshold=None if result.threshold is None else float(result.threshold),
            trained_by=run.created_by,
        )
        TrainingRun.objects.filter(pk=run.pk).update(
            history=_json_safe(getattr(result, "history", None) or run.history),
            status=JobStatus.SUCCEEDED,
            finished_at=timezone.now(),
        )
    return version


def _recipe_config(recipe: Any) -> dict[str, Any]:
    if dataclasses.is_dataclass(recipe) and not isinstance(recipe, type):
        return _json_safe(dataclasses.asdict(recipe))
    return _json_safe(getattr(recipe, "__dict__", {}))


def _json_safe(value: Any) -> Any:
    """numpy scalars and arrays, tuples and paths as plain JSON values."""
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if hasattr(value, "tolist"):
        return _json_safe(value.tolist())
    if isinstance(value, float | int | str | bool) or value is None:
        if isinstance(value, float) and value != value:  # NaN is not JSON
            return None
        return value
    return str(value)


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


# --- model versions -----------------------------------------------------------------------------


def local_artifact(version: ModelVersion) -> str:
    """A local path of the version's artifact, checked against its checksum."""
    try:
        path = Path(storage.default_storage.path(version.artifact_key))
    except NotImplementedError:  # remote storage: keep a verified copy in the model dir
        path = Path(settings.SENOLAB_MODEL_DIR) / "cache" / f"{version.artifact_sha256}.pt"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".part")
            with storage.open_file(version.artifact_key) as src, open(tmp, "wb") as dst:
                for block in iter(lambda: src.read(1 << 20), b""):
                    dst.write(block)
            tmp.rename(path)
    if storage.sha256_of_file(path) != version.artifact_sha256:
        raise jobs.JobFailed(f"The artifact of model version {version.pk} fails its checksum.")
    return str(path)


def activate(version: ModelVersion) -> ModelVersion:
    """Make this the one active version of its project and task; the previous one is retired."""
    with transaction.atomic():
        ModelVersion.objects.select_for_update().filter(
            project_id=version.project_id,
            task=version.task,
            label=version.label,
            status=VersionStatus.ACTIVE,
        ).exclude(pk=version.pk).update(status=VersionStatus.RETIRED)
        ModelVersion.objects.filter(pk=version.pk).update(status=VersionStatus.ACTIVE)
    version.refresh_from_db()
    return version


def retire(version: ModelVersion) -> ModelVersion:
    ModelVersion.objects.filter(pk=version.pk).update(status=VersionStatus.RETIRED)
    version.refresh_from_db()
    return version
