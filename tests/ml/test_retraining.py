"""Retraining policies: the PeriodicTask kept in step with the policy, the trigger on newly
reviewed annotations, the REST resource (roles, 400s naming the field, run now), and a real
retraining Job that promotes a clearly better challenger over a bad champion."""

from __future__ import annotations

import pytest
from django.utils import timezone
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

from annotations.models import ExamLabel, Finding
from ml.models import ModelVersion, RetrainingPolicy, RetrainingRun, TrainingRun
from ml.services import registry, retraining, training
from senolab.imaging.models import Exam
from senolab.jobs.models import Job, JobKind, JobStatus
from senolab.jobs.services import request_cancel, run_job
from tests.factories import case_project, create_user

TINY = {"epochs": 8, "input_size": [32, 32], "batch_size": 8}


def make_policy(project, **fields) -> RetrainingPolicy:
    values = {"recipe": "busi-malignancy", "overrides": TINY, "min_new_annotations": 1}
    return RetrainingPolicy.objects.create(project=project, **{**values, **fields})


def review(exams) -> None:
    """Readers finish these exams: they are done and their annotations are saved now."""
    for exam in exams:
        Exam.objects.filter(pk=exam.pk).update(status="done")
        for row in [*ExamLabel.objects.filter(exam=exam), *Finding.objects.filter(exam=exam)]:
            row.save()


# --- the schedule ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_saving_a_policy_creates_then_edits_its_periodic_task_and_deleting_removes_it():
    # given a policy looking every 30 s
    policy = make_policy(case_project(n_patients=2, exams_per_patient=1), interval_seconds=30)
    task = PeriodicTask.objects.get(pk=policy.periodic_task_id)
    assert task.task == retraining.CHECK_TASK and task.queue == "default"
    assert task.interval.every == 30 and task.crontab is None and task.enabled
    assert task.kwargs == f'{{"policy_id": {policy.pk}}}'
    # when it is changed to a nightly cron line and disabled
    policy.interval_seconds, policy.cron, policy.enabled = None, "15 3 * * 1-5", False
    policy.save()
    # then the same task carries the crontab and is disabled
    task.refresh_from_db()
    assert task.interval is None and not task.enabled
    assert (task.crontab.minute, task.crontab.hour, task.crontab.day_of_week) == ("15", "3", "1-5")
    # and a policy without a schedule has no task; deleting the policy removes its task
    policy.cron = ""
    policy.save()
    assert not PeriodicTask.objects.filter(pk=task.pk).exists()
    policy.interval_seconds = 60
    policy.save()
    policy.refresh_from_db()
    task_id = policy.periodic_task_id
    assert task_id is not None
    policy.delete()
    assert not PeriodicTask.objects.filter(pk=task_id).exists()


@pytest.mark.django_db
def test_an_admins_edit_of_the_periodic_task_becomes_the_policys_schedule():
    # given a policy looking every 30 s
    policy = make_policy(case_project(n_patients=2, exams_per_patient=1), interval_seconds=30)
    task = PeriodicTask.objects.get(pk=policy.periodic_task_id)
    # when an admin moves its task to every 2 hours (the admin saves the task)
    task.interval = IntervalSchedule.objects.create(every=2, period=IntervalSchedule.HOURS)
    task.save()
    # then the policy holds that schedule, and a later save of the policy keeps it
    policy.refresh_from_db()
    assert (policy.interval_seconds, policy.cron) == (7200, "")
    policy.margin = 0.05
    policy.save()
    task.refresh_from_db()
    assert task.interval.every == 7200 and task.interval.period == IntervalSchedule.SECONDS
    # when the admin gives it a crontab instead and disables it
    task.interval = None
    task.crontab = CrontabSchedule.objects.create(minute="0", hour="4", day_of_week="6")
    task.enabled = False
    task.save()
    # then the policy has that cron line and is disabled, and its next save keeps both
    policy.refresh_from_db()
    assert (policy.cron, policy.interval_seconds, policy.enabled) == ("0 4 * * 6", None, False)
    policy.save()
    task.refresh_from_db()
    assert (task.crontab.hour, task.crontab.day_of_week, task.enabled) == ("4", "6", False)
    # when the admin deletes the task, the policy keeps no schedule and saving it makes none
    task.delete()
    policy.refresh_from_db()
    assert (policy.cron, policy.interval_seconds, policy.periodic_task_id) == ("", None, None)
    policy.save()
    assert not PeriodicTask.objects.filter(task=retraining.CHECK_TASK).exists()


# --- the trigger -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_look_under_the_trigger_does_nothing_and_says_why():
    # given a policy that wants 5 newly reviewed annotations, and one reviewed exam (a label
    # and a finding)
    project = case_project(n_patients=2, exams_per_patient=1)
    policy = make_policy(project, min_new_annotations=5)
    review(Exam.objects.filter(project=project).order_by("pk")[:1])
    # when the beat looks
    outcome = retraining.check_policy(policy.pk)
    # then nothing started, and the policy says why
    assert not outcome["started"]
    assert not RetrainingRun.objects.exists() and not Job.objects.exists()
    policy.refresh_from_db()
    assert policy.last_check == "2 newly reviewed annotation(s) since the last run; 5 are needed."
    assert policy.last_checked_at is not None


@pytest.mark.django_db
def test_the_trigger_counts_annotations_reviewed_since_the_last_run_only():
    # given four exams with a label and a finding each, none reviewed
    project = case_project(n_patients=4, exams_per_patient=1)
    policy = make_policy(project, min_new_annotations=3)
    exams = list(Exam.objects.filter(project=project).order_by("pk"))
    assert retraining.new_reviewed_annotations(policy) == 0  # nothing reviewed yet
    # when two exams are reviewed: 2 + 2 annotations
    review(exams[:2])
    assert retraining.new_reviewed_annotations(policy) == 4
    # then the look starts a run, on the gpu queue, recording the count
    outcome = retraining.check_policy(policy.pk)
    run = RetrainingRun.objects.get(pk=outcome["run"])
    assert run.trigger == "schedule" and run.new_annotations == 4
    assert run.job.kind == JobKind.RETRAIN and run.job.queue == "gpu"
    # and a look while it is in progress starts nothing
    assert not retraining.check_policy(policy.pk)["started"]
    assert "still in progress" in RetrainingPolicy.objects.get(pk=policy.pk).last_check
    # and once it finished, only what was reviewed after it started counts
    Job.objects.filter(pk=run.job_id).update(status=JobStatus.SUCCEEDED)
    assert retraining.new_reviewed_annotations(policy) == 0
    review(exams[3:])
    assert retraining.new_reviewed_annotations(policy) == 2
    assert not retraining.check_policy(policy.pk)["started"]
    assert RetrainingRun.objects.count() == 1


@pytest.mark.django_db
def test_the_trigger_follows_the_policy_filters_and_ground_truth_source():
    project = case_project(n_patients=4, exams_per_patient=1)
    exams = list(Exam.objects.filter(project=project).order_by("pk"))
    Exam.objects.filter(pk=exams[0].pk).update(site="North")
    review(exams)
    north = make_policy(project, filters={"site": "North"})
    assert retraining.new_reviewed_annotations(north) == 2  # exam 0's label and finding
    RetrainingPolicy.objects.filter(pk=north.pk).delete()
    human = make_policy(project, filters={"ground_truth": "human"})
    assert retraining.new_reviewed_annotations(human) == 0  # the rows are imported reference


# --- the API ---------------------------------------------------------------------------------


@pytest.fixture
def members(db):
    users = {role: create_user(f"rt-{role}") for role in ("owner", "reviewer", "viewer")}
    project = case_project(n_patients=2, exams_per_patient=1, **users)
    return project, users


BODY = {
    "recipe": "busi-malignancy",
    "interval_seconds": 3600,
    "min_new_annotations": 20,
    "metric": "auc",
    "margin": 0.02,
    "protected_sites": ["North"],
    "filters": {"reviewed_only": True, "seed": 3},
    "overrides": {"epochs": 5},
}


def test_reviewers_create_edit_and_delete_a_policy_and_its_schedule(members, client_for):
    project, users = members
    client = client_for(users["reviewer"])
    # when a reviewer creates a policy
    created = client.post(
        "/api/retraining-policies/", {**BODY, "project": project.pk}, format="json"
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["created_by"] == "rt-reviewer" and body["periodic_task"] is not None
    assert PeriodicTask.objects.get(pk=body["periodic_task"]).interval.every == 3600
    # then a viewer reads it but may not change it or run it
    viewer = client_for(users["viewer"])
    listed = viewer.get("/api/retraining-policies/", {"project": project.pk}).json()
    assert [p["id"] for p in listed["results"]] == [body["id"]]
    url = f"/api/retraining-policies/{body['id']}/"
    assert viewer.patch(url, {"margin": 0.5}, format="json").status_code == 403
    assert viewer.post(f"{url}run/").status_code == 403
    # and a reviewer's edit moves the PeriodicTask to a cron line
    edited = client.patch(url, {"interval_seconds": None, "cron": "0 2 * * *"}, format="json")
    assert edited.status_code == 200, edited.content
    assert PeriodicTask.objects.get(pk=body["periodic_task"]).crontab.hour == "2"
    # and deleting it removes the PeriodicTask
    assert client.delete(url).status_code == 204
    assert not PeriodicTask.objects.filter(pk=body["periodic_task"]).exists()


def test_a_non_member_gets_404_and_sees_no_policy(members, client_for):
    project, _ = members
    make_policy(project)
    stranger = client_for(create_user("rt-stranger"))
    body = {**BODY, "project": project.pk}
    assert stranger.post("/api/retraining-policies/", body, format="json").status_code == 404
    assert stranger.get("/api/retraining-policies/").json()["results"] == []


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"recipe": "no-such"}, "recipe"),
        ({"metric": "dice"}, "metric"),  # a classifier reports no Dice
        ({"metric": "kappa"}, "metric"),
        ({"cron": "every night"}, "cron"),
        ({"cron": "0 2 * * *"}, "cron"),  # and an interval too
        ({"cron": "99 2 * * *", "interval_seconds": None}, "cron"),
        ({"margin": -0.1}, "margin"),
        ({"filters": {"colour": "red"}}, "filters"),
        ({"filters": {"seed": "three"}}, "filters"),
        ({"filters": {"reviewed_only": 1}}, "filters"),
        ({"filters": ["site"]}, "filters"),
        ({"filters": {"ground_truth": "reader"}}, "ground_truth_reader"),
        ({"overrides": {"wings": 2}}, "overrides"),
        ({"interval_seconds": 0}, "interval_seconds"),
        ({"protected_sites": "North"}, "protected_sites"),
        ({"fine_tune": True}, "fine_tune"),  # without filters.site
    ],
)
def test_a_policy_that_could_not_run_is_a_400_naming_the_field(members, client_for, change, field):
    project, users = members
    response = client_for(users["owner"]).post(
        "/api/retraining-policies/", {**BODY, "project": project.pk, **change}, format="json"
    )
    assert response.status_code == 400, response.content
    assert field in response.json()["error"]["detail"], response.json()
    assert (
        not RetrainingPolicy.objects.exists()
        and not PeriodicTask.objects.filter(task=retraining.CHECK_TASK).exists()
    )


def test_run_now_starts_a_retraining_job_and_refuses_a_second_while_it_runs(members, client_for):
    project, users = members
    policy = make_policy(project)
    client = client_for(users["reviewer"])
    response = client.post(f"/api/retraining-policies/{policy.pk}/run/")
    assert response.status_code == 201, response.content
    run = response.json()
    assert run["trigger"] == "manual" and run["decision"] == "pending"
    assert run["job"]["kind"] == "retrain" and run["job"]["status"] == "queued"
    again = client.post(f"/api/retraining-policies/{policy.pk}/run/")
    assert again.status_code == 400 and "policy" in again.json()["error"]["detail"]
    # and members read the run; others do not see it
    viewer = client_for(users["viewer"])
    assert viewer.get(f"/api/retraining-runs/{run['id']}/").status_code == 200
    stranger = client_for(create_user("rt-other"))
    assert stranger.get(f"/api/retraining-runs/{run['id']}/").status_code == 404
    assert stranger.get("/api/retraining-runs/").json()["results"] == []


@pytest.mark.django_db
def test_a_retraining_that_cannot_build_its_snapshot_fails_and_its_run_says_why():
    project = case_project(n_patients=2, exams_per_patient=1)
    policy = make_policy(project, filters={"site": "Nowhere"})
    run = retraining.start_retraining(policy, enqueue=False)
    job = run_job(run.job_id, retraining.run_retraining)
    assert job.status == JobStatus.FAILED and job.message == "No exam matches the policy's filters."
    run.refresh_from_db()
    assert run.decision == "failed" and run.challenger is None and run.finished_at is not None
    assert run.reason == "The retraining failed: No exam matches the policy's filters."


@pytest.mark.django_db(transaction=True)
def test_a_retraining_cancelled_while_queued_ends_failed_with_the_jobs_message():
    project = case_project(n_patients=2, exams_per_patient=1)
    run = retraining.start_retraining(make_policy(project), enqueue=False)
    request_cancel(run.job)  # finished by the jobs app, which announces it after the commit
    run.refresh_from_db()
    assert run.decision == "failed" and run.finished_at is not None
    assert run.reason == "The retraining Job ended cancelled: Cancelled before it started."


# --- a real retraining -----------------------------------------------------------------------


def flip_labels(project) -> None:
    swap = {"malignant": "benign", "benign": "malignant"}
    for model in (ExamLabel, Finding):
        for row in model.objects.filter(project=project):
            row.pathology = swap.get(row.pathology, row.pathology)
            row.save()


def bad_champion(project, user) -> ModelVersion:
    """An active version trained on inverted labels: it ranks the cases backwards."""
    flip_labels(project)
    run = training.start_training(project, "busi-malignancy", user=user, overrides=TINY)
    job = run_job(run.job_id, training.run_training)
    assert job.status == JobStatus.SUCCEEDED, job.message
    flip_labels(project)
    return registry.activate(ModelVersion.objects.get(training_run=run))


@pytest.mark.slow
@pytest.mark.django_db
def test_a_retraining_promotes_a_clearly_better_challenger_and_records_its_lineage():
    # given a project of 20 patients on two sites (each patient one exam at each) and an
    # active champion that ranks the cases backwards
    owner = create_user("rt-owner")
    project = case_project(n_patients=20, exams_per_patient=2, owner=owner)
    for i, exam in enumerate(Exam.objects.filter(project=project).order_by("pk")):
        Exam.objects.filter(pk=exam.pk).update(site="North" if i % 2 else "South")
    champion = bad_champion(project, owner)
    policy = make_policy(project, protected_sites=["North"], margin=0.2)
    # when a retraining runs
    run = retraining.start_retraining(policy, user=owner, enqueue=False)
    job = run_job(run.job_id, retraining.run_retraining)
    # then the challenger is active, the champion retired, and the decision says why
    assert job.status == JobStatus.SUCCEEDED, job.message
    run.refresh_from_db()
    assert run.decision == "promoted", run.reason
    assert run.champion_id == champion.pk
    assert run.challenger.status == "active"
    assert ModelVersion.objects.get(pk=champion.pk).status == "retired"
    overall = run.comparison["overall"]
    assert overall["difference"] >= 0.2 and overall["ci"][0] > 0
    assert overall["n"] == run.comparison["test_cases"]
    assert set(run.comparison["sites"]) == {"North", "South"}
    assert sum(s["n"] for s in run.comparison["sites"].values()) == overall["n"]
    # and the version was trained on the run's snapshot, tested on its test split
    assert run.challenger.snapshot_id == run.snapshot_id
    assert TrainingRun.objects.get(pk=run.training_run_id).job_id == run.job_id
    test_cases = [k for k, v in run.snapshot.split.items() if v == "test"]
    assert overall["n"] == len(test_cases)
    assert run.challenger.metrics["groups"]["site"].keys() == {"North", "South"}
    lineage = retraining.lineage(run)
    assert lineage["snapshot"]["id"] == run.snapshot_id
    assert lineage["model_version"] == {"id": run.challenger_id, "status": "active"}
    assert lineage["proposals"] == 0
    assert run.finished_at is not None and run.finished_at <= timezone.now()


@pytest.mark.slow
@pytest.mark.django_db
def test_a_site_fine_tune_starts_from_the_champion_and_is_compared_on_that_site_only():
    # given a project on two sites and an active champion trained on all of it
    owner = create_user("ft-owner")
    project = case_project(n_patients=20, exams_per_patient=2, owner=owner)
    for i, exam in enumerate(Exam.objects.filter(project=project).order_by("pk")):
        Exam.objects.filter(pk=exam.pk).update(site="North" if i % 2 else "South")
    run = training.start_training(project, "busi-malignancy", user=owner, overrides=TINY)
    assert run_job(run.job_id, training.run_training).status == JobStatus.SUCCEEDED
    champion = registry.activate(ModelVersion.objects.get(training_run=run))
    policy = make_policy(project, fine_tune=True, filters={"site": "North"})
    # when the site fine-tune runs
    retrain = retraining.start_retraining(policy, user=owner, enqueue=False)
    job = run_job(retrain.job_id, retraining.run_retraining)
    assert job.status == JobStatus.SUCCEEDED, job.message
    retrain.refresh_from_db()
    # then the challenger was trained from the champion's weights on North's exams only
    assert retrain.training_run.parent_version_id == champion.pk
    assert retrain.challenger.parent_id == champion.pk
    assert retrain.training_run.params["fine_tune_site"] == "North"
    north = set(Exam.objects.filter(project=project, site="North").values_list("pk", flat=True))
    assert {int(k) for k in retrain.snapshot.case_ids} <= north
    # and the two were compared on North's test cases, and only there
    assert retrain.champion_id == champion.pk
    assert set(retrain.comparison["sites"]) == {"North"}
    test_cases = [k for k, v in retrain.snapshot.split.items() if v == "test"]
    assert retrain.comparison["overall"]["n"] == len(test_cases) > 0
    assert retrain.decision in ("promoted", "kept") and retrain.reason
    assert retraining.lineage(retrain)["parent"] == champion.pk


@pytest.mark.django_db
def test_a_site_fine_tune_without_an_active_version_fails_and_says_why():
    owner = create_user("ft-none")
    project = case_project(n_patients=4, exams_per_patient=1, owner=owner)
    Exam.objects.filter(project=project).update(site="North")
    policy = make_policy(project, fine_tune=True, filters={"site": "North"})
    retrain = retraining.start_retraining(policy, user=owner, enqueue=False)
    job = run_job(retrain.job_id, retraining.run_retraining)
    assert job.status == JobStatus.FAILED
    assert "starts from the active version" in job.message
    assert not TrainingRun.objects.filter(project=project).exists()
