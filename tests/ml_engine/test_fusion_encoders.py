"""Fusion encoders on tiny tensors: shapes, shared four-view weights, masks, the clinical table."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from monai.networks.nets import ResNet

from ml.engine.fusion.encoders import (
    FourViewEncoder,
    GatedAttentionPool,
    ImageEncoder,
    SetEncoder,
    TabularEncoder,
    TabularSchema,
    image_backbone,
)

WIDTHS = (4, 4, 8, 8)
DIM = 8
SCHEMA = TabularSchema(numeric=("age", "risk"), categorical={"family": 2, "menopause": 3})


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def test_each_image_encoder_returns_one_embedding_of_the_common_size_per_case():
    # given a batch of three cases for each image modality
    four_view = FourViewEncoder(DIM, widths=WIDTHS)
    image = ImageEncoder(DIM, widths=WIDTHS)
    slices = SetEncoder(DIM, pooling="mean", widths=WIDTHS)
    tiles = SetEncoder(DIM, pooling="attention", widths=WIDTHS)
    # when each encodes its input
    outputs = [
        four_view(torch.randn(3, 4, 1, 16, 16)),
        image(torch.randn(3, 1, 16, 16)),
        slices(torch.randn(3, 5, 1, 16, 16)),
        tiles(torch.randn(3, 7, 1, 16, 16)),
    ]
    # then each gives (3, DIM)
    assert [tuple(o.shape) for o in outputs] == [(3, DIM)] * 4
    assert tuple(four_view.last_weights.shape) == (3, 4)
    assert tuple(tiles.last_weights.shape) == (3, 7)


def test_four_view_encoder_holds_one_backbone_for_all_views():
    # given the four-view encoder and one backbone of the same widths
    encoder = FourViewEncoder(DIM, widths=WIDTHS)
    single = sum(p.numel() for p in image_backbone(DIM, widths=WIDTHS).parameters())
    # then it holds exactly one ResNet, and its parameters are one backbone plus small extras
    assert sum(isinstance(m, ResNet) for m in encoder.modules()) == 1
    total = sum(p.numel() for p in encoder.parameters())
    assert single <= total < 2 * single


def test_four_view_backbone_learns_from_every_view():
    # given a four-view encoder and an input where only view k carries signal
    encoder = FourViewEncoder(DIM, widths=WIDTHS).eval()
    conv = encoder.backbone.conv1.weight
    for k in range(4):
        x = torch.zeros(2, 4, 1, 16, 16)
        x[:, k] = torch.randn(2, 1, 16, 16)
        encoder.zero_grad()
        # when the output is back-propagated
        encoder(x).sum().backward()
        # then the one shared stem receives a gradient from that view
        assert conv.grad is not None and float(conv.grad.abs().sum()) > 0


def test_view_and_laterality_embeddings_make_the_encoder_tell_the_views_apart():
    # given four different view images
    encoder = FourViewEncoder(DIM, widths=WIDTHS).eval()
    with torch.no_grad():
        encoder.view_embedding.weight.normal_()
        encoder.laterality_embedding.weight.normal_()
    x = torch.randn(1, 4, 1, 16, 16)
    swapped = x[:, [2, 1, 0, 3]]  # the left and right CC views exchanged
    # when both orders are encoded
    with torch.no_grad():
        a, b = encoder(x), encoder(swapped)
    # then the embeddings differ: the same image in another view position means something else
    assert not torch.allclose(a, b, atol=1e-5)


def test_four_view_encoder_rejects_a_wrong_number_of_views():
    with pytest.raises(ValueError, match="B, 4, C, H, W"):
        FourViewEncoder(DIM, widths=WIDTHS)(torch.randn(2, 3, 1, 16, 16))


def test_padded_tiles_of_a_bag_change_nothing_and_get_no_attention():
    # given a bag of 3 real tiles padded to 5
    encoder = SetEncoder(DIM, pooling="attention", widths=WIDTHS).eval()
    bag = torch.randn(1, 5, 1, 16, 16)
    mask = torch.tensor([[True, True, True, False, False]])
    other = bag.clone()
    other[:, 3:] = torch.randn(1, 2, 1, 16, 16) * 10
    # when the padding holds different content
    with torch.no_grad():
        a = encoder(bag, mask)
        weights = encoder.last_weights
        b = encoder(other, mask)
    # then the bag's embedding is the same and the padding has zero attention
    assert torch.allclose(a, b, atol=1e-5)
    assert float(weights[0, 3:].abs().sum()) == 0.0
    assert math.isclose(float(weights.sum()), 1.0, rel_tol=1e-5)


def test_gated_attention_pool_weights_sum_to_one_per_case():
    pooled, weights = GatedAttentionPool(DIM)(torch.randn(4, 6, DIM))
    assert tuple(pooled.shape) == (4, DIM)
    assert torch.allclose(weights.sum(dim=1), torch.ones(4), atol=1e-5)


def test_tabular_encoder_tells_a_missing_value_from_a_recorded_mean():
    # given an encoder standardised on a table whose mean age is 50
    table = np.array([[40.0, 1.0, 0, 1], [60.0, 3.0, 1, 2], [50.0, np.nan, np.nan, 0]])
    encoder = TabularEncoder(SCHEMA, DIM).fit(table).eval()
    assert torch.allclose(encoder.mean, torch.tensor([50.0, 2.0]))
    # when one row records the mean age and another has it missing
    rows = torch.tensor([[50.0, 2.0, 0, 1], [np.nan, 2.0, 0, 1]])
    with torch.no_grad():
        out = encoder(rows)
    # then both encode, and differently (the missing indicator is seen)
    assert tuple(out.shape) == (2, DIM)
    assert not torch.allclose(out[0], out[1])


def test_tabular_encoder_embeds_an_unknown_category_and_rejects_a_code_outside_the_schema():
    encoder = TabularEncoder(SCHEMA, DIM).eval()
    with torch.no_grad():
        unknown = encoder(torch.tensor([[50.0, 1.0, np.nan, np.nan]]))
        known = encoder(torch.tensor([[50.0, 1.0, 0.0, 0.0]]))
    assert not torch.allclose(unknown, known)
    with pytest.raises(ValueError, match="'menopause'"):
        encoder(torch.tensor([[50.0, 1.0, 0.0, 3.0]]))
    with pytest.raises(ValueError, match="columns"):
        encoder(torch.zeros(1, 3))
