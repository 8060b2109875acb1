"""Slide tiles without a query per tile: signed tile URLs, cached grants, shared encoded tiles.

A slide viewer asks for hundreds of tiles a minute. The session-authenticated tile action
(`/api/slides/{id}/tiles/...`) pays for a session read, a user read and a project-scoped slide
query on each one. The slide's metadata answer instead carries `tiles_url`, a path with a token
signed by the server (`SECRET_KEY`, HMAC-SHA256) that names the user and the slide and expires
(`SENOLAB_TILE_URL_MAX_AGE`, rounded up to the hour so the URL, and the browser's cache of its
tiles, stay the same within the hour). A tile request under it is served before the session and
DRF layers (senolab.imaging.tiles_middleware) after three checks:

- the token's signature, slide and expiry (a forged, foreign or stale link: 403);
- the user's right to read the slide *now*: the same project-scoped query as the API, cached per
  process for GRANT_TTL seconds, so a removed member loses tiles within a minute (404, as for
  anything of a project one is not in);
- the tile's position (past the slide's edge: 404).

Encoded tiles are kept at two levels: a small least-recently-used map per process, then the
`tiles` cache shared by every web process (Redis, `SENOLAB_SHARED_TILE_CACHE`), so a tile that
one gunicorn worker encoded is not decoded again by another. Storage keys never change, so
cached tiles never go stale.
"""

from __future__ import annotations

import logging
import math
import time
from collections import OrderedDict
from dataclasses import dataclass
from threading import Lock

from django.conf import settings
from django.core import signing
from django.core.cache import caches
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

SALT = "senolab.slide-tiles"
GRANT_TTL = 60.0  # seconds a per-process membership answer is trusted
LOCAL_TILES = 2048  # encoded tiles kept per process (about 20 kB each)
DECODE_BLOCK = 4  # tiles per side decoded together (a 1024 px region)


@dataclass(frozen=True)
class SlideGrant:
    """What a tile request needs to know of a slide the user may read."""

    storage_key: str
    width: int
    height: int


class TileTokenError(Exception):
    """The token is not one this server signed for this slide, or it has expired."""


def _signer() -> signing.Signer:
    return signing.Signer(salt=SALT)


def expiry_for(now: float | None = None) -> int:
    """The expiry written into new tokens: now + max age, rounded up to the next hour."""
    now = time.time() if now is None else now
    return int(math.ceil((now + settings.SENOLAB_TILE_URL_MAX_AGE) / 3600.0) * 3600)


def make_token(user_id: int, slide_id: int, now: float | None = None) -> str:
    """A URL-safe token that lets `user_id` read the tiles of `slide_id` until it expires."""
    return _signer().sign(f"{user_id}.{slide_id}.{expiry_for(now):x}").replace(":", "~")


def read_token(token: str, slide_id: int, now: float | None = None) -> int:
    """The user id a token was signed for; TileTokenError unless it is valid for this slide."""
    try:
        value = _signer().unsign(token.replace("~", ":"))
        user, slide, expires = value.split(".")
        user_id, signed_slide, expiry = int(user), int(slide), int(expires, 16)
    except (signing.BadSignature, ValueError) as exc:
        raise TileTokenError("This tile link is not valid: reload the slide.") from exc
    if signed_slide != slide_id:
        raise TileTokenError("This tile link is for another slide: reload the slide.")
    if expiry <= (time.time() if now is None else now):
        raise TileTokenError("This tile link has expired: reload the slide.")
    return user_id


class _Grants:
    """Per-process answers to "may user U read slide S", each trusted for GRANT_TTL seconds."""

    def __init__(self) -> None:
        self._data: dict[tuple[int, int], tuple[float, SlideGrant | None]] = {}
        self._lock = Lock()

    def get(self, user_id: int, slide_id: int) -> SlideGrant | None:
        key = (user_id, slide_id)
        now = time.monotonic()
        hit = self._data.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
        grant = _lookup_grant(user_id, slide_id)
        with self._lock:
            if len(self._data) > 10_000:  # stale entries of many users: start again
                self._data.clear()
            self._data[key] = (now + GRANT_TTL, grant)
        return grant

    def clear(self) -> None:
        with self._lock:
            self._data.clear()


def _lookup_grant(user_id: int, slide_id: int) -> SlideGrant | None:
    from django.contrib.auth import get_user_model

    from senolab.imaging.models import Slide
    from senolab.projects.permissions import filter_by_project

    user = get_user_model().objects.filter(pk=user_id, is_active=True).first()
    if user is None:
        return None
    row = (
        filter_by_project(Slide.objects.filter(pk=slide_id), user)
        .values_list("storage_key", "width", "height")
        .first()
    )
    return None if row is None else SlideGrant(row[0], row[1], row[2])


grants = _Grants()


class LocalTiles:
    """A bounded least-recently-used map of encoded tiles, per process."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._data: OrderedDict[str, bytes] = OrderedDict()
        self._lock = Lock()

    def get(self, key: str) -> bytes | None:
        with self._lock:
            value = self._data.get(key)
            if value is not None:
                self._data.move_to_end(key)
            return value

    def put(self, key: str, value: bytes) -> None:
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self.size:
                self._data.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()

    def __len__(self) -> int:
        return len(self._data)


local_tiles = LocalTiles(LOCAL_TILES)


def tile_key(storage_key: str, level: int, col: int, row: int) -> str:
    return f"tile:{storage_key}:{level}:{col}:{row}"


def _shared_get(key: str) -> bytes | None:
    try:
        return caches["tiles"].get(key)
    except (RedisError, OSError) as exc:  # a cache that is down costs a decode, not a request
        log.warning("shared tile cache unavailable (%s): decoding", type(exc).__name__)
        return None


def _shared_set_many(tiles: dict[str, bytes]) -> None:
    if not tiles:
        return
    try:
        caches["tiles"].set_many(tiles, timeout=settings.SENOLAB_TILE_CACHE_SECONDS)
    except (RedisError, OSError) as exc:
        log.warning("shared tile cache unavailable (%s): not kept", type(exc).__name__)


class _BlockLocks:
    """One lock per block being decoded, so concurrent requests for tiles of the same block
    wait for one decode instead of each doing it."""

    def __init__(self) -> None:
        self._locks: dict[tuple, tuple[Lock, int]] = {}
        self._guard = Lock()

    def acquire(self, key: tuple) -> Lock:
        with self._guard:
            lock, users = self._locks.get(key, (Lock(), 0))
            self._locks[key] = (lock, users + 1)
        lock.acquire()
        return lock

    def release(self, key: tuple, lock: Lock) -> None:
        lock.release()
        with self._guard:
            _, users = self._locks[key]
            if users <= 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)


_block_locks = _BlockLocks()


def tile_bytes(grant: SlideGrant, level: int, col: int, row: int) -> bytes | None:
    """The JPEG of one Deep Zoom tile (None past the slide's edge), from the per-process map,
    then the shared cache, then decoded from the slide with its block of neighbours
    (DECODE_BLOCK x DECODE_BLOCK tiles, all kept)."""
    from senolab.imaging.api import render

    key = tile_key(grant.storage_key, level, col, row)
    data = local_tiles.get(key) or _shared_get(key)
    if data is not None:
        local_tiles.put(key, data)
        return data
    block = (grant.storage_key, level, col - col % DECODE_BLOCK, row - row % DECODE_BLOCK)
    lock = _block_locks.acquire(block)
    try:
        data = local_tiles.get(key)  # decoded by the request this one waited for
        if data is not None:
            return data
        decoded = render.decode_tiles(
            grant.storage_key, grant.width, grant.height, level, block[2], block[3], DECODE_BLOCK
        )
        named = {tile_key(grant.storage_key, level, c, r): b for (c, r), b in decoded.items()}
        for name, value in named.items():
            local_tiles.put(name, value)
        _shared_set_many(named)
    finally:
        _block_locks.release(block, lock)
    return named.get(key)


def forget() -> None:
    """Drop this process's grants and tiles (tests; after a membership change in a shell)."""
    grants.clear()
    local_tiles.clear()
