"""Active-learning rounds: the pool, the picks of a strategy on stored predictions, the
ReadingAssignments that record the round, the worklist following the open round, the API's
refusals and permissions."""

from __future__ import annotations

import pytest

from annotations.models import ExamLabel, ReadingAssignment
from ml.models import ActiveLearningRound, Prediction
from ml.services import active_learning
from senolab.imaging.models import Exam, Image
from senolab.jobs.models import Job
from tests.factories import case_project, create_user


def start(client, project, capture, **body):
    """POST a round; its task runs eagerly once the request commits. Returns the round's
    detail after the job, or the refusal."""
    with capture(execute=True):
        response = client.post(
            "/api/active-rounds/", {"project": project.pk, **body}, format="json"
        )
    if response.status_code != 201:
        return response
    return client.get(f"/api/active-rounds/{response.json()['id']}/")


def next_exam(client, project):
    return client.post(f"/api/worklist/next/?project={project.pk}").json()["exam"]


def test_an_entropy_round_picks_the_exams_nearest_the_boundary_and_records_itself_on_readings(
    scored, members, client_for, django_capture_on_commit_callbacks
):
    project, version, exams = scored
    # when a reviewer starts an entropy round of 2 for the annotator
    response = start(
        client_for(members["reviewer"]),
        project,
        django_capture_on_commit_callbacks,
        strategy="entropy",
        budget=2,
        readers=["annotator"],
    )
    # then the job ran, the round is open and picked the two most uncertain exams, best first
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["state"] == "open" and body["job"]["status"] == "succeeded"
    assert body["pool_size"] == 6 and body["model_version"] == version.pk
    assert [p["exam"] for p in body["picks"]] == [exams[1].pk, exams[3].pk]
    assert [p["rank"] for p in body["picks"]] == [1, 2]
    assert body["picks"][0]["score"] > body["picks"][1]["score"] > 0
    # and each pick is on the annotator's worklist with the round that chose it
    readings = ReadingAssignment.objects.filter(reader=members["annotator"]).order_by("exam_id")
    assert [(r.exam_id, r.chosen_by["round"], r.chosen_by["strategy"]) for r in readings] == [
        (exams[1].pk, body["id"], "entropy"),
        (exams[3].pk, body["id"], "entropy"),
    ]
    assert {r.exam_id: r.chosen_by["rank"] for r in readings} == {exams[1].pk: 1, exams[3].pk: 2}


def test_the_worklist_next_follows_the_open_round_in_rank_order_then_the_default(
    scored, members, client_for, django_capture_on_commit_callbacks
):
    project, _, exams = scored
    start(
        client_for(members["reviewer"]),
        project,
        django_capture_on_commit_callbacks,
        strategy="least_confidence",
        budget=3,
    )
    al_round = ActiveLearningRound.objects.get(project=project)
    ranked = [p["exam"] for p in al_round.picks]
    assert ranked == [exams[1].pk, exams[3].pk, exams[4].pk]  # |p - .5| smallest first
    # given unassigned picks, the first reader gets rank 1 and the second (rank 1 taken) rank 2
    annotator, second = client_for(members["annotator"]), client_for(members["second"])
    assert next_exam(annotator, project) == ranked[0]
    assert next_exam(second, project) == ranked[1]
    # when the annotator finishes rank 1, their next is rank 3, not the oldest exam
    annotator.post(f"/api/worklist/{ranked[0]}/done/")
    assert next_exam(annotator, project) == ranked[2]
    annotator.post(f"/api/worklist/{ranked[2]}/done/")
    # when the round is closed the worklist is the default one again (oldest unassigned)
    closed = client_for(members["reviewer"]).post(f"/api/active-rounds/{al_round.pk}/close/")
    assert closed.status_code == 200 and closed.json()["state"] == "closed"
    assert next_exam(annotator, project) == exams[0].pk


def test_a_new_round_scores_only_the_unread_pool_and_closes_the_open_one(
    scored, members, client_for, django_capture_on_commit_callbacks
):
    project, _, exams = scored
    reviewer = client_for(members["reviewer"])
    first = start(
        reviewer,
        project,
        django_capture_on_commit_callbacks,
        strategy="margin",
        budget=2,
        readers=["annotator"],
    ).json()
    # an expert read takes an exam out of the pool too
    ExamLabel.objects.create(project=project, exam=exams[5], source="human", pathology="benign")
    second = start(
        reviewer, project, django_capture_on_commit_callbacks, strategy="random", budget=10
    ).json()
    assert second["pool_size"] == 3
    assert sorted(p["exam"] for p in second["picks"]) == [exams[0].pk, exams[2].pk, exams[4].pk]
    assert ActiveLearningRound.objects.get(pk=first["id"]).state == "closed"
    assert ActiveLearningRound.objects.get(pk=second["id"]).state == "open"


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"strategy": "oracle", "budget": 2}, "strategy", "Unknown strategy"),
        ({"strategy": "entropy", "budget": 0}, "budget", "at least 1"),
        ({"strategy": "entropy", "budget": 2, "readers": ["nobody"]}, "readers", "members"),
    ],
)
def test_a_round_is_refused_with_a_400_naming_the_field(
    scored, members, client_for, body, field, words
):
    project, _, _ = scored
    response = client_for(members["reviewer"]).post(
        "/api/active-rounds/", {"project": project.pk, **body}, format="json"
    )
    assert response.status_code == 400
    assert words in response.json()["error"]["detail"][field][0]
    assert not Job.objects.exists() and not ActiveLearningRound.objects.exists()


def test_a_round_needs_an_active_model_and_a_non_empty_pool(scored, members, client_for):
    project, version, exams = scored
    client = client_for(members["reviewer"])
    body = {"project": project.pk, "strategy": "entropy", "budget": 2}
    version.status = "retired"
    version.save()
    no_model = client.post("/api/active-rounds/", body, format="json")
    assert no_model.status_code == 400 and "no active" in str(no_model.json()["error"]["detail"])
    version.status = "active"
    version.save()
    for exam in exams:
        ReadingAssignment.objects.create(project=project, exam=exam, reader=members["annotator"])
    empty = client.post("/api/active-rounds/", body, format="json")
    assert empty.status_code == 400 and "pool is empty" in str(empty.json()["error"]["detail"])
    assert not ActiveLearningRound.objects.exists()


def test_rounds_are_read_by_members_and_started_or_closed_by_reviewers(
    scored, members, client_for, django_capture_on_commit_callbacks
):
    project, _, _ = scored
    body = {"project": project.pk, "strategy": "entropy", "budget": 1}
    for role in ("viewer", "annotator"):
        assert (
            client_for(members[role]).post("/api/active-rounds/", body, format="json").status_code
            == 403
        )
    outsider = client_for(create_user("outsider"))
    assert outsider.post("/api/active-rounds/", body, format="json").status_code == 404
    created = start(
        client_for(members["owner"]),
        project,
        django_capture_on_commit_callbacks,
        strategy="entropy",
        budget=1,
    ).json()
    viewer = client_for(members["viewer"])
    assert [
        r["id"] for r in viewer.get(f"/api/active-rounds/?project={project.pk}").json()["results"]
    ] == [created["id"]]
    assert viewer.get(f"/api/active-rounds/{created['id']}/").json()["picks"][0]["rank"] == 1
    assert viewer.post(f"/api/active-rounds/{created['id']}/close/").status_code == 403
    assert outsider.get(f"/api/active-rounds/{created['id']}/").status_code == 404
    assert outsider.get("/api/active-rounds/").json()["results"] == []


@pytest.mark.slow
def test_a_round_on_a_trained_version_predicts_the_pool_first_and_reuses_the_predictions(
    members,
):
    from ml.services import registry
    from senolab.jobs.services import run_job
    from tests.ml.test_commands import train

    # given a trained, active version and a pool it has never predicted
    project = case_project(n_patients=6, exams_per_patient=2, owner=members["owner"])
    _, version = train(project)
    registry.activate(version)
    Prediction.objects.all().delete()
    # when a round runs, it predicts every exam of the pool (the per-version cache) and picks
    first = active_learning.start_round(project, "entropy", 3, user=members["owner"])
    job = run_job(first.job_id, active_learning.run_round)
    assert job.status == "succeeded", job.message
    first.refresh_from_db()
    assert first.state == "open" and len(first.picks) == 3
    rows = Prediction.objects.filter(model_version=version)
    # one row per image it read, and the exam-level scores once per exam
    assert rows.filter(image__isnull=False).count() == Image.objects.filter(project=project).count()
    assert rows.filter(image__isnull=True).count() == Exam.objects.filter(project=project).count()
    predicted = rows.count()
    # and a second round on the same version predicts nothing again
    second = active_learning.start_round(project, "margin", 2)
    assert run_job(second.job_id, active_learning.run_round).status == "succeeded"
    assert Prediction.objects.filter(model_version=version).count() == predicted
    second.refresh_from_db()
    first.refresh_from_db()
    assert len(second.pool) == 12 and second.state == "open" and first.state == "closed"


def test_the_pool_holds_only_exams_of_the_versions_modality(scored, members, client_for):
    project, version, _ = scored
    version.modality = "MG"  # the exams are ultrasound
    version.save()
    response = client_for(members["reviewer"]).post(
        "/api/active-rounds/",
        {"project": project.pk, "strategy": "entropy", "budget": 2},
        format="json",
    )
    assert response.status_code == 400
    assert "every exam with MG images" in str(response.json()["error"]["detail"])


def test_the_rounds_page_is_the_workspace_shell_for_members_only(scored, members):
    from django.test import Client

    project, _, _ = scored
    client = Client()
    client.force_login(members["viewer"])
    response = client.get(f"/ml/projects/{project.pk}/rounds/")
    assert response.status_code == 200
    assert response.context["config"]["page"] == "ml-rounds"
    assert response.context["config"]["projectId"] == project.pk
    client.force_login(create_user("outsider"))
    assert client.get(f"/ml/projects/{project.pk}/rounds/").status_code == 404


def test_the_balance_guard_gives_a_share_of_the_picks_to_the_exams_likeliest_malignant(
    scored, members, client_for, django_capture_on_commit_callbacks
):
    project, _, exams = scored
    # entropy alone picks 0.5, 0.58 and 0.8: two of three predicted malignant
    body = start(
        client_for(members["reviewer"]),
        project,
        django_capture_on_commit_callbacks,
        strategy="entropy",
        budget=3,
        rare_class="malignant",
        rare_share=1.0,
    ).json()
    picks = body["picks"]
    # a guard asking for all three predicted malignant puts the likeliest malignant exam not
    # picked yet (0.99) in place of entropy's last pick (0.8 is malignant too, but last)
    assert [p["exam"] for p in picks] == [exams[1].pk, exams[3].pk, exams[5].pk]
    assert picks[2]["reason"] == "balance" and picks[2]["score"] == pytest.approx(0.99)
    assert "reason" not in picks[0]


def test_a_rare_class_the_model_does_not_have_is_refused(scored, members, client_for):
    project, version, _ = scored
    version.recipe_config = {"classes": ["benign", "malignant"]}
    version.save()
    response = client_for(members["reviewer"]).post(
        "/api/active-rounds/",
        {"project": project.pk, "strategy": "entropy", "budget": 2, "rare_class": "normal"},
        format="json",
    )
    assert response.status_code == 400
    assert "no class 'normal'" in response.json()["error"]["detail"]["rare_class"][0]
