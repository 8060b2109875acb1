"""Retraining policies (reviewers create, edit, delete and run them; members read) and their
runs with the decision, the figures and the lineage. A policy's schedule becomes its
django-celery-beat PeriodicTask on every save. Refusals are 400s naming the field."""

from __future__ import annotations

import copy
from typing import Any

from django.contrib.auth import get_user_model
from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from ml.models import RetrainingPolicy, RetrainingRun
from ml.services import retraining
from ml.services.errors import MLServiceError
from senolab.api.errors import errors
from senolab.jobs.api.serializers import JobSerializer
from senolab.projects.models import Project, Role
from senolab.projects.permissions import ProjectRolePermission, filter_by_project, require_role

RETRAIN_ROLE = Role.REVIEWER


class RetrainingPolicySerializer(serializers.ModelSerializer):
    ground_truth_reader = serializers.SlugRelatedField(
        slug_field="username",
        queryset=get_user_model().objects.all(),
        required=False,
        allow_null=True,
        help_text="The reader whose reads are the ground truth (filters.ground_truth 'reader')",
    )
    created_by: serializers.SlugRelatedField = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )
    filters = serializers.JSONField(
        required=False,
        help_text="Which exams the snapshot takes and its ground truth: modality, reviewed_only, "
        "site, date_from, date_to, label_status, ground_truth, seed (as a data set export's)",
    )
    overrides = serializers.JSONField(
        required=False, help_text="Recipe fields replaced for these runs, e.g. {'epochs': 5}"
    )
    protected_sites = serializers.ListField(
        child=serializers.CharField(max_length=100), required=False
    )

    class Meta:
        model = RetrainingPolicy
        fields = [
            "id",
            "project",
            "recipe",
            "overrides",
            "filters",
            "ground_truth_reader",
            "cron",
            "interval_seconds",
            "enabled",
            "periodic_task",
            "min_new_annotations",
            "metric",
            "margin",
            "protected_sites",
            "fine_tune",
            "last_checked_at",
            "last_check",
            "created_by",
            "created_at",
            "updated_at",
        ]
        read_only_fields = [
            "periodic_task",
            "last_checked_at",
            "last_check",
            "created_by",
            "created_at",
            "updated_at",
        ]
        extra_kwargs = {
            "interval_seconds": {"min_value": 1, "max_value": 2**31 - 1},
            "margin": {"min_value": 0, "max_value": 1000},
        }

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if self.instance is not None and "project" in attrs:
            if attrs["project"].pk != self.instance.project_id:
                raise ValidationError({"project": ["A policy stays with its project."]})
        policy = copy.copy(self.instance) if self.instance else RetrainingPolicy()
        for name, value in attrs.items():
            setattr(policy, name, value)
        reader = attrs.get("ground_truth_reader")
        if reader is not None and not reader.memberships.filter(project=policy.project).exists():
            raise ValidationError({"ground_truth_reader": ["Name a member of this project."]})
        try:
            retraining.check_policy_fields(policy)
        except retraining.RetrainingRefused as exc:
            raise ValidationError({exc.field: [str(exc)]}) from exc
        return attrs


class RetrainingRunSerializer(serializers.ModelSerializer):
    job = JobSerializer(read_only=True, allow_null=True)
    created_by: serializers.SlugRelatedField = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )
    lineage = serializers.SerializerMethodField()

    class Meta:
        model = RetrainingRun
        fields = [
            "id",
            "project",
            "policy",
            "job",
            "trigger",
            "new_annotations",
            "snapshot",
            "training_run",
            "challenger",
            "champion",
            "metric",
            "margin",
            "protected_sites",
            "comparison",
            "decision",
            "reason",
            "lineage",
            "created_by",
            "created_at",
            "finished_at",
        ]
        read_only_fields = fields

    def get_lineage(self, obj: RetrainingRun) -> dict[str, Any]:
        """snapshot -> training run -> model version -> proposals -> reader decisions."""
        return retraining.lineage(obj)


class PolicyFilter(filters.FilterSet):
    class Meta:
        model = RetrainingPolicy
        fields = ["project"]


class RetrainingPolicyViewSet(viewsets.ModelViewSet):
    """Reviewers create, edit, delete and run a project's retraining policy; members read it."""

    serializer_class = RetrainingPolicySerializer
    filterset_class = PolicyFilter
    permission_classes = [IsAuthenticated, ProjectRolePermission]
    write_role = RETRAIN_ROLE
    lookup_value_regex = r"[0-9]{1,10}"

    def get_queryset(self):
        qs = RetrainingPolicy.objects.select_related(
            "project", "ground_truth_reader", "created_by"
        ).order_by("id")
        return filter_by_project(qs, self.request.user)

    @extend_schema(responses={201: RetrainingPolicySerializer, **errors(400, 401, 403, 404)})
    def create(self, request: Request, *args, **kwargs) -> Response:
        raw = str(request.data.get("project", "")) if hasattr(request.data, "get") else ""
        if not raw.isdigit():
            raise ValidationError({"project": ["Name the project (its id)."]})
        project = Project.objects.filter(pk=int(raw)).first()
        if project is None:
            raise NotFound("No such project.")
        require_role(request.user, project, RETRAIN_ROLE)  # before any 400 of the body
        body = self.get_serializer(data=request.data)
        body.is_valid(raise_exception=True)
        policy = body.save(created_by=request.user)
        return Response(self.get_serializer(policy).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        request=None, responses={201: RetrainingRunSerializer, **errors(400, 401, 403, 404)}
    )
    @action(detail=True, methods=["post"])
    def run(self, request: Request, pk: str | None = None) -> Response:
        """Start a retraining now, whatever the trigger says (400 while one is in progress)."""
        policy = self.get_object()
        try:
            run = retraining.start_retraining(policy, trigger="manual", user=request.user)
        except MLServiceError as exc:
            raise ValidationError({exc.field: [str(exc)]}) from exc
        run.refresh_from_db()  # a job run eagerly (tests, e2e) has finished by now
        return Response(RetrainingRunSerializer(run).data, status=status.HTTP_201_CREATED)


class RunFilter(filters.FilterSet):
    class Meta:
        model = RetrainingRun
        fields = ["project", "policy", "decision"]


class RetrainingRunViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """The retraining runs: decision, reason, figures and lineage (viewer+)."""

    serializer_class = RetrainingRunSerializer
    filterset_class = RunFilter
    permission_classes = [IsAuthenticated, ProjectRolePermission]
    lookup_value_regex = r"[0-9]{1,10}"

    def get_queryset(self):
        qs = RetrainingRun.objects.select_related(
            "job", "job__created_by", "created_by", "snapshot", "challenger"
        )
        return filter_by_project(qs, self.request.user)
