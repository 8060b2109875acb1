"""Recipes load and validate; splits keep patients on one side and stratify; hashes are stable."""

from __future__ import annotations

import numpy as np
import pytest

from ml.engine.cases import Case, ImageRef
from ml.engine.errors import RecipeError
from ml.engine.recipes import list_recipes, load_recipe, recipe_from_dict
from ml.engine.splits import snapshot_hash, split_cases

REQUIRED = {
    "busi-malignancy",
    "busi-segmentation",
    "mias-abnormal",
    "mias-benign-malignant",
    "mias-density",
    "mias-localisation",
    "breastmnist",
}


def _case(i: int, patient: str, label: int) -> Case:
    image = ImageRef(
        key=f"im{i}",
        modality="US",
        laterality="U",
        view="",
        load=lambda: np.zeros((4, 4), np.uint8),
    )
    return Case(key=f"c{i:03d}", patient=patient, images=(image,), labels={"malignant": label})


def test_every_required_recipe_ships_and_loads():
    # when
    recipes = {r.name: r for r in list_recipes()}
    # then
    assert REQUIRED <= set(recipes)
    assert recipes["mias-density"].classes == ("A", "B", "C")
    assert recipes["breastmnist"].input_size == (28, 28)
    assert recipes["mias-localisation"].task == "detection"


def test_unknown_recipe_name_and_path_tricks_raise_key_error():
    for name in ("nope", "../busi-malignancy", ""):
        with pytest.raises(KeyError):
            load_recipe(name)


def test_recipe_with_unknown_field_or_bad_task_is_rejected():
    base = {
        "task": "classification",
        "label": "x",
        "modality": "US",
        "network": "resnet18",
        "input_size": [32, 32],
        "classes": ["a", "b"],
    }
    assert recipe_from_dict("ok", base).input_size == (32, 32)
    with pytest.raises(RecipeError):
        recipe_from_dict("bad", {**base, "colour": "red"})
    with pytest.raises(RecipeError):
        recipe_from_dict("bad", {**base, "task": "dreaming"})


def test_split_keeps_each_patient_on_one_side_and_every_class_in_every_split():
    # given 60 patients with two cases each, a third of them positive
    cases = [_case(2 * p + k, f"p{p}", int(p % 3 == 0)) for p in range(60) for k in range(2)]
    # when
    splits = split_cases(cases, seed=1, stratify="malignant")
    # then
    sides = {}
    for name, members in splits.items():
        for case in members:
            assert sides.setdefault(case.patient, name) == name
        assert {c.labels["malignant"] for c in members} == {0, 1}
    assert sum(len(v) for v in splits.values()) == len(cases)
    assert 0.6 < len(splits["train"]) / len(cases) < 0.8
    assert split_cases(cases, seed=1, stratify="malignant") == splits


def test_snapshot_hash_changes_with_a_label_and_not_with_order():
    cases = [_case(i, f"p{i}", i % 2) for i in range(6)]
    flipped = [*cases[:-1], _case(5, "p5", 0)]
    assert snapshot_hash(cases) == snapshot_hash(list(reversed(cases)))
    assert snapshot_hash(cases) != snapshot_hash(flipped)
