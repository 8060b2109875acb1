"""The imaging REST API: patients, exams (with priors and clinical record), series, images
(metadata, rendered PNG, raw pixels, de-identified DICOM), slides (DZI and tiles) and the
pseudonym map.

Every queryset is filtered to the caller's projects first, so another project's object is a
404 (never a 403, never a count). Reading needs the viewer role; writing the clinical record
the annotator role; the pseudonym map the owner role.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from django.db.models import (
    Count,
    IntegerField,
    OuterRef,
    Prefetch,
    QuerySet,
    Subquery,
)
from django.db.models.functions import Coalesce
from django.http import FileResponse, HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.generics import ListAPIView
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from senolab.api.errors import errors
from senolab.audit import services as audit
from senolab.imaging import clinical, storage, tiles
from senolab.imaging.api import filters, render
from senolab.imaging.api.serializers import (
    ClinicalRecordSerializer,
    ExamDetailSerializer,
    ExamListSerializer,
    ImageSerializer,
    PatientSerializer,
    PseudonymEntrySerializer,
    SeriesSerializer,
    SlideSerializer,
)
from senolab.imaging.models import (
    ClinicalRecord,
    Exam,
    Image,
    Patient,
    PseudonymEntry,
    Series,
    Slide,
)
from senolab.projects.models import Project, Role
from senolab.projects.permissions import (
    ProjectRolePermission,
    filter_by_project,
    require_role,
)

if TYPE_CHECKING:
    from rest_framework.permissions import _PermissionClass

ID = r"[0-9]{1,10}"
BINARY = OpenApiResponse(OpenApiTypes.BINARY)


def _count(model: Any, field: str = "exam") -> Coalesce:
    """A correlated COUNT subquery: evaluated only for the rows of the page, no GROUP BY."""
    counted = (
        model.objects.filter(**{field: OuterRef("pk")})
        .order_by()
        .values(field)
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Coalesce(Subquery(counted, output_field=IntegerField()), 0)


def _number(request: Request, name: str, default: float | None, low: float, high: float):
    raw = request.query_params.get(name)
    if raw in (None, ""):
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValidationError({name: [f"'{name}' must be a number."]}) from None
    if not low <= value <= high:
        raise ValidationError({name: [f"'{name}' must lie between {low:g} and {high:g}."]})
    return value


def _int(request: Request, name: str, default: int, low: int, high: int) -> int:
    value = _number(request, name, default, low, high)
    if value != int(value):
        raise ValidationError({name: [f"'{name}' must be a whole number."]})
    return int(value)


class ProjectScoped:
    """Reads need the viewer role of the object's project; lists show only the caller's."""

    permission_classes: Sequence[_PermissionClass] = [IsAuthenticated, ProjectRolePermission]
    read_role = Role.VIEWER
    write_roles: dict[str, str] = {}

    @property
    def write_role(self) -> str:
        # Writes are owner-only unless an action says otherwise (the clinical record).
        return self.write_roles.get(getattr(self, "action", "") or "", Role.OWNER)

    lookup_value_regex = ID

    def scoped(self, queryset: QuerySet) -> QuerySet:
        return filter_by_project(queryset, self.request.user)  # type: ignore[attr-defined]


@extend_schema_view(
    list=extend_schema(responses={200: PatientSerializer(many=True), **errors(400, 401)}),
    retrieve=extend_schema(responses={200: PatientSerializer, **errors(401, 404)}),
)
class PatientViewSet(ProjectScoped, viewsets.ReadOnlyModelViewSet):
    """Patients of the caller's projects, by pseudonym only."""

    serializer_class = PatientSerializer
    filterset_class = filters.PatientFilter
    ordering_fields = ["id", "pseudonym"]

    def get_queryset(self) -> QuerySet[Patient]:
        qs = Patient.objects.annotate(exam_count=_count(Exam, "patient")).order_by("id")
        return self.scoped(qs)


@extend_schema_view(
    list=extend_schema(responses={200: ExamListSerializer(many=True), **errors(400, 401)}),
    retrieve=extend_schema(responses={200: ExamDetailSerializer, **errors(401, 404)}),
)
class ExamViewSet(ProjectScoped, viewsets.ReadOnlyModelViewSet):
    """Exams of the caller's projects, filtered; the detail nests series, images, slides and
    the clinical record."""

    filterset_class = filters.ExamFilter
    write_roles = {"clinical_record": Role.ANNOTATOR}
    ordering_fields = ["id", "study_date", "created_at", "site", "status"]

    def get_serializer_class(self) -> type[serializers.Serializer]:
        return ExamListSerializer if self.action in ("list", "priors") else ExamDetailSerializer

    def get_object(self) -> Exam:
        return audit.record_view(self.request, super().get_object())

    def get_queryset(self) -> QuerySet[Exam]:
        qs = Exam.objects.select_related("patient").annotate(
            image_count=_count(Image), slide_count=_count(Slide)
        )
        if self.action == "retrieve":
            qs = qs.select_related("clinical_record").prefetch_related(
                Prefetch(
                    "series",
                    queryset=Series.objects.prefetch_related(
                        Prefetch("images", queryset=Image.objects.order_by("instance_number", "id"))
                    ),
                ),
                "slides",
            )
        return self.scoped(qs)

    @extend_schema(
        filters=False,
        responses={200: ExamListSerializer(many=True), **errors(401, 404)},
    )
    @action(detail=True, methods=["get"], pagination_class=None, filterset_class=None)
    def priors(self, request: Request, pk: str) -> Response:
        """Earlier exams of the same patient, newest first."""
        exam = self.get_object()
        earlier = self.get_queryset().filter(patient_id=exam.patient_id).exclude(pk=exam.pk)
        if exam.study_date is not None:
            earlier = earlier.filter(study_date__lt=exam.study_date)
        earlier = earlier.order_by("-study_date", "-id")
        context = self.get_serializer_context()
        return Response(ExamListSerializer(earlier, many=True, context=context).data)

    @extend_schema(
        methods=["GET"],
        filters=False,
        responses={200: ClinicalRecordSerializer, **errors(401, 404)},
    )
    @extend_schema(
        methods=["PUT"],
        filters=False,
        request=ClinicalRecordSerializer,
        responses={200: ClinicalRecordSerializer, **errors(400, 401, 403, 404, 409)},
    )
    @action(
        detail=True,
        methods=["get", "put"],
        url_path="clinical-record",
        pagination_class=None,
        filterset_class=None,
    )
    def clinical_record(self, request: Request, pk: str) -> Response:
        """The exam's clinical record; PUT (annotator) creates or replaces it, sending the
        `updated_at` it read (null for a new record): a record saved since is a 409."""
        exam = self.get_object()
        record = ClinicalRecord.objects.filter(exam=exam).first()
        if request.method == "GET":
            if record is None:
                raise NotFound("This exam has no clinical record yet.")
            return Response(ClinicalRecordSerializer(record).data)
        schema = Project.objects.values_list("clinical_schema", flat=True).get(pk=exam.project_id)
        serializer = ClinicalRecordSerializer(
            record, data=request.data, context={"clinical_schema": schema or {}}
        )
        serializer.is_valid(raise_exception=True)
        values = dict(serializer.validated_data)
        seen = values.pop("updated_at", None)
        saved = clinical.save_record(exam, values, seen)
        return Response(ClinicalRecordSerializer(saved).data)


@extend_schema_view(
    list=extend_schema(responses={200: SeriesSerializer(many=True), **errors(400, 401)}),
    retrieve=extend_schema(responses={200: SeriesSerializer, **errors(401, 404)}),
)
class SeriesViewSet(ProjectScoped, viewsets.ReadOnlyModelViewSet):
    """Series of the caller's projects with their images."""

    serializer_class = SeriesSerializer
    filterset_class = filters.SeriesFilter
    ordering_fields = ["id", "number"]

    def get_queryset(self) -> QuerySet[Series]:
        return self.scoped(Series.objects.prefetch_related("images").order_by("exam_id", "id"))


RENDER_PARAMS = [
    OpenApiParameter("ww", float, description="Window width (default: the image's own)"),
    OpenApiParameter("wc", float, description="Window centre (default: the image's own)"),
    OpenApiParameter("size", int, description="Longest side in pixels (default: full size)"),
    OpenApiParameter("frame", int, description="Frame of a multi-frame image (from 0)"),
    OpenApiParameter("invert", bool, description="Invert the grey scale"),
]


@extend_schema_view(
    list=extend_schema(responses={200: ImageSerializer(many=True), **errors(400, 401)}),
    retrieve=extend_schema(responses={200: ImageSerializer, **errors(401, 404)}),
)
class ImageViewSet(ProjectScoped, viewsets.ReadOnlyModelViewSet):
    """Images of the caller's projects: metadata, rendered PNG, raw pixels and DICOM."""

    serializer_class = ImageSerializer
    filterset_class = filters.ImageFilter
    ordering_fields = ["id", "instance_number"]

    def get_queryset(self) -> QuerySet[Image]:
        return self.scoped(Image.objects.order_by("id"))

    def _cached(self) -> Image:
        image = self.get_object()
        if not (image.pixel_cache or {}).get("levels"):
            raise NotFound("This image has no pixel cache.")
        return audit.record_view(self.request, image)

    @extend_schema(
        parameters=RENDER_PARAMS,
        filters=False,
        responses={(200, "image/png"): BINARY, **errors(400, 401, 404)},
    )
    @action(detail=True, methods=["get"], url_path="render.png", filterset_class=None)
    def render_png(self, request: Request, pk: str) -> HttpResponse:
        """The image windowed to 8 bits as PNG, read from the pixel cache."""
        image = self._cached()
        ww = _number(request, "ww", None, 1e-6, 1e7)
        wc = _number(request, "wc", None, -1e7, 1e7)
        size = _int(request, "size", 0, 1, render.MAX_RENDER_SIDE) or None
        frame = _int(request, "frame", 0, 0, max(image.frame_count - 1, 0))
        invert = request.query_params.get("invert", "").lower() in ("1", "true", "yes")
        body = render.render_png(image, size=size, frame=frame, ww=ww, wc=wc, invert=invert)
        response = HttpResponse(body, content_type="image/png")
        response["Cache-Control"] = "private, max-age=3600"
        return response

    @extend_schema(
        parameters=[
            OpenApiParameter("level", int, description="Pyramid level of the cache (0 = full)"),
            OpenApiParameter("frame", int, description="Frame (from 0)"),
        ],
        filters=False,
        responses={(200, "application/octet-stream"): BINARY, **errors(400, 401, 404)},
    )
    @action(detail=True, methods=["get"], filterset_class=None)
    def pixels(self, request: Request, pk: str) -> HttpResponse:
        """Raw little-endian pixels of one frame, shape and type in X-Rows, X-Columns,
        X-Samples, X-Bits and X-Dtype headers."""
        image = self._cached()
        levels = len(image.pixel_cache["levels"])
        level = _int(request, "level", 0, 0, levels - 1)
        frame = _int(request, "frame", 0, 0, max(image.frame_count - 1, 0))
        body, pixels = render.raw_pixels(image, level=level, frame=frame)
        response = HttpResponse(body, content_type="application/octet-stream")
        response["X-Rows"] = str(pixels.shape[0])
        response["X-Columns"] = str(pixels.shape[1])
        response["X-Samples"] = str(pixels.shape[2] if pixels.ndim == 3 else 1)
        response["X-Bits"] = str(pixels.dtype.itemsize * 8)
        response["X-Dtype"] = pixels.dtype.name
        response["Access-Control-Expose-Headers"] = "X-Rows, X-Columns, X-Samples, X-Bits, X-Dtype"
        return response

    @extend_schema(
        filters=False,
        responses={(200, "application/dicom"): BINARY, **errors(401, 404)},
    )
    @action(detail=True, methods=["get"], filterset_class=None)
    def dicom(self, request: Request, pk: str) -> HttpResponse | FileResponse:
        """The stored, de-identified DICOM file, streamed (for Cornerstone's wadouri); an image
        that came as a raster file is served as a Secondary Capture built from its pixels."""
        image = self.get_object()
        audit.record_dicom_download(request, image)
        if image.source_format != "dicom":
            if not (image.pixel_cache or {}).get("levels"):
                raise NotFound("This image has no pixels to serve.")
            image = Image.objects.select_related("exam__patient", "series").get(pk=image.pk)
            body = render.secondary_capture(image)
            built = HttpResponse(body, content_type="application/dicom")
            built["Content-Disposition"] = f'attachment; filename="image-{image.pk}.dcm"'
            return built
        response = FileResponse(
            storage.open_file(image.storage_key), content_type="application/dicom"
        )
        # A generated name, never the uploaded one (which may carry identifiers).
        response["Content-Disposition"] = f'attachment; filename="image-{image.pk}.dcm"'
        return response


@extend_schema_view(
    list=extend_schema(responses={200: SlideSerializer(many=True), **errors(400, 401)}),
    retrieve=extend_schema(responses={200: SlideSerializer, **errors(401, 404)}),
)
class SlideViewSet(ProjectScoped, viewsets.ReadOnlyModelViewSet):
    """Whole-slide images: metadata, a Deep Zoom descriptor and JPEG tiles."""

    serializer_class = SlideSerializer
    filterset_class = filters.SlideFilter
    ordering_fields = ["id"]

    def get_queryset(self) -> QuerySet[Slide]:
        return self.scoped(Slide.objects.order_by("id"))

    @extend_schema(
        filters=False, responses={(200, "application/xml"): OpenApiTypes.STR, **errors(401, 404)}
    )
    @action(detail=True, methods=["get"], url_path="dzi.xml", filterset_class=None)
    def dzi(self, request: Request, pk: str) -> HttpResponse:
        """The Deep Zoom descriptor OpenSeadragon opens; tiles are under tiles/."""
        slide = audit.record_view(request, self.get_object())
        return HttpResponse(render.dzi_xml(slide), content_type="application/xml")

    @extend_schema(
        filters=False,
        parameters=[
            OpenApiParameter("level", int, OpenApiParameter.PATH),
            OpenApiParameter("col", int, OpenApiParameter.PATH),
            OpenApiParameter("row", int, OpenApiParameter.PATH),
        ],
        responses={(200, "image/jpeg"): BINARY, **errors(401, 404)},
    )
    @action(
        detail=True,
        methods=["get"],
        filterset_class=None,
        url_path=r"tiles/(?P<level>[0-9]{1,2})/(?P<col>[0-9]{1,6})_(?P<row>[0-9]{1,6})\.jpeg",
    )
    def tile(self, request: Request, pk: str, level: str, col: str, row: str) -> HttpResponse:
        """One JPEG tile of a Deep Zoom level (checked against the session; the slide's
        `tiles_url` serves the same tiles faster)."""
        slide = self.get_object()
        grant = tiles.SlideGrant(slide.storage_key, slide.width, slide.height)
        data = tiles.tile_bytes(grant, int(level), int(col), int(row))
        if data is None:
            raise NotFound("No such tile: it lies outside the slide.")
        response = HttpResponse(data, content_type="image/jpeg")
        response["Cache-Control"] = "private, max-age=86400"
        return response


@extend_schema(responses={200: PseudonymEntrySerializer(many=True), **errors(401, 403, 404)})
class PseudonymListView(ListAPIView):
    """The project's pseudonym map: original patient identifiers (owners only)."""

    serializer_class = PseudonymEntrySerializer
    permission_classes = [IsAuthenticated]
    filter_backends: list = []

    def get_queryset(self) -> QuerySet[PseudonymEntry]:
        if getattr(self, "swagger_fake_view", False):
            return PseudonymEntry.objects.none()
        project = Project.objects.filter(pk=self.kwargs["project_pk"]).first()
        if project is None:
            raise NotFound("No such project.")
        require_role(self.request.user, project, Role.OWNER)
        audit.record_pseudonym_map_read(self.request, project)
        return (
            PseudonymEntry.objects.filter(project=project).select_related("patient").order_by("id")
        )
