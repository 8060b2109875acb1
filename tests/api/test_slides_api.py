"""Slide metadata, Deep Zoom descriptor and tiles through the REST API."""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET

import numpy as np
import pytest
import tifffile
from PIL import Image as PILImage

from senolab.imaging.api import render
from senolab.imaging.slides import ingest_slide

pytestmark = pytest.mark.django_db


def _pyramid(path, width: int = 600, height: int = 400) -> None:
    """A tiny tiled pyramidal TIFF: red left half, blue right half, one half-size level."""
    rgb = np.zeros((height, width, 3), np.uint8)
    rgb[:, : width // 2, 0] = 255
    rgb[:, width // 2 :, 2] = 255
    with tifffile.TiffWriter(path) as tw:
        tw.write(rgb, tile=(256, 256), photometric="rgb", subifds=1)
        tw.write(rgb[::2, ::2], tile=(256, 256), photometric="rgb", subfiletype=1)


@pytest.fixture
def slides(two_projects, tmp_path):
    _pyramid(tmp_path / "a.tif")
    _pyramid(tmp_path / "b.tif", 300, 200)
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


def test_tiles_are_kept_in_an_lru_cache(two_projects, slides, client_for):
    a, _ = slides
    client = client_for(two_projects.users["viewer"])
    render.tile_cache._data.clear()
    first = client.get(f"/api/slides/{a.pk}/tiles/5/0_0.jpeg").content
    assert len(render.tile_cache) == 1
    assert client.get(f"/api/slides/{a.pk}/tiles/5/0_0.jpeg").content == first
    assert len(render.tile_cache) == 1


def test_tile_cache_evicts_the_least_recently_used():
    cache = render.TileCache(2)
    cache.put(("a",), b"1")
    cache.put(("b",), b"2")
    cache.get(("a",))
    cache.put(("c",), b"3")
    assert cache.get(("b",)) is None and cache.get(("a",)) == b"1"
