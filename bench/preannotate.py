"""Pre-annotation: the Job end to end against the bare model forward, and one mammogram from the
click to its proposals.

End to end = what a pre-annotation Job does (ml.services.prediction.run_prediction, through
run_job): load the active version's artifact, build the cases from the database, read each
image from the pixel cache and preprocess it, forward in batches, post-process, store one
exam-level and one per-image Prediction with its map PNG, batch by batch, with progress on the
Job row. Bare = the same model's forward over the same images already prepared (the engine's
precision and memory format, the engine's inference batch size).
Click to proposals = POST /api/exams/{id}/preannotate/ (Celery eager: the Job runs inside the
request, as on a worker with nothing queued) + GET /api/exams/{id}/proposals/ + every map PNG
the viewer fetches, for one four-view mammogram; the browser's drawing is not included.
Goals (issue 17): end-to-end images/s >= 0.85 x bare; click to proposals <= 1 s on CPU.
The model is a real recipe's network freshly initialised (weights do not change the cost).

    .venv/bin/python bench/preannotate.py
    .venv/bin/python bench/preannotate.py --recipe mias-density --exams 8 --rows 2048 --cols 1664
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ["SENOLAB_DATA_DIR"] = tempfile.mkdtemp(prefix="senolab-bench-preannotate-")
os.environ["DJANGO_SETTINGS_MODULE"] = "senolab.settings"
os.environ["SENOLAB_CELERY_EAGER"] = "1"
for name in ("DATABASE_URL", "SENOLAB_MEDIA_ROOT", "REDIS_URL", "SENOLAB_S3_BUCKET"):
    os.environ.pop(name, None)

import django  # noqa: E402

django.setup()

import numpy as np  # noqa: E402
import torch  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.test import Client  # noqa: E402

from bench.dicom_files import mammogram_pixels  # noqa: E402
from bench.engine_common import sync  # noqa: E402
from bench.infer import bare_forward  # noqa: E402
from ml.engine import api  # noqa: E402
from ml.engine.artifact import save_artifact  # noqa: E402
from ml.models import ModelVersion, Prediction, VersionStatus  # noqa: E402
from ml.services import prediction  # noqa: E402
from ml.services.snapshots import build_manifest, cases_from_manifest  # noqa: E402
from senolab.imaging import storage  # noqa: E402
from senolab.imaging.ingest.raster import ingest_raster  # noqa: E402
from senolab.imaging.models import Exam, Image  # noqa: E402
from senolab.jobs.models import Job  # noqa: E402
from senolab.projects.models import Membership, Project, Role  # noqa: E402


def make_project(exams: int, rows: int, cols: int):
    owner = get_user_model().objects.create_user("bench-owner", password="bench-not-secret")
    project = Project.objects.create(name="Bench pre-annotation", slug="bench-preannotate")
    Membership.objects.create(project=project, user=owner, role=Role.OWNER)
    rng = np.random.default_rng(0)
    base = mammogram_pixels(rows, cols, rng)
    for e in range(exams):
        for side in ("R", "L"):
            for view in ("CC", "MLO"):
                noise = rng.integers(0, 40, base.shape, dtype=np.uint16)
                pixels = np.clip(base + noise, 0, 4095).astype(np.uint16)
                ingest_raster(
                    project,
                    pixels[:, ::-1] if side == "R" else pixels,
                    patient_key=f"P{e:04d}",
                    exam_key=f"E{e:04d}",
                    modality="MG",
                    laterality=side,
                    view=view,
                )
    return project, owner


def make_version(project, owner, recipe_name: str, device: str):
    recipe = api.load_recipe(recipe_name)
    model = api.make_pipeline(recipe, device).network()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.pt"
        sha = save_artifact(path, model, recipe, temperature=1.0, threshold=None)
        data = path.read_bytes()
    key = storage.save(storage.new_key(project.pk, "models", "pt"), data)
    return ModelVersion.objects.create(
        project=project,
        task=recipe.task,
        label=recipe.label,
        modality="MG",
        recipe=recipe.name,
        snapshot_hash="0" * 64,
        artifact_key=key,
        artifact_sha256=sha,
        artifact_size=len(data),
        status=VersionStatus.ACTIVE,
        trained_by=owner,
    )


def end_to_end(project, owner) -> tuple[float, int]:
    """Seconds of one pre-annotation Job of the whole project, and the images it read."""
    Prediction.objects.all().delete()
    t0 = time.perf_counter()
    job = prediction.start_preannotation(project, user=owner)
    seconds = time.perf_counter() - t0
    job = Job.objects.get(pk=job.pk)
    assert job.status == "succeeded", job.message
    images = Prediction.objects.filter(job=job, image__isnull=False).count()
    return seconds, images


def bare(version, project, device: torch.device, repeats: int) -> tuple[float, int]:
    """Best seconds of the model's forward over the same images, prepared beforehand."""
    predictor = api.Predictor(
        storage.default_storage.path(version.artifact_key), device=str(device)
    )
    manifest, _ = build_manifest(project, "any", list(Exam.objects.values_list("pk", flat=True)))
    cases = cases_from_manifest(manifest)
    cache = predictor.pipe.cache(cases, labelled_only=False)
    batch = max(predictor.recipe.batch_size * 2, 1)
    seconds = bare_forward(
        predictor.model, cache.images, batch, predictor.pipe.dtype, True, device, repeats
    )
    return seconds, len(cache)


def click_to_proposals(exam: Exam, owner) -> float:
    """POST preannotate, GET the proposals and every map PNG of one exam: seconds."""
    Prediction.objects.filter(exam=exam).delete()
    client = Client(HTTP_HOST="localhost")
    client.force_login(owner)
    t0 = time.perf_counter()
    started = client.post(f"/api/exams/{exam.pk}/preannotate/")
    assert started.status_code == 202, started.content
    proposals = client.get(f"/api/exams/{exam.pk}/proposals/").json()
    for p in proposals:
        for url in (p.get("heatmap_url"), p.get("mask_url")):
            if url:
                assert client.get(url).status_code == 200
    seconds = time.perf_counter() - t0
    assert any(p["image"] is not None for p in proposals), "no proposals came back"
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", default="mias-localisation")
    parser.add_argument("--exams", type=int, default=16, help="four-view mammograms")
    parser.add_argument("--rows", type=int, default=1024)
    parser.add_argument("--cols", type=int, default=832)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    device = torch.device(args.device)
    call_command("migrate", verbosity=0)
    t0 = time.perf_counter()
    project, owner = make_project(args.exams, args.rows, args.cols)
    print(f"{args.exams * 4} images ingested in {time.perf_counter() - t0:.1f} s", flush=True)
    version = make_version(project, owner, args.recipe, args.device)
    os.environ["SENOLAB_TRAIN_DEVICE"] = args.device

    end_to_end(project, owner)  # warm-up: kernels, first imports
    e2e_runs, bare_runs, images, prepared = [], [], 0, 0
    for _ in range(args.rounds):  # alternate, so load drifts hit both
        seconds, images = end_to_end(project, owner)
        e2e_runs.append(seconds)
        seconds, prepared = bare(version, project, device, 1)
        bare_runs.append(seconds)
        sync(device)
    exam = Exam.objects.order_by("pk").first()
    assert exam is not None
    click_to_proposals(exam, owner)  # warm-up
    clicks = [click_to_proposals(exam, owner) for _ in range(max(args.rounds, 3))]

    e2e_s, bare_s = statistics.median(e2e_runs), statistics.median(bare_runs)
    result = {
        "device": str(device),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "recipe": args.recipe,
        "images": images,
        "prepared_images": prepared,
        "image_size": [args.rows, args.cols],
        "end_to_end_s": round(e2e_s, 3),
        "end_to_end_images_per_s": round(images / e2e_s, 2),
        "bare_forward_s": round(bare_s, 3),
        "bare_images_per_s": round(prepared / bare_s, 2),
        "ratio": round((images / e2e_s) / (prepared / bare_s), 3),
        "click_to_proposals_s": round(statistics.median(clicks), 3),
        "click_runs_s": [round(c, 3) for c in clicks],
        "images_per_exam": Image.objects.filter(exam=exam).count(),
    }
    print(json.dumps(result, indent=2))
    print(
        f"pre-annotation Job {result['end_to_end_images_per_s']} images/s, bare forward "
        f"{result['bare_images_per_s']} images/s: ratio {result['ratio']} (goal >= 0.85); "
        f"one mammogram click to proposals {result['click_to_proposals_s']} s (goal <= 1 s)"
    )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
