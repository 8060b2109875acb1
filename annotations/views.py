"""The readers' pages of a project: the adjudication queue and the agreement figures. Each is
the workspace's HTML shell starting the Vite-built frontend (frontend/src/readers/); the data
come from the API, which checks the reviewer role. A project the user is not in is a 404."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse

from senolab.workspace.views import project_refs, workspace_page


def _project_id(request: HttpRequest, project_id: int) -> int:
    if project_id not in {p["id"] for p in project_refs(request.user)}:
        raise Http404("No such project.")
    return project_id


@login_required
def adjudication(request: HttpRequest, project_id: int) -> HttpResponse:
    pid = _project_id(request, project_id)
    return workspace_page(request, "adjudication", "Adjudication", projectId=pid)


@login_required
def agreement(request: HttpRequest, project_id: int) -> HttpResponse:
    pid = _project_id(request, project_id)
    return workspace_page(request, "agreement", "Reader agreement", projectId=pid)
