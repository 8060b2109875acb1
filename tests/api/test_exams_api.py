"""Exams, patients, series, priors and the clinical record through the REST API."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from annotations.models import ExamLabel
from senolab.imaging.models import ClinicalRecord, ExamStatus
from tests.factories import raster_image

pytestmark = pytest.mark.django_db


def ids(response) -> list[int]:
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()["results"]]


def test_exam_list_shows_only_the_callers_projects(two_projects, client_for):
    client = client_for(two_projects.users["viewer"])
    response = client.get("/api/exams/")
    assert ids(response) == [two_projects.exam_a.pk]
    assert response.json()["count"] == 1
    row = response.json()["results"][0]
    assert row["image_count"] == 1
    assert row["patient_pseudonym"] == two_projects.exam_a.patient.pseudonym
    # Naming the other project in the filter shows nothing, not even a count
    other = client.get("/api/exams/", {"project": two_projects.b.pk})
    assert ids(other) == [] and other.json()["count"] == 0


@pytest.mark.parametrize(
    "path",
    [
        "/api/exams/{exam}/",
        "/api/exams/{exam}/priors/",
        "/api/exams/{exam}/clinical-record/",
        "/api/patients/{patient}/",
        "/api/series/{series}/",
    ],
)
def test_objects_of_another_project_are_404(two_projects, client_for, path):
    exam = two_projects.exam_b
    url = path.format(exam=exam.pk, patient=exam.patient_id, series=exam.series.first().pk)
    response = client_for(two_projects.users["owner"]).get(url)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    # with a message a person reads, not the serializer's field name
    assert not response.json()["error"]["message"].startswith("detail")
    # while the project's own owner reads it
    assert client_for(two_projects.users["b_owner"]).get(url).status_code in (200, 404)


def test_exam_filters_select_by_image_labels_and_record(two_projects, client_for):
    # Given a second exam of the same patient (same date shift) in A: US, right, site south,
    # BI-RADS 4 label, density C label; the first exam has a density B record
    us = raster_image(
        two_projects.a,
        patient="p1",
        exam="e2",
        modality="US",
        laterality="R",
        view="",
        site="south",
        study_date=dt.date(2021, 6, 1),
    )
    ExamLabel.objects.create(project=two_projects.a, exam=us.exam, birads="4", density="C")
    ClinicalRecord.objects.create(
        project=two_projects.a,
        patient=us.exam.patient,
        exam=two_projects.exam_a,
        breast_density="B",
    )
    us.exam.status = ExamStatus.DONE
    us.exam.save()
    two_projects.exam_a.refresh_from_db()
    assert two_projects.exam_a.study_date < us.exam.study_date
    client = client_for(two_projects.users["viewer"])
    first, second = two_projects.exam_a.pk, us.exam.pk
    cases = {
        "modality=US": [second],
        "modality=MG": [first],
        "laterality=R": [second],
        "view=CC": [first],
        "birads=4": [second],
        "density=C": [second],
        "density=B": [first],
        "status=done": [second],
        "status=new": [first],
        "site=south": [second],
        # Study dates are shifted per patient, so the range is taken from the stored dates
        f"date_from={us.exam.study_date.isoformat()}": [second],
        f"date_to={two_projects.exam_a.study_date.isoformat()}": [first],
    }
    for query, expected in cases.items():
        assert ids(client.get(f"/api/exams/?{query}")) == expected, query
    assert sorted(ids(client.get("/api/exams/"))) == sorted([first, second])


def test_bad_filter_values_are_400_with_a_message(two_projects, client_for):
    client = client_for(two_projects.users["viewer"])
    for query in ("modality=XX", "date_from=yesterday", "project=99999999999999999999"):
        response = client.get(f"/api/exams/?{query}")
        assert response.status_code == 400, query
        assert response.json()["error"]["message"]


def test_exam_detail_nests_series_images_and_clinical_record(two_projects, client_for):
    raster_image(two_projects.a, laterality="R", view="MLO")
    ClinicalRecord.objects.create(
        project=two_projects.a,
        patient=two_projects.exam_a.patient,
        exam=two_projects.exam_a,
        age_at_exam=51,
    )
    body = (
        client_for(two_projects.users["viewer"]).get(f"/api/exams/{two_projects.exam_a.pk}/").json()
    )
    images = [i for s in body["series"] for i in s["images"]]
    assert {(i["laterality"], i["view"]) for i in images} == {("L", "CC"), ("R", "MLO")}
    assert images[0]["rows"] == 40 and images[0]["columns"] == 30
    assert body["clinical_record"]["age_at_exam"] == 51
    assert "original_patient_id" not in str(body)


def test_exam_list_query_count_does_not_grow_with_exams(two_projects, client_for):
    client = client_for(two_projects.users["viewer"])
    with CaptureQueriesContext(connection) as few:
        client.get("/api/exams/")
    for n in range(5):
        raster_image(two_projects.a, patient=f"px{n}", exam=f"ex{n}")
    with CaptureQueriesContext(connection) as many:
        response = client.get("/api/exams/")
    assert response.json()["count"] == 6
    assert len(many) == len(few)


def test_priors_are_earlier_exams_of_the_same_patient(two_projects, client_for):
    older = raster_image(two_projects.a, exam="e0", study_date=dt.date(2018, 1, 1)).exam
    raster_image(two_projects.a, exam="e9", study_date=dt.date(2023, 1, 1))
    raster_image(two_projects.a, patient="other", exam="e8", study_date=dt.date(2017, 1, 1))
    response = client_for(two_projects.users["viewer"]).get(
        f"/api/exams/{two_projects.exam_a.pk}/priors/"
    )
    assert [row["id"] for row in response.json()] == [older.pk]


def test_clinical_record_put_validates_against_the_project_schema(two_projects, client_for):
    two_projects.a.clinical_schema = {
        "grade": {"type": "choice", "choices": ["1", "2", "3"]},
        "tumour_mm": {"type": "number", "minimum": 0},
    }
    two_projects.a.save()
    url = f"/api/exams/{two_projects.exam_a.pk}/clinical-record/"
    annotator = client_for(two_projects.users["annotator"])
    # A field outside the schema or of the wrong value is refused and nothing is stored
    for fields in ({"colour": "red"}, {"grade": "7"}, {"tumour_mm": -1}):
        bad = annotator.put(url, {"fields": fields}, format="json")
        assert bad.status_code == 400, fields
        assert "fields" in bad.json()["error"]["detail"]
    assert not ClinicalRecord.objects.filter(exam=two_projects.exam_a).exists()
    # A valid record is stored and read back
    good = annotator.put(
        url,
        {"age_at_exam": 60, "breast_density": "C", "fields": {"grade": "2", "tumour_mm": 12.5}},
        format="json",
    )
    assert good.status_code == 200, good.content
    assert annotator.get(url).json()["fields"] == {"grade": "2", "tumour_mm": 12.5}
    # A viewer reads but may not write; an outsider sees nothing
    assert client_for(two_projects.users["viewer"]).put(url, {}, format="json").status_code == 403
    assert client_for(two_projects.users["b_owner"]).put(url, {}, format="json").status_code == 404
    assert client_for(two_projects.users["b_owner"]).get(url).status_code == 404


def test_patients_show_pseudonyms_and_pseudonym_map_is_owner_only(two_projects, client_for):
    body = client_for(two_projects.users["viewer"]).get("/api/patients/").json()
    assert [p["pseudonym"] for p in body["results"]] == [two_projects.exam_a.patient.pseudonym]
    assert "p1" not in [p["pseudonym"] for p in body["results"]]
    url = f"/api/projects/{two_projects.a.pk}/pseudonyms/"
    assert client_for(two_projects.users["annotator"]).get(url).status_code == 403
    assert client_for(two_projects.users["b_owner"]).get(url).status_code == 404
    rows = client_for(two_projects.users["owner"]).get(url).json()["results"]
    assert [r["original_patient_id"] for r in rows] == ["p1"]


def test_fast_exam_list_rows_equal_what_drf_would_write(two_projects):
    from rest_framework import serializers

    from senolab.imaging.api.serializers import ExamListSerializer
    from senolab.imaging.api.views import ExamViewSet

    # Given an exam as the list's query loads it (with its counts)
    view = ExamViewSet(action="list")
    view.request = type("R", (), {"user": two_projects.users["viewer"]})()
    exam = view.get_queryset().get(pk=two_projects.exam_a.pk)
    # When the list serialises it, the row is what the generic ModelSerializer produces
    serializer = ExamListSerializer()
    fast = serializer.to_representation(exam)
    generic = serializers.ModelSerializer.to_representation(serializer, exam)
    assert fast == dict(generic)
    assert fast["image_count"] == 1 and fast["study_date"]
