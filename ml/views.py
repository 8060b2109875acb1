"""The ML pages: training runs, one run, one model version. Each is the workspace's HTML shell
(senolab/workspace/views.py) starting the Vite-built frontend (frontend/src/ml/); the data come
from the ML API. Only what the page is about is checked here: an object of a project the user
is not a member of is a 404, as in the API."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse

from ml.models import ModelVersion, TrainingRun
from senolab.projects.permissions import filter_by_project
from senolab.workspace.views import project_refs, workspace_page


@login_required
def run_list(request: HttpRequest) -> HttpResponse:
    chosen = request.GET.get("project", "")
    visible = [p["id"] for p in project_refs(request.user)]
    project_id = int(chosen) if chosen.isdigit() and int(chosen) in visible else None
    if chosen and project_id is None:
        raise Http404("No such project.")
    return workspace_page(request, "ml-runs", "Training runs and models", projectId=project_id)


@login_required
def rounds(request: HttpRequest, project_id: int) -> HttpResponse:
    """A project's active-learning rounds: the open one's picks, start one, the learning curve."""
    if project_id not in [p["id"] for p in project_refs(request.user)]:
        raise Http404("No such project.")
    return workspace_page(request, "ml-rounds", "Active learning", projectId=project_id)


@login_required
def run_detail(request: HttpRequest, pk: int) -> HttpResponse:
    run = filter_by_project(TrainingRun.objects.all(), request.user).filter(pk=pk).first()
    if run is None:
        raise Http404("No such training run.")
    return workspace_page(
        request, "ml-run", f"Training run {run.pk}", projectId=run.project_id, runId=run.pk
    )


@login_required
def version_detail(request: HttpRequest, pk: int) -> HttpResponse:
    version = filter_by_project(ModelVersion.objects.all(), request.user).filter(pk=pk).first()
    if version is None:
        raise Http404("No such model version.")
    return workspace_page(
        request,
        "ml-version",
        f"Model version {version.pk}",
        projectId=version.project_id,
        versionId=version.pk,
    )
