"""Fusion heads, modality dropout and any-subset prediction with contributions, on tiny tensors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ml.engine.fusion import STRATEGIES
from ml.engine.fusion.model import FusionModel, build_fusion_model, modality_dropout
from ml.engine.fusion.synthetic import CLINICAL_SCHEMA, joint_signal_cases

MODALITIES = ("mammography", "ultrasound", "mri", "pathology", "clinical")
WIDTHS = (4, 4, 8, 8)


def tiny_model(strategy: str) -> FusionModel:
    torch.manual_seed(0)
    model = build_fusion_model(MODALITIES, strategy, dim=8, schema=CLINICAL_SCHEMA, widths=WIDTHS)
    return model.eval()


@pytest.fixture(scope="module")
def cases():
    return joint_signal_cases(
        6, seed=3, modalities=MODALITIES, size=16, slices=3, tiles=3, tile_size=16
    )


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_each_fusion_strategy_gives_one_logit_per_case(strategy, cases):
    # given a model over all five modalities
    model = tiny_model(strategy)
    # when it reads six cases with everything present
    out = model(cases.inputs, cases.present)
    # then one logit per case, and weights / per-modality logits where the strategy has them
    assert tuple(out.logits.shape) == (6,)
    if strategy in ("gated", "attention"):
        assert tuple(out.weights.shape) == (6, 5)
        assert torch.allclose(out.weights.sum(dim=1), torch.ones(6), atol=1e-4)
    if strategy == "late":
        assert tuple(out.modality_logits.shape) == (6, 5)


def test_modality_dropout_never_drops_all_and_never_adds_an_absent_modality():
    # given presence masks with one, two and five modalities
    generator = torch.Generator().manual_seed(0)
    present = torch.tensor([[1, 0, 0, 0, 0], [0, 1, 0, 1, 0], [1, 1, 1, 1, 1]] * 200, dtype=bool)
    # when a high dropout rate is applied
    dropped = modality_dropout(present, 0.9, generator)
    # then every case keeps a modality, only among those it had, and some were dropped
    assert bool(dropped.any(dim=1).all())
    assert not bool((dropped & ~present).any())
    assert int(dropped.sum()) < int(present.sum())
    assert torch.equal(modality_dropout(present, 0.0, generator), present)
    with pytest.raises(ValueError, match="probability"):
        modality_dropout(present, 1.0)


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_prediction_from_any_subset_reports_the_modalities_it_used(strategy, cases):
    # given a model and cases with different subsets present
    model = tiny_model(strategy)
    present = torch.tensor(
        [
            [1, 0, 0, 0, 0],
            [0, 1, 0, 0, 1],
            [1, 1, 1, 1, 1],
            [0, 0, 0, 1, 0],
            [0, 0, 1, 0, 1],
            [0, 0, 0, 0, 1],
        ],
        dtype=bool,
    )
    # when it predicts
    prediction = model.predict(cases.inputs, present)
    # then each case has a probability and names exactly the modalities it had
    assert prediction.probabilities.shape == (6,)
    assert np.all((prediction.probabilities > 0) & (prediction.probabilities < 1))
    assert prediction.used(0) == ["mammography"]
    assert prediction.used(1) == ["ultrasound", "clinical"]
    assert prediction.used(2) == list(MODALITIES)
    # and an absent modality has no contribution: zero delta, zero weight, not listed
    assert np.all(prediction.deltas[~present.numpy()] == 0)
    if prediction.weights is not None:
        assert np.all(prediction.weights[~present.numpy()] == 0)
    assert set(prediction.contributions(1)) == {"ultrasound", "clinical"}


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_an_absent_modality_is_skipped_not_read(strategy, cases):
    # given cases without ultrasound and pathology
    model = tiny_model(strategy)
    present = cases.present.clone()
    present[:, [1, 3]] = False
    altered = dict(cases.inputs)
    altered["ultrasound"] = torch.randn_like(cases.inputs["ultrasound"]) * 100
    altered["pathology"] = torch.full_like(cases.inputs["pathology"], float("nan"))
    # when the absent modalities' filler changes, even to NaN
    a = model.predict(cases.inputs, present).probabilities
    b = model.predict(altered, present).probabilities
    # then the predictions are the same
    np.testing.assert_allclose(a, b, rtol=1e-5)


def test_ablation_delta_is_the_prediction_minus_the_prediction_without_that_modality(cases):
    # given an attention model and all modalities present
    model = tiny_model("attention")
    full = model.predict(cases.inputs, cases.present)
    # when ultrasound is left out by hand
    present = cases.present.clone()
    present[:, 1] = False
    without = model.predict(cases.inputs, present)
    # then the reported delta is exactly that difference
    np.testing.assert_allclose(
        full.deltas[:, 1], full.probabilities - without.probabilities, atol=1e-5
    )


def test_a_sole_modality_is_ablated_against_the_prior(cases):
    model = tiny_model("concat")
    model.prior_logit.fill_(0.0)
    present = torch.zeros(6, 5, dtype=bool)
    present[:, 4] = True
    prediction = model.predict(cases.inputs, present)
    np.testing.assert_allclose(prediction.deltas[:, 4], prediction.probabilities - 0.5, atol=1e-5)


def test_clear_errors_name_the_unknown_or_missing_modality(cases):
    model = tiny_model("gated")
    with pytest.raises(ValueError, match="'thermography'"):
        model({"thermography": torch.zeros(2, 1, 16, 16)})
    inputs = {k: v for k, v in cases.inputs.items() if k != "mri"}
    with pytest.raises(ValueError, match="'mri' is marked present"):
        model(inputs, cases.present)
    uneven = dict(cases.inputs, ultrasound=cases.inputs["ultrasound"][:2])
    with pytest.raises(ValueError, match="'ultrasound' has 2 cases"):
        model(uneven, cases.present)
    with pytest.raises(ValueError, match="at least one present modality"):
        model(cases.inputs, torch.zeros(6, 5, dtype=bool))
    with pytest.raises(ValueError, match="unknown fusion strategy 'early'"):
        build_fusion_model(["ultrasound"], "early")
    with pytest.raises(ValueError, match="needs a TabularSchema"):
        build_fusion_model(["clinical"], "late")
