"""Dataset snapshots on their own: build one with a chosen ground-truth policy (reviewers) and
read what it holds (each case's labels), so a project can check what a training would learn
from (the reference, the adjudicated consensus, the readers' majority or one named reader)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from ml.models import DatasetSnapshot, GroundTruth
from ml.services.errors import MLServiceError
from ml.services.snapshots import build_snapshot
from senolab.api.errors import errors
from senolab.projects.models import Project, Role
from senolab.projects.permissions import filter_by_project, require_role


class SnapshotCreateSerializer(serializers.Serializer):
    project = serializers.IntegerField(min_value=1, max_value=2**31 - 1)
    ground_truth = serializers.ChoiceField(choices=GroundTruth.choices, default=GroundTruth.ANY)
    ground_truth_reader = serializers.CharField(required=False, max_length=150)
    seed = serializers.IntegerField(default=0, min_value=0, max_value=2**31 - 1)


class SnapshotCaseSerializer(serializers.Serializer):
    exam = serializers.IntegerField()
    split = serializers.CharField()
    labels = serializers.JSONField()
    lesions = serializers.IntegerField()


class SnapshotSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    project = serializers.IntegerField()
    ground_truth = serializers.CharField()
    ground_truth_reader = serializers.CharField(allow_null=True)
    content_hash = serializers.CharField()
    seed = serializers.IntegerField()
    summary = serializers.JSONField()
    cases = SnapshotCaseSerializer(many=True)
    created_at = serializers.DateTimeField()


def snapshot_data(snapshot: DatasetSnapshot) -> dict[str, Any]:
    reader = snapshot.ground_truth_reader
    return {
        "id": snapshot.pk,
        "project": snapshot.project_id,
        "ground_truth": snapshot.ground_truth,
        "ground_truth_reader": reader.get_username() if reader else None,
        "content_hash": snapshot.content_hash,
        "seed": snapshot.seed,
        "summary": snapshot.summary,
        "cases": [
            {
                "exam": int(entry["key"]),
                "split": snapshot.split.get(entry["key"], ""),
                "labels": entry["labels"],
                "lesions": len(entry["lesions"]),
            }
            for entry in snapshot.manifest
        ],
        "created_at": snapshot.created_at,
    }


class SnapshotViewSet(mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Build a snapshot of a project's annotated exams by a ground-truth policy; read one."""

    serializer_class = SnapshotSerializer
    lookup_value_regex = r"[0-9]{1,10}"

    def get_queryset(self):
        qs = DatasetSnapshot.objects.select_related("ground_truth_reader")
        return filter_by_project(qs, self.request.user)

    def retrieve(self, request: Request, *args, **kwargs) -> Response:
        return Response(snapshot_data(self.get_object()))

    @extend_schema(
        request=SnapshotCreateSerializer,
        responses={201: SnapshotSerializer, **errors(400, 401, 403, 404)},
    )
    def create(self, request: Request) -> Response:
        raw = str(request.data.get("project", "")) if hasattr(request.data, "get") else ""
        project = Project.objects.filter(pk=int(raw)).first() if raw.isdigit() else None
        if project is None:
            raise NotFound("No such project.")
        require_role(request.user, project, Role.REVIEWER)  # before any 400 of the body
        body = SnapshotCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        reader = None
        if data["ground_truth"] == GroundTruth.READER:
            reader = (
                get_user_model()
                .objects.filter(
                    username=data.get("ground_truth_reader", ""), memberships__project=project
                )
                .first()
            )
            if reader is None:
                raise ValidationError({"ground_truth_reader": ["Name a reader of this project."]})
        try:
            snapshot = build_snapshot(
                project,
                ground_truth=data["ground_truth"],
                ground_truth_reader=reader,
                seed=data["seed"],
                user=request.user,
            )
        except MLServiceError as exc:
            raise ValidationError({exc.field: [str(exc)]}) from exc
        return Response(snapshot_data(snapshot), status=status.HTTP_201_CREATED)
