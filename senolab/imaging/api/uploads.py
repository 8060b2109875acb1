"""POST /api/projects/{id}/uploads/: DICOM files or zip archives in, an ingest Job out (202).

What can be checked without decoding is checked here (size limits, DICOM or zip, archive
safety, pixel data present and complete, a decoder for the transfer syntax): an upload of which
no file passes is answered 400 (413 for size limits) and nothing is stored. Accepted files are
staged under generated keys and ingested by a worker; the Job's result lists each failed item.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import transaction
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from senolab.api.errors import PayloadTooLarge, errors
from senolab.imaging.ingest import IngestError
from senolab.imaging.ingest.jobs import (
    JOB_KIND,
    check_upload,
    discard_staged,
    ingest_job_params,
    stage_upload,
)
from senolab.imaging.tasks import ingest_task
from senolab.jobs.api.serializers import JobSerializer
from senolab.jobs.services import create_job, enqueue
from senolab.projects.models import Project, Role
from senolab.projects.permissions import require_role

FIELDS = ("file", "files")


class UploadRequestSerializer(serializers.Serializer):
    """Multipart form: one or more `file` parts, each a DICOM file or a zip archive."""

    file = serializers.ListField(
        child=serializers.FileField(),
        help_text="DICOM files (Part 10) or zip archives of them; folders go in as zips.",
    )


def _too_large(message: str) -> PayloadTooLarge:
    return PayloadTooLarge(f"The upload was refused: {message}.")


class UploadView(APIView):
    """Upload DICOM files or zip archives into a project; ingest runs as a Job."""

    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(
        operation_id="project_uploads_create",
        request={"multipart/form-data": UploadRequestSerializer},
        responses={
            202: JobSerializer,
            **errors(400, 401, 403, 404),
            413: OpenApiResponse(description="The upload or an archive in it is too large."),
            415: OpenApiResponse(description="Not a multipart form."),
        },
    )
    def post(self, request: Request, project_pk: int) -> Response:
        require_role(request.user, project_pk, Role.ANNOTATOR)
        project = Project.objects.filter(pk=project_pk).first()
        if project is None:
            raise NotFound("No such project.")
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
        if declared > int(settings.SENOLAB_MAX_UPLOAD_BYTES):
            raise _too_large("it is larger than this server accepts")
        files = [f for name in FIELDS for f in request.FILES.getlist(name)]
        if not files:
            raise ValidationError({"file": ["Attach one or more DICOM files or zip archives."]})
        accepted, rejected = self._check(files)
        job = self._start(project, request.user, accepted, rejected)
        return Response(JobSerializer(job).data, status=status.HTTP_202_ACCEPTED)

    @staticmethod
    def _check(files: list[Any]) -> tuple[list[tuple[Any, str, str]], list[tuple[str, str]]]:
        accepted, rejected, too_large = [], [], False
        for number, upload in enumerate(files, start=1):
            label = f"upload file {number}"
            try:
                kind = check_upload(upload.file, upload.size or 0)
            except IngestError as exc:
                rejected.append((label, str(exc)))
                too_large = too_large or exc.too_large
                continue
            accepted.append((upload, kind, label))
        if not accepted:
            if len(files) == 1:
                message = rejected[0][1]
            else:
                message = "; ".join(f"{label}: {why}" for label, why in rejected)
            if too_large:
                raise _too_large(message)
            raise ValidationError(f"The upload was refused, nothing was stored: {message}.")
        return accepted, rejected

    @staticmethod
    def _start(
        project: Project,
        user: Any,
        accepted: list[tuple[Any, str, str]],
        rejected: list[tuple[str, str]],
    ) -> Any:
        keys: list[str] = []
        try:
            with transaction.atomic():
                uploads = []
                for upload, kind, label in accepted:
                    key = stage_upload(upload.file, kind)
                    keys.append(key)
                    uploads.append({"key": key, "label": label})
                job = create_job(
                    JOB_KIND,
                    project=project,
                    user=user,
                    params=ingest_job_params(uploads, rejected),
                )
                enqueue(job, ingest_task)
        except BaseException:
            discard_staged(keys)
            raise
        return job
