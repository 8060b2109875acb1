"""Per-modality encoders: each maps one modality of a batch of cases to a (B, dim) embedding.

Image backbones are MONAI ResNets (basic blocks, one block per stage, small widths): fusion is
trained on few paired cases, where a small network is what can be fitted.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from monai.networks.nets import ResNet
from torch import nn

# The order of the four mammography views in an input tensor (B, 4, C, H, W).
MAMMOGRAPHY_VIEWS = (("L", "CC"), ("L", "MLO"), ("R", "CC"), ("R", "MLO"))
WIDTHS = (8, 16, 32, 64)


def image_backbone(dim: int, in_channels: int = 1, widths: Sequence[int] = WIDTHS) -> nn.Module:
    """A small 2-D MONAI ResNet (one basic block per stage) ending in a `dim` linear layer.

    MONAI's ResNet has four stages (`widths` gives their four widths). The stem keeps full
    resolution (stride 1, no max pool) so that a 16-pixel image still ends in a 2x2 map: batch
    norm can then train on a batch where a single case has this modality, which modality dropout
    makes common.
    """
    return ResNet(
        block="basic",
        layers=[1] * len(widths),
        block_inplanes=list(widths),
        spatial_dims=2,
        n_input_channels=in_channels,
        conv1_t_size=3,
        conv1_t_stride=1,
        no_max_pool=True,
        num_classes=dim,
    )


class GatedAttentionPool(nn.Module):
    """Gated attention pooling over a set (Ilse et al. 2018, attention-based MIL).

    Args:
        dim: size of the instance embeddings.
        hidden: size of the attention's hidden layer.

    `forward(x, mask)` takes (B, N, dim) instances and an optional (B, N) bool mask of the real
    ones; returns the (B, dim) pooled embedding and the (B, N) attention weights (0 where masked).
    """

    def __init__(self, dim: int, hidden: int = 32) -> None:
        super().__init__()
        self.value = nn.Linear(dim, hidden)
        self.gate = nn.Linear(dim, hidden)
        self.score = nn.Linear(hidden, 1)

    def forward(
        self, x: torch.Tensor, mask: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        scores = self.score(torch.tanh(self.value(x)) * torch.sigmoid(self.gate(x))).squeeze(-1)
        if mask is not None:
            scores = scores.masked_fill(~mask, float("-inf"))
        weights = torch.softmax(scores.float(), dim=1).to(x.dtype)
        return (weights.unsqueeze(-1) * x).sum(dim=1), weights


class FourViewEncoder(nn.Module):
    """The four mammography views (L-CC, L-MLO, R-CC, R-MLO) through ONE shared backbone.

    Args:
        dim: embedding size.
        in_channels: channels of each view image.
        widths: backbone stage widths.

    Input (B, 4, C, H, W) in `MAMMOGRAPHY_VIEWS` order. Each view's embedding gets a learned
    view (CC/MLO) and laterality (L/R) embedding added, so the shared weights still know which
    view they look at; the views are pooled by gated attention (`last_weights` keeps the (B, 4)
    view weights of the last call, for explanation).
    """

    def __init__(self, dim: int, in_channels: int = 1, widths: Sequence[int] = WIDTHS):
        super().__init__()
        self.backbone = image_backbone(dim, in_channels, widths)
        self.view_embedding = nn.Embedding(2, dim)
        self.laterality_embedding = nn.Embedding(2, dim)
        self.register_buffer(
            "view_index", torch.tensor([0 if v == "CC" else 1 for _, v in MAMMOGRAPHY_VIEWS])
        )
        self.register_buffer(
            "laterality_index", torch.tensor([0 if s == "L" else 1 for s, _ in MAMMOGRAPHY_VIEWS])
        )
        self.pool = GatedAttentionPool(dim)
        self.last_weights: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 5 or x.shape[1] != len(MAMMOGRAPHY_VIEWS):
            raise ValueError(
                f"mammography input must be (B, 4, C, H, W) in the order {MAMMOGRAPHY_VIEWS}, "
                f"got {tuple(x.shape)}"
            )
        b, v = x.shape[:2]
        views = self.backbone(x.flatten(0, 1)).view(b, v, -1)
        views = (
            views
            + self.view_embedding(self.view_index)
            + self.laterality_embedding(self.laterality_index)
        )
        pooled, self.last_weights = self.pool(views)
        return pooled


class ImageEncoder(nn.Module):
    """One 2-D image per case (ultrasound, or any single image) to an embedding.

    Args:
        dim: embedding size.
        in_channels: image channels.
        widths: backbone stage widths.
    """

    def __init__(self, dim: int, in_channels: int = 1, widths: Sequence[int] = WIDTHS):
        super().__init__()
        self.backbone = image_backbone(dim, in_channels, widths)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4:
            raise ValueError(f"image input must be (B, C, H, W), got {tuple(x.shape)}")
        return self.backbone(x)


class SetEncoder(nn.Module):
    """A set of 2-D images per case through one shared backbone, then pooled.

    Used for MRI as slices (pooling "mean" or "attention") and histopathology as a bag of tiles
    (gated attention, i.e. attention-MIL: a few malignant tiles among many benign ones decide).

    Args:
        dim: embedding size.
        pooling: "attention" (gated attention, weights in `last_weights`) or "mean".
        in_channels: channels of each image.
        widths: backbone stage widths.

    `forward(x, mask=None)`: x is (B, N, C, H, W); mask (B, N) bool marks the real slices or
    tiles of bags padded to N (each case needs at least one).
    """

    def __init__(
        self,
        dim: int,
        pooling: str = "attention",
        in_channels: int = 1,
        widths: Sequence[int] = WIDTHS,
    ):
        super().__init__()
        if pooling not in ("attention", "mean"):
            raise ValueError(f"unknown pooling {pooling!r}: use 'attention' or 'mean'")
        self.pooling = pooling
        self.backbone = image_backbone(dim, in_channels, widths)
        self.pool = GatedAttentionPool(dim) if pooling == "attention" else None
        self.last_weights: torch.Tensor | None = None

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        if x.ndim != 5:
            raise ValueError(f"set input must be (B, N, C, H, W), got {tuple(x.shape)}")
        b, n = x.shape[:2]
        items = self.backbone(x.flatten(0, 1)).view(b, n, -1)
        if mask is not None and not bool(mask.any(dim=1).all()):
            raise ValueError("each case needs at least one real slice or tile in its mask")
        if self.pool is not None:
            pooled, self.last_weights = self.pool(items, mask)
            return pooled
        if mask is None:
            mask = torch.ones(b, n, dtype=torch.bool, device=x.device)
        weights = mask.to(items.dtype) / mask.sum(dim=1, keepdim=True)
        self.last_weights = weights
        return (weights.unsqueeze(-1) * items).sum(dim=1)


@dataclass
class TabularSchema:
    """The clinical record's columns, in the order of the input table.

    Args:
        numeric: names of the numeric fields (first columns; NaN = missing).
        categorical: name -> number of categories of each categorical field (last columns,
            codes 0..k-1 stored as floats; NaN = unknown).
    """

    numeric: Sequence[str] = ()
    categorical: Mapping[str, int] = field(default_factory=dict)

    @property
    def width(self) -> int:
        return len(self.numeric) + len(self.categorical)


class TabularEncoder(nn.Module):
    """The clinical record (one row per case) to an embedding.

    Args:
        schema: the columns (`TabularSchema`).
        dim: embedding size.
        hidden: width of the hidden layer.
        category_dim: size of each categorical field's embedding.

    Numeric fields are standardised with the statistics `fit` stored (from training cases only)
    and each gets a missing indicator: a missing value becomes 0 (the mean) with its indicator
    set, so the network can tell "average" from "not recorded". Each categorical field has its own
    embedding whose index 0 is "unknown" (NaN); a code outside 0..k-1 is an error, not unknown,
    because it means the table and the schema disagree.
    """

    mean: torch.Tensor
    std: torch.Tensor

    def __init__(
        self, schema: TabularSchema, dim: int, hidden: int = 64, category_dim: int = 4
    ) -> None:
        super().__init__()
        self.schema = schema
        n_num = len(schema.numeric)
        self.register_buffer("mean", torch.zeros(n_num))
        self.register_buffer("std", torch.ones(n_num))
        self.embeddings = nn.ModuleList(
            nn.Embedding(k + 1, category_dim) for k in schema.categorical.values()
        )
        width = 2 * n_num + category_dim * len(schema.categorical)
        self.mlp = nn.Sequential(
            nn.Linear(width, hidden), nn.ReLU(), nn.Dropout(0.1), nn.Linear(hidden, dim)
        )

    def fit(self, table: np.ndarray | torch.Tensor) -> TabularEncoder:
        """Store the numeric fields' mean and standard deviation (NaN ignored) of training rows."""
        values = torch.as_tensor(np.asarray(table, dtype=np.float64)[:, : len(self.schema.numeric)])
        seen = ~torch.isnan(values)
        count = seen.sum(0).clamp(min=1)
        mean = torch.where(seen, values, 0).sum(0) / count
        var = (torch.where(seen, values - mean, 0) ** 2).sum(0) / count
        self.mean.copy_(mean.float())
        self.std.copy_(var.sqrt().clamp(min=1e-6).float())
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 2 or x.shape[1] != self.schema.width:
            raise ValueError(
                f"clinical input must be (B, {self.schema.width}) with columns "
                f"{list(self.schema.numeric) + list(self.schema.categorical)}, got {tuple(x.shape)}"
            )
        x = x.float()
        n_num = len(self.schema.numeric)
        numeric = x[:, :n_num]
        missing = torch.isnan(numeric)
        standard = torch.where(missing, 0.0, (numeric - self.mean) / self.std)
        parts = [standard, missing.float()]
        for j, (name, k) in enumerate(self.schema.categorical.items()):
            codes = x[:, n_num + j]
            unknown = torch.isnan(codes)
            known = codes[~unknown]
            if known.numel() and (
                bool((known < 0).any() | (known >= k).any()) or bool((known % 1 != 0).any())
            ):
                codes_seen = known.unique().tolist()
                raise ValueError(
                    f"clinical field {name!r} has codes outside 0..{k - 1}: {codes_seen}"
                )
            index = torch.where(unknown, 0, codes + 1).long()
            parts.append(self.embeddings[j](index))
        return self.mlp(torch.cat(parts, dim=1))
