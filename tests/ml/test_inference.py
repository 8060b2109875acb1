"""Prediction and evaluation jobs with the real engine: provenance and a map per image."""

from __future__ import annotations

import pytest

from ml.models import Prediction
from ml.services import evaluation, prediction
from senolab.imaging.models import Exam, Image
from senolab.jobs.services import run_job
from tests.ml.test_commands import train

pytestmark = pytest.mark.slow


def test_prediction_job_stores_predictions_with_version_and_heatmap_apart_from_findings(
    make_case_project, owner, make_user, client_for
):
    from annotations.models import Finding

    # given a trained version in a project
    project = make_case_project(n_patients=10, exams_per_patient=2, owner=owner)
    _, version = train(project)
    exams = list(Exam.objects.filter(project=project).values_list("pk", flat=True)[:3])
    findings_before = Finding.objects.count()
    # when a predict job runs on three exams with explanations
    job = prediction.start_prediction(version, exams, explain=True, user=owner)
    job = run_job(job.pk, prediction.run_prediction)
    # then each exam has its exam-level scores once, and each image the model read one
    # prediction of that version with its own scores and a Grad-CAM; findings are untouched
    assert job.status == "succeeded", job.message
    exam_level = list(Prediction.objects.filter(job=job, image__isnull=True))
    assert sorted(p.exam_id for p in exam_level) == sorted(exams)
    assert all(p.outputs["level"] == "exam" and not p.heatmap_key for p in exam_level)
    predictions = list(Prediction.objects.filter(job=job, image__isnull=False))
    images = {im.pk: im for im in Image.objects.filter(exam_id__in=exams)}
    assert {p.image_id for p in predictions} == {
        pk for pk, im in images.items() if im.modality == version.modality
    }
    for p in predictions:
        assert p.exam_id == images[p.image_id].exam_id and p.model_version_id == version.pk
        assert p.heatmap_key and p.heatmap_kind == "gradcam"
        assert sum(p.outputs["scores"].values()) == pytest.approx(1.0, abs=1e-3)
        assert 0.0 <= p.outputs["probability"] <= 1.0
    for exam_row in exam_level:
        assert exam_row.outputs["images"] == sorted(
            p.image_id for p in predictions if p.exam_id == exam_row.exam_id
        )
    assert Finding.objects.count() == findings_before
    client = client_for(owner)
    response = client.get(f"/api/predictions/{predictions[0].pk}/heatmap/")
    assert response.status_code == 200 and response.content[:4] == b"\x89PNG"
    outsider = client_for(make_user("outsider"))
    assert outsider.get(f"/api/predictions/{predictions[0].pk}/heatmap/").status_code == 404


def test_evaluation_job_reports_the_flat_metrics_on_the_snapshot_test_split(make_case_project):
    project = make_case_project(n_patients=10, exams_per_patient=2)
    _, version = train(project)
    job = run_job(evaluation.start_evaluation(version, "test").pk, evaluation.run_evaluation)
    assert job.status == "succeeded", job.message
    assert job.result["metrics"]["n"] == version.metrics["n"]
    assert job.result["metrics"]["auc"] == pytest.approx(version.metrics["auc"], abs=1e-6)
