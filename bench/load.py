"""Load: a reading session's request mix against the platform, beside a bare Django view.

Starts the platform the way `make run` does (`manage.py runplatform`, on loopback, in a
throw-away data directory seeded with a project, an exam with images and findings), then runs
bounded loops of 10, 50 and 200 concurrent users for a fixed time each. Each user repeats the
mix of a radiologist reading: the worklist page (session cookie) and API, exam metadata, image
metadata, a rendered image, an annotation save and a job poll. It prints sustained requests per
second, p50/p95/p99 latency, errors and the server's peak memory, and the same for a bare
Django view (no middleware, no database) that returns the same bytes, with the ratio.

    .venv/bin/python bench/load.py                 # 60 s per level, as the issue asks
    .venv/bin/python bench/load.py --duration 10   # shorter
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
SESSIONS: dict[str, str] = {}  # token -> session cookie of the same reader

SEED = """
import json, django, numpy as np
django.setup()
from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token
from senolab.projects.models import Membership, Project
from senolab.imaging.ingest.raster import ingest_raster
users = [get_user_model().objects.create_user(f"reader{i}", password="load-test-pass-1")
         for i in range(USERS)]
project = Project.objects.create(name="Load", slug="load")
for u in users:
    Membership.objects.create(project=project, user=u, role="annotator")
rng = np.random.default_rng(0)
images = [ingest_raster(project, rng.integers(0, 4095, (1024, 768), dtype=np.uint16),
                        patient_key=f"p{i // 4}", exam_key=f"e{i // 4}", modality="MG",
                        laterality="LR"[i % 2], view=["CC", "MLO"][(i // 2) % 2])
          for i in range(8)]
findings = []
try:
    from annotations.models import Finding, FindingVersion
    for u in users:
        f = Finding.objects.create(project=project, exam=images[0].exam, finding_type="mass",
                                   created_by=u, updated_by=u)
        FindingVersion.objects.create(finding=f, version=1, snapshot={}, author=u)
        findings.append(f.pk)
except Exception:
    pass
from importlib import import_module
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
sessions = []
for u in users:  # a signed-in browser per reader, for the HTML pages
    store = import_module(settings.SESSION_ENGINE).SessionStore()
    store[SESSION_KEY], store[HASH_SESSION_KEY] = str(u.pk), u.get_session_auth_hash()
    store[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    store.create()
    sessions.append(f"{settings.SESSION_COOKIE_NAME}={store.session_key}")
print(json.dumps({"project": project.pk, "tokens": [Token.objects.create(user=u).key
                  for u in users], "sessions": sessions, "images": [i.pk for i in images],
                  "exams": sorted({i.exam_id for i in images}), "findings": findings}))
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def request(
    conn: http.client.HTTPConnection, method: str, path: str, token: str, body: dict | None = None
) -> tuple[int, bytes, str]:
    # API calls authenticate with the reader's token, pages with the reader's session cookie.
    headers = {"Authorization": f"Token {token}"} if path.startswith("/api/") else {}
    if not headers and SESSIONS.get(token):
        headers["Cookie"] = SESSIONS[token]
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    conn.request(method, path, body=data, headers=headers)
    response = conn.getresponse()
    return response.status, response.read(), response.getheader("Content-Type", "")


def reading_mix(seed: dict) -> list[tuple[str, str, str, int]]:
    """(name, method, path, weight); the save's path gets the user's finding id."""
    project, exam, image = seed["project"], seed["exams"][0], seed["images"][0]
    return [
        ("worklist page", "GET", f"/?project={project}", 1),
        ("worklist", "GET", f"/api/worklist/?project={project}", 1),
        ("exam list", "GET", f"/api/exams/?project={project}", 1),
        ("exam", "GET", f"/api/exams/{exam}/", 2),
        ("image metadata", "GET", f"/api/images/{image}/", 3),
        ("rendered image", "GET", f"/api/images/{image}/render.png?size=512", 3),
        ("annotation save", "PATCH", "/api/findings/{finding}/", 1),
        ("job poll", "GET", f"/api/jobs/?project={project}", 1),
    ]


def available(port: int, seed: dict, mix: list) -> list:
    """The parts of the mix this checkout serves (a missing endpoint is left out, and said)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    kept = []
    for name, method, path, weight in mix:
        if "{finding}" in path:
            if not seed["findings"]:
                print(f"  (no findings model: '{name}' left out)")
                continue
            status, _, _ = request(
                conn, "GET", path.format(finding=seed["findings"][0]), seed["tokens"][0]
            )
        else:
            status, _, _ = request(conn, method, path, seed["tokens"][0])
        if status >= 300:  # a page that redirects to the log-in form is not the page
            print(f"  ({method} {path.split('?')[0]} answers {status}: '{name}' left out)")
            continue
        kept.append((name, method, path, weight))
    return kept


def run_level(port: int, seed: dict, mix: list, users: int, duration: float) -> dict:
    """`users` threads, each a reader repeating the mix until the time is up."""
    latencies: list[float] = []
    errors: Counter[str] = Counter()
    lock = threading.Lock()
    deadline = time.monotonic() + duration
    weighted = [m for m in mix for _ in range(m[3])]

    def reader(n: int) -> None:
        token = seed["tokens"][n % len(seed["tokens"])]
        finding = seed["findings"][n % len(seed["findings"])] if seed["findings"] else 0
        version = None
        rng = random.Random(n)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        mine: list[float] = []
        failed: Counter[str] = Counter()
        while time.monotonic() < deadline:
            name, method, path, _ = rng.choice(weighted)
            body = None
            if "{finding}" in path:
                path = path.format(finding=finding)
                if method != "GET" and version is None:
                    _, raw, _ = request(conn, "GET", path, token)
                    version = json.loads(raw).get("version", 1)
                body = {"version": version, "note": f"read {time.time()}"}
            start = time.perf_counter()
            try:
                status, raw, _ = request(conn, method, path, token, body)
            except (OSError, http.client.HTTPException) as exc:
                failed[type(exc).__name__] += 1
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                continue
            mine.append(time.perf_counter() - start)
            if status >= 400:
                failed[f"{name} {status}"] += 1
                version = None
            elif body is not None:
                version = json.loads(raw).get("version", version)
        with lock:
            latencies.extend(mine)
            errors.update(failed)

    threads = [threading.Thread(target=reader, args=(n,)) for n in range(users)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    latencies.sort()

    def pct(p: float) -> float:
        if not latencies:
            return 0.0
        return latencies[min(int(p * len(latencies)), len(latencies) - 1)] * 1000

    return {
        "users": users,
        "requests": len(latencies),
        "rps": len(latencies) / elapsed,
        "p50": pct(0.50),
        "p95": pct(0.95),
        "p99": pct(0.99),
        "errors": sum(errors.values()),
        "error_kinds": dict(errors),
    }


class MemoryWatch:
    """Peak resident memory of a process tree, sampled every 0.2 s."""

    def __init__(self, pid: int) -> None:
        import psutil

        self.root = psutil.Process(pid)
        self.peak = self.web_peak = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._watch, daemon=True)
        self.thread.start()

    def _watch(self) -> None:
        import psutil

        while not self.stop.wait(0.2):
            try:
                procs = [self.root, *self.root.children(recursive=True)]
                rss = {p: p.memory_info().rss for p in procs if p.is_running()}
                web = sum(v for p, v in rss.items() if "gunicorn" in " ".join(p.cmdline()))
            except psutil.Error:
                continue
            self.peak = max(self.peak, sum(rss.values()))
            self.web_peak = max(self.web_peak, web)

    def close(self) -> tuple[int, int]:
        """Peak bytes of the whole tree (web, workers, Redis) and of the web processes."""
        self.stop.set()
        self.thread.join()
        return self.peak, self.web_peak


def wait_up(port: int, path: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", path)
            if conn.getresponse().status < 500:
                return
        except OSError:
            time.sleep(0.5)
    raise SystemExit(f"server on port {port} did not come up")


def record_responses(port: int, seed: dict, mix: list, out: Path) -> None:
    """What the platform answers to each part of the mix, for the bare view to replay."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    recorded = {}
    for _, _, path, _ in mix:
        concrete = path.format(finding=seed["findings"][0]) if "{finding}" in path else path
        status, body, ctype = request(conn, "GET", concrete, seed["tokens"][0])
        recorded[concrete.split("?")[0]] = (ctype, body.hex())
    out.write_text(json.dumps(recorded))


def bare_application():
    """A Django WSGI app with one view and no middleware that replays the recorded bytes."""
    import django
    from django.conf import settings
    from django.http import HttpResponse
    from django.urls import re_path

    recorded = json.loads(Path(os.environ["SENOLAB_BENCH_RECORDED"]).read_text())
    replies = {p: (ctype, bytes.fromhex(body)) for p, (ctype, body) in recorded.items()}

    def view(request, rest=""):
        key = request.path if request.path in replies else request.path.rstrip("/") + "/"
        ctype, body = replies.get(key, ("application/json", b"{}"))
        return HttpResponse(body, content_type=ctype)

    settings.configure(
        DEBUG=False,
        ALLOWED_HOSTS=["*"],
        ROOT_URLCONF=__name__,
        MIDDLEWARE=[],
        SECRET_KEY="bench-only",
    )
    globals()["urlpatterns"] = [re_path(r"^(?P<rest>.*)$", view)]
    django.setup()
    from django.core.wsgi import get_wsgi_application

    return get_wsgi_application()


if os.environ.get("SENOLAB_BENCH_RECORDED") and __name__ != "__main__":
    bare_app = bare_application()


def table(rows: list[tuple[str, dict, tuple[int, int]]]) -> str:
    head = (
        f"{'target':<9}{'users':>6}{'req':>8}{'rps':>8}{'p50 ms':>9}{'p95 ms':>9}"
        f"{'p99 ms':>9}{'errors':>8}{'all MiB':>9}{'web MiB':>9}"
    )
    lines = [head, "-" * len(head)]
    for name, r, (peak, web) in rows:
        lines.append(
            f"{name:<9}{r['users']:>6}{r['requests']:>8}{r['rps']:>8.1f}{r['p50']:>9.1f}"
            f"{r['p95']:>9.1f}{r['p99']:>9.1f}{r['errors']:>8}"
            f"{peak / 2**20:>9.0f}{web / 2**20:>9.0f}"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=60.0, help="seconds per level")
    parser.add_argument("--users", default="10,50,200", help="concurrency levels")
    parser.add_argument("--web-workers", type=int, default=2)
    args = parser.parse_args()
    levels = [int(u) for u in args.users.split(",")]
    data_dir = Path(tempfile.mkdtemp(prefix="senolab-load-"))
    env = {
        **os.environ,
        "SENOLAB_DATA_DIR": str(data_dir),
        "DJANGO_SETTINGS_MODULE": "senolab.settings",
        "SENOLAB_LOG_LEVEL": "WARNING",
        "SENOLAB_SKIP_DEMO": "1",
    }
    subprocess.run([PY, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True)
    seeded = subprocess.run(
        [PY, "-c", SEED.replace("USERS", str(max(levels)))],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    seed = json.loads(seeded.stdout.strip().splitlines()[-1])
    SESSIONS.update(zip(seed["tokens"], seed["sessions"], strict=True))
    port, bare_port = free_port(), free_port()
    platform = subprocess.Popen(
        [
            PY,
            "manage.py",
            "runplatform",
            "--no-demo",
            "--port",
            str(port),
            "--web-workers",
            str(args.web_workers),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    bare = None
    rows = []
    try:
        wait_up(port, "/api/health/")
        mix = available(port, seed, reading_mix(seed))
        print("mix:", ", ".join(f"{n} x{w}" for n, _, _, w in mix))
        if not mix:
            raise SystemExit("no part of the reading mix is served by this checkout")
        recorded = data_dir / "recorded.json"
        record_responses(port, seed, mix, recorded)
        for users in levels:
            watch = MemoryWatch(platform.pid)
            rows.append(
                ("platform", run_level(port, seed, mix, users, args.duration), watch.close())
            )
        bare = subprocess.Popen(
            [
                PY,
                "-m",
                "gunicorn",
                "--chdir",
                str(ROOT / "bench"),
                "load:bare_app",
                "--bind",
                f"127.0.0.1:{bare_port}",
                "--workers",
                str(args.web_workers),
                "--threads",
                "4",
            ],
            env={**env, "SENOLAB_BENCH_RECORDED": str(recorded)},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        wait_up(bare_port, "/")
        for users in levels:
            watch = MemoryWatch(bare.pid)
            rows.append(
                ("bare", run_level(bare_port, seed, mix, users, args.duration), watch.close())
            )
    finally:
        for proc in (platform, bare):
            if proc is not None:
                os.killpg(proc.pid, signal.SIGINT)
                proc.wait(timeout=60)
    print(table(rows))
    for name, r, _ in rows:
        if r["error_kinds"]:
            print(f"{name} at {r['users']} users, errors: {r['error_kinds']}")
    for users in levels:
        p = next(r for n, r, _ in rows if n == "platform" and r["users"] == users)
        b = next(r for n, r, _ in rows if n == "bare" and r["users"] == users)
        print(
            f"{users} users: platform/bare rps {p['rps'] / b['rps']:.2f}, "
            f"p95 {p['p95'] / max(b['p95'], 0.01):.1f}x"
        )


if __name__ == "__main__":
    main()
