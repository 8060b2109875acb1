"""Core-set, BADGE and BALD rounds pick what they should from a version's cached image features
(ml.ImageFeatures) without running a model; minutes budgets; the round a project's policy starts
when a trained version is activated; and the 400s of the new options."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from django.utils import timezone

from annotations.models import ExamLabel, ReadingAssignment
from ml.models import (
    ActiveLearningPolicy,
    ActiveLearningRound,
    ImageFeatures,
    ModelVersion,
    Prediction,
    TrainingRun,
)
from ml.services import active_learning, engine, registry, round_selection
from senolab.imaging.models import Exam, Image
from tests.factories import case_project, create_user
from tests.ml.test_active_rounds import start

F16 = np.dtype("<f2")


def cache_features(version, exam, embedding, p_malignant, samples=None) -> None:
    """The cached features of the exam's one image: an embedding, [1 - p, p] and, optionally,
    the malignant probability of each Monte Carlo dropout pass."""
    rows = b""
    if samples is not None:
        rows = np.asarray([[1 - s, s] for s in samples], F16).tobytes()
    ImageFeatures.objects.create(
        model_version=version,
        image=Image.objects.get(exam=exam),
        exam=exam,
        embedding=np.asarray(embedding, F16).tobytes(),
        probabilities=np.asarray([1 - p_malignant, p_malignant], F16).tobytes(),
        samples=rows,
        mc_passes=0 if samples is None else len(samples),
    )


@pytest.fixture
def pool(members, monkeypatch):
    """Eight one-image exams, an active classifier, and no model to run: a round that tried to
    predict would fail, so every pick below comes from the cached features."""
    project = case_project(n_patients=4, exams_per_patient=2, owner=members["owner"])
    version = ModelVersion.objects.create(
        project=project,
        task="classification",
        label="malignant",
        modality="US",
        recipe="us-malignancy",
        recipe_config={"classes": ["benign", "malignant"]},
        snapshot_hash="0" * 64,
        artifact_key="k",
        artifact_sha256="1" * 64,
        status="active",
    )

    def no_model():
        raise AssertionError("the round ran the model instead of reading its cache")

    monkeypatch.setattr(engine, "api", no_model)
    return project, version, list(Exam.objects.filter(project=project).order_by("pk"))


def picked(al_round: ActiveLearningRound) -> list[int]:
    al_round.refresh_from_db()
    assert al_round.state == "open", al_round.job.message if al_round.job else ""
    return [p["exam"] for p in al_round.picks]


def run_round(project, strategy, budget, capture, **options) -> ActiveLearningRound:
    with capture(execute=True):
        al_round = active_learning.start_round(project, strategy, budget, **options)
    return al_round


def test_coreset_covers_every_cluster_and_treats_labelled_exams_as_covered(
    pool, django_capture_on_commit_callbacks
):
    project, version, exams = pool
    # given clusters A (far away: exams 0-2), B (3-5), C (6) and D (7), and exam 0 read by an
    # expert: A is covered already, though its other exams are the farthest from everything
    centres = {0: (-30, -30), 1: (-30, -30), 2: (-30, -30), 3: (10, 0), 4: (10, 0)}
    centres.update({5: (10, 0), 6: (0, 10), 7: (10, 10)})
    for i, exam in enumerate(exams):
        x, y = centres[i]
        cache_features(version, exam, [x + 0.2 * i, y - 0.1 * i, 0.05 * i, 1.0], 0.5)
    ExamLabel.objects.create(project=project, exam=exams[0], source="human", pathology="benign")
    # when a core-set round picks three
    al_round = run_round(project, "coreset", 3, django_capture_on_commit_callbacks)
    # then it picks one exam of each uncovered cluster, none of A
    chosen = picked(al_round)
    cluster = {exams[i].pk: centres[i] for i in centres}
    assert sorted(cluster[e] for e in chosen) == [(0, 10), (10, 0), (10, 10)]
    assert al_round.pool == sorted(e.pk for e in exams[1:])
    # and each pick's score is its distance to the nearest centre when it was chosen
    scores = [p["score"] for p in al_round.picks]
    assert scores == sorted(scores, reverse=True) and scores[-1] > 5


def test_a_first_coreset_round_with_nothing_read_spreads_its_picks(
    pool, django_capture_on_commit_callbacks
):
    project, version, exams = pool
    # given two tight clusters of four exams and no exam read yet
    for i, exam in enumerate(exams):
        cache_features(version, exam, [20.0 * (i % 2) + 0.01 * i, 0.0], 0.5)
    # when core-set picks two, then it takes one of each cluster; the seeded first pick has no
    # centre to be measured from and scores 0
    al_round = run_round(project, "coreset", 2, django_capture_on_commit_callbacks)
    assert sorted(exams.index(Exam.objects.get(pk=e)) % 2 for e in picked(al_round)) == [0, 1]
    assert al_round.picks[0]["score"] == 0 and al_round.picks[1]["score"] > 19


def test_badge_starts_at_the_most_uncertain_exam_and_skips_its_duplicate(
    pool, django_capture_on_commit_callbacks
):
    project, version, exams = pool
    # given exam 0 uncertain, exam 1 its exact duplicate, exam 2 uncertain in another direction,
    # and the rest confident, exam 3 with by far the largest embedding
    cache_features(version, exams[0], [10, 0, 0, 0], 0.45)
    cache_features(version, exams[1], [10, 0, 0, 0], 0.45)
    cache_features(version, exams[2], [0, 9, 0, 0], 0.5)
    cache_features(version, exams[3], [0, 0, 100, 0], 1.0)
    for exam in exams[4:]:
        cache_features(version, exam, [0, 0, 0, 1], 0.0)
    # when BADGE picks two
    chosen = picked(run_round(project, "badge", 2, django_capture_on_commit_callbacks))
    # then the largest (uncertainty x feature) gradient comes first, and the second is not its
    # duplicate, whose gradient it has already covered
    assert chosen[0] == exams[0].pk
    assert exams[1].pk not in chosen
    assert exams[3].pk != chosen[0]


def test_bald_prefers_exams_whose_dropout_passes_disagree(pool, django_capture_on_commit_callbacks):
    project, version, exams = pool
    # given exam 2 whose passes split 0.95 / 0.05 and exam 5 whose passes all say 0.5
    for i, exam in enumerate(exams):
        passes = [0.1, 0.1, 0.12, 0.1]
        if i == 2:
            passes = [0.95, 0.05, 0.95, 0.05]
        if i == 5:
            passes = [0.5, 0.5, 0.5, 0.5]
        cache_features(version, exam, [float(i), 0], float(np.mean(passes)), passes)
    # when BALD picks one with four passes
    al_round = run_round(project, "bald", 1, django_capture_on_commit_callbacks, mc_samples=4)
    # then it picks the disagreement, not the exam that is merely unsure
    assert picked(al_round) == [exams[2].pk]
    assert al_round.params["mc_samples"] == 4 and al_round.picks[0]["score"] > 0.4


def test_an_exam_embedding_is_the_mean_of_its_images():
    values = np.asarray([[0, 2], [2, 4], [5, 5]], np.float32)
    means = round_selection.mean_by_exam(values, np.asarray([7, 7, 9]), np.asarray([7, 9]))
    assert means.tolist() == [[1, 3], [5, 5]]


def test_a_minutes_budget_buys_picks_at_the_requested_default(
    scored, members, client_for, django_capture_on_commit_callbacks
):
    project, _, exams = scored
    # when an entropy round has 10 minutes and an ultrasound exam takes 4
    body = start(
        client_for(members["reviewer"]),
        project,
        django_capture_on_commit_callbacks,
        strategy="entropy",
        budget_minutes=10,
        minutes_per_exam={"US": 4, "MG": 9},
    ).json()
    # then two exams fit, the most uncertain first, each counted at 4 minutes
    assert [p["exam"] for p in body["picks"]] == [exams[1].pk, exams[3].pk]
    assert [p["minutes"] for p in body["picks"]] == [4, 4]
    assert body["params"]["minutes_source"] == {"US": "default"}
    assert body["budget"] == 2 and body["job"]["result"]["minutes"] == 8


def test_recorded_reading_times_set_the_minutes_per_exam(
    scored, members, client_for, django_capture_on_commit_callbacks
):
    project, _, exams = scored
    # given three finished ultrasound readings of 6, 6 and 9 minutes (median 6)
    now = timezone.now()
    for exam, minutes in zip(exams[4:] + exams[:1], (6, 6, 9), strict=True):
        ReadingAssignment.objects.create(
            project=project,
            exam=exam,
            reader=members["annotator"],
            status="done",
            started_at=now - timedelta(minutes=minutes),
            finished_at=now,
        )
    # when a round has 13 minutes (and a request default of 1 minute that it does not need)
    body = start(
        client_for(members["reviewer"]),
        project,
        django_capture_on_commit_callbacks,
        strategy="entropy",
        budget_minutes=13,
        minutes_per_exam={"US": 1},
    ).json()
    # then the recorded median wins: two picks of 6 minutes
    assert [p["minutes"] for p in body["picks"]] == [6, 6]
    assert body["params"]["minutes_source"] == {"US": "recorded"}
    assert body["params"]["minutes_per_exam"] == {"US": 6}


def test_a_minutes_budget_skips_an_exam_whose_modality_no_longer_fits(
    scored, members, client_for, django_capture_on_commit_callbacks
):
    project, version, exams = scored
    # given a version of no one modality and entropy's second exam a 9-minute mammogram
    version.modality = ""
    version.save()
    Image.objects.filter(exam=exams[3]).update(modality="MG")
    # when 12 minutes are spent at 4 an ultrasound and 9 a mammogram
    body = start(
        client_for(members["reviewer"]),
        project,
        django_capture_on_commit_callbacks,
        strategy="entropy",
        budget_minutes=12,
        minutes_per_exam={"US": 4, "MG": 9},
    ).json()
    # then the mammogram (rank 2, 9 minutes > the 8 left) is passed over for the next
    # ultrasound exams in entropy order, until the 12 minutes are spent
    assert [p["exam"] for p in body["picks"]] == [exams[1].pk, exams[4].pk, exams[2].pk]
    assert [p["minutes"] for p in body["picks"]] == [4, 4, 4]
    assert body["params"]["minutes_per_exam"] == {"MG": 9, "US": 4}


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"strategy": "entropy"}, "budget", "exams or in readers' minutes"),
        ({"strategy": "entropy", "budget_minutes": 0.5}, "budget_minutes", "at least 1 minute"),
        ({"strategy": "entropy", "budget_minutes": 30}, "minutes_per_exam", '"US": 5'),
        (
            {"strategy": "entropy", "budget_minutes": 30, "minutes_per_exam": {"US": -2}},
            "minutes_per_exam",
            "positive",
        ),
        (
            {"strategy": "entropy", "budget_minutes": 3, "minutes_per_exam": {"US": 4}},
            "budget_minutes",
            "buy no exam",
        ),
        ({"strategy": "bald", "budget": 2, "mc_samples": 1}, "mc_samples", "2 to 100"),
    ],
)
def test_new_round_options_are_refused_with_a_400_naming_the_field(
    scored, members, client_for, body, field, words
):
    project, _, _ = scored
    response = client_for(members["reviewer"]).post(
        "/api/active-rounds/", {"project": project.pk, **body}, format="json"
    )
    assert response.status_code == 400
    assert words in response.json()["error"]["detail"][field][0]
    assert not ActiveLearningRound.objects.exists()


@pytest.mark.parametrize("strategy", ["badge", "bald"])
def test_strategies_reading_class_probabilities_refuse_a_segmentation_model(
    scored, members, client_for, strategy
):
    project, version, _ = scored
    version.task = "segmentation"
    version.save()
    response = client_for(members["reviewer"]).post(
        "/api/active-rounds/",
        {"project": project.pk, "strategy": strategy, "budget": 2},
        format="json",
    )
    assert response.status_code == 400
    assert "segmentation model" in response.json()["error"]["detail"]["strategy"][0]


def test_activating_a_trained_version_starts_the_projects_policy_round(
    scored, members, django_capture_on_commit_callbacks
):
    project, version, exams = scored
    # given a policy of a margin round of 2 for the annotator after each training
    ActiveLearningPolicy.objects.create(
        project=project,
        after_training=True,
        strategy="margin",
        budget=2,
        params={"readers": ["annotator"]},
    )
    version.status = "candidate"
    version.training_run = TrainingRun.objects.create(project=project, recipe="us-malignancy")
    version.save()
    # when the version is activated
    with django_capture_on_commit_callbacks(execute=True):
        registry.activate(version)
    # then a round on it ran and opened with the policy's strategy and budget
    al_round = ActiveLearningRound.objects.get(project=project)
    assert (al_round.strategy, al_round.budget, al_round.model_version_id) == (
        "margin",
        2,
        version.pk,
    )
    assert al_round.params["trigger"] == "training"
    assert picked(al_round) == [exams[1].pk, exams[3].pk]
    assert ReadingAssignment.objects.filter(reader=members["annotator"]).count() == 2


def test_no_policy_round_without_the_policy_or_for_a_version_no_training_made(
    scored, django_capture_on_commit_callbacks
):
    project, version, _ = scored
    policy = ActiveLearningPolicy.objects.create(project=project, after_training=False)
    version.training_run = TrainingRun.objects.create(project=project, recipe="us-malignancy")
    version.save()
    with django_capture_on_commit_callbacks(execute=True):
        registry.activate(version)
    assert not ActiveLearningRound.objects.exists()
    policy.after_training = True
    policy.save()
    version.training_run = None  # an imported model, say
    version.save()
    with django_capture_on_commit_callbacks(execute=True):
        registry.activate(version)
    assert not ActiveLearningRound.objects.exists()


@pytest.mark.slow
def test_feature_rounds_on_a_trained_version_run_the_model_once_then_read_the_cache(members):
    from unittest import mock

    from senolab.jobs.services import run_job
    from tests.ml.test_commands import train

    # given a trained, active ResNet (no dropout) and a pool it has never predicted
    project = case_project(n_patients=6, exams_per_patient=2, owner=members["owner"])
    _, version = train(project)
    registry.activate(version)
    Prediction.objects.all().delete()
    # and one exam an expert has read: core-set's centre, no longer in the pool
    read = Exam.objects.filter(project=project).order_by("pk").first()
    ExamLabel.objects.create(project=project, exam=read, source="human", pathology="benign")
    engine_api = engine.api()
    images = Image.objects.filter(project=project).count()
    with mock.patch.object(engine_api, "predict", wraps=engine_api.predict) as predict:
        # when a core-set round runs, the model runs once, with embeddings, over the pool
        first = active_learning.start_round(project, "coreset", 3)
        job = run_job(first.job_id, active_learning.run_round)
        assert job.status == "succeeded", job.message
        assert predict.call_count == 1 and predict.call_args.kwargs["embeddings"] is True
        rows = ImageFeatures.objects.filter(model_version=version)
        assert rows.count() == images
        embedding = np.frombuffer(bytes(rows.first().embedding), F16)
        assert embedding.shape == (512,)  # ResNet-18's pooled features, float16
        assert len(picked(first)) == 3 and read.pk not in picked(first)
        # the read exam's features are cached (a centre) but no machine proposal is stored
        assert rows.filter(exam=read).exists()
        assert not Prediction.objects.filter(exam=read).exists()
        assert Prediction.objects.filter(image__isnull=True).count() == len(first.pool) == 11
        # then BADGE, entropy (its Predictions were stored too) and core-set again run no model
        for strategy in ("badge", "entropy", "coreset"):
            again = active_learning.start_round(project, strategy, 2)
            assert run_job(again.job_id, active_learning.run_round).status == "succeeded"
            assert len(picked(again)) == 2
        assert predict.call_count == 1 and rows.count() == images
        # and BALD fails with the reason: this network has no dropout to sample
        bald = active_learning.start_round(project, "bald", 2, mc_samples=4)
        failed = run_job(bald.job_id, active_learning.run_round)
    assert failed.status == "failed" and "no dropout layer" in failed.message
    bald.refresh_from_db()
    assert bald.state == "failed"


def test_owners_set_the_round_policy_members_read_it(scored, members, client_for):
    project, _, _ = scored
    url = f"/api/projects/{project.pk}/active-learning-policy/"
    # a project without a policy reads as the defaults: no round after training
    viewer = client_for(members["viewer"])
    assert viewer.get(url).json()["after_training"] is False
    # the owner sets one; a reviewer may not; unknown strategies and options are 400s
    owner = client_for(members["owner"])
    body = {"after_training": True, "strategy": "coreset", "budget_minutes": 60}
    body["minutes_per_exam"] = {"US": 4}
    assert client_for(members["reviewer"]).put(url, body, format="json").status_code == 403
    saved = owner.put(url, body, format="json")
    assert saved.status_code == 200, saved.json()
    policy = ActiveLearningPolicy.objects.get(project=project)
    assert (policy.strategy, policy.budget_minutes, policy.minutes_per_exam) == (
        "coreset",
        60,
        {"US": 4},
    )
    assert viewer.get(url).json()["strategy"] == "coreset"
    bad = owner.put(url, {"strategy": "oracle", "params": {"colour": 1}}, format="json")
    assert bad.status_code == 400
    assert set(bad.json()["error"]["detail"]) == {"strategy", "params"}
    assert client_for(create_user("outsider")).get(url).status_code == 404
