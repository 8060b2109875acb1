"""Engine results as plain JSON values (numpy scalars and arrays, tuples, NaN)."""

from __future__ import annotations

from typing import Any


def json_safe(value: Any) -> Any:
    """numpy scalars and arrays, tuples and paths as plain JSON values."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if hasattr(value, "tolist"):
        return json_safe(value.tolist())
    if isinstance(value, float | int | str | bool) or value is None:
        if isinstance(value, float) and value != value:  # NaN is not JSON
            return None
        return value
    return str(value)


def flat_metrics(metrics: dict[str, Any]) -> dict[str, Any]:
    """The scalar metrics (and the AUC's confidence interval), without curves and tables."""
    return {k: v for k, v in metrics.items() if isinstance(v, int | float | str) or k == "auc_ci"}
