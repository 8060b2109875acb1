"""An active-learning round in a real Celery worker: the round's Job scores the pool from the
version's stored predictions, the round opens with its picks, the picks reach the reader's
worklist with the round recorded, and the worklist's next follows them."""

from __future__ import annotations

import pytest

from annotations import worklist
from annotations.models import ReadingAssignment
from ml.models import ActiveLearningRound, ModelVersion, Prediction
from ml.services import active_learning
from senolab.imaging.models import Exam, Image
from senolab.jobs.models import JobStatus
from tests.factories import case_project, create_user

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

MALIGNANT = [0.9, 0.45, 0.2, 0.6]


def test_a_round_runs_in_a_worker_opens_with_its_picks_and_leads_the_worklist(
    start_worker, wait_for_job
):
    # given an active version that has predicted every exam of a four-exam pool
    owner, reader = create_user("al-owner"), create_user("al-reader")
    project = case_project(n_patients=2, exams_per_patient=2, owner=owner, annotator=reader)
    version = ModelVersion.objects.create(
        project=project,
        task="classification",
        label="malignant",
        recipe="us-malignancy",
        snapshot_hash="0" * 64,
        artifact_key="k",
        artifact_sha256="1" * 64,
        status="active",
    )
    exams = list(Exam.objects.filter(project=project).order_by("pk"))
    for exam, p in zip(exams, MALIGNANT, strict=True):
        Prediction.objects.create(
            project=project,
            model_version=version,
            exam=exam,
            image=Image.objects.get(exam=exam),
            outputs={"probability": p, "scores": {"benign": 1 - p, "malignant": p}},
        )
    # when a margin round of 2 for the reader is started and a worker takes its job
    start_worker("itest-al@localhost")
    al_round = active_learning.start_round(project, "margin", 2, readers=[reader], user=owner)
    job = wait_for_job(al_round.job_id, lambda j: j.is_finished, timeout=120, what="finished")
    # then the job succeeded, the round is open with the two exams nearest 0.5, best first
    assert job.status == JobStatus.SUCCEEDED, job.message
    assert job.worker == "itest-al@localhost"  # the worker process ran it, not the test
    al_round = ActiveLearningRound.objects.get(pk=al_round.pk)
    assert al_round.state == "open"
    assert [p["exam"] for p in al_round.picks] == [exams[1].pk, exams[3].pk]
    # and the reader's readings record the round, and "next" follows the ranks
    chosen = {a.exam_id: a.chosen_by for a in ReadingAssignment.objects.filter(reader=reader)}
    assert chosen[exams[1].pk]["round"] == al_round.pk and chosen[exams[1].pk]["rank"] == 1
    assert worklist.next_exam(project, reader) == exams[1]
    worklist.finish_reading(project, reader, exams[1])
    assert worklist.next_exam(project, reader) == exams[3]
