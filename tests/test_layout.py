"""The repository's boundaries that the layout promises (docs/architecture.md)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_benches_import_nothing_from_the_test_suite():
    # Given every bench script
    offenders = {
        str(path.relative_to(ROOT)): sorted(
            m for m in imported_modules(path) if m.split(".")[0] == "tests"
        )
        for path in sorted((ROOT / "bench").glob("*.py"))
    }
    # Then none reaches into tests/: a bench must run from a checkout without the suite's helpers
    assert {k: v for k, v in offenders.items() if v} == {}
