"""The frontend's API types (frontend/src/api-schema.d.ts) are generated from the OpenAPI schema
with openapi-typescript: a schema change that is not regenerated (`make api-types`) fails here,
and with it any client code the change breaks fails `tsc` in the frontend build."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from django.core.management import call_command

ROOT = Path(__file__).resolve().parents[2]
FRONTEND = ROOT / "frontend"
CHECKED_IN = FRONTEND / "src" / "api-schema.d.ts"
GENERATOR = FRONTEND / "node_modules" / ".bin" / "openapi-typescript"
# Integer formats follow the database's integer ranges (SQLite's are all 64-bit, PostgreSQL's
# follow the column), so the same API gives "Format: int64" doc comments on one and not on the
# other, alone (`/** Format: int64 */`) or inside a block with a description; they change no
# TypeScript type and are left out of the comparison.
DATABASE_DEPENDENT = {"Format: int64", "Format: int32"}
DOC_COMMENT = re.compile(r"/\*\*(.*?)\*/", re.DOTALL)


def _doc(match: re.Match[str]) -> str:
    lines = [line.strip().lstrip("*").strip() for line in match.group(1).splitlines()]
    kept = [line for line in lines if line and line not in DATABASE_DEPENDENT]
    return f"/** {' | '.join(kept)} */" if kept else ""


def types_of(text: str) -> list[str]:
    canonical = DOC_COMMENT.sub(_doc, text)
    return [line.rstrip() for line in canonical.splitlines() if line.strip()]


def test_checked_in_api_types_match_the_schema(tmp_path: Path) -> None:
    # Given the schema the API serves now
    schema = tmp_path / "openapi.json"
    call_command("spectacular", "--format", "openapi-json", "--file", str(schema))
    assert GENERATOR.exists(), "openapi-typescript is missing: run `make frontend` (npm ci) first"

    # When the client's types are generated from it
    generated = tmp_path / "api-schema.d.ts"
    subprocess.run(
        [str(GENERATOR), str(schema), "--output", str(generated)],
        cwd=FRONTEND,
        check=True,
        capture_output=True,
        timeout=120,
    )

    # Then they are the checked-in ones
    assert types_of(generated.read_text()) == types_of(CHECKED_IN.read_text()), (
        "frontend/src/api-schema.d.ts is out of date with the API schema: run `make api-types`, "
        "fix what `npx tsc --noEmit` then reports in the frontend, and commit both"
    )
