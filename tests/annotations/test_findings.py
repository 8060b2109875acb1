"""Findings with marks: every kind stored and returned, masks round-trip, bad input refused
with a clear message and nothing stored, links across views and priors, soft delete."""

from __future__ import annotations

import io

import numpy as np
import pytest
from django.core.files.storage import default_storage
from PIL import Image as PILImage

from annotations.models import Finding, FindingVersion, Mark
from tests.annotations.helpers import COLUMNS, ROWS, finding_body
from tests.factories import mask_png_base64

pytestmark = pytest.mark.django_db


def _mask_files(project_id: int) -> list[str]:
    folder = f"projects/{project_id}/masks"
    return default_storage.listdir(folder)[1] if default_storage.exists(folder) else []


def test_finding_with_marks_of_every_kind_is_stored_and_returned(room, client_for):
    # Given an annotator and a mask of 3 x 4 pixels with a hole
    client = client_for(room.annotator)
    mask = np.ones((3, 4), bool)
    mask[1, 2] = False
    marks = [
        {"image": room.cc.pk, "kind": "box", "geometry": {"x": 1, "y": 2, "width": 5, "height": 6}},
        {"image": room.cc.pk, "kind": "ellipse", "geometry": {"cx": 10, "cy": 8, "rx": 3, "ry": 2}},
        {"image": room.cc.pk, "kind": "polygon", "geometry": {"points": [[0, 0], [5, 0], [5, 5]]}},
        {
            "image": room.cc.pk,
            "kind": "freehand",
            "geometry": {"points": [[1, 1], [2, 3], [4, 4], [3, 1]]},
        },
        {"image": room.cc.pk, "kind": "point", "geometry": {"x": COLUMNS, "y": ROWS}},
        {"image": room.cc.pk, "kind": "length", "geometry": {"points": [[0, 0], [30, 19]]}},
        {
            "image": room.cc.pk,
            "kind": "mask",
            "geometry": {"x": 7, "y": 9},
            "mask_png_base64": mask_png_base64(mask),
        },
        {
            "slide": room.slide.pk,
            "kind": "polygon",
            "geometry": {"points": [[100, 100], [900, 100], [500, 790]]},
        },
    ]
    # When it saves a finding with one mark of each kind
    response = client.post("/api/findings/", finding_body(room, marks=marks), format="json")
    # Then every mark comes back with its geometry, the mask as a box of the PNG's size
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["version"] == 1 and body["source"] == "human"
    kinds = [m["kind"] for m in body["marks"]]
    assert kinds == ["box", "ellipse", "polygon", "freehand", "point", "length", "mask", "polygon"]
    stored = client.get(f"/api/findings/?exam={room.exam.pk}").json()["results"]
    assert stored[0]["marks"] == body["marks"]
    mask_mark = body["marks"][6]
    assert mask_mark["geometry"] == {"x": 7, "y": 9, "width": 4, "height": 3}
    assert body["marks"][7]["slide"] == room.slide.pk and body["marks"][7]["image"] is None
    # And the mask PNG reads back pixel for pixel
    png = client.get(mask_mark["mask_url"])
    assert png.status_code == 200 and png["Content-Type"] == "image/png"
    returned = np.asarray(PILImage.open(io.BytesIO(b"".join(png.streaming_content)))) > 127
    assert np.array_equal(returned, mask)


def test_one_finding_links_marks_on_two_views_and_a_prior(room, client_for):
    # Given the same lesion seen on CC, MLO and the prior exam's CC
    client = client_for(room.annotator)
    marks = [
        {"image": image.pk, "kind": "point", "geometry": {"x": 3, "y": 4}}
        for image in (room.cc, room.mlo, room.prior)
    ]
    # When one finding is saved with all three marks
    response = client.post("/api/findings/", finding_body(room, marks=marks), format="json")
    # Then it holds all three
    assert response.status_code == 201, response.content
    linked = [m["image"] for m in response.json()["marks"]]
    assert linked == [room.cc.pk, room.mlo.pk, room.prior.pk]


@pytest.mark.parametrize(
    ("mark", "message"),
    [
        ({"kind": "box", "geometry": {"x": 30, "y": 2, "width": 5, "height": 6}}, "outside"),
        ({"kind": "box", "geometry": {"x": 1, "y": 2, "width": 0, "height": 6}}, "positive"),
        ({"kind": "ellipse", "geometry": {"cx": 1, "cy": 2, "rx": 3}}, "'ry' must be"),
        ({"kind": "polygon", "geometry": {"points": [[0, 0], [1, 1]]}}, "at least 3"),
        ({"kind": "length", "geometry": {"points": [[0, 0], [1, 1], [2, 2]]}}, "exactly two"),
        ({"kind": "point", "geometry": {"x": "a", "y": 1}}, "finite number"),
        ({"kind": "point", "geometry": {"x": -1, "y": 1}}, "outside"),
        ({"kind": "mask", "geometry": {"x": 0, "y": 0}}, "mask_png_base64"),
        ({"kind": "mask", "geometry": {"x": 0, "y": 0}, "mask_png_base64": "!!"}, "base64"),
        ({"kind": "point", "frame": 3, "geometry": {"x": 1, "y": 1}}, "frame 3"),
    ],
)
def test_invalid_mark_is_refused_with_its_reason_and_nothing_stored(
    room, client_for, mark, message
):
    # Given a valid mark followed by an invalid one
    client = client_for(room.annotator)
    marks = [
        {"image": room.cc.pk, "kind": "point", "geometry": {"x": 1, "y": 1}},
        {"image": room.cc.pk, **mark},
    ]
    # When the finding is saved
    response = client.post("/api/findings/", finding_body(room, marks=marks), format="json")
    # Then it is a 400 naming the mark and the reason, and no row was written
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert "marks[1]" in error["message"] and message in error["message"], error["message"]
    assert not Finding.objects.exists() and not Mark.objects.exists()


def test_mask_whose_box_does_not_match_the_png_is_refused_and_no_file_is_left(room, client_for):
    # Given a mask mark whose second, valid mask comes after a mismatching one
    client = client_for(room.annotator)
    good = {
        "image": room.cc.pk,
        "kind": "mask",
        "geometry": {"x": 0, "y": 0},
        "mask_png_base64": mask_png_base64(np.ones((2, 2), bool)),
    }
    bad = {
        "image": room.cc.pk,
        "kind": "mask",
        "geometry": {"x": 0, "y": 0, "width": 5, "height": 5},
        "mask_png_base64": mask_png_base64(np.ones((2, 2), bool)),
    }
    files_before = _mask_files(room.project.pk)
    # When saved
    response = client.post("/api/findings/", finding_body(room, marks=[good, bad]), format="json")
    # Then the size mismatch is explained and neither rows nor mask files exist
    assert response.status_code == 400
    assert "2 x 2" in response.json()["error"]["message"]
    assert not Finding.objects.exists()
    assert _mask_files(room.project.pk) == files_before


def test_mark_on_another_patients_image_is_refused(room, client_for):
    client = client_for(room.annotator)
    marks = [{"image": room.other_patient.pk, "kind": "point", "geometry": {"x": 1, "y": 1}}]
    response = client.post("/api/findings/", finding_body(room, marks=marks), format="json")
    assert response.status_code == 400
    assert "not an image of this patient" in response.json()["error"]["message"]
    assert not Finding.objects.exists()


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("birads", "7", "'7' is not a BI-RADS category of this project; choose one of: 0, 1"),
        ("finding_type", "tumour", "'tumour' is not a finding type of this project"),
        ("pathology", "maybe", "'maybe' is not a pathology of this project"),
        ("attributes", {"mass_shape": "square"}, "Mass shape must be one of: oval, round"),
        ("attributes", {"colour": "red"}, "Colour is not a descriptor of this project"),
        ("attributes", {"calcification_morphology": "amorphous"}, "does not describe a mass"),
        ("laterality", "X", "Laterality"),
    ],
)
def test_labels_outside_the_project_schema_are_refused(room, client_for, field, value, message):
    client = client_for(room.annotator)
    response = client.post("/api/findings/", finding_body(room, **{field: value}), format="json")
    assert response.status_code == 400, response.content
    text = response.json()["error"]["message"]
    assert message in text
    assert not any(name in text for name in ("birads", "finding_type", "_", "labels:")), text
    assert not Finding.objects.exists()


def test_save_replaces_marks_and_keeps_a_mask_named_by_id(room, client_for):
    # Given a finding with a mask and a box
    client = client_for(room.annotator)
    marks = [
        {
            "image": room.cc.pk,
            "kind": "mask",
            "mask_png_base64": mask_png_base64(np.ones((2, 3), bool)),
        },
        {"image": room.cc.pk, "kind": "box", "geometry": {"x": 1, "y": 1, "width": 2, "height": 2}},
    ]
    created = client.post("/api/findings/", finding_body(room, marks=marks), format="json").json()
    mask_mark = created["marks"][0]
    # When the client saves the mask by id (no PNG) and a new point instead of the box
    response = client.patch(
        f"/api/findings/{created['id']}/",
        {
            "version": 1,
            "birads": "5",
            "marks": [
                {"id": mask_mark["id"], "image": room.cc.pk, "kind": "mask"},
                {"image": room.mlo.pk, "kind": "point", "geometry": {"x": 2, "y": 2}},
            ],
        },
        format="json",
    )
    # Then the finding is at version 2 with the same mask and the point, and no box
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["version"] == 2 and body["birads"] == "5"
    assert [m["kind"] for m in body["marks"]] == ["mask", "point"]
    assert body["marks"][0]["id"] == mask_mark["id"]
    assert body["marks"][0]["geometry"] == {"x": 0, "y": 0, "width": 3, "height": 2}
    assert client.get(mask_mark["mask_url"]).status_code == 200


def test_a_repainted_mask_gets_a_new_address_so_a_cached_png_is_never_the_old_mask(
    room, client_for
):
    # Given a finding with a mask whose PNG the browser may keep for an hour
    client = client_for(room.annotator)
    first = np.ones((2, 3), bool)
    marks = [{"image": room.cc.pk, "kind": "mask", "mask_png_base64": mask_png_base64(first)}]
    created = client.post("/api/findings/", finding_body(room, marks=marks), format="json").json()
    before = created["marks"][0]
    assert "max-age" in client.get(before["mask_url"])["Cache-Control"]
    # When the reader repaints the same mark (the eraser took a pixel out)
    second = first.copy()
    second[0, 1] = False
    response = client.patch(
        f"/api/findings/{created['id']}/",
        {
            "version": 1,
            "marks": [
                {
                    "id": before["id"],
                    "image": room.cc.pk,
                    "kind": "mask",
                    "mask_png_base64": mask_png_base64(second),
                }
            ],
        },
        format="json",
    )
    # Then the mark keeps its id but its PNG has another address, which reads the new mask
    assert response.status_code == 200, response.content
    after = response.json()["marks"][0]
    assert after["id"] == before["id"]
    assert after["mask_url"] != before["mask_url"]
    assert after["mask_url"].startswith(f"/api/marks/{before['id']}/mask.png?v=")
    png = client.get(after["mask_url"])
    returned = np.asarray(PILImage.open(io.BytesIO(b"".join(png.streaming_content)))) > 127
    assert np.array_equal(returned, second)
    # And the old address is not answered with the new mask (a cache would keep it as the old)
    assert client.get(before["mask_url"]).status_code == 404


def test_soft_delete_hides_the_finding_and_is_versioned(room, client_for):
    # Given a finding
    client = client_for(room.annotator)
    created = client.post("/api/findings/", finding_body(room), format="json").json()
    # When it is deleted without and then with the version seen
    missing = client.delete(f"/api/findings/{created['id']}/")
    response = client.delete(f"/api/findings/{created['id']}/?version=1")
    # Then the first is refused, the second hides it but the row and its history stay
    assert missing.status_code == 400
    assert response.status_code == 204
    assert client.get(f"/api/findings/?exam={room.exam.pk}").json()["results"] == []
    shown = client.get(f"/api/findings/?exam={room.exam.pk}&include_deleted=1").json()["results"]
    assert shown[0]["deleted"] is True and shown[0]["version"] == 2
    snapshots = FindingVersion.objects.filter(finding_id=created["id"]).order_by("version")
    assert [v.snapshot["deleted"] for v in snapshots] == [False, True]
    assert all(v.author_id == room.annotator.pk for v in snapshots)
