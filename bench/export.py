"""Dataset export speed and memory: COCO JSON and label CSVs, streamed vs whole-document.

    nice .venv/bin/python bench/export.py [--images 10000] [--findings 50000] [--masks 20]

Synthetic export: N images (2560 x 3328, as a full-field mammogram), findings spread over
them, alternately boxes and 12-point polygons, a few of them masks (64 x 64 pixels). Inputs
are generators, so what is measured is the writer, not the test data.
Timed (seconds) and measured (peak traced memory, tracemalloc, in a separate pass):
- exports.coco.write_coco streamed to a file, against building the same COCO dict (same
  per-mark bbox/segmentation/area) and writing json.dumps of the whole dict to a file;
- exports.tables.image_csv + exam_csv streamed to a file, against csv.writer over a list of
  all rows into one string written to a file.
Seconds are the best of three runs.
Both are also run at a fifth of the size: a streamed export's peak should stay flat.
"(inputs alone)" is the time to make the synthetic inputs, included in every other row.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from exports.coco import mark_annotation, write_coco  # noqa: E402
from exports.model import (  # noqa: E402
    ExportExam,
    ExportFinding,
    ExportImage,
    ExportMark,
    LabelMap,
)
from exports.tables import DEFAULT_LABELS, EXAM_COLUMNS, exam_csv, image_csv  # noqa: E402

WIDTH, HEIGHT = 2560, 3328
TYPES = ("mass", "calcification", "asymmetry", "architectural_distortion")
LABEL_MAP = LabelMap.of(TYPES)
MASK = np.pad(np.ones((48, 48), np.uint8), 8)


def images(n: int) -> Iterator[ExportImage]:
    for i in range(n):
        yield ExportImage(
            key=str(i),
            width=WIDTH,
            height=HEIGHT,
            file_name=f"images/{i}.png",
            modality="MG",
            laterality="LR"[i % 2],
            view=("CC", "MLO")[(i // 2) % 2],
            patient=f"P{i // 4}",
            exam=str(i // 4),
            split=("train", "train", "validation", "test")[(i // 4) % 4],
            labels={"birads": str(i % 6), "pathology": ("normal", "benign", "malignant")[i % 3]},
        )


def findings(n: int, n_images: int, masks: int) -> Iterator[ExportFinding]:
    rng = np.random.default_rng(0)
    mask_every = max(n // masks, 1) if masks else 0
    angles = np.linspace(0, 2 * math.pi, 12, endpoint=False)
    for i in range(n):
        x, y = float(rng.uniform(100, WIDTH - 200)), float(rng.uniform(100, HEIGHT - 200))
        if mask_every and i % mask_every == 0:
            mark = ExportMark("mask", {"x": int(x), "y": int(y), "width": 64, "height": 64}, MASK)
        elif i % 2:
            mark = ExportMark("box", {"x": x, "y": y, "width": 80.0, "height": 60.0})
        else:
            r = rng.uniform(20, 60, 12)
            points = np.stack([x + r * np.cos(angles), y + r * np.sin(angles)], 1).tolist()
            mark = ExportMark("polygon", {"points": points})
        yield ExportFinding(
            key=str(i),
            image_key=str(i % n_images),
            finding_type=TYPES[i % len(TYPES)],
            birads="4A",
            pathology="benign",
            marks=(mark,),
        )


def exams(n: int) -> Iterator[ExportExam]:
    for i in range(n):
        yield ExportExam(
            key=str(i),
            patient=f"P{i}",
            site="north",
            split="train",
            labels={
                "birads": "2",
                "density": "B",
                "pathology": "benign",
                "finding_types": ["mass"],
            },
            clinical={"age_at_exam": 50 + i % 30},
        )


# --- the baselines: the whole document in memory, then one json.dumps / csv pass -------------


def coco_whole(n_images: int, n_findings: int, masks: int, path: Path) -> None:
    ids: dict[str, tuple[int, int, int]] = {}
    image_records = []
    for image in images(n_images):
        ids[image.key] = (len(ids) + 1, image.width, image.height)
        image_records.append(
            {"id": ids[image.key][0], "file_name": image.file_name, "width": image.width,
             "height": image.height, "senolab_key": image.key, "modality": image.modality,
             "laterality": image.laterality, "view": image.view, "split": image.split,
             "patient": image.patient, "exam": image.exam}
        )  # fmt: skip
    annotations = []
    for finding in findings(n_findings, n_images, masks):
        image_id, width, height = ids[finding.image_key]
        for mark in finding.marks:
            annotations.append(
                {"id": len(annotations) + 1, "image_id": image_id,
                 "category_id": LABEL_MAP.value(finding.finding_type),
                 **mark_annotation(mark, width, height), "iscrowd": 0,
                 "senolab_finding": finding.key, "birads": finding.birads,
                 "pathology": finding.pathology,
                 **({} if mark.kind == "mask" else
                    {"senolab_mark": {"kind": mark.kind, "geometry": dict(mark.geometry)}})}
            )  # fmt: skip
    categories = [{"id": i + 1, "name": n, "supercategory": "finding"} for i, n in enumerate(TYPES)]
    document = {"info": {}, "licenses": [], "categories": categories, "images": image_records,
                "annotations": annotations}  # fmt: skip
    path.write_text(json.dumps(document, separators=(",", ":")))


def csv_whole(n_images: int, path: Path) -> None:
    rows = [
        [im.key, im.file_name, im.exam, im.patient, im.site, im.split, im.modality,
         im.laterality, im.view, *(im.labels.get(k, "") for k in DEFAULT_LABELS)]
        for im in images(n_images)
    ]  # fmt: skip
    exam_rows = [
        [e.key, e.patient, e.site, e.split, *(e.labels.get(k, "") for k in DEFAULT_LABELS)]
        for e in exams(n_images // 4)
    ]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerows(rows)
    writer.writerows([[*EXAM_COLUMNS, *DEFAULT_LABELS], *exam_rows])
    path.write_text(out.getvalue())


# --- the streamed writers, drained into a file ------------------------------------------------


def coco_streamed(n_images: int, n_findings: int, masks: int, path: Path) -> None:
    with path.open("w") as fh:
        for chunk in write_coco(images(n_images), findings(n_findings, n_images, masks), LABEL_MAP):
            fh.write(chunk)


def csv_streamed(n_images: int, path: Path) -> None:
    with path.open("w") as fh:
        for chunk in image_csv(images(n_images)):
            fh.write(chunk)
        for chunk in exam_csv(exams(n_images // 4)):
            fh.write(chunk)


def inputs_alone(n_images: int, n_findings: int, masks: int) -> None:
    """Making the synthetic inputs, which every timed row above includes."""
    for _ in images(n_images):
        pass
    for _ in findings(n_findings, n_images, masks):
        pass
    for _ in exams(n_images // 4):
        pass


def measure(run: Callable[[], object], repeats: int = 3) -> tuple[float, float]:
    """(seconds, peak MiB): the best of `repeats` timed runs (the machine is shared), then
    traced in a separate pass."""
    seconds = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        seconds = min(seconds, time.perf_counter() - start)
    tracemalloc.start()
    run()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return seconds, peak / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=10_000)
    parser.add_argument("--findings", type=int, default=50_000)
    parser.add_argument("--masks", type=int, default=20)
    args = parser.parse_args()
    out = Path(tempfile.mkdtemp(prefix="bench-export-"))
    print(f"{args.images} images, {args.findings} findings ({args.masks} masks)")
    print(f"{'what':<28}{'size':>8}{'seconds':>10}{'peak MiB':>10}")
    results = {}
    for scale in (5, 1):
        n_img, n_find, n_mask = args.images // scale, args.findings // scale, args.masks // scale
        rows = {
            "COCO streamed": partial(coco_streamed, n_img, n_find, n_mask, out / "coco.json"),
            "COCO json.dumps(dict)": partial(coco_whole, n_img, n_find, n_mask, out / "whole.json"),
            "CSV streamed": partial(csv_streamed, n_img, out / "labels.csv"),
            "CSV csv over a list": partial(csv_whole, n_img, out / "whole.csv"),
            "(inputs alone)": partial(inputs_alone, n_img, n_find, n_mask),
        }
        label = f"1/{scale}" if scale > 1 else "full"
        for name, run in rows.items():
            seconds, peak = measure(run)
            results[(name, scale)] = (seconds, peak)
            print(f"{name:<28}{label:>8}{seconds:>10.2f}{peak:>10.1f}")
    size = (out / "coco.json").stat().st_size / 2**20
    print(f"COCO file: {size:.1f} MiB")
    for fmt, base in (("COCO", "COCO json.dumps(dict)"), ("CSV", "CSV csv over a list")):
        s_sec, s_mem = results[(f"{fmt} streamed", 1)]
        b_sec, b_mem = results[(base, 1)]
        small_mem = results[(f"{fmt} streamed", 5)][1]
        print(
            f"{fmt}: time streamed/baseline {s_sec / b_sec:.2f}, "
            f"peak memory streamed/baseline {s_mem / b_mem:.3f}, "
            f"streamed peak full/fifth {s_mem / small_mem:.2f}"
        )
    for path in out.iterdir():
        path.unlink()
    out.rmdir()


if __name__ == "__main__":
    main()
