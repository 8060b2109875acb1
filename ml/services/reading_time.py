"""Readers' minutes per exam, by modality, for rounds budgeted in minutes instead of exams.

A modality's minutes per exam is the median reading time the project has recorded for it (a
finished ReadingAssignment's finished_at - started_at, over at least MIN_RECORDED_READINGS of
them); a modality with fewer recorded readings takes the default the request (or the project's
policy) gives for it. An exam's modality is the version's, or else that of its first image.
"""

from __future__ import annotations

import statistics
from collections import defaultdict

from annotations.models import ReadingAssignment, ReadingStatus
from senolab.imaging.models import Image
from senolab.projects.models import Project

MIN_RECORDED_READINGS = 3


def exam_modalities(exam_ids: list[int], modality: str = "") -> dict[int, str]:
    """Each exam's modality: `modality` when the model reads one, else its first image's."""
    if modality:
        return {e: modality for e in exam_ids}
    found: dict[int, str] = {}
    for exam_id, image_modality in (
        Image.objects.filter(exam_id__in=exam_ids).order_by("pk").values_list("exam_id", "modality")
    ):
        found.setdefault(exam_id, image_modality)
    return found


def recorded_minutes(project: Project) -> dict[str, tuple[float, int]]:
    """(median minutes, readings) per modality of the project's finished, timed readings."""
    readings = ReadingAssignment.objects.filter(
        project=project,
        status=ReadingStatus.DONE,
        started_at__isnull=False,
        finished_at__isnull=False,
    ).values_list("exam_id", "started_at", "finished_at")
    rows = list(readings)
    modality_of = exam_modalities(sorted({exam for exam, _, _ in rows}))
    minutes: dict[str, list[float]] = defaultdict(list)
    for exam, started, finished in rows:
        if exam in modality_of and started and finished and finished > started:
            minutes[modality_of[exam]].append((finished - started).total_seconds() / 60)
    return {m: (statistics.median(v), len(v)) for m, v in minutes.items()}


def minutes_per_exam(
    project: Project, modalities: set[str], defaults: dict[str, float]
) -> tuple[dict[str, float], dict[str, str], list[str]]:
    """(minutes per modality, where each came from: "recorded" or "default", the modalities
    that have neither)."""
    recorded = recorded_minutes(project)
    minutes: dict[str, float] = {}
    source: dict[str, str] = {}
    missing: list[str] = []
    for modality in sorted(modalities):
        median, count = recorded.get(modality, (0.0, 0))
        if count >= MIN_RECORDED_READINGS and median > 0:
            minutes[modality], source[modality] = round(median, 3), "recorded"
        elif defaults.get(modality, 0) > 0:
            minutes[modality], source[modality] = float(defaults[modality]), "default"
        else:
            missing.append(modality)
    return minutes, source, missing
