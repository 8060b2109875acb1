"""Decode-once tensor cache and class-balancing helpers (augmentation: ml.engine.augment).

Every image is read and preprocessed once into one (N, C, H, W) tensor held on the training
device; epochs then index that tensor, so from the second epoch on data loading costs next to
nothing beside the model's own compute.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from monai.data import set_track_meta

from ml.engine.cases import Case, ImageRef
from ml.engine.errors import Cancelled
from ml.engine.preprocess import Geometry, preprocess_image, preprocess_roi
from ml.engine.recipes import Recipe

# Plain tensors out of MONAI transforms: the engine tracks geometry itself.
set_track_meta(False)

# A whole-image model reads the pixel cache's smallest level whose longer side is at least this
# many times its input's (training and prediction alike): the breast crop, windowing and CLAHE
# then run on about a quarter of a 1k mammogram's pixels, and a level never holds less detail
# than the 256 px input needs. Lesion crops read full resolution.
READ_LONG_SIDE = 2


@dataclass
class Sample:
    """One model input: an image of a case, its geometry and its ground truth."""

    case_index: int
    image: ImageRef
    geometry: Geometry
    label: int | None = None
    lesions: list[tuple[float, float, float]] = field(default_factory=list)  # model space


@dataclass
class TensorCache:
    """Preprocessed images (N, C, H, W) float16 on a device, masks/heatmaps, and their samples."""

    images: torch.Tensor
    samples: list[Sample]
    cases: list[Case]
    masks: torch.Tensor | None = None
    labels: torch.Tensor | None = None

    def __len__(self) -> int:
        return len(self.samples)


def model_images(case: Case, modality: str) -> list[ImageRef]:
    """The images of a case a single-image model reads: those of its modality, else all."""
    chosen = [im for im in case.images if not modality or im.modality == modality]
    return chosen or list(case.images)


def located_lesions(recipe: Recipe, case: Case) -> list:
    """The case's lesions a lesion-crop recipe reads (with a radius, on a model image); empty
    when the recipe reads whole images."""
    if recipe.preprocessing.lesion_roi <= 0:
        return []
    keys = {ref.key for ref in model_images(case, recipe.modality)}
    return [les for les in case.lesions if les.radius > 0 and les.image_key in keys]


def unlocated_cases(recipe: Recipe, cases) -> list[str]:
    """Keys of the cases a lesion-crop recipe cannot read: no located lesion on a model image
    (none for a recipe that reads whole images)."""
    if recipe.preprocessing.lesion_roi <= 0:
        return []
    return [case.key for case in cases if not located_lesions(recipe, case)]


def _resize(array: np.ndarray, size: tuple[int, int], mode: str) -> torch.Tensor:
    t = torch.from_numpy(np.ascontiguousarray(array, np.float32))[None, None]
    if tuple(t.shape[-2:]) == tuple(size):
        return t[0]
    if mode == "nearest":
        return F.interpolate(t, size=size, mode="nearest")[0]
    return F.interpolate(
        t,
        size=size,
        mode="bilinear",
        align_corners=False,
        antialias=t.shape[-1] > size[1] or t.shape[-2] > size[0],
    )[0]


def read_for_model(
    ref: ImageRef, size: tuple[int, int]
) -> tuple[np.ndarray, int, tuple[int, int] | None]:
    """The pixels a whole-image model reads of `ref`: the smallest stored reduced copy whose
    longer side is still at least READ_LONG_SIDE x the input's and whose shorter side is at
    least the input's (what preprocess_image would otherwise block-average full resolution
    down to), else full resolution. Returns (pixels, factor, full (H, W) or None)."""
    if ref.load_reduced is not None:
        side = max(int(size[0]), int(size[1]))
        return ref.load_reduced(READ_LONG_SIDE * side, side)
    return ref.load(), 1, None


def _prepare_case(
    recipe: Recipe, ci: int, case: Case, labelled_only: bool, want_masks: bool
) -> list[tuple[torch.Tensor, torch.Tensor | None, Sample]]:
    """Read and preprocess the model images of one case (runs in a worker thread)."""
    label = None
    if recipe.task == "classification":
        label = (
            recipe.class_index(case.labels[recipe.label]) if recipe.label in case.labels else None
        )
        if label is None and labelled_only:
            return []
    size = recipe.input_size
    config = recipe.preprocessing
    refs = model_images(case, recipe.modality)
    located = located_lesions(recipe, case)
    out = []
    for ref in refs:
        raw_mask = ref.mask() if (want_masks and ref.mask is not None) else None
        if located:
            # One crop per located lesion; the case's other images hold no finding to read.
            views = [les for les in located if les.image_key == ref.key]
            if not views:
                continue
            pixels = ref.load()
            prepared = [
                preprocess_roi(
                    pixels,
                    ref.modality,
                    ref.laterality,
                    config,
                    size,
                    (les.cx, les.cy),
                    max(config.lesion_roi * les.radius, config.roi_min_side / 2),
                    raw_mask,
                )
                for les in views
            ]
        else:
            pixels, factor, full = read_for_model(ref, size)
            prepared = [
                preprocess_image(
                    pixels,
                    ref.modality,
                    ref.laterality,
                    config,
                    size,
                    raw_mask,
                    factor=factor,
                    full_shape=full,
                )
            ]
        for image, mask, geometry in prepared:
            out.append(_item(recipe, case, ci, ref, image, mask, geometry, label, want_masks))
    return out


def _item(
    recipe: Recipe,
    case: Case,
    ci: int,
    ref: ImageRef,
    image: np.ndarray,
    mask: np.ndarray | None,
    geometry: Geometry,
    label: int | None,
    want_masks: bool,
) -> tuple[torch.Tensor, torch.Tensor | None, Sample]:
    size = recipe.input_size
    mask_t = None
    if want_masks:
        if mask is None:
            mask = np.zeros(image.shape, np.uint8)
        mask_t = _resize(mask.astype(np.float32), size, "bilinear") > 0.5
    lesions = []
    for les in case.lesions:
        if les.image_key == ref.key:
            x, y = geometry.to_model(les.cx, les.cy)
            lesions.append((x, y, geometry.radius_to_model(les.radius)))
    return (
        _resize(image, size, "bilinear").to(torch.float16),
        mask_t,
        Sample(ci, ref, geometry, label, lesions),
    )


def iter_prepared(
    recipe: Recipe,
    cases: Sequence[Case],
    *,
    labelled_only: bool,
    want_masks: bool = False,
    should_stop: Callable[[], bool] | None = None,
    progress: Callable[[int, int], None] | None = None,
    workers: int | None = None,
    overlap: bool = True,
    window: int | None = None,
):
    """Yield (image, mask, sample) in case order, `workers` threads preparing the cases (numpy,
    scipy and torch release the GIL for the heavy parts).

    With `overlap`, the threads prepare the next cases while the consumer runs the model (a
    GPU computes while the CPU prepares). Without it, a window of cases is prepared, then
    yielded with the threads idle: on a CPU the model's own threads already use every core,
    and preparing beside them only oversubscribes the cores (slower than taking turns).
    """
    cases = list(cases)
    workers = workers or min(8, os.cpu_count() or 1)
    window = window or workers * 4  # bounded look-ahead keeps cancel prompt and memory flat
    with ThreadPoolExecutor(max_workers=workers) as pool:
        pending: dict[int, Future] = {}
        try:
            for ci in range(len(cases)):
                if overlap or not pending:
                    while len(pending) < window and ci + len(pending) < len(cases):
                        nxt = ci + len(pending)
                        pending[nxt] = pool.submit(
                            _prepare_case, recipe, nxt, cases[nxt], labelled_only, want_masks
                        )
                    if not overlap:
                        wait(pending.values())
                if should_stop is not None and should_stop():
                    raise Cancelled()
                yield from pending.pop(ci).result()
                if progress is not None:
                    progress(ci + 1, len(cases))
        finally:
            for future in pending.values():
                future.cancel()


def assemble(
    recipe: Recipe,
    cases: Sequence[Case],
    items: list,
    device: torch.device,
    images: torch.Tensor | None = None,
) -> TensorCache:
    """A TensorCache from prepared items (images already stacked on `device` if given)."""
    samples = [sample for _, _, sample in items]
    if images is None:
        if items:
            images = torch.stack([image for image, _, _ in items])
        else:
            images = torch.zeros((0, 1, *recipe.input_size), dtype=torch.float16)
        if recipe.in_channels > 1:
            images = images.expand(-1, recipe.in_channels, -1, -1).contiguous()
        images = images.to(device)
    masks = [mask for _, mask, _ in items if mask is not None]
    labels = None
    if recipe.task == "classification":
        labels = torch.tensor(
            [s.label if s.label is not None else -1 for s in samples],
            dtype=torch.long,
            device=device,
        )
    mask_tensor = torch.stack(masks).to(device) if masks else None
    return TensorCache(images, samples, list(cases), mask_tensor, labels)


def build_cache(
    recipe: Recipe,
    cases: Sequence[Case],
    device: torch.device,
    *,
    labelled_only: bool,
    want_masks: bool = False,
    should_stop: Callable[[], bool] | None = None,
    progress: Callable[[int, int], None] | None = None,
    workers: int | None = None,
) -> TensorCache:
    """Read and preprocess every model image of `cases` once into one tensor on `device`.

    Cases without a usable label are left out when `labelled_only` (training, evaluation).
    """
    items = list(
        iter_prepared(
            recipe,
            cases,
            labelled_only=labelled_only,
            want_masks=want_masks,
            should_stop=should_stop,
            progress=progress,
            workers=workers,
        )
    )
    return assemble(recipe, cases, items, device)


def heatmap_targets(cache: TensorCache, sigma: float) -> torch.Tensor:
    """Gaussian centre heatmaps (N, 1, H, W) in [0, 1], peak 1 at each lesion centre."""
    n, _, h, w = cache.images.shape
    out = torch.zeros((n, 1, h, w), dtype=torch.float32)
    yy, xx = torch.meshgrid(
        torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32), indexing="ij"
    )
    for i, sample in enumerate(cache.samples):
        for x, y, r in sample.lesions:
            s = max(sigma, r / 3.0)
            g = torch.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * s * s))
            out[i, 0] = torch.maximum(out[i, 0], g)
            cy, cx = int(min(max(round(y), 0), h - 1)), int(min(max(round(x), 0), w - 1))
            out[i, 0, cy, cx] = 1.0
    return out.to(cache.images.device, torch.float16)


def class_weights(labels: torch.Tensor, n_classes: int) -> torch.Tensor:
    """Inverse-frequency class weights normalised to mean 1 (absent classes weigh 1)."""
    counts = torch.bincount(labels[labels >= 0].cpu(), minlength=n_classes).float()
    weights = torch.where(
        counts > 0, counts.sum() / (n_classes * counts.clamp(min=1)), torch.ones_like(counts)
    )
    return weights / weights.mean()


def epoch_order(
    n: int, labels: torch.Tensor | None, balanced: bool, generator: torch.Generator
) -> torch.Tensor:
    """Sample indices of one epoch: a permutation, or class-balanced draws with replacement."""
    if balanced and labels is not None and n:
        valid = labels.cpu()
        counts = torch.bincount(valid[valid >= 0])
        weights = torch.where(valid >= 0, 1.0 / counts[valid.clamp(min=0)].float(), torch.zeros(n))
        return torch.multinomial(weights, n, replacement=True, generator=generator)
    return torch.randperm(n, generator=generator)
