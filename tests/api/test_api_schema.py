"""The OpenAPI schema generates without warnings and every API view checks permissions."""

from __future__ import annotations

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from drf_spectacular.drainage import GENERATOR_STATS
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.validation import validate_schema
from rest_framework.permissions import AllowAny
from rest_framework.views import APIView

OWN_PREFIXES = ("senolab.projects.api", "senolab.imaging.api.views")
OWN_DIRS = ("senolab/projects/api", "senolab/imaging/api")
OWN_PATHS = (
    "/api/projects",
    "/api/auth",
    "/api/patients",
    "/api/exams/",
    "/api/series",
    "/api/images",
    "/api/slides",
)


def test_schema_validates_and_these_views_generate_with_no_warnings():
    # Given a fresh generator log
    GENERATOR_STATS.reset()
    # When the whole schema is generated (what /api/schema/ serves)
    schema = SchemaGenerator().get_schema(request=None, public=True)
    # Then it is valid OpenAPI
    validate_schema(schema)
    # And nothing in it warns except what names another app's file (those apps' own tests
    # answer for them; `manage.py spectacular --validate --fail-on-warn` checks everything)
    messages = [*GENERATOR_STATS._warn_cache, *GENERATOR_STATS._error_cache]
    foreign = [m for m in messages if ".py:" in m and not any(d in m for d in OWN_DIRS)]
    assert not [m for m in messages if m not in foreign], messages
    for path in (
        "/api/exams/",
        "/api/images/{id}/render.png",
        "/api/slides/{id}/dzi.xml",
        "/api/exams/{id}/clinical-record/",
        "/api/auth/token/",
        "/api/slides/{id}/tiles/{level}/{col}_{row}.jpeg",
    ):
        assert path in schema["paths"], path
    # And every operation documents its success response and at least one error
    for path, operations in schema["paths"].items():
        if not path.startswith(OWN_PATHS) or path.endswith("/proposals/"):  # proposals: H6's
            continue
        for method, operation in operations.items():
            codes = set(operation["responses"])
            assert any(c.startswith("2") for c in codes), (method, path)
            assert any(c.startswith("4") for c in codes), (method, path)


def _views(patterns, prefix=""):
    for p in patterns:
        if isinstance(p, URLResolver):
            yield from _views(p.url_patterns, prefix + str(p.pattern))
        elif isinstance(p, URLPattern):
            yield prefix + str(p.pattern), getattr(p.callback, "cls", None)


@pytest.mark.parametrize("module", OWN_PREFIXES)
def test_every_view_has_a_permission_class_beyond_allow_any(module):
    views = [
        (route, cls)
        for route, cls in _views(get_resolver().url_patterns)
        if cls is not None and cls.__module__.startswith(module)
    ]
    assert views, f"no views of {module} are routed"
    for route, cls in views:
        assert issubclass(cls, APIView)
        classes = cls.permission_classes
        assert classes, route
        if AllowAny in classes:
            # Only the token exchange is open, and it is throttled
            assert route.endswith("auth/token/") and cls.throttle_scope == "login", route


def test_schema_endpoint_is_public(client):
    response = client.get("/api/schema/")
    assert response.status_code == 200
