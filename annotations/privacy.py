"""Private reads: in a project with `private_reads`, each reader's findings and labels are seen
by that reader alone until the exam is closed (its status "done", which recording the
adjudicated consensus sets). Owners and staff see every read; reviewers see the reads side by
side in the adjudication queue (annotations.adjudication), not in the findings API.

The findings, mark-mask, exam-label and worklist views filter their rows with
`without_private_reads`, on the server, so nothing of another reader's read reaches the page.
Imported reference rows and the consensus are not a reader's read and are not hidden here
(the reference has its own rule: senolab/projects/reference.py).
"""

from __future__ import annotations

from django.db.models import Q, QuerySet

from annotations.models import Source
from senolab.imaging.models import ExamStatus
from senolab.projects.models import Membership, Role


def private_project_ids(user) -> set[int]:
    """Projects with private reads in which the user is not an owner (staff: none)."""
    if not user or not user.is_authenticated or user.is_staff:
        return set()
    return set(
        Membership.objects.filter(user=user, project__private_reads=True)
        .exclude(role=Role.OWNER)
        .values_list("project_id", flat=True)
    )


def others_reads_q(user, author_field: str, prefix: str = "") -> Q | None:
    """Rows (findings: author_field "created_by"; labels: "author") that are other readers'
    reads of open exams in the user's private projects; None when there are none to hide."""
    private = private_project_ids(user)
    if not private:
        return None
    return (
        Q(**{f"{prefix}project__in": private})
        & Q(**{f"{prefix}source": Source.HUMAN})
        & ~Q(**{f"{prefix}{author_field}": user})
        & ~Q(**{f"{prefix}exam__status": ExamStatus.DONE})
    )


def without_private_reads(rows: QuerySet, user, author_field: str) -> QuerySet:
    hidden = others_reads_q(user, author_field)
    return rows if hidden is None else rows.exclude(hidden)
