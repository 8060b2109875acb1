"""GET /api/automation-bias/: how readers treat the model's proposals (see the service)."""

from __future__ import annotations

from django.http import HttpResponse
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotations.api.worklist import requested_project
from ml.services.automation_bias import automation_bias, automation_bias_csv
from senolab.api.errors import errors
from senolab.projects.models import Role


class AutomationBiasRowSerializer(serializers.Serializer):
    reader = serializers.CharField()
    model_version = serializers.IntegerField()
    recipe = serializers.CharField()
    accepted = serializers.IntegerField()
    edited = serializers.IntegerField()
    rejected = serializers.IntegerField()
    median_edit_iou = serializers.FloatField(allow_null=True)
    median_edit_dice = serializers.FloatField(allow_null=True)
    rejection_reasons = serializers.DictField(child=serializers.IntegerField())
    reads = serializers.IntegerField(help_text="Blind readings whose exam the version had read")
    changed_towards_model = serializers.IntegerField()
    changed_away_from_model = serializers.IntegerField()
    unchanged = serializers.IntegerField()


class AutomationBiasSerializer(serializers.Serializer):
    project = serializers.IntegerField()
    rows = AutomationBiasRowSerializer(many=True)


class AutomationBiasView(APIView):
    """Per reader and model version: proposals accepted, edited (median IoU and Dice to the
    proposal) and rejected (with reasons), and blind reads changed after the reveal towards or
    away from the model's call; `download=csv` gives a CSV file (owners and reviewers)."""

    @extend_schema(
        parameters=[
            OpenApiParameter("project", int, required=True),
            OpenApiParameter("download", str, enum=["csv"]),
        ],
        responses={
            200: AutomationBiasSerializer,
            (200, "text/csv"): bytes,
            **errors(400, 401, 403, 404),
        },
    )
    def get(self, request: Request) -> Response | HttpResponse:
        project = requested_project(request, Role.REVIEWER)
        report = automation_bias(project)
        if request.query_params.get("download") == "csv":
            response = HttpResponse(automation_bias_csv(report), content_type="text/csv")
            response["Content-Disposition"] = (
                f'attachment; filename="automation-bias-project-{project.pk}.csv"'
            )
            return response
        return Response(report)
