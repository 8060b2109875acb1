"""Reading and decoding at ingest: transfer syntaxes through pydicom's handlers, refusals that
name the syntax, and files that lie about their lengths."""

from __future__ import annotations

import io
import struct

import numpy as np
import pytest
from pydicom.uid import UID

from senolab.imaging.ingest import IngestError
from senolab.imaging.ingest.decode import decode_pixels, syntax_label
from senolab.imaging.ingest.dicomfile import (
    check_image,
    image_fields,
    laterality,
    mammography_view,
    read_dataset,
)
from tests.factories.dicom import make_dicom, supported_transfer_syntaxes


def to_bytes(ds) -> bytes:
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


@pytest.mark.parametrize("syntax", supported_transfer_syntaxes(), ids=lambda u: UID(u).name)
def test_every_writable_transfer_syntax_decodes_to_the_original_pixels(syntax):
    # given a 12-bit image written in the syntax, and the same image uncompressed
    plain = make_dicom(rows=40, columns=36, seed=3)
    encoded = make_dicom(rows=40, columns=36, seed=3, transfer_syntax=syntax)
    # when it is read back and decoded
    pixels = decode_pixels(read_dataset(to_bytes(encoded)))
    # then the lossless decode equals the original
    assert pixels.shape == (40, 36)
    np.testing.assert_array_equal(pixels, plain.pixel_array)


def test_unknown_transfer_syntax_is_refused_by_name_and_uid():
    from pydicom.encaps import encapsulate

    ds = make_dicom()
    ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.4.106"  # JPEG 2000 Part 2 multi-comp.
    ds.PixelData = encapsulate([ds.PixelData])
    with pytest.raises(IngestError) as refused:
        decode_pixels(read_dataset(to_bytes(ds)))
    assert "1.2.840.10008.1.2.4.106" in str(refused.value)
    assert (
        syntax_label("1.2.840.10008.1.2.4.91")
        == "JPEG 2000 Image Compression (1.2.840.10008.1.2.4.91)"
    )


def test_undecodable_compressed_pixels_are_refused_naming_the_syntax():
    # given a JPEG 2000 file whose codestream is garbage
    from pydicom.encaps import encapsulate

    ds = make_dicom(transfer_syntax="1.2.840.10008.1.2.4.90")

    ds.PixelData = encapsulate([b"\xff\x4f\xff\x51" + bytes(60)])
    with pytest.raises(IngestError, match=r"JPEG 2000.*1\.2\.840\.10008\.1\.2\.4\.90"):
        decode_pixels(read_dataset(to_bytes(ds)), to_bytes(ds))


def test_truncated_pixel_data_is_refused():
    data = to_bytes(make_dicom(rows=32, columns=32))
    with pytest.raises(IngestError, match="truncated"):
        decode_pixels(read_dataset(data[:-100]))


def test_element_declaring_more_bytes_than_the_file_holds_is_refused_without_reading_it():
    data = to_bytes(make_dicom(rows=8, columns=8))
    at = data.rindex(struct.pack("<HH", 0x7FE0, 0x0010))
    hostile = (
        data[:at]
        + struct.pack("<HH", 0x7FE0, 0x0010)
        + b"OW\x00\x00"
        + struct.pack("<I", 0xFFFFFFFE)
        + bytes(128)
    )
    with pytest.raises(IngestError, match="truncated"):
        read_dataset(hostile)


@pytest.mark.parametrize(
    "data, message",
    [
        (b"", "empty"),
        (b"<html><script>alert(1)</script></html>", "not a DICOM"),
        (bytes(128) + b"DICM" + b"\x02\x00", "truncated|malformed|valid|no pixel data"),
    ],
)
def test_not_dicom_and_broken_headers_are_refused_with_a_message(data, message):
    with pytest.raises(IngestError, match=message):
        check_image(read_dataset(data))


def test_dicom_without_pixel_data_is_refused():
    ds = make_dicom()
    del ds.PixelData
    with pytest.raises(IngestError, match="no pixel data"):
        check_image(read_dataset(to_bytes(ds)))


@pytest.mark.parametrize("view", ["CC", "MLO", "ML", "LM", "XCCL", "XCCM"])
def test_mammography_view_comes_from_the_view_code_sequence(view):
    # given a view code but a misleading ViewPosition
    ds = make_dicom(view=view, laterality="R", ViewPosition="")
    assert mammography_view(ds) == view
    assert laterality(ds) == "R"


def test_view_position_and_series_laterality_are_the_fallbacks():
    ds = make_dicom(
        view="MLO", laterality="", ViewCodeSequence=None, ImageLaterality=None, Laterality="L"
    )
    assert (mammography_view(ds), laterality(ds)) == ("MLO", "L")


def test_legacy_snomed_rt_view_codes_are_understood():
    ds = make_dicom(view="CC", ViewPosition="")
    ds.ViewCodeSequence[0].CodeValue = "R-10226"
    ds.ViewCodeSequence[0].CodingSchemeDesignator = "SRT"
    assert mammography_view(ds) == "MLO"


def test_image_fields_describe_a_multiframe_ultrasound():
    ds = make_dicom(modality="US", frames=3, rows=24, columns=20, laterality="L")
    fields = image_fields(ds, decode_pixels(ds))
    assert (fields["modality"], fields["frame_count"], fields["rows"], fields["columns"]) == (
        "US",
        3,
        24,
        20,
    )
    assert (fields["laterality"], fields["view"], fields["bits_stored"]) == ("L", "", 8)
