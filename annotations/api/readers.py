"""The readers' side of the review loop: blind first and final reads, reader assignment,
agreement between readers and the adjudication queue (services: annotations.reads,
annotations.assignment, annotations.agreement_report, annotations.adjudication)."""

from __future__ import annotations

from django.http import HttpResponse
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotations import adjudication, assignment, reads
from annotations.agreement_report import agreement_csv, project_agreement
from annotations.api.serializers import MAX_INT, ExamLabelSerializer, FindingSerializer
from annotations.api.views import visible_exam
from annotations.api.worklist import requested_project
from senolab.imaging.models import Exam
from senolab.projects.models import Role
from senolab.projects.permissions import require_role

# --- shapes ---------------------------------------------------------------------------------


class ReadingStateSerializer(serializers.Serializer):
    exam = serializers.IntegerField()
    blind_first_read = serializers.BooleanField()
    private_reads = serializers.BooleanField()
    status = serializers.CharField()
    first_read_submitted_at = serializers.DateTimeField(allow_null=True)
    final_read_submitted_at = serializers.DateTimeField(allow_null=True)
    proposals_withheld = serializers.BooleanField()


class AssignInputSerializer(serializers.Serializer):
    exams = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=MAX_INT), max_length=10_000
    )
    mode = serializers.ChoiceField(choices=assignment.MODES)
    readers = serializers.ListField(
        child=serializers.CharField(max_length=150), required=False, max_length=1000
    )
    per_exam = serializers.IntegerField(required=False, min_value=1, max_value=1000)
    seed = serializers.IntegerField(required=False, min_value=0, max_value=MAX_INT)


class AssignedSerializer(serializers.Serializer):
    exam = serializers.IntegerField()
    reader = serializers.CharField()
    chosen_by = serializers.JSONField()


class AssignResultSerializer(serializers.Serializer):
    created = serializers.IntegerField()
    seed = serializers.IntegerField(allow_null=True)
    assignments = AssignedSerializer(many=True)


class KappaPairSerializer(serializers.Serializer):
    a = serializers.CharField()
    b = serializers.CharField()
    kappa = serializers.FloatField(allow_null=True)
    exams = serializers.IntegerField()


class ScaleAgreementSerializer(serializers.Serializer):
    pairs = KappaPairSerializer(many=True)
    alpha = serializers.FloatField(allow_null=True)


class LesionPairSerializer(serializers.Serializer):
    a = serializers.CharField()
    b = serializers.CharField()
    lesion_f1 = serializers.FloatField(allow_null=True)
    matched = serializers.IntegerField()
    lesions = serializers.IntegerField()
    dice = serializers.FloatField(allow_null=True)
    images = serializers.IntegerField()


class ReaderAccuracySerializer(serializers.Serializer):
    reader = serializers.CharField()
    exams = serializers.IntegerField()
    tp = serializers.IntegerField()
    fp = serializers.IntegerField()
    tn = serializers.IntegerField()
    fn = serializers.IntegerField()
    sensitivity = serializers.FloatField(allow_null=True)
    specificity = serializers.FloatField(allow_null=True)


class BlindReadsSerializer(serializers.Serializer):
    reader = serializers.CharField()
    reads = serializers.IntegerField()
    birads_changed_up = serializers.IntegerField()
    birads_changed_down = serializers.IntegerField()
    first_sensitivity = serializers.FloatField(allow_null=True)
    first_specificity = serializers.FloatField(allow_null=True)
    final_sensitivity = serializers.FloatField(allow_null=True)
    final_specificity = serializers.FloatField(allow_null=True)
    median_seconds = serializers.FloatField(allow_null=True)


class AgreementSerializer(serializers.Serializer):
    project = serializers.IntegerField()
    readers = serializers.ListField(child=serializers.CharField())
    exams = serializers.IntegerField()
    iou_threshold = serializers.FloatField()
    birads = ScaleAgreementSerializer()
    density = ScaleAgreementSerializer()
    lesions = LesionPairSerializer(many=True)
    readers_vs_reference = ReaderAccuracySerializer(many=True)
    blind_reads = BlindReadsSerializer(many=True)


class QueueRowSerializer(serializers.Serializer):
    exam = serializers.IntegerField()
    readers = serializers.ListField(child=serializers.CharField())
    reasons = serializers.ListField(child=serializers.CharField())


class ReadSerializer(serializers.Serializer):
    reader = serializers.CharField()
    status = serializers.CharField()
    first_read = serializers.JSONField(allow_null=True)
    findings = FindingSerializer(many=True)
    labels = ExamLabelSerializer(many=True)


class ConsensusSerializer(serializers.Serializer):
    findings = FindingSerializer(many=True)
    labels = ExamLabelSerializer(many=True)


class ExamReadsSerializer(serializers.Serializer):
    exam = serializers.IntegerField()
    closed = serializers.BooleanField()
    reasons = serializers.ListField(child=serializers.CharField())
    reads = ReadSerializer(many=True)
    consensus = ConsensusSerializer()


class ConsensusInputSerializer(serializers.Serializer):
    density = serializers.CharField(required=False, allow_blank=True, max_length=1)
    birads = serializers.CharField(required=False, allow_blank=True, max_length=4)
    pathology = serializers.CharField(required=False, allow_blank=True, max_length=20)
    findings = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=MAX_INT),
        required=False,
        max_length=1000,
    )


# --- reads ----------------------------------------------------------------------------------


class ReadingStateView(APIView):
    """Where my reading of the exam stands: whether it is blind, what I have submitted."""

    @extend_schema(responses={200: ReadingStateSerializer})
    def get(self, request: Request, exam_id: int) -> Response:
        exam = visible_exam(request.user, exam_id)
        return Response(reads.reading_state(exam, request.user))


class FirstReadView(APIView):
    """Submit my first read of the exam (blind projects): my findings and labels are frozen
    into it, and the proposals are revealed. A second submission is 409."""

    @extend_schema(request=None, responses={201: ReadingStateSerializer})
    def post(self, request: Request, exam_id: int) -> Response:
        exam = visible_exam(request.user, exam_id)
        require_role(request.user, exam.project_id, Role.ANNOTATOR)
        reads.submit_first_read(exam, request.user)
        return Response(reads.reading_state(exam, request.user), status=status.HTTP_201_CREATED)


class FinalReadView(APIView):
    """Submit my final read of the exam (after the first, in a blind project); it marks my
    reading done. A second submission is 409."""

    @extend_schema(request=None, responses={201: ReadingStateSerializer})
    def post(self, request: Request, exam_id: int) -> Response:
        exam = visible_exam(request.user, exam_id)
        require_role(request.user, exam.project_id, Role.ANNOTATOR)
        reads.submit_final_read(exam, request.user)
        return Response(reads.reading_state(exam, request.user), status=status.HTTP_201_CREATED)


# --- assignment -----------------------------------------------------------------------------


class AssignReadersView(APIView):
    """Put readers on exams of the project: named readers on each, `per_exam` least loaded
    readers, or a balanced random draw with a recorded seed (owners and reviewers)."""

    @extend_schema(
        parameters=[OpenApiParameter("project", int, required=True)],
        request=AssignInputSerializer,
        responses={201: AssignResultSerializer},
    )
    def post(self, request: Request) -> Response:
        project = requested_project(request, Role.REVIEWER)
        body = AssignInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        exams = list(Exam.objects.filter(project=project, pk__in=data["exams"]))
        if len(exams) != len(set(data["exams"])):
            raise serializers.ValidationError({"exams": ["Every exam must be of this project."]})
        result = assignment.assign_readers(
            project,
            exams,
            mode=data["mode"],
            readers=data.get("readers"),
            per_exam=data.get("per_exam"),
            seed=data.get("seed"),
            by=request.user,
        )
        return Response(result, status=status.HTTP_201_CREATED)


# --- agreement and adjudication -------------------------------------------------------------


class AgreementView(APIView):
    """Agreement between the project's readers over their finished reads; `download=csv` gives
    the figures as a CSV file (owners and reviewers)."""

    @extend_schema(
        parameters=[
            OpenApiParameter("project", int, required=True),
            OpenApiParameter("download", str, enum=["csv"]),
        ],
        responses={200: AgreementSerializer, (200, "text/csv"): bytes},
    )
    def get(self, request: Request) -> Response | HttpResponse:
        project = requested_project(request, Role.REVIEWER)
        report = project_agreement(project)
        if request.query_params.get("download") == "csv":
            response = HttpResponse(agreement_csv(report), content_type="text/csv")
            response["Content-Disposition"] = (
                f'attachment; filename="agreement-project-{project.pk}.csv"'
            )
            return response
        return Response(report)


class AdjudicationQueueView(APIView):
    """Open exams whose finished reads disagree beyond the project's adjudication rules."""

    @extend_schema(
        parameters=[OpenApiParameter("project", int, required=True)],
        responses={200: QueueRowSerializer(many=True)},
    )
    def get(self, request: Request) -> Response:
        project = requested_project(request, Role.REVIEWER)
        return Response(adjudication.queue(project))


class AdjudicationExamView(APIView):
    """The exam's reads side by side, with any consensus recorded (owners and reviewers)."""

    @extend_schema(responses={200: ExamReadsSerializer})
    def get(self, request: Request, exam_id: int) -> Response:
        exam = visible_exam(request.user, exam_id)
        require_role(request.user, exam.project_id, Role.REVIEWER)
        return Response(adjudication.exam_reads(exam))


class ConsensusView(APIView):
    """Record the consensus of the exam (labels and the readers' findings kept) and close it."""

    @extend_schema(request=ConsensusInputSerializer, responses={201: ExamReadsSerializer})
    def post(self, request: Request, exam_id: int) -> Response:
        exam = visible_exam(request.user, exam_id)
        require_role(request.user, exam.project_id, Role.REVIEWER)
        body = ConsensusInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        result = adjudication.record_consensus(exam, request.user, dict(body.validated_data))
        return Response(result, status=status.HTTP_201_CREATED)
