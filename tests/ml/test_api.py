"""ML API: who may start trainings and manage versions; nothing of another project is visible."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from ml.models import ModelVersion, TrainingRun, VersionStatus
from senolab.jobs.models import Job

RECIPE = "busi-malignancy"


@pytest.fixture
def members(make_user):
    return {role: make_user(role) for role in ("owner", "reviewer", "annotator", "viewer")}


@pytest.fixture
def team_project(make_project, members):
    return make_project("ML", **members)


def make_version(project, **fields) -> ModelVersion:
    values = {
        "task": "classification",
        "label": "malignant",
        "modality": "US",
        "recipe": RECIPE,
        "snapshot_hash": "0" * 64,
        "artifact_key": "k",
        "artifact_sha256": "1" * 64,
        "metrics": {"auc": 0.9, "roc": [[0, 0], [1, 1]]},
    }
    values.update(fields)
    return ModelVersion.objects.create(project=project, **values)


@pytest.mark.parametrize("role", ["owner", "reviewer"])
def test_reviewer_or_owner_starts_a_training_job_on_the_gpu_queue(
    client_for, members, team_project, role
):
    # when a reviewer/owner posts a run
    response = client_for(members[role]).post(
        "/api/training-runs/", {"project": team_project.pk, "recipe": RECIPE}, format="json"
    )
    # then a run and its queued gpu Job exist
    assert response.status_code == 201, response.content
    run = TrainingRun.objects.get(pk=response.json()["id"])
    assert run.job.queue == "gpu" and run.job.kind == "train"
    assert response.json()["job"]["status"] == run.job.status


@pytest.mark.parametrize("role", ["annotator", "viewer"])
def test_annotators_and_viewers_cannot_start_training(client_for, members, team_project, role):
    response = client_for(members[role]).post(
        "/api/training-runs/", {"project": team_project.pk, "recipe": RECIPE}, format="json"
    )
    assert response.status_code == 403
    assert not TrainingRun.objects.exists() and not Job.objects.exists()


def test_non_member_gets_404_for_runs_and_versions_of_another_project(
    client_for, make_user, team_project, members
):
    # given a run and a version in a project the outsider is not a member of
    client_for(members["owner"]).post(
        "/api/training-runs/", {"project": team_project.pk, "recipe": RECIPE}, format="json"
    )
    run = TrainingRun.objects.get()
    version = make_version(team_project)
    outsider = client_for(make_user("outsider"))
    # then lists are empty and details/actions are 404, never 403
    assert (
        outsider.get("/api/training-runs/").json()["results"] == []
        or outsider.get("/api/training-runs/").json().get("count") == 0
    )
    assert outsider.get(f"/api/training-runs/{run.pk}/").status_code == 404
    assert outsider.get(f"/api/model-versions/{version.pk}/").status_code == 404
    assert outsider.post(f"/api/model-versions/{version.pk}/activate/").status_code == 404
    response = outsider.post(
        "/api/training-runs/", {"project": team_project.pk, "recipe": RECIPE}, format="json"
    )
    assert response.status_code == 404


def test_unknown_recipe_is_refused_with_a_message(client_for, members, team_project):
    response = client_for(members["owner"]).post(
        "/api/training-runs/", {"project": team_project.pk, "recipe": "no-such"}, format="json"
    )
    assert response.status_code == 400
    assert "no-such" in response.content.decode()
    assert not Job.objects.exists()


def test_activating_a_version_retires_the_previous_active_one(client_for, members, team_project):
    # given an active version and a candidate of the same task and label
    old = make_version(team_project, status=VersionStatus.ACTIVE)
    new = make_version(team_project)
    # when a reviewer activates the candidate
    response = client_for(members["reviewer"]).post(f"/api/model-versions/{new.pk}/activate/")
    # then it is the only active one and the old one is retired
    assert response.status_code == 200
    assert response.json()["status"] == "active"
    old.refresh_from_db()
    assert old.status == VersionStatus.RETIRED
    assert response.json()["curves"]["roc"] == [[0, 0], [1, 1]]


@pytest.mark.parametrize("role", ["annotator", "viewer"])
def test_only_reviewers_activate_or_retire(client_for, members, team_project, role):
    version = make_version(team_project)
    client = client_for(members[role])
    assert client.get(f"/api/model-versions/{version.pk}/").status_code == 200
    assert client.post(f"/api/model-versions/{version.pk}/activate/").status_code == 403
    assert client.post(f"/api/model-versions/{version.pk}/retire/").status_code == 403
    version.refresh_from_db()
    assert version.status == VersionStatus.CANDIDATE


def test_recipes_are_listed_without_training(client_for, members):
    names = [
        r["name"] for r in client_for(members["viewer"]).get("/api/recipes/").json()["recipes"]
    ]
    assert RECIPE in names and "breastmnist" in names


def test_recipe_list_matches_its_documented_serializer(client_for, members):
    from ml.api.serializers import RecipeListSerializer

    # Given the recipe list as a viewer reads it
    body = client_for(members["viewer"]).get("/api/recipes/").json()
    # Then it passes the serializer the OpenAPI schema documents, field for field
    check = RecipeListSerializer(data=body)
    assert check.is_valid(), check.errors
    assert set(body["recipes"][0]) == set(check.fields["recipes"].child.fields)


def test_ml_api_schema_generates_with_no_warnings():
    from drf_spectacular.drainage import GENERATOR_STATS
    from drf_spectacular.generators import SchemaGenerator

    # Given a fresh generator log
    GENERATOR_STATS.reset()
    # When the whole schema is generated
    schema = SchemaGenerator().get_schema(request=None, public=True)
    # Then the ML views document their responses and warn about nothing
    messages = [*GENERATOR_STATS._warn_cache, *GENERATOR_STATS._error_cache]
    assert not [m for m in messages if "ml/api/" in m], messages
    recipes = schema["paths"]["/api/recipes/"]["get"]["responses"]["200"]
    assert recipes["content"]["application/json"]["schema"]["$ref"].endswith("/RecipeList")


def test_ml_pages_are_frontend_shells_about_their_object_for_members_only(
    client_for, make_user, members, team_project
):
    from django.test import Client

    # given a run and a version of the team's project
    client_for(members["owner"]).post(
        "/api/training-runs/", {"project": team_project.pk, "recipe": RECIPE}, format="json"
    )
    run = TrainingRun.objects.get()
    version = make_version(team_project)
    client = Client()
    client.force_login(members["viewer"])
    # then each page is the workspace shell naming its page and object, with no inline script
    for path, page, key, pk in [
        ("/ml/runs/", "ml-runs", None, None),
        (f"/ml/runs/{run.pk}/", "ml-run", "runId", run.pk),
        (f"/ml/versions/{version.pk}/", "ml-version", "versionId", version.pk),
    ]:
        response = client.get(path)
        assert response.status_code == 200, path
        config = response.context["config"]
        assert config["page"] == page and config["projectId"] in (None, team_project.pk)
        if key:
            assert config[key] == pk
        assert b"/api/jobs/" not in response.content  # the poller lives in the frontend build
    # and an outsider gets 404s, not the pages
    client.force_login(make_user("outsider"))
    assert client.get(f"/ml/runs/{run.pk}/").status_code == 404
    assert client.get(f"/ml/versions/{version.pk}/").status_code == 404
    assert client.get(f"/ml/runs/?project={team_project.pk}").status_code == 404


def test_refusals_of_the_services_are_400s_in_the_api_error_format(
    client_for, members, team_project, make_project
):
    # Given a version of this project, and an exam and a version of another project
    from senolab.imaging.models import Exam, Patient

    version = make_version(team_project)
    other = make_project("Other", owner=members["owner"])
    foreign_version = make_version(other)
    patient = Patient.objects.create(project=other, pseudonym="SNL-9")
    foreign_exam = Exam.objects.create(project=other, patient=patient, study_uid="2.25.77")
    client = client_for(members["owner"])
    # When the owner trains from a parent of another project, or predicts on a foreign exam
    parent = client.post(
        "/api/training-runs/",
        {"project": team_project.pk, "recipe": RECIPE, "parent_version": foreign_version.pk},
        format="json",
    )
    predict = client.post(
        f"/api/model-versions/{version.pk}/predict/", {"exams": [foreign_exam.pk]}, format="json"
    )
    # Then each is a 400 naming the field, with the service's message, and nothing was queued
    assert parent.status_code == 400
    assert parent.json()["error"]["detail"] == {
        "parent_version": ["No such model version in this project."]
    }
    assert predict.status_code == 400
    assert predict.json()["error"]["message"] == ("Exams: Some exams do not exist in this project.")
    assert not Job.objects.exists()


def test_a_started_training_sends_the_train_task_on_the_gpu_queue_after_commit(
    client_for, members, team_project, monkeypatch, django_capture_on_commit_callbacks
):
    # Given the Celery task the services enqueue by name (they never import ml.tasks)
    from ml import tasks

    sent = []

    def apply_async(args, kwargs=None, **options):
        sent.append((list(args), options.get("queue")))
        return SimpleNamespace(id="celery-id")

    monkeypatch.setattr(tasks.train_task, "apply_async", apply_async)
    # When a reviewer starts a training and the request's transaction commits
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(members["reviewer"]).post(
            "/api/training-runs/", {"project": team_project.pk, "recipe": RECIPE}, format="json"
        )
    # Then that task was sent once, for the run's job, on the gpu queue
    assert response.status_code == 201
    run = TrainingRun.objects.get(pk=response.json()["id"])
    assert sent == [([str(run.job_id)], "gpu")]
    assert Job.objects.get(pk=run.job_id).celery_task_id == "celery-id"


def test_training_started_with_epochs_keeps_them_as_a_run_override(
    client_for, members, team_project
):
    response = client_for(members["reviewer"]).post(
        "/api/training-runs/",
        {"project": team_project.pk, "recipe": RECIPE, "epochs": 2, "ground_truth": "reference"},
        format="json",
    )
    assert response.status_code == 201, response.content
    run = TrainingRun.objects.get(pk=response.json()["id"])
    assert run.params["overrides"] == {"epochs": 2}
    assert run.params["ground_truth"] == "reference"
    assert run.created_by == members["reviewer"]


def test_training_with_zero_epochs_is_refused_with_a_message(client_for, members, team_project):
    response = client_for(members["owner"]).post(
        "/api/training-runs/",
        {"project": team_project.pk, "recipe": RECIPE, "epochs": 0},
        format="json",
    )
    assert response.status_code == 400
    assert "epochs" in response.content.decode()
    assert not TrainingRun.objects.exists()
