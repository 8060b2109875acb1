"""The streamed zip holds each member whole."""

from __future__ import annotations

import io
import json
import zipfile

from exports.archive import stream_zip
from exports.coco import write_coco
from exports.tables import image_csv


def test_a_streamed_zip_holds_every_member(images, findings, label_map):
    # Given a COCO document, a CSV and a binary member
    binary = bytes(range(256)) * 4000
    members = [
        ("coco.json", write_coco(images, findings, label_map)),
        ("images.csv", image_csv(images)),
        ("blob.bin", [binary[:500_000], binary[500_000:]]),
    ]
    # When the zip is streamed
    chunks = list(stream_zip(members))
    # Then it arrived in pieces and reads back whole
    assert len(chunks) > 3
    with zipfile.ZipFile(io.BytesIO(b"".join(chunks))) as archive:
        assert archive.testzip() is None
        assert archive.namelist() == ["coco.json", "images.csv", "blob.bin"]
        coco = json.loads(archive.read("coco.json"))
        assert len(coco["images"]) == 3
        assert archive.read("images.csv").decode().splitlines()[1].startswith("11,images/11.png")
        assert archive.read("blob.bin") == binary


def test_members_are_produced_only_as_the_zip_is_read():
    # Given a member whose chunks record when they are made
    made = []

    def chunks():
        for i in range(3):
            made.append(i)
            yield b"x" * 10

    stream = stream_zip([("a.bin", chunks())])
    # Then nothing is made before the first read, and all once the zip is drained
    assert made == []
    next(stream)
    assert made == [0]
    list(stream)
    assert made == [0, 1, 2]
