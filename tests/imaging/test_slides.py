"""Whole-slide ingest: levels and resolution read through tiffslide, identifiers left behind."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest
import tifffile
from pydicom.dataset import FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from senolab.imaging import storage
from senolab.imaging.ingest.slides import (
    WSI_SOP_CLASS,
    SlideError,
    ingest_slide,
    open_slide,
    store_slide,
    write_pyramidal_tiff,
)
from senolab.imaging.models import Exam, Slide

pytestmark = pytest.mark.django_db
SECRET = "JANE-DOE-4711"


def _fake_svs(path, *, size: int = 512) -> None:
    """An Aperio-style SVS: tiled baseline, thumbnail, then a label and a macro image."""
    rng = np.random.default_rng(1)
    base = rng.integers(0, 255, (size, size, 3), dtype=np.uint8)
    head = "Aperio Image Library v12.0.0\n"
    desc = (
        f"{head}{size}x{size} [0,0 {size}x{size}] (256x256) JPEG/RGB Q=70|AppMag = 20"
        f"|Filename = {SECRET}|Date = 01/02/21|User = {SECRET}|MPP = 0.5"
    )
    label = np.full((40, 80, 3), 7, np.uint8)
    with tifffile.TiffWriter(path) as tw:
        tw.write(
            base,
            tile=(256, 256),
            compression="jpeg",
            description=desc,
            photometric="rgb",
            metadata=None,
        )
        tw.write(
            base[::8, ::8],
            description=f"{head}{size}x{size} -> 64x64",
            photometric="rgb",
            metadata=None,
        )
        tw.write(
            label, description=f"{head}label 80x40", subfiletype=1, photometric="rgb", metadata=None
        )
        tw.write(
            label + 1,
            description=f"{head}macro 80x40",
            subfiletype=9,
            photometric="rgb",
            metadata=None,
        )


def test_svs_label_and_macro_are_removed_and_levels_read(project, tmp_path):
    # given an SVS whose label, macro and description carry an identifier
    path = tmp_path / "case.svs"
    _fake_svs(path)
    assert SECRET.encode() in path.read_bytes()
    # when it is ingested
    slide = ingest_slide(project, path, patient_key="P1", exam_key="E1")
    # then the stored copy has no label, macro or identifier, and keeps scale and levels
    stored = storage.read(slide.storage_key)
    assert SECRET.encode() not in stored
    ts = open_slide(slide)
    assert set(ts.associated_images.keys()) <= {"thumbnail"}
    with tifffile.TiffFile(storage.open_file(slide.storage_key)) as tf:
        assert all(
            (p.description or "").split("\n")[-1].split()[:1] not in (["label"], ["macro"])
            for p in tf.pages
        )
    assert (slide.format, slide.width, slide.height) == ("svs", 512, 512)
    assert slide.mpp_x == pytest.approx(0.5) and slide.objective_power == 20
    assert slide.levels[0] == {"width": 512, "height": 512, "downsample": 1.0}
    assert ts.read_region((100, 100), 0, (32, 32)).size == (32, 32)
    assert slide.exam.modalities == ["SM"] and slide.source_sha256 != slide.sha256


def test_pyramidal_tiff_has_every_level_and_open_slide_is_cached(project, tmp_path):
    # given a three-level pyramidal TIFF
    path = tmp_path / "p.tiff"
    write_pyramidal_tiff(path, np.zeros((1100, 1000, 3), np.uint8), mpp=0.25)
    # when it is ingested twice
    first = store_slide(project, path, patient_key="P", exam_key="E")
    again = store_slide(project, path, patient_key="P", exam_key="E")
    # then one slide with its levels, the second time a duplicate
    assert first.created and not again.created and Slide.objects.count() == 1
    levels = first.slide.levels
    assert [(lv["width"], lv["height"]) for lv in levels] == [(1000, 1100), (500, 550), (250, 275)]
    assert first.slide.mpp_x == pytest.approx(0.25)
    assert open_slide(first.slide) is open_slide(Slide.objects.get(pk=first.slide.pk))


def _dicom_wsi(path, tile: int = 16, tiles: int = 2) -> None:
    """A TILED_FULL VL whole-slide image with one solid colour per tile."""
    colours = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0)]
    frames = np.stack(
        [np.broadcast_to(np.array(c, np.uint8), (tile, tile, 3)) for c in colours[: tiles * tiles]]
    )
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = WSI_SOP_CLASS
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = pydicom.Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = WSI_SOP_CLASS, meta.MediaStorageSOPInstanceUID
    ds.PatientName, ds.PatientID, ds.Modality = SECRET, SECRET, "SM"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "VOLUME", "NONE"]
    ds.Rows = ds.Columns = tile
    ds.TotalPixelMatrixRows = ds.TotalPixelMatrixColumns = tile * tiles
    ds.NumberOfFrames = tiles * tiles
    ds.DimensionOrganizationType = "TILED_FULL"
    ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.PlanarConfiguration = 3, "RGB", 0
    ds.BitsAllocated = ds.BitsStored = 8
    ds.HighBit, ds.PixelRepresentation = 7, 0
    measures = pydicom.Dataset()
    measures.PixelSpacing = [0.00025, 0.00025]
    shared = pydicom.Dataset()
    shared.PixelMeasuresSequence = [measures]
    ds.SharedFunctionalGroupsSequence = [shared]
    ds.PixelData = frames.tobytes()
    ds.save_as(path, enforce_file_format=True)


def test_dicom_sm_folder_becomes_a_tiled_slide_without_its_header(project, tmp_path):
    # given a folder with one DICOM WSI of 2x2 coloured tiles and a stray text file
    folder = tmp_path / "wsi"
    folder.mkdir()
    _dicom_wsi(folder / "level0.dcm")
    (folder / "README").write_text("not dicom")
    # when the folder is ingested
    slide = ingest_slide(project, folder, patient_key="P", exam_key="E")
    # then the tiles sit where the DICOM says, at its resolution, with no DICOM identifier
    assert (slide.format, slide.width, slide.height) == ("dicom-sm", 32, 32)
    assert slide.mpp_x == pytest.approx(0.25)
    region = np.asarray(open_slide(slide).read_region((0, 0), 0, (32, 32)).convert("RGB"))
    assert np.allclose(region[4, 4], (255, 0, 0), atol=40)
    assert np.allclose(region[4, 28], (0, 255, 0), atol=40)
    assert np.allclose(region[28, 4], (0, 0, 255), atol=40)
    assert SECRET.encode() not in storage.read(slide.storage_key)


def test_file_that_is_not_a_slide_is_refused_and_nothing_is_stored(project, tmp_path):
    path = tmp_path / "x.svs"
    path.write_bytes(b"II*\0garbage")
    with pytest.raises(SlideError):
        ingest_slide(project, path, patient_key="P", exam_key="E")
    with pytest.raises(SlideError, match="no DICOM whole-slide"):
        ingest_slide(project, tmp_path, patient_key="P", exam_key="E")
    assert not Slide.objects.exists() and not Exam.objects.exists()
