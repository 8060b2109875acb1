"""What the engine hands back: plain dataclasses (numpy at most), no torch objects."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class TrainResult:
    """A finished training: the artifact file, its checksum, test metrics and the history.

    Args:
        artifact_path: the model file (one torch.save file, written atomically).
        sha256: hex digest of that file.
        metrics: flat keys on the test split (n, auc, auc_ci, sensitivity, ...), plus curves
            ("roc", "calibration", "confusion", "froc_curve") and "val" (validation metrics).
        history: one dict per epoch (epoch, train_loss, val_loss, val_<metric>, lr, seconds).
        temperature: softmax temperature fitted on validation (1.0 for non-classifiers).
        threshold: operating threshold chosen on validation (None where not applicable).
    """

    artifact_path: str
    sha256: str
    metrics: dict[str, Any]
    history: list[dict[str, Any]]
    temperature: float = 1.0
    threshold: float | None = None


@dataclass
class CasePrediction:
    """A model's output for one case.

    Args:
        case_key: the Case's key.
        probability: calibrated probability of the positive (or predicted) class, or the top
            lesion score for detection, or the largest mask probability for segmentation.
        label: predicted class name.
        scores: probability per class name.
        lesions: detected lesions in image pixel coordinates
            ({"image_key", "cx", "cy", "radius", "score"}).
        mask: predicted binary mask (H, W) uint8 of the case's first model image, if segmenting.
        heatmaps: per image key, a [0, 1] float32 map at the image's size, or that size shrunk
            to fit `map_max_side` when the prediction was asked for one (Grad-CAM for
            classifiers, the probability map for segmentation/detection), when asked to explain.
        heatmap_kind: what the maps are: "gradcam" or "probability".
        image_keys: the images the model read (those of its modality; with lesion crops, those
            holding a located lesion), in reading order. Scores above are the case's (exam level).
        image_scores: per image key, the probability per class name of that image alone.
        masks: per image key, the predicted binary mask (H, W) uint8, if segmenting.
        image_embeddings: per image key, its embedding (D,) float16 (the pooled input of the
            network's head, mean over the image's samples), when asked for.
        image_samples: per image key, Monte Carlo dropout class probabilities (T, C) float16
            in the order of `scores`, when asked for.
    """

    case_key: str
    probability: float
    label: str
    scores: dict[str, float] = field(default_factory=dict)
    lesions: list[dict[str, Any]] = field(default_factory=list)
    mask: np.ndarray | None = None
    heatmaps: dict[str, np.ndarray] = field(default_factory=dict)
    heatmap_kind: str = ""
    image_keys: list[str] = field(default_factory=list)
    image_scores: dict[str, dict[str, float]] = field(default_factory=dict)
    masks: dict[str, np.ndarray] = field(default_factory=dict)
    image_embeddings: dict[str, np.ndarray] = field(default_factory=dict)
    image_samples: dict[str, np.ndarray] = field(default_factory=dict)
