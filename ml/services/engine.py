"""The one entry to the engine (ml.engine: torch, MONAI) from the Django side.

Importing this module imports neither torch nor the engine's API: `api()` does, on first use, in
the worker or management command that trains, evaluates or predicts. Web processes only read the
recipe catalogue, which is TOML files read without torch (tests/test_web_imports.py keeps it so).
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from django.conf import settings

from ml.engine.recipes import list_recipes  # TOML files only: no torch
from senolab.jobs import services as jobs


def api() -> ModuleType:
    """The engine's public interface, imported on first use (it loads torch)."""
    from ml.engine import api as engine_api

    return engine_api


def active() -> ModuleType:
    """The engine's active-learning strategies (ml.engine.active), imported on first use (torch)."""
    from ml.engine import active as engine_active

    return engine_active


def recipe_descriptions() -> list[dict[str, Any]]:
    """Name, task, label, modality, classes and description of every shipped recipe."""
    return [
        {
            "name": r.name,
            "task": r.task,
            "label": r.label,
            "modality": r.modality,
            "classes": list(r.classes),
            "network": r.network,
            "epochs": r.epochs,
            "description": r.description,
        }
        for r in list_recipes()
    ]


def recipe_names_without_torch() -> list[str]:
    return [r["name"] for r in recipe_descriptions()]


def default_device() -> str:
    """settings.SENOLAB_TRAIN_DEVICE; "auto" (or empty) is cuda when torch sees one, else cpu."""
    configured = settings.SENOLAB_TRAIN_DEVICE or "auto"
    if configured != "auto":
        return configured
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def job_progress(progress: jobs.Progress):
    """The engine's progress callback reporting into a Job's progress (5% to 95%)."""

    def report(fraction: float, message: str, metrics: dict | None = None) -> None:
        progress(0.05 + 0.9 * float(fraction), message)

    return report
