"""Server-rendered ML pages: training runs (live progress, curves) and model versions."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from ml import charts
from ml.api.serializers import flat_metrics
from ml.models import ModelVersion, TrainingRun
from senolab.projects.models import Project
from senolab.projects.permissions import filter_by_project, has_role

LOSS_KEYS = ("train_loss", "val_loss")


def _metric_keys(history: list[dict]) -> list[str]:
    keys = {k for h in history for k, v in h.items() if isinstance(v, int | float)}
    return sorted(k for k in keys if k not in LOSS_KEYS and k not in ("epoch", "lr", "seconds"))


@login_required
def run_list(request: HttpRequest) -> HttpResponse:
    runs = filter_by_project(TrainingRun.objects.select_related("job", "project"), request.user)
    projects = filter_by_project(Project.objects.all(), request.user, field="pk")
    project_id = request.GET.get("project", "")
    if project_id.isdigit():
        runs = runs.filter(project_id=int(project_id))
    versions = filter_by_project(ModelVersion.objects.select_related("project"), request.user)
    if project_id.isdigit():
        versions = versions.filter(project_id=int(project_id))
    return render(
        request,
        "ml/run_list.html",
        {
            "runs": runs[:100],
            "versions": versions[:100],
            "projects": projects,
            "project_id": project_id,
        },
    )


@login_required
def run_detail(request: HttpRequest, pk: int) -> HttpResponse:
    run = get_object_or_404(
        filter_by_project(
            TrainingRun.objects.select_related("job", "project", "snapshot"), request.user
        ),
        pk=pk,
    )
    history = run.history or []
    return render(
        request,
        "ml/run_detail.html",
        {
            "run": run,
            "version": getattr(run, "model_version", None),
            "loss_svg": charts.curves_svg(history, LOSS_KEYS, "Loss"),
            "metric_svg": charts.curves_svg(
                history, _metric_keys(history)[:4], "Validation metrics"
            ),
        },
    )


@login_required
def version_detail(request: HttpRequest, pk: int) -> HttpResponse:
    version = get_object_or_404(
        filter_by_project(
            ModelVersion.objects.select_related("project", "trained_by", "parent"), request.user
        ),
        pk=pk,
    )
    metrics = version.metrics or {}
    return render(
        request,
        "ml/version_detail.html",
        {
            "version": version,
            "metrics": sorted(flat_metrics(metrics).items()),
            "roc_svg": charts.roc_svg(metrics.get("roc"), metrics.get("auc")),
            "calibration_svg": charts.calibration_svg(metrics.get("calibration")),
            "confusion": charts.confusion_rows(metrics.get("confusion")),
            "can_manage": has_role(request.user, version.project_id, "reviewer"),
        },
    )
