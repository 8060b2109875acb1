"""Who imports whom: imaging is the base (annotations builds on it); the public-dataset importers
and the demo (datasets) build on both, and neither imports them."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def imported_modules(folder: Path, base: Path = ROOT) -> dict[str, set[str]]:
    """Every module each file under folder imports (at any depth, lazily or not)."""
    found: dict[str, set[str]] = {}
    for path in sorted(folder.rglob("*.py")):
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
        if name.split(".")[0] in forbidden or name.startswith(forbidden)
    ]


def test_imaging_imports_neither_annotations_nor_the_datasets_app():
    found = offenders(ROOT / "senolab" / "imaging", ("annotations", "datasets"))
    assert found == []


def test_annotations_does_not_need_the_importers_or_the_demo():
    assert offenders(ROOT / "annotations", ("datasets",)) == []


def test_the_check_sees_a_lazy_import_inside_a_function(tmp_path):
    # given a module that imports annotations inside a function
    (tmp_path / "lazy.py").write_text("def f():\n    from annotations.models import Finding\n")
    # then it is found
    assert offenders(tmp_path, ("annotations",), tmp_path) == ["lazy.py imports annotations.models"]
