"""Small server-side SVG charts for the ML pages (no JavaScript library, nothing from a CDN)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from django.utils.html import escape

W, H, PAD = 320, 240, 36
COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf"]


def _frame(title: str, body: str, x_label: str, y_label: str, ticks: str = "") -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" width="{W}" '
        f'height="{H}" role="img" aria-label="{escape(title)}" class="chart">'
        f"<title>{escape(title)}</title>"
        f'<rect x="{PAD}" y="8" width="{W - PAD - 8}" height="{H - PAD - 8}" fill="none" '
        f'stroke="#999"/>{ticks}{body}'
        f'<text x="{(W + PAD) / 2}" y="{H - 6}" text-anchor="middle" font-size="11">'
        f"{escape(x_label)}</text>"
        f'<text x="10" y="{(H - PAD) / 2}" font-size="11" text-anchor="middle" '
        f'transform="rotate(-90 10 {(H - PAD) / 2})">{escape(y_label)}</text></svg>'
    )


def _scale(x: float, y: float, x0: float, x1: float, y0: float, y1: float) -> tuple[float, float]:
    sx = PAD + (x - x0) / ((x1 - x0) or 1) * (W - PAD - 8)
    sy = 8 + (1 - (y - y0) / ((y1 - y0) or 1)) * (H - PAD - 8)
    return round(sx, 1), round(sy, 1)


def _polyline(points: Sequence[tuple[float, float]], bounds, colour: str, dash: str = "") -> str:
    coords = " ".join(f"{a},{b}" for a, b in (_scale(x, y, *bounds) for x, y in points))
    extra = f' stroke-dasharray="{dash}"' if dash else ""
    return f'<polyline fill="none" stroke="{colour}" stroke-width="1.6"{extra} points="{coords}"/>'


def _unit_ticks() -> str:
    out = []
    for v in (0.0, 0.5, 1.0):
        x, y = _scale(v, v, 0, 1, 0, 1)
        out.append(
            f'<text x="{x}" y="{H - PAD + 12}" font-size="9" text-anchor="middle">{v:g}</text>'
        )
        out.append(f'<text x="{PAD - 4}" y="{y + 3}" font-size="9" text-anchor="end">{v:g}</text>')
    return "".join(out)


def roc_svg(roc: Any, auc: float | None = None) -> str:
    """ROC curve from {"fpr": [...], "tpr": [...]} or a list of [fpr, tpr] points."""
    points = xy_points(roc, "fpr", "tpr")
    if not points:
        return ""
    bounds = (0.0, 1.0, 0.0, 1.0)
    body = _polyline([(0, 0), (1, 1)], bounds, "#bbb", "4 3") + _polyline(
        points, bounds, COLOURS[0]
    )
    title = "ROC curve" + (f" (AUC {auc:.3f})" if isinstance(auc, int | float) else "")
    return _frame(title, body, "False positive rate", "True positive rate", _unit_ticks())


def calibration_svg(calibration: Any) -> str:
    """Reliability diagram from {"confidence": [...], "accuracy": [...]} or [[conf, acc], ...]."""
    points = xy_points(calibration, "confidence", "accuracy") or xy_points(
        calibration, "mean_predicted", "fraction_positive"
    )
    if not points:
        return ""
    bounds = (0.0, 1.0, 0.0, 1.0)
    dots = "".join(
        f'<circle cx="{a}" cy="{b}" r="3" fill="{COLOURS[1]}"/>'
        for a, b in (_scale(x, y, *bounds) for x, y in points)
    )
    body = (
        _polyline([(0, 0), (1, 1)], bounds, "#bbb", "4 3")
        + _polyline(points, bounds, COLOURS[1])
        + dots
    )
    return _frame("Calibration", body, "Predicted probability", "Observed frequency", _unit_ticks())


def curves_svg(history: list[dict[str, Any]], keys: Sequence[str], title: str) -> str:
    """Per-epoch curves of the given history keys (one colour each, legend on top)."""
    series = {}
    for key in keys:
        pts = [
            (float(h.get("epoch", i + 1)), float(h[key]))
            for i, h in enumerate(history)
            if isinstance(h.get(key), int | float)
        ]
        if pts:
            series[key] = pts
    if not series:
        return ""
    xs = [x for pts in series.values() for x, _ in pts]
    ys = [y for pts in series.values() for _, y in pts]
    x0, x1 = min(xs), max(max(xs), min(xs) + 1)
    y0, y1 = min(0.0, min(ys)), max(ys) * 1.05 or 1.0
    bounds = (x0, x1, y0, y1)
    body, legend = [], []
    for i, (key, pts) in enumerate(series.items()):
        colour = COLOURS[i % len(COLOURS)]
        body.append(_polyline(pts, bounds, colour) if len(pts) > 1 else "")
        body.extend(
            f'<circle cx="{a}" cy="{b}" r="2.5" fill="{colour}"/>'
            for a, b in (_scale(x, y, *bounds) for x, y in pts)
        )
        legend.append(
            f'<text x="{PAD + 6 + 90 * i}" y="20" font-size="10" fill="{colour}">'
            f"{escape(key)}</text>"
        )
    ticks = (
        f'<text x="{PAD - 4}" y="12" font-size="9" text-anchor="end">{y1:.3g}</text>'
        f'<text x="{PAD - 4}" y="{H - PAD}" font-size="9" text-anchor="end">{y0:.3g}</text>'
        f'<text x="{W - 8}" y="{H - PAD + 12}" font-size="9" text-anchor="end">'
        f"epoch {x1:g}</text>"
    )
    return _frame(title, "".join(body) + "".join(legend), "Epoch", "", ticks)


def xy_points(data: Any, x_key: str, y_key: str) -> list[tuple[float, float]]:
    if isinstance(data, dict) and x_key in data and y_key in data:
        pairs: Iterable[Any] = zip(data[x_key], data[y_key], strict=False)
    elif isinstance(data, list | tuple):
        pairs = (p for p in data if isinstance(p, list | tuple) and len(p) >= 2)
    else:
        return []
    out = []
    for x, y in pairs:
        if isinstance(x, int | float) and isinstance(y, int | float):
            out.append((float(x), float(y)))
    return out


def confusion_rows(confusion: Any, classes: Sequence[str] | None = None) -> dict[str, Any]:
    """A confusion matrix as table rows with shading: {"classes": [...], "rows": [[...]]}."""
    matrix = confusion.get("matrix") if isinstance(confusion, dict) else confusion
    if not isinstance(matrix, list) or not matrix:
        return {}
    names = list(
        (confusion.get("classes") if isinstance(confusion, dict) else None)
        or classes
        or [str(i) for i in range(len(matrix))]
    )
    peak = max((max(row) for row in matrix if row), default=1) or 1
    rows = [
        {
            "label": names[i] if i < len(names) else str(i),
            "cells": [{"value": v, "shade": round(0.1 + 0.8 * v / peak, 2)} for v in row],
        }
        for i, row in enumerate(matrix)
    ]
    return {"classes": names, "rows": rows}
