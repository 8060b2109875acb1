"""The synthetic paired-case generator, `FusionData` views and the trainer on tiny data."""

from __future__ import annotations

import pytest
import torch

from ml.engine.fusion.model import build_fusion_model
from ml.engine.fusion.synthetic import CLINICAL_SCHEMA, joint_signal_cases
from ml.engine.fusion.training import auc_with_interval, train_fusion

ALL = ("mammography", "ultrasound", "mri", "pathology", "clinical")


def test_generator_is_seeded_and_shapes_every_modality():
    # given two draws with the same seed and one with another
    a = joint_signal_cases(8, seed=5, modalities=ALL, size=16, slices=3, tiles=4, tile_size=8)
    b = joint_signal_cases(8, seed=5, modalities=ALL, size=16, slices=3, tiles=4, tile_size=8)
    c = joint_signal_cases(8, seed=6, modalities=ALL, size=16, slices=3, tiles=4, tile_size=8)
    # then the same seed gives the same cases and another seed other cases
    assert all(torch.equal(a.inputs[m].nan_to_num(), b.inputs[m].nan_to_num()) for m in ALL)
    assert not torch.equal(a.inputs["ultrasound"], c.inputs["ultrasound"])
    # and each modality has its documented shape
    assert tuple(a.inputs["mammography"].shape) == (8, 4, 1, 16, 16)
    assert tuple(a.inputs["ultrasound"].shape) == (8, 1, 16, 16)
    assert tuple(a.inputs["mri"].shape) == (8, 3, 1, 16, 16)
    assert tuple(a.inputs["pathology"].shape) == (8, 4, 1, 8, 8)
    assert tuple(a.inputs["clinical"].shape) == (8, CLINICAL_SCHEMA.width)
    assert a.inputs["mammography"].dtype == torch.float32


def test_missing_patterns_follow_the_asked_rates_and_never_empty_a_case():
    # given high absence rates for every modality
    data = joint_signal_cases(
        400, seed=0, size=16, missing={"mammography": 0.6, "ultrasound": 0.6, "clinical": 0.6}
    )
    # then no case is left without a modality, and each modality is absent about as often as asked
    assert bool(data.present.any(dim=1).all())
    absent = 1 - data.present.float().mean(dim=0)
    assert bool(((absent > 0.45) & (absent < 0.65)).all()), absent


def test_label_depends_on_the_clinical_signal_but_is_not_decided_by_it():
    # given many cases where the clinical record is one of three signal modalities
    data = joint_signal_cases(2000, seed=1, size=16, clinical_missing_rate=0.0)
    age = data.inputs["clinical"][:, 0].numpy()
    # when age alone ranks the cases
    auc = auc_with_interval(data.labels.numpy(), age, n_boot=50)["auc"]
    # then it carries signal, but only what one bit of a three-bit majority can (AUC <= 0.75)
    assert 0.65 < auc < 0.8


def test_fusion_data_views_restrict_modalities_and_drop_empty_cases():
    data = joint_signal_cases(50, seed=2, size=16, missing={"ultrasound": 0.5})
    only = data.select(["ultrasound"])
    assert only.modalities == ("ultrasound",)
    assert set(only.inputs) == {"ultrasound"}
    assert len(only) == int(data.present[:, 1].sum())
    without = data.without(["mammography"])
    assert not bool(without.present[:, 0].any()) and len(without) == len(data)
    with pytest.raises(ValueError, match="'mri'"):
        data.select(["mri"])


def test_generator_rejects_an_even_signal_and_an_unknown_modality():
    with pytest.raises(ValueError, match="odd number"):
        joint_signal_cases(4, signal=("mammography", "ultrasound"))
    with pytest.raises(ValueError, match="'pet'"):
        joint_signal_cases(4, missing={"pet": 0.5})


@pytest.mark.parametrize("bf16", [False, True])
def test_trainer_lowers_the_loss_and_sets_the_prior(bf16):
    # given a small gated model and 64 cases
    torch.manual_seed(0)
    data = joint_signal_cases(48, seed=0, size=16)
    model = build_fusion_model(
        data.modalities, "gated", dim=8, schema=CLINICAL_SCHEMA, widths=(4, 4, 8, 8)
    )
    # when it trains a few epochs
    losses = train_fusion(model, data, epochs=4, batch_size=16, bf16=bf16, dropout=0.0)
    # then the loss went down and the prior is the training prevalence
    assert losses[-1] < losses[0]
    prevalence = float(data.labels.mean())
    assert abs(float(torch.sigmoid(model.prior_logit)) - prevalence) < 1e-4
    with pytest.raises(ValueError, match="differ"):
        train_fusion(model, data.select(["ultrasound"]), epochs=1)
