"""Crash consistency: a worker running an ingest Job is SIGKILLed at random points, over
repeated trials. The files are real DICOM (a breast DCE-MRI series of the shared MIMBCD-UI
subset) when the shared data are present, else generated mammograms. After the restart no file
lacks its row and no row names a missing file, the Job is failed (or finished), and running the
ingest again completes without duplicates."""

from __future__ import annotations

import importlib.util
import random
import shutil
import time
from pathlib import Path

import pytest
from django.conf import settings

from senolab.imaging.models import Image
from senolab.jobs import services
from senolab.jobs.models import Job, JobStatus
from tests.factories import write_dicom
from tests.security.consistency import inconsistencies
from tests.security.crashtasks import ingest_job_task

FILES = 40
TRIALS = 3
pytestmark = [pytest.mark.integration, pytest.mark.slow]


def write_mammograms(folder, n: int) -> list:
    """n small but real MG DICOM files, three patients."""
    return [
        write_dicom(
            folder / f"{i:03d}.dcm",
            rows=256,
            columns=192,
            bits=12,
            laterality="LR"[i % 2],
            view=["CC", "MLO"][(i // 2) % 2],
            patient_id=f"CRASH{i % 3}",
            patient_name=f"Crash^{i % 3}",
            study_uid=f"1.2.826.0.1.3680043.10.543.9.{i // 4}",
            series_uid=f"1.2.826.0.1.3680043.10.543.9.{i // 4}.1",
            seed=i,
        )
        for i in range(n)
    ]


REAL_SERIES = "mimbcd/uta4"


def real_dicom(folder: Path, n: int) -> list[Path] | None:
    """n real DICOM files (MR slices of one real patient, explicit VR), copied; None without the
    shared data."""
    source = Path(settings.SHARED_DATA_DIR) / REAL_SERIES
    files = sorted(p for p in source.glob("*/IM*") if p.is_file())[:n]
    if len(files) < n:
        return None
    copies = []
    for i, path in enumerate(files):
        copies.append(Path(shutil.copyfile(path, folder / f"{i:03d}.dcm")))
    return copies


def ingest_worker(start_worker, name: str):
    """A real worker that also loads the ingest task: started by the integration fixture, then
    restarted with settings that import tests.security.crashtasks."""
    worker = start_worker(name)
    worker.stop()
    worker.env = worker.env | {
        "DJANGO_SETTINGS_MODULE": "tests.security.worker_settings",
        "SENOLAB_MEDIA_ROOT": str(settings.MEDIA_ROOT),  # this test's own media folder
    }
    return worker.start()


def kill_at(job_id, fraction: float, timeout: float = 60) -> None:
    """Return as soon as the job has ingested `fraction` of its files (or has ended), polling
    fast: the kill must land mid-ingest, not after it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = Job.objects.get(pk=job_id)
        if job.progress >= fraction or job.is_finished:
            return
        time.sleep(0.005)


def _ingest(project, folder):
    job = services.create_job("ingest", project=project, params={"paths": [str(folder)]})
    services.enqueue(job, ingest_job_task)
    return job


@pytest.mark.django_db(transaction=True)
def test_killed_ingest_leaves_no_orphans_fails_the_job_and_reruns_idempotently(
    tmp_path, make_user, make_project, start_worker, wait_for_job
):
    rng = random.Random(11)
    orphaned: dict[int, int] = {}
    outcomes: list[tuple[str, int, int]] = []
    for trial in range(TRIALS):
        # Given an ingest Job of real DICOM files running in a worker
        project = make_project(owner=make_user())
        folder = tmp_path / f"trial{trial}"
        folder.mkdir()
        if real_dicom(folder, FILES) is None:
            write_mammograms(folder, FILES)
        worker = ingest_worker(start_worker, f"crash{trial}@localhost")
        job = _ingest(project, folder)
        wait_for_job(job.pk, lambda j: j.status == JobStatus.RUNNING, what="running")
        # When the worker is SIGKILLed at a random point of the ingest, then restarted
        kill_at(job.pk, rng.uniform(0.1, 0.8))
        worker.kill()
        worker.start()
        job = wait_for_job(job.pk, lambda j: j.is_finished, timeout=60, what="finished")
        # Then the job is failed (or had finished), and storage and rows agree
        assert job.status in (JobStatus.FAILED, JobStatus.SUCCEEDED), job.status
        orphaned_now, dangling = inconsistencies(project.pk)
        assert dangling == set(), f"trial {trial}: rows name missing files {sorted(dangling)}"
        orphaned[trial] = len(orphaned_now)
        before = Image.objects.filter(project=project).count()
        # And ingesting again completes, with every file in once
        again = wait_for_job(
            _ingest(project, folder).pk, lambda j: j.is_finished, timeout=120, what="finished"
        )
        assert again.status == JobStatus.SUCCEEDED, (again.message, again.error)
        assert Image.objects.filter(project=project).count() == FILES
        assert again.result["duplicates"] == before
        assert inconsistencies(project.pk)[1] == set()
        worker.stop()
        outcomes.append((job.status, before, len(orphaned_now)))
    print(f"\ncrash trials (job status, images before the re-run, orphan files): {outcomes}")
    # At least one kill must have landed mid-ingest, or the trials proved nothing
    assert any(status == JobStatus.FAILED and 0 < n < FILES for status, n, _ in outcomes), outcomes
    if any(orphaned.values()):
        # A SIGKILL between a file's write and its row's commit leaves the file behind unless
        # something sweeps it when the worker restarts (the ingest's journal does).
        if importlib.util.find_spec("senolab.imaging.ingest.journal") is None:
            pytest.xfail(f"orphan files after SIGKILL per trial: {orphaned} (no sweep yet)")
        raise AssertionError(f"orphan files after SIGKILL and restart, per trial: {orphaned}")
