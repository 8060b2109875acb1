"""Data set exports over REST: create (an export Job), list and detail, download the zip, and
read a small export's records page by page as JSON.

Permissions: any member (viewer up) sees the exports of a project and their progress; starting
one, downloading it or reading its records needs reviewer or owner, since the data leave the
platform with them. Every creation and every download (and every page of records read) is a
row in the access audit log.
"""

from __future__ import annotations

from typing import Any

from django.http import FileResponse
from django_filters import rest_framework as filters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
)
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from ml.models import DatasetExport, GroundTruth
from ml.services import exports
from senolab.api.errors import errors
from senolab.audit import services as audit
from senolab.imaging import storage
from senolab.jobs.api.serializers import JobSerializer
from senolab.projects.models import Project, Role
from senolab.projects.permissions import (
    ProjectRolePermission,
    filter_by_project,
    has_role,
    require_role,
)

EXPORT_ROLE = Role.REVIEWER
MAX_PAGE = 200


class DatasetExportCreateSerializer(serializers.Serializer):
    project = serializers.PrimaryKeyRelatedField(queryset=Project.objects.all())
    formats = serializers.ListField(
        child=serializers.CharField(max_length=40),
        help_text="; ".join(f"{k}: {v}" for k, v in exports.FORMATS.items()),
    )
    modality = serializers.CharField(required=False, allow_blank=True, max_length=4)
    reviewed_only = serializers.BooleanField(required=False)
    site = serializers.CharField(required=False, allow_blank=True, max_length=100)
    date_from = serializers.DateField(required=False, allow_null=True)
    date_to = serializers.DateField(required=False, allow_null=True)
    label_status = serializers.ChoiceField(choices=list(exports.LABEL_STATUSES), required=False)
    ground_truth = serializers.ChoiceField(choices=GroundTruth.choices, required=False)
    ground_truth_reader = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=150,
        help_text="The username whose reads are the ground truth (ground_truth 'reader').",
    )
    readers = serializers.ListField(
        child=serializers.CharField(max_length=150),
        required=False,
        help_text="Usernames: only exams one of them has read (a submitted reading, or a "
        "finding or label of theirs).",
    )
    seed = serializers.IntegerField(required=False, min_value=0)

    def validate_formats(self, value: list[str]) -> list[str]:
        try:
            return exports.check_formats(value)
        except exports.ExportRequestError as exc:
            raise ValidationError(str(exc)) from exc

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if (
            attrs.get("date_from")
            and attrs.get("date_to")
            and attrs["date_from"] > attrs["date_to"]
        ):
            raise ValidationError({"date_to": ["date_to is before date_from."]})
        members = set(attrs["project"].memberships.values_list("user__username", flat=True))
        for name in ("ground_truth_reader", "readers"):
            value = attrs.get(name) or []
            strays = [u for u in ([value] if isinstance(value, str) else value) if u not in members]
            if strays:
                raise ValidationError({name: [f"{strays[0]!r} is not a member of this project."]})
        return attrs


class DatasetExportSerializer(serializers.ModelSerializer):
    job = JobSerializer(read_only=True)
    status = serializers.CharField(source="job.status", read_only=True, default="")
    progress = serializers.FloatField(source="job.progress", read_only=True, default=0.0)
    content_hash = serializers.CharField(source="snapshot.content_hash", read_only=True, default="")
    created_by: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="username", read_only=True
    )

    class Meta:
        model = DatasetExport
        fields = [
            "id",
            "project",
            "status",
            "progress",
            "job",
            "formats",
            "filters",
            "counts",
            "snapshot",
            "content_hash",
            "archive_sha256",
            "archive_size",
            "created_by",
            "created_at",
            "finished_at",
        ]
        read_only_fields = fields


class DatasetExportDetailSerializer(DatasetExportSerializer):
    findings = serializers.SerializerMethodField(
        help_text="Every finding it holds {id, version, source, origin, created_by, updated_by}; "
        "null for those below reviewer (a blind reader learns nothing of reference findings)."
    )

    class Meta(DatasetExportSerializer.Meta):
        fields = [*DatasetExportSerializer.Meta.fields, "findings"]
        read_only_fields = fields

    @extend_schema_field(serializers.ListField(child=serializers.DictField(), allow_null=True))
    def get_findings(self, export: DatasetExport) -> list[dict[str, Any]] | None:
        return export.findings if self.context.get("show_findings") else None


class ExportRecordsSerializer(serializers.Serializer):
    offset = serializers.IntegerField()
    limit = serializers.IntegerField()
    next_offset = serializers.IntegerField(allow_null=True)
    records = serializers.ListField(child=serializers.DictField())


class DatasetExportFilter(filters.FilterSet):
    class Meta:
        model = DatasetExport
        fields = ["project"]


class DatasetExportViewSet(
    mixins.CreateModelMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """Create = start an export Job; list and detail follow it; download and records read it."""

    permission_classes = [IsAuthenticated, ProjectRolePermission]
    write_role = EXPORT_ROLE
    filterset_class = DatasetExportFilter

    def get_queryset(self):
        qs = DatasetExport.objects.select_related(
            "job", "job__created_by", "snapshot", "created_by"
        )
        return filter_by_project(qs, self.request.user)

    def get_serializer_class(self):
        return (
            DatasetExportDetailSerializer if self.action == "retrieve" else DatasetExportSerializer
        )

    @extend_schema(responses={200: DatasetExportDetailSerializer, **errors(401, 404)})
    def retrieve(self, request: Request, *args, **kwargs) -> Response:
        """The export; its findings (id, version, source, origin, author) only to those who may
        download it (a blind reader learns nothing of the reference findings it holds)."""
        export = self.get_object()
        shown = has_role(request.user, export.project_id, EXPORT_ROLE)
        return Response(
            DatasetExportDetailSerializer(export, context={"show_findings": shown}).data
        )

    @extend_schema(
        request=DatasetExportCreateSerializer,
        responses={202: DatasetExportSerializer, **errors(400, 401, 403, 404)},
    )
    def create(self, request: Request, *args, **kwargs) -> Response:
        body = DatasetExportCreateSerializer(data=request.data)
        valid = body.is_valid()
        # The role is checked before the rest of the body: a viewer learns nothing from a 400.
        project_id = str(request.data.get("project") or "") if hasattr(request.data, "get") else ""
        if project_id.isdigit() and Project.objects.filter(pk=int(project_id)).exists():
            require_role(request.user, int(project_id), EXPORT_ROLE)
        if not valid:
            raise ValidationError(body.errors)
        data = dict(body.validated_data)
        project = data.pop("project")
        require_role(request.user, project, EXPORT_ROLE)
        formats = data.pop("formats")
        try:
            filters = exports.ExportFilters.of(data)
            export = exports.start_export(project, formats, filters, user=request.user)
        except exports.ExportRequestError as exc:
            raise ValidationError({exc.field: [str(exc)]}) from exc
        audit.record_export_created(
            request, project, export.pk, formats=export.formats, job=str(export.job_id)
        )
        export.refresh_from_db()  # an export run eagerly (tests, e2e) has finished by now
        return Response(DatasetExportSerializer(export).data, status=status.HTTP_202_ACCEPTED)

    def _finished(self) -> DatasetExport:
        export = self.get_object()
        require_role(self.request.user, export.project_id, EXPORT_ROLE)
        if not export.archive_key:
            raise ValidationError(
                {"detail": ["This export is not finished: follow its job until it succeeds."]}
            )
        return export

    @extend_schema(
        filters=False,
        responses={
            (200, "application/zip"): OpenApiResponse(OpenApiTypes.BINARY),
            **errors(400, 401, 403, 404),
        },
    )
    @action(detail=True, methods=["get"], filterset_class=None)
    def download(self, request: Request, pk: str | None = None) -> FileResponse:
        """The export's zip, streamed from storage; its sha256 is in X-Content-SHA256."""
        export = self._finished()
        audit.record_export_download(
            request, export.project_id, export.pk, sha256=export.archive_sha256
        )
        response = FileResponse(
            storage.open_file(export.archive_key),
            content_type="application/zip",
            as_attachment=True,
            filename=f"senolab-export-{export.pk}.zip",
        )
        response["X-Content-SHA256"] = export.archive_sha256
        return response

    @extend_schema(
        filters=False,
        parameters=[
            OpenApiParameter("offset", int, description="first record (an image), from 0"),
            OpenApiParameter("limit", int, description=f"records per page, 1..{MAX_PAGE}"),
        ],
        responses={200: ExportRecordsSerializer, **errors(400, 401, 403, 404)},
    )
    @action(detail=True, methods=["get"], filterset_class=None)
    def records(self, request: Request, pk: str | None = None) -> Response:
        """One page of the export as JSON: per image its findings and their marks."""
        export = self._finished()
        if export.counts.get("images", 0) > exports.PAGEABLE_IMAGES:
            raise ValidationError(
                {
                    "detail": [
                        f"This export has more than {exports.PAGEABLE_IMAGES} images: "
                        "download the zip instead."
                    ]
                }
            )
        offset = _number(request, "offset", 0, 0, 10**9)
        limit = _number(request, "limit", 50, 1, MAX_PAGE)
        records, more = exports.read_records(export, offset, limit)
        audit.record_export_download(
            request, export.project_id, export.pk, records=offset, limit=limit
        )
        return Response(
            {
                "offset": offset,
                "limit": limit,
                "next_offset": offset + len(records) if more else None,
                "records": records,
            }
        )


def _number(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValidationError({name: [f"{name} must be a whole number."]}) from None
    if not low <= value <= high:
        raise ValidationError({name: [f"{name} must be between {low} and {high}."]})
    return value
