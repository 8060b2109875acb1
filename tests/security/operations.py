"""Every API operation, found rather than listed: the live OpenAPI schema (drf-spectacular)
plus the URL resolver for views the schema leaves out (plain Django views, excluded views)."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.urls import URLPattern, URLResolver, get_resolver
from django.urls.resolvers import RegexPattern
from drf_spectacular.generators import SchemaGenerator

from senolab.security.policy import canonical

HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


@dataclass(frozen=True)
class Operation:
    """One method on one path template, e.g. GET /api/exams/{id}/."""

    method: str
    template: str
    operation_id: str = ""
    callback: Any = None

    @property
    def params(self) -> list[str]:
        return re.findall(r"\{([^}/]*)\}", self.template)

    def __str__(self) -> str:
        return f"{self.method} {self.template}"


def _regex_to_template(regex: str) -> str:
    """'^exams/(?P<pk>[^/.]+)/$' -> 'exams/{pk}/' (balanced groups, escapes undone)."""
    out, i = [], 0
    regex = regex.removeprefix("^").removesuffix("$").removesuffix("\\Z")
    while i < len(regex):
        if regex.startswith("(?P<", i):
            name = regex[i + 4 : regex.index(">", i)]
            depth, j = 0, i
            while True:
                if regex[j] == "\\":
                    j += 2
                    continue
                depth += {"(": 1, ")": -1}.get(regex[j], 0)
                j += 1
                if depth == 0:
                    break
            out.append("{" + name + "}")
            i = j
        elif regex[i] == "\\" and i + 1 < len(regex):
            out.append(regex[i + 1])
            i += 2
        else:
            out.append(regex[i])
            i += 1
    return "".join(out).replace("/?", "/")


def _piece(pattern: Any) -> str:
    text = str(pattern)
    if isinstance(pattern, RegexPattern):
        return _regex_to_template(text)
    return re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", text)  # RoutePattern: <int:pk> -> {pk}


def resolver_routes(
    patterns: list[URLPattern | URLResolver] | None = None, prefix: str = "/"
) -> Iterator[tuple[str, Any]]:
    """(path template, view callback) for every route the URL resolver knows."""
    for entry in patterns if patterns is not None else get_resolver().url_patterns:
        piece = _piece(entry.pattern)
        if isinstance(entry, URLResolver):
            yield from resolver_routes(entry.url_patterns, prefix + piece)
        else:
            yield prefix + piece, entry.callback


def view_methods(callback: Any) -> list[str]:
    """The HTTP methods a view answers: DRF viewset actions, class-view handlers, else GET."""
    actions = getattr(callback, "actions", None)
    if actions:
        return sorted({m.upper() for m in actions} & set(HTTP_METHODS))
    cls = getattr(callback, "cls", None) or getattr(callback, "view_class", None)
    if cls is not None:
        return [m for m in HTTP_METHODS if hasattr(cls, m.lower())]
    allowed = getattr(callback, "senolab_methods", None)  # set by views that declare them
    return list(allowed) if allowed else ["GET"]


def schema_operations() -> list[Operation]:
    schema = SchemaGenerator().get_schema(request=None, public=True)
    ops = []
    for template, item in schema["paths"].items():
        for method, spec in item.items():
            if method.upper() in HTTP_METHODS:
                ops.append(Operation(method.upper(), template, spec.get("operationId", "")))
    return ops


@functools.cache
def api_operations() -> tuple[Operation, ...]:
    """Every operation under /api/: the schema's, plus resolver routes the schema lacks."""
    found = {(op.method, canonical(op.template)): op for op in schema_operations()}
    for template, callback in resolver_routes():
        if not template.startswith("/api/") or "{format}" in template or template == "/api/":
            continue
        for method in view_methods(callback):
            found.setdefault(
                (method, canonical(template)), Operation(method, template, "", callback)
            )
    return tuple(sorted(found.values(), key=lambda op: (op.template, op.method)))
