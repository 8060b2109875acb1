"""Proposals of an exam and their review; pre-annotation of an exam, a project or a selection.

Permissions (senolab/security/policy.py): any member reads an exam's proposals, unless the
project reads blind and the reader has not submitted a first read of the exam
(annotations.reads.proposals_withheld: 403 with its message). Accepting, editing and
rejecting one proposal make or refuse a finding: annotators and up, as writing findings is.
Accepting all above a threshold and running models (pre-annotation, resuming its Job) are
review decisions that spend the shared GPU: reviewers and owners.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound, PermissionDenied, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotations.api.serializers import (
    ExamLabelSerializer,
    FindingInputSerializer,
    FindingSerializer,
)
from annotations.api.views import visible_exam
from annotations.reads import proposals_withheld
from annotations.services import finding_data, label_data
from ml.api.serializers import PredictionSerializer
from ml.api.views import refused
from ml.models import Prediction
from ml.services import prediction as predictions
from ml.services import review
from ml.services.errors import MLServiceError
from senolab.api.errors import Conflict, errors
from senolab.imaging.models import Exam
from senolab.jobs.api.serializers import JobSerializer
from senolab.jobs.models import Job
from senolab.projects.models import Project, Role
from senolab.projects.permissions import filter_by_project, require_role

REVIEW_ROLE = Role.ANNOTATOR  # accept, edit, reject one proposal: a finding is written
BULK_ROLE = Role.REVIEWER  # accept all above a threshold, run models


def _check_withheld(exam: Exam, user) -> None:
    reason = proposals_withheld(exam, user)
    if reason:
        raise PermissionDenied(reason)


def _proposal(request: Request, pk: int) -> Prediction:
    """The prediction, if the user may review it: 404 outside their projects, 403 below
    annotator or while a blind first read is due."""
    found = (
        filter_by_project(Prediction.objects.all(), request.user)
        .select_related("exam", "exam__project", "model_version", "image")
        .filter(pk=pk)
        .first()
    )
    if found is None:
        raise NotFound("No such proposal.")
    require_role(request.user, found.project_id, REVIEW_ROLE)
    _check_withheld(found.exam, request.user)
    return found


def _refused(exc: MLServiceError) -> Exception:
    if isinstance(exc, review.AlreadyReviewed):
        return Conflict(str(exc))
    return refused(exc)


class ExamProposalsView(APIView):
    """Machine proposals of an exam, a layer apart from /api/findings/: by default those of the
    project's active versions, with `?all=1` those of older versions too."""

    @extend_schema(
        parameters=[OpenApiParameter("all", bool, description="Include older versions")],
        responses={200: PredictionSerializer(many=True), **errors(401, 403, 404)},
    )
    def get(self, request: Request, exam_id: int) -> Response:
        exam = visible_exam(request.user, exam_id)
        _check_withheld(exam, request.user)
        every = request.query_params.get("all", "") in ("1", "true", "yes")
        rows = review.proposals_of(exam, all_versions=every)
        return Response(PredictionSerializer(rows, many=True).data)


class AcceptSerializer(serializers.Serializer):
    finding_type = serializers.CharField(required=False, allow_blank=True, max_length=40)
    birads = serializers.CharField(required=False, allow_blank=True, max_length=4)
    pathology = serializers.CharField(required=False, allow_blank=True, max_length=20)
    laterality = serializers.CharField(required=False, allow_blank=True, max_length=1)
    note = serializers.CharField(required=False, allow_blank=True, max_length=10_000)


class ReviewResultSerializer(serializers.Serializer):
    proposal = PredictionSerializer()
    findings = FindingSerializer(many=True)
    # An exam-level proposal accepted as the reader's exam (or breast) label.
    labels = ExamLabelSerializer(many=True)


class RejectSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=200)


class AcceptAllSerializer(serializers.Serializer):
    threshold = serializers.FloatField(min_value=0.0, max_value=1.0)
    confirm = serializers.BooleanField(default=False)


class AcceptAllResultSerializer(serializers.Serializer):
    threshold = serializers.FloatField()
    accepted = serializers.DictField(child=serializers.ListField(child=serializers.IntegerField()))


def _result(prediction: Prediction, findings, labels=()) -> dict:
    prediction.refresh_from_db()
    return {
        "proposal": PredictionSerializer(prediction).data,
        "findings": [finding_data(f) for f in findings],
        "labels": [label_data(x) for x in labels],
    }


class ProposalAcceptView(APIView):
    """Accept: each region of the proposal becomes a human finding, origin "accepted"; a
    classifier's exam-level scores become the reader's exam label (its `label_choice`), or with
    `laterality` L or R that breast's label from its own scores."""

    @extend_schema(
        request=AcceptSerializer,
        responses={200: ReviewResultSerializer, **errors(400, 401, 403, 404, 409)},
    )
    def post(self, request: Request, pk: int) -> Response:
        prediction = _proposal(request, pk)
        body = AcceptSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = dict(body.validated_data)
        try:
            if prediction.image_id is None:
                label = review.accept_label(prediction, request.user, data.get("laterality", ""))
                return Response(_result(prediction, [], [label]))
            findings = review.accept(prediction, request.user, data)
        except MLServiceError as exc:
            raise _refused(exc) from exc
        return Response(_result(prediction, findings))


class ProposalEditView(APIView):
    """Edit: a human finding from the marks drawn in its place, origin "edited" with the IoU
    and Dice between the proposal and the final marks."""

    @extend_schema(
        request=FindingInputSerializer,
        responses={200: ReviewResultSerializer, **errors(400, 401, 403, 404, 409)},
    )
    def post(self, request: Request, pk: int) -> Response:
        prediction = _proposal(request, pk)
        body = FindingInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = dict(body.validated_data)
        if not data.get("marks"):
            raise ValidationError({"marks": ["An edit needs the final marks."]})
        try:
            finding = review.edit(prediction, request.user, data)
        except MLServiceError as exc:
            raise _refused(exc) from exc
        return Response(_result(prediction, [finding]))


class ProposalRejectView(APIView):
    """Reject, for one of the project's rejection reasons."""

    @extend_schema(
        request=RejectSerializer,
        responses={200: PredictionSerializer, **errors(400, 401, 403, 404, 409)},
    )
    def post(self, request: Request, pk: int) -> Response:
        prediction = _proposal(request, pk)
        body = RejectSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            done = review.reject(prediction, request.user, body.validated_data["reason"])
        except MLServiceError as exc:
            raise _refused(exc) from exc
        return Response(PredictionSerializer(done).data)


class ExamAcceptAllView(APIView):
    """Accept every unreviewed proposal of the exam scoring at least `threshold` (with
    confirm=true; without it, a 400 says how many that would be)."""

    @extend_schema(
        request=AcceptAllSerializer,
        responses={200: AcceptAllResultSerializer, **errors(400, 401, 403, 404, 409)},
    )
    def post(self, request: Request, exam_id: int) -> Response:
        exam = visible_exam(request.user, exam_id)
        require_role(request.user, exam.project_id, BULK_ROLE)
        _check_withheld(exam, request.user)
        body = AcceptAllSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            result = review.accept_all(
                exam,
                request.user,
                body.validated_data["threshold"],
                confirm=body.validated_data["confirm"],
            )
        except MLServiceError as exc:
            raise _refused(exc) from exc
        return Response(result)


class ExamPreannotateView(APIView):
    """Run the project's active versions for this exam's modalities (one Job)."""

    @extend_schema(request=None, responses={202: JobSerializer, **errors(400, 401, 403, 404)})
    def post(self, request: Request, exam_id: int) -> Response:
        exam = visible_exam(request.user, exam_id)
        require_role(request.user, exam.project_id, BULK_ROLE)
        try:
            job = predictions.start_preannotation(exam.project, [exam.pk], user=request.user)
        except MLServiceError as exc:
            raise refused(exc) from exc
        job.refresh_from_db()  # run eagerly (tests, e2e): finished by now
        return Response(JobSerializer(job).data, status=status.HTTP_202_ACCEPTED)


class PreannotateSerializer(serializers.Serializer):
    project = serializers.IntegerField(min_value=1)
    exams = serializers.ListField(
        child=serializers.IntegerField(min_value=1), required=False, max_length=100_000
    )


class PreannotationView(APIView):
    """Pre-annotate a whole project, or a list of its exams (a worklist selection): one Job
    with progress, batched, resumable (/api/preannotations/{job}/resume/)."""

    @extend_schema(
        request=PreannotateSerializer, responses={202: JobSerializer, **errors(400, 401, 403, 404)}
    )
    def post(self, request: Request) -> Response:
        body = PreannotateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        require_role(request.user, body.validated_data["project"], BULK_ROLE)
        project = Project.objects.filter(pk=body.validated_data["project"]).first()
        if project is None:  # staff pass require_role for any id
            raise NotFound("No such project.")
        try:
            job = predictions.start_preannotation(
                project, body.validated_data.get("exams"), user=request.user
            )
        except MLServiceError as exc:
            raise refused(exc) from exc
        job.refresh_from_db()
        return Response(JobSerializer(job).data, status=status.HTTP_202_ACCEPTED)


class PreannotationResumeView(APIView):
    """Queue a failed or cancelled prediction Job again: the exams it finished are skipped."""

    @extend_schema(request=None, responses={202: JobSerializer, **errors(400, 401, 403, 404)})
    def post(self, request: Request, job_id: str) -> Response:
        job = filter_by_project(Job.objects.all(), request.user).filter(pk=job_id).first()
        if job is None or job.project_id is None:
            raise NotFound("No such job.")
        require_role(request.user, job.project_id, BULK_ROLE)
        try:
            job = predictions.resume_prediction(job)
        except MLServiceError as exc:
            raise refused(exc) from exc
        job.refresh_from_db()
        return Response(JobSerializer(job).data, status=status.HTTP_202_ACCEPTED)
