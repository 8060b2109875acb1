"""Every API operation (found from the schema and the URL resolver) called as every kind of
user on objects of two projects; the expected outcome of each cell comes from the one policy
table in senolab/security/policy.py, and a member of one project never sees the other's data."""

from __future__ import annotations

import warnings

import pytest
from rest_framework.test import APIClient

from senolab.security.policy import STAFF, rule_for
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
            for actor, client in clients.items():
                response, sent = call(client, op, path, refs)
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
                        path,
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
