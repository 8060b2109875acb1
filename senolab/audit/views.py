"""GET /audit/: the access audit log as a server-rendered table (no script), with the same
filters and rules as /api/audit/."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from senolab.audit import services
from senolab.audit.filters import PROJECT_ID, AuditEventFilter
from senolab.projects.models import Project, Role
from senolab.projects.permissions import filter_by_project, has_role, role_of

PAGE_ROWS = 200


@login_required
def audit_log(request: HttpRequest) -> HttpResponse:
    user = request.user
    project = request.GET.get("project", "")
    if project:
        if not PROJECT_ID.fullmatch(project) or role_of(user, int(project)) is None:
            raise Http404("No such project.")
        if not has_role(user, int(project), Role.OWNER):
            raise PermissionDenied("Reading the audit log needs the owner role in the project.")
    elif not services.owns_any_project(user):
        raise PermissionDenied("Reading the audit log needs the owner role in a project.")
    found = AuditEventFilter(request.GET, queryset=services.readable_events(user))
    rows = found.qs.select_related("project")[:PAGE_ROWS] if found.is_valid() else []
    projects = filter_by_project(Project.objects.all(), user, field="pk", minimum=Role.OWNER)
    context = {
        "form": found.form,
        "rows": rows,
        "projects": projects.order_by("name"),
        "limit": PAGE_ROWS,
    }
    return render(request, "audit/log.html", context, status=200 if found.is_valid() else 400)
