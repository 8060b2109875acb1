"""The unit the engine reads: a case (an exam with its images, clinical record and ground truth).

This is the narrow interface between the platform and the engine. The Django side builds Case
objects from the database (ml.services.snapshots); the engine only ever sees these plain
dataclasses, so a notebook or a worker on another host can build them from files just as well.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class ImageRef:
    """One image of a case and how to get its pixels.

    Args:
        key: stable identifier (the platform's image id as a string).
        modality: "MG", "US", "MR", "SM" or "OT".
        laterality: "L", "R", "B" or "U".
        view: "CC", "MLO", ... or "" when not applicable.
        load: returns the pixels as a numpy array, 2-D (H, W) or 3-D (H, W, C), native dtype,
            read from the platform's pixel cache (never a fresh decode of the original).
        pixel_spacing: (row, column) in mm, when known.
        mask: returns the union ground-truth mask (H, W) uint8 for segmentation, or None.
        load_reduced: given (long_side, short_side), returns a stored reduced copy of the
            pixels (a pixel-cache pyramid level), the smallest whose longer and shorter sides
            are still at least those: (pixels, factor, (H, W) of `load`'s pixels), where pixel
            (r, c) averages `load`'s rows factor*r .. factor*r + factor - 1 and its columns
            alike (factor 1: `load`'s own pixels). None when there is no such copy.
    """

    key: str
    modality: str
    laterality: str
    view: str
    load: Callable[[], np.ndarray]
    pixel_spacing: tuple[float, float] | None = None
    mask: Callable[[], np.ndarray | None] | None = None
    load_reduced: Callable[[int, int], tuple[np.ndarray, int, tuple[int, int]]] | None = None


@dataclass(frozen=True)
class Lesion:
    """A ground-truth lesion in one image's pixel coordinates (origin top-left)."""

    image_key: str
    cx: float
    cy: float
    radius: float
    finding_type: str = ""
    pathology: str = ""


@dataclass(frozen=True)
class Case:
    """An exam: any number of images of any modalities, its clinical record and ground truth.

    Args:
        key: stable identifier (the platform's exam id as a string).
        patient: pseudonym; splits keep every patient on one side.
        images: the images of the exam.
        clinical: the clinical record's fields (age_at_exam, breast_density, ...).
        labels: case-level ground truth by task name, e.g. {"pathology": "malignant",
            "density": "B", "abnormal": 1}. Missing keys mean unknown.
        lesions: ground-truth lesions for localisation.
        site: acquisition site (for domain-shift studies).
    """

    key: str
    patient: str
    images: tuple[ImageRef, ...]
    clinical: dict[str, Any] = field(default_factory=dict)
    labels: dict[str, Any] = field(default_factory=dict)
    lesions: tuple[Lesion, ...] = ()
    site: str = ""


# Progress callback: (fraction 0..1, message, metrics of the last epoch or {}).
ProgressCallback = Callable[[float, str, dict[str, float]], None]
