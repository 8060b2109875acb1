"""Synthetic mammograms for the benches (bench/ingest, bench/viewer, bench/preannotate).

The benches need their own writer: bench/ imports nothing from tests/. Each file is a
Digital Mammography For Presentation instance, 16 bits allocated and 12 stored, explicit VR
little endian, with identifying values that ingest must de-identify.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

MG_CLASS = "1.2.840.10008.5.1.4.1.1.1.2"


def mammogram_pixels(rows: int, cols: int, rng: np.random.Generator) -> np.ndarray:
    """A 12-bit breast-like projection: air, skin line, smooth glandular texture, noise."""
    yy, xx = np.mgrid[0:rows, 0:cols].astype(np.float32)
    r = np.sqrt((xx / (cols * 0.8)) ** 2 + ((yy - rows / 2) / (rows * 0.45)) ** 2)
    breast = np.clip((1 - r) * 30, 0, 1)
    small = rng.standard_normal((rows // 64 + 2, cols // 64 + 2)).astype(np.float32)
    texture = np.kron(small, np.ones((64, 64), np.float32))[:rows, :cols]
    image = 150 + breast * (1500 + 600 * texture + 900 * (1 - r).clip(0, 1))
    image += rng.normal(0, 25, (rows, cols)).astype(np.float32)
    return np.clip(image, 0, 4095).astype(np.uint16)


def write_mammogram(
    path: Path,
    pixels: np.ndarray,
    *,
    patient: str,
    study_uid: str,
    series_uid: str,
    laterality: str,
    view: str,
    accession: str = "ACC000000",
) -> Path:
    """Save `pixels` (uint16, 12 bits used) as one MG instance at `path`."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    rows, cols = pixels.shape
    ds = Dataset()
    ds.SOPClassUID, ds.SOPInstanceUID = MG_CLASS, generate_uid()
    ds.StudyInstanceUID, ds.SeriesInstanceUID = study_uid, series_uid
    ds.PatientID, ds.PatientName = patient, f"Bench^{patient}"
    ds.PatientBirthDate, ds.StudyDate = "19600101", "20240105"
    ds.AccessionNumber, ds.InstitutionName = accession, "Bench Hospital"
    ds.Modality, ds.BodyPartExamined = "MG", "BREAST"
    ds.ImageLaterality, ds.ViewPosition = laterality, view
    ds.Rows, ds.Columns = rows, cols
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.PixelSpacing = ds.ImagerPixelSpacing = [0.07, 0.07]
    ds.WindowCenter, ds.WindowWidth = 2047, 4095
    ds.PixelData = np.ascontiguousarray(pixels, dtype=np.uint16).tobytes()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = MG_CLASS
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.save_as(path, enforce_file_format=True)
    return path
