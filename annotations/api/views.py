"""Findings (with marks), their versions, mask images and exam labels.

Every query goes through the project filter, so another project's rows are 404; writing needs
the annotator role, reading the viewer role. In a project that hides reference data (blind
reading), viewers and annotators get no reference finding, mark mask or label: to them those
rows do not exist (404). Reference findings can be changed only by owners (403 for others).
In a project with private reads, another reader's findings and labels of an open exam do not
exist for a reader either (annotations.privacy).
"""

from __future__ import annotations

from django.http import FileResponse
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotations import services
from annotations.api.serializers import (
    MAX_INT,
    ExamLabelInputSerializer,
    ExamLabelSerializer,
    FindingInputSerializer,
    FindingSerializer,
    FindingVersionSerializer,
)
from annotations.models import ExamLabel, Finding, Mark, MarkKind, Source
from annotations.privacy import without_private_reads
from senolab.audit import services as audit
from senolab.imaging import storage
from senolab.imaging.models import Exam
from senolab.projects.models import Role
from senolab.projects.permissions import filter_by_project, require_role
from senolab.projects.reference import without_hidden_reference


class FindingPagination(PageNumberPagination):
    """An exam's findings fit one page; the size can be raised for bulk readers."""

    page_size = 200
    page_size_query_param = "page_size"
    max_page_size = 1000


def int_param(request: Request, name: str, *, required: bool = False) -> int | None:
    raw = request.query_params.get(name)
    if raw in (None, ""):
        if required:
            raise ValidationError({name: [f"The '{name}' query parameter is required."]})
        return None
    if not raw.isascii() or not raw.isdigit() or int(raw) > MAX_INT:
        raise ValidationError({name: [f"'{name}' must be a whole number (an id)."]})
    return int(raw)


def required_int_param(request: Request, name: str) -> int:
    value = int_param(request, name, required=True)
    assert value is not None  # int_param raised otherwise
    return value


def visible_exam(user, exam_id: int | None) -> Exam:
    exam = filter_by_project(Exam.objects.all(), user).filter(pk=exam_id).first()
    if exam is None:
        raise NotFound("No such exam.")
    return exam


def _version_of(data: dict) -> int:
    if data.get("version") is None:
        raise ValidationError(
            {"version": ["Send the version you last saw, so a newer save is never overwritten."]}
        )
    return int(data["version"])


class FindingViewSet(viewsets.GenericViewSet):
    """Findings of an exam with nested marks; saves carry `version` (409 when stale)."""

    serializer_class = FindingSerializer
    pagination_class = FindingPagination
    lookup_value_regex = r"[0-9]{1,10}"
    filter_backends: list = []

    def get_queryset(self):
        qs = filter_by_project(Finding.objects.all(), self.request.user)
        qs = without_hidden_reference(qs, self.request.user)
        qs = without_private_reads(qs, self.request.user, "created_by")
        return qs.select_related("exam").prefetch_related("marks")

    def get_object(self) -> Finding:
        finding = self.get_queryset().filter(pk=self.kwargs["pk"]).first()
        if finding is None:
            raise NotFound("No such finding.")
        return finding

    @extend_schema(
        parameters=[
            OpenApiParameter("exam", int),
            OpenApiParameter("project", int),
            OpenApiParameter("image", int, description="findings with a mark on this image"),
            OpenApiParameter("slide", int, description="findings with a mark on this slide"),
            OpenApiParameter("source", str, enum=list(Source.values)),
            OpenApiParameter("include_deleted", bool),
        ]
    )
    def list(self, request: Request) -> Response:
        qs = self.get_queryset()
        exam_id, project_id = int_param(request, "exam"), int_param(request, "project")
        if exam_id is not None:
            qs = qs.filter(exam_id=exam_id)
        if project_id is not None:
            qs = qs.filter(project_id=project_id)
        for target in ("image", "slide"):
            target_id = int_param(request, target)
            if target_id is not None:
                qs = qs.filter(pk__in=Mark.objects.filter(**{target: target_id}).values("finding"))
        source = request.query_params.get("source")
        if source:
            if source not in Source.values:
                raise ValidationError({"source": [f"One of {', '.join(Source.values)}."]})
            qs = qs.filter(source=source)
        if request.query_params.get("include_deleted") not in ("1", "true", "yes"):
            qs = qs.filter(deleted=False)
        page = self.paginate_queryset(qs.order_by("id"))
        return self.get_paginated_response([services.finding_data(f) for f in page or []])

    def retrieve(self, request: Request, pk: str) -> Response:
        return Response(services.finding_data(self.get_object()))

    @extend_schema(request=FindingInputSerializer, responses={201: FindingSerializer})
    def create(self, request: Request) -> Response:
        data = self._input(request)
        if data.get("exam") is None:
            raise ValidationError({"exam": ["The exam this finding belongs to is required."]})
        exam = visible_exam(request.user, data["exam"])
        require_role(request.user, exam.project_id, Role.ANNOTATOR)
        finding = services.create_finding(request.user, exam, data)
        return Response(services.finding_data(finding), status=status.HTTP_201_CREATED)

    @extend_schema(request=FindingInputSerializer, responses={200: FindingSerializer})
    def partial_update(self, request: Request, pk: str) -> Response:
        finding = self.get_object()
        require_role(request.user, finding.project_id, Role.ANNOTATOR)
        services.require_writable(request.user, finding)  # 403 before any 400 of the body
        data = self._input(request)
        if data.get("exam") not in (None, finding.exam_id):
            raise ValidationError({"exam": ["A finding cannot move to another exam."]})
        finding = services.update_finding(request.user, finding, _version_of(data), data)
        return Response(services.finding_data(finding))

    @extend_schema(request=FindingInputSerializer, responses={200: FindingSerializer})
    def update(self, request: Request, pk: str) -> Response:
        return self.partial_update(request, pk)

    @extend_schema(parameters=[OpenApiParameter("version", int, required=True)])
    def destroy(self, request: Request, pk: str) -> Response:
        finding = self.get_object()
        require_role(request.user, finding.project_id, Role.ANNOTATOR)
        services.require_writable(request.user, finding)
        version = request.data.get("version") if isinstance(request.data, dict) else None
        if version is None:
            version = int_param(request, "version", required=True)
        services.delete_finding(request.user, finding, _version_of({"version": version}))
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(responses={200: FindingVersionSerializer(many=True)})
    @action(detail=True, methods=["get"])
    def versions(self, request: Request, pk: str) -> Response:
        finding = self.get_object()
        history = finding.versions.select_related("author").order_by("version")
        page = self.paginate_queryset(history)
        return self.get_paginated_response(FindingVersionSerializer(page, many=True).data)

    def _input(self, request: Request) -> dict:
        serializer = FindingInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return dict(serializer.validated_data)


class MarkMaskView(APIView):
    """The stored PNG (0/255, one channel) of a mask mark; it covers the mark's box."""

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "v",
                str,
                description="The file the mark's mask_url names; an address of a file the mark "
                "no longer has (repainted since) is a 404.",
            )
        ],
        responses={(200, "image/png"): bytes},
    )
    def get(self, request: Request, pk: int) -> FileResponse:
        mark = (
            Mark.objects.filter(pk=pk, kind=MarkKind.MASK)
            .filter(
                finding__in=without_private_reads(
                    without_hidden_reference(
                        filter_by_project(Finding.objects.all(), request.user), request.user
                    ),
                    request.user,
                    "created_by",
                )
            )
            .first()
        )
        if mark is None or not mark.mask_key:
            raise NotFound("No such mask.")
        # An address of a file the mark no longer has: never answered (and cached) with the new one.
        asked = request.query_params.get("v")
        if asked is not None and asked != services.mask_version(mark.mask_key):
            raise NotFound("This mask has been repainted since: read the finding again.")
        audit.record_mask_download(request, mark)
        response = FileResponse(storage.open_file(mark.mask_key), content_type="image/png")
        response["Cache-Control"] = "private, max-age=3600"
        return response


class ExamLabelView(APIView):
    """GET the labels of an exam; PUT the reader's own label with the version last seen."""

    @extend_schema(
        parameters=[OpenApiParameter("exam", int, required=True)],
        responses={200: ExamLabelSerializer(many=True)},
    )
    def get(self, request: Request) -> Response:
        exam = visible_exam(request.user, required_int_param(request, "exam"))
        labels = ExamLabel.objects.filter(exam=exam).order_by("source", "laterality", "id")
        labels = without_hidden_reference(labels, request.user)
        labels = without_private_reads(labels, request.user, "author")
        source = request.query_params.get("source")
        if source:
            labels = labels.filter(source=source)
        return Response([services.label_data(label) for label in labels])

    @extend_schema(
        parameters=[OpenApiParameter("exam", int)],
        request=ExamLabelInputSerializer,
        responses={200: ExamLabelSerializer},
    )
    def put(self, request: Request) -> Response:
        serializer = ExamLabelInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        exam_id = data.get("exam") or int_param(request, "exam", required=True)
        exam = visible_exam(request.user, exam_id)
        require_role(request.user, exam.project_id, Role.ANNOTATOR)
        label = services.save_exam_label(request.user, exam, data["version"], data)
        return Response(services.label_data(label))
