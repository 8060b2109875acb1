"""One JSON error format for the whole API: {"error": {"code", "message", "detail"}}."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404
from rest_framework import exceptions, status
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


# Field names as a reader says them in a message ("BI-RADS: ...", not "birads: ..."); the
# keys whose messages are whole sentences of their own are not prefixed.
_FIELD_WORDS = {"birads": "BI-RADS", "slug": "Short name", "username": "User name"}
_SENTENCE_KEYS = {"non_field_errors", "detail", "labels"}


def _field(name: str) -> str:
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
