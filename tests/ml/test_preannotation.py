"""Pre-annotation: one exam from its page's endpoint, a selection or a project as one Job, and
new exams after ingest when the project asks for it."""

from __future__ import annotations

import pytest

from ml.models import Prediction
from ml.services import prediction, registry
from senolab.imaging.ingest.service import ingest_paths
from senolab.imaging.models import Exam, Image
from senolab.jobs.models import Job, JobKind
from tests.factories import write_dicom
from tests.ml.test_api import make_version
from tests.ml.test_commands import train


@pytest.fixture
def members(make_user):
    return {role: make_user(role) for role in ("owner", "reviewer", "annotator")}


def test_new_exams_are_preannotated_after_ingest_when_the_project_says_so(
    make_project, members, tmp_path, django_capture_on_commit_callbacks
):
    # given a project that pre-annotates on ingest, with an active MG model
    project = make_project("Ingest", **members)
    project.preannotate_on_ingest = True
    project.save(update_fields=["preannotate_on_ingest"])
    version = make_version(project, modality="MG")
    registry.activate(version)
    # when two MG files of one study are ingested and the ingest commits
    study = "1.2.826.0.1.3680043.8.498.1"
    files = [
        write_dicom(tmp_path / f"{n}.dcm", modality="MG", study_uid=study, seed=n) for n in range(2)
    ]
    with django_capture_on_commit_callbacks(execute=True):
        report = ingest_paths(project, files)
    # then one prediction Job was started by the ingest for the exam of those images
    assert len(report.images) == 2
    jobs = list(Job.objects.filter(project=project, kind=JobKind.PREDICT))
    assert len(jobs) == 1
    exams = sorted(set(Image.objects.filter(pk__in=report.images).values_list("exam", flat=True)))
    assert jobs[0].params["trigger"] == "ingest"
    assert jobs[0].params["exams"] == exams
    assert jobs[0].params["model_versions"] == [version.pk]


def test_no_preannotation_after_ingest_unless_the_project_asks(
    make_project, members, tmp_path, django_capture_on_commit_callbacks
):
    project = make_project("Quiet", **members)
    registry.activate(make_version(project, modality="MG"))
    with django_capture_on_commit_callbacks(execute=True):
        ingest_paths(project, [write_dicom(tmp_path / "a.dcm", modality="MG")])
    assert not Job.objects.filter(project=project, kind=JobKind.PREDICT).exists()


def test_preannotating_an_exam_needs_a_reviewer_and_an_active_model(
    make_project, members, client_for
):
    project = make_project("No model", **members)
    exam_id = _an_exam(project)
    url = f"/api/exams/{exam_id}/preannotate/"
    assert client_for(members["annotator"]).post(url).status_code == 403
    refused = client_for(members["reviewer"]).post(url)
    assert refused.status_code == 400
    assert "No active model version" in refused.content.decode()


def _an_exam(project) -> int:
    from tests.factories import raster_image

    return raster_image(project).exam_id


@pytest.mark.slow
def test_preannotating_one_exam_and_a_selection_run_the_active_version_on_them(
    make_case_project, members, client_for, django_capture_on_commit_callbacks
):
    # given a project with a trained, active version
    project = make_case_project(n_patients=6, exams_per_patient=1, **members)
    _, version = train(project)
    registry.activate(version)
    exams = sorted(Exam.objects.filter(project=project).values_list("pk", flat=True))
    reviewer = client_for(members["reviewer"])
    # when a reviewer pre-annotates one exam from its page
    with django_capture_on_commit_callbacks(execute=True):
        one = reviewer.post(f"/api/exams/{exams[0]}/preannotate/")
    # then its Job ran the active version on that exam only (Celery is eager here)
    assert one.status_code == 202, one.content
    ran = Job.objects.get(pk=one.json()["id"])
    assert ran.status == "succeeded", ran.message
    rows = Prediction.objects.filter(job=ran)
    assert set(rows.values_list("exam_id", flat=True)) == {exams[0]}
    assert set(rows.values_list("model_version_id", flat=True)) == {version.pk}
    # and the proposals of the exam list them
    listed = reviewer.get(f"/api/exams/{exams[0]}/proposals/").json()
    assert {p["id"] for p in listed} == set(rows.values_list("pk", flat=True))
    # when a selection of the worklist is pre-annotated, in batches of two exams
    with django_capture_on_commit_callbacks(execute=True):
        job = prediction.start_preannotation(project, exams[1:4], batch=2)
    job.refresh_from_db()
    assert job.status == "succeeded", job.message
    assert job.result["exams"] == 3 and job.result["skipped"] == 0
    assert set(
        Prediction.objects.filter(job=job, image__isnull=True).values_list("exam_id", flat=True)
    ) == set(exams[1:4])
