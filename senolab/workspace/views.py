"""The workspace pages: each is one HTML shell that starts the Vite-built frontend.

Contract with the frontend (frontend/, built by Vite with `build.manifest: true`, `base:
"/static/"` and the entry "src/main.ts"): the page holds `<div id="app" data-page=...>` and a
JSON script `#senolab-config` with
    page       "worklist" | "exam" | "slide" | "projects"
    apiBase    "/api/"
    csrfToken  send as X-CSRFToken on every write (session auth; the API checks CSRF)
    user       {"id", "username", "isStaff"};  projects  [{"id", "name", "role"}]
    projectId, examId, slideId   the ids the page is about (those that apply)
Without a build the page says "Frontend not built: run make" instead of loading a script.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.middleware.csrf import get_token
from django.shortcuts import render

from senolab.imaging.models import Exam, Slide
from senolab.projects.models import Membership, Project
from senolab.projects.permissions import filter_by_project, role_of
from senolab.workspace import vite


class LoginView(auth_views.LoginView):
    """Django's log-in form at /login/, redirecting already signed-in users."""

    template_name = "registration/login.html"
    redirect_authenticated_user = True


def project_refs(user) -> list[dict[str, Any]]:
    projects = filter_by_project(Project.objects.all(), user, field="pk").order_by("name")
    roles = dict(Membership.objects.filter(user=user).values_list("project_id", "role"))
    return [
        {"id": p.pk, "name": p.name, "role": roles.get(p.pk) or role_of(user, p)} for p in projects
    ]


def workspace_page(request: HttpRequest, page: str, title: str, **ids: Any) -> HttpResponse:
    """Render the shell; without a frontend build, a page that says how to build it."""
    config = {
        "page": page,
        "apiBase": "/api/",
        "csrfToken": get_token(request),
        "user": {
            "id": request.user.pk,
            "username": request.user.get_username(),
            "isStaff": bool(request.user.is_staff),
        },
        "projects": project_refs(request.user),
        **ids,
    }
    try:
        assets, missing = vite.entry_assets(), ""
    except vite.FrontendNotBuilt as exc:
        assets, missing = None, str(exc)
    context = {"config": config, "assets": assets, "missing": missing, "title": title}
    return render(request, "workspace/page.html", context, status=200)


@login_required
def worklist(request: HttpRequest) -> HttpResponse:
    projects = project_refs(request.user)
    chosen = request.GET.get("project")
    project_id = next((p["id"] for p in projects if str(p["id"]) == chosen), None)
    if chosen and project_id is None:
        raise Http404("No such project.")
    if project_id is None and projects:
        project_id = projects[0]["id"]
    return workspace_page(request, "worklist", "Worklist", projectId=project_id)


@login_required
def projects(request: HttpRequest) -> HttpResponse:
    """Projects, members and roles (owners manage them; everyone may create a project)."""
    chosen = request.GET.get("project")
    ids = {p["id"] for p in project_refs(request.user)}
    project_id = int(chosen) if chosen and chosen.isdigit() and int(chosen) in ids else None
    return workspace_page(request, "projects", "Projects", projectId=project_id)


@login_required
def exam(request: HttpRequest, exam_id: int) -> HttpResponse:
    found = filter_by_project(Exam.objects.all(), request.user).filter(pk=exam_id).first()
    if found is None:
        raise Http404("No such exam.")
    return workspace_page(
        request, "exam", f"Exam {found.pk}", projectId=found.project_id, examId=found.pk
    )


@login_required
def slide(request: HttpRequest, slide_id: int) -> HttpResponse:
    found = filter_by_project(Slide.objects.all(), request.user).filter(pk=slide_id).first()
    if found is None:
        raise Http404("No such slide.")
    return workspace_page(
        request,
        "slide",
        f"Slide {found.pk}",
        projectId=found.project_id,
        examId=found.exam_id,
        slideId=found.pk,
    )
