"""Per-project access on every annotations endpoint: viewers read, annotators write, another
project's rows are 404; imported ground truth is read-only to annotators and can be hidden;
machine proposals are a separate layer."""

from __future__ import annotations

import numpy as np
import pytest

from annotations.models import Finding, Mark, Source
from tests.annotations.helpers import finding_body
from tests.factories import mask_png_base64

pytestmark = pytest.mark.django_db


def test_viewer_reads_findings_but_cannot_write(room, client_for):
    # Given a finding made by the annotator
    created = client_for(room.annotator).post("/api/findings/", finding_body(room), format="json")
    viewer = client_for(room.viewer)
    url = f"/api/findings/{created.json()['id']}/"
    # When the viewer reads, creates, saves and deletes
    listed = viewer.get(f"/api/findings/?exam={room.exam.pk}")
    made = viewer.post("/api/findings/", finding_body(room), format="json")
    saved = viewer.patch(url, {"version": 1, "note": "v"}, format="json")
    deleted = viewer.delete(f"{url}?version=1")
    # Then reading works and every write is 403 with the role named
    assert listed.status_code == 200 and len(listed.json()["results"]) == 1
    assert [made.status_code, saved.status_code, deleted.status_code] == [403, 403, 403]
    assert "annotator" in saved.json()["error"]["message"]
    assert Finding.objects.count() == 1 and Finding.objects.get().version == 1


def test_another_projects_findings_masks_and_exams_are_404(room, client_for):
    # Given a finding with a mask in the room's project
    marks = [
        {"image": room.cc.pk, "kind": "mask", "mask_png_base64": mask_png_base64(np.ones((2, 2)))}
    ]
    created = (
        client_for(room.annotator)
        .post("/api/findings/", finding_body(room, marks=marks), format="json")
        .json()
    )
    outsider = client_for(room.outsider)
    # When a member of another project asks for any of it
    responses = [
        outsider.get(f"/api/findings/{created['id']}/"),
        outsider.get(f"/api/findings/{created['id']}/versions/"),
        outsider.patch(f"/api/findings/{created['id']}/", {"version": 1}, format="json"),
        outsider.get(created["marks"][0]["mask_url"]),
        outsider.post("/api/findings/", finding_body(room), format="json"),
        outsider.get(f"/api/exam-labels/?exam={room.exam.pk}"),
        outsider.get(f"/api/exams/{room.exam.pk}/proposals/"),
    ]
    listed = outsider.get(f"/api/findings/?exam={room.exam.pk}")
    # Then everything is 404 and the list is empty: no ids, no counts
    assert [r.status_code for r in responses] == [404] * len(responses)
    assert listed.status_code == 200 and listed.json()["count"] == 0


def test_mark_on_another_projects_image_is_refused(room, client_for):
    marks = [{"image": room.outsider_image.pk, "kind": "point", "geometry": {"x": 1, "y": 1}}]
    response = client_for(room.annotator).post(
        "/api/findings/", finding_body(room, marks=marks), format="json"
    )
    assert response.status_code == 400
    assert not Finding.objects.exists()


def test_unauthenticated_requests_are_refused(room, client_for):
    response = client_for(None).get(f"/api/findings/?exam={room.exam.pk}")
    assert response.status_code in (401, 403)


@pytest.fixture
def reference(room) -> Finding:
    finding = Finding.objects.create(
        project=room.project,
        exam=room.exam,
        source=Source.REFERENCE,
        finding_type="mass",
        birads="5",
    )
    Mark.objects.create(finding=finding, image=room.cc, kind="point", geometry={"x": 1, "y": 1})
    return finding


def test_reference_findings_are_read_only_to_annotators(room, client_for, reference):
    url = f"/api/findings/{reference.pk}/"
    saved = client_for(room.annotator).patch(url, {"version": 1, "birads": "2"}, format="json")
    deleted = client_for(room.annotator).delete(f"{url}?version=1")
    corrected = client_for(room.reviewer).patch(url, {"version": 1, "birads": "4"}, format="json")
    assert saved.status_code == 403 and "read-only" in saved.json()["error"]["message"]
    assert deleted.status_code == 403
    assert corrected.status_code == 200 and corrected.json()["birads"] == "4"


def test_reference_findings_can_be_hidden_and_shown(room, client_for, reference):
    client = client_for(room.annotator)
    client.post("/api/findings/", finding_body(room), format="json")
    every = client.get(f"/api/findings/?exam={room.exam.pk}").json()["results"]
    human = client.get(f"/api/findings/?exam={room.exam.pk}&source=human").json()["results"]
    ground = client.get(f"/api/findings/?exam={room.exam.pk}&source=reference").json()["results"]
    assert sorted(f["source"] for f in every) == ["human", "reference"]
    assert [f["source"] for f in human] == ["human"]
    assert [f["id"] for f in ground] == [reference.pk]


def test_proposals_are_a_separate_layer_not_mixed_into_findings(room, client_for):
    # Given a human finding on the exam
    client = client_for(room.viewer)
    client_for(room.annotator).post("/api/findings/", finding_body(room), format="json")
    # When the proposals of the exam are read
    proposals = client.get(f"/api/exams/{room.exam.pk}/proposals/")
    # Then it is a list of machine outputs only (none yet), and findings stay human
    assert proposals.status_code == 200
    assert isinstance(proposals.json(), list)
    assert all("outputs" in p and "model_version" in p for p in proposals.json())
    findings = client.get(f"/api/findings/?exam={room.exam.pk}").json()["results"]
    assert {f["source"] for f in findings} == {"human"}


def test_bad_query_parameters_are_400_with_a_message(room, client_for):
    client = client_for(room.annotator)
    assert client.get("/api/findings/?exam=abc").status_code == 400
    response = client.get("/api/findings/?source=robot")
    assert response.status_code == 400 and "human" in response.json()["error"]["message"]


def test_findings_can_be_listed_per_image(room, client_for):
    client = client_for(room.annotator)
    on_cc = client.post("/api/findings/", finding_body(room), format="json").json()
    marks = [{"image": room.mlo.pk, "kind": "point", "geometry": {"x": 1, "y": 1}}]
    client.post("/api/findings/", finding_body(room, marks=marks), format="json")
    listed = client.get(f"/api/findings/?image={room.cc.pk}").json()["results"]
    assert [f["id"] for f in listed] == [on_cc["id"]]
