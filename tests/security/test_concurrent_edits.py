"""Concurrent edits: many clients save the same finding version at once through the API.
Exactly one wins each round, the others get 409 with the stored finding; when every loser
retries on what it was shown, every edit lands and the version history holds all of them."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from django.db import connection
from rest_framework.test import APIClient

from senolab.imaging.raster import ingest_raster
from tests.security.operations import api_operations

CLIENTS = 8


def _has(method: str, template_start: str) -> bool:
    return any(
        op.method == method and op.template.startswith(template_start) and op.params
        for op in api_operations()
    )


def test_the_findings_api_accepts_patch():
    # A missing endpoint fails here instead of skipping the concurrency tests below.
    assert _has("PATCH", "/api/findings/")


def _patch_all(finding_id: int, users: list, versions: list[int], notes: list[str]) -> list:
    """All clients PATCH at the same instant (a barrier), each on its own DB connection."""
    barrier = threading.Barrier(len(users))
    results: list = [None] * len(users)

    def save(i: int) -> None:
        client = APIClient()
        client.force_authenticate(users[i])
        barrier.wait()
        try:
            response = client.patch(
                f"/api/findings/{finding_id}/",
                {"version": versions[i], "note": notes[i]},
                format="json",
            )
            results[i] = (response.status_code, response.json())
        finally:
            connection.close()

    threads = [threading.Thread(target=save, args=(i,)) for i in range(len(users))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return results


@pytest.mark.django_db(transaction=True)
def test_simultaneous_saves_of_one_version_let_exactly_one_win_and_lose_nothing(
    make_user, make_project
):
    # Given a finding and eight annotators who all loaded version 1
    owner = make_user()
    annotators = [make_user() for _ in range(CLIENTS)]
    project = make_project(owner=owner)
    for user in annotators:
        project.memberships.create(user=user, role="annotator")
    image = ingest_raster(
        project,
        np.zeros((16, 16), np.uint8),
        patient_key="p",
        exam_key="e",
        modality="MG",
        laterality="L",
        view="CC",
    )
    client = APIClient()
    client.force_authenticate(owner)
    created = client.post(
        "/api/findings/",
        {
            "exam": image.exam_id,
            "finding_type": "mass",
            "birads": "4",
            "laterality": "L",
            "attributes": {},
            "note": "first read",
            "marks": [
                {"image": image.pk, "frame": 0, "kind": "point", "geometry": {"x": 3, "y": 4}}
            ],
        },
        format="json",
    )
    assert created.status_code == 201, created.content
    finding_id, version = created.json()["id"], created.json()["version"]
    notes = [f"edit by annotator {i}" for i in range(CLIENTS)]
    pending = list(range(CLIENTS))
    versions = {i: version for i in pending}
    rounds = 0
    # When they all save at once, and every loser retries on the version the 409 showed it
    while pending and rounds < CLIENTS + 2:
        rounds += 1
        results = _patch_all(
            finding_id,
            [annotators[i] for i in pending],
            [versions[i] for i in pending],
            [notes[i] for i in pending],
        )
        statuses = [status for status, _ in results]
        # Then each round exactly one save wins and every other one is a 409 conflict
        assert statuses.count(200) == 1, statuses
        assert statuses.count(409) == len(pending) - 1, statuses
        for i, (status, body) in zip(list(pending), results, strict=True):
            if status == 200:
                pending.remove(i)
                continue
            assert body["error"]["code"] == "conflict"
            versions[i] = body["error"]["detail"]["current"]["version"]
    # And nothing is lost: one version per accepted save, each note in the history
    assert not pending and rounds == CLIENTS
    final = client.get(f"/api/findings/{finding_id}/").json()
    assert final["version"] == version + CLIENTS
    history = client.get(f"/api/findings/{finding_id}/versions/").json()
    history = history.get("results", history) if isinstance(history, dict) else history
    numbers = sorted(entry["version"] for entry in history)
    assert numbers == list(range(version, version + CLIENTS + 1))
    text = str(history)
    assert all(note in text for note in notes)
