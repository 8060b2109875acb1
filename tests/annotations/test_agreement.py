"""Reader agreement on worked examples whose values are derived by hand or published."""

from __future__ import annotations

import math

import numpy as np
import pytest

from annotations import agreement

# Six exams read by A and B on a 3-point scale.
A = dict(zip("uvwxyz", [1, 1, 2, 2, 3, 3], strict=True))
B = dict(zip("uvwxyz", [1, 2, 2, 3, 3, 3], strict=True))


def test_quadratic_weighted_kappa_matches_the_hand_computation():
    # Observed pairs: (1,1) (1,2) (2,2) (2,3) (3,3) (3,3); weights (i-j)^2/4.
    # Sum of weights x observed = 0.25 + 0.25 = 0.5; x expected (margins 2,2,2 and 1,2,3) = 2.0
    # kappa = 1 - 0.5 / 2.0 = 0.75; unweighted: po 4/6, pe 12/36 -> 0.5
    kappas = agreement.pairwise_kappa({"A": A, "B": B}, [1, 2, 3])
    assert kappas[("A", "B")] == pytest.approx(0.75)
    plain = agreement.pairwise_kappa({"A": A, "B": B}, [1, 2, 3], weights=None)
    assert plain[("A", "B")] == pytest.approx(0.5)


def test_kappa_uses_only_exams_both_read_and_is_none_when_undefined():
    c = {"u": 1, "v": 1}
    kappas = agreement.pairwise_kappa({"A": A, "B": B, "C": c}, [1, 2, 3])
    # A and C agree on both shared exams, but all in one category: kappa is undefined
    assert kappas[("A", "C")] is None
    assert set(kappas) == {("A", "B"), ("A", "C"), ("B", "C")}


def test_kappa_refuses_ratings_outside_the_scale():
    with pytest.raises(ValueError, match="outside the scale"):
        agreement.pairwise_kappa({"A": {"u": "5"}, "B": {"u": "4"}}, ["1", "2", "3", "4"])


def krippendorff_example() -> dict[str, dict[int, int]]:
    """Krippendorff (2011), Computing Krippendorff's Alpha-Reliability, section C: four coders,
    twelve units, missing values; published alpha nominal 0.743, interval 0.849."""
    rows = {
        "A": [1, 2, 3, 3, 2, 1, 4, 1, 2, None, None, None],
        "B": [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, None, 3],
        "C": [None, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, None],
        "D": [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, None],
    }
    return {r: {u: v for u, v in enumerate(values) if v is not None} for r, values in rows.items()}


def test_krippendorff_alpha_matches_the_published_example():
    data = krippendorff_example()
    assert agreement.alpha(data, [1, 2, 3, 4, 5], level="nominal") == pytest.approx(0.743, abs=5e-4)
    assert agreement.alpha(data, [1, 2, 3, 4, 5], level="interval") == pytest.approx(
        0.849, abs=5e-4
    )


def test_alpha_is_none_without_two_readers_on_one_exam():
    assert agreement.alpha({"A": {"u": 1}, "B": {"v": 2}}, [1, 2]) is None


def box(x0: int, y0: int, x1: int, y1: int, size: int = 20) -> np.ndarray:
    mask = np.zeros((size, size), bool)
    mask[y0:y1, x0:x1] = True
    return mask


def test_dice_and_iou_on_two_overlapping_squares():
    # Two 4x4 squares overlapping in a 2x4 strip: |A and B| = 8, |A| + |B| = 32, union 24
    a, b = box(0, 0, 4, 4), box(2, 0, 6, 4)
    assert agreement.dice(a, b) == pytest.approx(16 / 32)
    assert agreement.iou(a, b) == pytest.approx(8 / 24)
    assert agreement.dice(np.zeros((3, 3)), np.zeros((3, 3))) == 1.0


def test_lesion_agreement_matches_one_to_one_above_the_threshold():
    # Given reader A: three lesions; reader B: two near A's first and third, one elsewhere
    a = [box(0, 0, 4, 4), box(10, 10, 14, 14), box(15, 0, 19, 4)]
    b = [box(15, 0, 19, 5), box(1, 0, 5, 4), box(6, 15, 8, 17)]
    result = agreement.lesion_agreement(a, b, threshold=0.3)
    # Then A0-B1 and A2-B0 match; A1 and B2 are unmatched; F1 = 2 x 2 / 6
    assert {(p[0], p[1]) for p in result.pairs} == {(0, 1), (2, 0)}
    assert result.only_a == (1,) and result.only_b == (2,)
    assert result.f1 == pytest.approx(4 / 6)
    # And a stricter threshold drops the weaker pair (IoU 12/20 = 0.6 for A0-B1)
    strict = agreement.lesion_agreement(a, b, threshold=0.7)
    assert {(p[0], p[1]) for p in strict.pairs} == {(2, 0)}
    assert math.isclose(agreement.lesion_agreement([], []).f1, 1.0)
