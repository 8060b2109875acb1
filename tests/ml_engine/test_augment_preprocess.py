"""Augmentation keeps targets aligned with images; preprocessing crops, orients and trims."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ml.engine.augment import Augmenter, BatchAugmenter
from ml.engine.preprocess import clahe, paste_back, preprocess_image, text_margin_box
from ml.engine.recipes import Preprocessing
from tests.ml_engine.synthetic import tiny_recipe


@pytest.mark.parametrize(
    "make",
    [
        lambda r: Augmenter(r, seed=3, group=2),
        lambda r: BatchAugmenter(r, "cpu", seed=3),
    ],
)
def test_flips_and_rotations_move_image_and_target_together(make):
    # given a batch whose target is a copy of the image
    recipe = tiny_recipe("segmentation", augmentation={"flip": 0.5, "rot90": 0.5})
    images = torch.rand(8, 1, 16, 16)
    # when augmented
    out, target = make(recipe)(images.clone(), images.clone())
    # then every sample moved the same way in both, and some samples did move
    assert torch.equal(out, target)
    assert not torch.equal(out, images)


def test_batched_zoom_and_intensity_keep_shapes_and_change_pixels():
    recipe = tiny_recipe("classification", augmentation={"scale": [0.8, 1.25], "intensity": 0.2})
    images = torch.rand(16, 1, 24, 24)
    out, _ = BatchAugmenter(recipe, "cpu", seed=0)(images, None)
    assert out.shape == images.shape and not torch.allclose(out, images)


def _mammogram(right: bool) -> np.ndarray:
    """A half-disc 'breast' against the chest wall, a bright label in the far corner."""
    image = np.zeros((120, 100), np.uint16)
    yy, xx = np.mgrid[:120, :100]
    breast = (xx**2 + (yy - 60) ** 2) < 50**2
    image[breast] = (1000 + 20 * xx[breast]).astype(np.uint16)
    image[5:12, 85:95] = 4000  # a film label, not connected to the breast
    return image[:, ::-1].copy() if right else image


def test_mammogram_is_cropped_to_the_breast_label_removed_and_right_side_mirrored():
    config = Preprocessing(crop_breast=True, flip_to_left=True, window="minmax")
    left, _, g_left = preprocess_image(_mammogram(False), "MG", "L", config, (64, 64))
    right, _, g_right = preprocess_image(_mammogram(True), "MG", "R", config, (64, 64))
    # then the crop is the breast's bounding box (no label), and both sides look alike
    assert left.shape[1] <= 52 and left.max() == pytest.approx(1.0)
    assert g_right.flipped and not g_left.flipped
    assert np.allclose(left, right)
    # and geometry maps a point into the model's frame and back
    x, y = g_right.to_model(80.0, 60.0)
    assert g_right.to_image(x, y) == pytest.approx((80.0, 60.0))


def test_unknown_laterality_is_oriented_by_where_the_breast_is():
    config = Preprocessing(crop_breast=True, flip_to_left=True, window="minmax")
    _, _, geometry = preprocess_image(_mammogram(True), "MG", "U", config, (64, 64))
    assert geometry.flipped


def test_ultrasound_text_margins_are_trimmed():
    # given a scan region with sparse text rows above it and a ruler column beside it
    image = np.zeros((100, 120), np.uint8)
    image[20:95, 10:110] = np.random.default_rng(0).integers(60, 200, (75, 100))
    image[3:8, 5:40:3] = 255
    image[20:95, 115:117:2] = 255
    y0, x0, y1, x1 = text_margin_box(image.astype(np.float32))
    assert (y0, y1) == (20, 95) and (x0, x1) == (10, 110)


def test_clahe_raises_local_contrast_and_stays_in_range():
    rng = np.random.default_rng(0)
    image = (0.4 + 0.05 * rng.random((64, 64))).astype(np.float32)
    out = clahe(image)
    assert out.shape == image.shape and 0 <= out.min() and out.max() <= 1
    assert out.std() > 3 * image.std()


def test_paste_back_returns_a_model_map_at_the_original_size():
    config = Preprocessing(crop_breast=True, flip_to_left=True, window="minmax")
    _, _, geometry = preprocess_image(_mammogram(True), "MG", "R", config, (32, 32))
    full = paste_back(np.ones((32, 32), np.float32), geometry)
    assert full.shape == (120, 100)
    assert full[60, 95] == pytest.approx(1.0) and full[60, 5] == 0.0


def test_a_large_image_is_reduced_early_and_its_geometry_still_maps_to_the_original():
    config = Preprocessing(crop_breast=True, flip_to_left=True, window="minmax")
    big = np.kron(_mammogram(True), np.ones((10, 10), np.uint16))  # 1200 x 1000
    image, _, geometry = preprocess_image(big, "MG", "R", config, (32, 32))
    assert max(image.shape) <= 4 * 32
    assert geometry.shape == (1200, 1000) and geometry.flipped
    y0, x0, y1, x1 = geometry.box
    assert 480 <= x1 - x0 <= 540 and x1 >= 990  # the breast's half-disc against the right edge


def test_without_overlap_a_window_is_prepared_before_any_of_it_is_handed_out():
    # Given cases whose pixel reads are counted
    import dataclasses
    import threading

    from ml.engine.data import iter_prepared
    from ml.engine.synthetic import blob_cases

    lock, reads = threading.Lock(), [0]
    cases = []
    for case in blob_cases(10, seed=3):
        image = case.images[0]

        def load(image=image):
            with lock:
                reads[0] += 1
            return image.load()

        cases.append(dataclasses.replace(case, images=(dataclasses.replace(image, load=load),)))
    # When they are prepared in windows of 4 without overlap (the CPU inference path)
    seen = []
    for k, _ in enumerate(
        iter_prepared(
            tiny_recipe("classification"),
            cases,
            labelled_only=False,
            workers=2,
            overlap=False,
            window=4,
        )
    ):
        seen.append(reads[0])
        # Then while an item is in the consumer's hands no thread reads ahead of its window
        assert reads[0] == min(4 * (k // 4 + 1), 10)
    assert len(seen) == 10


def test_a_lesion_crop_is_centred_on_the_lesion_and_maps_back_to_the_whole_image():
    # given a 200 x 300 right-breast image (tissue everywhere) with a bright spot at (250, 40)
    from ml.engine.preprocess import preprocess_roi

    image = np.random.default_rng(0).integers(1000, 2000, (200, 300)).astype(np.uint16)
    image[35:46, 245:256] = 4000
    config = Preprocessing(flip_to_left=True, window="minmax", lesion_roi=2.0, roi_min_side=64)
    # when a 64-pixel crop around it is read at 32 x 32 (it would reach past the top edge)
    crop, _, geometry = preprocess_roi(image, "MG", "R", config, (32, 32), (250.0, 20.0), 32.0)
    # then the crop stays inside the image (shifted, not padded), is mirrored like the breast,
    # and its geometry takes the lesion to the model's frame and back
    y0, x0, y1, x1 = geometry.box
    assert (y1 - y0, x1 - x0) == (64, 64) and (y0, x0) == (0, 218)
    assert geometry.flipped and geometry.shape == (200, 300)
    mx, my = geometry.to_model(250.0, 40.0)
    assert 0 <= mx < 32 and 0 <= my < 32
    assert geometry.to_image(mx, my) == pytest.approx((250.0, 40.0))
    assert crop.max() == pytest.approx(1.0)


def test_lesion_crops_replace_whole_images_only_for_cases_with_located_lesions():
    import dataclasses

    from ml.engine.cases import Case, ImageRef, Lesion
    from ml.engine.data import _prepare_case

    def ref(key: str) -> ImageRef:
        return ImageRef(key, "MG", "L", "CC", load=lambda: np.full((128, 128), 100, np.uint8))

    recipe = dataclasses.replace(
        tiny_recipe("classification"),
        modality="MG",
        preprocessing=Preprocessing(window="minmax", lesion_roi=2.0, roi_min_side=32),
    )
    two_lesions = Case(
        "c1",
        "p1",
        (ref("a"), ref("b")),
        labels={"malignant": 1},
        lesions=(Lesion("a", 30, 30, 8), Lesion("a", 90, 90, 20)),
    )
    unlocated = Case("c2", "p2", (ref("a2"), ref("b2")), labels={"malignant": 0})
    # when each case is prepared
    first = _prepare_case(recipe, 0, two_lesions, True, False)
    second = _prepare_case(recipe, 1, unlocated, True, False)
    # then a case with located lesions gives one crop per lesion (its lesion-free image none),
    # each as large as the lesion asks (at least roi_min_side)
    sides = sorted(s.geometry.box[2] - s.geometry.box[0] for _, _, s in first)
    assert [s.image.key for _, _, s in first] == ["a", "a"]
    assert sides == [32, 80]
    # and a case without one is read whole, image by image
    assert [s.image.key for _, _, s in second] == ["a2", "b2"]
    assert all(s.geometry.box == (0, 0, 128, 128) for _, _, s in second)


def test_a_reduced_copy_is_preprocessed_like_the_full_image_in_full_image_coordinates():
    # given a 1000 x 800 right-breast mammogram with a bright spot and its 2x block average
    from senolab.imaging.pixelcache import build_levels

    yy, xx = np.mgrid[:1000, :800]
    image = np.zeros((1000, 800), np.uint16)
    breast = ((800 - xx) ** 2 + (yy - 500) ** 2) < 420**2
    image[breast] = 1500
    image[(xx - 600) ** 2 + (yy - 380) ** 2 < 12**2] = 4000
    mask = ((xx - 600) ** 2 + (yy - 380) ** 2 < 12**2).astype(np.uint8)
    level = build_levels(image)[1][0, :, :, 0]
    config = Preprocessing(crop_breast=True, flip_to_left=True, window="minmax")
    # when both are preprocessed for a 128 x 128 input (the mask at full resolution)
    full, full_mask, g_full = preprocess_image(image, "MG", "R", config, (128, 128), mask)
    half, half_mask, g_half = preprocess_image(
        level, "MG", "R", config, (128, 128), mask, factor=2, full_shape=(1000, 800)
    )
    # then both geometries describe the full image: same frame, crop box within a pixel pair
    assert g_half.shape == g_full.shape == (1000, 800) and g_half.flipped
    assert np.allclose(g_half.box, g_full.box, atol=2)
    # the spot lands on the same model pixel, and comes back to where it is in the full image
    for prepared, m, g in ((full, full_mask, g_full), (half, half_mask, g_half)):
        sy, sx = np.unravel_index(np.argmax(prepared), prepared.shape)
        scale_y, scale_x = prepared.shape[0] / 128, prepared.shape[1] / 128
        mx, my = g.to_model(600.0, 380.0)
        assert abs(mx * scale_x - sx) <= 14 and abs(my * scale_y - sy) <= 14
        assert g.to_image(mx, my) == pytest.approx((600.0, 380.0))
        assert m is not None and m.shape == prepared.shape and m[sy, sx] == 1


def test_a_whole_image_model_reads_the_reduced_copy_and_a_lesion_crop_full_resolution():
    import dataclasses

    from ml.engine.cases import Case, ImageRef, Lesion
    from ml.engine.data import _prepare_case

    full = np.random.default_rng(0).integers(1000, 2000, (400, 300)).astype(np.uint16)
    asked = []

    def reduced(long_side: int, short_side: int):
        asked.append((long_side, short_side))
        return full[::2, ::2], 2, (400, 300)

    ref = ImageRef("a", "MG", "L", "CC", load=lambda: full, load_reduced=reduced)
    recipe = dataclasses.replace(
        tiny_recipe("classification"),
        modality="MG",
        preprocessing=Preprocessing(window="minmax", lesion_roi=2.0, roi_min_side=32),
    )
    size = max(recipe.input_size)
    # a case without a located lesion: the whole image, from the reduced copy
    [(_, _, whole)] = _prepare_case(recipe, 0, Case("c0", "p", (ref,)), False, False)
    assert asked == [(2 * size, size)] and whole.geometry.shape == (400, 300)
    # a located lesion: its crop from full resolution (the reduced copy is not asked for)
    lesion = Lesion("a", 150.0, 200.0, 10.0)
    [(_, _, crop)] = _prepare_case(
        recipe, 0, Case("c1", "p", (ref,), lesions=(lesion,)), False, False
    )
    assert len(asked) == 1 and crop.geometry.shape == (400, 300)


def test_pasting_a_map_back_matches_scipys_linear_zoom():
    from scipy import ndimage

    from ml.engine.preprocess import Geometry

    model_map = np.random.default_rng(0).random((64, 64)).astype(np.float32)
    geometry = Geometry(shape=(300, 250), box=(20, 30, 277, 201), flipped=True, size=(64, 64))
    pasted = paste_back(model_map, geometry)
    zoom = ndimage.zoom(model_map, (257 / 64, 171 / 64), order=1)[:, ::-1]
    assert pasted.shape == (300, 250)
    assert np.allclose(pasted[20:277, 30:201], zoom, atol=1e-5)
    assert not pasted[:20].any() and not pasted[:, 201:].any()


def test_a_map_pasted_into_a_shrunk_frame_matches_the_full_size_paste():
    from ml.engine.preprocess import Geometry

    yy, xx = np.mgrid[:64, :64]
    model_map = (0.01 + np.exp(-((xx - 40.0) ** 2 + (yy - 20.0) ** 2) / 30.0)).astype(np.float32)
    geometry = Geometry(shape=(1000, 800), box=(100, 0, 900, 560), flipped=True, size=(64, 64))
    full = paste_back(model_map, geometry)
    small = paste_back(model_map, geometry, max_side=250)
    # the frame keeps the image's aspect; the crop box and the peak land where they do in full
    assert small.shape == (250, 200)
    assert not small[:24].any() and not small[:, 141:].any() and small[26:224, :139].all()
    fy, fx = np.unravel_index(np.argmax(full), full.shape)
    sy, sx = np.unravel_index(np.argmax(small), small.shape)
    assert abs(sy * 4 - fy) <= 6 and abs(sx * 4 - fx) <= 6
    assert small.max() == pytest.approx(full.max(), abs=0.05)
    # no max_side, or one the image already fits: the full-size paste
    assert np.array_equal(paste_back(model_map, geometry, max_side=1000), full)


def test_fill_holes_is_scipys_binary_fill_holes():
    from scipy import ndimage

    from ml.engine.preprocess import fill_holes

    rng = np.random.default_rng(0)
    for _ in range(100):
        shape = (int(rng.integers(1, 50)), int(rng.integers(1, 50)))
        mask = rng.random(shape) > rng.uniform(0.1, 0.9)
        assert np.array_equal(fill_holes(mask), ndimage.binary_fill_holes(mask))
    ring = np.zeros((9, 9), bool)
    ring[2:7, 2:7] = True
    ring[4, 4] = False  # a hole
    assert fill_holes(ring)[4, 4] and fill_holes(np.ones((3, 3), bool)).all()
