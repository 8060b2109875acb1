"""Scheduled retraining with a real Celery beat (django-celery-beat's database scheduler) and a
real worker: a policy looking every 2 s fires once enough annotations were reviewed, trains a
tiny recipe, compares the challenger with the champion and declines it under an impossible
margin (the champion stays active); looks without new reviews start nothing and say why; after
the margin is edited and more exams are reviewed, the next look's challenger is promoted."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from ml.models import ModelVersion, RetrainingPolicy, RetrainingRun
from senolab.imaging.models import Exam
from senolab.jobs.models import JobStatus
from tests.factories import case_project, create_user
from tests.ml.test_retraining import bad_champion, make_policy, review

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def wait_for_run(number: int, timeout: float = 420) -> RetrainingRun:
    """The policy's `number`th run, once its job finished."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = list(RetrainingRun.objects.select_related("job").order_by("created_at", "id"))
        if len(runs) >= number and runs[number - 1].job.is_finished:
            return runs[number - 1]
        time.sleep(0.5)
    raise AssertionError(f"run {number} did not finish: {list(RetrainingRun.objects.values())}")


def wait_for_check(
    policy: RetrainingPolicy, text: str, logs: dict[str, Path], timeout: float = 120
) -> str:
    """The policy's last look once it says `text`; else fail with the beat's and the worker's
    logs, so a look that never came says whether the beat sent it and the worker ran it."""
    deadline = time.monotonic() + timeout
    policy.refresh_from_db()
    while text not in policy.last_check and time.monotonic() < deadline:
        time.sleep(0.5)
        policy.refresh_from_db()
    if text not in policy.last_check:
        tails = "\n".join(
            f"--- {name}:\n{path.read_text(errors='replace')[-4000:]}"
            for name, path in logs.items()
        )
        raise AssertionError(f"no look said {text!r}; the last said {policy.last_check!r}\n{tails}")
    return policy.last_check


def test_beat_fires_the_policy_which_declines_then_promotes(start_worker, start_beat, tmp_path):
    # given 40 exams on two sites, an active champion that ranks them backwards, and half of
    # the exams reviewed
    owner = create_user("beat-owner")
    project = case_project(n_patients=20, exams_per_patient=2, owner=owner)
    exams = list(Exam.objects.filter(project=project).order_by("pk"))
    for i, exam in enumerate(exams):
        Exam.objects.filter(pk=exam.pk).update(site="North" if i % 2 else "South")
    champion = bad_champion(project, owner)
    review(exams[:20])
    # and a policy looking every 2 s that asks for an impossible margin
    policy = make_policy(project, interval_seconds=2, min_new_annotations=10, margin=5.0)
    # when a worker and the beat run
    worker = start_worker("itest-retrain@localhost")
    start_beat()
    logs = {"beat": tmp_path / "beat.log", "worker": worker.log_path}
    # then the beat's look starts a run, whose challenger is kept as a candidate with the reason
    first = wait_for_run(1)
    assert first.job.status == JobStatus.SUCCEEDED, first.job.message
    assert first.job.worker == "itest-retrain@localhost"
    assert first.trigger == "schedule" and first.new_annotations == 40
    assert first.decision == "kept" and "under the margin 5.000" in first.reason
    assert first.comparison["overall"]["difference"] > 0.2  # it was better, not by 5
    assert ModelVersion.objects.get(pk=first.challenger_id).status == "candidate"
    assert ModelVersion.objects.get(pk=champion.pk).status == "active"
    # and later looks, with nothing newly reviewed, start nothing and say so
    last_check = wait_for_check(policy, "0 newly reviewed", logs)
    assert last_check == "0 newly reviewed annotation(s) since the last run; 10 are needed."
    assert RetrainingRun.objects.count() == 1
    # when an admin lowers the margin and readers review the other half
    policy.margin = 0.2
    policy.save()
    review(exams[20:])
    # then the next look's challenger wins by the margin and is promoted
    second = wait_for_run(2)
    assert second.job.status == JobStatus.SUCCEEDED, second.job.message
    assert second.decision == "promoted", second.reason
    assert second.champion_id == champion.pk and second.margin == 0.2
    assert ModelVersion.objects.get(pk=second.challenger_id).status == "active"
    assert ModelVersion.objects.get(pk=champion.pk).status == "retired"
    assert RetrainingPolicy.objects.get(pk=policy.pk).periodic_task.total_run_count >= 3
