"""docs/adr/0003: who imports whom. The platform core (senolab/) never imports the domain apps
(annotations/, ml/, datasets/); annotations builds on imaging and never imports ml or the
datasets app; the datasets app (public-dataset importers, the demo) builds on both. Lazy
imports inside functions count too."""

from __future__ import annotations

import ast
from pathlib import Path

from annotations.models import Source
from senolab.projects.reference import REFERENCE_SOURCE

ROOT = Path(__file__).resolve().parent.parent
DOMAIN_APPS = ("annotations", "ml", "datasets")


def imported_modules(folder: Path, base: Path = ROOT) -> dict[str, set[str]]:
    """Every module each file under folder imports (at any depth, lazily or not)."""
    found: dict[str, set[str]] = {}
    for path in sorted(folder.rglob("*.py")):
        if "migrations" in path.parts:
            continue
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names.add(node.module)
        found[path.relative_to(base).as_posix()] = names
    return found


def offenders(folder: Path, forbidden: tuple[str, ...], base: Path = ROOT) -> list[str]:
    return [
        f"{path} imports {name}"
        for path, names in imported_modules(folder, base).items()
        for name in sorted(names)
        if name.split(".")[0] in forbidden
    ]


def test_the_platform_core_imports_no_domain_app():
    assert offenders(ROOT / "senolab", DOMAIN_APPS) == []


def test_annotations_imports_neither_ml_nor_the_datasets_app():
    assert offenders(ROOT / "annotations", ("ml", "datasets")) == []


def test_the_core_names_the_reference_source_as_annotations_stores_it():
    # The core filters blind reads by this value without importing annotations
    assert REFERENCE_SOURCE == Source.REFERENCE


def test_the_check_sees_a_lazy_import_inside_a_function(tmp_path):
    # given a module that imports annotations inside a function
    (tmp_path / "lazy.py").write_text("def f():\n    from annotations.models import Finding\n")
    # then it is found
    assert offenders(tmp_path, ("annotations",), tmp_path) == ["lazy.py imports annotations.models"]
