"""Every error under /api/ in the API's JSON format, even when Django answers before DRF.

DRF's exception handler (senolab/api/errors.py) formats errors raised in API views, but some
answers never reach a view: the URL resolver's 404 for a path no route matches (an id that is
not a number), Django's 400 for a bad Host header, a 500 page. Clients of the API, and the
schema fuzzing, get {"error": {"code", "message", "detail"}} for those too, and never an HTML
page that could echo input or internals.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from http import HTTPStatus

from django.conf import settings
from django.http import HttpRequest, HttpResponse

API_PREFIX = "/api/"
CODES = {
    400: "bad_request",
    401: "not_authenticated",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    500: "server_error",
}
MESSAGES = {
    404: "There is no API endpoint or object at this address.",
    500: "The server failed to answer this request; the error has been logged.",
}


class ApiErrorFormatMiddleware:
    """Rewrites non-JSON error responses under /api/ into the API's JSON error format."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if (
            response.status_code >= 400
            and request.path.startswith(API_PREFIX)
            and not response.streaming
            and "json" not in response.get("Content-Type", "")
            # In development the technical 500 page is the point.
            and not (settings.DEBUG and response.status_code == 500)
        ):
            return json_error(response)
        return response


def json_error(response: HttpResponse) -> HttpResponse:
    status = response.status_code
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Error"
    body = {
        "error": {
            "code": CODES.get(status, phrase.lower().replace(" ", "_")),
            "message": MESSAGES.get(status, f"{phrase}."),
            "detail": {},
        }
    }
    converted = HttpResponse(json.dumps(body), status=status, content_type="application/json")
    # Keep what tells the client how to go on (Allow on 405, Retry-After, Vary, cookies).
    for header in ("Allow", "Retry-After", "Vary", "WWW-Authenticate"):
        if header in response:
            converted[header] = response[header]
    converted.cookies = response.cookies
    return converted
