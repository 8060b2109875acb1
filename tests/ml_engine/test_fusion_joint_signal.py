"""The synthetic joint-signal task: fusion must beat every single modality by a margin that a
fusion ignoring one modality cannot reach.

With the label the majority of three bits (mammography, ultrasound, clinical record), one
modality alone is capped at an AUC of 0.75 and any two at 0.875; all three decide the label.
Measured with this recipe (600 training cases, 8 epochs, concat, test seeds 100..102): fusion
0.982-0.990, best single 0.761-0.792, fusion without one modality at most 0.891 (margin over the
best single 0.195-0.221 for the full fusion, 0.100-0.115 without a modality). MARGIN sits between.
"""

from __future__ import annotations

import pytest
import torch

from ml.engine.fusion.data import FusionData
from ml.engine.fusion.model import FusionModel, build_fusion_model
from ml.engine.fusion.synthetic import CLINICAL_SCHEMA, joint_signal_cases
from ml.engine.fusion.training import evaluate_fusion, train_fusion

MARGIN = 0.15


@pytest.fixture
def one_thread():
    # tiny networks: a second thread buys nothing and, on shared cores, measured 5-10x slower
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def fitted(modalities, data: FusionData, dropout: float) -> FusionModel:
    model = build_fusion_model(
        modalities, "concat", dim=16, schema=CLINICAL_SCHEMA, widths=(4, 8, 16, 32)
    )
    train_fusion(model, data, epochs=8, dropout=dropout, seed=0)
    return model


@pytest.mark.slow
def test_fusion_beats_every_single_modality_by_a_margin_a_fusion_missing_one_cannot(one_thread):
    # given seeded training and test cases whose label needs all three modalities
    torch.manual_seed(0)
    train = joint_signal_cases(600, seed=0, size=16)
    test = joint_signal_cases(300, seed=100, size=16)
    # when a fusion model (with modality dropout) and one model per modality are trained
    fusion = fitted(train.modalities, train, dropout=0.25)
    fused = evaluate_fusion(fusion, test, n_boot=100)["auc"]
    single = {
        m: evaluate_fusion(fitted([m], train.select([m]), 0.0), test.select([m]), n_boot=100)["auc"]
        for m in train.modalities
    }
    # and the fusion model predicts with one modality ignored
    ignoring = {
        m: evaluate_fusion(fusion, test.without([m]), n_boot=100)["auc"] for m in train.modalities
    }
    best_single = max(single.values())
    # then fusion beats the best single modality by the margin ...
    assert fused - best_single >= MARGIN, (fused, single)
    # ... which a fusion that ignores any one modality misses, though it still beats one alone
    for m, auc in ignoring.items():
        assert auc - best_single < MARGIN, (m, auc, single)
        assert auc > best_single, (m, auc, single)
