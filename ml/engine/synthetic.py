"""Synthetic, separable cases built as engine Cases (pixels from numpy, no files).

Used by the tests and the benches (bench/train, bench/infer) alike: a bright disc is the
"lesion", with its mask and its centre as ground truth. Never imports Django.
"""

from __future__ import annotations

import functools

import numpy as np

from ml.engine.cases import Case, ImageRef, Lesion


def _disc(size: int, cx: float, cy: float, r: float) -> np.ndarray:
    yy, xx = np.mgrid[:size, :size]
    return ((xx - cx) ** 2 + (yy - cy) ** 2 <= r * r).astype(np.uint8)


def _pixels(seed: int, size: int, disc: tuple[float, float, float] | None) -> np.ndarray:
    rng = np.random.default_rng(seed)
    image = rng.normal(60, 12, (size, size))
    if disc is not None:
        image += 120 * _disc(size, *disc)
    return np.clip(image, 0, 255).astype(np.uint8)


def _mask(size: int, disc: tuple[float, float, float] | None) -> np.ndarray:
    return np.zeros((size, size), np.uint8) if disc is None else _disc(size, *disc)


def blob_cases(
    n: int, *, size: int = 32, seed: int = 0, modality: str = "US", positive_every: int = 2
) -> list[Case]:
    """n cases of one image each; every `positive_every`-th has a bright disc (a "lesion"),
    with its mask and its centre as ground truth. Labels: malignant 1/0."""
    rng = np.random.default_rng(seed)
    cases = []
    for i in range(n):
        positive = i % positive_every == 0
        disc = None
        if positive:
            r = float(rng.uniform(size * 0.1, size * 0.16))
            cx, cy = rng.uniform(r + 2, size - r - 2, 2)
            disc = (float(cx), float(cy), r)
        key = f"im{seed}-{i}"
        image = ImageRef(
            key=key,
            modality=modality,
            laterality="U",
            view="",
            load=functools.partial(_pixels, seed * 10_000 + i, size, disc),
            mask=functools.partial(_mask, size, disc),
        )
        lesions = (Lesion(key, disc[0], disc[1], disc[2], "mass", "malignant"),) if disc else ()
        cases.append(
            Case(
                key=f"c{seed}-{i:03d}",
                patient=f"p{seed}-{i}",
                images=(image,),
                labels={"malignant": int(positive)},
                lesions=lesions,
            )
        )
    return cases
