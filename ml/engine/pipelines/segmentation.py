"""Binary lesion segmentation: one sigmoid channel, Dice+CE loss, Dice on images with a lesion."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from monai.losses import DiceCELoss
from torch import nn

from ml.engine.compare import CaseOutcomes
from ml.engine.data import TensorCache
from ml.engine.metrics import dice_scores, segmentation_metrics
from ml.engine.pipelines.base import Pipeline
from ml.engine.preprocess import paste_back
from ml.engine.results import CasePrediction


class SegmentationPipeline(Pipeline):
    """Masks from Case images' `mask()`; images without one count as lesion-free."""

    task = "segmentation"
    spatial_target = True
    output_prior = 0.05  # lesions cover a few percent of an image; 0.5 everywhere is far off

    def out_channels(self) -> int:
        return 1

    def want_masks(self) -> bool:
        return True

    def targets(self, cache: TensorCache) -> torch.Tensor | None:
        return cache.masks.to(torch.float16) if cache.masks is not None else None

    def make_loss(self, train: TensorCache, targets: torch.Tensor | None) -> Callable:
        # Dice over the whole batch, not per image: a lesion-free image (BUSI's normals) has no
        # per-image Dice to win, and its constant loss of 1 would only push every mask to empty.
        loss = DiceCELoss(sigmoid=True, smooth_nr=1e-5, smooth_dr=1e-5, batch=True)
        return lambda logits, y: loss(logits, y.to(logits.device).float())

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
        cut = 0.5 if threshold is None else threshold
        pred = (torch.sigmoid(logits[:, 0]) >= cut).numpy()
        target = cache.masks[:, 0].cpu().numpy() if cache.masks is not None else np.zeros_like(pred)
        out = segmentation_metrics(pred, target)
        out["threshold"] = cut
        return out

    def case_outcomes(
        self,
        cache: TensorCache,
        logits: torch.Tensor,
        *,
        temperature: float = 1.0,
        threshold: float | None = None,
    ) -> CaseOutcomes:
        cut = 0.5 if threshold is None else threshold
        pred = (torch.sigmoid(logits[:, 0]) >= cut).numpy()
        target = cache.masks[:, 0].cpu().numpy() if cache.masks is not None else np.zeros_like(pred)
        scores = dice_scores(pred, target)
        has_lesion = np.asarray(target.reshape(len(target), -1).any(1))
        per_case: dict[int, list[float]] = {}
        for i, sample in enumerate(cache.samples):
            values = per_case.setdefault(sample.case_index, [])
            if has_lesion[i]:
                values.append(float(scores[i]))
        order = sorted(per_case)
        dice = np.array([np.mean(per_case[i]) if per_case[i] else np.nan for i in order])
        return CaseOutcomes([cache.cases[i].key for i in order], "segmentation", dice=dice)

    def calibrate(self, val: TensorCache, logits: torch.Tensor) -> tuple[float, float | None]:
        return 1.0, 0.5

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
        cut = 0.5 if threshold is None else threshold
        probs = torch.sigmoid(logits[:, 0]).numpy()
        out: dict[int, CasePrediction] = {}
        for i, sample in enumerate(cache.samples):
            full = paste_back(probs[i], sample.geometry)
            mask = (full >= cut).astype(np.uint8)
            pred = out.get(sample.case_index)
            if pred is None:
                pred = CasePrediction(
                    cache.cases[sample.case_index].key,
                    float(full.max()),
                    "background",
                    mask=mask,
                    heatmap_kind="probability",
                )
                out[sample.case_index] = pred
            key = sample.image.key
            pred.probability = max(pred.probability, float(full.max()))
            if key not in pred.image_keys:
                pred.image_keys.append(key)
            seen = pred.masks.get(key)
            pred.masks[key] = mask if seen is None else np.maximum(seen, mask)
            pred.image_scores[key] = {
                "lesion": max(float(full.max()), pred.image_scores.get(key, {}).get("lesion", 0.0))
            }
            if mask.any():
                pred.label = "lesion"
            if explain:
                shown = full
                if map_max_side and max(full.shape) > map_max_side:
                    shown = paste_back(probs[i], sample.geometry, max_side=map_max_side)
                seen_map = pred.heatmaps.get(key)
                pred.heatmaps[key] = shown if seen_map is None else np.maximum(seen_map, shown)
        for pred in out.values():
            pred.scores = {"lesion": pred.probability}
        return [out[k] for k in sorted(out)]
