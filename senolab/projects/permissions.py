"""Per-project access: every queryset and object check in the API goes through here."""

from __future__ import annotations

from django.db.models import QuerySet
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.permissions import SAFE_METHODS, BasePermission

from senolab.projects.models import ROLE_RANK, Membership, Project, Role


def role_of(user, project: Project | int) -> str | None:
    """The user's role in the project, or None. Staff count as owners everywhere."""
    if not user or not user.is_authenticated:
        return None
    if user.is_staff:
        return Role.OWNER
    project_id = project if isinstance(project, int) else project.pk
    return (
        Membership.objects.filter(project_id=project_id, user=user)
        .values_list("role", flat=True)
        .first()
    )


def has_role(user, project: Project | int, minimum: str) -> bool:
    role = role_of(user, project)
    return role is not None and ROLE_RANK[Role(role)] >= ROLE_RANK[Role(minimum)]


def visible_project_ids(user, minimum: str = Role.VIEWER) -> QuerySet | None:
    """Project ids the user may see at the given role; None means all (staff)."""
    if user.is_staff:
        return None
    allowed = [r for r, rank in ROLE_RANK.items() if rank >= ROLE_RANK[Role(minimum)]]
    return Membership.objects.filter(user=user, role__in=allowed).values("project_id")


def filter_by_project(
    queryset: QuerySet, user, field: str = "project", minimum: str = Role.VIEWER
) -> QuerySet:
    """Restrict queryset to rows whose `field` is a project the user holds `minimum` in."""
    if not user or not user.is_authenticated:
        return queryset.none()
    ids = visible_project_ids(user, minimum)
    if ids is None:
        return queryset
    return queryset.filter(**{f"{field}__in": ids})


def require_role(user, project: Project | int, minimum: str) -> None:
    """Raise 404 when the user cannot see the project at all (so nothing leaks), 403 when the
    user can see it but lacks the role for this action."""
    role = role_of(user, project)
    if role is None:
        raise NotFound("No such project.")
    if ROLE_RANK[Role(role)] < ROLE_RANK[Role(minimum)]:
        raise PermissionDenied(f"This needs the {minimum} role in the project; you are {role}.")


class ProjectRolePermission(BasePermission):
    """Object permission: reading needs `read_role`, writing needs `write_role`.

    Views set `read_role`/`write_role` and filter their querysets with filter_by_project, so an
    object of another project is a 404 before this runs.
    """

    def has_object_permission(self, request, view, obj) -> bool:
        project_id = getattr(obj, "project_id", None) or obj.pk
        minimum = (
            getattr(view, "read_role", Role.VIEWER)
            if request.method in SAFE_METHODS
            else getattr(view, "write_role", Role.ANNOTATOR)
        )
        require_role(request.user, project_id, minimum)
        return True
