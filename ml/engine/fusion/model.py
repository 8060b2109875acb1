"""`FusionModel`: per-modality encoders, a fusion strategy chosen by name, modality dropout and
prediction from any subset of modalities with each modality's contribution.

A batch is `inputs` (modality name -> tensor with the cases on the first axis; a set modality may
add "<name>_mask") and `present`, a (B, M) bool mask in `model.modalities` order. An absent
modality's rows are never encoded and never enter the fusion as if they were data: late fusion
and the gated / attention strategies leave them out of their sums and softmaxes, and concat sees
an explicit presence flag next to a zero slot.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from ml.engine.fusion import MODALITIES, STRATEGIES
from ml.engine.fusion.encoders import (
    WIDTHS,
    FourViewEncoder,
    ImageEncoder,
    SetEncoder,
    TabularEncoder,
    TabularSchema,
)


@dataclass
class FusionOutput:
    """What one fusion pass gives.

    Args:
        logits: (B,) case-level malignancy logits.
        weights: (B, M) weight of each modality (attention or normalised gates; 0 where absent),
            None for strategies without weights.
        modality_logits: (B, M) per-modality logits (late fusion only; 0 where absent).
    """

    logits: torch.Tensor
    weights: torch.Tensor | None = None
    modality_logits: torch.Tensor | None = None


@dataclass
class FusionPrediction:
    """Case-level predictions with what each used and how much each modality counted.

    Args:
        probabilities: (B,) malignancy probabilities.
        modalities: the model's modality names (column order of the arrays below).
        present: (B, M) bool, the modalities each prediction used.
        deltas: (B, M) ablation deltas: the probability minus the probability without that
            modality (without any modality: the training prevalence); 0 where absent.
        weights: (B, M) attention / gate weights (0 where absent), None when the strategy has none.
    """

    probabilities: np.ndarray
    modalities: tuple[str, ...]
    present: np.ndarray
    deltas: np.ndarray
    weights: np.ndarray | None = None

    def used(self, i: int) -> list[str]:
        """The modalities case `i`'s prediction used."""
        return [m for m, p in zip(self.modalities, self.present[i], strict=True) if p]

    def contributions(self, i: int) -> dict[str, dict[str, float]]:
        """Case `i`: {modality: {"delta": ..., "weight": ...}} for the modalities it used only."""
        out: dict[str, dict[str, float]] = {}
        for j, m in enumerate(self.modalities):
            if self.present[i, j]:
                out[m] = {"delta": float(self.deltas[i, j])}
                if self.weights is not None:
                    out[m]["weight"] = float(self.weights[i, j])
        return out


def modality_dropout(
    present: torch.Tensor, p: float, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Drop each present modality with probability `p`, never all of a case's modalities.

    A case whose draw drops everything keeps one of its modalities chosen at random, so training
    sees every subset, single modalities included, but never an empty case.
    """
    if not 0.0 <= p < 1.0:
        raise ValueError(f"modality dropout probability must be in [0, 1), got {p}")
    keep = torch.rand(present.shape, generator=generator) >= p
    dropped = present & keep.to(present.device)
    emptied = present.any(dim=1) & ~dropped.any(dim=1)
    if bool(emptied.any()):
        draw = torch.rand(present.shape, generator=generator).to(present.device)
        choice = draw.masked_fill(~present, -1.0).argmax(dim=1)
        rows = emptied.nonzero().squeeze(1)
        dropped[rows, choice[rows]] = True
    return dropped


class FusionModel(nn.Module):
    """Per-modality encoders fused into one case-level malignancy logit.

    Args:
        encoders: modality name -> encoder returning (B, dim) embeddings; names from `MODALITIES`.
        strategy: "late" (a head per modality gives a logit, a learned linear stacker sums the
            present ones), "concat" (the embeddings side by side with presence flags, an MLP),
            "gated" (each embedding scaled by a learned sigmoid gate, summed over the present
            ones, an MLP), "attention" (modality tokens with a type embedding through one
            self-attention layer over the present tokens, pooled by a learned query; the pooling
            attention is the modality weight).
        dim: embedding size the encoders return.
        hidden: width of the fusion MLP.
    """

    prior_logit: torch.Tensor

    def __init__(
        self,
        encoders: Mapping[str, nn.Module],
        strategy: str = "attention",
        dim: int = 32,
        hidden: int = 64,
    ) -> None:
        super().__init__()
        unknown = [m for m in encoders if m not in MODALITIES]
        if unknown:
            raise ValueError(f"unknown modality {unknown[0]!r}: use one of {MODALITIES}")
        if not encoders:
            raise ValueError("a fusion model needs at least one modality encoder")
        if strategy not in STRATEGIES:
            raise ValueError(f"unknown fusion strategy {strategy!r}: use one of {STRATEGIES}")
        self.modalities = tuple(encoders)
        self.strategy = strategy
        self.dim = dim
        self.encoders = nn.ModuleDict(encoders)
        m = len(self.modalities)
        # the training prevalence as a logit: the prediction with no modality, for ablations
        self.register_buffer("prior_logit", torch.zeros(()))
        if strategy == "late":
            self.heads = nn.ModuleDict({name: nn.Linear(dim, 1) for name in self.modalities})
            self.stack_weight = nn.Parameter(torch.ones(m))
            self.stack_bias = nn.Parameter(torch.zeros(()))
            return
        if strategy == "concat":
            width = m * dim + m
        else:
            width = dim
        if strategy == "gated":
            self.gates = nn.ModuleDict({name: nn.Linear(dim, 1) for name in self.modalities})
        if strategy == "attention":
            self.type_embedding = nn.Parameter(torch.randn(m, dim) * 0.02)
            self.mixer = nn.TransformerEncoderLayer(
                dim, nhead=2, dim_feedforward=2 * dim, dropout=0.0, batch_first=True
            )
            self.query = nn.Parameter(torch.randn(1, 1, dim) * 0.02)
            self.pool = nn.MultiheadAttention(dim, num_heads=1, batch_first=True)
        self.head = nn.Sequential(
            nn.Linear(width, hidden), nn.ReLU(), nn.Dropout(0.1), nn.Linear(hidden, 1)
        )

    def presence(self, inputs: Mapping[str, Any], present: torch.Tensor | None) -> torch.Tensor:
        """The (B, M) presence mask, checked against the inputs (derived from them when None)."""
        names = [k for k in inputs if not k.endswith("_mask")]
        unknown = [k for k in names if k not in self.modalities]
        if unknown:
            raise ValueError(
                f"input modality {unknown[0]!r} is not one this model reads {self.modalities}"
            )
        if not names:
            raise ValueError(f"no input modality given; this model reads {self.modalities}")
        batch = len(inputs[names[0]])
        uneven = [k for k in inputs if len(inputs[k]) != batch]
        if uneven:
            raise ValueError(
                f"input {uneven[0]!r} has {len(inputs[uneven[0]])} cases, {names[0]!r} has {batch}"
            )
        if present is None:
            present = torch.tensor([[m in inputs for m in self.modalities]] * batch)
        present = torch.as_tensor(present, dtype=torch.bool)
        if present.shape != (batch, len(self.modalities)):
            raise ValueError(
                f"present must be (B={batch}, M={len(self.modalities)}) in the order "
                f"{self.modalities}, got {tuple(present.shape)}"
            )
        for j, m in enumerate(self.modalities):
            if bool(present[:, j].any()) and m not in inputs:
                raise ValueError(f"modality {m!r} is marked present but has no input")
        if not bool(present.any(dim=1).all()):
            raise ValueError("every case needs at least one present modality")
        return present

    def encode(self, inputs: Mapping[str, torch.Tensor], present: torch.Tensor) -> torch.Tensor:
        """(B, M, dim) embeddings; only the present rows of each modality go through its encoder."""
        first = next(v for k, v in inputs.items() if not k.endswith("_mask"))
        device = first.device
        present = present.to(device)
        parts = []
        for j, m in enumerate(self.modalities):
            rows = present[:, j].nonzero().squeeze(1)
            slot = torch.zeros(len(present), self.dim, device=device)
            if len(rows):
                x = inputs[m][rows]
                mask = inputs.get(f"{m}_mask")
                encoder = self.encoders[m]
                out = encoder(x, mask[rows]) if mask is not None else encoder(x)
                slot = slot.index_put((rows,), out.to(slot.dtype))
            parts.append(slot)
        return torch.stack(parts, dim=1)

    def fuse(self, embeddings: torch.Tensor, present: torch.Tensor) -> FusionOutput:
        """Fuse (B, M, dim) embeddings of the present modalities into logits."""
        present = present.to(embeddings.device)
        flags = present.to(embeddings.dtype)
        if self.strategy == "late":
            per = torch.cat(
                [self.heads[m](embeddings[:, j]) for j, m in enumerate(self.modalities)], dim=1
            )
            per = per * flags
            logits = self.stack_bias + (per * self.stack_weight).sum(dim=1)
            return FusionOutput(logits, None, per)
        if self.strategy == "concat":
            fused = torch.cat([(embeddings * flags.unsqueeze(-1)).flatten(1), flags], dim=1)
            return FusionOutput(self.head(fused).squeeze(1))
        if self.strategy == "gated":
            gates = torch.cat(
                [
                    torch.sigmoid(self.gates[m](embeddings[:, j]))
                    for j, m in enumerate(self.modalities)
                ],
                dim=1,
            )
            gates = gates * flags
            fused = (gates.unsqueeze(-1) * embeddings).sum(dim=1)
            weights = gates / gates.sum(dim=1, keepdim=True).clamp(min=1e-6)
            return FusionOutput(self.head(fused).squeeze(1), weights)
        tokens = embeddings + self.type_embedding
        tokens = self.mixer(tokens, src_key_padding_mask=~present)
        query = self.query.expand(len(tokens), -1, -1)
        pooled, attention = self.pool(query, tokens, tokens, key_padding_mask=~present)
        weights = attention.squeeze(1) * flags
        return FusionOutput(self.head(pooled.squeeze(1)).squeeze(1), weights)

    def forward(
        self, inputs: Mapping[str, torch.Tensor], present: torch.Tensor | None = None
    ) -> FusionOutput:
        present = self.presence(inputs, present)
        return self.fuse(self.encode(inputs, present), present)

    @torch.no_grad()
    def predict(
        self, inputs: Mapping[str, torch.Tensor], present: torch.Tensor | None = None
    ) -> FusionPrediction:
        """Probabilities from whichever modalities each case has, with contributions.

        Each modality's ablation delta reuses the embeddings and re-runs only the fusion with that
        modality left out (for a case with that modality alone: against the training prevalence).
        """
        was_training = self.training
        self.eval()
        try:
            present = self.presence(inputs, present)
            embeddings = self.encode(inputs, present)
            present = present.to(embeddings.device)
            full = self.fuse(embeddings, present)
            probability = torch.sigmoid(full.logits.float())
            deltas = torch.zeros(present.shape, device=embeddings.device)
            prior = torch.sigmoid(self.prior_logit.float())
            for j in range(len(self.modalities)):
                without = present.clone()
                without[:, j] = False
                alone = ~without.any(dim=1)
                # rows left with nothing are fused with their own mask (finite) and overwritten
                without[alone] = present[alone]
                reduced = torch.sigmoid(self.fuse(embeddings, without).logits.float())
                reduced = torch.where(alone, prior, reduced)
                deltas[:, j] = torch.where(present[:, j], probability - reduced, 0.0)
        finally:
            self.train(was_training)
        return FusionPrediction(
            probabilities=probability.cpu().numpy(),
            modalities=self.modalities,
            present=present.cpu().numpy(),
            deltas=deltas.cpu().numpy(),
            weights=None if full.weights is None else full.weights.float().cpu().numpy(),
        )


def build_fusion_model(
    modalities: Sequence[str],
    strategy: str = "attention",
    *,
    dim: int = 32,
    schema: TabularSchema | None = None,
    widths: Sequence[int] = WIDTHS,
    mri_pooling: str = "attention",
) -> FusionModel:
    """A `FusionModel` with the default encoder of each named modality.

    Args:
        modalities: names from `MODALITIES`, in the order of the presence mask.
        strategy: one of `STRATEGIES`.
        dim: common embedding size.
        schema: the clinical table's columns (required with "clinical").
        widths: the image backbones' stage widths.
        mri_pooling: "attention" or "mean" over MRI slices.
    """
    encoders: dict[str, nn.Module] = {}
    for m in modalities:
        if m == "mammography":
            encoders[m] = FourViewEncoder(dim, widths=widths)
        elif m == "ultrasound":
            encoders[m] = ImageEncoder(dim, widths=widths)
        elif m == "mri":
            encoders[m] = SetEncoder(dim, pooling=mri_pooling, widths=widths)
        elif m == "pathology":
            encoders[m] = SetEncoder(dim, pooling="attention", widths=widths)
        elif m == "clinical":
            if schema is None:
                raise ValueError("modality 'clinical' needs a TabularSchema (schema=...)")
            encoders[m] = TabularEncoder(schema, dim)
        else:
            raise ValueError(f"unknown modality {m!r}: use one of {MODALITIES}")
    return FusionModel(encoders, strategy, dim=dim)
