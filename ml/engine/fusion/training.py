"""A small seeded trainer for `FusionModel` and its evaluation (AUC with a bootstrap interval).

CPU first: the paired data sets fusion is trained on are small, so a plain loop over in-memory
tensors is all it needs; bf16 autocast is an option where the CPU supports it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from sklearn import metrics as skm
from torch.nn import functional as F

from ml.engine.fusion.data import FusionData
from ml.engine.fusion.encoders import TabularEncoder
from ml.engine.fusion.model import FusionModel, FusionPrediction, modality_dropout
from ml.engine.metrics import bootstrap_auc_ci


def _batch(data: FusionData, index: torch.Tensor) -> dict[str, torch.Tensor]:
    return {k: v[index] for k, v in data.inputs.items()}


def _flipped(batch: dict[str, torch.Tensor], generator: torch.Generator) -> dict[str, torch.Tensor]:
    """Each case's images flipped up-down and left-right at random (one draw per case and axis).

    The paired sets are small and the networks memorise their noise within a few epochs
    (measured on the synthetic task: test AUC peaks, then falls); flips are the cheapest remedy.
    """
    out = dict(batch)
    for name, x in batch.items():
        if x.ndim < 4 or name.endswith("_mask"):
            continue  # tables and masks have no image axes
        for axis in (-1, -2):
            draw = torch.rand(len(x), generator=generator) < 0.5
            shape = (len(x),) + (1,) * (x.ndim - 1)
            x = torch.where(draw.view(shape).to(x.device), x.flip(axis), x)
        out[name] = x
    return out


def train_fusion(
    model: FusionModel,
    data: FusionData,
    *,
    epochs: int = 20,
    batch_size: int = 64,
    lr: float = 3e-3,
    weight_decay: float = 0.05,
    dropout: float = 0.25,
    flips: bool = True,
    seed: int = 0,
    bf16: bool = False,
    progress: Callable[[int, float], None] | None = None,
) -> list[float]:
    """Train `model` on `data` in place; returns the mean loss of each epoch.

    Args:
        model: the fusion model (its modalities must match the data's).
        data: training cases.
        epochs: passes over the data.
        batch_size: cases per step.
        lr: AdamW learning rate (cosine-annealed to 0).
        weight_decay: AdamW weight decay.
        dropout: modality dropout probability per present modality (never all of a case's).
        flips: random up-down / left-right flips of each case's images.
        seed: seeds the weights, the shuffling and the dropout draws.
        bf16: bfloat16 autocast on the CPU.
        progress: called with (epoch, mean loss) after each epoch.

    Late fusion adds each modality head's own loss on its present cases, so the stacked scores
    are per-modality predictions, not arbitrary features.
    """
    if data.modalities != model.modalities:
        raise ValueError(
            f"data modalities {data.modalities} differ from the model's {model.modalities}"
        )
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    # standardisation and prior come from the training cases only
    if "clinical" in model.modalities:
        encoder = model.encoders["clinical"]
        j = model.modalities.index("clinical")
        if isinstance(encoder, TabularEncoder) and bool(data.present[:, j].any()):
            encoder.fit(data.inputs["clinical"][data.present[:, j]].numpy())
    prevalence = float(data.labels.float().mean().clamp(1e-3, 1 - 1e-3))
    model.prior_logit.fill_(math.log(prevalence / (1 - prevalence)))
    optimiser = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    steps = epochs * math.ceil(len(data) / batch_size)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, max(steps, 1))
    losses = []
    model.train()
    for epoch in range(epochs):
        order = torch.randperm(len(data), generator=generator)
        total, seen = 0.0, 0
        for start in range(0, len(data), batch_size):
            index = order[start : start + batch_size]
            present = data.present[index]
            if dropout > 0:
                present = modality_dropout(present, dropout, generator)
            labels = data.labels[index].float()
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                batch = _batch(data, index)
                out = model(_flipped(batch, generator) if flips else batch, present)
            loss = F.binary_cross_entropy_with_logits(out.logits.float(), labels)
            if out.modality_logits is not None:
                per = F.binary_cross_entropy_with_logits(
                    out.modality_logits.float(),
                    labels[:, None].expand_as(out.modality_logits),
                    reduction="none",
                )
                flags = present.float()
                loss = loss + (per * flags).sum() / flags.sum()
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            schedule.step()
            total += loss.item() * len(index)
            seen += len(index)
        losses.append(total / seen)
        if progress is not None:
            progress(epoch, losses[-1])
    model.eval()
    return losses


def predict_cases(model: FusionModel, data: FusionData, batch_size: int = 256) -> FusionPrediction:
    """`model.predict` over `data` in batches, joined into one `FusionPrediction`."""
    parts = [
        model.predict(
            _batch(data, torch.arange(s, min(s + batch_size, len(data)))),
            data.present[s : s + batch_size],
        )
        for s in range(0, len(data), batch_size)
    ]
    weights = [p.weights for p in parts]
    return FusionPrediction(
        probabilities=np.concatenate([p.probabilities for p in parts]),
        modalities=model.modalities,
        present=np.concatenate([p.present for p in parts]),
        deltas=np.concatenate([p.deltas for p in parts]),
        weights=None if any(w is None for w in weights) else np.concatenate(weights),  # type: ignore[arg-type]
    )


def auc_with_interval(
    labels: np.ndarray, scores: np.ndarray, *, n_boot: int = 1000, seed: int = 0
) -> dict[str, Any]:
    """{"n", "auc", "auc_ci"}: the AUC and its percentile 95% bootstrap interval."""
    y = np.asarray(labels).astype(int)
    s = np.asarray(scores, dtype=float)
    if len(np.unique(y)) < 2:
        return {"n": int(len(y)), "auc": None, "auc_ci": None}
    return {
        "n": int(len(y)),
        "auc": float(skm.roc_auc_score(y, s)),
        "auc_ci": bootstrap_auc_ci(y, s, n_boot=n_boot, seed=seed),
    }


def evaluate_fusion(
    model: FusionModel, data: FusionData, *, n_boot: int = 1000, seed: int = 0
) -> dict[str, Any]:
    """AUC (95% bootstrap interval) of `model` on `data`, each case from its present modalities."""
    prediction = predict_cases(model, data)
    return auc_with_interval(
        data.labels.numpy(), prediction.probabilities, n_boot=n_boot, seed=seed
    )
