"""Every API operation (found from the schema and the URL resolver) called as every kind of
user on objects of two projects; the expected outcome of each cell comes from the one policy
table in senolab/security/policy.py, and a member of one project never sees the other's data.
The reference rules of the same module are kept too: reference findings are owners' to change,
and a blind reader of a project that hides the reference is sent none of it by any read."""

from __future__ import annotations

import warnings

import pytest
from rest_framework.test import APIClient

from senolab.security.policy import (
    BLIND_READS,
    PROJECT_ROLES,
    SEES_HIDDEN_REFERENCE,
    SIGNED,
    STAFF,
    VIEWER,
    Rule,
    reference_rule_for,
    rule_for,
)
from tests.security.consistency import inconsistencies, stored_keys
from tests.security.matrix import (
    ANONYMOUS,
    KNOWN_SERVER_ERRORS,
    OUTSIDER,
    Call,
    call,
    expected,
    fill_path,
    leaks,
    outcome_ok,
    reference_values,
    signed_path,
)
from tests.security.operations import api_operations


def test_every_api_operation_has_a_policy_row():
    # Given every operation the platform serves under /api/
    operations = api_operations()
    # Then each one is declared in the policy table
    missing = [str(op) for op in operations if rule_for(op.method, op.template) is None]
    assert operations, "no API operations found: the enumeration is broken"
    assert not missing, "operations without a row in senolab/security/policy.py:\n" + "\n".join(
        missing
    )


def relation_of(actor: str, target: str) -> str:
    if actor == ANONYMOUS:
        return ANONYMOUS
    if actor == "staff":
        return STAFF
    project, role = actor.split("_", 1)
    return role if project == target.lower() else OUTSIDER


def run_matrix(seeded_projects) -> list[Call]:
    a, b, users = seeded_projects
    clients = {ANONYMOUS: APIClient()}
    clients[ANONYMOUS].raise_request_exception = False
    for name, user in users.items():
        clients[name] = APIClient()
        clients[name].force_authenticate(user)
    for client in clients.values():
        client.raise_request_exception = False  # a server error is a 500 cell, not a crash
    # Reads first and deletions last, so no cell sees what another changed in storage.
    order = {"GET": 0, "POST": 1, "PUT": 1, "PATCH": 1, "DELETE": 2}
    operations = sorted(api_operations(), key=lambda op: order[op.method])
    calls = []
    for op in operations:
        for target, seeded in (("A", a), ("B", b)):
            path, _ = fill_path(op, seeded)
            refs = reference_values(seeded)
            signed = rule_for(op.method, op.template).access == SIGNED  # type: ignore[union-attr]
            for actor, client in clients.items():
                actor_path = signed_path(path, users.get(actor)) if signed else path
                response, sent = call(client, op, actor_path, refs)
                body = (
                    getattr(response, "content", b"")
                    if not response.streaming
                    else b"".join(response.streaming_content)
                )
                headers = "\n".join(f"{k}: {v}" for k, v in response.items())
                calls.append(
                    Call(
                        op,
                        actor,
                        relation_of(actor, target),
                        target,
                        actor_path,
                        response.status_code,
                        body,
                        headers,
                        sent,
                    )
                )
    return calls


@pytest.mark.django_db
def test_every_operation_answers_every_role_as_the_policy_declares_and_leaks_nothing(
    seeded_projects,
):
    # Given projects A and B with one of everything, and users in every relation to them
    a, b, _ = seeded_projects
    for op in api_operations():
        _, first = fill_path(op, a)
        assert not op.params or first is not None, f"no seeded object for the path of {op}"
    # When every operation is called by every user on the objects of each project
    calls = run_matrix(seeded_projects)
    # Then every status is the one the policy table declares
    wrong, known = [], set()
    for c in calls:
        rule = rule_for(c.op.method, c.op.template)
        want = expected(rule, c.relation, object_scoped=bool(c.op.params), method=c.op.method)
        if not outcome_ok(c.status, c.op.method, want):
            if c.status == 500 and str(c.op) in KNOWN_SERVER_ERRORS:
                known.add(str(c.op))
                continue
            wrong.append(f"{c}: got {c.status}, policy says {want} ({rule.access})")
    for op in sorted(known):
        warnings.warn(f"known server error, {op}: {KNOWN_SERVER_ERRORS[op]}", stacklevel=1)
    # And nobody outside a project sees any canary, id or file name of it
    leaked = []
    for c in calls:
        if c.actor in ("staff", "b_owner") and c.target == "B" or c.actor == "staff":
            continue
        other, distinctive = (b, True) if c.actor != "b_owner" else (a, False)
        for found in leaks(c, other, distinctive):
            leaked.append(f"{c}: {found}")
    assert len(calls) >= len(api_operations()) * 2 * 7
    operations = len(api_operations())
    print(
        f"\npermission matrix: {operations} operations x {len(calls) // operations // 2} users "
        f"x 2 projects = {len(calls)} cells, {len(wrong)} off the policy, "
        f"{len(leaked)} leaks, {len(known)} known server errors"
    )
    report = [f"{len(wrong)} of {len(calls)} cells differ:", *wrong[:60]] if wrong else []
    report += [f"{len(leaked)} leaks:", *leaked[:60]] if leaked else []
    assert not report, "\n".join(report)


@pytest.mark.django_db
def test_seeded_projects_have_no_orphan_files_or_dangling_keys(seeded_projects):
    # The consistency check the crash and upload tests rely on, on data known to be whole
    a, b, _ = seeded_projects
    for seeded in (a, b):
        orphans, dangling = inconsistencies(seeded.project.pk)
        assert stored_keys(seeded.project.pk), "nothing stored: the check would prove nothing"
        assert (orphans, dangling) == (set(), set())
    # And it does notice a file that no row names
    image = next(o for m, o in a.objects.items() if m.__name__ == "Image")
    type(image).objects.filter(pk=image.pk).update(storage_key="")
    orphans, _ = inconsistencies(a.project.pk)
    assert orphans == {image.storage_key}


def _make_reference(seeded) -> None:
    """The seeded finding and label become imported ground truth."""
    from annotations.models import ExamLabel, Finding, Source

    for model in (Finding, ExamLabel):
        row = next(o for m, o in seeded.objects.items() if m is model)
        model.objects.filter(pk=row.pk).update(source=Source.REFERENCE)


@pytest.mark.django_db
def test_reference_findings_answer_every_role_as_the_reference_policy_declares(seeded_projects):
    # Given project A's finding is a reference finding (imported ground truth)
    a, _, users = seeded_projects
    _make_reference(a)
    clients = {name: APIClient() for name in users}
    for name, client in clients.items():
        client.force_authenticate(users[name])
        client.raise_request_exception = False
    # When every operation with a stricter reference rule is called on it by every user
    operations = [op for op in api_operations() if reference_rule_for(op.method, op.template)]
    wrong = []
    for op in operations:
        path, _ = fill_path(op, a)
        rule = reference_rule_for(op.method, op.template)
        for actor, client in clients.items():
            response, _ = call(client, op, path, reference_values(a))
            want = expected(rule, relation_of(actor, "A"), object_scoped=True, method=op.method)
            if not outcome_ok(response.status_code, op.method, want):
                wrong.append(f"{op} as {actor}: got {response.status_code}, want {want}")
    # Then each answer is the one REFERENCE_POLICY declares (owners only)
    assert {str(op) for op in operations} >= {
        "PATCH /api/findings/{id}/",
        "DELETE /api/findings/{id}/",
    }
    assert not wrong, "\n".join(wrong)


@pytest.mark.django_db
def test_a_blind_reader_gets_no_reference_data_from_any_read(seeded_projects):
    # Given project A hides the reference, and its finding and label are reference rows
    a, _, users = seeded_projects
    _make_reference(a)
    type(a.project).objects.filter(pk=a.project.pk).update(hide_reference=True)
    secrets = [f"CANARY{a.tag} finding", f"CANARY{a.tag} label", f"CANARY{a.tag} exam"]
    readers = [f"a_{role}" for role in PROJECT_ROLES]
    clients = {name: APIClient() for name in readers}
    for name, client in clients.items():
        client.force_authenticate(users[name])
        client.raise_request_exception = False
    # When every read of the API is called by every member of A
    seen: dict[str, dict[str, list[str]]] = {name: {} for name in readers}
    hidden_objects = []
    for op in (op for op in api_operations() if op.method == "GET"):
        path, first = fill_path(op, a)
        for actor, client in clients.items():
            response, _ = call(client, op, path, reference_values(a))
            body = (
                b"".join(response.streaming_content) if response.streaming else response.content
            ).decode("utf-8", "replace")
            found = [s for s in secrets if s in body]
            names_reference = type(first).__name__ in ("Finding", "Mark", "FindingVersion")
            if names_reference and response.status_code == 200:
                found.append("the reference row itself")
            if found:
                seen[actor][str(op)] = found
            if names_reference and actor == "a_annotator":
                hidden_objects.append((str(op), response.status_code))
    # Then viewers and annotators got none of it, reviewers and owners all of it
    sees = PROJECT_ROLES.index(SEES_HIDDEN_REFERENCE)
    for actor in readers:
        blind = PROJECT_ROLES.index(actor.removeprefix("a_")) < sees
        assert not blind or not seen[actor], f"{actor} was sent reference data: {seen[actor]}"
    reviewer = {s for found in seen["a_reviewer"].values() for s in found}
    assert reviewer >= set(secrets), "the probe found no reference even for a reviewer"
    # And every read that carries reference data is declared in BLIND_READS
    undeclared = [
        op
        for op in seen["a_owner"]
        if not any(Rule(("GET",), p, VIEWER).matches("GET", op.split()[1]) for p in BLIND_READS)
    ]
    assert not undeclared, f"reads carrying reference data, not in BLIND_READS: {undeclared}"
    assert hidden_objects and all(status == 404 for _, status in hidden_objects), hidden_objects
