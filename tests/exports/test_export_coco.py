"""COCO JSON: pycocotools loads the written file and its annotations are the marks."""

from __future__ import annotations

import json
import math
import tracemalloc

import numpy as np
import pytest
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO

from exports.coco import mark_annotation, write_coco
from exports.geometry import full_mask
from exports.model import ExportFinding, ExportMark


@pytest.fixture
def coco(tmp_path, images, findings, label_map) -> COCO:
    path = tmp_path / "coco.json"
    path.write_text("".join(write_coco(images, findings, label_map)))
    return COCO(str(path))


def annotations_of(coco: COCO, finding_key: str) -> list[dict]:
    return [a for a in coco.dataset["annotations"] if a["senolab_finding"] == finding_key]


def test_images_and_categories_are_those_of_the_export(coco, images, label_map):
    # Then every image is there with its size, and the categories are the label map
    assert [(im["senolab_key"], im["width"], im["height"]) for im in coco.dataset["images"]] == [
        (im.key, im.width, im.height) for im in images
    ]
    assert {c["id"]: c["name"] for c in coco.loadCats(coco.getCatIds())} == {
        1: "mass",
        2: "calcification",
        3: "asymmetry",
    }


def test_a_box_keeps_its_coordinates_and_a_point_is_left_out(coco):
    # Given finding f1: a box at (5, 6) of 10 x 8 and a point
    [box] = annotations_of(coco, "f1")
    # Then the point made no annotation and the box is exact, on image 1 as a mass
    assert box["bbox"] == [5, 6, 10, 8]
    assert box["segmentation"] == [[5, 6, 15, 6, 15, 14, 5, 14]]
    assert box["area"] == 80
    assert (box["image_id"], box["category_id"], box["iscrowd"]) == (1, 1, 0)
    assert (box["birads"], box["pathology"]) == ("4A", "malignant")


def test_a_polygon_keeps_its_points(coco):
    [polygon] = annotations_of(coco, "f2")
    assert polygon["segmentation"] == [[30, 10, 50, 12, 40, 30]]
    assert polygon["bbox"] == [30, 10, 20, 20]
    assert polygon["area"] == pytest.approx(abs((50 - 30) * (30 - 10) - (40 - 30) * (12 - 10)) / 2)
    assert polygon["category_id"] == 2


def test_an_ellipse_becomes_a_polygon_of_its_area(coco):
    [ellipse] = annotations_of(coco, "f3")
    points = np.asarray(ellipse["segmentation"][0]).reshape(-1, 2)
    # Then every vertex lies on the ellipse and the area is pi * rx * ry within 0.2 %
    radius = ((points[:, 0] - 20) / 8) ** 2 + ((points[:, 1] - 20) / 5) ** 2
    assert np.allclose(radius, 1, atol=0.01)
    assert ellipse["area"] == pytest.approx(math.pi * 8 * 5, rel=0.002)
    assert ellipse["bbox"] == pytest.approx([12, 15, 16, 10], abs=0.01)


def test_a_mask_is_rle_that_decodes_to_its_pixels(coco, images, findings):
    [mask_annotation] = annotations_of(coco, "f4")
    image = coco.loadImgs(mask_annotation["image_id"])[0]
    # When pycocotools decodes the annotation
    decoded = coco.annToMask(mask_annotation)
    # Then it is the mark's pixels placed at its box on the whole image
    expected = full_mask(findings[3].marks[0], images[2].width, images[2].height)
    assert decoded.shape == (image["height"], image["width"]) == (30, 40)
    assert np.array_equal(decoded, expected)
    assert mask_annotation["area"] == expected.sum() == 8 * 8
    assert mask_annotation["bbox"] == [13, 10, 8, 8]
    assert mask_utils.area(coco.annToRLE(mask_annotation)) == 64


def test_the_document_arrives_in_several_chunks(images, label_map):
    # Given many findings
    box = ExportMark("box", {"x": 1, "y": 1, "width": 2, "height": 2})
    many = [ExportFinding(str(i), "11", "mass", marks=(box,)) for i in range(3000)]
    # When written
    chunks = list(write_coco(images, many, label_map))
    # Then it came as several pieces that join into one valid document
    assert len(chunks) > 2
    assert len(json.loads("".join(chunks))["annotations"]) == 3000


def test_a_finding_on_an_image_outside_the_export_is_refused(images, label_map):
    stray = ExportFinding("x", "999", "mass", marks=())
    with pytest.raises(ValueError, match="image 999"):
        "".join(write_coco(images, [stray], label_map))


def test_a_finding_type_outside_the_label_map_is_refused(images, label_map):
    odd = ExportFinding("x", "11", "lymph node", marks=())
    with pytest.raises(ValueError, match="lymph node"):
        "".join(write_coco(images, [odd], label_map))


# pycocotools' decode warns about NumPy 2's copy keyword on every call; nothing to act on here.
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_mask_rle_matches_the_pixels_for_many_random_masks_and_places():
    # Given random masks (some full, some empty) anywhere on random images, edges included
    rng = np.random.default_rng(1)
    for trial in range(300):
        height, width = (int(v) for v in rng.integers(3, 40, 2))
        rows, cols = (int(v) for v in rng.integers(1, 12, 2))
        x, y = int(rng.integers(0, width)), int(rng.integers(0, height))
        pixels = (rng.random((rows, cols)) > 0.5).astype(np.uint8)
        if trial % 7 == 0:
            pixels[:] = 1
        if trial % 11 == 0:
            pixels[:] = 0
        mark = ExportMark("mask", {"x": x, "y": y, "width": cols, "height": rows}, pixels)
        # When it is encoded
        rle = dict(mark_annotation(mark, width, height)["segmentation"])
        rle["counts"] = rle["counts"].encode()
        # Then pycocotools decodes exactly the mark's pixels at its place
        assert np.array_equal(mask_utils.decode(rle), full_mask(mark, width, height)), trial


def test_memory_stays_flat_as_findings_grow(images, label_map):
    # Given findings made one at a time, 2,000 and then ten times as many
    def peak_while_writing(count: int) -> int:
        box = ExportMark("box", {"x": 1.5, "y": 2.5, "width": 20.25, "height": 10.75})
        made = (ExportFinding(str(i), "11", "mass", marks=(box,)) for i in range(count))
        tracemalloc.start()
        size = sum(len(chunk) for chunk in write_coco(images, made, label_map))
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert size > count * 100
        return peak

    small, large = peak_while_writing(2_000), peak_while_writing(20_000)
    # Then the larger export's peak is not ten times the smaller's: nothing accumulates
    assert large < 1.5 * small
