"""The Content-Security-Policy in a real browser: every HTML page of the platform (found from
the URL resolver, so pages added later are covered) opened in Debian's Chromium as a signed-in
owner, against a server that serves the Vite build through every middleware as production does
(WhiteNoise), with no CSP violation in the page or in its workers."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import warnings
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connections
from django.test import Client
from django.test.testcases import LiveServerThread

from senolab.workspace import vite
from tests.security.operations import resolver_routes
from tests.security.seed import Seeded, seed_project
from tests.security.test_csp import KNOWN_INLINE_SCRIPTS

ROOT = Path(__file__).resolve().parents[2]
FRONTEND = ROOT / "frontend"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
PROBE = Path(__file__).with_name("csp_probe.mjs")
NOT_PAGES = ("/api/", "/admin/", "/accounts/", "/static/", "/media/", "/logout/")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not (FRONTEND / "node_modules" / "playwright-core").exists()
        or not Path(CHROMIUM).exists()
        or shutil.which("node") is None,
        reason="needs node, frontend/node_modules/playwright-core and Chromium (make frontend)",
    ),
]


@pytest.fixture
def production_like_server(transactional_db, settings):
    """A live server whose static files go through the middleware (WhiteNoise), unlike
    Django's test server, which serves them around it and so without the headers."""
    settings.WHITENOISE_USE_FINDERS = True
    if os.environ.get("SENOLAB_FRONTEND_DIST"):  # probe a build made elsewhere
        settings.FRONTEND_DIST = Path(os.environ["SENOLAB_FRONTEND_DIST"])
        settings.STATICFILES_DIRS = [settings.FRONTEND_DIST]
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "127.0.0.1"]
    shared = {c.alias: c for c in connections.all() if c.vendor == "sqlite" and c.is_in_memory_db()}
    for conn in shared.values():
        conn.inc_thread_sharing()
    thread = LiveServerThread("127.0.0.1", lambda handler: handler, shared, port=0)
    thread.daemon = True
    thread.start()
    thread.is_ready.wait()
    if thread.error:
        raise thread.error
    yield f"http://127.0.0.1:{thread.port}"
    thread.terminate()
    for conn in shared.values():
        conn.dec_thread_sharing()


def page_paths(seeded: Seeded) -> list[str]:
    """Every non-API GET route, its ids filled with the seeded objects: '/exams/{exam_id}/'
    from the parameter's name, '/ml/runs/{pk}/' from the segment before it."""
    names: dict[str, object] = {}
    for model, obj in seeded.objects.items():
        for name in (model._meta.model_name, str(model._meta.verbose_name_plural)):
            names[name.replace(" ", "-").lower()] = obj
    paths = []
    for template, _ in resolver_routes():
        if template.startswith(NOT_PAGES) or not template.startswith("/"):
            continue
        segments, out = template.strip("/").split("/"), []
        for i, segment in enumerate(segments):
            param = re.fullmatch(r"\{(\w+)\}", segment)
            if not param:
                out.append(segment)
                continue
            hint = re.sub(r"_(id|pk)$", "", param.group(1)).lower()
            literal = segments[i - 1] if i else ""
            obj = names.get(hint) or next(
                (o for n, o in names.items() if literal and n.endswith(literal)), None
            )
            out.append(str(obj.pk) if obj is not None else "")
        if "" not in out or template == "/":
            paths.append("/" + "/".join(s for s in out if s) + ("/" if out != [""] else ""))
    return sorted({p.replace("//", "/") for p in paths})


def test_every_page_runs_in_chromium_without_a_csp_violation(
    production_like_server, make_user, tmp_path
):
    try:
        vite.entry_assets()
    except vite.FrontendNotBuilt as exc:
        pytest.skip(f"frontend not built ({exc}): make frontend")
    # Given a signed-in owner of a project with one of everything
    owner = make_user("csp-owner")
    seeded = seed_project("CSP", "CSP", {"owner": owner})
    client = Client()
    client.force_login(owner)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME]
    pages = page_paths(seeded)
    assert "/" in pages and any(p.startswith("/exams/") for p in pages), pages
    # When Chromium opens each page and lets it load its chunks, workers and images
    probe = {
        "frontend": str(FRONTEND),
        "chromium": CHROMIUM,
        "base": production_like_server,
        "cookies": [{"name": cookie.key, "value": cookie.value}],
        "pages": pages,
        "waitMs": 2500,
    }
    done = subprocess.run(
        ["node", str(PROBE)],
        input=json.dumps(probe),
        capture_output=True,
        text=True,
        timeout=180,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    results = json.loads(done.stdout)
    # Then every page answered and nothing was refused by the policy
    assert [r["page"] for r in results] == pages
    failures, known = [], []
    known_pages = ("/ml/",) if KNOWN_INLINE_SCRIPTS else ()
    for r in results:
        assert r["status"] == 200, f"{r['page']}: {r['status']}"
        for violation in r["violations"]:
            (known if r["page"].startswith(known_pages) else failures).append(
                f"{r['page']}: {violation[:300]}"
            )
    for line in known:
        warnings.warn(f"known CSP violation (inline script without nonce): {line}", stacklevel=1)
    print(
        json.dumps([{k: r[k] for k in ("page", "workers", "rendered", "errors")} for r in results])
    )
    assert not failures, "\n".join(failures)
