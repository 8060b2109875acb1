"""One JSON error format for the whole API: {"error": {"code", "message", "detail"}}.

`exception_handler` writes it for every error raised in an API view (settings.REST_FRAMEWORK);
senolab.security.errors does the same for answers Django gives before a view runs; `errors()`
documents it in the OpenAPI schema, per status code, for the views' extend_schema.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404
from drf_spectacular.utils import OpenApiResponse
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "Someone else saved a newer version."
    default_code = "conflict"


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The upload is larger than this server accepts."
    default_code = "too_large"


class ErrorBodySerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Machine-readable, e.g. invalid, not_found, conflict.")
    message = serializers.CharField(help_text="One sentence a person understands.")
    detail = serializers.JSONField(help_text="Per field messages for invalid input, else details.")


class ErrorSerializer(serializers.Serializer):
    """The body of every error answer of the API (schema only)."""

    error = ErrorBodySerializer()


ERRORS = {
    400: "Invalid input; error.detail says which field and why.",
    401: "Not logged in.",
    403: "Your role in the project does not allow this.",
    404: "No such object in your projects.",
    409: "The request conflicts with the stored state; error.message says how.",
}


def error_response(description: str) -> OpenApiResponse:
    """One OpenAPI error response with the API's error body."""
    return OpenApiResponse(response=ErrorSerializer, description=description)


def errors(*codes: int) -> dict[int, OpenApiResponse]:
    """OpenAPI responses of these error status codes, each with the API's error body."""
    return {code: error_response(ERRORS[code]) for code in codes}


# Field names as a reader says them in a message ("BI-RADS: ...", not "birads: ..."); the
# keys whose messages are whole sentences of their own are not prefixed.
_FIELD_WORDS = {"birads": "BI-RADS", "slug": "Short name", "username": "User name"}
_SENTENCE_KEYS = {"non_field_errors", "detail", "labels"}


def _field(name: str | int) -> str:
    if isinstance(name, int):  # a list's errors are keyed by position: count from 1 for people
        return f"item {name + 1}"
    return _FIELD_WORDS.get(name) or name.replace("_", " ").capitalize()


def _message(detail: Any) -> str:
    if isinstance(detail, list):
        return "; ".join(_message(d) for d in detail)
    if isinstance(detail, dict):
        return "; ".join(
            f"{_field(k)}: {_message(v)}" if k not in _SENTENCE_KEYS else _message(v)
            for k, v in detail.items()
        )
    return str(detail)


def exception_handler(exc: Exception, context: dict) -> Response | None:
    if isinstance(exc, Http404):
        exc = exceptions.NotFound(str(exc) or "Not found.")
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or None)
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    detail = response.data
    code = getattr(exc, "default_code", "error")
    if isinstance(exc, exceptions.APIException):
        codes = exc.get_codes()
        code = codes if isinstance(codes, str) else getattr(exc, "default_code", "invalid")
    extra = getattr(exc, "extra", None)
    body: dict[str, Any] = {"error": {"code": code, "message": _message(detail), "detail": detail}}
    if extra:
        body["error"].update(extra)
    response.data = body
    return response
