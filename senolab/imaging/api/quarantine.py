"""Burned-in text quarantine: a reviewer marks an image clean or masks its configured regions;
owners read the unmasked de-identified original (see senolab.imaging.deid.burned_in)."""

from __future__ import annotations

from django.http import FileResponse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from senolab.api.errors import Conflict, errors
from senolab.imaging import storage
from senolab.imaging.api.serializers import ImageSerializer
from senolab.imaging.api.views import BINARY, ProjectScoped
from senolab.imaging.deid.burned_in import (
    QuarantineError,
    mark_reviewed_clean,
    mask_configured_regions,
)
from senolab.imaging.ingest import IngestError
from senolab.imaging.models import Image
from senolab.projects.models import Role

CHANGES = {
    **errors(400, 401, 403, 404),
    409: OpenApiResponse(description="The image is not quarantined (already released)."),
}


class _ImageAction(ProjectScoped, generics.GenericAPIView):
    serializer_class = ImageSerializer

    @property
    def write_role(self) -> str:
        return Role.REVIEWER

    def get_queryset(self):
        return self.scoped(Image.objects.order_by("id"))

    @staticmethod
    def _translate(exc: QuarantineError) -> Exception:
        return Conflict(exc.message) if exc.conflict else ValidationError(exc.message)


class MarkCleanView(_ImageAction):
    @extend_schema(request=None, responses={200: ImageSerializer, **CHANGES})
    def post(self, request: Request, pk: str) -> Response:
        """A reviewer looked at every frame of a quarantined image and found no identifying
        text: it becomes usable for research."""
        try:
            image = mark_reviewed_clean(self.get_object(), request.user)
        except QuarantineError as exc:
            raise self._translate(exc) from None
        return Response(ImageSerializer(image).data)


class MaskView(_ImageAction):
    @extend_schema(request=None, responses={200: ImageSerializer, **CHANGES})
    def post(self, request: Request, pk: str) -> Response:
        """Mask the rectangles configured for the image's manufacturer and model
        (SENOLAB_BURNED_IN_MASKS) in the stored DICOM and the pixel cache; the image becomes
        usable for research and its unmasked original stays readable by owners."""
        try:
            image = mask_configured_regions(self.get_object(), request.user)
        except QuarantineError as exc:
            raise self._translate(exc) from None
        except IngestError as exc:  # the stored file no longer decodes
            raise ValidationError(f"The image could not be masked: {exc}") from None
        return Response(ImageSerializer(image).data)


class UnmaskedDicomView(_ImageAction):
    read_role = Role.OWNER

    @extend_schema(responses={(200, "application/dicom"): BINARY, **errors(401, 403, 404)})
    def get(self, request: Request, pk: str) -> FileResponse:
        """The de-identified DICOM as it was before masking (owners only)."""
        image = self.get_object()
        if not image.unmasked_storage_key:
            raise NotFound("This image was not masked: it has no unmasked original.")
        response = FileResponse(
            storage.open_file(image.unmasked_storage_key), content_type="application/dicom"
        )
        response["Content-Disposition"] = f'attachment; filename="image-{image.pk}-unmasked.dcm"'
        return response
