"""Each task learns a tiny separable synthetic data set; cancel stops; artifacts round-trip."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from ml.engine import api
from ml.engine.artifact import file_sha256, load_artifact
from ml.engine.compare import metric_value
from ml.engine.synthetic import blob_cases
from tests.ml_engine.synthetic import tiny_recipe


@pytest.fixture(scope="module")
def splits():
    return api.split_cases(blob_cases(60, seed=1), seed=0, stratify="malignant")


@pytest.fixture(scope="module")
def trained_classifier(tmp_path_factory, splits):
    recipe = tiny_recipe("classification", epochs=10)
    out = tmp_path_factory.mktemp("cls")
    calls = []
    result = api.train(
        recipe,
        splits,
        out,
        device="cpu",
        progress=lambda f, m, metrics: calls.append((f, m, dict(metrics))),
    )
    return recipe, result, calls


def test_classifier_learns_a_separable_task_and_reports_test_metrics(trained_classifier, splits):
    # given a classifier trained on bright-disc vs noise images
    _, result, _ = trained_classifier
    # then its training loss falls and it separates the held-out test cases
    losses = [h["train_loss"] for h in result.history]
    assert losses[-1] < losses[0] * 0.5
    assert result.metrics["n"] == len(splits["test"])
    assert result.metrics["auc"] >= 0.9
    low, high = result.metrics["auc_ci"]
    assert low <= result.metrics["auc"] <= high
    assert 0.0 <= result.threshold <= 1.0
    assert result.temperature > 0
    assert {"sensitivity", "specificity", "accuracy", "f1", "confusion", "roc"} <= set(
        result.metrics
    )


def test_training_reports_progress_per_epoch_with_metrics(trained_classifier):
    _, result, calls = trained_classifier
    epochs = [c for c in calls if c[2].get("epoch")]
    assert [c[2]["epoch"] for c in epochs] == [h["epoch"] for h in result.history]
    fractions = [c[0] for c in calls]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0


def test_artifact_round_trip_keeps_recipe_weights_and_calibration(trained_classifier, splits):
    # given the trained artifact
    recipe, result, _ = trained_classifier
    # then its checksum is the file's, and it holds what predict needs
    assert file_sha256(result.artifact_path) == result.sha256
    payload = load_artifact(result.artifact_path)
    assert payload["recipe"] == recipe
    assert payload["classes"] == list(recipe.classes)
    assert payload["temperature"] == pytest.approx(result.temperature)
    # when evaluating the artifact on the same test cases, the metrics match the run's
    metrics = api.evaluate(result.artifact_path, splits["test"], device="cpu")
    assert metrics["auc"] == pytest.approx(result.metrics["auc"], abs=1e-6)


def test_evaluation_gives_figures_per_site_and_asked_grouping_from_the_same_outputs(
    trained_classifier, splits
):
    # given test cases from two sites, and a scanner maker known for some of them
    _, result, _ = trained_classifier
    cases = [
        dataclasses.replace(c, site="A" if i % 2 else "B") for i, c in enumerate(splits["test"])
    ]
    makers = {c.key: "Acme" for c in cases[:4]}
    # when the artifact is evaluated with that grouping
    metrics = api.evaluate(
        result.artifact_path, cases, device="cpu", groups={"manufacturer": makers}
    )
    # then every site has its count and accuracy within its interval, the counts add up
    sites = metrics["groups"]["site"]
    assert sorted(sites) == ["A", "B"]
    assert sum(s["n"] for s in sites.values()) == metrics["n"] == len(cases)
    for figures in sites.values():
        low, high = figures["accuracy_ci"]
        assert low <= figures["accuracy"] <= high
    # and cases without a maker are grouped as unknown
    makers_seen = metrics["groups"]["manufacturer"]
    assert makers_seen["Acme"]["n"] == 4 and makers_seen["(unknown)"]["n"] == len(cases) - 4
    # and the per-case outcomes give the same AUC and accuracy as the evaluation itself
    outcomes = api.case_outcomes(result.artifact_path, cases, device="cpu")
    assert sorted(outcomes.keys) == sorted(c.key for c in cases)
    assert metric_value(outcomes, "auc") == pytest.approx(metrics["auc"], abs=1e-9)
    assert metric_value(outcomes, "accuracy") == pytest.approx(metrics["accuracy"], abs=1e-9)


def test_predict_gives_one_prediction_per_case_with_grad_cam(trained_classifier, splits):
    _, result, _ = trained_classifier
    cases = splits["test"]
    preds = api.predict(result.artifact_path, cases, device="cpu", explain=True)
    assert [p.case_key for p in preds] == [c.key for c in cases]
    for pred, case in zip(preds, cases, strict=True):
        assert pred.label in ("benign", "malignant")
        assert sum(pred.scores.values()) == pytest.approx(1.0, abs=1e-4)
        heatmap = pred.heatmaps[case.images[0].key]
        assert heatmap.shape == (32, 32) and 0.0 <= heatmap.min() <= heatmap.max() <= 1.0
        # the map is named for what it is, and the scores are tied to the image read
        assert pred.heatmap_kind == "gradcam"
        assert pred.image_keys == [case.images[0].key]
        image_scores = pred.image_scores[case.images[0].key]
        assert sum(image_scores.values()) == pytest.approx(1.0, abs=1e-4)
        assert image_scores == pytest.approx(pred.scores, abs=1e-5)  # one image: the case's
    positives = [p.probability for p, c in zip(preds, cases, strict=True) if c.labels["malignant"]]
    negatives = [
        p.probability for p, c in zip(preds, cases, strict=True) if not c.labels["malignant"]
    ]
    assert np.mean(positives) > np.mean(negatives)


def test_segmentation_learns_disc_masks(tmp_path, splits):
    recipe = tiny_recipe(
        "segmentation", epochs=16, lr=1e-2, batch_size=8, optimizer="adam", weight_decay=0.0
    )
    result = api.train(recipe, splits, tmp_path, device="cpu")
    losses = [h["train_loss"] for h in result.history]
    assert losses[-1] < losses[0]
    assert result.metrics["dice"] >= 0.7
    # the per-case Dice of one-image cases averages to the run's Dice on the test split
    outcomes = api.case_outcomes(result.artifact_path, splits["test"], device="cpu")
    assert metric_value(outcomes, "dice") == pytest.approx(result.metrics["dice"], abs=1e-6)
    assert result.metrics["groups"]["site"]["(unknown)"]["n"] == len(splits["test"])
    cases = splits["test"][:2]
    preds = api.predict(result.artifact_path, cases, device="cpu", explain=True)
    assert preds[0].mask is not None and preds[0].mask.shape == (32, 32)
    # every image read keeps its own mask and its probability map (not a Grad-CAM)
    for pred, case in zip(preds, cases, strict=True):
        key = case.images[0].key
        assert pred.image_keys == [key] and pred.heatmap_kind == "probability"
        assert pred.masks[key].shape == (32, 32) and set(np.unique(pred.masks[key])) <= {0, 1}
        assert np.array_equal(pred.masks[key], pred.heatmaps[key] >= 0.5)
        assert pred.image_scores[key]["lesion"] == pytest.approx(pred.heatmaps[key].max())


def test_localisation_finds_disc_centres(tmp_path, splits):
    recipe = tiny_recipe("detection", epochs=15)
    result = api.train(recipe, splits, tmp_path, device="cpu")
    losses = [h["train_loss"] for h in result.history]
    assert losses[-1] < losses[0]
    assert result.metrics["froc_at_1"] >= 0.75
    # and, as a triage of cases (score = best candidate; half the cases have no disc), it
    # separates the cases with a lesion from those without
    assert result.metrics["n"] == len(splits["test"])
    assert result.metrics["auc"] >= 0.9
    assert result.metrics["auc_ci"][0] <= result.metrics["auc"] <= result.metrics["auc_ci"][1]
    outcomes = api.case_outcomes(result.artifact_path, splits["test"], device="cpu")
    assert metric_value(outcomes, "auc") == pytest.approx(result.metrics["auc"], abs=1e-6)
    preds = api.predict(result.artifact_path, splits["test"], device="cpu")
    assert {p.label for p in preds} <= set(recipe.classes)  # ("background", its label)
    assert all(p.heatmap_kind == "probability" and p.image_keys for p in preds)
    truth = {c.key: c.lesions for c in splits["test"]}
    hits = 0
    for pred in preds:
        for lesion in truth[pred.case_key]:
            hits += any(
                (d["cx"] - lesion.cx) ** 2 + (d["cy"] - lesion.cy) ** 2 <= lesion.radius**2
                for d in pred.lesions
            )
    assert hits >= 0.75 * sum(len(v) for v in truth.values())


def test_should_stop_cancels_within_the_first_epoch_and_writes_no_artifact(tmp_path, splits):
    # given a stop flag that turns true after three checks
    checks = []

    def should_stop() -> bool:
        checks.append(1)
        return len(checks) > 3

    # when / then
    with pytest.raises(api.Cancelled):
        api.train(
            tiny_recipe("classification"), splits, tmp_path, device="cpu", should_stop=should_stop
        )
    assert not (tmp_path / api.ARTIFACT_NAME).exists()


def test_training_without_labelled_cases_is_refused(tmp_path):
    cases = blob_cases(6, seed=3)
    unlabelled = [type(c)(key=c.key, patient=c.patient, images=c.images) for c in cases]
    with pytest.raises(ValueError, match="training image"):
        api.train(tiny_recipe("classification"), {"train": unlabelled}, tmp_path, device="cpu")


def test_init_checkpoint_starts_from_the_given_weights(tmp_path, trained_classifier, splits):
    recipe, result, _ = trained_classifier
    warm = tiny_recipe("classification", epochs=1, lr=1e-9)
    again = api.train(warm, splits, tmp_path, device="cpu", init_checkpoint=result.artifact_path)
    before = load_artifact(result.artifact_path)["state_dict"]
    after = load_artifact(again.artifact_path)["state_dict"]
    key = next(k for k, v in before.items() if v.dtype == torch.float32 and v.ndim == 4)
    assert torch.allclose(before[key], after[key], atol=1e-4)


@pytest.mark.parametrize(("task", "prior"), [("detection", 0.01), ("segmentation", 0.05)])
def test_sigmoid_map_heads_start_at_a_small_foreground_prior(task, prior):
    # given a fresh detection or segmentation network (a U-Net whose last convolution gives
    # the map)
    pipe = api.make_pipeline(tiny_recipe(task), "cpu")
    model = pipe.network()
    # when it sees an image before any training
    with torch.no_grad():
        probs = torch.sigmoid(model(torch.rand(2, 1, 32, 32)).float())
    # then every pixel starts near the prior, not at 0.5 (the focal loss's background term,
    # summed over all pixels, would otherwise swamp the few lesion centres: mini-MIAS FROC 0)
    assert float(probs.median()) < 2 * prior
    assert float(probs.mean()) < 0.1
    # and weights given to the network are not overwritten by the prior
    again = pipe.network(model.state_dict())
    for key, value in model.state_dict().items():
        assert torch.equal(again.state_dict()[key], value)


def test_model_selection_breaks_a_tied_metric_on_validation_loss():
    pipe = api.make_pipeline(tiny_recipe("detection"), "cpu")
    # a metric stuck at 0 (no lesion found yet) still ranks a lower validation loss higher
    assert pipe.select_value({"froc": 0.0}, 3.0) > pipe.select_value({"froc": 0.0}, 4.0)
    # and the metric comes first
    assert pipe.select_value({"froc": 0.2}, 9.0) > pipe.select_value({"froc": 0.1}, 1.0)
    # a missing metric falls back to the loss
    assert pipe.select_value({}, 1.0) > pipe.select_value({}, 2.0)


def test_a_lesion_crop_model_refuses_cases_without_a_located_lesion(tmp_path, splits):
    # given a classifier trained on crops around located lesions
    recipe = tiny_recipe(
        "classification",
        epochs=1,
        preprocessing={"window": "none", "lesion_roi": 2.0, "roi_min_side": 16},
    )
    result = api.train(recipe, splits, tmp_path, device="cpu")
    with_lesion = [c for c in splits["test"] if c.lesions][:2]
    without = [c for c in splits["test"] if not c.lesions][:1]
    # when it is asked to read cases with a lesion, it reads them
    preds = api.predict(result.artifact_path, with_lesion, device="cpu")
    assert [p.case_key for p in preds] == [c.key for c in with_lesion]
    # and when a case without a located lesion is among them, it refuses, naming that case
    with pytest.raises(api.LesionsRequired) as refused:
        api.predict(result.artifact_path, with_lesion + without, device="cpu")
    assert refused.value.case_keys == [without[0].key]
    assert "never trained on whole images" in str(refused.value)
    assert without[0].key in str(refused.value)
