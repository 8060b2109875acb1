"""docs/security.md shows the policy table the checks use, not a stale copy."""

from __future__ import annotations

from pathlib import Path

from senolab.security.policy import POLICY, policy_markdown, rule_for

DOC = Path(__file__).resolve().parents[2] / "docs" / "security.md"


def between(text: str, marker: str) -> str:
    return text.split(f"<!-- {marker}:start -->")[1].split(f"<!-- {marker}:end -->")[0].strip()


def test_docs_policy_table_is_the_declared_policy():
    assert between(DOC.read_text(), "policy") == policy_markdown()


def test_policy_rules_match_in_order_and_unknown_paths_match_nothing():
    # Specific rows win over their resource's family default
    assert rule_for("GET", "/api/projects/{id}/pseudonyms/").access == "owner"
    assert rule_for("GET", "/api/projects/{pk}/").access == "viewer"
    assert rule_for("PUT", "/api/exams/{id}/clinical-record/").access == "annotator"
    assert rule_for("DELETE", "/api/exams/{id}/").access == "owner"
    # An operation nobody declared has no rule, so the matrix test fails on it
    assert rule_for("GET", "/api/secrets/") is None
    assert rule_for("TRACE", "/api/exams/") is None
    assert all(rule.regex for rule in POLICY)


def test_docs_list_every_attribute_the_phi_canary_check_covers():
    from tests.security.phi import known_profile_keywords

    section = between(DOC.read_text(), "deid")
    missing = [k for k in known_profile_keywords() if f" {k}" not in section]
    assert not missing


def test_docs_reference_table_is_the_declared_reference_policy():
    from senolab.security.policy import REFERENCE_POLICY

    assert between(DOC.read_text(), "reference") == policy_markdown(REFERENCE_POLICY)
