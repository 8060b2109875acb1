"""Rate limit for log-in and token endpoints, whatever framework serves them.

Django's log-in view is not a DRF view, so DRF throttles do not reach it; this middleware counts
POSTs to any path that looks like a log-in or token endpoint (so endpoints added later are
covered), per client address and submitted user name, in a fixed window kept in the cache.
Only failed attempts count, so a busy clinic behind one address is not locked out.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Callable

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse


def parse_rate(rate: str) -> tuple[int, int]:
    """'5/min' -> (5, 60). Units: s, sec, min, h, hour, day."""
    count, _, unit = rate.partition("/")
    seconds = {"s": 1, "sec": 1, "min": 60, "m": 60, "h": 3600, "hour": 3600, "day": 86400}
    return int(count), seconds[unit.strip().lower()]


class LoginThrottleMiddleware:
    """429 with Retry-After once a client has failed SENOLAB_LOGIN_RATE log-ins in the window."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.paths = re.compile(settings.SENOLAB_THROTTLED_PATHS)

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.method != "POST" or not self.paths.search(request.path):
            return self.get_response(request)
        limit, window = parse_rate(settings.SENOLAB_LOGIN_RATE)
        bucket = int(time.time() // window)
        address = request.META.get("REMOTE_ADDR", "")
        # Per address and user name; and per address alone, looser, against name spraying.
        keys = [
            (f"senolab-login:{_client_key(request)}:{bucket}", limit),
            (f"senolab-login:{address}:{bucket}", limit * 5),
        ]
        if any((cache.get(key) or 0) >= allowed for key, allowed in keys):
            return _too_many(window - int(time.time()) % window)
        response = self.get_response(request)
        if _failed(response):  # only failed attempts count: people who log in are not slowed
            for key, _ in keys:
                _increment(key, window)
        return response


def _failed(response: HttpResponse) -> bool:
    """A log-in form re-rendered (200 HTML) or a 4xx is a failed attempt; a redirect (session
    log-in) or a JSON 2xx (token) is a success."""
    if 300 <= response.status_code < 400:
        return False
    if response.status_code < 300:
        return "json" not in response.get("Content-Type", "")
    return True


def _increment(key: str, window: int) -> None:
    if cache.add(key, 1, timeout=window):
        return
    try:
        cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=window)


def _client_key(request: HttpRequest) -> str:
    # The user name is hashed: cache keys end up in memory dumps and cache servers.
    username = ""
    if request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        username = request.POST.get("username", "")
    digest = hashlib.sha256(username.strip().lower().encode()).hexdigest()[:16]
    return f"{request.META.get('REMOTE_ADDR', '')}:{digest}"


def _too_many(retry_after: int) -> HttpResponse:
    body = {
        "error": {
            "code": "throttled",
            "message": "Too many log-in attempts; wait a minute and try again.",
            "detail": {"retry_after_seconds": retry_after},
        }
    }
    response = HttpResponse(json.dumps(body), status=429, content_type="application/json")
    response["Retry-After"] = str(max(retry_after, 1))
    return response
