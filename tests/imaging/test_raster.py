"""Raster ingest: files and arrays become Images with a pixel cache, deduplicated by bytes."""

from __future__ import annotations

import datetime as dt
import io
import json

import numpy as np
import pytest
from PIL import Image as PILImage

from senolab.imaging import pixelcache, storage
from senolab.imaging.ingest.raster import (
    RasterError,
    ingest_raster,
    ingest_raster_with_sidecar,
    store_raster,
)
from senolab.imaging.models import Exam, Image, PseudonymEntry

pytestmark = pytest.mark.django_db


def _gradient(rows: int = 40, cols: int = 30, dtype=np.uint8) -> np.ndarray:
    top = 255 if dtype == np.uint8 else 4095
    return (np.arange(rows * cols).reshape(rows, cols) % (top + 1)).astype(dtype)


def test_png_file_is_stored_with_pixel_cache_and_pseudonymous_patient(project, tmp_path):
    # given a grayscale PNG
    pixels = _gradient()
    path = tmp_path / "case.png"
    PILImage.fromarray(pixels).save(path)
    # when it is ingested
    image = ingest_raster(
        project,
        path,
        patient_key="PAT-001",
        exam_key="e1",
        modality="MG",
        laterality="L",
        view="CC",
        study_date=dt.date(2020, 5, 1),
    )
    # then the image, its exam and its cache hold the same pixels and no original identifier
    assert (image.rows, image.columns, image.samples_per_pixel) == (40, 30, 1)
    assert image.source_format == "png" and image.laterality == "L" and image.view == "CC"
    assert np.array_equal(pixelcache.read_pixels(image), pixels)
    assert storage.exists(image.storage_key)
    assert "PAT-001" not in image.exam.patient.pseudonym
    assert PseudonymEntry.objects.get(patient=image.exam.patient).original_patient_id == "PAT-001"
    assert image.exam.study_date != dt.date(2020, 5, 1)


def test_same_bytes_twice_returns_the_existing_image(project, tmp_path):
    # given a PNG ingested once
    path = tmp_path / "a.png"
    PILImage.fromarray(_gradient()).save(path)
    first = store_raster(project, path, patient_key="p", exam_key="e", modality="US")
    # when the same file comes again
    second = store_raster(project, path, patient_key="p", exam_key="e", modality="US")
    # then nothing new is stored
    assert first.created and not second.created
    assert second.image.pk == first.image.pk
    assert Image.objects.filter(project=project).count() == 1


def test_rgb_with_equal_channels_becomes_grayscale_but_colour_stays_rgb(project):
    # given one grey image stored as RGB and one with colour
    grey = np.repeat(_gradient()[:, :, None], 3, axis=2)
    colour = grey.copy()
    colour[0, 0] = [255, 0, 0]
    # when both are ingested from arrays
    a = ingest_raster(project, grey, patient_key="p", exam_key="e", modality="US")
    b = ingest_raster(project, colour, patient_key="p", exam_key="e", modality="US")
    # then the first is one channel, the second three, both under one exam and series
    assert (a.samples_per_pixel, a.photometric_interpretation) == (1, "MONOCHROME2")
    assert (b.samples_per_pixel, b.photometric_interpretation) == (3, "RGB")
    assert pixelcache.read_pixels(b).shape == (40, 30, 3)
    assert a.exam_id == b.exam_id and a.series_id == b.series_id


@pytest.mark.parametrize("suffix", [".pgm", ".tif", ".jpg"])
def test_pgm_tiff_and_jpeg_files_decode(project, tmp_path, suffix):
    # given the same picture saved in another raster format
    pixels = _gradient(64, 48)
    path = tmp_path / f"x{suffix}"
    PILImage.fromarray(pixels).save(path)
    # when it is ingested
    image = ingest_raster(project, path, patient_key="p", exam_key="e", modality="MG")
    # then its size is right (JPEG is lossy, the others exact)
    cached = pixelcache.read_pixels(image)
    assert cached.shape == (64, 48)
    if suffix != ".jpg":
        assert np.array_equal(cached, pixels)


def test_sixteen_bit_array_keeps_its_depth(project):
    pixels = _gradient(80, 64, np.uint16)  # values reach 4095: 12 bits
    image = ingest_raster(project, pixels, patient_key="p", exam_key="e", modality="MG")
    assert image.bits_allocated == 16 and image.bits_stored == 12
    assert pixelcache.read_pixels(image).dtype == np.uint16


def test_undecodable_file_is_rejected_and_nothing_is_stored(project, tmp_path):
    # given a .png that is not a PNG
    path = tmp_path / "broken.png"
    path.write_bytes(b"not an image at all")
    # when it is ingested, then it is refused with a message and no rows exist
    with pytest.raises(RasterError, match="could not be decoded"):
        ingest_raster(project, path, patient_key="p", exam_key="e", modality="US")
    assert not Image.objects.exists() and not Exam.objects.exists()


def test_sidecar_gives_patient_exam_and_view(project, tmp_path):
    # given a PNG with a JSON sidecar
    path = tmp_path / "img.png"
    PILImage.fromarray(_gradient()).save(path)
    (tmp_path / "img.png.json").write_text(
        json.dumps(
            {
                "patient_key": "X9",
                "exam_key": "2021",
                "modality": "MG",
                "laterality": "R",
                "view": "MLO",
                "study_date": "2021-03-04",
                "pixel_spacing": [0.1, 0.1],
            }
        )
    )
    # when it is ingested through the sidecar
    result = ingest_raster_with_sidecar(project, path)
    # then the image carries the sidecar's view and spacing
    image = result.image
    assert (image.modality, image.laterality, image.view) == ("MG", "R", "MLO")
    assert image.pixel_spacing == [0.1, 0.1]
    assert image.exam.study_date is not None


def test_sidecar_with_unknown_field_is_refused(project, tmp_path):
    path = tmp_path / "img.png"
    PILImage.fromarray(_gradient()).save(path)
    (tmp_path / "img.json").write_text(json.dumps({"patient_key": "a", "name": "Jane Doe"}))
    with pytest.raises(RasterError, match="unknown sidecar fields"):
        ingest_raster_with_sidecar(project, path)
    assert not Image.objects.exists()


def test_png_text_chunks_are_not_stored_but_pixels_are_unchanged(project, tmp_path):
    from PIL import PngImagePlugin

    # given a PNG whose text chunk names a person
    info = PngImagePlugin.PngInfo()
    info.add_text("Author", "Jane Doe 1960-01-01")
    path = tmp_path / "named.png"
    PILImage.fromarray(_gradient()).save(path, pnginfo=info)
    assert b"Jane Doe" in path.read_bytes()
    # when it is ingested
    image = ingest_raster(project, path, patient_key="p", exam_key="e", modality="US")
    # then the stored copy decodes to the same pixels without the name
    stored = storage.read(image.storage_key)
    assert b"Jane Doe" not in stored
    with PILImage.open(io.BytesIO(stored)) as im:
        assert np.array_equal(np.asarray(im), _gradient())
