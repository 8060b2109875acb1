"""DICOM ingest throughput: images/s and MB/s against the floor any ingest pays.

Generates a batch of real-size 16-bit mammograms (default 4096 x 3328, 12 bits stored, the
detector size of common FFDM units, explicit VR little endian, about 27 MB each) with a
breast-shaped textured object and quantum noise, so that compression sees realistic entropy.
Then times, in alternating rounds on a throw-away SQLite database and media folder:

- baseline: read each file with pydicom (`dcmread`, every element parsed, pixels as a NumPy
  array) and copy the file into a folder: what any ingest must at least do;
- ingest: `ingest_paths` on the same files into a fresh project: parse, decode, de-identify,
  write the de-identified original, the zstd pixel cache with its downsampled levels, and
  the Patient/Exam/Series/Image rows, each image in its own transaction.

    nice .venv/bin/python bench/ingest.py                  # 8 images, 3 rounds
    nice .venv/bin/python bench/ingest.py --images 4 --rounds 2 --size 2294x1914
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ["SENOLAB_DATA_DIR"] = tempfile.mkdtemp(prefix="senolab-bench-ingest-")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "senolab.settings")
os.environ.pop("DATABASE_URL", None)
os.environ.pop("SENOLAB_MEDIA_ROOT", None)

import django  # noqa: E402

django.setup()

import numpy as np  # noqa: E402
from django.core.management import call_command  # noqa: E402

from bench.dicom_files import mammogram_pixels, write_mammogram  # noqa: E402


def write_batch(folder: Path, count: int, rows: int, cols: int) -> list[Path]:
    rng = np.random.default_rng(0)
    base = mammogram_pixels(rows, cols, rng)
    paths = []
    for n in range(count):
        noise = rng.integers(-8, 9, (rows, cols), dtype=np.int16)
        pixels = np.clip(base.astype(np.int32) + noise, 0, 4095).astype(np.uint16)
        study = f"1.2.826.0.1.3680043.10.543.77.{n // 4}"
        paths.append(
            write_mammogram(
                folder / f"{n:04d}.dcm",
                pixels,
                patient=f"BENCH{n // 4:04d}",
                study_uid=study,
                series_uid=f"{study}.1",
                laterality="RL"[n % 2],
                view=("CC", "MLO")[(n // 2) % 2],
                accession=f"ACC{n:06d}",
            )
        )
    return paths


def baseline(paths: list[Path], out: Path) -> float:
    import pydicom

    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    for n, path in enumerate(paths):
        ds = pydicom.dcmread(path)
        ds.pixel_array  # noqa: B018 - the decode is part of the floor
        shutil.copyfile(path, out / f"{n}.dcm")
    elapsed = time.perf_counter() - started
    shutil.rmtree(out)
    return elapsed


def ingest(paths: list[Path], round_number: int) -> float:
    from senolab.imaging.ingest.service import ingest_paths
    from senolab.projects.models import Project

    project = Project.objects.create(name=f"bench {round_number}", slug=f"bench-{round_number}")
    started = time.perf_counter()
    report = ingest_paths(project, paths)
    elapsed = time.perf_counter() - started
    if len(report.images) != len(paths):
        raise SystemExit(f"ingest failed: {report.failed[:3]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--size", default="4096x3328", help="ROWSxCOLUMNS")
    args = parser.parse_args()
    rows, cols = (int(v) for v in args.size.lower().split("x"))
    call_command("migrate", verbosity=0)
    with tempfile.TemporaryDirectory(prefix="senolab-bench-files-") as tmp:
        paths = write_batch(Path(tmp), args.images, rows, cols)
        megabytes = sum(p.stat().st_size for p in paths) / 1e6
        base_times, ingest_times = [], []
        for r in range(args.rounds):  # alternate, so both see the same load on shared CPUs
            base_times.append(baseline(paths, Path(tmp) / "copy"))
            ingest_times.append(ingest(paths, r))
    base, ing = statistics.median(base_times), statistics.median(ingest_times)
    n = len(paths)
    print(
        f"DICOM ingest, {n} mammograms {rows}x{cols} 16-bit ({megabytes:.0f} MB), "
        f"median of {args.rounds} rounds"
    )
    print(f"{'':34}{'images/s':>10}{'MB/s':>10}{'s/image':>10}")
    print(
        f"{'baseline (pydicom read + copy)':34}{n / base:10.2f}{megabytes / base:10.1f}"
        f"{base / n:10.3f}"
    )
    print(f"{'ingest (ingest_paths)':34}{n / ing:10.2f}{megabytes / ing:10.1f}{ing / n:10.3f}")
    print(
        f"ingest takes {ing / base:.1f}x the baseline's time "
        f"(ingest throughput = {base / ing:.0%} of the floor)"
    )


if __name__ == "__main__":
    main()
