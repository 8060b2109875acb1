"""POST /api/projects/{id}/clinical-records/import/: clinical records from a CSV file keyed by
patient pseudonym (format: senolab.imaging.clinical). Every row is checked first: one bad row
and nothing is stored (400 listing each bad line and why); else all rows are created or updated
in one transaction and the counts come back."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from senolab.api.errors import PayloadTooLarge, errors
from senolab.imaging import clinical
from senolab.projects.models import Project, Role
from senolab.projects.permissions import require_role

MAX_BYTES = 5 * 1024 * 1024


class ClinicalImportRequestSerializer(serializers.Serializer):
    """Multipart form: one `file` part, a CSV file."""

    file = serializers.FileField(help_text="CSV, UTF-8, header line first (see docs/api.md).")


class ClinicalImportResultSerializer(serializers.Serializer):
    rows = serializers.IntegerField(help_text="Rows read (blank lines left out).")
    created = serializers.IntegerField(help_text="Records created.")
    updated = serializers.IntegerField(help_text="Records updated.")


class ClinicalImportView(APIView):
    """Import clinical records of a project's exams from a CSV file, all or nothing."""

    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(
        operation_id="project_clinical_records_import",
        request={"multipart/form-data": ClinicalImportRequestSerializer},
        responses={200: ClinicalImportResultSerializer, **errors(400, 401, 403, 404)},
    )
    def post(self, request: Request, project_pk: int) -> Response:
        require_role(request.user, project_pk, Role.ANNOTATOR)
        project = Project.objects.filter(pk=project_pk).first()
        if project is None:
            raise NotFound("No such project.")
        upload = request.FILES.get("file")
        if upload is None:
            raise ValidationError({"file": ["Attach a CSV file."]})
        if (upload.size or 0) > MAX_BYTES:
            raise PayloadTooLarge(f"The file is larger than {MAX_BYTES // (1024 * 1024)} MB.")
        try:
            counts = clinical.import_csv(project, upload.read())
        except clinical.ImportError_ as exc:
            error = ValidationError(f"Nothing was stored: {exc}.")
            error.extra = {  # type: ignore[attr-defined]
                "detail": {"rows": [{"line": n, "reason": why} for n, why in exc.problems]}
            }
            raise error from None
        return Response(ClinicalImportResultSerializer(counts).data)
