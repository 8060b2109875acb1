"""Storage and database agree: every stored file has a row that names it, and every key a row
names is a stored file. Keys are found generically (any text or JSON value of any model that
looks like a storage key), so models added later are covered."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from django.apps import apps
from django.conf import settings
from django.db import models

KEY_PREFIX = "projects/"


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list | tuple):
        for v in value:
            yield from _strings(v)


def referenced_keys() -> set[str]:
    """Every storage key any row of any model names."""
    keys: set[str] = set()
    for model in apps.get_models():
        fields = [
            f.name
            for f in model._meta.concrete_fields
            if isinstance(f, models.CharField | models.TextField | models.JSONField)
        ]
        if not fields:
            continue
        for row in model.objects.values_list(*fields):
            for value in row:
                keys.update(s for s in _strings(value) if s.startswith(KEY_PREFIX))
    return keys


def stored_keys(project_id: int | None = None) -> set[str]:
    """Keys of the files in local media storage (below one project's folder if given)."""
    media = Path(settings.MEDIA_ROOT)
    root = media / KEY_PREFIX / str(project_id) if project_id is not None else media / KEY_PREFIX
    if not root.exists():
        return set()
    return {str(p.relative_to(media)) for p in root.rglob("*") if p.is_file()}


def inconsistencies(project_id: int | None = None) -> tuple[set[str], set[str]]:
    """(files no row names, keys named by rows with no file), for one project or all."""
    stored = stored_keys(project_id)
    named = referenced_keys()
    if project_id is not None:
        named = {k for k in named if k.startswith(f"{KEY_PREFIX}{project_id}/")}
    return stored - named, named - stored
