"""Private reads: in a project with `private_reads`, each reader's findings and labels are seen
by that reader alone until the exam is closed (its status "done", which recording the
adjudicated consensus sets). Owners and staff see every read. Reviewers, who adjudicate, see the
reads of an exam once every reading of it is done (nothing left to bias), in the findings API and
the viewer as in the adjudication queue (annotations.adjudication).

The findings, mark-mask, exam-label and worklist views filter their rows with
`without_private_reads`, on the server, so nothing of another reader's read reaches the page.
Imported reference rows and the consensus are not a reader's read and are not hidden here
(the reference has its own rule: senolab/projects/reference.py).
"""

from __future__ import annotations

from django.db.models import Q, QuerySet

from annotations.models import ReadingAssignment, ReadingStatus, Source
from senolab.imaging.models import ExamStatus
from senolab.projects.models import Membership, Role


def private_project_ids(user) -> dict[int, str]:
    """Projects with private reads in which the user is not an owner, with the user's role
    there (staff: none)."""
    if not user or not user.is_authenticated or user.is_staff:
        return {}
    return dict(
        Membership.objects.filter(user=user, project__private_reads=True)
        .exclude(role=Role.OWNER)
        .values_list("project_id", "role")
    )


def _fully_read_exam_ids():
    """Exams with readings, every one of them done (a subquery)."""
    unfinished = ReadingAssignment.objects.exclude(status=ReadingStatus.DONE).values("exam_id")
    return ReadingAssignment.objects.exclude(exam_id__in=unfinished).values("exam_id").distinct()


def others_reads_q(user, author_field: str, prefix: str = "") -> Q | None:
    """Rows (findings: author_field "created_by"; labels: "author") that are other readers'
    reads of open exams in the user's private projects; None when there are none to hide."""
    private = private_project_ids(user)
    if not private:
        return None
    reviewing = [pid for pid, role in private.items() if role == Role.REVIEWER]
    reading = [pid for pid, role in private.items() if role != Role.REVIEWER]
    scope = Q(**{f"{prefix}project__in": reading}) | (
        Q(**{f"{prefix}project__in": reviewing})
        & ~Q(**{f"{prefix}exam__in": _fully_read_exam_ids()})
    )
    return (
        scope
        & Q(**{f"{prefix}source": Source.HUMAN})
        & ~Q(**{f"{prefix}{author_field}": user})
        & ~Q(**{f"{prefix}exam__status": ExamStatus.DONE})
    )


def without_private_reads(rows: QuerySet, user, author_field: str) -> QuerySet:
    hidden = others_reads_q(user, author_field)
    return rows if hidden is None else rows.exclude(hidden)
