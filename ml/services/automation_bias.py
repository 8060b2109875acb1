"""Automation-bias figures: how readers treat the model's proposals, per reader and version.

Two sources, both stored by the review loop:

- the review of each proposal (`Prediction.provenance`, `reviewed_by`, `review`): how many a
  reader accepted, edited (with the median IoU and Dice between the proposal and the final
  mark) and rejected (and why);
- blind readings (`ReadingAssignment.first_read` / `final_read`): whether a reader's BI-RADS
  changed after the proposals were revealed, and if so towards the model's call or away from
  it. The model's call on an exam is its exam-level prediction (probability at or above the
  version's threshold, 0.5 without one) from the newest version that predicted the exam before
  the final read was submitted.
"""

from __future__ import annotations

import csv
import io
import statistics
from collections import Counter, defaultdict
from typing import Any

from annotations.agreement_report import BIRADS_SCALE, submitted_read
from annotations.models import ReadingAssignment
from ml.models import Prediction, Provenance
from senolab.projects.models import Project

REVIEWED = (Provenance.ACCEPTED, Provenance.EDITED, Provenance.REJECTED)


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def _row(reader: str, version: int, recipe: str) -> dict[str, Any]:
    return {
        "reader": reader,
        "model_version": version,
        "recipe": recipe,
        "accepted": 0,
        "edited": 0,
        "rejected": 0,
        "median_edit_iou": None,
        "median_edit_dice": None,
        "rejection_reasons": {},
        "reads": 0,
        "changed_towards_model": 0,
        "changed_away_from_model": 0,
        "unchanged": 0,
    }


def _model_calls(project: Project) -> dict[int, list[tuple[Any, int, str, bool]]]:
    """exam id -> [(created_at, version id, recipe, positive)] of its exam-level predictions."""
    calls: dict[int, list[tuple[Any, int, str, bool]]] = defaultdict(list)
    rows = Prediction.objects.filter(project=project, image__isnull=True).select_related(
        "model_version"
    )
    for p in rows:
        probability = p.outputs.get("probability") if isinstance(p.outputs, dict) else None
        if not isinstance(probability, int | float):
            continue
        threshold = p.model_version.threshold if p.model_version.threshold is not None else 0.5
        calls[p.exam_id].append(
            (p.created_at, p.model_version_id, p.model_version.recipe, probability >= threshold)
        )
    return calls


def automation_bias(project: Project) -> dict[str, Any]:
    """Per reader and model version: proposals accepted, edited, rejected, edit size, and
    blind reads changed after the reveal towards or away from the model."""
    rows: dict[tuple[str, int], dict[str, Any]] = {}
    overlaps: dict[tuple[str, int], list[tuple[float, float]]] = defaultdict(list)
    reviewed = (
        Prediction.objects.filter(project=project, provenance__in=REVIEWED)
        .exclude(reviewed_by=None)
        .select_related("reviewed_by", "model_version")
    )
    for p in reviewed:
        if p.reviewed_by is None:  # excluded above; the reviewer's account may since be gone
            continue
        key = (p.reviewed_by.username, p.model_version_id)
        row = rows.setdefault(key, _row(key[0], key[1], p.model_version.recipe))
        row[p.provenance] += 1
        review = p.review if isinstance(p.review, dict) else {}
        overlap = review.get("overlap") or {}
        if p.provenance == Provenance.EDITED and "iou" in overlap and "dice" in overlap:
            overlaps[key].append((float(overlap["iou"]), float(overlap["dice"])))
        if p.provenance == Provenance.REJECTED and review.get("reason"):
            reasons = Counter(row["rejection_reasons"])
            reasons[review["reason"]] += 1
            row["rejection_reasons"] = dict(reasons)
    for key, pairs in overlaps.items():
        rows[key]["median_edit_iou"] = _median([i for i, _ in pairs])
        rows[key]["median_edit_dice"] = _median([d for _, d in pairs])

    calls = _model_calls(project)
    readings = ReadingAssignment.objects.filter(
        project=project,
        first_read_submitted_at__isnull=False,
        final_read_submitted_at__isnull=False,
    ).select_related("reader")
    for reading in readings:
        seen = [
            c for c in calls.get(reading.exam_id, []) if c[0] <= reading.final_read_submitted_at
        ]
        if not seen:
            continue  # no model had read this exam when the proposals were revealed
        _, version, recipe, positive = max(seen, key=lambda c: c[0])
        key = (reading.reader.username, version)
        row = rows.setdefault(key, _row(key[0], version, recipe))
        row["reads"] += 1
        first, _ = submitted_read(reading.first_read)
        final, _ = submitted_read(reading.final_read)
        if first not in BIRADS_SCALE or final not in BIRADS_SCALE or first == final:
            row["unchanged"] += 1
            continue
        more_severe = BIRADS_SCALE.index(final) > BIRADS_SCALE.index(first)
        row["changed_towards_model" if more_severe == positive else "changed_away_from_model"] += 1
    return {
        "project": project.pk,
        "rows": sorted(rows.values(), key=lambda r: (r["reader"], r["model_version"])),
    }


CSV_COLUMNS = (
    "reader",
    "model_version",
    "recipe",
    "accepted",
    "edited",
    "rejected",
    "median_edit_iou",
    "median_edit_dice",
    "reads",
    "changed_towards_model",
    "changed_away_from_model",
    "unchanged",
)


def automation_bias_csv(report: dict[str, Any]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([*CSV_COLUMNS, "rejection_reasons"])
    for row in report["rows"]:
        reasons = "; ".join(f"{k}: {v}" for k, v in sorted(row["rejection_reasons"].items()))
        writer.writerow([*("" if row[c] is None else row[c] for c in CSV_COLUMNS), reasons])
    return out.getvalue()
