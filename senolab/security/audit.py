"""Dependency audit for CI: pip-audit over the installed environment, npm audit over the
frontend's lock file. Run as `python -m senolab.security.audit pip|npm` (from .ci/run).

A known vulnerability fails the build unless its id is waived in SENOLAB_AUDIT_IGNORE (space
separated; each waiver has a written reason in docs/security.md). PyPI's advisory data carries no
severities, so every pip finding counts; for npm, high and critical ones count.

An advisory service that cannot be reached is not a clean bill: the tool says so loudly, and
fails when SENOLAB_AUDIT_REQUIRED=1 (set it where CI has the internet; the development network
here reaches the package indexes but not PyPI's JSON API, OSV or npm's advisory endpoint).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

NPM_FAILING = ("high", "critical")


@dataclass
class AuditResult:
    """What one audit found: how much it could check and which findings fail the build."""

    tool: str
    audited: int = 0
    unauditable: int = 0
    findings: list[str] = field(default_factory=list)  # failing, not waived
    waived: list[str] = field(default_factory=list)
    unreachable: str = ""  # why the advisory service gave no answer at all

    def summary(self) -> str:
        head = (
            f"{self.tool}: {self.audited} packages audited, {self.unauditable} not auditable "
            f"from this network, {len(self.findings)} failing findings, "
            f"{len(self.waived)} waived"
        )
        lines = [head, *(f"  {f}" for f in self.findings), *(f"  waived: {w}" for w in self.waived)]
        if self.unreachable:
            lines.append(f"  ADVISORY SERVICE UNREACHABLE: {self.unreachable}")
        return "\n".join(lines)

    def passed(self, required: bool) -> bool:
        if self.findings:
            return False
        return not (required and (self.unreachable or self.audited == 0))


def read_pip_audit(report: dict, ignore: set[str]) -> AuditResult:
    """pip-audit's JSON (`-f json`): every vulnerability of an audited package is a finding."""
    result = AuditResult("pip-audit")
    for dep in report.get("dependencies", []):
        if "skip_reason" in dep:
            result.unauditable += 1
            continue
        result.audited += 1
        for vuln in dep.get("vulns", []):
            ids = {vuln["id"], *vuln.get("aliases", [])}
            fixes = ", ".join(vuln.get("fix_versions") or []) or "no release"
            line = f"{dep['name']} {dep['version']}: {vuln['id']} (fixed in {fixes})"
            (result.waived if ids & ignore else result.findings).append(line)
    if result.audited == 0 and result.unauditable:
        result.unreachable = "PyPI's vulnerability data answered for no package"
    return result


def _advisories(via: list) -> list[set[str]]:
    """The ids of each advisory behind a finding: npm's number and the GHSA id of its URL."""
    found = []
    for item in via:
        if isinstance(item, dict):
            ids = {str(item.get("source", "")), str(item.get("url", "")).rsplit("/", 1)[-1]}
            found.append(ids - {""})
    return found


def read_npm_audit(report: dict, ignore: set[str]) -> AuditResult:
    """npm audit's JSON (v7+): high and critical vulnerabilities are findings."""
    result = AuditResult("npm audit")
    if "vulnerabilities" not in report or "metadata" not in report:
        result.unreachable = str(report.get("message") or report.get("error") or report)[:200]
        return result
    deps = report["metadata"].get("dependencies", {})
    result.audited = int(deps.get("prod", deps.get("total", 0)) or 0)
    for name, vuln in sorted(report["vulnerabilities"].items()):
        if vuln.get("severity") not in NPM_FAILING:
            continue
        advisories = _advisories(vuln.get("via", []))
        if not advisories:
            continue  # only inherited from a dependency, whose own entry is counted
        ids = sorted(i for a in advisories for i in a if not i.isdigit())
        line = f"{name} {vuln.get('range', '')}: {vuln['severity']} {ids or vuln['via']}"
        # Waived only when every advisory behind it is (a dependency's own finding is in via).
        waived = all(a & ignore for a in advisories)
        (result.waived if waived else result.findings).append(line)
    return result


def run_pip(ignore: set[str]) -> AuditResult:
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        args = [sys.executable, "-m", "pip_audit", "--progress-spinner", "off", "-f", "json"]
        proc = subprocess.run([*args, "-o", out.name], capture_output=True, text=True)
        text = Path(out.name).read_text()
    if not text.strip():
        result = AuditResult("pip-audit")
        result.unreachable = (proc.stderr or proc.stdout).strip()[-300:] or "no report"
        return result
    return read_pip_audit(json.loads(text), ignore)


def run_npm(ignore: set[str], folder: Path) -> AuditResult:
    proc = subprocess.run(
        ["npm", "audit", "--omit=dev", "--json"], cwd=folder, capture_output=True, text=True
    )
    try:
        report = json.loads(proc.stdout or "{}")
    except json.JSONDecodeError:
        report = {"message": proc.stdout[-300:] or proc.stderr[-300:]}
    return read_npm_audit(report, ignore)


def main(argv: list[str]) -> int:
    ignore = set(os.environ.get("SENOLAB_AUDIT_IGNORE", "").split())
    required = os.environ.get("SENOLAB_AUDIT_REQUIRED", "") == "1"
    tool = argv[0] if argv else "pip"
    if tool == "npm":
        result = run_npm(ignore, Path(argv[1] if len(argv) > 1 else "frontend"))
    else:
        result = run_pip(ignore)
    print(result.summary())
    return 0 if result.passed(required) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
