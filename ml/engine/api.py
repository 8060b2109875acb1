"""The engine's public interface (what the Django side and notebooks call). Never imports Django.

recipe = load_recipe("busi-malignancy")
splits = split_cases(cases, seed=0, stratify=recipe.label)
result = train(recipe, splits, "/tmp/run", progress=cb, should_stop=flag)
metrics = evaluate(result.artifact_path, other_cases)  # with metrics["groups"] per site
outcomes = case_outcomes(result.artifact_path, test_cases)  # per case, for paired comparisons
outputs = predict(result.artifact_path, cases, explain=True)
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

import torch

from ml.engine import features
from ml.engine.artifact import load_artifact, load_matching_weights, save_artifact
from ml.engine.cases import Case, ProgressCallback
from ml.engine.compare import CaseOutcomes, group_figures
from ml.engine.data import TensorCache, unlocated_cases
from ml.engine.errors import Cancelled, DropoutUnavailable, LesionsRequired, RecipeError
from ml.engine.pipelines import Pipeline, pipeline_for
from ml.engine.recipes import Recipe, list_recipes, load_recipe
from ml.engine.results import CasePrediction, TrainResult
from ml.engine.splits import snapshot_hash, split_cases

__all__ = [
    "CaseOutcomes",
    "CasePrediction",
    "Cancelled",
    "DropoutUnavailable",
    "LesionsRequired",
    "Predictor",
    "Recipe",
    "RecipeError",
    "TrainResult",
    "case_outcomes",
    "default_device",
    "evaluate",
    "list_recipes",
    "load_recipe",
    "make_pipeline",
    "predict",
    "snapshot_hash",
    "split_cases",
    "train",
]

ARTIFACT_NAME = "model.pt"
CHECKPOINT_NAME = "checkpoint.pt"


def default_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def make_pipeline(
    recipe: Recipe,
    device: str | None = None,
    precision: str | None = None,
    channels_last: bool = True,
) -> Pipeline:
    """The registered pipeline of the recipe's task on `device` (default: CUDA when present),
    at the recipe's precision unless `precision` overrides it."""
    return pipeline_for(recipe.task)(
        recipe, device or default_device(), precision or recipe.precision, channels_last
    )


def _report(
    progress: ProgressCallback | None,
    fraction: float,
    message: str,
    metrics: dict[str, Any] | None = None,
) -> None:
    if progress is not None:
        progress(min(max(fraction, 0.0), 1.0), message, metrics or {})


def _stage(
    progress: ProgressCallback | None, lo: float, hi: float, what: str
) -> Callable[[int, int], None]:
    def report(done: int, total: int) -> None:
        if total and (done == total or done % 25 == 0):
            _report(progress, lo + (hi - lo) * done / total, f"{what} {done}/{total}")

    return report


def train(
    recipe: Recipe,
    splits: dict[str, list[Case]],
    out_dir: str | Path,
    *,
    device: str | None = None,
    progress: ProgressCallback | None = None,
    should_stop: Callable[[], bool] | None = None,
    init_checkpoint: str | Path | None = None,
    groups: Mapping[str, Mapping[str, str]] | None = None,
) -> TrainResult:
    """Train `recipe` on splits["train"], select on splits["val"], report on splits["test"].

    The test metrics hold "groups": figures per site (Case.site) and per grouping in `groups`
    (name -> case key -> value, e.g. the scanner manufacturer), each with 95% intervals.

    Raises Cancelled as soon as should_stop() is true (checked per batch); nothing is written
    to the artifact path unless the run finishes. ValueError when there is nothing to learn from.
    """
    started = time.perf_counter()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    pipe = make_pipeline(recipe, device)
    _report(progress, 0.0, "Reading and preprocessing images (decoded once)")
    caches = {}
    bounds = {"train": (0.0, 0.08), "val": (0.08, 0.1), "test": (0.1, 0.12)}
    for name, (lo, hi) in bounds.items():
        caches[name] = pipe.cache(
            splits.get(name, []),
            labelled_only=True,
            should_stop=should_stop,
            progress=_stage(progress, lo, hi, f"Preparing {name}"),
        )
    train_cache, val_cache, test_cache = caches["train"], caches["val"], caches["test"]
    if len(train_cache) < 2:
        raise ValueError(
            f"{len(train_cache)} training image(s) with a usable "
            f"{recipe.label!r} label; at least 2 are needed"
        )
    model = pipe.network()
    if init_checkpoint:
        load_matching_weights(model, init_checkpoint)

    def on_epoch(epoch: int, entry: dict[str, Any]) -> None:
        _report(
            progress,
            0.12 + 0.8 * epoch / max(recipe.epochs, 1),
            f"Epoch {epoch}/{recipe.epochs}",
            entry,
        )

    history = pipe.fit(
        model,
        train_cache,
        val_cache,
        checkpoint=out_dir / CHECKPOINT_NAME,
        should_stop=should_stop,
        on_epoch=on_epoch,
    )
    _report(progress, 0.93, "Calibrating on validation and evaluating on test")
    val_logits = pipe.infer(model, val_cache, should_stop=should_stop)
    temperature, threshold = pipe.calibrate(val_cache, val_logits)
    metrics: dict[str, Any] = {}
    if len(test_cache):
        test_logits = pipe.infer(model, test_cache, should_stop=should_stop)
        metrics = pipe.evaluate_outputs(
            test_cache, test_logits, temperature=temperature, threshold=threshold, n_boot=1000
        )
        outcomes = pipe.case_outcomes(
            test_cache, test_logits, temperature=temperature, threshold=threshold
        )
        metrics["groups"] = group_figures(outcomes, case_groups(splits.get("test", []), groups))
    else:
        metrics = {"n": 0}
    if len(val_cache):
        val_metrics = pipe.evaluate_outputs(
            val_cache, val_logits, temperature=temperature, threshold=threshold, n_boot=0
        )
        metrics["val"] = {
            k: v for k, v in val_metrics.items() if isinstance(v, int | float) or v is None
        }
    metrics["split_sizes"] = {k: len(c.cases) for k, c in caches.items()}
    metrics["epochs_run"] = len(history)
    metrics["train_seconds"] = round(time.perf_counter() - started, 1)
    metrics["device"] = str(pipe.device)
    if should_stop is not None and should_stop():
        raise Cancelled()
    path = out_dir / ARTIFACT_NAME
    sha = save_artifact(
        path,
        model,
        recipe,
        temperature=temperature,
        threshold=threshold,
        metrics=metrics,
        snapshot=snapshot_hash([c for v in splits.values() for c in v]),
    )
    _report(progress, 1.0, "Model saved")
    return TrainResult(str(path), sha, metrics, history, temperature, threshold)


def _load(artifact_path: str | Path, device: str | None) -> tuple[Pipeline, Any, dict]:
    payload = load_artifact(artifact_path)
    pipe = make_pipeline(payload["recipe"], device)
    model = pipe.network(payload["state_dict"])
    model.eval()
    return pipe, model, payload


def _run(
    artifact_path: str | Path,
    cases: Sequence[Case],
    device: str | None,
    labelled_only: bool,
    progress: ProgressCallback | None,
    should_stop: Callable[[], bool] | None,
    message: str,
) -> tuple[Pipeline, Any, dict, TensorCache, torch.Tensor]:
    """Load the artifact and run its model over `cases` (the first 90% of the progress)."""
    pipe, model, payload = _load(artifact_path, device)
    cache, logits = pipe.stream_infer(
        model,
        cases,
        labelled_only=labelled_only,
        should_stop=should_stop,
        progress=_stage(progress, 0.0, 0.9, message),
    )
    return pipe, model, payload, cache, logits


def case_groups(
    cases: Sequence[Case], groups: Mapping[str, Mapping[str, str]] | None = None
) -> dict[str, Mapping[str, str]]:
    """The groupings figures are given for: "site" (each Case's site), then those asked for."""
    return {"site": {case.key: case.site for case in cases}, **(groups or {})}


def evaluate(
    artifact_path: str | Path,
    cases: Sequence[Case],
    *,
    device: str | None = None,
    progress: ProgressCallback | None = None,
    should_stop: Callable[[], bool] | None = None,
    groups: Mapping[str, Mapping[str, str]] | None = None,
) -> dict[str, Any]:
    """The model's metrics on labelled `cases` (same flat keys as TrainResult.metrics), at the
    temperature and threshold stored with the model, and "groups": the figures with 95%
    intervals per site and per grouping in `groups` (name -> case key -> value)."""
    pipe, model, payload, cache, logits = _run(
        artifact_path, cases, device, True, progress, should_stop, "Evaluating"
    )
    metrics = pipe.evaluate_outputs(
        cache,
        logits,
        temperature=payload["temperature"],
        threshold=payload["threshold"],
        n_boot=1000,
    )
    outcomes = pipe.case_outcomes(
        cache, logits, temperature=payload["temperature"], threshold=payload["threshold"]
    )
    metrics["groups"] = group_figures(outcomes, case_groups(cases, groups))
    _report(progress, 1.0, "Evaluated")
    return metrics


def case_outcomes(
    artifact_path: str | Path,
    cases: Sequence[Case],
    *,
    device: str | None = None,
    progress: ProgressCallback | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> CaseOutcomes:
    """The model's per-case outcomes on labelled `cases` at its stored temperature and
    threshold: what ml.engine.compare pairs against another model's on the same cases."""
    pipe, model, payload, cache, logits = _run(
        artifact_path, cases, device, True, progress, should_stop, "Evaluating"
    )
    outcomes = pipe.case_outcomes(
        cache, logits, temperature=payload["temperature"], threshold=payload["threshold"]
    )
    _report(progress, 1.0, "Evaluated")
    return outcomes


class Predictor:
    """A model loaded once and run over as many batches of cases as asked (what a
    pre-annotation Job does batch after batch); `predict` is one call of it.

    Args:
        artifact_path: the model file.
        device: where to run it (default: CUDA when present).
    """

    def __init__(self, artifact_path: str | Path, device: str | None = None) -> None:
        self.pipe, self.model, self.payload = _load(artifact_path, device)

    @property
    def recipe(self) -> Recipe:
        return self.pipe.recipe

    def unlocated(self, cases: Sequence[Case]) -> list[str]:
        """Keys of the cases this model refuses: it reads lesion crops and they have no
        located lesion (always empty for a model that reads whole images)."""
        return unlocated_cases(self.recipe, cases)

    def __call__(
        self,
        cases: Sequence[Case],
        *,
        explain: bool = False,
        embeddings: bool = False,
        mc_samples: int = 0,
        progress: ProgressCallback | None = None,
        should_stop: Callable[[], bool] | None = None,
        map_max_side: int | None = None,
    ) -> list[CasePrediction]:
        """One CasePrediction per case that has an image (labels are not needed).

        With `map_max_side`, the maps of `explain` are made at the image's size shrunk to fit
        it (what a viewer overlay keeps) instead of at full size.

        With `embeddings`, each prediction carries its images' embeddings (ml.engine.features,
        taken during the same forward pass); with `mc_samples` > 0, that many Monte Carlo
        dropout class-probability samples per image (DropoutUnavailable, before anything is
        read, when the network has no dropout or the task no classes).

        Raises LesionsRequired, before reading anything, when the model reads lesion crops and
        a case has no located lesion: such a model never saw a whole image in training.
        """
        missing = self.unlocated(cases)
        if missing:
            raise LesionsRequired(missing, self.recipe.name)
        if mc_samples > 0:
            if not self.pipe.class_probabilities:
                raise DropoutUnavailable(
                    f"a {self.recipe.task} model has no class probabilities to sample; "
                    "BALD is for classifiers"
                )
            features.require_dropout(self.model)
        capture: AbstractContextManager[list[torch.Tensor]] = (
            features.capture_embeddings(self.model, self.pipe.out_channels())
            if embeddings
            else nullcontext([])
        )
        with capture as rows:
            cache, logits = self.pipe.stream_infer(
                self.model,
                cases,
                labelled_only=False,
                should_stop=should_stop,
                progress=_stage(progress, 0.0, 0.8 if mc_samples else 0.9, "Predicting"),
            )
        out = self.pipe.predictions(
            self.model,
            cache,
            logits,
            temperature=self.payload["temperature"],
            threshold=self.payload["threshold"],
            explain=explain,
            map_max_side=map_max_side,
        )
        if embeddings:
            _attach(out, cache, torch.cat(rows) if rows else None, "image_embeddings")
        if mc_samples > 0:
            _report(progress, 0.85, f"{mc_samples} Monte Carlo dropout passes")
            samples = self._mc_samples(cache, mc_samples)
            _attach(out, cache, samples.permute(1, 0, 2), "image_samples")
        _report(progress, 1.0, "Predicted")
        return out

    def _mc_samples(self, cache: TensorCache, passes: int) -> torch.Tensor:
        temperature = float(self.payload["temperature"])

        def run(x: torch.Tensor) -> torch.Tensor:
            with self.pipe.autocast():
                return self.model(self.pipe._input(x))

        return features.mc_dropout_samples(
            self.model,
            cache.images,
            passes,
            lambda logits: self.pipe.sample_probabilities(logits, temperature),
            run=run,
            batch_size=max(self.recipe.batch_size * 2, 1),
        )


def _attach(
    predictions: list[CasePrediction],
    cache: TensorCache,
    per_sample: torch.Tensor | None,
    field: str,
) -> None:
    """Per-sample rows (samples first) as per-image float16 arrays on each prediction: the mean
    over an image's samples (several only with lesion crops)."""
    if per_sample is None:
        return
    by_case = {p.case_key: p for p in predictions}
    rows: dict[tuple[str, str], list[int]] = {}
    for i, sample in enumerate(cache.samples):
        rows.setdefault((cache.cases[sample.case_index].key, sample.image.key), []).append(i)
    for (case_key, image_key), index in rows.items():
        prediction = by_case.get(case_key)
        if prediction is not None:
            value = per_sample[index].float().mean(dim=0).numpy().astype("float16")
            getattr(prediction, field)[image_key] = value


def predict(
    artifact_path: str | Path,
    cases: Sequence[Case],
    *,
    device: str | None = None,
    explain: bool = False,
    embeddings: bool = False,
    mc_samples: int = 0,
    progress: ProgressCallback | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> list[CasePrediction]:
    """One CasePrediction per case that has an image (see Predictor; LesionsRequired when a
    lesion-crop model is given a case without a located lesion), with its images' embeddings
    and Monte Carlo dropout samples when asked."""
    return Predictor(artifact_path, device)(
        cases,
        explain=explain,
        embeddings=embeddings,
        mc_samples=mc_samples,
        progress=progress,
        should_stop=should_stop,
    )
