"""Engine metrics agree with scikit-learn and with hand-countable cases."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from ml.engine.metrics import (
    binary_metrics,
    dice_scores,
    froc,
    multiclass_metrics,
    segmentation_metrics,
    youden_threshold,
)


@pytest.fixture
def scored():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 300)
    p = np.clip(0.35 * y + rng.normal(0.35, 0.2, 300), 0, 1)
    return y, p


def test_binary_metrics_match_sklearn(scored):
    y, p = scored
    m = binary_metrics(y, p, 0.5, n_boot=300)
    pred = (p >= 0.5).astype(int)
    tn, fp, fn, tp = skm.confusion_matrix(y, pred).ravel()
    assert m["auc"] == pytest.approx(skm.roc_auc_score(y, p))
    assert m["accuracy"] == pytest.approx(skm.accuracy_score(y, pred))
    assert m["f1"] == pytest.approx(skm.f1_score(y, pred))
    assert m["sensitivity"] == pytest.approx(tp / (tp + fn))
    assert m["specificity"] == pytest.approx(tn / (tn + fp))
    assert m["confusion"] == [[tn, fp], [fn, tp]]
    low, high = m["auc_ci"]
    assert low < m["auc"] < high and high - low < 0.2


def test_youden_threshold_maximises_sensitivity_plus_specificity(scored):
    y, p = scored
    t = youden_threshold(y, p)

    def j(th: float) -> float:
        pred = p >= th
        return pred[y == 1].mean() + (~pred)[y == 0].mean()

    assert all(j(t) >= j(other) - 1e-9 for other in np.linspace(0, 1, 101))


def test_multiclass_metrics_match_sklearn():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 3, 200)
    logits = rng.normal(size=(200, 3)) + 1.5 * np.eye(3)[y]
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    m = multiclass_metrics(y, probs, ["A", "B", "C"], n_boot=100)
    assert m["auc"] == pytest.approx(skm.roc_auc_score(y, probs, multi_class="ovr"))
    assert m["f1"] == pytest.approx(skm.f1_score(y, probs.argmax(1), average="macro"))
    assert m["sensitivity"] == pytest.approx(skm.balanced_accuracy_score(y, probs.argmax(1)))
    assert np.array(m["confusion"]).sum() == 200


def test_dice_counts_overlap_and_skips_empty_pairs():
    a = np.zeros((3, 4, 4), bool)
    b = np.zeros((3, 4, 4), bool)
    a[0, :2], b[0, :1] = True, True  # 8 vs 4 pixels, overlap 4: Dice 2*4/12
    b[2, 0, 0] = True  # missed lesion: Dice 0
    scores = dice_scores(a, b)
    assert scores[0] == pytest.approx(8 / 12)
    assert np.isnan(scores[1]) and scores[2] == 0
    assert segmentation_metrics(a, b)["dice"] == pytest.approx((8 / 12) / 2)


def test_froc_counts_hits_once_and_false_positives_per_image():
    lesions = [[(10.0, 10.0, 3.0)], [(50.0, 50.0, 5.0)], []]
    detections = [
        [(11.0, 10.0, 0.9), (10.0, 11.0, 0.8)],  # a hit, then a second hit on the same lesion
        [(0.0, 0.0, 0.95), (52.0, 50.0, 0.4)],  # a false positive ranked above the hit
        [(5.0, 5.0, 0.3)],  # a false positive on a normal image
    ]
    m = froc(detections, lesions)
    # 3 images: 0.5 FP/image allows one FP -> both lesions found once the 0.4 hit counts
    assert m["froc_at_0.5"] == 1.0
    assert m["n_lesions"] == 2
    # with no false positive allowed nothing counts: the top-ranked candidate is a false one
    strict = froc(detections, lesions, fp_rates=(0.0, 0.34))
    assert strict["froc_at_0"] == 0.0
    assert strict["froc_at_0.34"] == 1.0
