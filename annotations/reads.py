"""Blind first read: whether a user may see the model's proposals for an exam yet.

In a project with `blind_first_read`, a reader records and submits an own read of an exam
(ReadingAssignment.first_read, immutable once submitted) before any proposal of that exam is
shown to them. Owners (and staff) run and manage the models and always see proposals.
The proposals API calls `proposals_withheld` and refuses with its message.
"""

from __future__ import annotations

from annotations.models import ReadingAssignment
from senolab.imaging.models import Exam
from senolab.projects.models import Role
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
