"""A recipe small enough to train in seconds, for the engine tests (cases: ml.engine.synthetic)."""

from __future__ import annotations

from ml.engine.recipes import Recipe, recipe_from_dict


def tiny_recipe(task: str, **overrides) -> Recipe:
    """A recipe small enough to train in seconds on a CPU."""
    base = {
        "task": task,
        "label": "malignant",
        "modality": "US",
        "input_size": [32, 32],
        "classes": ["benign", "malignant"] if task == "classification" else [],
        "values": [0, 1] if task == "classification" else [],
        "network": "densenet121" if task == "classification" else "unet",
        "network_args": (
            {"init_features": 8, "growth_rate": 8, "block_config": [2, 2, 2]}
            if task == "classification"
            else {"channels": [8, 16, 32]}
        ),
        "epochs": 8,
        "batch_size": 16,
        "lr": 3e-3,
        "patience": 50,
        "select_metric": {"classification": "auc", "segmentation": "dice", "detection": "froc"}[
            task
        ],
        "loss": {"classification": "ce", "segmentation": "dice_ce", "detection": "heatmap_focal"}[
            task
        ],
        "preprocessing": {"window": "none"},
        "augmentation": {"flip": 0.5},
        "heatmap_sigma": 1.5,
        "max_detections": 3,
    }
    if not base["values"]:
        base.pop("values")
        base.pop("classes")
    base.update(overrides)
    return recipe_from_dict(f"tiny-{task}", base)
