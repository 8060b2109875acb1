"""Training augmentation: MONAI random transforms, or the same draws vectorised on the GPU.

On a CPU the model's compute dwarfs a few MONAI calls per batch, so MONAI's transforms run on
groups of samples. On a GPU those Python calls would starve the model, so the same operations
(flip, 90-degree rotation, random zoom with crop, intensity scale and shift) are drawn per sample
and applied to the whole batch in a handful of tensor operations.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from monai import transforms as mt
from monai.data import set_track_meta

from ml.engine.recipes import Recipe

# Plain tensors out of MONAI transforms: the engine tracks geometry itself.
set_track_meta(False)


class Augmenter:
    """MONAI random transforms over a batch, in small groups that share one draw.

    Per-sample MONAI calls would cost more Python time than the model's compute on small inputs;
    groups of `group` samples (stacked along the channel axis) keep randomness across the batch
    at a fraction of the calls. Spatial transforms move the target (mask/heatmap) too.
    """

    def __init__(self, recipe: Recipe, seed: int = 0, group: int | None = None) -> None:
        aug = recipe.augmentation
        # Mammograms are oriented (chest wall left): flip up-down instead of left-right.
        axis = 0 if recipe.preprocessing.flip_to_left else 1
        keys = ["image", "target"]
        steps: list = []
        if aug.flip > 0:
            steps.append(mt.RandFlipd(keys, prob=aug.flip, spatial_axis=axis))
        if aug.rot90 > 0:
            steps.append(mt.RandRotate90d(keys, prob=aug.rot90, max_k=3))
        if tuple(aug.scale) != (1.0, 1.0):
            steps.append(
                mt.RandZoomd(
                    keys,
                    prob=0.5,
                    min_zoom=aug.scale[0],
                    max_zoom=aug.scale[1],
                    mode=("bilinear", "nearest"),
                    padding_mode="constant",
                    keep_size=True,
                )
            )
        if aug.intensity > 0:
            steps.append(mt.RandScaleIntensityd(["image"], factors=aug.intensity, prob=0.5))
            steps.append(mt.RandShiftIntensityd(["image"], offsets=aug.intensity, prob=0.5))
        self.enabled = bool(steps)
        self.compose = mt.Compose(steps).set_random_state(seed=seed) if steps else None
        # About eight independent draws per batch, at least four samples a draw.
        self.group = group or max(4, recipe.batch_size // 8)

    def __call__(
        self, images: torch.Tensor, target: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        if self.compose is None:
            return images, target
        out_images, out_targets = [], []
        c = images.shape[1]
        for start in range(0, len(images), self.group):
            part = images[start : start + self.group]
            g = len(part)
            item = {"image": part.reshape(g * c, *part.shape[2:])}
            if target is not None:
                tpart = target[start : start + self.group]
                item["target"] = tpart.reshape(g * tpart.shape[1], *tpart.shape[2:])
            else:
                item["target"] = item["image"][:1]
            done = self.compose(item)
            out_images.append(torch.as_tensor(done["image"]).reshape(part.shape))
            if target is not None:
                out_targets.append(torch.as_tensor(done["target"]).reshape(tpart.shape))
        return torch.cat(out_images), (torch.cat(out_targets) if target is not None else None)


class BatchAugmenter:
    """Per-sample random flips, rot90, zoom/crop and intensity jitter as batched tensor ops.

    Args:
        recipe: its `augmentation` block sets probabilities and ranges (as for Augmenter).
        device: where the batch lives (random numbers are drawn there).
        seed: random seed.
    """

    def __init__(self, recipe: Recipe, device: torch.device | str, seed: int = 0) -> None:
        self.aug = recipe.augmentation
        self.axis = 2 if recipe.preprocessing.flip_to_left else 3
        self.device = torch.device(device)
        self.generator = torch.Generator(device=self.device).manual_seed(seed)
        a = self.aug
        self.enabled = bool(
            a.flip > 0 or a.rot90 > 0 or tuple(a.scale) != (1.0, 1.0) or a.intensity > 0
        )

    def _rand(self, n: int) -> torch.Tensor:
        return torch.rand(n, device=self.device, generator=self.generator)

    def __call__(
        self, images: torch.Tensor, target: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        a, n = self.aug, len(images)
        if not self.enabled or n == 0:
            return images, target
        if a.flip > 0:
            hit = (self._rand(n) < a.flip).view(n, 1, 1, 1)
            images = torch.where(hit, images.flip(self.axis), images)
            if target is not None:
                target = torch.where(hit, target.flip(self.axis), target)
        if a.rot90 > 0 and images.shape[-1] == images.shape[-2]:
            k = torch.where(
                self._rand(n) < a.rot90,
                (self._rand(n) * 3).long() + 1,
                torch.zeros(n, dtype=torch.long, device=self.device),
            )
            for turns in (1, 2, 3):
                hit = (k == turns).view(n, 1, 1, 1)
                images = torch.where(hit, images.rot90(turns, (2, 3)), images)
                if target is not None:
                    target = torch.where(hit, target.rot90(turns, (2, 3)), target)
        if tuple(a.scale) != (1.0, 1.0):
            lo, hi = a.scale
            zoom = torch.where(
                self._rand(n) < 0.5,
                lo + (hi - lo) * self._rand(n),
                torch.ones(n, device=self.device),
            )
            inv = 1.0 / zoom
            # zoomed in: a random crop; zoomed out: centred with zero padding
            room = (1.0 - inv).clamp(min=0)
            tx, ty = room * (2 * self._rand(n) - 1), room * (2 * self._rand(n) - 1)
            theta = torch.zeros(n, 2, 3, device=self.device)
            theta[:, 0, 0], theta[:, 1, 1], theta[:, 0, 2], theta[:, 1, 2] = inv, inv, tx, ty
            grid = F.affine_grid(theta, list(images.shape), align_corners=False)
            images = F.grid_sample(
                images,
                grid.to(images.dtype),
                mode="bilinear",
                padding_mode="zeros",
                align_corners=False,
            )
            if target is not None:
                target = F.grid_sample(
                    target.float(), grid, mode="nearest", padding_mode="zeros", align_corners=False
                )
        if a.intensity > 0:
            amp = a.intensity
            scale = torch.where(
                self._rand(n) < 0.5,
                1 + amp * (2 * self._rand(n) - 1),
                torch.ones(n, device=self.device),
            )
            shift = torch.where(
                self._rand(n) < 0.5,
                amp * (2 * self._rand(n) - 1),
                torch.zeros(n, device=self.device),
            )
            images = images * scale.view(n, 1, 1, 1) + shift.view(n, 1, 1, 1)
        return images, target


def make_augmenter(recipe: Recipe, device: torch.device | str, seed: int = 0):
    """MONAI transforms on the CPU; batched per-sample draws on a GPU."""
    if torch.device(device).type == "cuda":
        return BatchAugmenter(recipe, device, seed)
    return Augmenter(recipe, seed=seed)
