"""The reading worklist (machine proposals are the ML app's: ml/api/review.py)."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Q
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotations import worklist
from annotations.api.serializers import (
    WorklistDoneSerializer,
    WorklistNextSerializer,
    WorklistSerializer,
)
from annotations.api.views import required_int_param, visible_exam
from annotations.models import ReadingAssignment, ReadingStatus
from senolab.imaging.models import Exam, Image, PixelStatus
from senolab.projects.models import Project, Role
from senolab.projects.permissions import require_role
from senolab.projects.reference import blind_description, exams_with_reference, hides_reference

STATUSES = [*ReadingStatus.values, "unassigned"]


def requested_project(request: Request, minimum: str) -> Project:
    project_id = required_int_param(request, "project")
    require_role(request.user, project_id, minimum)  # 404 for a project the user is not in
    project = Project.objects.filter(pk=project_id).first()
    if project is None:
        raise NotFound("No such project.")
    return project


class WorklistPagination(PageNumberPagination):
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 500


class WorklistView(APIView):
    """Exams assigned to me and exams no one has yet, with counts and who reads what."""

    @extend_schema(
        parameters=[
            OpenApiParameter("project", int, required=True),
            OpenApiParameter("modality", str),
            OpenApiParameter("status", str, enum=STATUSES),
            OpenApiParameter("birads", str),
            OpenApiParameter("density", str),
            OpenApiParameter("site", str),
            OpenApiParameter("age_min", int, description="Clinical record: age at exam from"),
            OpenApiParameter("age_max", int, description="Clinical record: age at exam up to"),
            OpenApiParameter("biopsy_outcome", str, description="Clinical record (any case)"),
            OpenApiParameter(
                "reference",
                str,
                enum=["hide"],
                description="hide: leave the reference out of BI-RADS, density and their "
                "filters (a reader who may see it chose to read blind)",
            ),
            OpenApiParameter("page", int),
            OpenApiParameter("page_size", int),
        ],
        responses={200: WorklistSerializer},
    )
    def get(self, request: Request) -> Response:
        project = requested_project(request, Role.VIEWER)
        params = request.query_params
        status = params.get("status", "")
        if status and status not in STATUSES:
            raise ValidationError({"status": [f"One of {', '.join(STATUSES)}."]})
        mine = ReadingAssignment.objects.filter(project=project, reader_id=request.user.pk)
        if status == "unassigned":
            exams = worklist.unassigned_exams(project)
        elif status:
            exams = Exam.objects.filter(pk__in=mine.filter(status=status).values("exam_id"))
        else:
            exams = Exam.objects.filter(project=project).filter(
                Q(pk__in=mine.values("exam_id")) | worklist.unassigned_q(project)
            )
        reference = params.get("reference", "")
        if reference not in ("", "hide"):
            raise ValidationError({"reference": ["Leave it out, or 'hide' to read blind."]})
        blind = reference == "hide" or hides_reference(request.user, project)
        try:
            exams = worklist.filter_exams(exams, params, blind=blind, reader=request.user)
        except ValueError as exc:
            raise ValidationError(str(exc)) from None
        exams = exams.select_related("patient")
        paginator = WorklistPagination()
        page = paginator.paginate_queryset(exams.order_by("created_at", "id"), request, view=self)
        rows = self._rows(page or [], request.user, blind)
        response = paginator.get_paginated_response(rows)
        response.data.update(worklist.summary(project, request.user))
        return response

    def _rows(self, exams: list[Exam], user, blind: bool) -> list[dict[str, Any]]:
        ids = [e.pk for e in exams]
        readings: dict[int, list[ReadingAssignment]] = {i: [] for i in ids}
        for r in ReadingAssignment.objects.filter(exam_id__in=ids).select_related("reader"):
            readings[r.exam_id].append(r)
        labels = worklist.exam_labels_summary(ids, blind=blind, reader=user)
        projects = {exam.project_id for exam in exams} if blind else set()
        with_reference = exams_with_reference(Q(pk__in=ids)) if blind else set()
        quarantined = dict(
            Image.objects.filter(exam_id__in=ids, pixel_status=PixelStatus.QUARANTINED)
            .values("exam_id")
            .annotate(n=Count("pk"))
            .values_list("exam_id", "n")
        )
        rows = []
        for exam in exams:
            own = next((r for r in readings[exam.pk] if r.reader_id == user.pk), None)
            rows.append(
                {
                    "exam": exam.pk,
                    "patient": exam.patient.pseudonym,
                    "study_date": exam.study_date,
                    "modalities": exam.modalities,
                    "site": exam.site,
                    "description": blind_description(exam, projects, with_reference),
                    "status": own.status if own else "unassigned",
                    "readers": [
                        {"reader": r.reader.username, "status": r.status} for r in readings[exam.pk]
                    ],
                    **labels[exam.pk],
                    "quarantined_images": quarantined.get(exam.pk, 0),
                }
            )
        return rows


class WorklistNextView(APIView):
    """Pick the next exam by the project's policy and mark it in progress for me."""

    @extend_schema(
        parameters=[OpenApiParameter("project", int, required=True)],
        request=None,
        responses={200: WorklistNextSerializer},
    )
    def post(self, request: Request) -> Response:
        project = requested_project(request, Role.ANNOTATOR)
        exam = worklist.next_exam(project, request.user)
        return Response({"exam": exam.pk if exam else None})


class WorklistDoneView(APIView):
    """Mark my reading of the exam done."""

    @extend_schema(request=None, responses={200: WorklistDoneSerializer})
    def post(self, request: Request, exam_id: int) -> Response:
        exam = visible_exam(request.user, exam_id)
        require_role(request.user, exam.project_id, Role.ANNOTATOR)
        reading = worklist.finish_reading(exam.project, request.user, exam)
        return Response({"exam": exam.pk, "status": reading.status})
