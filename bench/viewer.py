"""Viewer latency and slide tile throughput in headless Chromium, against fetching the bytes.

Builds a throw-away Senolab (temporary data dir, SQLite, as frontend/e2e/server.py does) with
four-view mammography exams of real detector sizes, 16 bits allocated, 12 stored: 3328x4096
and 4096x5120 (width x height), made by resampling the real NEMA WG04 mammogram MG1
(3064x4664, under SENOLAB_SHARED_DATA) or, when it is absent, a synthetic breast. They go
through the platform's ingest (de-identification, zstd pixel cache with downsampled levels).
The slide CMU-1-Small-Region.svs is ingested when present. Then, in rounds, each on a fresh
server process (so the server's tile cache starts empty) and a fresh browser context per
measurement (empty HTTP cache), bench/viewer_browser.mjs drives /usr/bin/chromium:

- viewer: open /exams/ID/ and time, from navigation start, the first image drawn and all four
  views drawn at full resolution (the viewports' data-rendered / data-full-res attributes);
- baseline: fetch() in the page, all at once, every same-origin resource the viewer loaded
  (page, scripts, API JSON, pixel levels) without decoding or drawing; for the first image,
  the resources the viewer had received when it drew it;
- slide tiles: fetch() every 256 px tile of the full-resolution Deep Zoom level through
  /api/slides/ID/tiles/ from the browser (6 connections), first pass (the server reads and
  encodes) and second pass (the server's tile cache), against reading the same regions
  in-process with tiffslide (`read_region`, one thread), the baseline.

    nice .venv/bin/python bench/viewer.py                  # 3 rounds, about 3-4 minutes
    nice .venv/bin/python bench/viewer.py --rounds 1 --sizes 3328x4096 --cpu
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
BROWSER_SCRIPT = ROOT / "bench" / "viewer_browser.mjs"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")  # as the e2e tests
SAMPLE = Path("dicom-format-samples") / "nema-wg04-mammo" / "MG1_J2KI.dcm"
SLIDE = Path("wsi-samples") / "CMU-1-Small-Region.svs"
VIEWS = (("R", "CC"), ("L", "CC"), ("R", "MLO"), ("L", "MLO"))
USER = "bench-reader"
READY = "SENOLAB_BENCH url="


def _e2e_server() -> Any:
    """frontend/e2e/server.py (isolate the settings, serve with WhiteNoise), imported by path."""
    spec = importlib.util.spec_from_file_location(
        "senolab_e2e_server", ROOT / "frontend" / "e2e" / "server.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --- data ----------------------------------------------------------------------------------------


def source_mammogram(shared: Path) -> tuple[np.ndarray, str]:
    """The real MG1 pixels (12-bit, MLO, left breast facing right) or a synthetic breast."""
    sample = shared / SAMPLE
    if sample.exists():
        import pydicom

        return pydicom.dcmread(sample).pixel_array.astype(np.uint16), f"real {SAMPLE.name}"
    rows, cols = 4664, 3064
    yy, xx = np.mgrid[0:rows, 0:cols].astype(np.float32)
    r = np.sqrt((xx / (cols * 0.8)) ** 2 + ((yy - rows / 2) / (rows * 0.45)) ** 2)
    noise = np.random.default_rng(0).normal(0, 25, (rows, cols)).astype(np.float32)
    image = 150 + np.clip((1 - r) * 30, 0, 1) * 2400 + noise
    return np.clip(image, 0, 4095).astype(np.uint16), "synthetic"


def resample(pixels: np.ndarray, width: int, height: int) -> np.ndarray:
    from PIL import Image as PILImage

    picture = PILImage.fromarray(pixels.astype(np.float32), mode="F")
    resized = np.asarray(picture.resize((width, height), PILImage.Resampling.BILINEAR))
    return np.clip(np.rint(resized), 0, 4095).astype(np.uint16)


def write_exam(folder: Path, source: np.ndarray, width: int, height: int, n: int) -> list[Path]:
    """Four views (RCC, LCC, RMLO, LMLO) of one exam, 16 bits allocated, 12 stored."""
    sys.path.insert(0, str(ROOT))
    from bench.dicom_files import write_mammogram

    pixels = resample(source, width, height)
    study = f"1.2.826.0.1.3680043.10.999.88.{n}"
    paths = []
    for v, (laterality, view) in enumerate(VIEWS):
        # The sample shows a left breast; mirror it for the right one.
        data = pixels if laterality == "L" else pixels[:, ::-1]
        path = folder / f"exam{n}-{laterality}{view}.dcm"
        write_mammogram(
            path,
            data,
            patient=f"VBENCH{n}",
            study_uid=study,
            series_uid=f"{study}.{v}",
            laterality=laterality,
            view=view,
        )
        paths.append(path)
    return paths


def prepare(sizes: list[tuple[int, int]], shared: Path, workdir: Path) -> dict[str, Any]:
    """Migrate, add a reader and a project, ingest the exams and the slide; what the run needs."""
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.test import Client

    from senolab.imaging.ingest.service import ingest_paths
    from senolab.imaging.models import Image
    from senolab.projects.models import Membership, Project, Role

    call_command("migrate", verbosity=0, interactive=False)
    user = get_user_model().objects.create_user(USER)
    project = Project.objects.create(name="Viewer bench", slug="viewer-bench")
    Membership.objects.create(project=project, user=user, role=Role.OWNER)
    source, origin = source_mammogram(shared)
    exams = []
    for n, (width, height) in enumerate(sizes):
        paths = write_exam(workdir, source, width, height, n)
        report = ingest_paths(project, paths, user=user)
        if len(report.images) != len(paths):
            raise SystemExit(f"ingest failed: {report.failed[:2]}")
        exam_ids = set(Image.objects.filter(pk__in=report.images).values_list("exam", flat=True))
        if len(exam_ids) != 1:
            raise SystemExit(f"the four views landed in {len(exam_ids)} exams, not one")
        megabytes = sum(p.stat().st_size for p in paths) / 1e6
        exams.append(
            {
                "id": exam_ids.pop(),
                "label": f"{width}x{height}",
                "views": len(VIEWS),
                "dicom_mb": round(megabytes),
            }
        )
        for path in paths:
            path.unlink()
    slide = None
    if (shared / SLIDE).exists():
        from senolab.imaging.slides import ingest_slide

        s = ingest_slide(
            project, shared / SLIDE, patient_key="VBENCH-SVS", exam_key="svs-1", user=user
        )
        from django.core.files.storage import default_storage

        slide = {
            "id": s.pk,
            "name": SLIDE.name,
            "width": s.width,
            "height": s.height,
            "path": default_storage.path(s.storage_key),
        }
    client = Client()
    client.force_login(user)
    cookie = {
        "name": settings.SESSION_COOKIE_NAME,
        "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
    }
    return {"exams": exams, "slide": slide, "cookie": cookie, "source": origin}


# --- slide tiles ---------------------------------------------------------------------------------


def full_level_tiles(width: int, height: int, tile: int = 256) -> list[tuple[int, int, int, int]]:
    """(col, row, w, h) of every tile of the full-resolution Deep Zoom level."""
    return [
        (c, r, min(tile, width - c * tile), min(tile, height - r * tile))
        for r in range(math.ceil(height / tile))
        for c in range(math.ceil(width / tile))
    ]


def read_tiles_in_process(
    path: str, tiles: list[tuple[int, int, int, int]], threads: int = 1, encode: bool = False
) -> float:
    """Seconds to read the tiles' regions with tiffslide (and JPEG-encode them, if asked)."""
    import io

    import tiffslide

    slide = tiffslide.TiffSlide(path)

    def one(t: tuple[int, int, int, int]) -> int:
        c, r, w, h = t
        region = slide.read_region((c * 256, r * 256), 0, (w, h)).convert("RGB")
        if not encode:
            return region.size[0]
        buffer = io.BytesIO()
        region.save(buffer, format="JPEG", quality=80)
        return len(buffer.getvalue())

    started = time.perf_counter()
    if threads == 1:
        for t in tiles:
            one(t)
    else:
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(one, tiles))
    elapsed = time.perf_counter() - started
    slide.close()
    return elapsed


# --- server and browser --------------------------------------------------------------------------


def start_server(data_dir: Path, dist: Path) -> tuple[subprocess.Popen, str]:
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--serve",
        str(data_dir),
        "--dist",
        str(dist),
    ]
    RESULTS.mkdir(parents=True, exist_ok=True)
    with open(RESULTS / "viewer-server.log", "a") as log:  # keep the request log out of the table
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log, text=True, cwd=ROOT)
    line = process.stdout.readline()
    if not line.startswith(READY):
        process.kill()
        raise SystemExit(f"the server did not start: {line!r}")
    return process, line[len(READY) :].strip()


def stop_server(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()


def serve(data_dir: Path, dist: Path) -> None:
    """The server process: the e2e server's settings and WSGI server on the prepared data."""
    e2e = _e2e_server()
    e2e.isolate(data_dir)
    import django

    django.setup()
    from django.conf import settings

    settings.FRONTEND_DIST = dist
    settings.STATICFILES_DIRS = [dist]
    e2e.serve(0, lambda url: print(f"{READY}{url}", flush=True))


def browser_round(config: dict[str, Any], workdir: Path) -> dict[str, Any]:
    path = workdir / "browser.json"
    path.write_text(json.dumps(config))
    done = subprocess.run(
        ["node", str(BROWSER_SCRIPT), str(path)],
        capture_output=True,
        text=True,
        timeout=280,
        cwd=ROOT,
    )
    if done.returncode != 0:
        raise SystemExit(f"the browser run failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# --- report --------------------------------------------------------------------------------------


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def report(
    data: dict[str, Any],
    rounds: list[dict[str, Any]],
    in_process: dict[str, list[float]],
    args: argparse.Namespace,
) -> None:
    first = rounds[0]
    webgl = "WebGL2 (SwiftShader)" if first["exams"] and first["exams"][0]["webgl"] else "CPU"
    mode = "CPU rendering (?cpu=1)" if args.cpu else webgl
    load = " / ".join(f"{v:.1f}" for v in data["load"])
    print(
        f"Exam viewer, headless Chromium {first['chromium']} ({mode}, 1600x1000 window), Django "
        f"threaded WSGI server on 127.0.0.1, {os.cpu_count()} CPUs, median of {len(rounds)} "
        f"rounds; pixels from the {data['source']} mammogram; load average before/after: {load}"
    )
    print(
        f"{'four-view exam':24}{'first image':>12}{'fetch':>9}{'ratio':>7}"
        f"{'all 4 full':>12}{'fetch':>9}{'ratio':>7}{'level 0 asked..in':>19}{'MB':>6}"
        f"{'requests':>10}"
    )
    for i, exam in enumerate(data["exams"]):
        runs = [r["exams"][i] for r in rounds]
        f_view = median([r["firstMs"] for r in runs]) / 1000
        f_base = median([r["fetchFirst"]["ms"] for r in runs]) / 1000
        a_view = median([r["fullMs"] for r in runs]) / 1000
        a_base = median([r["fetchFull"]["ms"] for r in runs]) / 1000
        asked = median([r["pixelsAskedMs"] for r in runs]) / 1000
        pixels_in = median([r["pixelsInMs"] for r in runs]) / 1000
        megabytes = runs[0]["fetchFull"]["bytes"] / 1e6
        print(
            f"{exam['label'] + ' 16-bit':24}{f_view:11.2f}s{f_base:8.2f}s{f_view / f_base:6.1f}x"
            f"{a_view:11.2f}s{a_base:8.2f}s{a_view / a_base:6.1f}x"
            f"{asked:11.2f}s..{pixels_in:.2f}s{megabytes:6.0f}{runs[0]['requests']:10d}"
        )
    print(
        "  ratio = viewer time / baseline (fetch() of the same bytes in the page, all at once, "
        "without drawing);\n  viewer times from navigation start; level 0 asked..in = when the "
        "viewer asked for the first full-resolution level and had the last one"
    )
    if not data["slide"]:
        print("Slide tiles: skipped (no slide under SENOLAB_SHARED_DATA)")
        return
    slide = data["slide"]
    count = len(full_level_tiles(slide["width"], slide["height"]))
    base = count / median(in_process["read"])
    print(
        f"Slide tiles, {slide['name']} {slide['width']}x{slide['height']}, {count} tiles of "
        f"256 px at full resolution, median of {len(rounds)} rounds"
    )
    print(f"{'':52}{'tiles/s':>9}{'vs baseline':>13}")
    print(f"{'baseline: tiffslide read_region in-process, 1 thread':52}{base:9.0f}{1:12.2f}x")
    for label, key in (
        ("tiffslide read + JPEG encode, 1 thread", "encode"),
        ("tiffslide read, 6 threads", "read6"),
    ):
        rate = count / median(in_process[key])
        print(f"{label:52}{rate:9.0f}{rate / base:12.2f}x")
    for n, label in (
        (0, "HTTP tiles, Chromium fetch(), server reads+encodes"),
        (1, "HTTP tiles, Chromium fetch(), server tile cache"),
    ):
        rate = count / (median([r["tiles"][n]["ms"] for r in rounds]) / 1000)
        print(f"{label:52}{rate:9.0f}{rate / base:12.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sizes", default="3328x4096,4096x5120", help="WIDTHxHEIGHT,...")
    parser.add_argument("--cpu", action="store_true", help="the viewer's CPU rendering (?cpu=1)")
    parser.add_argument(
        "--dist", type=Path, default=ROOT / "frontend" / "dist", help="the Vite build to serve"
    )
    parser.add_argument("--serve", type=Path, help=argparse.SUPPRESS)  # the server process
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.dist)
        return
    if not (args.dist / ".vite" / "manifest.json").exists():
        raise SystemExit(f"no Vite build in {args.dist}: run `npm run build` in frontend/")
    sizes = [tuple(int(v) for v in s.lower().split("x")) for s in args.sizes.split(",")]
    data_dir = Path(tempfile.mkdtemp(prefix="senolab-bench-viewer-"))
    try:
        started = time.monotonic()
        _e2e_server().isolate(data_dir)
        import django

        django.setup()
        from django.conf import settings

        data = prepare(sizes, Path(settings.SHARED_DATA_DIR), data_dir)
        print(f"[bench] data ready in {time.monotonic() - started:.0f} s", file=sys.stderr)
        tile_paths = []
        if data["slide"]:
            s = data["slide"]
            level = max(0, math.ceil(math.log2(max(s["width"], s["height"]))))
            tile_paths = [
                f"/api/slides/{s['id']}/tiles/{level}/{c}_{r}.jpeg"
                for c, r, _, _ in full_level_tiles(s["width"], s["height"])
            ]
        rounds, in_process = [], {"read": [], "encode": [], "read6": []}
        load_before = os.getloadavg()[0]
        for n in range(args.rounds):
            process, url = start_server(data_dir, args.dist)
            try:
                config = {
                    "url": url,
                    "cookie": data["cookie"],
                    "exams": data["exams"],
                    "tiles": tile_paths,
                    "cpu": args.cpu,
                    "chromium": CHROMIUM,
                }
                rounds.append(browser_round(config, data_dir))
            finally:
                stop_server(process)
            if data["slide"]:  # alternate with the browser rounds, on the same machine load
                tiles = full_level_tiles(data["slide"]["width"], data["slide"]["height"])
                in_process["read"].append(read_tiles_in_process(data["slide"]["path"], tiles))
                in_process["encode"].append(
                    read_tiles_in_process(data["slide"]["path"], tiles, encode=True)
                )
                in_process["read6"].append(
                    read_tiles_in_process(data["slide"]["path"], tiles, threads=6)
                )
            print(
                f"[bench] round {n + 1} done at {time.monotonic() - started:.0f} s", file=sys.stderr
            )
        data["load"] = [load_before, os.getloadavg()[0]]  # other work on the machine skews times
        (RESULTS / "viewer.json").write_text(
            json.dumps({"data": data, "rounds": rounds, "in_process": in_process}, indent=1)
        )
        report(data, rounds, in_process, args)
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
