"""Files in media storage: generated keys, atomic writes, and clean-up when a row is not written.

Keys never contain anything the client chose: `projects/<project id>/<kind>/<uuid>.<suffix>`.
Every file a project stores lives under its prefix (originals, pixel caches, slides, masks, model
artifacts, heatmaps), so deleting a project's files is deleting that prefix, once the rows that
point at them are gone for good (`delete_project_files`).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import logging
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from django.core.files.base import ContentFile, File
from django.core.files.storage import default_storage
from django.db import transaction

logger = logging.getLogger(__name__)


def project_prefix(project_id: int) -> str:
    """The folder of every stored file of one project."""
    return f"projects/{int(project_id)}"


def new_key(project_id: int, kind: str, suffix: str) -> str:
    suffix = suffix.lstrip(".").lower()
    if not suffix.isalnum():
        raise ValueError(f"bad storage suffix {suffix!r}")
    return f"{project_prefix(project_id)}/{kind}/{uuid.uuid4().hex}.{suffix}"


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_of_file(path: str | Path) -> str:
    """Of a file's bytes, read in chunks (a slide or a model artifact does not fit in memory)."""
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def save(key: str, data: bytes | IO[bytes]) -> str:
    """Write data under key. FileSystemStorage writes to a temporary file and renames it into
    place, and S3 uploads are all-or-nothing, so a reader never sees half a file."""
    content = ContentFile(data) if isinstance(data, bytes) else File(data)
    saved = default_storage.save(key, content)
    if saved != key:  # never happens with uuid keys; guard anyway so rows point at real files
        default_storage.delete(saved)
        raise FileExistsError(f"storage key already taken: {key}")
    return key


def open_file(key: str, mode: str = "rb") -> IO[bytes]:
    return default_storage.open(key, mode)


def read(key: str) -> bytes:
    with default_storage.open(key, "rb") as fh:
        return fh.read()


def delete_quietly(key: str) -> None:
    try:
        default_storage.delete(key)
    except Exception:  # noqa: BLE001 - clean-up must not hide the original error
        logger.warning("could not delete storage key %s", key)


def exists(key: str) -> bool:
    return default_storage.exists(key)


class FileBatch:
    """Files written for rows that are not committed yet (see `files_with_rows`)."""

    def __init__(self) -> None:
        self.keys: list[str] = []

    def save(self, key: str, data: bytes | IO[bytes]) -> str:
        self.keys.append(save(key, data))
        return key


@contextlib.contextmanager
def files_with_rows() -> Iterator[FileBatch]:
    """One item's files and rows, stored together or not at all.

    Opens a transaction; every file saved through the batch is deleted again if the block
    raises, so a rejected item leaves neither rows nor files. Use it as the outermost
    transaction of the item. A process killed between a file write and the commit can still
    leave a file without a row (no sweeper exists yet for such files).
    """
    batch = FileBatch()
    try:
        with transaction.atomic():
            yield batch
    except BaseException:
        for key in batch.keys:
            delete_quietly(key)
        raise


def delete_tree(prefix: str) -> None:
    """Delete every file under prefix and, on a local file system, the folders too."""

    def walk(folder: str) -> None:
        try:
            dirs, files = default_storage.listdir(folder)
        except (FileNotFoundError, NotImplementedError):
            return
        for name in files:
            delete_quietly(f"{folder}/{name}")
        for name in dirs:
            walk(f"{folder}/{name}")

    walk(prefix)
    try:
        shutil.rmtree(default_storage.path(prefix), ignore_errors=True)
    except NotImplementedError:  # remote storage has no folders to remove
        pass


def delete_project_files(project_id: int) -> None:
    """Delete all stored files of a project once the current transaction commits.

    Call it in the transaction that deletes the project's rows: if that transaction rolls back
    (a protected row refuses the deletion), nothing is deleted and every row still finds its
    files; outside a transaction the files go at once. A process killed between the commit and
    the deletion leaves the folder of a project that no longer exists (nothing sweeps it yet).
    """
    transaction.on_commit(functools.partial(delete_tree, project_prefix(project_id)), robust=True)
