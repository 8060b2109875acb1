"""Independent readers: assignment through the API (named readers, a count, a seeded balanced
draw), each worklist showing its reader's own assignments, and private reads: another reader's
findings and labels of an open exam exist for no one but their author and the owners."""

from __future__ import annotations

import numpy as np
import pytest

from annotations.models import ReadingAssignment
from senolab.imaging.models import Exam, ExamStatus
from tests.annotations.helpers import finding_body
from tests.factories import create_user, mask_png_base64, raster_image

pytestmark = pytest.mark.django_db


@pytest.fixture
def second(room):
    """A second annotator in the room's project."""
    user = create_user()
    room.project.memberships.create(user=user, role="annotator")
    return user


def _assign(client, project, **body):
    return client.post(f"/api/worklist/assign/?project={project.pk}", body, format="json")


# --- assignment -----------------------------------------------------------------------------


def test_named_readers_are_put_on_every_selected_exam(room, second, client_for):
    exams = [room.exam.pk, room.other_patient.exam_id]
    response = _assign(
        client_for(room.reviewer),
        room.project,
        exams=exams,
        mode="readers",
        readers=[room.annotator.username, second.username],
    )
    assert response.status_code == 201, response.content
    assert response.json()["created"] == 4
    pairs = set(ReadingAssignment.objects.values_list("exam_id", "reader_id"))
    assert pairs == {(e, u.pk) for e in exams for u in (room.annotator, second)}
    assert all(a.chosen_by["draw"] == "readers" for a in ReadingAssignment.objects.all())


def test_a_count_per_exam_takes_the_least_loaded_readers_and_never_doubles(
    room, second, client_for
):
    reviewer = client_for(room.reviewer)
    ReadingAssignment.objects.create(project=room.project, exam=room.exam, reader=room.annotator)
    exams = sorted({room.exam.pk, room.prior.exam_id, room.other_patient.exam_id})
    response = _assign(
        reviewer,
        room.project,
        exams=exams,
        mode="count",
        per_exam=2,
        readers=[room.annotator.username, second.username, room.reviewer.username],
    )
    assert response.status_code == 201, response.content
    per_exam = {e: ReadingAssignment.objects.filter(exam_id=e).count() for e in exams}
    assert per_exam == dict.fromkeys(exams, 2)
    load = [
        ReadingAssignment.objects.filter(reader=u).count()
        for u in (room.annotator, second, room.reviewer)
    ]
    assert sorted(load) == [2, 2, 2]


def test_a_balanced_draw_records_its_seed_and_repeats_with_it(
    room, second, make_project, client_for
):
    def draw(seed):
        ReadingAssignment.objects.all().delete()
        response = _assign(
            client_for(room.owner),
            room.project,
            exams=exam_ids,
            mode="balanced",
            per_exam=1,
            seed=seed,
        )
        assert response.status_code == 201, response.content
        return sorted((a["exam"], a["reader"]) for a in response.json()["assignments"])

    exam_ids = [raster_image(room.project, patient=f"b{i}", exam=f"b{i}").exam_id for i in range(6)]
    first = draw(11)
    assert first == draw(11)
    assert ReadingAssignment.objects.first().chosen_by["seed"] == 11
    # balanced: 6 exams over the 4 readers who may annotate (owner, reviewer, 2 annotators)
    counts = sorted(np.unique([r for _, r in first], return_counts=True)[1])
    assert counts == [1, 1, 2, 2]
    assert any(draw(seed) != first for seed in range(12, 20))


@pytest.mark.parametrize("role", ["annotator", "viewer"])
def test_only_owners_and_reviewers_assign_readers(room, client_for, role):
    response = _assign(
        client_for(getattr(room, role)),
        room.project,
        exams=[room.exam.pk],
        mode="count",
        per_exam=1,
    )
    assert response.status_code == 403


def test_an_assignment_refuses_a_non_member_and_another_projects_exam(room, client_for):
    reviewer = client_for(room.reviewer)
    bad_reader = _assign(
        reviewer,
        room.project,
        exams=[room.exam.pk],
        mode="readers",
        readers=[room.outsider.username],
    )
    assert bad_reader.status_code == 400
    assert room.outsider.username in bad_reader.json()["error"]["message"]
    bad_exam = _assign(
        reviewer, room.project, exams=[room.outsider_image.exam_id], mode="count", per_exam=1
    )
    assert bad_exam.status_code == 400


def test_each_worklist_shows_its_readers_own_assignments(room, second, client_for):
    _assign(
        client_for(room.reviewer),
        room.project,
        exams=[room.exam.pk],
        mode="readers",
        readers=[room.annotator.username],
    )
    _assign(
        client_for(room.reviewer),
        room.project,
        exams=[room.prior.exam_id],
        mode="readers",
        readers=[second.username],
    )

    def assigned(user):
        rows = (
            client_for(user).get("/api/worklist/", {"project": room.project.pk}).json()["results"]
        )
        return {r["exam"] for r in rows if r["status"] != "unassigned"}

    assert assigned(room.annotator) == {room.exam.pk}
    assert assigned(second) == {room.prior.exam_id}


# --- private reads --------------------------------------------------------------------------


@pytest.fixture
def private(room, second, client_for):
    """Two readers' reads of one exam in a private-reads project: a box finding, a mask and a
    density each."""
    room.project.private_reads = True
    room.project.save()
    reads = {}
    for user, birads, density in ((room.annotator, "2", "A"), (second, "5", "D")):
        client = client_for(user)
        mask = np.zeros((4, 4), bool)
        mask[1:3, 1:3] = True
        body = finding_body(room, birads=birads)
        body["marks"].append(
            {"image": room.cc.pk, "kind": "mask", "mask_png_base64": mask_png_base64(mask)}
        )
        finding = client.post("/api/findings/", body, format="json").json()
        client.put(
            "/api/exam-labels/",
            {"exam": room.exam.pk, "version": 0, "density": density},
            format="json",
        )
        reads[user.pk] = finding
    return room, second, reads


def _seen(client, room):
    findings = client.get("/api/findings/", {"exam": room.exam.pk}).json()["results"]
    labels = client.get("/api/exam-labels/", {"exam": room.exam.pk}).json()
    rows = client.get("/api/worklist/", {"project": room.project.pk}).json()["results"]
    # an exam assigned to others only is not on this user's worklist
    row = next((r for r in rows if r["exam"] == room.exam.pk), {"birads": None, "density": None})
    return (
        {f["birads"] for f in findings},
        {x["density"] for x in labels},
        row["birads"],
        row["density"],
    )


def test_a_reader_sees_only_their_own_read_of_an_open_exam(private, client_for):
    room, second, reads = private
    assert _seen(client_for(room.annotator), room) == ({"2"}, {"A"}, "2", "A")
    assert _seen(client_for(second), room) == ({"5"}, {"D"}, "5", "D")
    # another reader's finding, its history and its mask are 404, not 403
    other = reads[second.pk]
    client = client_for(room.annotator)
    assert client.get(f"/api/findings/{other['id']}/").status_code == 404
    assert client.get(f"/api/findings/{other['id']}/versions/").status_code == 404
    mask_id = next(m["id"] for m in other["marks"] if m["kind"] == "mask")
    assert client.get(f"/api/marks/{mask_id}/mask.png").status_code == 404
    assert client_for(second).get(f"/api/marks/{mask_id}/mask.png").status_code == 200
    # nor can it be found by filtering the worklist on its BI-RADS
    rows = client.get("/api/worklist/", {"project": room.project.pk, "birads": "5"}).json()[
        "results"
    ]
    assert rows == []


@pytest.mark.parametrize(
    "role, sees",
    [("owner", ({"2", "5"}, {"A", "D"})), ("reviewer", (set(), set())), ("viewer", (set(), set()))],
)
def test_who_else_sees_the_reads_of_an_open_exam(private, client_for, role, sees):
    room, _, _ = private
    findings, labels, _, _ = _seen(client_for(getattr(room, role)), room)
    assert (findings, labels) == sees


def test_closing_the_exam_shows_every_read_to_the_project(private, client_for):
    room, second, _ = private
    Exam.objects.filter(pk=room.exam.pk).update(status=ExamStatus.DONE)
    for user in (room.annotator, second, room.viewer, room.reviewer):
        assert _seen(client_for(user), room)[:2] == ({"2", "5"}, {"A", "D"})


def test_without_private_reads_readers_share_the_exam(private, client_for):
    room, _, _ = private
    room.project.private_reads = False
    room.project.save()
    assert _seen(client_for(room.annotator), room)[:2] == ({"2", "5"}, {"A", "D"})


def test_owners_turn_the_reader_settings_on_through_the_projects_api(room, client_for):
    url = f"/api/projects/{room.project.pk}/"
    body = {
        "blind_first_read": True,
        "private_reads": True,
        "adjudication_rules": {"birads_difference": 1},
    }
    assert client_for(room.reviewer).patch(url, body, format="json").status_code == 403
    response = client_for(room.owner).patch(url, body, format="json")
    assert response.status_code == 200, response.content
    room.project.refresh_from_db()
    assert room.project.blind_first_read and room.project.private_reads
    assert room.project.adjudication_rules == {"birads_difference": 1}
    bad = client_for(room.owner).patch(
        url, {"adjudication_rules": {"birads_difference": "two"}}, format="json"
    )
    assert bad.status_code == 400


def test_reviewers_see_the_reads_once_every_reading_of_the_exam_is_done(private, client_for):
    room, second, _ = private
    first = ReadingAssignment.objects.create(
        project=room.project, exam=room.exam, reader=room.annotator, status="done"
    )
    ReadingAssignment.objects.create(
        project=room.project, exam=room.exam, reader=second, status="in_progress"
    )
    assert _seen(client_for(room.reviewer), room)[:2] == (set(), set())

    ReadingAssignment.objects.filter(reader=second).update(status="done")
    assert _seen(client_for(room.reviewer), room)[:2] == ({"2", "5"}, {"A", "D"})
    # the readers and viewers still see only their own until the exam is closed
    assert _seen(client_for(room.annotator), room)[:2] == ({"2"}, {"A"})
    assert _seen(client_for(room.viewer), room)[:2] == (set(), set())
    assert first.exam.status != "done"
