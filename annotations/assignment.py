"""Independent readers: owners and reviewers put N readers on each exam.

Three ways, each recorded in ReadingAssignment.chosen_by:

- "readers": every named reader reads every selected exam.
- "count": each exam gets `per_exam` readers, the least loaded of the candidates first (their
  assignments in the project, ties by user id), so the choice is repeatable.
- "balanced": the same target, drawn at random with a seed (numpy's generator): the exams are
  taken in a shuffled order and each gets the least loaded candidates, ties broken at random.
  The seed is recorded, so the draw can be repeated.

Candidates are the named readers, or, when none are named, every member who may annotate.
Readers an exam already has count towards its `per_exam`; nobody is assigned twice.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
from django.db import transaction
from django.utils import timezone
from rest_framework.exceptions import ValidationError

from annotations.models import ReadingAssignment
from senolab.imaging.models import Exam
from senolab.projects.models import ROLE_RANK, Membership, Project, Role

MODES = ("readers", "count", "balanced")


def candidate_readers(project: Project, usernames: list[str] | None) -> list:
    """Members who may annotate, by the names given (all of them when none are)."""
    members = Membership.objects.filter(project=project).select_related("user")
    able = {
        m.user.username: m.user
        for m in members
        if ROLE_RANK[Role(m.role)] >= ROLE_RANK[Role.ANNOTATOR]
    }
    if not usernames:
        return sorted(able.values(), key=lambda u: u.pk)
    unknown = [n for n in usernames if n not in able]
    if unknown:
        raise ValidationError(
            {
                "readers": [
                    f"Not an annotator, reviewer or owner of this project: {', '.join(unknown)}."
                ]
            }
        )
    return [able[n] for n in dict.fromkeys(usernames)]


def assign_readers(
    project: Project,
    exams: list[Exam],
    *,
    mode: str,
    readers: list[str] | None = None,
    per_exam: int | None = None,
    seed: int | None = None,
    by=None,
) -> dict[str, Any]:
    """Create the assignments; returns what was created and how it was chosen."""
    if mode not in MODES:
        raise ValidationError({"mode": [f"One of {', '.join(MODES)}."]})
    if not exams:
        raise ValidationError({"exams": ["Select at least one exam."]})
    if any(exam.project_id != project.pk for exam in exams):
        raise ValidationError({"exams": ["Every exam must be of this project."]})
    candidates = candidate_readers(project, readers)
    if mode == "readers" and not readers:
        raise ValidationError({"readers": ["Name the readers of these exams."]})
    if mode != "readers":
        if not per_exam or per_exam < 1:
            raise ValidationError({"per_exam": ["How many readers each exam gets (1 or more)."]})
        if per_exam > len(candidates):
            raise ValidationError(
                {"per_exam": [f"Only {len(candidates)} readers can be chosen from."]}
            )
    if mode == "balanced" and seed is None:
        seed = int(np.random.SeedSequence().entropy % 2**31)  # type: ignore[operator]
    chosen_by: dict[str, Any] = {"draw": mode, "by": getattr(by, "username", None)}
    if mode == "balanced":
        chosen_by["seed"] = seed
    if mode == "count" or mode == "balanced":
        chosen_by["per_exam"] = per_exam
    chosen_by["at"] = timezone.now().isoformat()

    with transaction.atomic():
        existing: dict[int, set[int]] = {exam.pk: set() for exam in exams}
        for exam_id, reader_id in ReadingAssignment.objects.filter(exam__in=exams).values_list(
            "exam_id", "reader_id"
        ):
            existing[exam_id].add(reader_id)
        load = Counter(
            ReadingAssignment.objects.filter(project=project).values_list("reader_id", flat=True)
        )
        rng = np.random.default_rng(seed) if mode == "balanced" else None
        order = list(exams)
        if rng is not None:
            order = [order[i] for i in rng.permutation(len(order))]
        created = []
        for exam in order:
            if mode == "readers":
                picks = [u for u in candidates if u.pk not in existing[exam.pk]]
            else:
                assert per_exam is not None
                free = [u for u in candidates if u.pk not in existing[exam.pk]]
                wanted = max(0, per_exam - len(existing[exam.pk]))
                ties = rng.random(len(free)) if rng is not None else [u.pk for u in free]
                ranked = sorted(zip(free, ties, strict=True), key=lambda p: (load[p[0].pk], p[1]))
                picks = [u for u, _ in ranked[:wanted]]
            for user in picks:
                created.append(
                    ReadingAssignment.objects.create(
                        project=project, exam=exam, reader=user, chosen_by=chosen_by
                    )
                )
                load[user.pk] += 1
                existing[exam.pk].add(user.pk)
    return {
        "created": len(created),
        "seed": seed,
        "assignments": [
            {"exam": a.exam_id, "reader": a.reader.username, "chosen_by": a.chosen_by}
            for a in sorted(created, key=lambda a: (a.exam_id, a.reader.username))
        ],
    }
