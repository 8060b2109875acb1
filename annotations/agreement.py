"""Agreement between readers: the figures a multi-reader study reports.

Pure functions over plain data (no Django), each from a kept library where one exists:

- `pairwise_kappa`: Cohen's kappa between every pair of readers on the exams both read,
  quadratic-weighted for ordered scales such as BI-RADS and density (scikit-learn).
- `alpha`: Krippendorff's alpha over any number of readers, missing reads allowed, at the
  scale's level of measurement (the `krippendorff` package).
- `lesion_agreement`: lesions of two readers matched one-to-one at an IoU threshold (the
  Hungarian assignment of scipy), then F1 = 2 matched / (lesions of A + lesions of B).
- `dice` and `iou` between two masks.

Ratings are given as {reader: {exam: category}}; a reader who did not read an exam simply has
no entry for it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Any

import numpy as np

Ratings = Mapping[Any, Mapping[Any, Any]]


def pairwise_kappa(
    ratings: Ratings, categories: Sequence[Any], *, weights: str | None = "quadratic"
) -> dict[tuple[Any, Any], float | None]:
    """Cohen's kappa for each pair of readers over the exams both rated, with `categories` in
    their order (weights "quadratic", "linear" or None for unweighted). None where a pair shares
    fewer than two exams or every shared rating falls in one category (kappa is undefined)."""
    from sklearn.metrics import cohen_kappa_score

    unknown = {v for r in ratings.values() for v in r.values()} - set(categories)
    if unknown:
        raise ValueError(
            f"ratings outside the scale {list(categories)}: {sorted(map(str, unknown))}"
        )
    out: dict[tuple[Any, Any], float | None] = {}
    for a, b in combinations(ratings, 2):
        shared = sorted(set(ratings[a]) & set(ratings[b]), key=str)
        x = [ratings[a][e] for e in shared]
        y = [ratings[b][e] for e in shared]
        if len(shared) < 2 or len(set(x) | set(y)) < 2:
            out[(a, b)] = None
            continue
        out[(a, b)] = float(cohen_kappa_score(x, y, labels=list(categories), weights=weights))
    return out


def alpha(ratings: Ratings, categories: Sequence[Any], *, level: str = "ordinal") -> float | None:
    """Krippendorff's alpha of all readers together ("nominal", "ordinal", "interval" or
    "ratio"); categories are coded by their position on the scale. None when fewer than two
    readers rated any exam in common."""
    import krippendorff

    exams = sorted({e for r in ratings.values() for e in r}, key=str)
    code = {c: float(i) for i, c in enumerate(categories)}
    data = np.full((len(ratings), len(exams)), np.nan)
    for i, reader in enumerate(ratings):
        for j, exam in enumerate(exams):
            if exam in ratings[reader]:
                value = ratings[reader][exam]
                if value not in code:
                    raise ValueError(
                        f"rating {value!r} of {reader} is outside the scale {list(categories)}"
                    )
                data[i, j] = code[value]
    pairable = (~np.isnan(data)).sum(axis=0) >= 2
    if not pairable.any() or len(np.unique(data[:, pairable][~np.isnan(data[:, pairable])])) < 2:
        return None
    return float(
        krippendorff.alpha(
            reliability_data=data[:, pairable],
            value_domain=list(code.values()) if level != "interval" and level != "ratio" else None,
            level_of_measurement=level,
        )
    )


def iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two boolean masks of one image (1.0 when both are empty)."""
    a, b = np.asarray(a, bool), np.asarray(b, bool)
    union = np.logical_or(a, b).sum()
    return 1.0 if union == 0 else float(np.logical_and(a, b).sum() / union)


def dice(a: np.ndarray, b: np.ndarray) -> float:
    """Dice coefficient 2|A and B| / (|A| + |B|) of two boolean masks (1.0 when both are empty)."""
    a, b = np.asarray(a, bool), np.asarray(b, bool)
    total = a.sum() + b.sum()
    return 1.0 if total == 0 else float(2 * np.logical_and(a, b).sum() / total)


@dataclass(frozen=True)
class LesionAgreement:
    """Lesions of readers A and B matched one-to-one.

    Args:
        pairs: (index in A, index in B, IoU) of each matched pair.
        only_a: lesions of A that B did not mark; only_b: the reverse.
        f1: 2 matched / (lesions of A + lesions of B); 1.0 when neither marked any.
    """

    pairs: tuple[tuple[int, int, float], ...]
    only_a: tuple[int, ...]
    only_b: tuple[int, ...]
    f1: float


def lesion_agreement(
    lesions_a: Sequence[np.ndarray], lesions_b: Sequence[np.ndarray], *, threshold: float = 0.3
) -> LesionAgreement:
    """Match two readers' lesions (each a boolean mask of the same image) so that the total IoU
    of the pairs is largest; a pair counts only at IoU >= threshold."""
    from scipy.optimize import linear_sum_assignment

    overlap = np.array([[iou(a, b) for b in lesions_b] for a in lesions_a]).reshape(
        len(lesions_a), len(lesions_b)
    )
    rows, cols = linear_sum_assignment(overlap, maximize=True) if overlap.size else ((), ())
    pairs = tuple(
        (int(r), int(c), float(overlap[r, c]))
        for r, c in zip(rows, cols, strict=True)
        if overlap[r, c] >= threshold
    )
    total = len(lesions_a) + len(lesions_b)
    return LesionAgreement(
        pairs=pairs,
        only_a=tuple(sorted(set(range(len(lesions_a))) - {p[0] for p in pairs})),
        only_b=tuple(sorted(set(range(len(lesions_b))) - {p[1] for p in pairs})),
        f1=1.0 if total == 0 else 2 * len(pairs) / total,
    )
