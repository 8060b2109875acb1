"""A small export: three images on two exams, findings with every region kind."""

from __future__ import annotations

import numpy as np
import pytest

from exports.model import ExportExam, ExportFinding, ExportImage, ExportMark, LabelMap


def square_mask(size: int) -> np.ndarray:
    mask = np.zeros((size, size), np.uint8)
    mask[2 : size - 2, 3 : size - 1] = 1
    return mask


MASK_BOX = {"x": 10, "y": 8, "width": 12, "height": 12}


@pytest.fixture
def label_map() -> LabelMap:
    return LabelMap.of(["mass", "calcification", "asymmetry"])


@pytest.fixture
def images() -> list[ExportImage]:
    return [
        ExportImage("11", 64, 48, "images/11.png", "MG", "L", "CC", "P1", "1", "train",
                    labels={"birads": "4A", "pathology": "malignant"}),
        ExportImage("12", 64, 48, "images/12.png", "MG", "L", "MLO", "P1", "1", "train"),
        ExportImage("21", 40, 30, "images/21.png", "MG", "R", "CC", "P2", "2", "test",
                    labels={"birads": "1", "finding_types": ["mass", "asymmetry"]}),
    ]  # fmt: skip


@pytest.fixture
def findings() -> list[ExportFinding]:
    return [
        ExportFinding(
            "f1",
            "11",
            "mass",
            birads="4A",
            pathology="malignant",
            marks=(
                ExportMark("box", {"x": 5, "y": 6, "width": 10, "height": 8}),
                ExportMark("point", {"x": 3, "y": 3}),
            ),
        ),
        ExportFinding(
            "f2",
            "11",
            "calcification",
            birads="2",
            pathology="benign",
            marks=(ExportMark("polygon", {"points": [[30, 10], [50, 12], [40, 30]]}),),
        ),
        ExportFinding(
            "f3",
            "12",
            "mass",
            marks=(ExportMark("ellipse", {"cx": 20, "cy": 20, "rx": 8, "ry": 5}),),
        ),
        ExportFinding(
            "f4",
            "21",
            "asymmetry",
            birads="3",
            marks=(ExportMark("mask", MASK_BOX, square_mask(12)),),
        ),
    ]


@pytest.fixture
def exams() -> list[ExportExam]:
    return [
        ExportExam("1", "P1", "north", "train", {"birads": "4A", "density": "C"},
                   {"age_at_exam": 57}, {"L": {"birads": "4A", "pathology": "malignant"}}),
        ExportExam("2", "P2", "south", "test", {"birads": "1", "finding_types": ["mass", "other"]},
                   {}, {"R": {"birads": "1"}, "L": {"density": "B"}}),
    ]  # fmt: skip
