"""GET /api/: a link to every top-level resource of the API, found in the URL configuration.

Every route one segment below /api/ without path parameters (the router's list routes, the
worklist, the recipes, ...) appears, so resources added later are listed without editing this
view.
"""

from __future__ import annotations

import re

from django.urls import URLPattern, URLResolver, get_resolver
from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

TOP_LEVEL = re.compile(r"api/([a-z0-9-]+)/")
SKIP = {"schema", "docs", "health"}  # added by name below, or not a resource


def top_level_routes() -> list[str]:
    """Paths like "api/exams/" of the parameterless top-level routes under /api/."""
    found: set[str] = set()

    def walk(patterns: list, prefix: str) -> None:
        for entry in patterns:
            route = prefix + str(entry.pattern).lstrip("^").rstrip("$")
            if isinstance(entry, URLResolver):
                walk(entry.url_patterns, route)
            elif isinstance(entry, URLPattern) and TOP_LEVEL.fullmatch(route):
                found.add(route)

    walk(get_resolver().url_patterns, "")
    return sorted(r for r in found if r.split("/")[1] not in SKIP)


class ApiRootView(APIView):
    """The API's collections, the OpenAPI schema and its interactive docs."""

    @extend_schema(exclude=True)
    def get(self, request: Request) -> Response:
        links = {
            route.removeprefix("api/").rstrip("/"): request.build_absolute_uri("/" + route)
            for route in top_level_routes()
        }
        links["schema"] = request.build_absolute_uri("/api/schema/")
        links["docs"] = request.build_absolute_uri("/api/docs/")
        return Response(links)
