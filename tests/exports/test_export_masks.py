"""Masks as PNG and NIfTI label maps, the label-map JSON, and the MONAI datalist."""

from __future__ import annotations

import io
import json

import nibabel as nib
import numpy as np
import pytest
from PIL import Image as PILImage

from exports.masks import (
    datalist_entries,
    image_mask,
    label_map_json,
    mask_nifti,
    mask_png,
    monai_datalist,
)


def test_an_image_mask_holds_each_region_with_its_label_value(images, findings, label_map):
    # When image 11 (a mass box, a point, a calcification polygon) is rasterised
    mask = image_mask(images[0], findings, label_map)
    # Then the box is mass (1), the polygon calcification (2), the rest background
    assert mask.shape == (48, 64)
    assert (mask[6:14, 5:15] == 1).all()
    assert mask[20, 40] == 2
    assert mask[3, 3] == 0 and mask[40, 5] == 0
    assert set(np.unique(mask)) == {0, 1, 2}


def test_an_ellipse_fills_its_inside_only(images, findings, label_map):
    # Given image 12 with a mass ellipse centred at (20, 20), radii 8 and 5
    mask = image_mask(images[1], findings, label_map)
    # Then inside is mass, outside background, and the area is close to pi * 8 * 5
    assert mask[20, 20] == 1 and mask[20, 27] == 1 and mask[24, 20] == 1
    assert mask[20, 30] == 0 and mask[27, 20] == 0 and mask[13, 13] == 0
    assert abs(int(mask.sum()) - 126) <= 20


def test_a_mask_mark_lands_at_its_box(images, findings, label_map):
    mask = image_mask(images[2], findings, label_map)
    expected = np.zeros((30, 40), np.uint8)
    expected[10:18, 13:21] = 3  # asymmetry
    assert np.array_equal(mask, expected)


def test_the_png_reads_back_as_the_same_label_values(images, findings, label_map):
    mask = image_mask(images[0], findings, label_map)
    with PILImage.open(io.BytesIO(mask_png(mask))) as png:
        assert png.mode == "L"
        assert np.array_equal(np.asarray(png), mask)


def test_the_nifti_reads_back_with_x_first(images, findings, label_map):
    mask = image_mask(images[0], findings, label_map)
    volume = nib.Nifti1Image.from_bytes(mask_nifti(mask))
    data = np.asarray(volume.dataobj)
    # Then it is (columns, rows, 1) with the same values
    assert data.shape == (64, 48, 1)
    assert np.array_equal(data[:, :, 0].T, mask)
    assert data.dtype == np.uint8


def test_the_label_map_json_names_each_value(label_map):
    assert json.loads(label_map_json(label_map)) == {
        "0": "background",
        "1": "mass",
        "2": "calcification",
        "3": "asymmetry",
    }


def test_the_datalist_groups_images_and_masks_by_split(images):
    datalist = json.loads("".join(monai_datalist(datalist_entries(images))))
    assert datalist == {
        "training": [
            {"image": "images/11.png", "label": "masks/11.nii"},
            {"image": "images/12.png", "label": "masks/12.nii"},
        ],
        "validation": [],
        "test": [{"image": "images/21.png", "label": "masks/21.nii"}],
    }


def test_an_entry_without_a_known_split_is_refused():
    with pytest.raises(ValueError, match="Unknown split ''"):
        "".join(monai_datalist([{"image": "a.png", "label": "a.nii", "split": ""}]))
