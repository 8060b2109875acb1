"""Model artifacts: one torch.save file (recipe, weights, temperature, threshold, classes),
written atomically (temporary file + os.replace) and identified by its sha256."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ml.engine.recipes import Recipe, recipe_from_dict

FORMAT = "senolab-engine/1"


def file_sha256(path: str | Path) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def _atomic_save(obj: Any, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            torch.save(obj, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _cpu_state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}


def save_artifact(
    path: str | Path,
    model: nn.Module,
    recipe: Recipe,
    *,
    temperature: float,
    threshold: float | None,
    metrics: dict[str, Any] | None = None,
    snapshot: str = "",
) -> str:
    """Write the artifact atomically; returns its sha256."""
    path = Path(path)
    payload = {
        "format": FORMAT,
        "recipe": recipe.to_dict(),
        "state_dict": _cpu_state(model),
        "temperature": float(temperature),
        "threshold": None if threshold is None else float(threshold),
        "classes": list(recipe.classes),
        "metrics": _plain(metrics or {}),
        "snapshot": snapshot,
        "torch": str(torch.__version__),
    }
    _atomic_save(payload, path)
    return file_sha256(path)


def save_checkpoint(
    path: Path, model: nn.Module, optimizer: torch.optim.Optimizer, epoch: int, recipe: Recipe
) -> None:
    """Resumable training state of the best epoch so far (kept beside the run)."""
    _atomic_save(
        {
            "format": FORMAT + "-checkpoint",
            "epoch": epoch,
            "recipe": recipe.to_dict(),
            "state_dict": _cpu_state(model),
            "optimizer": optimizer.state_dict(),
        },
        path,
    )


def load_artifact(path: str | Path) -> dict[str, Any]:
    """The artifact's payload with "recipe" rebuilt as a Recipe (weights-only unpickling)."""
    payload = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(payload, dict) or not str(payload.get("format", "")).startswith(FORMAT):
        raise ValueError("not a Senolab engine model file")
    data = dict(payload["recipe"])
    payload["recipe"] = recipe_from_dict(data.pop("name"), data)
    return payload


def load_matching_weights(model: nn.Module, path: str | Path) -> int:
    """Start from a local checkpoint/artifact: copy every tensor whose name and shape match
    (a new head for other classes is left freshly initialised). Returns how many were copied."""
    payload = torch.load(path, map_location="cpu", weights_only=True)
    state = payload.get("state_dict", payload) if isinstance(payload, dict) else {}
    own = model.state_dict()
    matched = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    model.load_state_dict(matched, strict=False)
    return len(matched)


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if hasattr(value, "tolist"):
        return value.tolist()
    return value
