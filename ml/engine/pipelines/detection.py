"""Lesion localisation with a centre-heatmap head (CenterNet-style) on a MONAI U-Net.

Targets are Gaussians at lesion centres; the loss is the penalty-reduced focal loss; candidates
are local maxima of the predicted heatmap. FROC is computed in original image coordinates.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ml.engine.data import TensorCache, heatmap_targets
from ml.engine.metrics import froc
from ml.engine.pipelines.base import Pipeline
from ml.engine.preprocess import paste_back
from ml.engine.results import CasePrediction

MIN_HIT_RADIUS_PX = 4.0  # model-space pixels: a point mark still has a target to hit
PRIOR = 0.01  # initial foreground probability of every heatmap pixel (CenterNet, RetinaNet)


def centre_focal_loss(
    logits: torch.Tensor, target: torch.Tensor, alpha: float = 2.0, beta: float = 4.0
) -> torch.Tensor:
    """Penalty-reduced pixel focal loss of Law & Deng (CornerNet) / Zhou et al. (CenterNet)."""
    target = target.float()
    prob = torch.sigmoid(logits).clamp(1e-4, 1 - 1e-4)
    peak = target.ge(0.99).float()
    pos = -torch.log(prob) * (1 - prob) ** alpha * peak
    neg = -torch.log(1 - prob) * prob**alpha * (1 - target) ** beta * (1 - peak)
    return (pos.sum() + neg.sum()) / peak.sum().clamp(min=1.0)


def peaks(heatmap: torch.Tensor, k: int) -> list[tuple[float, float, float]]:
    """Top-k local maxima (x, y, score) of a (H, W) probability map (3x3 max-pool NMS)."""
    pooled = F.max_pool2d(heatmap[None, None], 3, stride=1, padding=1)[0, 0]
    keep = (heatmap == pooled) & (heatmap > 0)
    scores = torch.where(keep, heatmap, torch.zeros_like(heatmap)).flatten()
    top = torch.topk(scores, min(k, scores.numel()))
    w = heatmap.shape[1]
    return [
        (float(i % w), float(i // w), float(s))
        for s, i in zip(top.values, top.indices, strict=True)
        if s > 0
    ]


class DetectionPipeline(Pipeline):
    """Centres of lesions (Case.lesions) per image; the case score is its best candidate."""

    task = "detection"
    spatial_target = True

    def out_channels(self) -> int:
        return 1

    def init_head(self, model: nn.Module) -> None:
        """Start the heatmap at a small foreground probability: with the default zero bias
        every pixel starts at 0.5, and the background term of the focal loss (summed over
        all pixels, divided by the few lesion centres) swamps the lesions for many epochs."""
        biases = [
            m.bias
            for m in model.modules()
            if isinstance(m, nn.Conv2d | nn.ConvTranspose2d)
            and m.out_channels == 1
            and m.bias is not None
        ]
        if biases and biases[-1] is not None:
            with torch.no_grad():
                biases[-1].fill_(-math.log((1 - PRIOR) / PRIOR))

    def targets(self, cache: TensorCache) -> torch.Tensor | None:
        return heatmap_targets(cache, self.recipe.heatmap_sigma)

    def make_loss(self, train: TensorCache, targets: torch.Tensor | None) -> Callable:
        return lambda logits, y: centre_focal_loss(logits, y.to(logits.device))

    def candidates(
        self, cache: TensorCache, logits: torch.Tensor
    ) -> list[list[tuple[float, float, float]]]:
        """Per sample, candidates in original image coordinates."""
        probs = torch.sigmoid(logits[:, 0].float())
        out = []
        for i, sample in enumerate(cache.samples):
            found = []
            for x, y, s in peaks(probs[i], self.recipe.max_detections):
                ix, iy = sample.geometry.to_image(x + 0.5, y + 0.5)
                found.append((ix, iy, s))
            out.append(found)
        return out

    def truth(self, cache: TensorCache) -> list[list[tuple[float, float, float]]]:
        out = []
        for sample in cache.samples:
            g = sample.geometry
            floor = MIN_HIT_RADIUS_PX / max(g.radius_to_model(1.0), 1e-6)
            case = cache.cases[sample.case_index]
            out.append(
                [
                    (les.cx, les.cy, max(les.radius, floor))
                    for les in case.lesions
                    if les.image_key == sample.image.key
                ]
            )
        return out

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
        out = froc(self.candidates(cache, logits), self.truth(cache))
        out["threshold"] = threshold
        return out

    def calibrate(self, val: TensorCache, logits: torch.Tensor) -> tuple[float, float | None]:
        if not len(val):
            return 1.0, None
        return 1.0, froc(self.candidates(val, logits), self.truth(val)).get("threshold_at_1")

    def predictions(
        self,
        model: nn.Module,
        cache: TensorCache,
        logits: torch.Tensor,
        *,
        temperature: float,
        threshold: float | None,
        explain: bool,
    ) -> list[CasePrediction]:
        cands = self.candidates(cache, logits)
        probs = torch.sigmoid(logits[:, 0].float()).numpy()
        out: dict[int, CasePrediction] = {}
        for i, sample in enumerate(cache.samples):
            pred = out.setdefault(
                sample.case_index,
                CasePrediction(cache.cases[sample.case_index].key, 0.0, "background"),
            )
            radius = self.recipe.heatmap_sigma * 3 / max(sample.geometry.radius_to_model(1.0), 1e-6)
            for x, y, s in cands[i]:
                if threshold is not None and s < threshold:
                    continue
                pred.lesions.append(
                    {"image_key": sample.image.key, "cx": x, "cy": y, "radius": radius, "score": s}
                )
            best = max((c[2] for c in cands[i]), default=0.0)
            pred.probability = max(pred.probability, best)
            if explain:
                pred.heatmaps[sample.image.key] = paste_back(probs[i], sample.geometry)
        for pred in out.values():
            pred.label = "lesion" if pred.lesions else "background"
            pred.scores = {"lesion": pred.probability}
        return [out[k] for k in sorted(out)]
