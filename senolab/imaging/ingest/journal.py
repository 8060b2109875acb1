"""An intent journal so that a killed ingest leaves no file without its row.

`files_with_rows()` deletes an item's files when its block raises, but a process killed by
SIGKILL (or the OOM killer) between a file write and the commit runs no clean-up. So each item
first opens a journal file on local disk, holds an exclusive lock on it for as long as it
lives, and writes every storage key into it before saving that key. After the commit (or the
clean-up) the journal is removed. A journal whose lock can be taken belongs to a dead process:
`sweep_interrupted()` deletes its files unless their rows were committed, then the journal.
Workers sweep when they start (before they report ready, so before their lost jobs are marked
failed), and every batch sweeps before it begins.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from django.conf import settings
from django.db.models import Q

from senolab.imaging import storage

logger = logging.getLogger(__name__)

SUFFIX = ".keys"


def journal_dir() -> Path:
    path = Path(settings.SENOLAB_INGEST_JOURNAL_DIR)
    path.mkdir(parents=True, exist_ok=True)
    return path


class JournaledBatch(storage.FileBatch):
    """A FileBatch that records each key in the journal before the file is written."""

    def __init__(self, inner: storage.FileBatch, journal: IO[str]) -> None:
        super().__init__()
        self.inner, self.journal = inner, journal
        self.keys = inner.keys  # one list: files_with_rows cleans up what either saved

    def save(self, key: str, data: bytes | IO[bytes]) -> str:
        self.journal.write(key + "\n")
        self.journal.flush()  # in the page cache: survives the death of this process
        return self.inner.save(key, data)


@contextlib.contextmanager
def journaled_files_with_rows() -> Iterator[JournaledBatch]:
    """`storage.files_with_rows()` whose files a later sweep removes if this process dies."""
    folder = journal_dir()
    pending = folder / f"{os.getpid()}-{uuid.uuid4().hex}.tmp"
    with open(pending, "w") as journal:
        fcntl.flock(journal, fcntl.LOCK_EX)
        # Renamed once locked, so a sweep never takes a new journal for an abandoned one.
        final = pending.with_suffix(SUFFIX)
        os.replace(pending, final)
        try:
            with storage.files_with_rows() as batch:
                yield JournaledBatch(batch, journal)
        finally:
            final.unlink(missing_ok=True)


def _committed(keys: list[str]) -> bool:
    from senolab.imaging.models import Image

    return Image.objects.filter(Q(storage_key__in=keys) | Q(pixel_cache_key__in=keys)).exists()


def sweep_interrupted() -> int:
    """Remove the files of items whose process died before committing; return how many."""
    removed = 0
    for path in sorted(journal_dir().glob(f"*{SUFFIX}")):
        try:
            journal = open(path, "r+")  # noqa: SIM115 - closed below, after the lock test
        except FileNotFoundError:
            continue
        with journal:
            try:
                fcntl.flock(journal, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # its process is alive and still working on the item
            keys = [k for k in journal.read().split() if k.startswith("projects/")]
            if keys and not _committed(keys):
                for key in keys:
                    if storage.exists(key):
                        storage.delete_quietly(key)
                        removed += 1
            path.unlink(missing_ok=True)
    if removed:
        logger.warning("removed %d file(s) of ingest items interrupted before commit", removed)
    return removed
