"""A zip of several export files, written as a stream of bytes.

zipfile writes to a file object that cannot seek; it then records each member's sizes and
CRC after its data (a data descriptor), so nothing has to be rewound and each chunk can be
sent as soon as it is compressed.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterable, Iterator


class _Sink:
    """A write-only, unseekable file object whose written bytes are drained by the caller."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self._offset = 0

    def write(self, data: bytes) -> int:
        self._parts.append(bytes(data))
        self._offset += len(data)
        return len(data)

    def tell(self) -> int:
        return self._offset

    def flush(self) -> None:
        pass

    def drain(self) -> bytes:
        data = b"".join(self._parts)
        self._parts.clear()
        return data


def stream_zip(
    members: Iterable[tuple[str, Iterable[bytes | str]]],
    compression: int = zipfile.ZIP_DEFLATED,
) -> Iterator[bytes]:
    """Bytes of a zip holding each (name, chunks) member; str chunks are written as UTF-8."""
    sink = _Sink()
    archive = zipfile.ZipFile(
        sink,  # type: ignore[call-overload]
        mode="w",
        compression=compression,
        allowZip64=True,
    )
    with archive:
        for name, chunks in members:
            with archive.open(name, mode="w", force_zip64=True) as member:
                for chunk in chunks:
                    member.write(chunk.encode() if isinstance(chunk, str) else chunk)
                    data = sink.drain()
                    if data:
                        yield data
            data = sink.drain()
            if data:
                yield data
    yield sink.drain()
