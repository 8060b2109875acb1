"""Per-case outcomes of a model, and what is computed from them without the model: figures per
group of cases (site, scanner manufacturer) with bootstrap intervals, and the paired comparison
of two models on the same cases (challenger against champion). NumPy, SciPy and scikit-learn
only (the latter two imported on first use: the web process reads the metric names here): a test
builds CaseOutcomes by hand.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

# The metrics a comparison or a group figure can use, by the kind of outcomes that has them.
METRICS_OF_KIND: dict[str, tuple[str, ...]] = {
    "binary": ("auc", "accuracy", "sensitivity", "specificity"),
    "multiclass": ("auc", "accuracy"),
    "segmentation": ("dice",),
}
COMPARABLE_METRICS = ("auc", "accuracy", "sensitivity", "specificity", "dice")
# A group's key when the cases do not say (an exam without a site, an image without a maker).
UNKNOWN_GROUP = "(unknown)"
# Fewer defined resamples than this give no interval (as metrics.bootstrap_auc_ci).
MIN_RESAMPLES = 20


@dataclass
class CaseOutcomes:
    """One model's outputs on labelled cases, case by case.

    Args:
        keys: the cases' keys, one per row.
        kind: "binary", "multiclass" or "segmentation".
        labels: class index per case ("binary": 0/1), None for segmentation.
        scores: "binary": the positive class's probability (N,); "multiclass": (N, K)
            probabilities; None for segmentation.
        threshold: the binary operating threshold (sensitivity, specificity, accuracy).
        dice: "segmentation": per case, the mean Dice over its images with a lesion (NaN when it
            has none).
    """

    keys: list[str]
    kind: str
    labels: np.ndarray | None = None
    scores: np.ndarray | None = None
    threshold: float = 0.5
    dice: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.keys)

    def take(self, keys: Sequence[str]) -> CaseOutcomes:
        """These cases only, in this order (KeyError for a case it does not hold)."""
        where = {k: i for i, k in enumerate(self.keys)}
        idx = np.array([where[k] for k in keys], dtype=int)
        return CaseOutcomes(
            keys=list(keys),
            kind=self.kind,
            labels=None if self.labels is None else self.labels[idx],
            scores=None if self.scores is None else self.scores[idx],
            threshold=self.threshold,
            dice=None if self.dice is None else self.dice[idx],
        )


def _binary_auc(y: np.ndarray, s: np.ndarray) -> float | None:
    # The Mann-Whitney form of the AUC (ties count half): fast enough to bootstrap.
    from scipy.stats import rankdata

    pos, neg = s[y == 1], s[y == 0]
    if not len(pos) or not len(neg):
        return None
    ranks = rankdata(np.concatenate([pos, neg]))
    return float((ranks[: len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


def metric_value(
    outcomes: CaseOutcomes, metric: str, idx: np.ndarray | None = None
) -> float | None:
    """The metric over the cases at idx (all by default); None where it is undefined (one class
    only for AUC, no positive for sensitivity, no lesion for Dice, a metric of another kind)."""
    if metric not in METRICS_OF_KIND.get(outcomes.kind, ()):
        return None
    if idx is None:
        idx = np.arange(len(outcomes))
    if len(idx) == 0:
        return None
    if outcomes.kind == "segmentation":
        assert outcomes.dice is not None
        values = outcomes.dice[idx]
        values = values[~np.isnan(values)]
        return float(values.mean()) if len(values) else None
    assert outcomes.labels is not None and outcomes.scores is not None
    y, s = outcomes.labels[idx], outcomes.scores[idx]
    if outcomes.kind == "binary":
        pred = (s >= outcomes.threshold).astype(int)
        if metric == "auc":
            return _binary_auc(y, s)
        if metric == "accuracy":
            return float((pred == y).mean())
        wanted = 1 if metric == "sensitivity" else 0
        chosen = y == wanted
        return float((pred[chosen] == wanted).mean()) if chosen.any() else None
    if metric == "accuracy":
        return float((s.argmax(axis=1) == y).mean())
    k = s.shape[1]
    if len(np.unique(y)) < k:
        return None
    from sklearn import metrics as skm

    probs = s / s.sum(axis=1, keepdims=True)
    return float(skm.roc_auc_score(y, probs, multi_class="ovr", labels=list(range(k))))


def bootstrap_interval(
    outcomes: CaseOutcomes, metric: str, *, n_boot: int = 1000, seed: int = 0
) -> list[float] | None:
    """Percentile 95% interval of the metric over case resamples (None when too few are defined)."""
    rng = np.random.default_rng(seed)
    n = len(outcomes)
    values = []
    for _ in range(n_boot if n else 0):
        value = metric_value(outcomes, metric, rng.integers(0, n, n))
        if value is not None:
            values.append(value)
    if len(values) < MIN_RESAMPLES:
        return None
    return [float(np.percentile(values, 2.5)), float(np.percentile(values, 97.5))]


def figures(outcomes: CaseOutcomes, *, n_boot: int = 1000, seed: int = 0) -> dict[str, Any]:
    """n and every metric of the outcomes' kind, each with its 95% interval (`<metric>_ci`)."""
    out: dict[str, Any] = {"n": len(outcomes)}
    for metric in METRICS_OF_KIND.get(outcomes.kind, ()):
        out[metric] = metric_value(outcomes, metric)
        out[f"{metric}_ci"] = (
            bootstrap_interval(outcomes, metric, n_boot=n_boot, seed=seed)
            if out[metric] is not None and n_boot
            else None
        )
    return out


def group_figures(
    outcomes: CaseOutcomes,
    groups: Mapping[str, Mapping[str, str]],
    *,
    n_boot: int = 1000,
    seed: int = 0,
) -> dict[str, dict[str, dict[str, Any]]]:
    """Figures per group value: {"site": {"A": {"n", "auc", "auc_ci", ...}}, ...}.

    Args:
        outcomes: the cases' outcomes.
        groups: per grouping name, case key -> value (a missing or empty value is UNKNOWN_GROUP).
    """
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for name, of_case in groups.items():
        members: dict[str, list[str]] = {}
        for key in outcomes.keys:
            members.setdefault(of_case.get(key) or UNKNOWN_GROUP, []).append(key)
        out[name] = {
            value: figures(outcomes.take(keys), n_boot=n_boot, seed=seed)
            for value, keys in sorted(members.items())
        }
    return out


def paired_comparison(
    challenger: CaseOutcomes,
    champion: CaseOutcomes,
    metric: str,
    *,
    keys: Sequence[str] | None = None,
    n_boot: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """The challenger's metric minus the champion's on the same cases, with the percentile 95%
    interval of that difference over paired case resamples (both models see the same resample).

    Args:
        keys: the cases to compare on (default: the challenger's); both must hold them.
        n_boot: resamples; seed: the resampling RNG's seed (the same seed, the same interval).

    Returns {"n", "challenger", "champion", "difference", "ci", "n_boot"}; values are None where
    the metric is undefined on these cases.
    """
    chosen = list(challenger.keys if keys is None else keys)
    a, b = challenger.take(chosen), champion.take(chosen)
    if a.labels is not None and b.labels is not None and not np.array_equal(a.labels, b.labels):
        raise ValueError("The two models were not evaluated against the same ground truth.")
    out: dict[str, Any] = {
        "n": len(chosen),
        "challenger": metric_value(a, metric),
        "champion": metric_value(b, metric),
        "difference": None,
        "ci": None,
        "n_boot": n_boot,
    }
    if out["challenger"] is None or out["champion"] is None:
        return out
    out["difference"] = out["challenger"] - out["champion"]
    rng = np.random.default_rng(seed)
    n = len(chosen)
    differences = []
    for _ in range(n_boot):
        idx = rng.integers(0, n, n)
        va, vb = metric_value(a, metric, idx), metric_value(b, metric, idx)
        if va is not None and vb is not None:
            differences.append(va - vb)
    if len(differences) >= MIN_RESAMPLES:
        low, high = np.percentile(differences, [2.5, 97.5])
        out["ci"] = [float(low), float(high)]
    return out


def paired_by_group(
    challenger: CaseOutcomes,
    champion: CaseOutcomes,
    metric: str,
    of_case: Mapping[str, str],
    *,
    n_boot: int = 1000,
    seed: int = 0,
) -> dict[str, dict[str, Any]]:
    """paired_comparison within each group value (case key -> value; empty is UNKNOWN_GROUP)."""
    members: dict[str, list[str]] = {}
    for key in challenger.keys:
        members.setdefault(of_case.get(key) or UNKNOWN_GROUP, []).append(key)
    return {
        value: paired_comparison(challenger, champion, metric, keys=keys, n_boot=n_boot, seed=seed)
        for value, keys in sorted(members.items())
    }


@dataclass(frozen=True)
class Decision:
    promote: bool
    reason: str


def decide(
    overall: Mapping[str, Any],
    by_site: Mapping[str, Mapping[str, Any]],
    *,
    metric: str,
    margin: float,
    protected_sites: Sequence[str] = (),
) -> Decision:
    """Promote only when the challenger beats the champion by at least `margin` (and by more than
    nothing) on the whole test split, and is not worse on any protected site (each must have
    test cases where the metric is defined: a site that cannot be checked blocks promotion).

    Args:
        overall: a paired_comparison on the whole test split.
        by_site: paired_comparison per site (paired_by_group).
    """
    difference = overall.get("difference")
    if difference is None:
        return Decision(False, f"The {metric} of both models is undefined on the test split.")
    if difference < margin or difference <= 0:
        return Decision(
            False,
            f"The challenger's {metric} {overall['challenger']:.3f} against the champion's "
            f"{overall['champion']:.3f} is a difference of {difference:+.3f}, under the margin "
            f"{margin:.3f}.",
        )
    for site in protected_sites:
        figures_of_site = by_site.get(site)
        if figures_of_site is None or figures_of_site.get("difference") is None:
            return Decision(
                False,
                f"Protected site {site!r} has no test cases where the {metric} is defined, so "
                "the challenger cannot be shown not to be worse there.",
            )
        if figures_of_site["difference"] < 0:
            return Decision(
                False,
                f"The challenger is worse on protected site {site!r}: {metric} "
                f"{figures_of_site['challenger']:.3f} against {figures_of_site['champion']:.3f} "
                f"({figures_of_site['difference']:+.3f}).",
            )
    return Decision(
        True,
        f"The challenger's {metric} {overall['challenger']:.3f} beats the champion's "
        f"{overall['champion']:.3f} by {difference:+.3f} (margin {margin:.3f})"
        + (f" and is not worse on {', '.join(protected_sites)}." if protected_sites else "."),
    )
