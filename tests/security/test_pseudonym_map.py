"""The pseudonym map (original patient ids and names) is readable by project owners only."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from senolab.imaging.models import PseudonymEntry
from senolab.security.policy import OWNER, rule_for
from tests.security.matrix import fill_path
from tests.security.operations import api_operations


def map_operations():
    return [op for op in api_operations() if "pseudonym" in op.template and op.method == "GET"]


def test_policy_declares_the_pseudonym_map_owner_only():
    assert map_operations(), "no pseudonym-map endpoint in the API schema"
    assert rule_for("GET", "/api/projects/{id}/pseudonyms/").access == OWNER
    assert all(rule_for(op.method, op.template).access == OWNER for op in map_operations())


@pytest.mark.django_db
def test_pseudonym_map_shows_originals_to_owners_and_nothing_to_anyone_else(seeded_projects):
    # Given project A, whose patient was pseudonymised from an original id
    a, _, users = seeded_projects
    entry = PseudonymEntry.objects.get(project=a.project)
    for op in map_operations():
        path, _ = fill_path(op, a)
        seen = {}
        for actor in ("a_owner", "staff", "a_reviewer", "a_viewer", "b_owner", "anonymous"):
            client = APIClient()
            if actor != "anonymous":
                client.force_authenticate(users[actor])
            response = client.get(path)
            seen[actor] = response.status_code
            text = response.content.decode()
            # Then only owners (and staff) read the original id; nobody else sees it at all
            if actor in ("a_owner", "staff"):
                assert entry.original_patient_id in text and entry.patient.pseudonym in text
            else:
                assert entry.original_patient_id not in text
        assert seen == {
            "a_owner": 200,
            "staff": 200,
            "a_reviewer": 403,
            "a_viewer": 403,
            "b_owner": 404,
            "anonymous": 403,
        }, (path, seen)
