"""Agreement over a project's finished reads (API and CSV), the adjudication queue by the
project's rules, and the consensus a reviewer records (which closes the exam)."""

from __future__ import annotations

import csv
import io

import pytest
from sklearn.metrics import cohen_kappa_score

from annotations.models import ExamLabel, Finding, Mark, ReadingAssignment, ReadingStatus, Source
from senolab.imaging.models import Exam, ExamStatus
from tests.factories import create_user, raster_image

pytestmark = pytest.mark.django_db


def read(project, image, reader, *, birads="", density="", boxes=(), pathology=""):
    """A finished reading: an exam label and one box finding per (x, y, w, h)."""
    ReadingAssignment.objects.update_or_create(
        exam=image.exam,
        reader=reader,
        defaults={"project": project, "status": ReadingStatus.DONE},
    )
    if birads or density or pathology:
        ExamLabel.objects.create(
            project=project,
            exam=image.exam,
            author=reader,
            birads=birads,
            density=density,
            pathology=pathology,
        )
    for x, y, w, h in boxes:
        finding = Finding.objects.create(
            project=project, exam=image.exam, created_by=reader, finding_type="mass"
        )
        Mark.objects.create(
            finding=finding,
            image=image,
            kind="box",
            geometry={"x": x, "y": y, "width": w, "height": h},
        )


@pytest.fixture
def study(make_user, make_project):
    owner, reviewer, ann, bob = (create_user(n) for n in ("own", "rev", "ann", "bob"))
    project = make_project(owner=owner, reviewer=reviewer, annotator=ann)
    project.memberships.create(user=bob, role="annotator")
    images = [
        raster_image(project, patient=f"p{i}", exam=f"e{i}", shape=(40, 40)) for i in range(4)
    ]
    return project, images, {"owner": owner, "reviewer": reviewer, "ann": ann, "bob": bob}


def test_agreement_figures_on_a_worked_example(study, client_for):
    project, images, users = study
    ann, bob = users["ann"], users["bob"]
    ann_birads, bob_birads = ["1", "2", "4", "5"], ["1", "3", "4", "5"]
    for image, a, b in zip(images, ann_birads, bob_birads, strict=True):
        read(project, image, ann, birads=a, density="B")
        read(project, image, bob, birads=b, density="C" if a == "2" else "B")
    # exam 0: ann marks two boxes, bob one of them exactly (one pair of three lesions: F1 2/3);
    # the union of ann's covers 200 px, bob's 100 px, all inside ann's: Dice 2*100/300
    Finding.objects.filter(exam=images[0].exam).delete()
    read(project, images[0], ann, boxes=[(0, 0, 10, 10), (20, 20, 10, 10)])
    read(project, images[0], bob, boxes=[(0, 0, 10, 10)])

    response = client_for(users["reviewer"]).get("/api/agreement/", {"project": project.pk})
    assert response.status_code == 200, response.content
    report = response.json()
    assert report["readers"] == ["ann", "bob"] and report["exams"] == 4
    kappa = report["birads"]["pairs"][0]
    scale = ["0", "1", "2", "3", "4", "4A", "4B", "4C", "5", "6"]
    expected = cohen_kappa_score(ann_birads, bob_birads, labels=scale, weights="quadratic")
    assert kappa["exams"] == 4 and kappa["kappa"] == pytest.approx(expected)
    assert 0.9 < kappa["kappa"] < 1.0  # one category apart out of four exams
    assert report["birads"]["alpha"] is None  # two readers: the pair's kappa says it
    lesions = report["lesions"][0]
    assert lesions["lesion_f1"] == pytest.approx(2 / 3)
    assert lesions["dice"] == pytest.approx(2 * 100 / 300)

    download = client_for(users["owner"]).get(
        "/api/agreement/", {"project": project.pk, "download": "csv"}
    )
    assert download["Content-Type"] == "text/csv"
    rows = list(csv.DictReader(io.StringIO(download.content.decode())))
    f1 = next(r for r in rows if r["measure"].startswith("lesion_f1"))
    assert float(f1["value"]) == pytest.approx(2 / 3, abs=1e-4)
    assert {r["measure"] for r in rows} >= {
        "birads_kappa_quadratic",
        "density_kappa_quadratic",
        "dice_mean",
    }


def test_alpha_over_three_readers_and_readers_against_the_reference(study, client_for):
    project, images, users = study
    carl = create_user("carl")
    project.memberships.create(user=carl, role="annotator")
    truth = ["malignant", "benign", "malignant", "benign"]
    for image, pathology in zip(images, truth, strict=True):
        ExamLabel.objects.create(
            project=project, exam=image.exam, source=Source.REFERENCE, pathology=pathology
        )
    # ann calls both malignant exams (BI-RADS 5) and one benign (4): sensitivity 1, specificity 1/2
    for image, birads in zip(images, ["5", "4", "5", "2"], strict=True):
        read(project, image, users["ann"], birads=birads)
        read(project, image, users["bob"], birads=birads)
        read(project, image, carl, birads=birads)
    report = client_for(users["reviewer"]).get("/api/agreement/", {"project": project.pk}).json()
    assert report["birads"]["alpha"] == pytest.approx(1.0)
    ann = next(r for r in report["readers_vs_reference"] if r["reader"] == "ann")
    assert (ann["sensitivity"], ann["specificity"], ann["exams"]) == (1.0, 0.5, 4)


@pytest.mark.parametrize("role", ["annotator", "viewer"])
def test_agreement_and_adjudication_are_for_owners_and_reviewers(
    study, client_for, make_user, role
):
    project, images, _ = study
    user = make_user()
    project.memberships.create(user=user, role=role)
    client = client_for(user)
    assert client.get("/api/agreement/", {"project": project.pk}).status_code == 403
    assert client.get("/api/adjudication/", {"project": project.pk}).status_code == 403
    assert client.get(f"/api/adjudication/{images[0].exam_id}/").status_code == 403
    assert (
        client.post(
            f"/api/adjudication/{images[0].exam_id}/consensus/", {}, format="json"
        ).status_code
        == 403
    )


def test_the_queue_holds_exams_whose_readers_disagree_beyond_the_rules(study, client_for):
    project, images, users = study
    ann, bob = users["ann"], users["bob"]
    read(project, images[0], ann, birads="2")
    read(project, images[0], bob, birads="5")  # 3 categories apart
    read(project, images[1], ann, birads="4A", density="B")
    read(project, images[1], bob, birads="4C", density="B")  # the same category 4
    read(project, images[2], ann, density="A")
    read(project, images[2], bob, density="C")
    read(project, images[3], ann, boxes=[(0, 0, 10, 10)])
    read(project, images[3], bob, boxes=[(25, 25, 10, 10)])  # no lesion in common: F1 0
    reviewer = client_for(users["reviewer"])

    queue = reviewer.get("/api/adjudication/", {"project": project.pk}).json()
    assert [row["exam"] for row in queue] == [images[i].exam_id for i in (0, 2, 3)]
    assert "BI-RADS 2 (ann) vs 5 (bob)" in queue[0]["reasons"]

    # a project that tolerates more leaves the BI-RADS and density disagreements out
    project.adjudication_rules = {"birads_difference": 4, "density_difference": 3}
    project.save()
    queue = reviewer.get("/api/adjudication/", {"project": project.pk}).json()
    assert [row["exam"] for row in queue] == [images[3].exam_id]


def test_a_recorded_consensus_closes_the_exam_and_leaves_the_queue(study, client_for):
    project, images, users = study
    project.private_reads = True
    project.save()
    read(project, images[0], users["ann"], birads="2", boxes=[(0, 0, 10, 10)])
    read(project, images[0], users["bob"], birads="5", boxes=[(20, 20, 8, 8)])
    reviewer = client_for(users["reviewer"])
    exam_id = images[0].exam_id

    side_by_side = reviewer.get(f"/api/adjudication/{exam_id}/").json()
    assert [r["reader"] for r in side_by_side["reads"]] == ["ann", "bob"]
    assert [len(r["findings"]) for r in side_by_side["reads"]] == [1, 1]
    bob_finding = side_by_side["reads"][1]["findings"][0]

    response = reviewer.post(
        f"/api/adjudication/{exam_id}/consensus/",
        {"birads": "4", "density": "B", "findings": [bob_finding["id"]]},
        format="json",
    )
    assert response.status_code == 201, response.content
    consensus = response.json()["consensus"]
    assert [x["birads"] for x in consensus["labels"]] == ["4"]
    [kept] = consensus["findings"]
    assert (
        kept["source"] == "consensus"
        and kept["marks"][0]["geometry"] == bob_finding["marks"][0]["geometry"]
    )
    assert Finding.objects.get(pk=kept["id"]).origin == {
        "kind": "consensus",
        "finding": bob_finding["id"],
        "reader": users["bob"].pk,
    }
    assert Exam.objects.get(pk=exam_id).status == ExamStatus.DONE
    assert reviewer.get("/api/adjudication/", {"project": project.pk}).json() == []
    # the exam closed, each reader now sees the other's read
    ann_sees = client_for(users["ann"]).get("/api/findings/", {"exam": exam_id}).json()["results"]
    assert {f["source"] for f in ann_sees} == {"human", "consensus"} and len(ann_sees) == 3

    # recording it again replaces the consensus
    again = reviewer.post(
        f"/api/adjudication/{exam_id}/consensus/", {"birads": "5"}, format="json"
    ).json()
    assert [x["birads"] for x in again["consensus"]["labels"]] == ["5"] and again["consensus"][
        "findings"
    ] == []


def test_a_consensus_refuses_findings_that_are_not_a_readers_of_the_exam(study, client_for):
    project, images, users = study
    read(project, images[1], users["ann"], boxes=[(0, 0, 5, 5)])
    elsewhere = Finding.objects.get(exam=images[1].exam)
    response = client_for(users["reviewer"]).post(
        f"/api/adjudication/{images[0].exam_id}/consensus/",
        {"findings": [elsewhere.pk]},
        format="json",
    )
    assert response.status_code == 400
    assert Exam.objects.get(pk=images[0].exam_id).status != ExamStatus.DONE


def test_the_adjudication_and_agreement_pages_are_shells_of_the_project(study, make_user):
    from django.test import Client

    project, _, users = study
    client = Client()
    client.force_login(users["reviewer"])
    for path, page in (
        (f"/projects/{project.pk}/adjudication/", "adjudication"),
        (f"/projects/{project.pk}/agreement/", "agreement"),
    ):
        response = client.get(path)
        assert response.status_code == 200
        assert response.context["config"]["page"] == page
        assert response.context["config"]["projectId"] == project.pk
    client.force_login(make_user())
    assert client.get(f"/projects/{project.pk}/agreement/").status_code == 404


def test_blind_reads_report_changes_after_the_reveal_and_first_and_final_accuracy(
    study, client_for
):
    import datetime as dt

    from django.utils import timezone

    project, images, users = study
    truth = ["malignant", "benign"]
    for image, pathology in zip(images[:2], truth, strict=True):
        ExamLabel.objects.create(
            project=project, exam=image.exam, source=Source.REFERENCE, pathology=pathology
        )
    start = timezone.now()

    def blind(image, first, final, minutes):
        ReadingAssignment.objects.create(
            project=project,
            exam=image.exam,
            reader=users["ann"],
            status=ReadingStatus.DONE,
            started_at=start,
            first_read={"findings": [{"birads": first}], "labels": []},
            first_read_submitted_at=start,
            final_read={"findings": [{"birads": final}], "labels": []},
            final_read_submitted_at=start + dt.timedelta(minutes=minutes),
        )

    # the malignant exam: 3 first (a miss), 5 after the reveal (a hit);
    # the benign one: 4 first (a false positive), 2 after (a true negative)
    blind(images[0], "3", "5", 2)
    blind(images[1], "4", "2", 4)
    report = client_for(users["reviewer"]).get("/api/agreement/", {"project": project.pk}).json()
    [row] = report["blind_reads"]
    assert (row["reader"], row["reads"], row["birads_changed_up"], row["birads_changed_down"]) == (
        "ann",
        2,
        1,
        1,
    )
    assert (row["first_sensitivity"], row["first_specificity"]) == (0.0, 0.0)
    assert (row["final_sensitivity"], row["final_specificity"]) == (1.0, 1.0)
    assert row["median_seconds"] == 180.0
