"""Preprocessing on real images: mini-MIAS mammograms and BUSI ultrasound (skips without data)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from ml.engine.preprocess import preprocess_image
from ml.engine.recipes import load_recipe

pytestmark = pytest.mark.realdata


@pytest.mark.parametrize(("name", "laterality"), [("mdb005", "R"), ("mdb006", "L")])
def test_mias_mammogram_is_cropped_to_the_breast_with_the_chest_wall_on_the_left(
    shared_data, name, laterality
):
    path = shared_data / "mini-mias" / "all-mias" / f"{name}.png"
    if not path.exists():
        pytest.skip(f"{path.name} is not in this copy of mini-MIAS")
    pixels = np.asarray(Image.open(path).convert("L"))
    recipe = load_recipe("mias-abnormal")
    # when
    image, _, geometry = preprocess_image(
        pixels, "MG", laterality, recipe.preprocessing, recipe.input_size
    )
    # then the mostly black film is cut away and the breast leans on the left edge
    y0, x0, y1, x1 = geometry.box
    assert (y1 - y0) * (x1 - x0) < 0.8 * pixels.size
    assert geometry.flipped == (laterality == "R")
    half = image.shape[1] // 2
    assert image[:, :half].mean() > image[:, half:].mean()
    assert 0.0 <= image.min() and image.max() <= 1.0


def test_busi_image_keeps_its_scan_and_its_mask_aligned(shared_data):
    folder = shared_data / "busi" / "Dataset_BUSI_with_GT" / "malignant"
    masks = sorted(folder.glob("* (*)_mask.png"))
    if not masks:
        pytest.skip("no BUSI malignant masks in this copy")
    mask_path = masks[0]
    image_path = mask_path.with_name(mask_path.name.replace("_mask", ""))
    pixels = np.asarray(Image.open(image_path))
    mask = (np.asarray(Image.open(mask_path).convert("L")) > 127).astype(np.uint8)
    recipe = load_recipe("busi-segmentation")
    image, cropped_mask, geometry = preprocess_image(
        pixels, "US", "U", recipe.preprocessing, recipe.input_size, mask
    )
    assert cropped_mask.shape == image.shape
    assert cropped_mask.sum() == mask.sum()  # the trim never cuts into the lesion
