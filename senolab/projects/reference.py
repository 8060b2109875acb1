"""Blind reading in the platform core: which projects hide their reference data (imported
ground truth) from a user, and which exams carry some.

Findings and labels live in the annotations app, which builds on the core; the core reaches
them only through Exam's reverse relations and the source value below, never by importing
annotations (docs/adr/0003). annotations.services builds its filters on these.
"""

from __future__ import annotations

from django.db.models import Q, QuerySet

from senolab.imaging.models import Exam
from senolab.projects.models import Membership, Project, Role

# annotations.models.Source.REFERENCE (a test keeps the two equal).
REFERENCE_SOURCE = "reference"
# Who may see reference data in a project that hides it.
REFERENCE_READERS = (Role.REVIEWER, Role.OWNER)


def blind_project_ids(user) -> set[int]:
    """Projects that hide reference data from this user: those with `hide_reference` on where
    the user is a viewer or an annotator. Staff count as owners, so none for them."""
    if not user or not user.is_authenticated or user.is_staff:
        return set()
    return set(
        Membership.objects.filter(user=user, project__hide_reference=True)
        .exclude(role__in=REFERENCE_READERS)
        .values_list("project_id", flat=True)
    )


def hides_reference(user, project: Project | int) -> bool:
    project_id = project if isinstance(project, int) else project.pk
    return project_id in blind_project_ids(user)


def without_hidden_reference(rows: QuerySet, user, project_field: str = "project") -> QuerySet:
    """Findings or exam labels less the reference rows of projects that hide them from user."""
    blind = blind_project_ids(user) if user else set()
    if not blind:
        return rows
    return rows.exclude(Q(source=REFERENCE_SOURCE) & Q(**{f"{project_field}__in": blind}))


def exams_with_reference(exams: Q) -> set[int]:
    """Of the exams matching `exams`, those that carry imported ground truth (a reference
    finding or label)."""
    carrying = Q(findings__source=REFERENCE_SOURCE) | Q(labels__source=REFERENCE_SOURCE)
    return set(Exam.objects.filter(exams).filter(carrying).values_list("pk", flat=True).distinct())


def blind_description(exam: Exam, blind: set[int], with_reference: set[int]) -> str:
    """The exam's description, or "" where it may name the reference (importers write the
    class, e.g. "BUSI benign") and the user reads the project blind."""
    if exam.project_id in blind and exam.pk in with_reference:
        return ""
    return exam.description
