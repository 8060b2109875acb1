"""Slide metadata, Deep Zoom descriptor and tiles through the REST API."""

from __future__ import annotations

import io
import time
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from django.core.cache import caches
from PIL import Image as PILImage

from senolab.imaging import tiles
from senolab.imaging.api import render
from senolab.imaging.ingest.slides import ingest_slide
from senolab.projects.models import Membership
from tests.factories import pyramid_tiff

pytestmark = pytest.mark.django_db


@pytest.fixture
def slides(two_projects, tmp_path):
    pyramid_tiff(tmp_path / "a.tif")
    pyramid_tiff(tmp_path / "b.tif", 300, 200)
    a = ingest_slide(two_projects.a, tmp_path / "a.tif", patient_key="p1", exam_key="e1")
    b = ingest_slide(two_projects.b, tmp_path / "b.tif", patient_key="q1", exam_key="f1")
    return a, b


@pytest.mark.parametrize("suffix", ["", "dzi.xml", "tiles/0/0_0.jpeg"])
def test_slide_endpoints_are_404_for_another_project(two_projects, slides, client_for, suffix):
    _, b = slides
    assert (
        client_for(two_projects.users["owner"]).get(f"/api/slides/{b.pk}/{suffix}").status_code
        == 404
    )
    assert (
        client_for(two_projects.users["b_owner"]).get(f"/api/slides/{b.pk}/{suffix}").status_code
        == 200
    )


def test_slide_list_and_dzi_describe_the_slide(two_projects, slides, client_for):
    a, _ = slides
    client = client_for(two_projects.users["viewer"])
    body = client.get("/api/slides/").json()
    assert [s["id"] for s in body["results"]] == [a.pk]
    xml = ET.fromstring(client.get(f"/api/slides/{a.pk}/dzi.xml").content)
    size = xml.find("{http://schemas.microsoft.com/deepzoom/2008}Size")
    assert (size.get("Width"), size.get("Height")) == ("600", "400")


def test_tiles_show_the_right_region_at_each_level(two_projects, slides, client_for):
    a, _ = slides
    client = client_for(two_projects.users["viewer"])
    top = render.dzi_max_level(a)  # 600 px wide -> level 10 is full size
    # The last full-size tile of the first row lies in the blue half
    tile = client.get(f"/api/slides/{a.pk}/tiles/{top}/2_0.jpeg")
    assert tile["Content-Type"] == "image/jpeg"
    picture = np.asarray(PILImage.open(io.BytesIO(tile.content)))
    assert picture.shape == (256, 600 - 512, 3)
    assert picture[..., 2].mean() > 200 and picture[..., 0].mean() < 50
    # A coarse level fits the slide in one tile, red on the left and blue on the right
    whole = np.asarray(
        PILImage.open(
            io.BytesIO(client.get(f"/api/slides/{a.pk}/tiles/{top - 2}/0_0.jpeg").content)
        )
    )
    assert whole.shape == (100, 150, 3)
    assert whole[:, :70, 0].mean() > 200 and whole[:, 80:, 2].mean() > 200
    # Past the edge there is no tile
    assert client.get(f"/api/slides/{a.pk}/tiles/{top}/9_0.jpeg").status_code == 404


def test_tiles_are_decoded_once_and_then_served_from_the_caches(
    two_projects, slides, client_for, monkeypatch
):
    # Given a viewer and a counter on the slide decoder
    a, _ = slides
    client = client_for(two_projects.users["viewer"])
    decoded = []
    decode = render.decode_tiles
    monkeypatch.setattr(render, "decode_tiles", lambda *a: decoded.append(a) or decode(*a))
    # When the same tile is asked for twice, then again by a process with an empty local map
    first = client.get(f"/api/slides/{a.pk}/tiles/5/0_0.jpeg").content
    assert client.get(f"/api/slides/{a.pk}/tiles/5/0_0.jpeg").content == first
    tiles.local_tiles.clear()
    assert client.get(f"/api/slides/{a.pk}/tiles/5/0_0.jpeg").content == first
    # Then it was decoded once: the second read came from the process, the third from the
    # cache shared by all processes
    assert len(decoded) == 1
    assert len(tiles.local_tiles) == 1


def test_a_block_of_neighbours_is_decoded_once_even_when_asked_for_at_the_same_time(
    two_projects, slides, client_for, monkeypatch
):
    # Given the full-resolution level of a 600 x 400 slide (3 x 2 tiles, one decode block)
    a, _ = slides
    top = render.dzi_max_level(a)
    decoded = []
    decode = render.decode_tiles
    monkeypatch.setattr(render, "decode_tiles", lambda *a: decoded.append(a) or decode(*a))
    grant = tiles.SlideGrant(a.storage_key, a.width, a.height)
    # When six threads ask for the six tiles at once
    with ThreadPoolExecutor(6) as pool:
        got = list(pool.map(lambda cr: tiles.tile_bytes(grant, top, *cr), TILES_3x2))
    # Then one decode made them all, each the tile a request alone gets
    assert len(decoded) == 1
    tiles.forget()
    caches["tiles"].clear()
    alone = [
        render.decode_tiles(a.storage_key, a.width, a.height, top, c, r, 1) for c, r in TILES_3x2
    ]
    assert got == [one[cr] for one, cr in zip(alone, TILES_3x2, strict=True)]


TILES_3x2 = [(c, r) for r in range(2) for c in range(3)]


def test_local_tile_map_evicts_the_least_recently_used():
    cache = tiles.LocalTiles(2)
    cache.put("a", b"1")
    cache.put("b", b"2")
    cache.get("a")
    cache.put("c", b"3")
    assert cache.get("b") is None and cache.get("a") == b"1"


def _tiles_url(client, slide) -> str:
    return client.get(f"/api/slides/{slide.pk}/").json()["tiles_url"]


def test_signed_tiles_url_serves_the_same_tiles_without_a_session_or_a_query(
    two_projects, slides, client_for, django_assert_num_queries
):
    # Given a viewer's signed tiles URL, from the slide's metadata
    a, _ = slides
    viewer = client_for(two_projects.users["viewer"])
    url = _tiles_url(viewer, a)
    top = render.dzi_max_level(a)
    assert url.startswith(f"/api/slides/{a.pk}/t/")
    # When a client with no session asks for tiles under it
    anonymous = client_for(None)
    first = anonymous.get(f"{url}{top}/2_0.jpeg")
    # Then it gets the tile the session path serves, and later tiles cost no query at all
    assert first.status_code == 200 and first["Content-Type"] == "image/jpeg"
    assert first.content == viewer.get(f"/api/slides/{a.pk}/tiles/{top}/2_0.jpeg").content
    with django_assert_num_queries(0):
        again = anonymous.get(f"{url}{top}/1_0.jpeg")
    assert again.status_code == 200
    assert "private" in again["Cache-Control"]
    # And the tile carries the API's security headers, and no session cookie
    assert again["X-Content-Type-Options"] == "nosniff"
    assert "Content-Security-Policy" in again
    assert "sessionid" not in again.cookies
    # And a tile past the edge is a 404 with a sentence
    outside = anonymous.get(f"{url}{top}/9_0.jpeg")
    assert outside.status_code == 404
    assert "outside the slide" in outside.json()["error"]["message"]


def test_signed_tile_token_is_bound_to_its_slide_and_refused_when_forged(
    two_projects, slides, client_for
):
    # Given the viewer of project A, with a signed URL for slide a
    a, b = slides
    viewer = client_for(two_projects.users["viewer"])
    token = _tiles_url(viewer, a).split("/")[5]
    anonymous = client_for(None)
    # When the token is used for another slide, or changed by one character
    other = anonymous.get(f"/api/slides/{b.pk}/t/{token}/0/0_0.jpeg")
    forged = token[:-1] + ("A" if token[-1] != "A" else "B")
    tampered = anonymous.get(f"/api/slides/{a.pk}/t/{forged}/0/0_0.jpeg")
    # Then both are refused with a sentence that says what to do
    assert other.status_code == 403
    assert "another slide" in other.json()["error"]["message"]
    assert tampered.status_code == 403
    assert "reload the slide" in tampered.json()["error"]["message"]


def test_signed_tile_token_expires(two_projects, slides, client_for, settings):
    # Given a token made two hours ago with a one-hour life
    a, _ = slides
    settings.SENOLAB_TILE_URL_MAX_AGE = 3600
    user = two_projects.users["viewer"]
    old = tiles.make_token(user.pk, a.pk, now=time.time() - 3 * 3600)
    fresh = tiles.make_token(user.pk, a.pk)
    # When it is used now
    response = client_for(None).get(f"/api/slides/{a.pk}/t/{old}/0/0_0.jpeg")
    # Then it is refused as expired, while a new one works and stays the same within the hour
    assert response.status_code == 403
    assert "expired" in response.json()["error"]["message"]
    assert client_for(None).get(f"/api/slides/{a.pk}/t/{fresh}/0/0_0.jpeg").status_code == 200
    assert tiles.expiry_for(time.time()) - time.time() >= 3600
    assert tiles.expiry_for(time.time()) % 3600 == 0


def test_signed_tiles_stop_for_a_removed_member_once_the_grant_expires(
    two_projects, slides, client_for, monkeypatch
):
    # Given a viewer who read a tile under a signed URL
    a, _ = slides
    user = two_projects.users["viewer"]
    url = _tiles_url(client_for(user), a)
    anonymous = client_for(None)
    assert anonymous.get(f"{url}0/0_0.jpeg").status_code == 200
    # When the viewer leaves the project and the cached grant expires (GRANT_TTL, a minute)
    Membership.objects.filter(user=user, project=two_projects.a).delete()
    monkeypatch.setattr(tiles, "GRANT_TTL", 0.0)
    tiles.grants.clear()
    # Then the same URL finds nothing: the slide is not in that user's projects any more
    gone = anonymous.get(f"{url}0/0_0.jpeg")
    assert gone.status_code == 404
    assert "No such slide" in gone.json()["error"]["message"]


def test_an_outsiders_own_token_for_a_slide_of_another_project_finds_nothing(
    two_projects, slides, client_for
):
    # Given a member of project B only, signing a token for slide a of project A
    a, _ = slides
    outsider = two_projects.users["b_owner"]
    token = tiles.make_token(outsider.pk, a.pk)
    # Then the server's own signature does not make it readable: 404
    assert client_for(None).get(f"/api/slides/{a.pk}/t/{token}/0/0_0.jpeg").status_code == 404
