"""Hostile uploads, built in memory: zip bombs, traversal and symlinks in archives, empty files,
DICOM with a huge declared element length, non-UTF-8 names, a wrong content type."""

from __future__ import annotations

import io
import stat
import struct
import zipfile
from dataclasses import dataclass

from tests.factories import dicom_bytes


@dataclass(frozen=True)
class Hostile:
    """One upload: what a client sends, and what it tries."""

    name: str
    filename: str
    data: bytes
    content_type: str
    expanded_bytes: int = 0  # what it would take in memory or on disk if trusted


def small_dicom() -> bytes:
    return dicom_bytes(rows=8, columns=8, bits=8, PatientID="HOSTILE", private=False)


def _zip(members: list[tuple[zipfile.ZipInfo | str, bytes]]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for info, data in members:
            zf.writestr(info, data)
    return buf.getvalue()


def zip_bomb(expanded: int) -> bytes:
    """One member of `expanded` zero bytes (about 1000:1), written in chunks."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        with zf.open("scan.dcm", "w", force_zip64=True) as member:
            chunk = bytes(1 << 20)
            for _ in range(expanded >> 20):
                member.write(chunk)
    return buf.getvalue()


def nested_zip_bomb(expanded: int, depth: int = 3) -> bytes:
    """Zips inside zips: each level holds ten copies of the level below."""
    data = zip_bomb(max(expanded // 10 ** (depth - 1), 1 << 20))
    for level in range(depth - 1):
        data = _zip([(f"level{level}-{i}.zip", data) for i in range(10)])
    return data


def traversal_zip() -> bytes:
    return _zip(
        [
            ("../../../../tmp/senolab-escape.dcm", small_dicom()),
            ("/etc/senolab-absolute.dcm", small_dicom()),
        ]
    )


def symlink_zip() -> bytes:
    info = zipfile.ZipInfo("link.dcm")
    info.create_system = 3  # Unix, so the mode bits below are honoured by unzip tools
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return _zip([(info, b"/etc/passwd")])


def huge_length_dicom() -> bytes:
    """A valid header, then an element whose declared length is 4 GiB - 2."""
    raw = small_dicom()
    pixel_tag = struct.pack("<HH", 0x7FE0, 0x0010)
    at = raw.rindex(pixel_tag)
    # Explicit VR little endian OB/OW: tag, VR, 2 reserved bytes, 4-byte length.
    return raw[:at] + pixel_tag + b"OW\x00\x00" + struct.pack("<I", 0xFFFFFFFE) + bytes(64)


def non_utf8_name_zip() -> bytes:
    info = zipfile.ZipInfo("placeholder.dcm")
    data = _zip([(info, small_dicom())])
    # Rewrite the stored name with bytes that are not UTF-8 (and keep the UTF-8 flag off).
    return data.replace(b"placeholder.dcm", b"\xff\xfe\xfdceholder.dcm")


def hostile_uploads(bomb_bytes: int) -> list[Hostile]:
    return [
        Hostile(
            "zip bomb (ratio)", "bomb.zip", zip_bomb(bomb_bytes), "application/zip", bomb_bytes
        ),
        Hostile(
            "nested zip bomb",
            "nested.zip",
            nested_zip_bomb(bomb_bytes),
            "application/zip",
            bomb_bytes * 10,
        ),
        Hostile("path traversal in zip", "traversal.zip", traversal_zip(), "application/zip"),
        Hostile("symlink in zip", "symlink.zip", symlink_zip(), "application/zip"),
        Hostile("empty file", "empty.dcm", b"", "application/dicom"),
        Hostile(
            "huge declared element length",
            "huge.dcm",
            huge_length_dicom(),
            "application/dicom",
            0xFFFFFFFE,
        ),
        Hostile("non-UTF-8 member name", "names.zip", non_utf8_name_zip(), "application/zip"),
        Hostile(
            "wrong content type",
            "page.html",
            b"<html><script>alert(1)</script></html>",
            "text/html",
        ),
    ]
