"""Zip archives at ingest: checked whole before expansion, expanded under generated names."""

from __future__ import annotations

import io
import stat
import zipfile
from pathlib import Path

import pytest

from senolab.imaging.ingest.archives import (
    ArchiveError,
    ArchiveLimits,
    expand_archive,
    inspect_archive,
)

LIMITS = ArchiveLimits(max_expanded_bytes=8 << 20, max_members=20, max_ratio=100, max_depth=2)


def make_zip(members: list[tuple[zipfile.ZipInfo | str, bytes]]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for info, data in members:
            zf.writestr(info, data)
    return buf.getvalue()


def write(tmp_path: Path, data: bytes, name: str = "upload.zip") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_members_expand_under_generated_names_nested_archives_included(tmp_path):
    # given an archive with a patient-named member, a folder and an inner archive
    inner = make_zip([("inner/SMITH^JANE.dcm", b"inner-bytes")])
    archive = write(
        tmp_path,
        make_zip(
            [
                ("SMITH^JANE/scan1.dcm", b"first"),
                ("nested.zip", inner),
                ("__MACOSX/._scan1", b"x"),
            ]
        ),
    )
    # when it is expanded
    files = expand_archive(archive, tmp_path / "out", LIMITS)
    # then every member is there with its bytes, and no archive name reached the disk
    assert sorted(f.read_bytes() for f in files) == [b"first", b"inner-bytes"]
    on_disk = [str(p.relative_to(tmp_path / "out")) for p in (tmp_path / "out").rglob("*")]
    assert not [p for p in on_disk if "SMITH" in p or "MACOSX" in p], on_disk


@pytest.mark.parametrize(
    "name", ["../../escape.dcm", "/etc/absolute.dcm", "a/../../b.dcm", "C:/windows.dcm"]
)
def test_archive_with_a_path_leaving_the_folder_is_refused_whole(tmp_path, name):
    archive = write(tmp_path, make_zip([("good.dcm", b"ok"), (name, b"evil")]))
    with pytest.raises(ArchiveError, match="path"):
        expand_archive(archive, tmp_path / "out", LIMITS)
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").rglob("*"))
    assert not (tmp_path.parent / "escape.dcm").exists()


def test_archive_with_a_symlink_member_is_refused(tmp_path):
    info = zipfile.ZipInfo("link.dcm")
    info.create_system = 3
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    archive = write(tmp_path, make_zip([(info, b"/etc/passwd")]))
    with pytest.raises(ArchiveError, match="symbolic link"):
        inspect_archive(archive, LIMITS)


def test_archive_with_a_non_utf8_member_name_is_refused(tmp_path):
    data = make_zip([("placeholder.dcm", b"x")]).replace(b"placeholder", b"\xff\xfe\xfdceholder")
    with pytest.raises(ArchiveError, match="UTF-8"):
        inspect_archive(write(tmp_path, data), LIMITS)


def test_archive_declaring_more_than_the_limit_is_refused_as_too_large(tmp_path):
    # given members that together expand past the limit (each compresses modestly)
    import numpy as np

    noise = np.random.default_rng(0).integers(0, 255, 3 << 20, dtype=np.uint8).tobytes()
    archive = write(tmp_path, make_zip([(f"{i}.dcm", noise) for i in range(3)]))
    with pytest.raises(ArchiveError, match="expand past") as refused:
        inspect_archive(archive, LIMITS)
    assert refused.value.too_large


def test_highly_compressed_member_is_refused_as_a_zip_bomb(tmp_path):
    archive = write(tmp_path, make_zip([("zeros.dcm", bytes(4 << 20))]))
    with pytest.raises(ArchiveError, match="zip bomb"):
        inspect_archive(archive, LIMITS)


def test_archives_nested_deeper_than_allowed_are_refused(tmp_path):
    level = make_zip([("a.dcm", b"x")])
    for _ in range(2):
        level = make_zip([("deeper.zip", level)])
    with pytest.raises(ArchiveError, match="nested"):
        inspect_archive(write(tmp_path, level), LIMITS)


def test_too_many_members_are_refused(tmp_path):
    archive = write(tmp_path, make_zip([(f"{i}.dcm", b"x") for i in range(LIMITS.max_members + 1)]))
    with pytest.raises(ArchiveError, match="more than"):
        inspect_archive(archive, LIMITS)


def test_damaged_archive_is_refused_with_a_message(tmp_path):
    data = make_zip([("a.dcm", b"x" * 1000)])
    with pytest.raises(ArchiveError, match="damaged"):
        inspect_archive(write(tmp_path, data[: len(data) // 2]), LIMITS)
