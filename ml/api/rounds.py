"""Active-learning rounds: reviewers start one (a Job scores the pool with a model version and
the strategy picks the exams to read next) and close it; any member reads them. Refusals (an
unknown strategy, a budget under 1 exam or 1 minute, no active model, an empty pool, BADGE or
BALD on a model without classes, minutes for a modality with no reading time) are 400s naming
the field."""

from __future__ import annotations

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

from ml.models import ActiveLearningRound
from ml.services import active_learning
from ml.services.errors import MLServiceError
from senolab.api.errors import errors
from senolab.jobs.api.serializers import JobSerializer
from senolab.projects.models import Project, Role
from senolab.projects.permissions import ProjectRolePermission, filter_by_project, require_role

ROUND_ROLE = Role.REVIEWER


class RoundCreateSerializer(serializers.Serializer):
    project = serializers.IntegerField(min_value=1, max_value=2**31 - 1)
    strategy = serializers.CharField(
        max_length=40, help_text=f"One of {', '.join(active_learning.ROUND_STRATEGIES)}"
    )
    budget = serializers.IntegerField(
        required=False,
        allow_null=True,
        min_value=-(2**31),
        max_value=2**31 - 1,
        help_text="Exams to pick; optional with budget_minutes (then a cap)",
    )
    budget_minutes = serializers.FloatField(
        required=False,
        allow_null=True,
        min_value=-1e9,
        max_value=1e9,
        help_text="Readers' minutes to spend: picks are added while their minutes fit",
    )
    minutes_per_exam = serializers.DictField(
        child=serializers.FloatField(min_value=-1e9, max_value=1e9),
        required=False,
        default=dict,
        help_text="Minutes an exam takes per modality (e.g. {'US': 4}), for modalities the "
        "project has no recorded reading times of",
    )
    mc_samples = serializers.IntegerField(
        required=False,
        min_value=-(2**31),
        max_value=2**31 - 1,
        help_text="Monte Carlo dropout passes for bald (2-100, default 10)",
    )
    model_version = serializers.IntegerField(
        required=False, min_value=1, max_value=2**31 - 1, help_text="Default: the active one"
    )
    readers = serializers.ListField(
        child=serializers.CharField(max_length=150),
        required=False,
        default=list,
        help_text="Usernames that each get every pick; none leaves the picks unassigned",
    )
    seed = serializers.IntegerField(default=0, min_value=0, max_value=2**31 - 1)
    aggregate = serializers.ChoiceField(choices=["max", "mean"], default="max")
    rare_class = serializers.CharField(
        required=False,
        default="",
        allow_blank=True,
        max_length=60,
        help_text="A class the balance guard keeps a share of the picks for",
    )
    rare_share = serializers.FloatField(default=0.2, min_value=0, max_value=1)


class PickSerializer(serializers.Serializer):
    exam = serializers.IntegerField()
    score = serializers.FloatField()
    rank = serializers.IntegerField()
    reason = serializers.CharField(
        required=False, help_text="'balance' for a pick of the class-balance guard"
    )
    minutes = serializers.FloatField(
        required=False, help_text="Readers' minutes the pick is counted at (minutes budgets)"
    )


class RoundSerializer(serializers.ModelSerializer):
    picks = PickSerializer(many=True, read_only=True)
    pool_size = serializers.SerializerMethodField()
    job = JobSerializer(read_only=True, allow_null=True)
    created_by: serializers.SlugRelatedField = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )
    model_version_metrics = serializers.SerializerMethodField()

    class Meta:
        model = ActiveLearningRound
        fields = [
            "id",
            "project",
            "model_version",
            "model_version_metrics",
            "strategy",
            "params",
            "budget",
            "pool_size",
            "picks",
            "state",
            "job",
            "created_by",
            "created_at",
            "opened_at",
            "closed_at",
        ]
        read_only_fields = fields

    def get_pool_size(self, obj: ActiveLearningRound) -> int:
        return len(obj.pool)

    def get_model_version_metrics(self, obj: ActiveLearningRound) -> dict[str, Any]:
        """The version's flat test metrics and the labelled cases it trained on, for the
        learning curve over rounds."""
        version = obj.model_version
        if version is None:
            return {}
        flat = {k: v for k, v in version.metrics.items() if isinstance(v, int | float)}
        snapshot = version.snapshot
        flat["labels_used"] = len(snapshot.case_ids) if snapshot else 0
        return flat


class RoundFilter(filters.FilterSet):
    class Meta:
        model = ActiveLearningRound
        fields = ["project", "state"]


class ActiveLearningRoundViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """Start (reviewer+), list and read (viewer+), and close (reviewer+) active-learning rounds."""

    serializer_class = RoundSerializer
    filterset_class = RoundFilter
    permission_classes = [IsAuthenticated, ProjectRolePermission]
    write_role = ROUND_ROLE
    lookup_value_regex = r"[0-9]{1,10}"

    def get_queryset(self):
        qs = ActiveLearningRound.objects.select_related(
            "job", "job__created_by", "created_by", "model_version__snapshot"
        )
        return filter_by_project(qs, self.request.user)

    @extend_schema(
        request=RoundCreateSerializer,
        responses={201: RoundSerializer, **errors(400, 401, 403, 404)},
    )
    def create(self, request: Request) -> Response:
        raw = str(request.data.get("project", "")) if hasattr(request.data, "get") else ""
        project = Project.objects.filter(pk=int(raw)).first() if raw.isdigit() else None
        if project is None:
            raise NotFound("No such project.")
        require_role(request.user, project, ROUND_ROLE)  # before any 400 of the body
        body = RoundCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        names = data["readers"]
        readers = list(
            get_user_model().objects.filter(username__in=names, memberships__project=project)
        )
        if len(readers) != len(set(names)):
            raise ValidationError({"readers": ["Name readers who are members of this project."]})
        try:
            al_round = active_learning.start_round(
                project,
                data["strategy"],
                data.get("budget"),
                version_id=data.get("model_version"),
                readers=readers,
                seed=data["seed"],
                aggregate=data["aggregate"],
                rare_class=data["rare_class"],
                rare_share=data["rare_share"],
                budget_minutes=data.get("budget_minutes"),
                minutes_per_exam=data["minutes_per_exam"],
                mc_samples=data.get("mc_samples", active_learning.DEFAULT_MC_SAMPLES),
                user=request.user,
            )
        except MLServiceError as exc:
            raise ValidationError({exc.field: [str(exc)]}) from exc
        al_round.refresh_from_db()  # a job run eagerly (tests, e2e) has finished by now
        return Response(RoundSerializer(al_round).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={200: RoundSerializer, **errors(400, 401, 403, 404)})
    @action(detail=True, methods=["post"])
    def close(self, request: Request, pk: str | None = None) -> Response:
        al_round = self.get_object()
        try:
            active_learning.close_round(al_round)
        except MLServiceError as exc:
            raise ValidationError({exc.field: [str(exc)]}) from exc
        return Response(RoundSerializer(al_round).data)
