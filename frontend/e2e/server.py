"""A throw-away Senolab for the browser tests: `python frontend/e2e/server.py`.

It makes a temporary data dir (SQLite database, media, secret key), migrates it, loads the
Demo project, adds three users who are members of it (the second one for the 409 test, the
third an annotator for the blind-reading test) and the
real slide CMU-1-Small-Region.svs from the shared data when that folder exists, then serves the
platform and the Vite build (frontend/dist, through WhiteNoise as in production) on 127.0.0.1
at a free port. When ready it prints one line that Playwright's webServer waits for:

    SENOLAB_E2E url=http://127.0.0.1:PORT svs=SLIDE_ID|none

Nothing outside the temporary folder is touched: DATABASE_URL, S3 and Redis settings of the
calling shell are dropped, Celery runs eagerly. The folder is removed on exit (SIGTERM/SIGINT).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
SVS = Path("wsi-samples") / "CMU-1-Small-Region.svs"
USER = os.environ.get("SENOLAB_E2E_USER", "e2e-reader")
OTHER = os.environ.get("SENOLAB_E2E_OTHER", "e2e-second")
# An annotator who reads blind when the owner turns the project's hide_reference on.
BLIND = os.environ.get("SENOLAB_E2E_BLIND", "e2e-blind")
# A throw-away database on 127.0.0.1 only: a fixed password is fine (and the tests need it).
ROUNDS_OWNER = "e2e-rounds"
ROUNDS_READER = "e2e-rounds-second"
PASSWORD = os.environ.get("SENOLAB_E2E_PASSWORD", "e2e-password-not-secret")
ISOLATED = (
    "DATABASE_URL",
    "REDIS_URL",
    "SENOLAB_S3_BUCKET",
    "SENOLAB_MEDIA_ROOT",
    "SENOLAB_ENV",
    "SENOLAB_HTTPS",
    "SENOLAB_MODEL_DIR",
)


def isolate(data_dir: Path) -> None:
    """Point the settings at the temporary folder before Django reads them."""
    for name in ISOLATED:
        os.environ.pop(name, None)
    os.environ["SENOLAB_DATA_DIR"] = str(data_dir)
    os.environ["SENOLAB_CELERY_EAGER"] = "1"
    # No Redis runs beside the browser tests: each server process keeps its own tiles.
    os.environ["SENOLAB_SHARED_TILE_CACHE"] = "0"
    os.environ["SENOLAB_DEBUG"] = "0"
    os.environ["DJANGO_SETTINGS_MODULE"] = "senolab.settings"
    sys.path.insert(0, str(ROOT))


def prepare(log: Any) -> str:
    """Migrate, load the Demo project, add the users and the real slide; the slide id or none."""
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    from datasets.demo import load_demo
    from senolab.projects.models import Membership, Role

    call_command("migrate", verbosity=0, interactive=False)
    users = get_user_model().objects
    reader = users.create_user(USER, password=PASSWORD)
    other = users.create_user(OTHER, password=PASSWORD)
    project = load_demo(owner=reader, log=log)
    Membership.objects.get_or_create(project=project, user=other, defaults={"role": Role.ANNOTATOR})
    blind = users.create_user(BLIND, password=PASSWORD)
    Membership.objects.create(project=project, user=blind, role=Role.ANNOTATOR)
    seed_proposals(project, reader, log)
    seed_rounds_project(
        users.create_user(ROUNDS_OWNER, password=PASSWORD),
        users.create_user(ROUNDS_READER, password=PASSWORD),
        log,
    )
    svs = Path(settings.SHARED_DATA_DIR) / SVS
    if not svs.exists():
        log(f"no {SVS} under SENOLAB_SHARED_DATA ({settings.SHARED_DATA_DIR}): slide test skips")
        return "none"
    from senolab.imaging.ingest.slides import ingest_slide

    slide = ingest_slide(project, svs, patient_key="E2E-SVS", exam_key="svs-1", user=reader)
    return str(slide.pk)


def seed_rounds_project(owner: Any, annotator: Any, log: Any) -> None:
    """A second project, "Rounds", with the Demo's mammography exams and nobody's reads: the
    active-learning spec's pool (the other specs read and assign the Demo's exams). Its two
    members are in no other project, so no other spec sees its exams."""
    from datasets import demo
    from senolab.projects.models import Membership, Project, Role

    project = Project.objects.create(name="Rounds", slug="rounds")
    Membership.objects.create(project=project, user=owner, role=Role.OWNER)
    Membership.objects.create(project=project, user=annotator, role=Role.ANNOTATOR)
    with tempfile.TemporaryDirectory(prefix="senolab-e2e-rounds-") as tmp:
        count = demo._load_mammograms(project, Path(tmp), owner, log)
    log(f"Rounds project: {count} mammography exams")


def seed_proposals(project: Any, owner: Any, log: Any) -> None:
    """An active lesion-centre detector for MG (the mias-localisation recipe, freshly initialised:
    no training here) and its real proposals, with their probability maps, on the second
    mammogram of the exam list (ml.spec predicts the first; exam.spec draws on the last)."""
    import hashlib

    import torch

    from ml.engine import api as engine
    from ml.engine.artifact import save_artifact
    from ml.models import ModelVersion, VersionStatus
    from ml.services import prediction
    from senolab.imaging import storage
    from senolab.imaging.models import Exam

    torch.manual_seed(0)  # the same untrained weights, so the same proposals, on every run
    recipe = engine.load_recipe("mias-localisation")
    model = engine.make_pipeline(recipe, "cpu").network()
    path = Path(tempfile.mkdtemp(prefix="senolab-e2e-model-")) / "model.pt"
    sha = save_artifact(path, model, recipe, temperature=1.0, threshold=None)
    data = path.read_bytes()
    assert hashlib.sha256(data).hexdigest() == sha
    key = storage.save(storage.new_key(project.pk, "models", "pt"), data)
    shutil.rmtree(path.parent, ignore_errors=True)
    ModelVersion.objects.create(
        project=project,
        task=recipe.task,
        label=recipe.label,
        modality="MG",
        recipe=recipe.name,
        recipe_config={"name": recipe.name},
        snapshot_hash="0" * 64,
        artifact_key=key,
        artifact_sha256=sha,
        artifact_size=len(data),
        status=VersionStatus.ACTIVE,
        trained_by=owner,
    )
    mammograms = [e for e in Exam.objects.filter(project=project) if "MG" in (e.modalities or [])]
    exam = mammograms[1]
    job = prediction.start_preannotation(project, [exam.pk], user=owner)
    job.refresh_from_db()
    log(f"proposals of {recipe.name} on exam {exam.pk}: {job.status} {job.message}")


def serve(port: int, ready: Any) -> None:
    """Django's threaded WSGI server with the production middleware (WhiteNoise for /static/)."""
    from django.conf import settings
    from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler
    from django.core.wsgi import get_wsgi_application

    # The build is served from the finders (frontend/dist), not from a collectstatic copy.
    settings.WHITENOISE_USE_FINDERS = True

    class QuietHandler(WSGIRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            if len(args) > 1 and str(args[1])[:1] in "45":  # keep failures in the test log
                super().log_message(format, *args)

    httpd = ThreadedWSGIServer(("127.0.0.1", port), QuietHandler, ipv6=False)
    httpd.daemon_threads = True
    httpd.set_app(get_wsgi_application())
    ready(f"http://127.0.0.1:{httpd.server_port}")
    httpd.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0, help="0: any free port")
    parser.add_argument("--keep", action="store_true", help="keep the data dir on exit")
    args = parser.parse_args()
    data_dir = Path(tempfile.mkdtemp(prefix="senolab-e2e-"))

    def stop(signum: int, frame: Any) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        isolate(data_dir)
        import django

        django.setup()
        started = time.monotonic()
        slide = prepare(lambda line: print(f"[e2e-server] {line}", file=sys.stderr))
        print(f"[e2e-server] data ready in {time.monotonic() - started:.1f} s", file=sys.stderr)
        serve(args.port, lambda url: print(f"SENOLAB_E2E url={url} svs={slide}", flush=True))
    finally:
        if not args.keep:
            shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
