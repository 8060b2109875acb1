"""Model versions as packages: download one (artifact, model card, checksums) and import one
into another project, its checksum verified (ml.services.artifacts).

Both need reviewer or owner in the project concerned: the weights leave, or a model enters the
registry. Every download and every import is a row in the access audit log.
"""

from __future__ import annotations

from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from ml.api.serializers import ModelVersionDetailSerializer
from ml.models import ModelVersion
from ml.services import artifacts
from senolab.api.errors import errors
from senolab.audit import services as audit
from senolab.projects.models import Project, Role
from senolab.projects.permissions import filter_by_project, require_role

PACKAGE_ROLE = Role.REVIEWER


class ModelImportSerializer(serializers.Serializer):
    project = serializers.PrimaryKeyRelatedField(queryset=Project.objects.all())
    file = serializers.FileField(help_text="A package downloaded from .../package/ (zip)")


class ModelPackageView(APIView):
    """GET: the version's package (zip: model.pt, model_card.json, SHA256SUMS), streamed."""

    permission_classes = [IsAuthenticated]

    @extend_schema(
        responses={
            (200, "application/zip"): OpenApiResponse(OpenApiTypes.BINARY),
            **errors(401, 403, 404),
        },
    )
    def get(self, request: Request, pk: int) -> StreamingHttpResponse:
        version = filter_by_project(ModelVersion.objects.all(), request.user).filter(pk=pk).first()
        if version is None:
            raise NotFound("No such model version.")
        require_role(request.user, version.project_id, PACKAGE_ROLE)
        audit.record_artifact_download(request, version)
        response = StreamingHttpResponse(
            artifacts.package_chunks(version), content_type="application/zip"
        )
        response["Content-Disposition"] = (
            f'attachment; filename="senolab-model-{version.recipe}-v{version.pk}.zip"'
        )
        response["X-Artifact-SHA256"] = version.artifact_sha256
        return response


class ModelImportView(APIView):
    """POST (multipart: project, file): register a package as a candidate version."""

    permission_classes = [IsAuthenticated]
    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(
        request={"multipart/form-data": ModelImportSerializer},
        responses={201: ModelVersionDetailSerializer, **errors(400, 401, 403, 404)},
    )
    def post(self, request: Request) -> Response:
        # The role is checked before the body is read: a viewer learns nothing from a 400 or
        # a 415. The project may be named in the query string too (?project=).
        project_id = request.query_params.get("project") or ""
        if not project_id and hasattr(request.data, "get"):
            project_id = str(request.data.get("project") or "")
        if project_id.isdigit() and Project.objects.filter(pk=int(project_id)).exists():
            require_role(request.user, int(project_id), PACKAGE_ROLE)
        body = ModelImportSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        project = body.validated_data["project"]
        require_role(request.user, project, PACKAGE_ROLE)
        try:
            version = artifacts.import_package(
                project, body.validated_data["file"], user=request.user
            )
        except artifacts.PackageRefused as exc:
            raise ValidationError({exc.field: [str(exc)]}) from exc
        audit.record_artifact_import(request, version, sha256=version.artifact_sha256)
        return Response(ModelVersionDetailSerializer(version).data, status=status.HTTP_201_CREATED)
