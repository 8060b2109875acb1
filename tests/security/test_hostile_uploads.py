"""Hostile uploads through the upload endpoint: each is answered with a 4xx and a message a
person understands (or, where only the ingest job can tell, a failed item with that message),
nothing is stored, and the process's peak memory stays far below what the upload declares:
measured twice, as the Python heap's peak (tracemalloc) and as the growth of the process's
resident set (sampled every 2 ms, so native buffers of zlib and the decoders count too)."""

from __future__ import annotations

import json
import threading
import tracemalloc
from pathlib import Path

import psutil
import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings
from rest_framework.test import APIClient

from senolab.imaging.models import Exam, Image, Patient, Series
from senolab.jobs.models import Job
from tests.security.hostile import hostile_uploads
from tests.security.matrix import fill_path
from tests.security.operations import api_operations
from tests.security.seed import Seeded

BOMB_BYTES = 64 << 20
EXPANDED_LIMIT = 16 << 20
PEAK_BOUND = 48 << 20  # bytes of Python heap, measured by tracemalloc
RSS_BOUND = 96 << 20  # growth of the resident set over the request, sampled


class RssPeak:
    """The peak growth of this process's resident set while the block runs."""

    def __init__(self, interval: float = 0.002) -> None:
        self.interval = interval
        self.process = psutil.Process()
        self.growth = 0
        self._stop = threading.Event()

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.growth = max(self.growth, self.process.memory_info().rss - self.start)
            self._stop.wait(self.interval)

    def __enter__(self) -> RssPeak:
        self.start = self.process.memory_info().rss
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.growth = max(self.growth, self.process.memory_info().rss - self.start)


def upload_operations():
    return [op for op in api_operations() if op.method == "POST" and "upload" in op.template]


def test_an_upload_endpoint_exists():
    # A missing upload endpoint fails here instead of skipping the hostile-upload tests.
    assert upload_operations()


def stored_state(project) -> tuple:
    media = Path(settings.MEDIA_ROOT) / "projects" / str(project.pk)
    files = sorted(str(p) for p in media.rglob("*") if p.is_file()) if media.exists() else []
    counts = tuple(
        m.objects.filter(project=project).count() for m in (Patient, Exam, Series, Image)
    )
    return counts, files


@pytest.mark.django_db
@override_settings(SENOLAB_MAX_ARCHIVE_EXPANDED_BYTES=EXPANDED_LIMIT)
@pytest.mark.parametrize("hostile", hostile_uploads(BOMB_BYTES), ids=lambda h: h.name)
def test_hostile_upload_is_refused_with_a_message_stores_nothing_and_bounds_memory(
    hostile, make_user, make_project, django_capture_on_commit_callbacks
):
    # Given an annotator of a project
    user = make_user()
    project = make_project(owner=make_user(), annotator=user)
    client = APIClient()
    client.force_authenticate(user)
    op = upload_operations()[0]
    path, _ = fill_path(op, Seeded(project, "UP", {type(project): project}))
    before = stored_state(project)
    # When the hostile file is uploaded (and any ingest job it starts runs)
    tracemalloc.start()
    with RssPeak() as rss, django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            path,
            {
                "project": project.pk,
                "file": SimpleUploadedFile(hostile.filename, hostile.data, hostile.content_type),
            },
            format="multipart",
        )
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    # Then it is refused with a message, now or by the job it started
    if response.status_code < 400:
        job = Job.objects.filter(project=project).order_by("-created_at").first()
        assert job is not None, f"{hostile.name}: accepted with {response.status_code}, no job"
        failed = job.result.get("failed") if isinstance(job.result, dict) else None
        assert job.status == "failed" or failed, (hostile.name, job.status, job.result)
        message = job.error or json.dumps(failed)
    else:
        assert 400 <= response.status_code < 500, response.status_code
        message = response.json()["error"]["message"]
    assert len(message) > 10, f"{hostile.name}: no message a person understands: {message!r}"
    # And nothing is stored, and memory stayed bounded
    assert stored_state(project) == before
    assert peak < PEAK_BOUND, f"{hostile.name}: peak {peak / 2**20:.1f} MiB"
    assert rss.growth < RSS_BOUND, f"{hostile.name}: resident set grew {rss.growth / 2**20:.1f} MiB"
    assert not Path("/tmp/senolab-escape.dcm").exists()
    print(
        f"\n{hostile.name}: {response.status_code}, heap peak {peak / 2**20:.1f} MiB, resident"
        f" set +{rss.growth / 2**20:.1f} MiB: {message}"
    )
