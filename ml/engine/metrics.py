"""Evaluation metrics with flat keys: AUC (bootstrap 95% CI), sensitivity/specificity at a stated
threshold, accuracy, F1, confusion matrix, ROC and calibration curves, Dice, FROC."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from sklearn import metrics as skm

FROC_FP_RATES = (0.5, 1.0, 2.0)


def youden_threshold(y: np.ndarray, p: np.ndarray) -> float:
    """Threshold maximising sensitivity + specificity - 1 (0.5 when one class is missing)."""
    y = np.asarray(y)
    if len(np.unique(y)) < 2:
        return 0.5
    fpr, tpr, thresholds = skm.roc_curve(y, p)
    best = int(np.argmax(tpr - fpr))
    return float(min(max(thresholds[best], 0.0), 1.0))


def bootstrap_auc_ci(
    y: np.ndarray,
    scores: np.ndarray,
    *,
    n_boot: int = 1000,
    seed: int = 0,
    multi_class: bool = False,
) -> list[float] | None:
    """Percentile 95% interval of the AUC over case resamples (None if it cannot be computed)."""
    rng = np.random.default_rng(seed)
    n = len(y)
    aucs = []
    classes = np.unique(y)
    for _ in range(n_boot):
        idx = rng.integers(0, n, n)
        if len(np.unique(y[idx])) < len(classes):
            continue
        if multi_class:
            s = scores[idx] / scores[idx].sum(axis=1, keepdims=True)
            aucs.append(
                skm.roc_auc_score(y[idx], s, multi_class="ovr", labels=list(range(scores.shape[1])))
            )
        else:
            aucs.append(skm.roc_auc_score(y[idx], scores[idx]))
    if len(aucs) < 20:
        return None
    return [float(np.percentile(aucs, 2.5)), float(np.percentile(aucs, 97.5))]


def calibration_bins(y: np.ndarray, p: np.ndarray, bins: int = 10) -> dict[str, list]:
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(p, edges[1:-1]), 0, bins - 1)
    mean_pred, frac_pos, counts = [], [], []
    for b in range(bins):
        sel = which == b
        if sel.any():
            mean_pred.append(float(p[sel].mean()))
            frac_pos.append(float(y[sel].mean()))
            counts.append(int(sel.sum()))
    return {"mean_predicted": mean_pred, "fraction_positive": frac_pos, "count": counts}


def binary_metrics(
    labels: ArrayLike,
    probabilities: ArrayLike,
    threshold: float,
    *,
    n_boot: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """Metrics of positive-class probabilities against 0/1 labels at `threshold`."""
    y, p = np.asarray(labels, dtype=int), np.asarray(probabilities, dtype=float)
    out: dict[str, Any] = {"n": int(len(y)), "threshold": float(threshold)}
    if len(y) == 0:
        return out
    pred = (p >= threshold).astype(int)
    tn, fp, fn, tp = skm.confusion_matrix(y, pred, labels=[0, 1]).ravel()
    out.update(
        {
            "sensitivity": float(tp / (tp + fn)) if tp + fn else None,
            "specificity": float(tn / (tn + fp)) if tn + fp else None,
            "accuracy": float(skm.accuracy_score(y, pred)),
            "f1": float(skm.f1_score(y, pred, zero_division=0)),
            "confusion": [[int(tn), int(fp)], [int(fn), int(tp)]],
            "calibration": calibration_bins(y, p),
            "brier": float(np.mean((p - y) ** 2)),
        }
    )
    if len(np.unique(y)) == 2:
        fpr, tpr, _ = skm.roc_curve(y, p)
        out["auc"] = float(skm.roc_auc_score(y, p))
        out["auc_ci"] = bootstrap_auc_ci(y, p, n_boot=n_boot, seed=seed)
        out["roc"] = {"fpr": fpr.round(4).tolist(), "tpr": tpr.round(4).tolist()}
    else:
        out["auc"], out["auc_ci"] = None, None
    return out


def multiclass_metrics(
    labels: ArrayLike,
    probabilities: ArrayLike,
    classes: Sequence[str],
    *,
    n_boot: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """Arg-max metrics for K classes; AUC is the macro one-vs-rest AUC; sensitivity and
    specificity are macro averages over the classes."""
    y, probs = np.asarray(labels, dtype=int), np.asarray(probabilities, dtype=float)
    k = len(classes)
    out: dict[str, Any] = {"n": int(len(y)), "threshold": None}
    if len(y) == 0:
        return out
    pred = probs.argmax(axis=1)
    cm = skm.confusion_matrix(y, pred, labels=list(range(k)))
    sens = [cm[i, i] / cm[i].sum() for i in range(k) if cm[i].sum()]
    spec = [
        (cm.sum() - cm[i].sum() - cm[:, i].sum() + cm[i, i]) / (cm.sum() - cm[i].sum())
        for i in range(k)
        if cm.sum() - cm[i].sum()
    ]
    out.update(
        {
            "accuracy": float(skm.accuracy_score(y, pred)),
            "f1": float(
                skm.f1_score(y, pred, average="macro", labels=list(range(k)), zero_division=0)
            ),
            "sensitivity": float(np.mean(sens)) if sens else None,
            "specificity": float(np.mean(spec)) if spec else None,
            "confusion": cm.astype(int).tolist(),
            "kappa_quadratic": float(
                skm.cohen_kappa_score(y, pred, weights="quadratic", labels=list(range(k)))
            ),
        }
    )
    if len(np.unique(y)) == k:
        out["auc"] = float(skm.roc_auc_score(y, probs, multi_class="ovr", labels=list(range(k))))
        out["auc_ci"] = bootstrap_auc_ci(y, probs, n_boot=n_boot, seed=seed, multi_class=True)
    else:
        out["auc"], out["auc_ci"] = None, None
    return out


def dice_scores(pred: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Per-image Dice of binary masks (N, H, W); NaN where both are empty."""
    pred, target = pred.astype(bool), target.astype(bool)
    inter = (pred & target).reshape(len(pred), -1).sum(1)
    total = pred.reshape(len(pred), -1).sum(1) + target.reshape(len(target), -1).sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, 2.0 * inter / np.maximum(total, 1), np.nan)


def segmentation_metrics(pred: np.ndarray, target: np.ndarray) -> dict[str, Any]:
    """Mean Dice over images with a lesion (`dice`) and over all images, empty-vs-empty = 1."""
    scores = dice_scores(pred, target)
    has_lesion = target.reshape(len(target), -1).any(1)
    with_lesion = scores[has_lesion]
    return {
        "n": int(len(target)),
        "dice": float(np.nanmean(with_lesion)) if with_lesion.size else None,
        "dice_all": float(np.mean(np.nan_to_num(scores, nan=1.0))) if len(scores) else None,
    }


def froc(
    detections: Sequence[Sequence[tuple[float, float, float]]],
    lesions: Sequence[Sequence[tuple[float, float, float]]],
    fp_rates: Sequence[float] = FROC_FP_RATES,
) -> dict[str, Any]:
    """Lesion sensitivity at given false positives per image.

    Args:
        detections: per image, (x, y, score) candidates.
        lesions: per image, (x, y, radius) ground truth; a candidate within a lesion's radius
            hits it (each lesion counts once; further hits on it are neither TP nor FP).
    """
    n_images = len(lesions)
    n_lesions = sum(len(x) for x in lesions)
    events = []  # (score, image, lesion index or -1)
    for i, (cands, truth) in enumerate(zip(detections, lesions, strict=True)):
        for x, y, score in cands:
            hit = -1
            for j, (lx, ly, r) in enumerate(truth):
                if (x - lx) ** 2 + (y - ly) ** 2 <= r**2:
                    hit = j
                    break
            events.append((float(score), i, hit))
    events.sort(key=lambda e: -e[0])
    found: set[tuple[int, int]] = set()
    curve_fp, curve_sens, curve_score = [0.0], [0.0], [1.0]
    fps = 0
    for score, i, hit in events:
        if hit < 0:
            fps += 1
        elif (i, hit) not in found:
            found.add((i, hit))
        else:
            continue
        curve_fp.append(fps / max(n_images, 1))
        curve_sens.append(len(found) / max(n_lesions, 1))
        curve_score.append(score)
    out: dict[str, Any] = {
        "n": n_images,
        "n_lesions": n_lesions,
        "froc_curve": {"fp_per_image": curve_fp, "sensitivity": curve_sens},
    }
    at: list[float | None] = []
    for rate in fp_rates:
        ok = [s for f, s in zip(curve_fp, curve_sens, strict=True) if f <= rate]
        value = float(max(ok)) if ok and n_lesions else None
        out[f"froc_at_{rate:g}"] = value
        at.append(value)
    within = [s for f, s in zip(curve_fp, curve_score, strict=True) if f <= 1.0]
    out["threshold_at_1"] = float(min(within)) if within else None
    known = [v for v in at if v is not None]
    out["froc"] = float(np.mean(known)) if n_lesions and len(known) == len(at) else None
    return out
