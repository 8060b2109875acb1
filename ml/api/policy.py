"""A project's active-learning policy: a round after each training (members read it, owners set
it, as the project's other settings). GET of a project without one gives the defaults."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from ml.models import ActiveLearningPolicy
from ml.services import active_learning
from senolab.api.errors import errors
from senolab.projects.models import Project, Role
from senolab.projects.permissions import require_role

POLICY_OPTIONS = ("seed", "aggregate", "rare_class", "rare_share", "mc_samples", "readers")


class ActiveLearningPolicySerializer(serializers.ModelSerializer):
    strategy = serializers.ChoiceField(choices=list(active_learning.ROUND_STRATEGIES))
    budget = serializers.IntegerField(min_value=1, max_value=2**31 - 1, required=False)
    budget_minutes = serializers.FloatField(
        min_value=1, max_value=1e9, required=False, allow_null=True
    )
    minutes_per_exam = serializers.DictField(
        child=serializers.FloatField(min_value=0.01, max_value=1e6), required=False
    )
    params = serializers.DictField(
        required=False,
        help_text=f"Other round options: {', '.join(POLICY_OPTIONS)} (readers as usernames)",
    )

    class Meta:
        model = ActiveLearningPolicy
        fields = [
            "project",
            "after_training",
            "strategy",
            "budget",
            "budget_minutes",
            "minutes_per_exam",
            "params",
            "updated_at",
        ]
        read_only_fields = ["project", "updated_at"]

    def validate_params(self, value: dict[str, Any]) -> dict[str, Any]:
        unknown = sorted(set(value) - set(POLICY_OPTIONS))
        if unknown:
            raise serializers.ValidationError(
                f"Unknown option(s) {', '.join(unknown)}; use {', '.join(POLICY_OPTIONS)}."
            )
        return value


class ActiveLearningPolicyView(APIView):
    """The project's round-after-training policy: read (viewer+), set (owner)."""

    def _project(self, request: Request, pk: int, minimum: str) -> Project:
        project = Project.objects.filter(pk=pk).first()
        if project is None:
            raise NotFound("No such project.")
        require_role(request.user, project, minimum)
        return project

    @extend_schema(responses={200: ActiveLearningPolicySerializer, **errors(401, 404)})
    def get(self, request: Request, pk: int) -> Response:
        project = self._project(request, pk, Role.VIEWER)
        policy = ActiveLearningPolicy.objects.filter(project=project).first()
        return Response(
            ActiveLearningPolicySerializer(policy or ActiveLearningPolicy(project=project)).data
        )

    @extend_schema(
        request=ActiveLearningPolicySerializer,
        responses={200: ActiveLearningPolicySerializer, **errors(400, 401, 403, 404)},
    )
    def put(self, request: Request, pk: int) -> Response:
        project = self._project(request, pk, Role.OWNER)
        policy = ActiveLearningPolicy.objects.filter(project=project).first()
        body = ActiveLearningPolicySerializer(
            policy or ActiveLearningPolicy(project=project), data=request.data, partial=True
        )
        body.is_valid(raise_exception=True)
        body.save(project=project)
        return Response(body.data)
