"""The simulated active-learning loop of bench/active_learning.py keeps its books on a tiny
synthetic pool (the figures on the real data sets are the bench's, not asserted here)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bench import active_learning as bench
from ml.engine import api
from ml.engine.synthetic import blob_cases
from tests.ml_engine.synthetic import tiny_recipe


@pytest.fixture(scope="module")
def pool():
    torch.set_num_threads(1)
    recipe = tiny_recipe(
        "classification",
        input_size=[16, 16],
        epochs=1,
        network_args={
            "init_features": 4,
            "growth_rate": 4,
            "block_config": [1, 1],
            "dropout_prob": 0.2,
        },
    )
    pipe = api.make_pipeline(recipe, "cpu")
    cache = pipe.cache(blob_cases(40, size=16, seed=3), labelled_only=True)
    labels = cache.labels.numpy()
    pool, test = bench.fixed_split(labels, 0.25, seed=1)
    return pipe, cache, labels, pool, test


def test_the_test_split_is_fixed_stratified_and_apart_from_the_pool(pool):
    _, _, labels, pool_idx, test = pool
    # when the split is drawn again with its seed
    again_pool, again_test = bench.fixed_split(labels, 0.25, seed=1)
    # then it is the same, disjoint from the pool, and holds both classes
    assert np.array_equal(again_test, test) and np.array_equal(again_pool, pool_idx)
    assert not set(test) & set(pool_idx)
    assert len(test) + len(pool_idx) == len(labels)
    assert set(labels[test]) == {0, 1}


@pytest.mark.parametrize(
    "strategy", ["random", "entropy", "bald", "coreset", "badge", "entropy+balance"]
)
def test_each_round_adds_one_batch_of_new_pool_cases_and_never_a_test_case(pool, strategy):
    pipe, cache, labels, pool_idx, test = pool
    start = bench.seed_set(pool_idx, labels, 6, seed=0)
    # when the loop runs two rounds of 4 picks
    curve = bench.simulate(
        pipe,
        cache,
        pool=pool_idx,
        test=test,
        start=start,
        strategy=strategy,
        seed=0,
        batch=4,
        rounds=2,
        min_steps=2,
        mc_samples=3,
    )
    # then the labels grow by the batch each round, with pool cases not labelled before
    assert curve.labels == [6, 10, 14]
    assert len(curve.scores) == 3 and all(0.0 <= s <= 1.0 for s in curve.scores)
    picked = [i for batch in curve.picks for i in batch]
    assert [len(batch) for batch in curve.picks] == [4, 4]
    assert len(set(picked)) == 8 and not set(picked) & set(start.tolist())
    assert set(picked) <= set(pool_idx.tolist())
    assert not set(picked) & set(test.tolist())


def test_every_strategy_of_a_seed_starts_from_the_same_seed_set(pool):
    _, _, labels, pool_idx, _ = pool
    # when the seed set of seed 0 is drawn twice and that of seed 1 once
    first, again = (bench.seed_set(pool_idx, labels, 6, seed=0) for _ in range(2))
    other = bench.seed_set(pool_idx, labels, 6, seed=1)
    # then a seed always gives the same set, with both classes, and another seed another set
    assert np.array_equal(first, again)
    assert set(labels[first]) == {0, 1}
    assert not np.array_equal(first, other)


def test_labels_to_reach_interpolates_between_rounds_and_says_when_never_reached():
    x = np.array([10.0, 20.0, 30.0])
    y = np.array([0.6, 0.7, 0.8])
    assert bench.labels_to_reach(x, y, 0.75) == pytest.approx(25.0)
    assert bench.labels_to_reach(x, y, 0.6) == 10.0
    assert bench.labels_to_reach(x, y, 0.81) is None


def test_summary_compares_each_strategy_with_random(pool):
    # given two seeds of random and of a strategy that is always 0.1 better
    def curve(name, seed, offset):
        return bench.Curve(name, seed, [10, 20, 30], [0.6 + offset, 0.7 + offset, 0.8 + offset])

    curves = {
        "random": [curve("random", s, 0.0) for s in (0, 1)],
        "better": [curve("better", s, 0.1) for s in (0, 1)],
    }
    summary = bench.summarise(curves)
    # then random needs its whole budget and the better one reaches 0.8 at 20 labels
    assert summary["random"]["labels_to_reach_random_final"] == 30
    assert summary["better"]["labels_to_reach_random_final"] == pytest.approx(20)
    assert summary["better"]["share_of_random_budget"] == pytest.approx(2 / 3)
    assert summary["better"]["area_vs_random"] > 1.0


@pytest.mark.parametrize("strategy", ["random", "entropy", "coreset"])
def test_the_segmentation_loop_picks_by_region_entropy_or_bottleneck_features(strategy):
    # Given a synthetic pool of masks (half the images hold a disc) and a tiny U-Net
    torch.set_num_threads(1)
    pipe = api.make_pipeline(tiny_recipe("segmentation", input_size=[16, 16], epochs=1), "cpu")
    cache = pipe.cache(blob_cases(24, size=16, seed=5), labelled_only=True)
    strata = bench.class_labels(cache)
    assert set(strata) == {0, 1}  # lesion present or not: the strata of the splits
    pool_idx, test = bench.fixed_split(strata, 0.25, seed=1)
    start = bench.seed_set(pool_idx, strata, 4, seed=0)
    # when the loop runs two rounds of 3 picks
    curve = bench.simulate(
        pipe,
        cache,
        pool=pool_idx,
        test=test,
        start=start,
        strategy=strategy,
        seed=0,
        batch=3,
        rounds=2,
        min_steps=2,
    )
    # then it scores Dice on the test split and picks new pool images only
    assert curve.labels == [4, 7, 10]
    assert all(0.0 <= s <= 1.0 for s in curve.scores)
    picked = [i for batch in curve.picks for i in batch]
    assert len(set(picked)) == 6 and set(picked) <= set(pool_idx.tolist()) - set(start.tolist())
