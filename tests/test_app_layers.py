"""docs/adr/0003: the platform core (senolab/) never imports the domain apps (annotations/, ml/),
and annotations never imports ml."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Core modules that still import a domain app, to be moved out (issue 15); none may be added.
MOVING_OUT = {
    "senolab/imaging/demo.py",
    "senolab/imaging/importers/base.py",
    "senolab/imaging/api/filters.py",
}


def _imported(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
        elif isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
    return names


def _offenders(package: str, forbidden: set[str]) -> list[str]:
    return sorted(
        rel
        for path in (ROOT / package).rglob("*.py")
        if "migrations" not in path.parts
        and (rel := path.relative_to(ROOT).as_posix()) not in MOVING_OUT
        and _imported(path) & forbidden
    )


def test_the_platform_core_imports_no_domain_app():
    assert _offenders("senolab", {"annotations", "ml"}) == []


def test_annotations_never_import_ml():
    assert _offenders("annotations", {"ml"}) == []
