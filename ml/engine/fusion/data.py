"""`FusionData`: paired cases as tensors, one per modality, with the mask of present modalities."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import torch


@dataclass
class FusionData:
    """Paired cases: each modality's tensor has the cases on its first axis.

    Args:
        inputs: modality name -> tensor (N, ...); a set modality may add "<name>_mask".
        present: (N, M) bool, which modalities each case has, in `modalities` order (an absent
            modality's rows hold filler that is never read).
        labels: (N,) 0/1 malignancy labels.
        modalities: the column order of `present`.
    """

    inputs: dict[str, torch.Tensor]
    present: torch.Tensor
    labels: torch.Tensor
    modalities: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, index: Sequence[int] | np.ndarray | torch.Tensor) -> FusionData:
        """The cases at `index`, in that order."""
        index = torch.as_tensor(np.asarray(index), dtype=torch.long)
        return FusionData(
            {k: v[index] for k, v in self.inputs.items()},
            self.present[index],
            self.labels[index],
            self.modalities,
        )

    def only(self, names: Sequence[str]) -> FusionData:
        """The same cases with every modality but `names` marked absent (cases left with none
        are dropped: a prediction needs at least one modality)."""
        unknown = [n for n in names if n not in self.modalities]
        if unknown:
            raise ValueError(f"unknown modality {unknown[0]!r}: these data have {self.modalities}")
        keep = torch.tensor([m in names for m in self.modalities])
        present = self.present & keep
        rows = present.any(dim=1).nonzero().squeeze(1)
        return replace(self.subset(rows), present=present[rows])

    def without(self, names: Sequence[str]) -> FusionData:
        """The same cases with `names` marked absent (cases left with none are dropped)."""
        return self.only([m for m in self.modalities if m not in names])

    def select(self, names: Sequence[str]) -> FusionData:
        """The same cases restricted to the modalities `names` (in that order), for a model that
        reads only those (cases left with none of them are dropped)."""
        unknown = [n for n in names if n not in self.modalities]
        if unknown:
            raise ValueError(f"unknown modality {unknown[0]!r}: these data have {self.modalities}")
        columns = [self.modalities.index(n) for n in names]
        present = self.present[:, columns]
        rows = present.any(dim=1).nonzero().squeeze(1)
        inputs = {
            k: v[rows]
            for k, v in self.inputs.items()
            if k in names or (k.endswith("_mask") and k[: -len("_mask")] in names)
        }
        return FusionData(inputs, present[rows], self.labels[rows], tuple(names))
