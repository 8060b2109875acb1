"""Slide tiles under a signed URL (senolab.imaging.tiles): a plain view and the middleware that
serves it before the session, CSRF and DRF layers, which a tile under a signed URL does not need.

The view is also routed (`/api/slides/{pk}/t/{token}/{level}/{col}_{row}.jpeg`), so the URL
resolver, the permission matrix and a deployment without the middleware all reach the same code.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, JsonResponse

from senolab.imaging import tiles

SIGNED_TILE_PATH = re.compile(
    r"^/api/slides/(?P<pk>[0-9]{1,10})/t/(?P<token>[A-Za-z0-9_~.\-]{1,200})/"
    r"(?P<level>[0-9]{1,2})/(?P<col>[0-9]{1,6})_(?P<row>[0-9]{1,6})\.jpeg$"
)


def _error(status: int, code: str, message: str) -> JsonResponse:
    body = {"error": {"code": code, "message": message, "detail": None}}
    return JsonResponse(body, status=status)


def signed_tile(
    request: HttpRequest, pk: str, token: str, level: str, col: str, row: str
) -> HttpResponse:
    """One JPEG tile of a Deep Zoom level, for the holder of the slide's signed tile URL."""
    if request.method not in ("GET", "HEAD"):
        return _error(405, "method_not_allowed", "Tiles can only be read.")
    slide_id = int(pk)
    try:
        user_id = tiles.read_token(token, slide_id)
    except tiles.TileTokenError as exc:
        return _error(403, "permission_denied", str(exc))
    grant = tiles.grants.get(user_id, slide_id)
    if grant is None:
        return _error(404, "not_found", "No such slide in your projects.")
    data = tiles.tile_bytes(grant, int(level), int(col), int(row))
    if data is None:
        return _error(404, "not_found", "No such tile: it lies outside the slide.")
    response = HttpResponse(data, content_type="image/jpeg")
    # The URL changes when the token does (hourly), so the browser may keep a tile until then.
    response["Cache-Control"] = "private, max-age=3600"
    return response


class SignedTileMiddleware:
    """Answers signed tile URLs at once; every other request goes on down the stack.

    It sits after the security-header middlewares, so tiles carry the same headers as the rest
    of the API, and before sessions, CSRF, authentication and messages, which cost a tile more
    than reading it from the cache and which a signed URL makes unnecessary.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        path = request.path_info
        if path.startswith("/api/slides/") and "/t/" in path:
            match = SIGNED_TILE_PATH.match(path)
            if match:
                return signed_tile(request, **match.groupdict())
        return self.get_response(request)
