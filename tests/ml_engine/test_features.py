"""Predict hands back what active learning reads: per-image embeddings from the same forward
pass and Monte Carlo dropout samples, or a clear refusal where the network has no dropout."""

from __future__ import annotations

import numpy as np
import pytest

from ml.engine import api
from ml.engine.synthetic import blob_cases
from tests.ml_engine.synthetic import tiny_recipe

DENSENET = {"init_features": 8, "growth_rate": 8, "block_config": [2, 2]}


@pytest.fixture(scope="module")
def cases():
    return blob_cases(24, seed=3)


def trained(tmp_path_factory, cases, task: str, **overrides) -> str:
    splits = api.split_cases(cases, seed=0, stratify="malignant")
    recipe = tiny_recipe(task, epochs=2, **overrides)
    return api.train(recipe, splits, tmp_path_factory.mktemp(task), device="cpu").artifact_path


@pytest.fixture(scope="module")
def with_dropout(tmp_path_factory, cases):
    return trained(
        tmp_path_factory, cases, "classification", network_args={**DENSENET, "dropout_prob": 0.5}
    )


def test_embeddings_and_mc_samples_come_per_image_without_changing_the_prediction(
    with_dropout, cases
):
    # given a classifier with dropout
    plain = api.predict(with_dropout, cases, device="cpu")
    # when it predicts with embeddings and 6 MC-dropout passes
    rich = api.predict(with_dropout, cases, device="cpu", embeddings=True, mc_samples=6)
    # then the deterministic prediction is unchanged (dropout is off for it)
    for before, after in zip(plain, rich, strict=True):
        assert after.scores == pytest.approx(before.scores, abs=1e-5)
    dims = set()
    spread = []
    for pred, case in zip(rich, cases, strict=True):
        key = case.images[0].key
        embedding, samples = pred.image_embeddings[key], pred.image_samples[key]
        # each image has a float16 embedding (DenseNet's pooled features) and T x C samples
        assert embedding.dtype == np.float16 and embedding.ndim == 1
        dims.add(embedding.shape[0])
        assert samples.dtype == np.float16 and samples.shape == (6, 2)
        assert samples.astype(np.float32).sum(axis=1) == pytest.approx(1.0, abs=2e-3)
        spread.append(float(samples[:, 1].astype(np.float32).std()))
    assert len(dims) == 1 and dims.pop() > 2
    # and the passes differ: dropout was active in them
    assert max(spread) > 0
    # embeddings tell the two kinds of image apart (a disc or noise)
    emb = np.stack([p.image_embeddings[c.images[0].key] for p, c in zip(rich, cases, strict=True)])
    positive = np.asarray([bool(c.labels["malignant"]) for c in cases])
    assert not np.allclose(emb[positive].mean(axis=0), emb[~positive].mean(axis=0), atol=1e-3)


def test_mc_samples_are_refused_for_a_network_without_dropout(tmp_path_factory, cases):
    no_dropout = trained(tmp_path_factory, cases, "classification")  # DenseNet, dropout 0
    with pytest.raises(api.DropoutUnavailable, match="no dropout layer"):
        api.predict(no_dropout, cases[:2], device="cpu", mc_samples=4)
    # embeddings alone are fine
    preds = api.predict(no_dropout, cases[:2], device="cpu", embeddings=True)
    assert all(len(p.image_embeddings) == 1 for p in preds)


def test_a_segmentation_model_embeds_at_its_output_convolution_and_refuses_samples(
    tmp_path_factory, cases
):
    unet = trained(tmp_path_factory, cases, "segmentation")
    preds = api.predict(unet, cases[:3], device="cpu", embeddings=True)
    shapes = {
        p.image_embeddings[c.images[0].key].shape for p, c in zip(preds, cases[:3], strict=True)
    }
    assert len(shapes) == 1 and shapes.pop()[0] > 1
    with pytest.raises(api.DropoutUnavailable, match="BALD is for classifiers"):
        api.predict(unet, cases[:3], device="cpu", mc_samples=2)
