"""Paired comparisons and per-group figures on outcomes built by hand (no model, no torch)."""

from __future__ import annotations

import numpy as np
import pytest

from ml.engine.compare import (
    CaseOutcomes,
    decide,
    figures,
    group_figures,
    metric_value,
    paired_by_group,
    paired_comparison,
)

N = 40
LABELS = np.array([i % 2 for i in range(N)])
SITES = {str(i): ("A" if i < N // 2 else "B") for i in range(N)}


def outcomes(scores, labels=LABELS, kind="binary") -> CaseOutcomes:
    return CaseOutcomes([str(i) for i in range(len(labels))], kind, labels, np.asarray(scores))


def separating(rng, noise: float) -> np.ndarray:
    """Scores that follow the labels, blurred by noise."""
    return np.clip(LABELS * 0.6 + 0.2 + rng.normal(0, noise, N), 0, 1)


def test_paired_difference_is_challenger_minus_champion_with_a_seeded_interval():
    # given a champion that is noise and a challenger that separates the classes
    rng = np.random.default_rng(0)
    champion, challenger = outcomes(rng.uniform(size=N)), outcomes(separating(rng, 0.05))
    # when compared twice with the same seed, and once with another
    first = paired_comparison(challenger, champion, "auc", seed=7)
    again = paired_comparison(challenger, champion, "auc", seed=7)
    other = paired_comparison(challenger, champion, "auc", seed=8)
    # then the difference is the difference of the two AUCs, inside its interval
    assert first["challenger"] == pytest.approx(1.0)
    assert first["difference"] == pytest.approx(1.0 - metric_value(champion, "auc"))
    low, high = first["ci"]
    assert 0 < low <= first["difference"] <= high
    # and the interval is reproducible by its seed, and depends on it
    assert first["ci"] == again["ci"] and first["ci"] != other["ci"]


def test_a_clearly_better_challenger_is_promoted():
    rng = np.random.default_rng(1)
    champion, challenger = outcomes(separating(rng, 0.5)), outcomes(separating(rng, 0.02))
    overall = paired_comparison(challenger, champion, "auc")
    sites = paired_by_group(challenger, champion, "auc", SITES)
    decision = decide(overall, sites, metric="auc", margin=0.02, protected_sites=["A", "B"])
    assert decision.promote, decision.reason
    assert "not worse on A, B" in decision.reason


def test_a_worse_or_within_margin_challenger_is_declined_with_the_reason():
    rng = np.random.default_rng(2)
    good, bad = outcomes(separating(rng, 0.05)), outcomes(separating(rng, 0.6))
    # a worse challenger
    worse = decide(paired_comparison(bad, good, "auc"), {}, metric="auc", margin=0.0)
    assert not worse.promote and "under the margin 0.000" in worse.reason
    # a better one that does not clear a margin larger than its gain
    overall = paired_comparison(good, bad, "auc")
    gain = overall["difference"]
    within = decide(overall, {}, metric="auc", margin=gain + 0.01)
    assert not within.promote and f"{gain:+.3f}" in within.reason
    # and the same challenger against itself (no gain at all) is not promoted with no margin
    tie = decide(paired_comparison(good, good, "auc"), {}, metric="auc", margin=0.0)
    assert not tie.promote


def test_a_win_overall_with_a_loss_on_a_protected_site_is_declined():
    # given a challenger much better on site B but slightly worse on site A
    rng = np.random.default_rng(3)
    champion_scores = separating(rng, 0.15)
    challenger_scores = champion_scores.copy()
    on_b = np.arange(N) >= N // 2
    challenger_scores[on_b] = LABELS[on_b] * 0.9 + 0.05  # perfect on B
    champion_scores[on_b] = rng.uniform(size=on_b.sum())  # noise on B
    a_positive = np.flatnonzero(~on_b & (LABELS == 1))[0]
    challenger_scores[a_positive] = 0.01  # one positive of A ranked last: worse on A
    champion, challenger = outcomes(champion_scores), outcomes(challenger_scores)
    overall = paired_comparison(challenger, champion, "auc")
    sites = paired_by_group(challenger, champion, "auc", SITES)
    assert overall["difference"] > 0.05 and sites["A"]["difference"] < 0
    # then with A protected it is declined naming A; unprotected, it is promoted
    declined = decide(overall, sites, metric="auc", margin=0.03, protected_sites=["A"])
    assert not declined.promote and "protected site 'A'" in declined.reason
    assert decide(overall, sites, metric="auc", margin=0.03, protected_sites=["B"]).promote
    # and a protected site without test cases blocks promotion too
    missing = decide(overall, sites, metric="auc", margin=0.03, protected_sites=["C"])
    assert not missing.promote and "'C' has no test cases" in missing.reason


def test_accuracy_and_dice_are_compared_case_by_case():
    # accuracy at the operating threshold
    rng = np.random.default_rng(4)
    right = outcomes(LABELS * 0.8 + 0.1)
    half = outcomes(np.where(np.arange(N) % 4 < 2, LABELS * 0.8 + 0.1, 0.9 - LABELS * 0.8))
    result = paired_comparison(right, half, "accuracy", n_boot=200)
    assert result["challenger"] == 1.0 and result["champion"] == 0.5
    assert result["difference"] == pytest.approx(0.5)
    # Dice: cases without a lesion (NaN) are left out of both sides
    dice_a = np.where(LABELS == 1, 0.9, np.nan)
    dice_b = np.where(LABELS == 1, rng.uniform(0.4, 0.6, N), np.nan)
    seg_a = CaseOutcomes([str(i) for i in range(N)], "segmentation", dice=dice_a)
    seg_b = CaseOutcomes([str(i) for i in range(N)], "segmentation", dice=dice_b)
    result = paired_comparison(seg_a, seg_b, "dice", n_boot=200)
    assert result["difference"] == pytest.approx(0.9 - np.nanmean(dice_b))
    assert result["ci"][0] > 0.25


def test_group_figures_count_each_case_once_with_intervals():
    rng = np.random.default_rng(5)
    out = outcomes(separating(rng, 0.3))
    by_site = group_figures(out, {"site": SITES, "manufacturer": {}}, n_boot=200)
    assert {k: v["n"] for k, v in by_site["site"].items()} == {"A": N // 2, "B": N // 2}
    assert by_site["manufacturer"]["(unknown)"]["n"] == N
    for site, figs in by_site["site"].items():
        keys = [k for k, v in SITES.items() if v == site]
        assert figs["auc"] == pytest.approx(metric_value(out.take(keys), "auc"))
        assert figs["auc_ci"][0] <= figs["auc"] <= figs["auc_ci"][1]
    # a group with one class has no AUC and so no interval
    one_class = figures(out.take([str(i) for i in range(0, N, 2)]), n_boot=50)
    assert one_class["auc"] is None and one_class["auc_ci"] is None
