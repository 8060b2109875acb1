"""What a batch holds: the files under the given paths, zip archives expanded, side files
(label tables, notes, pictures) skipped. Items are labelled by position, never by name."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from senolab.imaging.ingest import dicomfile
from senolab.imaging.ingest.archives import ArchiveError, expand_archive, is_zip

# Files in a folder or archive that are never DICOM: skipped, not reported as failures.
SIDECAR_SUFFIXES = {
    ".csv",
    ".txt",
    ".md",
    ".json",
    ".xml",
    ".pdf",
    ".html",
    ".htm",
    ".xls",
    ".xlsx",
    ".ini",
    ".log",
    ".png",
    ".jpg",
    ".jpeg",
    ".tif",
    ".tiff",
    ".py",
}


@dataclass(frozen=True)
class Item:
    """One file to ingest and its label (position, never name)."""

    path: Path
    label: str
    explicit: bool  # named by the caller: a non-DICOM file is a failure, not a side file


@dataclass
class Collected:
    items: list[Item] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    skipped: int = 0


def _is_side_file(path: Path) -> bool:
    name = path.name
    return (
        name.startswith(".")
        or name.upper() == "DICOMDIR"
        or path.suffix.lower() in SIDECAR_SUFFIXES
    )


def _head(path: Path) -> bytes:
    try:
        with open(path, "rb") as fh:
            return fh.read(dicomfile.DICM_OFFSET + 4)
    except OSError:
        return b""


def _folder_files(folder: Path) -> Iterator[Path]:
    for root, dirs, files in os.walk(folder):  # symlinked folders are not followed
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d != "__MACOSX")
        for name in sorted(files):
            path = Path(root) / name
            if path.is_file() and not path.is_symlink():
                yield path


def collect_items(paths: list[Path], workdir: Path, labels: list[str] | None = None) -> Collected:
    """Every file to ingest under paths, archives expanded into workdir. Archives refused as
    a whole, and paths that name nothing, come back as failed items."""
    out = Collected()
    archives = itertools.count(1)

    def add(path: Path, label: str, explicit: bool) -> None:
        head = _head(path)
        if is_zip(head):
            try:
                members = expand_archive(path, workdir / f"archive-{next(archives)}")
            except ArchiveError as exc:
                out.failed.append((label, str(exc)))
                return
            for number, member in enumerate(members, start=1):
                out.items.append(Item(member, f"{label}, file {number}", False))
        elif not explicit and not dicomfile.looks_like_dicom(head) and _is_side_file(path):
            out.skipped += 1
        else:
            out.items.append(Item(path, label, explicit))

    for number, path in enumerate(paths, start=1):
        path = Path(path)
        name = labels[number - 1] if labels and len(labels) >= number else f"item {number}"
        if path.is_dir():
            for index, file in enumerate(_folder_files(path), start=1):
                add(file, f"{name}, file {index}", False)
        elif path.is_file():
            add(path, name, True)
        else:
            out.failed.append((name, "no file or folder at this path"))
    return out
