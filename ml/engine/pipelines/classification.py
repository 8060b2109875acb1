"""Image classification: per-image training, case-level metrics (max or mean over images),
temperature scaling and a Youden threshold fitted on validation, Grad-CAM explanations."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from monai.losses import FocalLoss
from torch import nn

from ml.engine.compare import CaseOutcomes
from ml.engine.data import TensorCache, class_weights
from ml.engine.metrics import binary_metrics, multiclass_metrics, youden_threshold
from ml.engine.pipelines.base import Pipeline
from ml.engine.results import CasePrediction


def fit_temperature(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """Temperature minimising the validation NLL (Guo et al. 2017); 1.0 if it cannot fit."""
    labels = labels.cpu()
    valid = labels >= 0
    if valid.sum() < 2:
        return 1.0
    logits, labels = logits.cpu()[valid].float(), labels[valid]
    log_t = torch.zeros(1, requires_grad=True)
    optimizer = torch.optim.LBFGS([log_t], lr=0.1, max_iter=100)

    def closure():
        optimizer.zero_grad()
        loss = nn.functional.cross_entropy(logits / log_t.exp(), labels)
        loss.backward()
        return loss

    optimizer.step(closure)
    t = float(log_t.detach().exp())
    # Perfectly separated validation sets drive T towards 0: keep it in a sane range.
    return float(np.clip(t, 0.05, 20.0)) if np.isfinite(t) else 1.0


class ClassificationPipeline(Pipeline):
    """Classifier over the recipe's classes; binary tasks report the last class as positive."""

    task = "classification"
    class_probabilities = True

    def out_channels(self) -> int:
        return len(self.recipe.classes)

    def targets(self, cache: TensorCache) -> torch.Tensor | None:
        return cache.labels

    def make_loss(self, train: TensorCache, targets: torch.Tensor | None) -> Callable:
        k = self.out_channels()
        weight = None
        if self.recipe.loss == "weighted_ce" and targets is not None and len(targets):
            weight = class_weights(targets, k).to(self.device)
        if self.recipe.loss == "focal":
            focal = FocalLoss(to_onehot_y=True, use_softmax=True, gamma=2.0)
            return lambda logits, y: focal(logits, y[:, None])
        ce = nn.CrossEntropyLoss(weight=weight, ignore_index=-1)
        return lambda logits, y: ce(logits, y.to(logits.device))

    # --- case-level aggregation ------------------------------------------------------------------

    def case_probabilities(
        self, cache: TensorCache, logits: torch.Tensor, temperature: float
    ) -> tuple[list[int], np.ndarray, list[int]]:
        """(case indices, probabilities (cases, K), case labels) aggregated over images."""
        probs = torch.softmax(logits.float() / temperature, dim=1).numpy()
        by_case: dict[int, list[int]] = {}
        for i, sample in enumerate(cache.samples):
            by_case.setdefault(sample.case_index, []).append(i)
        order = sorted(by_case)
        rows, labels = [], []
        for ci in order:
            rows.append(self.image_row(probs[by_case[ci]]))
            label = cache.samples[by_case[ci][0]].label
            labels.append(-1 if label is None else label)
        return order, np.asarray(rows).reshape(len(rows), -1), labels

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
        _, probs, labels = self.case_probabilities(cache, logits, temperature)
        y = np.asarray(labels)
        keep = y >= 0
        y, probs = y[keep], probs[keep]
        if self.out_channels() == 2:
            if threshold is None:
                threshold = youden_threshold(y, probs[:, 1]) if len(y) else 0.5
            return binary_metrics(y, probs[:, 1], threshold, n_boot=n_boot, seed=seed)
        return multiclass_metrics(y, probs, self.recipe.classes, n_boot=n_boot, seed=seed)

    def case_outcomes(
        self,
        cache: TensorCache,
        logits: torch.Tensor,
        *,
        temperature: float = 1.0,
        threshold: float | None = None,
    ) -> CaseOutcomes:
        order, probs, labels = self.case_probabilities(cache, logits, temperature)
        y = np.asarray(labels, dtype=int)
        keep = y >= 0
        keys = [cache.cases[i].key for i, kept in zip(order, keep, strict=True) if kept]
        y, probs = y[keep], probs[keep]
        if self.out_channels() == 2:
            if threshold is None:
                threshold = youden_threshold(y, probs[:, 1]) if len(y) else 0.5
            return CaseOutcomes(keys, "binary", y, probs[:, 1], float(threshold))
        return CaseOutcomes(keys, "multiclass", y, probs)

    def calibrate(self, val: TensorCache, logits: torch.Tensor) -> tuple[float, float | None]:
        if not len(val):
            return 1.0, (0.5 if self.out_channels() == 2 else None)
        if val.labels is None:
            return 1.0, None
        temperature = fit_temperature(logits, val.labels)
        if self.out_channels() != 2:
            return temperature, None
        _, probs, labels = self.case_probabilities(val, logits, temperature)
        y = np.asarray(labels)
        return temperature, youden_threshold(y[y >= 0], probs[y >= 0, 1])

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
        order, probs, _ = self.case_probabilities(cache, logits, temperature)
        per_sample = torch.softmax(logits.float() / temperature, dim=1).numpy()
        heatmaps = self.gradcam(model, cache, map_max_side) if explain else {}
        out = []
        classes = self.recipe.classes
        for ci, p in zip(order, probs, strict=True):
            if len(classes) == 2:
                positive = float(p[1])
                cut = 0.5 if threshold is None else threshold
                label, probability = classes[int(positive >= cut)], positive
            else:
                label, probability = classes[int(np.argmax(p))], float(p.max())
            case = cache.cases[ci]
            maps: dict[str, np.ndarray] = {}
            by_image: dict[str, list[int]] = {}
            for i, s in enumerate(cache.samples):
                if s.case_index != ci:
                    continue
                by_image.setdefault(s.image.key, []).append(i)
                if i in heatmaps:
                    # several lesion crops of one image share its heatmap (zeros outside each)
                    seen = maps.get(s.image.key)
                    maps[s.image.key] = (
                        heatmaps[i] if seen is None else np.maximum(seen, heatmaps[i])
                    )
            out.append(
                CasePrediction(
                    case.key,
                    probability,
                    label,
                    {c: float(v) for c, v in zip(classes, p, strict=True)},
                    heatmaps=maps,
                    heatmap_kind="gradcam",
                    image_keys=list(by_image),
                    image_scores={
                        key: {
                            c: float(v)
                            for c, v in zip(classes, self.image_row(per_sample[rows]), strict=True)
                        }
                        for key, rows in by_image.items()
                    },
                )
            )
        return out

    def sample_probabilities(self, logits: torch.Tensor, temperature: float) -> torch.Tensor:
        return torch.softmax(logits.float() / temperature, dim=1)

    def image_row(self, p: np.ndarray) -> np.ndarray:
        """One image's class probabilities from its samples (several only with lesion crops),
        by the rule the recipe aggregates a case's images with."""
        if len(p) == 1:
            return p[0]
        if self.recipe.aggregate == "max" and p.shape[1] == 2:
            return p[int(np.argmax(p[:, 1]))]
        if self.recipe.aggregate == "max":
            return p.max(axis=0) / p.max(axis=0).sum()
        return p.mean(axis=0)

    def gradcam(
        self, model: nn.Module, cache: TensorCache, max_side: int | None = None
    ) -> dict[int, np.ndarray]:
        """Grad-CAM (MONAI) of the predicted class per sample, pasted back to image size (shrunk
        to fit `max_side` when given)."""
        from monai.visualize import GradCAM

        from ml.engine.networks import last_conv_layer
        from ml.engine.preprocess import paste_back

        if hasattr(model, "layer4"):
            layer = "layer4"
        elif hasattr(model, "class_layers"):
            layer = "class_layers.relu"
        elif hasattr(model, "_bn1"):
            layer = "_bn1"
        else:
            layer = last_conv_layer(model)
        model.eval()
        cam = GradCAM(nn_module=model, target_layers=layer)
        maps: dict[int, np.ndarray] = {}
        bs = 16
        for start in range(0, len(cache), bs):
            x = cache.images[start : start + bs].float().contiguous()
            with torch.enable_grad():
                result = cam(x=x.requires_grad_(True))
            for j, m in enumerate(result.detach().float().cpu().numpy()[:, 0]):
                maps[start + j] = np.clip(
                    paste_back(m, cache.samples[start + j].geometry, max_side=max_side), 0, 1
                )
        return maps
