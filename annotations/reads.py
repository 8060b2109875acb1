"""Blind first read: a reader's own read of an exam, submitted before the proposals are shown.

In a project with `blind_first_read`, a reader records and submits an own read of an exam
(ReadingAssignment.first_read, immutable once submitted) before any proposal of that exam is
shown to them. Owners (and staff) run and manage the models and always see proposals.
The proposals API calls `proposals_withheld` and refuses with its message; lists of proposals
leave out the exams in `withheld_exams`. After the reveal the reader corrects the read and
submits it as final (ReadingAssignment.final_read); both snapshots are kept.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from rest_framework.exceptions import ValidationError

from annotations import services
from annotations.models import (
    ExamLabel,
    Finding,
    ReadingAssignment,
    ReadingStatus,
    Source,
)
from senolab.api.errors import Conflict
from senolab.imaging.models import Exam
from senolab.projects.models import Membership, Role
from senolab.projects.permissions import has_role

FIRST_READ_FIRST = (
    "This project reads blind: submit your own first read of this exam before the model's "
    "proposals are shown."
)


def first_read_submitted(exam: Exam, user) -> bool:
    return ReadingAssignment.objects.filter(
        exam=exam, reader=user, first_read_submitted_at__isnull=False
    ).exists()


def proposals_withheld(exam: Exam, user) -> str | None:
    """None when the user may see the exam's proposals, else the reason they may not."""
    if not exam.project.blind_first_read:
        return None
    if has_role(user, exam.project, Role.OWNER):
        return None
    if first_read_submitted(exam, user):
        return None
    return FIRST_READ_FIRST


def withheld_exams(user) -> QuerySet[Exam]:
    """Every exam whose proposals are withheld from the user (for filtering lists)."""
    if not user or not user.is_authenticated or user.is_staff:
        return Exam.objects.none()
    blind = Membership.objects.filter(user=user, project__blind_first_read=True).exclude(
        role=Role.OWNER
    )
    submitted = ReadingAssignment.objects.filter(
        reader=user, first_read_submitted_at__isnull=False
    ).values("exam_id")
    return Exam.objects.filter(project__in=blind.values("project_id")).exclude(pk__in=submitted)


def own_read(exam: Exam, user) -> dict[str, Any]:
    """The user's own findings (with marks) and labels of the exam, as the API shows them."""
    findings = (
        Finding.objects.filter(exam=exam, source=Source.HUMAN, created_by=user, deleted=False)
        .prefetch_related("marks")
        .order_by("id")
    )
    labels = ExamLabel.objects.filter(exam=exam, source=Source.HUMAN, author=user).order_by(
        "laterality", "id"
    )
    return {
        "findings": [services.finding_data(f) for f in findings],
        "labels": [services.label_data(label) for label in labels],
    }


def _reading(exam: Exam, user) -> ReadingAssignment:
    reading, _ = ReadingAssignment.objects.select_for_update().get_or_create(
        exam=exam, reader=user, defaults={"project": exam.project}
    )
    return reading


def submit_first_read(exam: Exam, user) -> ReadingAssignment:
    """Freeze the reader's own read of the exam as the first read; it can never change again
    (a second submission is a Conflict, HTTP 409)."""
    if not exam.project.blind_first_read:
        raise ValidationError(
            {"exam": ["This project does not read blind: there is no first read to submit."]}
        )
    now = timezone.now()
    with transaction.atomic():
        reading = _reading(exam, user)
        if reading.first_read_submitted_at is not None:
            raise Conflict(
                "Your first read of this exam was submitted "
                f"{reading.first_read_submitted_at:%Y-%m-%d %H:%M} UTC and cannot be changed; "
                "record changes in your final read."
            )
        reading.first_read = {**own_read(exam, user), "submitted_at": now.isoformat()}
        reading.first_read_submitted_at = now
        if reading.status == ReadingStatus.ASSIGNED:
            reading.status, reading.started_at = ReadingStatus.IN_PROGRESS, now
        reading.save()
    return reading


def submit_final_read(exam: Exam, user) -> ReadingAssignment:
    """Freeze the reader's read as final and mark the reading done. In a blind project the
    first read must have been submitted; a final read is submitted once (409 after)."""
    now = timezone.now()
    with transaction.atomic():
        reading = _reading(exam, user)
        if exam.project.blind_first_read and reading.first_read_submitted_at is None:
            raise Conflict("Submit your first read of this exam before the final read.")
        if reading.final_read_submitted_at is not None:
            raise Conflict(
                "Your final read of this exam was submitted "
                f"{reading.final_read_submitted_at:%Y-%m-%d %H:%M} UTC and cannot be changed."
            )
        reading.final_read = {**own_read(exam, user), "submitted_at": now.isoformat()}
        reading.final_read_submitted_at = now
        reading.status = ReadingStatus.DONE
        reading.started_at = reading.started_at or now
        reading.finished_at = now
        reading.save()
    return reading


def reading_state(exam: Exam, user) -> dict[str, Any]:
    """What the exam page needs to offer the right button."""
    reading = ReadingAssignment.objects.filter(exam=exam, reader=user).first()
    return {
        "exam": exam.pk,
        "blind_first_read": exam.project.blind_first_read,
        "private_reads": exam.project.private_reads,
        "status": reading.status if reading else "unassigned",
        "first_read_submitted_at": reading.first_read_submitted_at if reading else None,
        "final_read_submitted_at": reading.final_read_submitted_at if reading else None,
        "proposals_withheld": proposals_withheld(exam, user) is not None,
    }
