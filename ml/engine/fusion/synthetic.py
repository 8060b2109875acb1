"""Seeded synthetic paired cases whose malignancy depends JOINTLY on several modalities.

Each case draws one hidden bit per "signal" modality; the label is their majority (an odd
number of signal modalities). A bit shows as a lesion in that modality: a bright disc in both
views of one breast (mammography), a dark disc in speckle (ultrasound), an enhancing disc over
two consecutive slices (MRI), tiles crowded with bright nuclei (pathology), an older age and a
higher risk score (clinical record). With three signal modalities one modality alone gives at
best P(malignant | bit) = 0.75 / 0.25, an AUC of 0.75; all three determine the label (AUC 1);
any two give 0.875 at best, so a fusion that ignores a modality cannot pass about 0.875.
Non-signal modalities get the same kind of lesion drawn independently of the label.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch

from ml.engine.fusion import MODALITIES
from ml.engine.fusion.data import FusionData
from ml.engine.fusion.encoders import TabularSchema

CLINICAL_SCHEMA = TabularSchema(
    numeric=("age", "risk_score", "bmi"), categorical={"family_history": 2, "menopause": 3}
)
DEFAULT_SIGNAL = ("mammography", "ultrasound", "clinical")


def _discs(
    rng: np.random.Generator, count: int, size: int, radius: tuple[float, float]
) -> np.ndarray:
    """(count, size, size) float masks of one disc each, at random centres inside the image."""
    r = rng.uniform(*radius, count)
    cy = rng.uniform(r + 1, size - r - 1)
    cx = rng.uniform(r + 1, size - r - 1)
    yy, xx = np.mgrid[:size, :size]
    d2 = (yy[None] - cy[:, None, None]) ** 2 + (xx[None] - cx[:, None, None]) ** 2
    return (d2 <= (r**2)[:, None, None]).astype(np.float32)


def _mammography(rng: np.random.Generator, bits: np.ndarray, size: int) -> np.ndarray:
    n = len(bits)
    views = 0.25 + 0.1 * rng.standard_normal((n, 4, size, size)).astype(np.float32)
    side = rng.integers(0, 2, n)  # 0 = left (views 0, 1), 1 = right (views 2, 3)
    for k in range(2):
        view = 2 * side + k
        lesion = _discs(rng, n, size, (2.0, 4.0)) * rng.uniform(0.6, 1.0, (n, 1, 1))
        views[np.arange(n), view] += lesion * bits[:, None, None]
    return views[:, :, None]


def _ultrasound(rng: np.random.Generator, bits: np.ndarray, size: int) -> np.ndarray:
    n = len(bits)
    speckle = 0.3 + rng.rayleigh(0.1, (n, size, size)).astype(np.float32)
    lesion = _discs(rng, n, size, (3.0, 5.0))
    image = speckle * (1 - 0.7 * lesion * bits[:, None, None])
    return image[:, None]


def _mri(rng: np.random.Generator, bits: np.ndarray, size: int, slices: int) -> np.ndarray:
    n = len(bits)
    volume = 0.2 + 0.1 * rng.standard_normal((n, slices, size, size)).astype(np.float32)
    first = rng.integers(0, slices - 1, n)
    lesion = _discs(rng, n, size, (2.0, 4.0)) * 0.7 * bits[:, None, None]
    rows = np.arange(n)
    volume[rows, first] += lesion
    volume[rows, first + 1] += lesion
    return volume[:, :, None]


def _pathology(rng: np.random.Generator, bits: np.ndarray, size: int, tiles: int) -> np.ndarray:
    n = len(bits)
    bag = 0.3 + 0.08 * rng.standard_normal((n, tiles, size, size)).astype(np.float32)
    # nuclei: 2x2 bright squares; a malignant bag has two tiles crowded with them
    crowded = np.zeros((n, tiles), dtype=bool)
    which = np.argsort(rng.random((n, tiles)), axis=1)[:, :2]
    crowded[np.arange(n)[:, None], which] = bits[:, None].astype(bool)
    for i in range(n):
        for t in range(tiles):
            count = rng.integers(8, 12) if crowded[i, t] else rng.integers(0, 3)
            for y, x in rng.integers(0, size - 2, (count, 2)):
                bag[i, t, y : y + 2, x : x + 2] += 0.6
    return bag[:, :, None]


def _clinical(rng: np.random.Generator, bits: np.ndarray, missing_rate: float) -> np.ndarray:
    n = len(bits)
    age = np.where(bits == 1, rng.normal(64, 6, n), rng.normal(46, 6, n))
    risk = rng.normal(0, 0.6, n) + 1.5 * bits
    bmi = rng.normal(26, 4, n)
    numeric = np.stack([age, risk, bmi], axis=1)
    # a field unrecorded now and then: the missing indicators are part of the task
    numeric[rng.random(numeric.shape) < missing_rate] = np.nan
    family = rng.integers(0, 2, n).astype(float)
    menopause = rng.integers(0, 3, n).astype(float)
    categorical = np.stack([family, menopause], axis=1)
    categorical[rng.random(categorical.shape) < missing_rate] = np.nan
    return np.concatenate([numeric, categorical], axis=1).astype(np.float32)


def joint_signal_cases(
    n: int,
    *,
    seed: int = 0,
    modalities: Sequence[str] = DEFAULT_SIGNAL,
    signal: Sequence[str] = DEFAULT_SIGNAL,
    size: int = 32,
    slices: int = 4,
    tiles: int = 6,
    tile_size: int = 16,
    missing: Mapping[str, float] | None = None,
    clinical_missing_rate: float = 0.05,
) -> FusionData:
    """`n` seeded paired cases; the label is the majority of one hidden bit per signal modality.

    Args:
        n: number of cases.
        seed: the generator's seed (same seed, same cases).
        modalities: the modalities each case is drawn with (order of `present`).
        signal: the modalities whose bits decide the label (an odd number, all in `modalities`).
        size: side of the mammography, ultrasound and MRI images.
        slices: MRI slices per case.
        tiles: pathology tiles per bag.
        tile_size: side of a pathology tile.
        missing: modality -> probability that a case lacks it (a case keeps at least one).
        clinical_missing_rate: probability of each clinical field being unrecorded.
    """
    for name in list(modalities) + list(signal) + list(missing or {}):
        if name not in MODALITIES:
            raise ValueError(f"unknown modality {name!r}: use one of {MODALITIES}")
    outside = [m for m in signal if m not in modalities]
    if outside:
        raise ValueError(
            f"signal modality {outside[0]!r} is not among the drawn {tuple(modalities)}"
        )
    if len(signal) % 2 == 0 or len(signal) < 3:
        raise ValueError(
            "the label is a majority: give an odd number >= 3 of signal modalities, "
            f"got {len(signal)}"
        )
    rng = np.random.default_rng(seed)
    bits = {m: rng.integers(0, 2, n) for m in modalities}
    labels = (np.stack([bits[m] for m in signal], axis=1).sum(1) * 2 > len(signal)).astype(
        np.float32
    )
    inputs: dict[str, torch.Tensor] = {}
    for m in modalities:
        if m == "mammography":
            array = _mammography(rng, bits[m], size)
        elif m == "ultrasound":
            array = _ultrasound(rng, bits[m], size)
        elif m == "mri":
            array = _mri(rng, bits[m], size, slices)
        elif m == "pathology":
            array = _pathology(rng, bits[m], tile_size, tiles)
        else:
            array = _clinical(rng, bits[m], clinical_missing_rate)
        inputs[m] = torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))
    present = np.ones((n, len(modalities)), dtype=bool)
    for j, m in enumerate(modalities):
        present[:, j] = rng.random(n) >= (missing or {}).get(m, 0.0)
    empty = ~present.any(axis=1)
    present[empty, rng.integers(0, len(modalities), int(empty.sum()))] = True
    return FusionData(
        inputs, torch.from_numpy(present), torch.from_numpy(labels), tuple(modalities)
    )
