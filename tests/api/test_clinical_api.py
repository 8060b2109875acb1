"""The clinical record through the API: saves guarded by the updated_at read (409 when stale),
worklist filters on the record, and CSV import keyed by pseudonym (all rows or none)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from senolab.imaging.models import ClinicalRecord
from tests.factories import raster_image

pytestmark = pytest.mark.django_db


def record_url(exam) -> str:
    return f"/api/exams/{exam.pk}/clinical-record/"


def import_url(project) -> str:
    return f"/api/projects/{project.pk}/clinical-records/import/"


def csv_file(text: str) -> SimpleUploadedFile:
    return SimpleUploadedFile("clinical.csv", text.encode(), content_type="text/csv")


def test_a_save_with_the_updated_at_read_is_stored(two_projects, client_for):
    # Given an annotator who created a record and read it back
    annotator = client_for(two_projects.users["annotator"])
    url = record_url(two_projects.exam_a)
    created = annotator.put(url, {"age_at_exam": 50, "updated_at": None}, format="json")
    assert created.status_code == 200, created.content
    read = annotator.get(url).json()
    # When they save a change with the updated_at they read
    saved = annotator.put(
        url,
        {"age_at_exam": 51, "biopsy_outcome": "benign", "updated_at": read["updated_at"]},
        format="json",
    )
    # Then it is stored, with a newer updated_at for the next save
    assert saved.status_code == 200, saved.content
    assert saved.json()["age_at_exam"] == 51
    assert saved.json()["updated_at"] != read["updated_at"]
    stored = ClinicalRecord.objects.get(exam=two_projects.exam_a)
    assert (stored.age_at_exam, stored.biopsy_outcome) == (51, "benign")


def test_a_stale_save_is_409_with_the_stored_record_and_stores_nothing(two_projects, client_for):
    # Given two annotators who read the same record
    first = client_for(two_projects.users["annotator"])
    second = client_for(two_projects.users["owner"])
    url = record_url(two_projects.exam_a)
    first.put(url, {"age_at_exam": 50}, format="json")
    seen = first.get(url).json()["updated_at"]
    # When the first saves, then the second saves on the version both read
    assert first.put(url, {"age_at_exam": 52, "updated_at": seen}, format="json").status_code == 200
    stale = second.put(url, {"age_at_exam": 60, "updated_at": seen}, format="json")
    # Then the second gets 409, a sentence a person reads and the stored record
    assert stale.status_code == 409
    error = stale.json()["error"]
    assert error["code"] == "conflict"
    assert "changed by someone else" in error["message"]
    assert error["detail"]["current"]["age_at_exam"] == 52
    assert ClinicalRecord.objects.get(exam=two_projects.exam_a).age_at_exam == 52


def test_creating_a_record_someone_else_created_is_409(two_projects, client_for):
    # Given a record created after the editor saw none
    url = record_url(two_projects.exam_a)
    client_for(two_projects.users["owner"]).put(url, {"age_at_exam": 45}, format="json")
    # When the annotator saves as if there were none
    response = client_for(two_projects.users["annotator"]).put(
        url, {"age_at_exam": 70, "updated_at": None}, format="json"
    )
    # Then it is a conflict and the first record stays
    assert response.status_code == 409
    assert response.json()["error"]["detail"]["current"]["age_at_exam"] == 45
    assert ClinicalRecord.objects.get(exam=two_projects.exam_a).age_at_exam == 45


def exam_with_record(project, name: str, **record):
    exam = raster_image(project, patient=f"pt-{name}", exam=f"ex-{name}").exam
    ClinicalRecord.objects.create(project=project, patient=exam.patient, exam=exam, **record)
    return exam


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("age_min=50", {"old", "middle"}),
        ("age_max=49", {"young"}),
        ("age_min=45&age_max=55", {"middle"}),
        ("biopsy_outcome=malignant", {"old"}),
        ("density=D", {"young"}),
        ("has_clinical_record=false", {"none"}),
        ("has_clinical_record=true", {"old", "middle", "young"}),
    ],
)
def test_exams_filter_on_the_clinical_record(two_projects, client_for, query, expected):
    # Given exams with records of different ages, outcomes and densities, and one without
    project = two_projects.a
    exams = {
        "old": exam_with_record(project, "old", age_at_exam=70, biopsy_outcome="malignant"),
        "middle": exam_with_record(project, "mid", age_at_exam=50, biopsy_outcome="benign"),
        "young": exam_with_record(project, "young", age_at_exam=40, breast_density="D"),
        "none": two_projects.exam_a,
    }
    names = {exam.pk: name for name, exam in exams.items()}
    # When the worklist filters on the record
    response = client_for(two_projects.users["viewer"]).get(f"/api/exams/?{query}")
    # Then exactly the matching exams come back
    assert response.status_code == 200, response.content
    assert {names[row["id"]] for row in response.json()["results"]} == expected


def test_an_inverted_age_range_is_a_400(two_projects, client_for):
    response = client_for(two_projects.users["viewer"]).get("/api/exams/?age_min=60&age_max=40")
    assert response.status_code == 400
    assert "age" in response.json()["error"]["message"].lower()


@pytest.fixture
def schema_project(two_projects):
    two_projects.a.clinical_schema = {
        "grade": {"type": "choice", "choices": ["1", "2", "3"]},
        "tumour_mm": {"type": "number", "minimum": 0},
    }
    two_projects.a.save()
    second = raster_image(two_projects.a, patient="p2", exam="e2").exam
    two_projects.extra["second"] = second
    return two_projects


def test_a_good_csv_creates_and_updates_records(schema_project, client_for):
    # Given one exam with a record and one without
    first, second = schema_project.exam_a, schema_project.extra["second"]
    ClinicalRecord.objects.create(
        project=schema_project.a,
        patient=first.patient,
        exam=first,
        age_at_exam=40,
        biopsy_outcome="benign",
    )
    text = (
        "pseudonym,age_at_exam,breast_density,risk_factors,ER,HER2,grade,tumour_mm\n"
        f"{first.patient.pseudonym},41,B,brca1;family_history,positive,,2,12.5\n"
        f"{second.patient.pseudonym},63,,,,negative,,\n"
    )
    # When an annotator imports it
    response = client_for(schema_project.users["annotator"]).post(
        import_url(schema_project.a), {"file": csv_file(text)}, format="multipart"
    )
    # Then one record is updated (cells left empty keep their value), one created
    assert response.status_code == 200, response.content
    assert response.json() == {"rows": 2, "created": 1, "updated": 1}
    updated = ClinicalRecord.objects.get(exam=first)
    assert updated.age_at_exam == 41
    assert updated.biopsy_outcome == "benign"
    assert updated.breast_density == "B"
    assert updated.risk_factors == ["brca1", "family_history"]
    assert updated.receptor_status == {"ER": "positive"}
    assert updated.fields == {"grade": "2", "tumour_mm": 12.5}
    created = ClinicalRecord.objects.get(exam=second)
    assert (created.age_at_exam, created.receptor_status) == (63, {"HER2": "negative"})
    assert created.patient_id == second.patient_id


def test_one_bad_row_stores_nothing_and_every_bad_line_is_named(schema_project, client_for):
    # Given a file whose first row is good and whose later rows are not
    first, second = schema_project.exam_a, schema_project.extra["second"]
    text = (
        "pseudonym,age_at_exam,grade\n"
        f"{first.patient.pseudonym},41,2\n"
        f"{second.patient.pseudonym},200,\n"
        f"{second.patient.pseudonym},,9\n"
        "nobody-here,50,\n"
    )
    # When it is imported
    response = client_for(schema_project.users["owner"]).post(
        import_url(schema_project.a), {"file": csv_file(text)}, format="multipart"
    )
    # Then it is a 400 naming lines 3, 4 and 5 with reasons, and no record exists
    assert response.status_code == 400
    rows = response.json()["error"]["detail"]["rows"]
    assert [row["line"] for row in rows] == [3, 4, 5]
    assert "150" in rows[0]["reason"]
    assert "same exam as line 3" in rows[1]["reason"]
    assert "no patient with pseudonym 'nobody-here'" in rows[2]["reason"]
    assert "Nothing was stored" in response.json()["error"]["message"]
    assert not ClinicalRecord.objects.exists()


def test_a_pseudonym_of_another_project_is_unknown(two_projects, client_for):
    # Given a patient of project B
    other = two_projects.exam_b.patient.pseudonym
    text = f"pseudonym,age_at_exam\n{other},50\n"
    # When project A imports a row for them
    response = client_for(two_projects.users["owner"]).post(
        import_url(two_projects.a), {"file": csv_file(text)}, format="multipart"
    )
    # Then the row is refused and B's exam gets no record
    assert response.status_code == 400
    assert response.json()["error"]["detail"]["rows"][0]["line"] == 2
    assert not ClinicalRecord.objects.exists()


def test_a_column_outside_the_schema_refuses_the_file(schema_project, client_for):
    text = f"pseudonym,colour\n{schema_project.exam_a.patient.pseudonym},red\n"
    response = client_for(schema_project.users["owner"]).post(
        import_url(schema_project.a), {"file": csv_file(text)}, format="multipart"
    )
    assert response.status_code == 400
    assert "colour" in response.json()["error"]["message"]
    assert not ClinicalRecord.objects.exists()


def test_several_exams_of_a_patient_are_told_apart_by_study_date(two_projects, client_for):
    # Given a patient with two exams
    project = two_projects.a
    early = raster_image(project, patient="p9", exam="x1", study_date=dt.date(2020, 1, 1)).exam
    late = raster_image(project, patient="p9", exam="x2", study_date=dt.date(2022, 1, 1)).exam
    pseudonym = early.patient.pseudonym
    owner = client_for(two_projects.users["owner"])
    # When a row names only the patient, it is refused; with the study date it is stored
    vague = owner.post(
        import_url(project),
        {"file": csv_file(f"pseudonym,age_at_exam\n{pseudonym},50\n")},
        format="multipart",
    )
    assert vague.status_code == 400
    assert "several exams" in vague.json()["error"]["message"]
    text = f"pseudonym,study_date,age_at_exam\n{pseudonym},{late.study_date.isoformat()},52\n"
    good = owner.post(import_url(project), {"file": csv_file(text)}, format="multipart")
    assert good.status_code == 200, good.content
    assert ClinicalRecord.objects.get(exam=late).age_at_exam == 52
    assert not ClinicalRecord.objects.filter(exam=early).exists()


@pytest.mark.parametrize(("role", "status"), [("viewer", 403), ("annotator", 200), ("owner", 200)])
def test_import_needs_the_annotator_role(two_projects, client_for, role, status):
    text = f"pseudonym,age_at_exam\n{two_projects.exam_a.patient.pseudonym},50\n"
    response = client_for(two_projects.users[role]).post(
        import_url(two_projects.a), {"file": csv_file(text)}, format="multipart"
    )
    assert response.status_code == status
    assert ClinicalRecord.objects.filter(exam=two_projects.exam_a).exists() == (status == 200)


def test_import_into_another_project_is_404(two_projects, client_for):
    text = f"pseudonym,age_at_exam\n{two_projects.exam_b.patient.pseudonym},50\n"
    response = client_for(two_projects.users["owner"]).post(
        import_url(two_projects.b), {"file": csv_file(text)}, format="multipart"
    )
    assert response.status_code == 404
    assert not ClinicalRecord.objects.exists()
