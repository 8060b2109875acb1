"""The base pipeline: owns training, inference and evaluation; tasks fill small hooks.

Template method: `fit` (epochs, batches, augmentation, mixed precision, early stopping,
checkpoints, cancel) and `infer` are written once here; a task says which network head it needs,
what its targets and loss are, how outputs become metrics and predictions.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ml.engine.augment import make_augmenter
from ml.engine.compare import CaseOutcomes
from ml.engine.data import TensorCache, assemble, build_cache, epoch_order, iter_prepared
from ml.engine.errors import Cancelled
from ml.engine.networks import build_network
from ml.engine.recipes import Recipe
from ml.engine.results import CasePrediction

StopCheck = Callable[[], bool] | None
EpochCallback = Callable[[int, dict[str, Any]], None] | None


def amp_dtype(device: torch.device, precision: str = "auto") -> torch.dtype | None:
    """bf16 where the hardware runs it natively (CUDA bf16, CPUs with AVX512-BF16/AMX)."""
    if precision == "fp32":
        return None
    if device.type == "cuda":
        if precision == "fp16":
            return torch.float16
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if precision == "bf16":
        return torch.bfloat16
    try:
        native = bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        native = False
    return torch.bfloat16 if native else None


class Pipeline:
    """Base class of the task pipelines.

    Args:
        recipe: the training recipe.
        device: torch device to run on.
        precision: "auto" (bf16 where native), "bf16", "fp16" (CUDA) or "fp32".
        channels_last: NHWC memory format for the network and its inputs.
    """

    task = ""
    spatial_target = False  # augment the target with the image (masks, heatmaps)
    output_prior: float | None = None  # initial foreground probability of a sigmoid map head
    class_probabilities = False  # outputs are class logits (what MC dropout samples)

    def __init__(
        self,
        recipe: Recipe,
        device: torch.device | str = "cpu",
        precision: str = "auto",
        channels_last: bool = True,
    ) -> None:
        self.recipe = recipe
        self.device = torch.device(device)
        self.dtype = amp_dtype(self.device, precision)
        self.channels_last = channels_last

    # --- hooks ---------------------------------------------------------------------------------

    def out_channels(self) -> int:
        raise NotImplementedError

    def want_masks(self) -> bool:
        return False

    def init_head(self, model: nn.Module) -> None:
        """Adjust a freshly initialised network before training: a per-pixel sigmoid head
        (`output_prior` set) starts at that foreground probability instead of 0.5, so the
        background of every image (most of its pixels) does not swamp the loss for many epochs
        (RetinaNet's and CenterNet's prior initialisation)."""
        if self.output_prior is None:
            return
        biases = [
            bias
            for m in model.modules()
            if isinstance(m, nn.Conv2d | nn.ConvTranspose2d)
            and m.out_channels == self.out_channels()
            and (bias := m.bias) is not None
        ]
        if biases:
            with torch.no_grad():
                biases[-1].fill_(-math.log((1 - self.output_prior) / self.output_prior))

    def targets(self, cache: TensorCache) -> torch.Tensor | None:
        """Per-sample training targets aligned with cache.images."""
        raise NotImplementedError

    def make_loss(self, train: TensorCache, targets: torch.Tensor | None) -> Callable:
        raise NotImplementedError

    def evaluate_outputs(
        self,
        cache: TensorCache,
        logits: torch.Tensor,
        *,
        temperature: float = 1.0,
        threshold: float | None = None,
        seed: int = 0,
        n_boot: int = 200,
    ) -> dict[str, Any]:
        """Metrics of raw logits on a labelled cache (case level where the task is)."""
        raise NotImplementedError

    def case_outcomes(
        self,
        cache: TensorCache,
        logits: torch.Tensor,
        *,
        temperature: float = 1.0,
        threshold: float | None = None,
    ) -> CaseOutcomes:
        """Per-case outcomes of raw logits on a labelled cache, at the same temperature and
        threshold as evaluate_outputs (the unit of per-site figures and paired comparisons)."""
        raise NotImplementedError

    def calibrate(self, val: TensorCache, logits: torch.Tensor) -> tuple[float, float | None]:
        """(temperature, threshold) fitted on validation outputs."""
        return 1.0, None

    def predictions(
        self,
        model: nn.Module,
        cache: TensorCache,
        logits: torch.Tensor,
        *,
        temperature: float,
        threshold: float | None,
        explain: bool,
        map_max_side: int | None = None,
    ) -> list[CasePrediction]:
        raise NotImplementedError

    def sample_probabilities(self, logits: torch.Tensor, temperature: float) -> torch.Tensor:
        """Class probabilities of raw logits, for Monte Carlo dropout samples (tasks whose
        `class_probabilities` is true)."""
        raise NotImplementedError

    # --- shared machinery ------------------------------------------------------------------------

    def network(self, state_dict: dict[str, torch.Tensor] | None = None) -> nn.Module:
        """The recipe's network on the device; with `state_dict`, built without the cost of a
        random initialisation (on the meta device) and given those weights."""
        args = (
            self.recipe.network,
            self.recipe.in_channels,
            self.out_channels(),
            self.recipe.network_args,
        )
        if state_dict is None:
            model = build_network(*args)
            self.init_head(model)
        else:
            with torch.device("meta"):
                model = build_network(*args)
            model.load_state_dict(state_dict, assign=True)
        model = model.to(self.device)
        if self.channels_last:
            model = model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        return model

    def cache(
        self,
        cases,
        *,
        labelled_only: bool,
        should_stop: StopCheck = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> TensorCache:
        return build_cache(
            self.recipe,
            cases,
            self.device,
            labelled_only=labelled_only,
            want_masks=self.want_masks(),
            should_stop=should_stop,
            progress=progress,
        )

    def autocast(self):
        if self.dtype is None:
            return nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.dtype)

    def _input(self, x: torch.Tensor) -> torch.Tensor:
        x = x.float()
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x

    @torch.no_grad()
    def infer(
        self,
        model: nn.Module,
        cache: TensorCache,
        *,
        should_stop: StopCheck = None,
        batch_size: int | None = None,
    ) -> torch.Tensor:
        """Raw logits of every cached sample, float32 on the CPU."""
        model.eval()
        batch_size = batch_size or max(self.recipe.batch_size * 2, 1)
        outs = []
        for start in range(0, len(cache), batch_size):
            if should_stop is not None and should_stop():
                raise Cancelled()
            with self.autocast():
                out = model(self._input(cache.images[start : start + batch_size]))
            outs.append(out.float().cpu())
        if not outs:
            return torch.zeros((0, self.out_channels()))
        return torch.cat(outs)

    @torch.no_grad()
    def stream_infer(
        self,
        model: nn.Module,
        cases,
        *,
        labelled_only: bool,
        should_stop: StopCheck = None,
        progress: Callable[[int, int], None] | None = None,
        batch_size: int | None = None,
    ) -> tuple[TensorCache, torch.Tensor]:
        """Prepare and run the model batch by batch; returns the assembled cache and the logits.

        On a GPU the next images are prepared in threads while the model runs; on a CPU the
        threads prepare a batch's worth of cases and then leave the cores to the model's own
        threads (overlapping there oversubscribes the cores and is slower).
        """
        model.eval()
        batch_size = batch_size or max(self.recipe.batch_size * 2, 1)
        items: list = []
        outs, chunks = [], []
        batch: list[torch.Tensor] = []

        def run(batch: list[torch.Tensor]) -> None:
            x = torch.stack(batch).to(self.device, non_blocking=True)
            if self.recipe.in_channels > 1:
                x = x.expand(-1, self.recipe.in_channels, -1, -1)
            chunks.append(x)
            with self.autocast():
                outs.append(model(self._input(x)).float())

        for item in iter_prepared(
            self.recipe,
            cases,
            labelled_only=labelled_only,
            want_masks=self.want_masks(),
            should_stop=should_stop,
            progress=progress,
            overlap=self.device.type != "cpu",
            window=None if self.device.type != "cpu" else batch_size,
        ):
            items.append(item)
            batch.append(item[0])
            if len(batch) == batch_size:
                run(batch)
                batch = []
        if batch:
            run(batch)
        images = torch.cat(chunks) if chunks else None
        cache = assemble(self.recipe, cases, items, self.device, images)
        if not outs:
            return cache, torch.zeros((0, self.out_channels()))
        return cache, torch.cat(outs).cpu()

    def make_optimizer(self, model: nn.Module) -> torch.optim.Optimizer:
        r = self.recipe
        if r.optimizer == "sgd":
            return torch.optim.SGD(
                model.parameters(),
                lr=r.lr,
                momentum=0.9,
                weight_decay=r.weight_decay,
                nesterov=True,
            )
        if r.optimizer == "adam":
            return torch.optim.Adam(model.parameters(), lr=r.lr, weight_decay=r.weight_decay)
        return torch.optim.AdamW(model.parameters(), lr=r.lr, weight_decay=r.weight_decay)

    def make_scheduler(self, optimizer: torch.optim.Optimizer):
        r = self.recipe
        if r.milestones:
            return torch.optim.lr_scheduler.MultiStepLR(optimizer, list(r.milestones), 0.1)
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(r.epochs, 1))

    def train_epoch(
        self,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        loss_fn: Callable,
        train: TensorCache,
        targets: torch.Tensor | None,
        augmenter,
        generator: torch.Generator,
        should_stop: StopCheck = None,
    ) -> tuple[float, int]:
        """One pass over the training cache; returns (mean loss, images seen)."""
        model.train()
        n, bs = len(train), self.recipe.batch_size
        order = epoch_order(n, train.labels, self.recipe.sampler == "balanced", generator)
        total = torch.zeros((), device=self.device)
        seen = 0
        for start in range(0, n, bs):
            if should_stop is not None and should_stop():
                raise Cancelled()
            idx = order[start : start + bs]
            if len(idx) < 2 <= n:  # batch norm cannot train on a single sample
                continue
            idx = idx.to(self.device)
            x = train.images[idx].float()
            y = targets[idx] if targets is not None else None
            if augmenter.enabled:
                x, aug_y = augmenter(
                    x, y.float() if self.spatial_target and y is not None else None
                )
                if self.spatial_target:
                    y = aug_y
            with self.autocast():
                logits = model(self._input(x))
            loss = loss_fn(logits.float(), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += loss.detach() * len(idx)  # no host sync per batch
            seen += len(idx)
        return float(total) / max(seen, 1), seen

    def select_value(self, metrics: dict[str, Any], val_loss: float) -> tuple[float, float]:
        """The model-selection key: the recipe's metric, ties (a metric stuck at 0 early in
        training, say) broken by the lower validation loss."""
        value = metrics.get(self.recipe.select_metric)
        if isinstance(value, int | float) and not math.isnan(value):
            return float(value), -val_loss
        return -val_loss, -val_loss

    def fit(
        self,
        model: nn.Module,
        train: TensorCache,
        val: TensorCache,
        *,
        checkpoint: Path | None = None,
        should_stop: StopCheck = None,
        on_epoch: EpochCallback = None,
    ) -> list[dict[str, Any]]:
        """Train with early stopping on the recipe's metric; the best weights end in `model`."""
        r = self.recipe
        torch.manual_seed(r.seed)
        optimizer = self.make_optimizer(model)
        scheduler = self.make_scheduler(optimizer)
        targets = self.targets(train)
        val_targets = self.targets(val) if len(val) else None
        loss_fn = self.make_loss(train, targets)
        augmenter = make_augmenter(r, self.device, seed=r.seed)
        generator = torch.Generator().manual_seed(r.seed)
        best: tuple[float, float] = (-math.inf, -math.inf)
        best_state, stale = None, 0
        history: list[dict[str, Any]] = []
        for epoch in range(1, r.epochs + 1):
            t0 = time.perf_counter()
            train_loss, seen = self.train_epoch(
                model, optimizer, loss_fn, train, targets, augmenter, generator, should_stop
            )
            train_s = time.perf_counter() - t0
            lr = optimizer.param_groups[0]["lr"]
            scheduler.step()
            entry: dict[str, Any] = {"epoch": epoch, "train_loss": train_loss, "lr": lr}
            val_loss = train_loss
            if len(val):
                logits = self.infer(model, val, should_stop=should_stop)
                val_loss = float(loss_fn(logits.to(self.device), val_targets))
                metrics = self.evaluate_outputs(val, logits, n_boot=0)
                entry["val_loss"] = val_loss
                for key in ("auc", "accuracy", "f1", "dice", "froc", "sensitivity", "specificity"):
                    if isinstance(metrics.get(key), int | float):
                        entry[f"val_{key}"] = float(metrics[key])
            else:
                metrics = {}
            entry["train_seconds"] = round(train_s, 3)
            entry["seconds"] = round(time.perf_counter() - t0, 3)
            entry["images_per_second"] = round(seen / max(train_s, 1e-9), 1)
            history.append(entry)
            value = self.select_value(metrics, val_loss)
            if value[0] > best[0] + 1e-6 or (value[0] > best[0] - 1e-6 and value[1] > best[1]):
                best, stale = value, 0
                best_state = copy.deepcopy(model.state_dict())
                if checkpoint is not None:
                    from ml.engine.artifact import save_checkpoint

                    save_checkpoint(checkpoint, model, optimizer, epoch, r)
            else:
                stale += 1
            if on_epoch is not None:
                on_epoch(epoch, entry)
            if stale >= r.patience:
                break
        if best_state is not None:
            model.load_state_dict(best_state)
        return history


def collect_np(t: torch.Tensor) -> np.ndarray:
    return t.detach().float().cpu().numpy()
