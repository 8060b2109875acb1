"""Production settings: `check --deploy` is clean, headers and cookies are hardened, log-in is
rate limited, passwords are validated and the admin is for staff only."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib.auth.password_validation import validate_password
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.http import HttpResponseNotAllowed
from django.test import Client, override_settings

from senolab.security.errors import json_error
from senolab.security.headers import FILE_CSP, PAGE_CSP

ROOT = Path(__file__).resolve().parents[2]

# Fetches a page under the production settings and prints what a browser would see.
HEADERS_SCRIPT = """
import json, django
django.setup()
from django.test import Client
c = Client()
plain = c.get("/accounts/login/")
page = c.get("/accounts/login/", secure=True)
cookie = page.cookies.get("csrftoken")
print(json.dumps({
    "plain_status": plain.status_code, "plain_location": plain.get("Location", ""),
    "status": page.status_code, "headers": dict(page.headers),
    "csrf_secure": bool(cookie and cookie["secure"]),
}))
"""


def production_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SENOLAB_")}
    env.update(
        DJANGO_SETTINGS_MODULE="senolab.settings",
        SENOLAB_ENV="production",
        SENOLAB_DATA_DIR=str(tmp_path),
        SENOLAB_ALLOWED_HOSTS="testserver,senolab.example.org",
    )
    env.update(extra)
    return env


def run_python(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def test_check_deploy_passes_with_production_settings(tmp_path):
    # Given the production settings with the embedded generated secret key
    env = production_env(tmp_path)
    # When Django's deployment checklist runs
    result = run_python(["manage.py", "check", "--deploy"], env)
    # Then it passes, and its security checks raise not even a warning
    assert result.returncode == 0, result.stdout + result.stderr
    security = run_python(
        ["manage.py", "check", "--deploy", "--tag", "security", "--fail-level", "WARNING"], env
    )
    assert security.returncode == 0, security.stdout + security.stderr
    assert "no issues" in security.stdout


def test_check_deploy_flags_plain_http_development_settings(tmp_path):
    # Given development settings (no HTTPS): the same check must notice, or it proves nothing
    env = production_env(tmp_path, SENOLAB_ENV="development")
    result = run_python(
        ["manage.py", "check", "--deploy", "--tag", "security", "--fail-level", "WARNING"], env
    )
    assert result.returncode != 0
    assert "security.W004" in result.stdout + result.stderr


def test_production_refuses_to_start_with_debug_on(tmp_path):
    env = production_env(tmp_path, SENOLAB_DEBUG="1")
    result = run_python(["manage.py", "check"], env)
    assert result.returncode != 0
    assert "SENOLAB_DEBUG must be off" in result.stderr


def test_production_pages_redirect_to_https_with_hsts_csp_and_secure_cookies(tmp_path):
    # Given the production settings, when a browser fetches the log-in page
    result = run_python(["-c", HEADERS_SCRIPT], production_env(tmp_path))
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    headers = {k.lower(): v for k, v in seen["headers"].items()}
    # Then plain HTTP is redirected and HTTPS carries every hardening header
    assert seen["plain_status"] == 301 and seen["plain_location"].startswith("https://")
    assert seen["status"] == 200
    assert "max-age=31536000" in headers["strict-transport-security"]
    assert headers["content-security-policy"].startswith(PAGE_CSP.split("script-src")[0])
    assert "script-src 'self' 'nonce-" in headers["content-security-policy"]
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["x-frame-options"] == "DENY"
    assert seen["csrf_secure"] is True


@pytest.mark.django_db
def test_app_pages_get_the_page_csp_and_api_responses_a_locked_down_one():
    client = Client()
    page = client.get("/accounts/login/")
    api = client.get("/api/health/")
    nonce = page.wsgi_request.csp_nonce
    assert page["Content-Security-Policy"] == PAGE_CSP.replace(
        "script-src 'self'", f"script-src 'self' 'nonce-{nonce}'"
    )
    assert len(nonce) >= 16 and nonce != client.get("/accounts/login/").wsgi_request.csp_nonce
    assert "frame-ancestors 'none'" in PAGE_CSP and "'unsafe-eval'" not in PAGE_CSP
    assert api["Content-Security-Policy"] == FILE_CSP
    assert api["X-Content-Type-Options"] == "nosniff"
    assert "camera=()" in api["Permissions-Policy"]


@pytest.mark.django_db
@override_settings(SENOLAB_LOGIN_RATE="3/min")
@pytest.mark.parametrize(
    ("endpoint", "failed"),
    [("/accounts/login/", 200), ("/login/", 200), ("/api/auth/token/", 401)],
)
def test_repeated_failed_log_ins_are_throttled_with_a_json_429(make_user, endpoint, failed):
    # Given a user and an attacker guessing passwords at a log-in or token endpoint
    make_user("alice")
    cache.clear()
    client = Client()
    # When the attacker fails more often than the rate allows
    statuses = [
        client.post(endpoint, {"username": "alice", "password": f"guess{i}"}).status_code
        for i in range(5)
    ]
    # Then the first attempts are answered normally and the rest refused, the right password too
    assert statuses == [failed, failed, failed, 429, 429]
    refused = client.post(endpoint, {"username": "alice", "password": "test-pass-123"})
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "throttled"
    assert int(refused["Retry-After"]) >= 1
    # And another user name from the same address is still let through
    assert client.post(endpoint, {"username": "bob", "password": "x"}).status_code == failed
    cache.clear()


@pytest.mark.django_db
@override_settings(SENOLAB_LOGIN_RATE="3/min")
def test_successful_log_ins_are_not_throttled(make_user):
    make_user("carol")
    cache.clear()
    client = Client()
    statuses = [
        client.post(
            "/accounts/login/", {"username": "carol", "password": "test-pass-123"}
        ).status_code
        for _ in range(6)
    ]
    assert statuses == [302] * 6
    cache.clear()


def test_weak_passwords_are_rejected():
    for weak in ["password", "12345678", "short"]:
        with pytest.raises(ValidationError):
            validate_password(weak)
    validate_password("correct horse battery staple 42")


@pytest.mark.django_db
def test_admin_is_for_staff_only(make_user):
    # Given a logged-in project user who is not staff
    client = Client()
    client.force_login(make_user("plain"))
    # When they open the admin, then they are sent to its log-in page
    response = client.get("/admin/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    # While staff get in
    client.force_login(make_user("boss", staff=True))
    assert client.get("/admin/").status_code == 200


@pytest.mark.django_db
def test_api_errors_that_never_reach_a_view_still_use_the_json_error_format(make_user):
    client = Client()
    client.force_login(make_user())
    # A path no route matches, under /api/ and elsewhere
    missing = client.get("/api/no-such-thing/42/")
    page = client.get("/no-such-page/")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"
    assert missing.json()["error"]["message"]
    assert page.status_code == 404 and "json" not in page["Content-Type"]
    # A plain Django 405 keeps the Allow header that tells the client what would work
    converted = json_error(HttpResponseNotAllowed(["GET", "HEAD"]))
    assert converted.status_code == 405 and converted["Allow"] == "GET, HEAD"
    assert json.loads(converted.content)["error"]["code"] == "method_not_allowed"
