"""Active-learning strategies pick what they should on constructed pools (ml.engine.active)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ml.engine import active


def two_class(p_malignant: list[float]) -> np.ndarray:
    p = np.asarray(p_malignant, np.float32)
    return np.stack([1 - p, p], axis=1)


@pytest.mark.parametrize("strategy", ["least_confidence", "margin", "entropy"])
def test_uncertainty_strategies_pick_the_cases_nearest_the_decision_boundary(strategy):
    # Given a pool where cases 3 and 6 sit at the boundary and the rest are confident
    p = two_class([0.02, 0.97, 0.1, 0.5, 0.9, 0.05, 0.45, 0.99])
    # When two are picked
    picked = active.select(strategy, 2, probabilities=p)
    # Then they are the boundary cases, the closest first
    assert picked.indices.tolist() == [3, 6]
    assert picked.scores[0] >= picked.scores[1]


def test_bald_prefers_disagreement_between_samples_over_aleatoric_doubt():
    # Given case 0: every sample says 0.5 (noise the model knows); case 1: samples split 0.95 / 0.05
    samples = np.zeros((4, 3, 2), np.float32)
    samples[:, 0] = [0.5, 0.5]
    samples[:, 1] = [[0.95, 0.05], [0.05, 0.95], [0.95, 0.05], [0.05, 0.95]]
    samples[:, 2] = [0.9, 0.1]
    # When one case is picked
    picked = active.select("bald", 1, samples=samples)
    # Then BALD picks the disagreement, while entropy of the mean cannot tell 0 and 1 apart
    assert picked.indices.tolist() == [1]
    entropy = active.entropy_scores(samples.mean(axis=0))
    assert torch.isclose(entropy[0], entropy[1])


def clustered_pool(
    sizes: list[int], dims: int = 16, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 20, (len(sizes), dims))
    points = np.concatenate(
        [c + rng.normal(0, 0.5, (n, dims)) for c, n in zip(centres, sizes, strict=True)]
    )
    labels = np.repeat(np.arange(len(sizes)), sizes)
    return points.astype(np.float32), labels


def test_coreset_covers_every_cluster_however_small():
    # Given one big cluster and four small ones
    pool, cluster = clustered_pool([500, 5, 5, 5, 5])
    # When five are picked by core-set
    picked = active.select("coreset", 5, embeddings=pool)
    # Then each cluster gets exactly one, where random mostly stays in the big one
    assert sorted(cluster[picked.indices].tolist()) == [0, 1, 2, 3, 4]
    randomly = active.select("random", 5, embeddings=pool, seed=1)
    assert len(set(cluster[randomly.indices].tolist())) < 5


def test_coreset_skips_clusters_already_labelled():
    # Given three clusters, two of which already hold a labelled case
    pool, cluster = clustered_pool([50, 50, 50], seed=3)
    labelled = pool[[0, 60]]
    # When one is picked
    picked = active.select("coreset", 1, embeddings=pool, labelled=labelled)
    # Then it comes from the cluster nobody labelled
    assert cluster[picked.indices[0]] == 2


def test_coreset_on_principal_axes_picks_like_the_exact_search_on_clustered_data():
    pool, _ = clustered_pool([200, 30, 30, 30, 30, 30], dims=128, seed=5)
    exact = active.coreset_selection(pool, 6, dims=None, seed=2)
    projected = active.coreset_selection(pool.astype(np.float16), 6, dims=8, seed=2)
    assert exact.indices[0] == projected.indices[0]
    assert set(exact.indices.tolist()) == set(projected.indices.tolist())
    assert len(set(projected.indices.tolist())) == 6


def test_badge_starts_at_the_largest_gradient_and_favours_uncertain_cases():
    # Given two far clusters of confident cases with four uncertain ones among them (5%)
    pool, cluster = clustered_pool([40, 40], seed=7)
    p = np.full(80, 0.02, np.float32)
    uncertain = {3, 5, 45, 47}
    p[list(uncertain)] = 0.5
    probabilities = two_class(p.tolist())
    # When four are picked, with several seeds
    runs = [
        active.select("badge", 4, probabilities=probabilities, embeddings=pool, seed=s)
        for s in range(20)
    ]
    # Then the first pick is always uncertain, no case twice, and uncertain cases are drawn far
    # above their 5% share of the pool
    assert all(r.indices[0] in uncertain for r in runs)
    assert all(len(set(r.indices.tolist())) == 4 for r in runs)
    share = np.mean([i in uncertain for r in runs for i in r.indices])
    assert share >= 0.3


def test_balance_guard_reaches_the_rare_class_without_changing_the_batch_size():
    # Given an uncertainty batch of benign-looking cases and a few likely malignant ones
    p = two_class([0.4] * 10 + [0.02] * 85 + [0.9, 0.8, 0.7, 0.95, 0.85])
    batch = active.select("least_confidence", 10, probabilities=p)
    assert not any(i >= 95 for i in batch.indices)
    # When the guard reserves 30% for the rare class (index 1)
    guarded = active.balance_guard(batch, p, rare_class=1, share=0.3)
    # Then three of the ten are the most likely malignant, the best ranks kept
    assert len(guarded.indices) == 10
    assert sorted(i for i in guarded.indices if i >= 95) == [95, 98, 99]
    assert guarded.indices[:7].tolist() == batch.indices[:7].tolist()
    assert guarded.strategy == "least_confidence+balance"


def test_exam_scores_aggregate_every_image_of_an_exam():
    exams, scores = active.exam_scores([0.1, 0.7, 0.3, 0.2, 0.4], ["b", "a", "a", "b", "c"])
    assert exams.tolist() == ["a", "b", "c"]
    assert np.allclose(scores, [0.7, 0.2, 0.4])
    _, means = active.exam_scores([0.1, 0.7, 0.3, 0.2, 0.4], ["b", "a", "a", "b", "c"], how="mean")
    assert np.allclose(means, [0.5, 0.15, 0.4])


def test_segmentation_uncertainty_reads_the_predicted_region():
    # Given a confident lesion, a hesitant lesion and an empty but hesitant map
    maps = np.full((3, 8, 8), 0.01, np.float32)
    maps[0, 2:5, 2:5] = 0.99
    maps[1, 2:5, 2:5] = 0.6
    maps[2] = 0.3
    scores = active.segmentation_uncertainty(maps)
    # Then the hesitant lesion scores higher than the confident one, and the empty map counts
    assert scores[1] > scores[0]
    assert scores[2] > scores[0]


def test_select_explains_unknown_strategies_and_missing_inputs():
    with pytest.raises(ValueError, match="unknown strategy 'loudest'"):
        active.select("loudest", 1, probabilities=two_class([0.5]))
    with pytest.raises(ValueError, match="needs embeddings"):
        active.select("coreset", 1, probabilities=two_class([0.5]))
    with pytest.raises(ValueError, match="budget"):
        active.select("entropy", -1, probabilities=two_class([0.5]))


def test_a_budget_larger_than_the_pool_picks_the_whole_pool_once():
    pool, _ = clustered_pool([3, 2])
    picked = active.select("coreset", 10, embeddings=pool)
    assert sorted(picked.indices.tolist()) == [0, 1, 2, 3, 4]


def test_coreset_on_a_pool_smaller_than_its_principal_axes_keeps_the_exact_distances():
    # Given 12 cases of 512-d embeddings (fewer than the 64 axes core-set measures on)
    embeddings = torch.randn(12, 512, generator=torch.Generator().manual_seed(0))
    labelled = embeddings[:2] + 0.01
    # When core-set picks on principal axes and exactly, then the picks are the same
    projected = active.coreset_selection(embeddings, 4, labelled=labelled, dims=64)
    exact = active.coreset_selection(embeddings, 4, labelled=labelled, dims=None)
    assert projected.indices.tolist() == exact.indices.tolist()
    assert projected.scores == pytest.approx(exact.scores, rel=1e-3)
