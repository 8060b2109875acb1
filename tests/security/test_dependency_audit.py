"""The CI dependency audit's verdicts (senolab/security/audit.py) on reports shaped like
pip-audit's and npm audit's JSON: findings fail, waivers by id pass, and an advisory service
that answered nothing is never taken for a clean result when the audit is required."""

from __future__ import annotations

from senolab.security.audit import read_npm_audit, read_pip_audit


def pip_report(*deps: dict) -> dict:
    return {"dependencies": list(deps), "fixes": []}


DJANGO_VULN = {
    "name": "django",
    "version": "5.2.0",
    "vulns": [
        {"id": "PYSEC-2025-1", "aliases": ["GHSA-aaaa-bbbb-cccc"], "fix_versions": ["5.2.1"]}
    ],
}
CLEAN = {"name": "numpy", "version": "2.3.0", "vulns": []}
SKIPPED = {"name": "private-pkg", "version": "1.0", "skip_reason": "Dependency not found on PyPI"}


def test_a_pip_vulnerability_fails_and_names_the_fix():
    result = read_pip_audit(pip_report(DJANGO_VULN, CLEAN), ignore=set())
    assert result.audited == 2 and not result.passed(required=False)
    assert result.findings == ["django 5.2.0: PYSEC-2025-1 (fixed in 5.2.1)"]


def test_a_pip_vulnerability_waived_by_an_alias_passes():
    result = read_pip_audit(pip_report(DJANGO_VULN, CLEAN), ignore={"GHSA-aaaa-bbbb-cccc"})
    assert result.passed(required=True) and result.waived and not result.findings


def test_pip_audit_that_reached_no_package_fails_only_when_required():
    result = read_pip_audit(pip_report(SKIPPED, SKIPPED), ignore=set())
    assert result.audited == 0 and result.unauditable == 2 and result.unreachable
    assert result.passed(required=False) and not result.passed(required=True)
    assert "UNREACHABLE" in result.summary()


def npm_report(vulnerabilities: dict, prod: int = 40) -> dict:
    return {
        "auditReportVersion": 2,
        "vulnerabilities": vulnerabilities,
        "metadata": {"vulnerabilities": {}, "dependencies": {"prod": prod, "total": prod}},
    }


def npm_vuln(severity: str, ghsa: str) -> dict:
    via = [{"source": 1100, "url": f"https://github.com/advisories/{ghsa}", "severity": severity}]
    return {"name": "x", "severity": severity, "via": via, "range": "<1.2.3"}


def test_npm_high_and_critical_fail_and_moderate_does_not():
    report = npm_report(
        {
            "dicom-parser": npm_vuln("moderate", "GHSA-mmmm-mmmm-mmmm"),
            "openseadragon": npm_vuln("high", "GHSA-hhhh-hhhh-hhhh"),
        }
    )
    result = read_npm_audit(report, ignore=set())
    assert result.audited == 40 and len(result.findings) == 1
    assert result.findings[0].startswith("openseadragon <1.2.3: high")
    assert read_npm_audit(report, ignore={"GHSA-hhhh-hhhh-hhhh"}).passed(required=True)


def test_npm_advisory_endpoint_error_is_reported_as_unreachable_not_clean():
    error = {"message": "405 Method Not Allowed - POST .../advisories/bulk", "statusCode": 405}
    result = read_npm_audit(error, ignore=set())
    assert "405" in result.unreachable and not result.passed(required=True)
