"""Optimistic locking: a stale save gets 409 with the stored finding, nothing is lost, and of
simultaneous saves of one version exactly one wins (threads on real DB connections)."""

from __future__ import annotations

import threading

import pytest
from django.db import connection
from rest_framework.test import APIClient

from annotations.models import Finding, FindingVersion
from tests.annotations.helpers import finding_body


@pytest.mark.django_db
def test_stale_save_gets_409_with_the_stored_finding_and_both_versions_are_kept(room, client_for):
    # Given a finding both the annotator and the reviewer loaded at version 1
    alice, bob = client_for(room.annotator), client_for(room.reviewer)
    created = alice.post("/api/findings/", finding_body(room), format="json").json()
    url = f"/api/findings/{created['id']}/"
    # When Alice saves first and Bob then saves on version 1
    first = alice.patch(url, {"version": 1, "birads": "5", "note": "alice"}, format="json")
    second = bob.patch(url, {"version": 1, "birads": "3", "note": "bob"}, format="json")
    # Then Alice wins, Bob gets 409 showing Alice's stored version
    assert first.status_code == 200 and first.json()["version"] == 2
    assert second.status_code == 409
    error = second.json()["error"]
    assert error["code"] == "conflict"
    assert error["detail"]["current"]["version"] == 2
    assert error["detail"]["current"]["note"] == "alice"
    assert error["detail"]["current"]["marks"][0]["kind"] == "box"
    # And when Bob saves again on what he was shown, both edits are in the history
    third = bob.patch(url, {"version": 2, "note": "bob"}, format="json")
    assert third.status_code == 200 and third.json()["version"] == 3
    history = alice.get(f"{url}versions/").json()["results"]
    assert [h["version"] for h in history] == [1, 2, 3]
    assert [h["snapshot"]["note"] for h in history] == ["first read", "alice", "bob"]
    assert [h["author"] for h in history] == [room.annotator.pk] * 2 + [room.reviewer.pk]
    assert history[1]["snapshot"]["marks"][0]["geometry"]["width"] == 5


@pytest.mark.django_db
def test_save_without_version_is_refused(room, client_for):
    client = client_for(room.annotator)
    created = client.post("/api/findings/", finding_body(room), format="json").json()
    response = client.patch(f"/api/findings/{created['id']}/", {"note": "x"}, format="json")
    assert response.status_code == 400
    assert "version" in response.json()["error"]["message"]
    assert Finding.objects.get().note == "first read"


@pytest.mark.django_db
def test_rejected_save_leaves_the_finding_and_its_history_unchanged(room, client_for):
    client = client_for(room.annotator)
    created = client.post("/api/findings/", finding_body(room), format="json").json()
    response = client.patch(
        f"/api/findings/{created['id']}/",
        {
            "version": 1,
            "note": "new",
            "marks": [{"image": room.cc.pk, "kind": "point", "geometry": {"x": 99, "y": 1}}],
        },
        format="json",
    )
    assert response.status_code == 400
    finding = Finding.objects.get()
    assert (finding.version, finding.note, finding.marks.count()) == (1, "first read", 1)
    assert FindingVersion.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_simultaneous_saves_of_one_version_have_exactly_one_winner(room):
    # Given a finding at version 1 and six clients that all loaded it
    owner = APIClient()
    owner.force_authenticate(room.owner)
    created = owner.post("/api/findings/", finding_body(room), format="json").json()
    clients = 6
    barrier = threading.Barrier(clients)
    results: list[tuple[int, dict]] = []
    lock = threading.Lock()

    def save(i: int) -> None:
        client = APIClient()
        client.force_authenticate(room.annotator if i % 2 else room.reviewer)
        barrier.wait()
        try:
            response = client.patch(
                f"/api/findings/{created['id']}/",
                {"version": 1, "note": f"edit {i}"},
                format="json",
            )
            with lock:
                results.append((response.status_code, response.json()))
        finally:
            connection.close()

    # When they all save version 1 at the same instant, each on its own connection
    threads = [threading.Thread(target=save, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    # Then exactly one wins; every other save is a 409 showing the winner's version 2
    statuses = sorted(status for status, _ in results)
    assert statuses == [200] + [409] * (clients - 1), statuses
    winner = next(body for status, body in results if status == 200)
    for status, body in results:
        if status == 409:
            assert body["error"]["detail"]["current"]["note"] == winner["note"]
            assert body["error"]["detail"]["current"]["version"] == 2
    assert Finding.objects.get().version == 2
    assert list(FindingVersion.objects.values_list("version", flat=True)) == [1, 2]


@pytest.mark.django_db
def test_stale_save_naming_a_mark_the_winner_removed_is_a_conflict_not_a_bad_request(
    room, client_for
):
    # Given a finding whose box the annotator replaced by a point (version 2)
    client = client_for(room.annotator)
    created = client.post("/api/findings/", finding_body(room), format="json").json()
    box = created["marks"][0]
    url = f"/api/findings/{created['id']}/"
    point = {"image": room.cc.pk, "kind": "point", "geometry": {"x": 1, "y": 1}}
    assert client.patch(url, {"version": 1, "marks": [point]}, format="json").status_code == 200
    # When the reviewer, still on version 1, moves the box that no longer exists
    moved = {**box, "geometry": {"x": 2, "y": 2, "width": 5, "height": 6}}
    response = client_for(room.reviewer).patch(url, {"version": 1, "marks": [moved]}, format="json")
    # Then it is a 409 showing version 2 with the point, so the client can merge
    assert response.status_code == 409
    current = response.json()["error"]["detail"]["current"]
    assert current["version"] == 2 and [m["kind"] for m in current["marks"]] == ["point"]
