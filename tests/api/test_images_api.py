"""Image metadata, rendered PNGs, raw pixels and DICOM through the REST API."""

from __future__ import annotations

import io

import numpy as np
import pydicom
import pytest
from PIL import Image as PILImage

from senolab.imaging import pixelcache, storage
from senolab.imaging.models import Image
from tests.factories import dicom_bytes, raster_image

pytestmark = pytest.mark.django_db

BINARY_PATHS = ["", "render.png", "pixels", "dicom"]


@pytest.mark.parametrize("suffix", BINARY_PATHS)
def test_image_endpoints_are_404_for_another_project(two_projects, client_for, suffix):
    url = f"/api/images/{two_projects.image_b.pk}/{suffix}"
    assert client_for(two_projects.users["owner"]).get(url).status_code == 404
    assert client_for(two_projects.users["b_owner"]).get(url).status_code == 200


def test_image_list_is_filtered_to_the_callers_projects(two_projects, client_for):
    body = client_for(two_projects.users["viewer"]).get("/api/images/").json()
    assert [row["id"] for row in body["results"]] == [two_projects.image_a.pk]
    assert body["results"][0]["levels"] == [[40, 30]]


def test_render_png_applies_window_size_and_invert(two_projects, client_for):
    image = raster_image(two_projects.a, shape=(1200, 600))
    client = client_for(two_projects.users["viewer"])
    url = f"/api/images/{image.pk}/render.png"
    # Size picks a cached level and resizes it: the longer side is the size asked for
    small = client.get(url, {"size": 300})
    assert small["Content-Type"] == "image/png"
    picture = PILImage.open(io.BytesIO(small.content))
    assert max(picture.size) == 300 and picture.size[1] == 300
    # A window maps values: everything above it is white, inverted black
    full = pixelcache.read_pixels(image)
    white = np.asarray(PILImage.open(io.BytesIO(client.get(url, {"ww": 1, "wc": -10}).content)))
    assert white.min() == 255 and white.shape == full.shape
    black = client.get(url, {"ww": 1, "wc": -10, "invert": "true"}).content
    assert np.asarray(PILImage.open(io.BytesIO(black))).max() == 0
    # Without a window the full range is used
    default = np.asarray(PILImage.open(io.BytesIO(client.get(url).content)))
    assert default.min() == 0 and default.max() == 255


@pytest.mark.parametrize("query", ["size=0", "size=abc", "ww=-1", "frame=3", "size=99999"])
def test_render_png_refuses_bad_parameters_with_400(two_projects, client_for, query):
    response = client_for(two_projects.users["viewer"]).get(
        f"/api/images/{two_projects.image_a.pk}/render.png?{query}"
    )
    assert response.status_code == 400
    assert response.json()["error"]["message"]


def test_pixels_returns_raw_little_endian_cache_with_shape_headers(two_projects, client_for):
    response = client_for(two_projects.users["viewer"]).get(
        f"/api/images/{two_projects.image_a.pk}/pixels"
    )
    assert response.status_code == 200
    rows, cols = int(response["X-Rows"]), int(response["X-Columns"])
    assert (rows, cols, response["X-Bits"]) == (40, 30, "16")
    pixels = np.frombuffer(response.content, dtype="<u2").reshape(rows, cols)
    assert np.array_equal(pixels, pixelcache.read_pixels(two_projects.image_a))


def test_render_never_decodes_the_original(two_projects, client_for):
    # Given an image whose original file is gone: only the pixel cache remains
    storage.delete_quietly(two_projects.image_a.storage_key)
    response = client_for(two_projects.users["viewer"]).get(
        f"/api/images/{two_projects.image_a.pk}/render.png"
    )
    assert response.status_code == 200


def test_stored_dicom_is_streamed_as_application_dicom(two_projects, client_for):
    # Given an image whose stored original is a (de-identified) DICOM file
    original = dicom_bytes(PatientID="PSEUDO-1")
    key = storage.save(storage.new_key(two_projects.a.pk, "originals", "dcm"), original)
    Image.objects.filter(pk=two_projects.image_a.pk).update(storage_key=key, source_format="dicom")
    response = client_for(two_projects.users["viewer"]).get(
        f"/api/images/{two_projects.image_a.pk}/dicom"
    )
    assert response["Content-Type"] == "application/dicom"
    body = b"".join(response.streaming_content)
    assert body == original


def test_raster_image_is_served_as_a_secondary_capture_dicom(two_projects, client_for):
    response = client_for(two_projects.users["viewer"]).get(
        f"/api/images/{two_projects.image_a.pk}/dicom"
    )
    assert response.status_code == 200
    ds = pydicom.dcmread(io.BytesIO(response.content))
    assert ds.PatientID == two_projects.exam_a.patient.pseudonym
    assert np.array_equal(ds.pixel_array, pixelcache.read_pixels(two_projects.image_a))
