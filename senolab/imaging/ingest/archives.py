"""Zip archives, opened as if hostile: checked whole before a byte is expanded, then expanded
under generated names into a private folder.

Refused (the whole archive, with a message): a member whose name is absolute, climbs out with
'..', is a symbolic link or a device, or is not UTF-8 text; more members than allowed; archives
nested deeper than allowed; a declared expanded size past the limit (nested archives count
with everything inside them) or a member compressed past the plausible ratio (a zip bomb).
zipfile stops every member at its declared size and checks its CRC, so the declared sizes
checked here bound what expansion writes; expansion counts the bytes anyway.
"""

from __future__ import annotations

import shutil
import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO

from django.conf import settings

from senolab.imaging.ingest import IngestError

ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
CHUNK = 1 << 20
UTF8_FLAG = 0x800
# A member smaller than this may compress at any ratio (tiny files of zeros are harmless).
RATIO_FLOOR_BYTES = 1 << 20


class ArchiveError(IngestError):
    """The archive is refused as a whole; too_large marks a size limit (HTTP 413)."""


@dataclass(frozen=True)
class ArchiveLimits:
    max_expanded_bytes: int
    max_members: int
    max_ratio: int
    max_depth: int

    @classmethod
    def from_settings(cls) -> ArchiveLimits:
        return cls(
            max_expanded_bytes=int(settings.SENOLAB_MAX_ARCHIVE_EXPANDED_BYTES),
            max_members=int(settings.SENOLAB_MAX_ARCHIVE_MEMBERS),
            max_ratio=int(settings.SENOLAB_MAX_ARCHIVE_RATIO),
            max_depth=int(settings.SENOLAB_MAX_ARCHIVE_DEPTH),
        )


def is_zip(head: bytes) -> bool:
    return head[:4] in ZIP_MAGIC


def is_archive_name(name: str) -> bool:
    return name.lower().endswith(".zip")


def _member_name(info: zipfile.ZipInfo) -> str:
    """The member's name after the UTF-8 check; never shown to anyone (it may name a patient)."""
    if not info.flag_bits & UTF8_FLAG:
        # zipfile decoded the raw bytes as cp437; they must have been ASCII or UTF-8.
        raw = info.orig_filename.encode("cp437")
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ArchiveError(
                "the archive has a member whose name is not UTF-8 text; "
                "re-create it with UTF-8 file names"
            ) from None
    return info.filename


def _check_member(info: zipfile.ZipInfo, limits: ArchiveLimits) -> None:
    name = _member_name(info)
    normal = name.replace("\\", "/")
    if normal.startswith("/") or normal[1:2] == ":" or ".." in PurePosixPath(normal).parts:
        raise ArchiveError(
            "the archive has a member with an absolute path or a path that "
            "climbs out of the archive ('..'); nothing was extracted"
        )
    mode = info.external_attr >> 16
    # Unix-made archives carry the file type in the high bits; many writers leave it 0.
    if (
        info.create_system == 3
        and stat.S_IFMT(mode)
        and not (stat.S_ISREG(mode) or stat.S_ISDIR(mode))
    ):
        kind = "a symbolic link" if stat.S_ISLNK(mode) else "a special file"
        raise ArchiveError(
            f"the archive has a member that is {kind}; only regular files are accepted"
        )
    if info.flag_bits & 0x1:
        raise ArchiveError("the archive has an encrypted member; upload it unencrypted")
    if info.file_size > RATIO_FLOOR_BYTES and info.file_size > limits.max_ratio * max(
        info.compress_size, 1
    ):
        raise ArchiveError(
            f"the archive has a member compressed more than {limits.max_ratio}:1, which "
            "looks like a zip bomb; it was refused",
            too_large=True,
        )


def _members(zf: zipfile.ZipFile) -> list[zipfile.ZipInfo]:
    return [i for i in zf.infolist() if not i.is_dir()]


def inspect_archive(source: str | Path | IO[bytes], limits: ArchiveLimits | None = None) -> int:
    """Check the whole archive (nested ones included); return its declared expanded bytes."""
    limits = limits or ArchiveLimits.from_settings()
    budget = [limits.max_expanded_bytes, limits.max_members]
    return _inspect(source, limits, depth=1, budget=budget)


def _open(source: str | Path | IO[bytes]) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(source)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError):
        raise ArchiveError("the zip archive is damaged or incomplete and cannot be read") from None


def _inspect(
    source: str | Path | IO[bytes], limits: ArchiveLimits, *, depth: int, budget: list[int]
) -> int:
    total = 0
    with _open(source) as zf:
        members = _members(zf)
        for info in members:
            _check_member(info, limits)
            budget[1] -= 1
            if budget[1] < 0:
                raise ArchiveError(
                    f"the archive holds more than {limits.max_members} files", too_large=True
                )
            budget[0] -= info.file_size
            total += info.file_size
            if budget[0] < 0:
                raise ArchiveError(
                    f"the archive would expand past the limit of "
                    f"{_size(limits.max_expanded_bytes)}",
                    too_large=True,
                )
        for info in members:
            if not is_archive_name(info.filename):
                continue
            if depth >= limits.max_depth:
                raise ArchiveError(
                    f"archives are nested more than {limits.max_depth} deep inside each other",
                    too_large=True,
                )
            try:
                with zf.open(info) as inner:
                    total += _inspect(inner, limits, depth=depth + 1, budget=budget)
            except (zipfile.BadZipFile, OSError, EOFError):
                raise ArchiveError("an archive inside the archive is damaged") from None
    return total


def _size(n: int) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return str(n)


def expand_archive(
    source: str | Path, dest: Path, limits: ArchiveLimits | None = None
) -> list[Path]:
    """Check, then expand every member (nested archives too) into dest under generated names
    (`000001.dcm`, `000002/000001.dcm`, ...): no name from the archive reaches the disk."""
    limits = limits or ArchiveLimits.from_settings()
    inspect_archive(source, limits)
    written = [limits.max_expanded_bytes]
    return _expand(source, Path(dest), limits, written)


def _expand(
    source: str | Path | IO[bytes], dest: Path, limits: ArchiveLimits, written: list[int]
) -> list[Path]:
    dest.mkdir(parents=True, exist_ok=True)
    files: list[Path] = []
    with _open(source) as zf:
        for number, info in enumerate(_members(zf), start=1):
            if _skipped_name(info.filename):
                continue
            if is_archive_name(info.filename):
                with zf.open(info) as inner:
                    files.extend(_expand(inner, dest / f"{number:06d}", limits, written))
                continue
            target = dest / f"{number:06d}.dcm"
            try:
                with zf.open(info) as src, open(target, "xb") as out:
                    while chunk := src.read(CHUNK):
                        written[0] -= len(chunk)
                        if written[0] < 0:
                            raise ArchiveError(
                                "the archive expands past its declared size", too_large=True
                            )
                        out.write(chunk)
            except (zipfile.BadZipFile, EOFError, OSError) as exc:
                if isinstance(exc, zipfile.BadZipFile | EOFError):
                    raise ArchiveError(
                        "a member of the archive is damaged (bad CRC or truncated data)"
                    ) from None
                raise
            files.append(target)
    return files


def _skipped_name(name: str) -> bool:
    """Archive clutter that is never an image: macOS resource forks, hidden files."""
    parts = PurePosixPath(name.replace("\\", "/")).parts
    return (
        any(p.startswith(".") or p == "__MACOSX" for p in parts) or parts[-1].upper() == "DICOMDIR"
    )


def remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
