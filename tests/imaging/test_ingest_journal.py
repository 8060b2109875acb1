"""The ingest journal: a process killed mid-item leaves files that the next sweep removes."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import textwrap

import pytest
from django.conf import settings
from django.db import connection

from senolab.imaging import storage
from senolab.imaging.ingest.journal import journal_dir, sweep_interrupted
from senolab.imaging.models import Image
from tests.factories.dicom import write_dicom
from tests.imaging.ingest_helpers import media, row_counts

pytestmark = pytest.mark.usefixtures("media")
__all__ = ["media"]


def abandoned_journal(keys: list[str]) -> None:
    (journal_dir() / "12345-abandoned.keys").write_text("".join(k + "\n" for k in keys))


@pytest.mark.django_db
def test_sweep_removes_files_of_an_item_whose_process_died_before_commit(project):
    keys = [storage.save(storage.new_key(project.pk, "images", "dcm"), b"orphan")]
    abandoned_journal(keys)
    assert sweep_interrupted() == 1
    assert not storage.exists(keys[0]) and not list(journal_dir().glob("*.keys"))


@pytest.mark.django_db
def test_sweep_keeps_files_whose_rows_were_committed(tmp_path, project):
    from senolab.imaging.ingest.service import ingest_dicom_file

    image = ingest_dicom_file(project, write_dicom(tmp_path / "a.dcm"))
    abandoned_journal([image.storage_key, image.pixel_cache_key])  # died after the commit
    assert sweep_interrupted() == 0
    assert storage.exists(image.storage_key) and storage.exists(image.pixel_cache_key)
    assert not list(journal_dir().glob("*.keys"))


@pytest.mark.django_db
def test_sweep_leaves_the_journal_of_a_live_process_alone(project):
    key = storage.save(storage.new_key(project.pk, "images", "dcm"), b"in progress")
    path = journal_dir() / "live.keys"
    path.write_text(key + "\n")
    with open(path) as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        assert sweep_interrupted() == 0
        assert storage.exists(key) and path.exists()
    assert sweep_interrupted() == 1


CHILD = textwrap.dedent("""
    import os, signal, sys
    import django
    django.setup()
    from senolab.imaging.ingest import service
    from senolab.projects.models import Project

    save_into = service._PendingFiles.save_into

    def die(self, batch):  # the original and the cache are written: now the power goes
        save_into(self, batch)
        os.kill(os.getpid(), signal.SIGKILL)

    service._PendingFiles.save_into = die
    service.ingest_dicom_file(Project.objects.get(pk=int(sys.argv[1])), sys.argv[2])
""")


@pytest.mark.django_db(transaction=True)
def test_process_killed_between_file_write_and_commit_leaves_nothing_after_the_sweep(
    tmp_path, project, media
):
    # given a process that is SIGKILLed after writing an item's original, before its commit
    path = write_dicom(tmp_path / "a.dcm", seed=5)
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.integration.worker_settings",
        "SENOLAB_TEST_DATABASE_NAME": str(connection.settings_dict["NAME"]),
        "SENOLAB_DATA_DIR": str(settings.DATA_DIR),
        "SENOLAB_MEDIA_ROOT": str(settings.MEDIA_ROOT),
    }
    child = subprocess.run(
        [sys.executable, "-c", CHILD, str(project.pk), str(path)],
        env=env,
        cwd=settings.BASE_DIR,
        capture_output=True,
        timeout=120,
    )
    assert child.returncode == -9, child.stderr.decode()[-2000:]
    left = [p for p in media.rglob("*") if p.is_file()]
    assert left, "the kill came before any file was written: nothing to test"
    # when the next batch (or a starting worker) sweeps
    sweep_interrupted()
    # then neither the file nor any row of the item is left
    assert not [p for p in media.rglob("*") if p.is_file()]
    assert row_counts(project) == (0, 0, 0, 0) and not Image.objects.exists()
