"""Every environment variable the code reads is documented and listed in .env.example."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
READS = re.compile(
    r"""(?:environ\.get|environ\[|getenv|env_bool|env_int)\(?\s*["']([A-Z][A-Z0-9_]+)["']"""
)


def _variables_read() -> set[str]:
    names: set[str] = set()
    for package in ("senolab", "annotations", "ml"):
        for path in (ROOT / package).rglob("*.py"):
            names.update(READS.findall(path.read_text(encoding="utf-8")))
    return names


def test_the_code_reads_the_variables_this_test_knows_how_to_find() -> None:
    names = _variables_read()
    assert {"SENOLAB_SECRET_KEY", "DATABASE_URL", "REDIS_URL", "SENOLAB_MAX_UPLOAD_BYTES"} <= names


def test_every_variable_is_in_configuration_md_and_env_example() -> None:
    documented = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    example = (ROOT / ".env.example").read_text(encoding="utf-8")
    missing_doc = sorted(n for n in _variables_read() if f"`{n}`" not in documented)
    missing_example = sorted(
        n for n in _variables_read() if not re.search(rf"^#?\s*{n}=", example, re.M)
    )
    assert missing_doc == [], f"not in docs/configuration.md: {missing_doc}"
    assert missing_example == [], f"not in .env.example: {missing_example}"
