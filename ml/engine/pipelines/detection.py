"""Lesion localisation with a centre-heatmap head (CenterNet-style) on a MONAI U-Net.

Targets are Gaussians at lesion centres; the loss is the penalty-reduced focal loss; candidates
are local maxima of the predicted heatmap. FROC is computed in original image coordinates.
A detector also triages cases: a case's score is its most confident candidate, judged against
the case's `abnormal` label (or, without one, whether it has lesions) with the classifiers'
metrics (AUC with its interval, sensitivity and specificity at the stored threshold, ROC).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ml.engine.compare import CaseOutcomes
from ml.engine.data import TensorCache, heatmap_targets
from ml.engine.metrics import binary_metrics, froc, youden_threshold
from ml.engine.pipelines.base import Pipeline
from ml.engine.preprocess import paste_back
from ml.engine.results import CasePrediction

MIN_HIT_RADIUS_PX = 4.0  # model-space pixels: a point mark still has a target to hit


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


def peaks(heatmaps: torch.Tensor, k: int) -> list[list[tuple[float, float, float]]]:
    """Per (H, W) probability map of an (N, H, W) batch, its top-k local maxima (x, y, score)
    (3x3 max-pool NMS), in one pass over the batch (per-map calls cost more than the maps)."""
    pooled = F.max_pool2d(heatmaps[:, None], 3, stride=1, padding=1)[:, 0]
    keep = (heatmaps == pooled) & (heatmaps > 0)
    scores = torch.where(keep, heatmaps, torch.zeros_like(heatmaps)).flatten(1)
    top = torch.topk(scores, min(k, scores.shape[1]), dim=1)
    w = heatmaps.shape[-1]
    return [
        [
            (float(i % w), float(i // w), float(v))
            for v, i in zip(values, indices, strict=True)
            if v > 0
        ]
        for values, indices in zip(top.values.tolist(), top.indices.tolist(), strict=True)
    ]


class DetectionPipeline(Pipeline):
    """Centres of lesions (Case.lesions) per image; the case score is its best candidate."""

    task = "detection"
    spatial_target = True
    output_prior = 0.01  # the centres are single pixels (CenterNet's prior)

    def out_channels(self) -> int:
        return 1

    def targets(self, cache: TensorCache) -> torch.Tensor | None:
        return heatmap_targets(cache, self.recipe.heatmap_sigma)

    def make_loss(self, train: TensorCache, targets: torch.Tensor | None) -> Callable:
        return lambda logits, y: centre_focal_loss(logits, y.to(logits.device))

    def class_names(self) -> tuple[str, str]:
        """(negative, positive) case labels: the recipe's two classes, or background/lesion."""
        classes = self.recipe.classes
        return (classes[0], classes[1]) if len(classes) == 2 else ("background", "lesion")

    def candidates(
        self, cache: TensorCache, logits: torch.Tensor
    ) -> list[list[tuple[float, float, float]]]:
        """Per sample, candidates in original image coordinates."""
        probs = torch.sigmoid(logits[:, 0].float())
        out = []
        every = peaks(probs, self.recipe.max_detections) if len(probs) else []
        for i, sample in enumerate(cache.samples):
            found = []
            for x, y, s in every[i]:
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
        cands = self.candidates(cache, logits)
        out = froc(cands, self.truth(cache))
        out["n_images"] = out.pop("n")
        y, scores = self.case_truth(cache), self.case_scores(cache, cands)
        cut = threshold if threshold is not None else youden_threshold(y, scores) if len(y) else 0.5
        out.update(binary_metrics(y, scores, cut, n_boot=n_boot, seed=seed))
        out["threshold"] = threshold
        return out

    def case_outcomes(
        self,
        cache: TensorCache,
        logits: torch.Tensor,
        *,
        temperature: float = 1.0,
        threshold: float | None = None,
    ) -> CaseOutcomes:
        cands = self.candidates(cache, logits)
        y, scores = self.case_truth(cache), self.case_scores(cache, cands)
        cut = threshold if threshold is not None else youden_threshold(y, scores) if len(y) else 0.5
        keys = [cache.cases[k].key for k in sorted({s.case_index for s in cache.samples})]
        return CaseOutcomes(keys, "binary", y, scores, float(cut))

    def case_scores(
        self, cache: TensorCache, cands: list[list[tuple[float, float, float]]]
    ) -> np.ndarray:
        """Per case (in cache.cases order, cases with an image), its best candidate's score."""
        best: dict[int, float] = {}
        for sample, found in zip(cache.samples, cands, strict=True):
            top = max((s for _, _, s in found), default=0.0)
            best[sample.case_index] = max(best.get(sample.case_index, 0.0), top)
        return np.array([best[k] for k in sorted(best)], dtype=float)

    def case_truth(self, cache: TensorCache) -> np.ndarray:
        """Per case with an image: its `abnormal` label, else whether it has lesions."""
        keys = sorted({s.case_index for s in cache.samples})
        out = []
        for k in keys:
            case = cache.cases[k]
            label = case.labels.get("abnormal")
            out.append(int(bool(label)) if label is not None else int(bool(case.lesions)))
        return np.array(out, dtype=int)

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
        map_max_side: int | None = None,
    ) -> list[CasePrediction]:
        cands = self.candidates(cache, logits)
        probs = torch.sigmoid(logits[:, 0].float()).numpy()
        out: dict[int, CasePrediction] = {}
        for i, sample in enumerate(cache.samples):
            pred = out.setdefault(
                sample.case_index,
                CasePrediction(
                    cache.cases[sample.case_index].key,
                    0.0,
                    self.class_names()[0],
                    heatmap_kind="probability",
                ),
            )
            if sample.image.key not in pred.image_keys:
                pred.image_keys.append(sample.image.key)
            radius = self.recipe.heatmap_sigma * 3 / max(sample.geometry.radius_to_model(1.0), 1e-6)
            for x, y, s in cands[i]:
                if threshold is not None and s < threshold:
                    continue
                pred.lesions.append(
                    {"image_key": sample.image.key, "cx": x, "cy": y, "radius": radius, "score": s}
                )
            best = max((c[2] for c in cands[i]), default=0.0)
            pred.probability = max(pred.probability, best)
            pred.image_scores[sample.image.key] = {self.class_names()[1]: best}
            if explain:
                pred.heatmaps[sample.image.key] = paste_back(
                    probs[i], sample.geometry, max_side=map_max_side
                )
        negative, positive = self.class_names()
        for pred in out.values():
            pred.label = positive if pred.lesions else negative
            pred.scores = {positive: pred.probability}
        return [out[k] for k in sorted(out)]
