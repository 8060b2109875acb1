"""The worklist: my exams and unassigned ones, the next exam by policy, done, counts, filters,
who is reading what, and per-project access."""

from __future__ import annotations

import pytest

from annotations import worklist
from annotations.models import ExamLabel, ReadingAssignment, ReadingStatus
from senolab.imaging.models import ClinicalRecord

pytestmark = pytest.mark.django_db


def _exams(room) -> tuple:
    """The room's three exams in creation order: now (CC+MLO), prior, other patient."""
    return room.exam, room.prior.exam, room.other_patient.exam


def test_next_takes_my_assigned_exam_first_then_unassigned_ones(room, client_for):
    # Given the prior exam assigned to the annotator, the others unassigned
    now, prior, other = _exams(room)
    ReadingAssignment.objects.create(project=room.project, exam=prior, reader=room.annotator)
    client = client_for(room.annotator)
    url = f"/api/worklist/next/?project={room.project.pk}"
    # When the annotator asks for the next exam three times, finishing each
    picked = []
    for _ in range(3):
        exam_id = client.post(url).json()["exam"]
        picked.append(exam_id)
        reading = ReadingAssignment.objects.get(exam_id=exam_id, reader=room.annotator)
        assert reading.status == ReadingStatus.IN_PROGRESS and reading.started_at
        assert client.post(f"/api/worklist/{exam_id}/done/").json()["status"] == "done"
    # Then the assigned exam came first, then the unassigned ones oldest first, then nothing
    assert picked == [prior.pk, now.pk, other.pk]
    assert client.post(url).json() == {"exam": None}


def test_next_returns_the_exam_in_progress_until_it_is_done(room, client_for):
    client = client_for(room.annotator)
    url = f"/api/worklist/next/?project={room.project.pk}"
    first = client.post(url).json()["exam"]
    assert client.post(url).json()["exam"] == first


def test_worklist_lists_my_and_unassigned_exams_with_counts_and_readers(room, client_for):
    # Given the annotator reading one exam and the reviewer having another assigned
    now, prior, other = _exams(room)
    worklist.start_reading(room.project, room.annotator, now)
    ReadingAssignment.objects.create(project=room.project, exam=prior, reader=room.reviewer)
    worklist.finish_reading(room.project, room.annotator, other)
    # When the annotator opens the worklist
    body = client_for(room.annotator).get(f"/api/worklist/?project={room.project.pk}").json()
    # Then it shows their two exams (not the reviewer's), the counts and who reads what
    rows = {row["exam"]: row for row in body["results"]}
    assert set(rows) == {now.pk, other.pk}
    assert rows[now.pk]["status"] == "in_progress" and rows[other.pk]["status"] == "done"
    assert rows[now.pk]["readers"] == [{"reader": room.annotator.username, "status": "in_progress"}]
    assert (body["done"], body["remaining"], body["unassigned"]) == (1, 1, 0)
    assert body["reading_now"][0]["exam"] == now.pk
    assert body["reading_now"][0]["reader"] == room.annotator.username
    assert body["policy"] == worklist.DEFAULT_POLICY


def test_worklist_filters_by_status_birads_density_site_and_modality(room, client_for):
    # Given one exam done and labelled density C / BI-RADS 4, the others untouched
    now, prior, other = _exams(room)
    worklist.finish_reading(room.project, room.annotator, now)
    ExamLabel.objects.create(project=room.project, exam=now, density="C", birads="4")
    client = client_for(room.annotator)
    base = f"/api/worklist/?project={room.project.pk}"

    def ids(query: str) -> set[int]:
        return {row["exam"] for row in client.get(base + query).json()["results"]}

    # Then each filter narrows the list
    assert ids("") == {now.pk, prior.pk, other.pk}
    assert ids("&status=done") == {now.pk}
    assert ids("&status=unassigned") == {prior.pk, other.pk}
    assert ids("&birads=4") == {now.pk}
    assert ids("&density=C") == {now.pk}
    assert ids("&density=A") == set()
    assert ids("&modality=MG") == {now.pk, prior.pk, other.pk}
    assert ids("&modality=US") == set()
    assert ids("&site=nowhere") == set()
    assert client.get(base + "&status=lost").status_code == 400


def test_worklist_filters_on_the_clinical_record(room, client_for):
    # Given a 42-year-old with a benign biopsy, a 67-year-old with a malignant one, and an exam
    # with no clinical record
    now, prior, other = _exams(room)
    for exam, age, outcome in ((now, 42, "benign"), (prior, 67, "malignant")):
        ClinicalRecord.objects.create(
            project=room.project,
            patient=exam.patient,
            exam=exam,
            age_at_exam=age,
            biopsy_outcome=outcome,
        )
    client = client_for(room.annotator)
    base = f"/api/worklist/?project={room.project.pk}"

    def ids(query: str) -> set[int]:
        response = client.get(base + query)
        assert response.status_code == 200, response.content
        return {row["exam"] for row in response.json()["results"]}

    # Then the age range and the biopsy outcome narrow the list to the records that match
    assert ids("&age_min=50") == {prior.pk}
    assert ids("&age_max=50") == {now.pk}
    assert ids("&age_min=40&age_max=70") == {now.pk, prior.pk}
    assert ids("&biopsy_outcome=Malignant") == {prior.pk}
    assert ids("&biopsy_outcome=benign&age_min=50") == set()
    # And a malformed or empty range is a 400 that says why
    for query in ("&age_min=old", "&age_min=60&age_max=40", "&age_max=200"):
        bad = client.get(base + query)
        assert bad.status_code == 400, query
        assert "age" in bad.json()["error"]["message"]


def test_worklist_is_per_project(room, client_for):
    outsider = client_for(room.outsider)
    assert outsider.get(f"/api/worklist/?project={room.project.pk}").status_code == 404
    assert outsider.post(f"/api/worklist/next/?project={room.project.pk}").status_code == 404
    assert outsider.post(f"/api/worklist/{room.exam.pk}/done/").status_code == 404
    assert not ReadingAssignment.objects.exists()
    assert client_for(room.annotator).get("/api/worklist/").status_code == 400


def test_viewers_see_the_worklist_but_do_not_take_exams(room, client_for):
    viewer = client_for(room.viewer)
    assert viewer.get(f"/api/worklist/?project={room.project.pk}").status_code == 200
    assert viewer.post(f"/api/worklist/next/?project={room.project.pk}").status_code == 403
    assert not ReadingAssignment.objects.exists()


def test_a_registered_policy_decides_the_next_exam(room, client_for, monkeypatch):
    # Given a policy that always proposes the newest exam, made the default
    monkeypatch.setitem(
        worklist.POLICIES,
        worklist.DEFAULT_POLICY,
        lambda project, reader: project.exams.order_by("-id").first(),
    )
    # When the next exam is asked for
    exam_id = client_for(room.annotator).post(f"/api/worklist/next/?project={room.project.pk}")
    # Then it is the policy's choice
    assert exam_id.json()["exam"] == room.other_patient.exam_id


def test_the_policy_in_use_is_chosen_by_name_in_settings(room, client_for, settings, monkeypatch):
    # Given a second registered policy, newest exam first, named in the settings
    monkeypatch.setitem(worklist.POLICIES, "newest", lambda p, r: p.exams.order_by("-id").first())
    settings.SENOLAB_WORKLIST_POLICY = "newest"
    client = client_for(room.annotator)
    # When the next exam is asked for
    picked = client.post(f"/api/worklist/next/?project={room.project.pk}").json()["exam"]
    # Then that policy chose it and the worklist names it
    assert picked == room.other_patient.exam_id
    assert client.get(f"/api/worklist/?project={room.project.pk}").json()["policy"] == "newest"


def test_assigned_exams_appear_on_the_readers_worklist_only(room, client_for):
    # Given the prior exam assigned to the reviewer (twice: the second changes nothing)
    prior = room.prior.exam
    assert worklist.assign_exams(room.project, room.reviewer, [prior]) == 1
    assert worklist.assign_exams(room.project, room.reviewer, [prior]) == 0
    # Then the reviewer's worklist counts it as remaining, the annotator no longer sees it
    url = f"/api/worklist/?project={room.project.pk}"
    mine = client_for(room.reviewer).get(url).json()
    theirs = client_for(room.annotator).get(url).json()
    assert mine["remaining"] == 1 and prior.pk in {r["exam"] for r in mine["results"]}
    assert prior.pk not in {r["exam"] for r in theirs["results"]}
    with pytest.raises(ValueError):
        worklist.assign_exams(room.project, room.reviewer, [room.outsider_image.exam])


def test_worklist_shows_the_density_of_breast_level_labels_when_the_exam_has_none(room, client_for):
    # Given an exam whose density is labelled per breast only (as public data sets do), and one
    # with an exam-level density and a different breast-level one
    now, prior, _other = _exams(room)
    ExamLabel.objects.create(project=room.project, exam=now, laterality="L", density="B")
    ExamLabel.objects.create(project=room.project, exam=now, laterality="R", birads="5")
    ExamLabel.objects.create(project=room.project, exam=prior, laterality="R", density="D")
    ExamLabel.objects.create(project=room.project, exam=prior, density="C")
    client = client_for(room.annotator)

    # When the worklist is read
    rows = client.get(f"/api/worklist/?project={room.project.pk}").json()["results"]
    by_exam = {row["exam"]: row for row in rows}

    # Then the first shows the breasts' density, the second its exam-level one; a breast-level
    # BI-RADS is not taken for the exam's
    assert by_exam[now.pk]["density"] == "B"
    assert by_exam[now.pk]["birads"] == ""
    assert by_exam[prior.pk]["density"] == "C"
