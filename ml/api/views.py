"""Training runs, model versions (activate, retire, evaluate, predict) and predictions.

Permissions (per project, through filter_by_project / require_role; another project's objects
are 404): any member (viewer up) reads runs, versions, curves and predictions. Starting a
training, activating or retiring a version, and evaluate/predict jobs need reviewer or owner:
they spend the shared GPU queue and decide which model the project's readers see, which is a
review decision, not an annotation one. Cancelling goes through /api/jobs/{id}/cancel/.

The services raise domain errors (ml.services.errors) for requests they refuse; `refused` turns
them into the API's 400 with the error's message under the field it concerns.
"""

from __future__ import annotations

from django.db.models import Q
from django.http import HttpResponse
from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotations.reads import withheld_exams
from ml.api import serializers as s
from ml.models import ModelVersion, Prediction, TrainingRun
from ml.services import engine, evaluation, prediction, registry, training
from ml.services.errors import MLServiceError
from senolab.api.errors import errors
from senolab.audit import services as audit
from senolab.imaging import storage
from senolab.jobs.api.serializers import JobSerializer
from senolab.jobs.models import JobStatus
from senolab.projects.models import Project, Role
from senolab.projects.permissions import ProjectRolePermission, filter_by_project, require_role

# Starting GPU work and choosing the model a project uses are reviewer decisions.
TRAIN_ROLE = Role.REVIEWER


def refused(exc: MLServiceError) -> ValidationError:
    """A service's refusal as a 400 in the API's error format (senolab/api/errors.py)."""
    return ValidationError({exc.field: [str(exc)]})


class RecipeListView(APIView):
    """The training recipes shipped with the engine (files under ml/recipes/)."""

    serializer_class = s.RecipeListSerializer

    @extend_schema(responses=s.RecipeListSerializer)
    def get(self, request: Request) -> Response:
        return Response({"recipes": engine.recipe_descriptions()})


class TrainingRunFilter(filters.FilterSet):
    # The status shown is the job's (see TrainingRunSerializer.get_status); filter on the same.
    status = filters.ChoiceFilter(
        choices=JobStatus.choices, method="filter_status", label="Job status"
    )

    class Meta:
        model = TrainingRun
        fields = ["project", "recipe", "status"]

    def filter_status(self, queryset, name: str, value: str):
        return queryset.filter(Q(job__status=value) | Q(job__isnull=True, status=value))


class TrainingRunViewSet(
    mixins.CreateModelMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """Create = start a training Job on the gpu queue; list and detail carry the metrics history."""

    serializer_class = s.TrainingRunSerializer
    filterset_class = TrainingRunFilter
    permission_classes = [IsAuthenticated, ProjectRolePermission]
    write_role = TRAIN_ROLE

    def get_queryset(self):
        qs = TrainingRun.objects.select_related(
            "job", "job__created_by", "snapshot", "created_by", "model_version"
        )
        return filter_by_project(qs, self.request.user)

    @extend_schema(
        request=s.TrainingRunCreateSerializer,
        responses={201: s.TrainingRunSerializer, **errors(400, 401, 403, 404)},
    )
    def create(self, request: Request, *args, **kwargs) -> Response:
        body = s.TrainingRunCreateSerializer(data=request.data)
        valid = body.is_valid()
        # The role is checked before the rest of the body: a viewer learns nothing from a 400.
        project_id = str(request.data.get("project") or "") if hasattr(request.data, "get") else ""
        if project_id.isdigit() and Project.objects.filter(pk=int(project_id)).exists():
            require_role(request.user, int(project_id), TRAIN_ROLE)
        if not valid:
            raise ValidationError(body.errors)
        project = body.validated_data["project"]
        require_role(request.user, project, TRAIN_ROLE)
        try:
            run = training.start_training(
                project,
                body.validated_data["recipe"],
                user=request.user,
                seed=body.validated_data["seed"],
                ground_truth=body.validated_data["ground_truth"],
                ground_truth_reader=body.validated_data.get("ground_truth_reader"),
                parent=body.validated_data.get("parent_version"),
                overrides=(
                    {"epochs": body.validated_data["epochs"]}
                    if "epochs" in body.validated_data
                    else None
                ),
            )
        except MLServiceError as exc:
            raise refused(exc) from exc
        run.refresh_from_db()  # a job run eagerly (tests, e2e) has finished by now
        return Response(s.TrainingRunSerializer(run).data, status=status.HTTP_201_CREATED)


class ModelVersionFilter(filters.FilterSet):
    class Meta:
        model = ModelVersion
        fields = ["project", "task", "label", "recipe", "status"]


class ModelVersionViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """The registry: metrics, curves, lineage; activate or retire; evaluate and predict jobs."""

    filterset_class = ModelVersionFilter
    permission_classes = [IsAuthenticated, ProjectRolePermission]
    write_role = TRAIN_ROLE

    def get_queryset(self):
        qs = ModelVersion.objects.select_related("trained_by")
        return filter_by_project(qs, self.request.user)

    def get_serializer_class(self):
        return (
            s.ModelVersionDetailSerializer
            if self.action == "retrieve"
            else s.ModelVersionSerializer
        )

    @extend_schema(
        request=None, responses={200: s.ModelVersionDetailSerializer, **errors(401, 403, 404)}
    )
    @action(detail=True, methods=["post"])
    def activate(self, request: Request, pk: str | None = None) -> Response:
        version = registry.activate(self.get_object())
        audit.record_model_activation(request, version)
        return Response(s.ModelVersionDetailSerializer(version).data)

    @extend_schema(
        request=None, responses={200: s.ModelVersionDetailSerializer, **errors(401, 403, 404)}
    )
    @action(detail=True, methods=["post"])
    def retire(self, request: Request, pk: str | None = None) -> Response:
        version = registry.retire(self.get_object())
        return Response(s.ModelVersionDetailSerializer(version).data)

    @extend_schema(
        request=s.PredictRequestSerializer,
        responses={202: JobSerializer, **errors(400, 401, 403, 404)},
    )
    @action(detail=True, methods=["post"])
    def predict(self, request: Request, pk: str | None = None) -> Response:
        version = self.get_object()
        body = s.PredictRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            job = prediction.start_prediction(
                version,
                body.validated_data["exams"],
                explain=body.validated_data["explain"],
                user=request.user,
            )
        except MLServiceError as exc:
            raise refused(exc) from exc
        return Response(JobSerializer(job).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(
        request=s.EvaluateRequestSerializer,
        responses={202: JobSerializer, **errors(400, 401, 403, 404)},
    )
    @action(detail=True, methods=["post"])
    def evaluate(self, request: Request, pk: str | None = None) -> Response:
        version = self.get_object()
        body = s.EvaluateRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        job = evaluation.start_evaluation(version, body.validated_data["split"], user=request.user)
        return Response(JobSerializer(job).data, status=status.HTTP_202_ACCEPTED)


class PredictionFilter(filters.FilterSet):
    class Meta:
        model = Prediction
        fields = ["project", "model_version", "exam", "image", "provenance"]


class PredictionViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Model outputs per image, with their map as a PNG (a probability map for segmentation and
    detection models, a Grad-CAM for classifiers)."""

    serializer_class = s.PredictionSerializer
    filterset_class = PredictionFilter

    def get_queryset(self):
        # A blind reader sees no proposal of an exam before submitting a first read of it.
        qs = filter_by_project(
            Prediction.objects.select_related("model_version"), self.request.user
        )
        return qs.exclude(exam__in=withheld_exams(self.request.user))

    def _png(self, key: str, what: str) -> HttpResponse:
        if not key:
            raise NotFound(f"This prediction has no {what}.")
        response = HttpResponse(storage.read(key), content_type="image/png")
        response["Cache-Control"] = "private, max-age=3600"
        return response

    @extend_schema(responses={(200, "image/png"): bytes, **errors(401, 404)})
    @action(detail=True, methods=["get"])
    def heatmap(self, request: Request, pk: str | None = None) -> HttpResponse:
        """The map at the image's size: a Grad-CAM (classifiers) or a probability map
        (segmentation, detection), as `heatmap_kind` says; grey levels 0-255 for 0-1."""
        return self._png(self.get_object().heatmap_key, "heatmap")

    @extend_schema(responses={(200, "image/png"): bytes, **errors(401, 404)})
    @action(detail=True, methods=["get"])
    def mask(self, request: Request, pk: str | None = None) -> HttpResponse:
        """The predicted binary mask at the image's size (0/255)."""
        return self._png(self.get_object().mask_key, "mask")
