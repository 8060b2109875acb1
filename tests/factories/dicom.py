"""Small, valid DICOM data sets for tests: MG, US (single and multi-frame cine) and MR.

`make_dicom(**overrides)` builds one in memory; `write_dicom(path, **overrides)` saves it as a
DICOM file (with the 128-byte preamble and file meta). Every identifying attribute carries a
distinctive value (see IDENTIFIERS) so a test can check that de-identification removed it.

Options (lower case) shape the image; any other keyword argument is a DICOM keyword that is set
on the data set after everything else (``None`` deletes it), e.g. ``make_dicom(PatientID="P9")``.

- modality: "MG" (default), "US" or "MR"
- rows, columns: image size (default 32 x 32; JPEG 2000 needs at least 32 in each)
- bits: 8, 12 or 16 stored bits (8 -> 8 bits allocated, otherwise 16); default 8 for US
  (the US IODs allow only 8), 12 otherwise
- frames: number of frames (> 1 makes an US cine / multi-frame image)
- laterality: "L", "R" or "" ; view: "CC", "MLO", "ML", "LM", "XCCL", ... (MG only)
- color: RGB (3 samples, 8 bits), as colour ultrasound stores it
- transfer_syntax: a UID; compressed ones are encoded with pydicom's encoders (RLE, JPEG-LS via
  pyjpegls, JPEG 2000 lossless via pylibjpeg-openjpeg) or with imagecodecs (JPEG lossless
  process 14 SV1 for 8-16 bits, JPEG baseline for 8 bits: lossy, so compare with a tolerance);
  `supported_transfer_syntaxes()` lists those this machine can write
- patient_id, patient_name, study_uid, series_uid, sop_uid, study_date ("YYYYMMDD"), seed
- burned_in: sets BurnedInAnnotation YES/NO; private: add a private block (default True)
"""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path
from typing import Any

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.sequence import Sequence
from pydicom.uid import (
    PYDICOM_IMPLEMENTATION_UID,
    UID,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGLosslessSV1,
    generate_uid,
)

SOP_CLASSES = {
    "MG": UID("1.2.840.10008.5.1.4.1.1.1.2"),  # Digital Mammography X-Ray Image - For Presentation
    "US": UID("1.2.840.10008.5.1.4.1.1.6.1"),  # Ultrasound Image
    "US-MULTIFRAME": UID("1.2.840.10008.5.1.4.1.1.3.1"),  # Ultrasound Multi-frame Image
    "MR": UID("1.2.840.10008.5.1.4.1.1.4"),  # MR Image
}
UID_PREFIX = "1.2.826.0.1.3680043.10.999."  # distinctive root for the original UIDs

# Identifying values every generated data set carries unless overridden: a test may search
# the de-identified output for any of them.
IDENTIFIERS: dict[str, str] = {
    "PatientName": "FACTORYSMITH^JANE^Q",
    "PatientID": "FACPID0001",
    "OtherPatientIDs": "FACOTHERID77",
    "PatientBirthDate": "19610417",
    "PatientAddress": "12 FACTORY LANE SPRINGFIELD",
    "PatientTelephoneNumbers": "555-0199-FACTORY",
    "PatientMotherBirthName": "FACMOTHERNAME^ANN",
    "AccessionNumber": "FACACC4242",
    "StudyID": "FACSTUDY9",
    "InstitutionName": "FACTORY GENERAL HOSPITAL",
    "InstitutionAddress": "1 HOSPITAL ROAD FACTORYTOWN",
    "ReferringPhysicianName": "FACREFERRER^ALBERT",
    "PerformingPhysicianName": "FACPERFORMER^BETTY",
    "OperatorsName": "FACOPERATOR^CARL",
    "StationName": "FACSTATION01",
    "DeviceSerialNumber": "FACSERIAL123",
    "StudyDescription": "FACTORY SCREENING STUDY",
    "SeriesDescription": "FACTORY SERIES DESCR",
    "ImageComments": "FACTORY IMAGE COMMENT",
    "PatientComments": "FACTORY PATIENT COMMENT",
}

VIEW_CODES = {  # SNOMED CT codes of CID 4014 (View for Mammography)
    "CC": ("399162004", "cranio-caudal"),
    "MLO": ("399368009", "medio-lateral oblique"),
    "ML": ("399260004", "medial-lateral"),
    "LM": ("399352003", "latero-medial"),
    "XCCL": ("399192003", "cranio-caudal exaggerated laterally"),
    "XCCM": ("399101009", "cranio-caudal exaggerated medially"),
}

_OPTIONS = {
    "modality",
    "rows",
    "columns",
    "bits",
    "frames",
    "laterality",
    "view",
    "transfer_syntax",
    "patient_id",
    "patient_name",
    "study_uid",
    "series_uid",
    "sop_uid",
    "study_date",
    "seed",
    "burned_in",
    "private",
    "color",
}
IMAGECODECS_SYNTAXES = (JPEGLosslessSV1, JPEGBaseline8Bit)


def _code(value: str, scheme: str, meaning: str) -> Dataset:
    item = Dataset()
    item.CodeValue = value
    item.CodingSchemeDesignator = scheme
    item.CodeMeaning = meaning
    return item


def _pixels(
    rows: int, columns: int, bits: int, frames: int, seed: int, color: bool = False
) -> np.ndarray:
    """A gradient with a bright blob: compresses, and a wrong decode is easy to spot."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:rows, 0:columns]
    top = (1 << bits) - 1
    base = (x + y) * top // max(rows + columns - 2, 1)
    planes = []
    for frame in range(frames):
        cy, cx = rng.integers(0, rows), (frame * 3 + rng.integers(0, columns)) % columns
        blob = ((y - cy) ** 2 + (x - cx) ** 2) < max(rows // 6, 2) ** 2
        planes.append(np.where(blob, top, base))
    dtype = np.uint8 if bits <= 8 else np.uint16
    out = np.stack(planes).astype(dtype)
    if color:  # the same structure in each channel, with channel-specific shading
        out = np.stack([out, out[..., ::-1], (out // 2 + top // 4).astype(dtype)], axis=-1)
    return out if frames > 1 else out[0]


def _encode_imagecodecs(ds: Dataset, pixels: np.ndarray, syntax: UID, bits: int) -> None:
    """JPEG lossless (SV1) or baseline, one fragment per frame, which pydicom cannot encode."""
    import imagecodecs

    frames = pixels if int(ds.get("NumberOfFrames", 1)) > 1 else pixels[np.newaxis]
    if syntax == JPEGBaseline8Bit:
        if bits != 8:
            raise ValueError("JPEG baseline holds 8-bit images only")
        color = ds.SamplesPerPixel == 3
        fragments = [
            imagecodecs.jpeg8_encode(f, level=95, subsampling="422" if color else None)
            for f in frames
        ]
        if color:
            ds.PhotometricInterpretation = "YBR_FULL_422"
        ds.LossyImageCompression = "01"
        ds.LossyImageCompressionMethod = "ISO_10918_1"
        ds.LossyImageCompressionRatio = "5"
    else:
        fragments = [
            imagecodecs.jpeg8_encode(f, lossless=True, predictor=1, bitspersample=bits)
            for f in frames
        ]
    ds.PixelData = encapsulate(fragments)
    ds["PixelData"].VR = "OB"
    ds.file_meta.TransferSyntaxUID = syntax


def _add_identifiers(ds: Dataset, sop_uid: str, study_uid: str) -> None:
    for keyword, value in IDENTIFIERS.items():
        setattr(ds, keyword, value)
    # Nested identifiers: a reference to a prior image and a request with a physician in it.
    ref = Dataset()
    ref.ReferencedSOPClassUID = ds.SOPClassUID
    ref.ReferencedSOPInstanceUID = UID_PREFIX + "77." + sop_uid.rsplit(".", 1)[-1]
    ds.ReferencedImageSequence = Sequence([ref])
    request = Dataset()
    request.RequestedProcedureID = "FACREQPROC5"
    request.ScheduledProcedureStepID = "FACSPS6"
    request.ScheduledProcedureStepDescription = "FACTORY SCHEDULED STEP"
    request.StudyInstanceUID = study_uid
    request.AccessionNumber = IDENTIFIERS["AccessionNumber"]
    ds.RequestAttributesSequence = Sequence([request])
    ds.ReferringPhysicianIdentificationSequence = Sequence([Dataset()])
    ds.ReferringPhysicianIdentificationSequence[0].InstitutionName = "FACTORY NESTED CLINIC"
    ds.ReferringPhysicianIdentificationSequence[0].PersonIdentificationCodeSequence = Sequence(
        [_code("FACDOC88", "99FAC", "FACTORY DOCTOR CODE")]
    )


def _add_private(ds: Dataset) -> None:
    block = ds.private_block(0x0029, "FACTORY PRIVATE CREATOR", create=True)
    block.add_new(0x10, "LO", "FACPRIVATEVALUE")
    block.add_new(0x11, "SH", IDENTIFIERS["PatientID"])


def _add_mg(ds: Dataset, laterality: str, view: str) -> None:
    ds.ImageType = ["ORIGINAL", "PRIMARY"]
    ds.PresentationIntentType = "FOR PRESENTATION"
    ds.ImageLaterality = laterality or "U"  # MG carries laterality here, not in the series
    ds.AcquisitionContextSequence = Sequence()
    ds.ViewPosition = view
    ds.PositionerType = "MAMMOGRAPHIC"
    ds.PixelIntensityRelationship = "LOG"
    ds.PixelIntensityRelationshipSign = -1
    ds.RescaleIntercept, ds.RescaleSlope, ds.RescaleType = "0", "1", "US"
    ds.PresentationLUTShape = "IDENTITY"
    ds.DetectorType = "DIRECT"
    ds.ImagerPixelSpacing = ["0.07", "0.07"]
    ds.PixelSpacing = ["0.07", "0.07"]
    ds.BodyPartExamined = "BREAST"
    ds.OrganExposed = "BREAST"
    ds.BreastImplantPresent = "NO"
    ds.PartialView = "NO"
    ds.KVP, ds.ExposureTime, ds.XRayTubeCurrent = "28", "1200", "100"
    ds.AnatomicRegionSequence = Sequence([_code("76752008", "SCT", "Breast")])
    if view in VIEW_CODES:
        code, meaning = VIEW_CODES[view]
        item = _code(code, "SCT", meaning)
        item.ViewModifierCodeSequence = Sequence()
        ds.ViewCodeSequence = Sequence([item])
    ds.PatientOrientation = ["A", "R"] if laterality == "L" else ["P", "L"]


def _add_us(ds: Dataset, laterality: str, frames: int) -> None:
    ds.ImageType = ["ORIGINAL", "PRIMARY", "", "0001"]
    if laterality in ("L", "R"):
        ds.Laterality = laterality
    ds.PatientOrientation = ""
    ds.AnatomicRegionSequence = Sequence([_code("76752008", "SCT", "Breast")])
    region = Dataset()
    region.RegionSpatialFormat = 1
    region.RegionDataType = 1
    region.RegionFlags = 0
    region.RegionLocationMinX0, region.RegionLocationMinY0 = 0, 0
    region.RegionLocationMaxX1, region.RegionLocationMaxY1 = ds.Columns - 1, ds.Rows - 1
    region.PhysicalUnitsXDirection = region.PhysicalUnitsYDirection = 3  # cm
    region.PhysicalDeltaX = region.PhysicalDeltaY = 0.01
    ds.SequenceOfUltrasoundRegions = Sequence([region])
    if frames > 1:
        ds.FrameTime = "33.3"
        ds.FrameIncrementPointer = 0x00181063  # (0018,1063) Frame Time
        ds.CineRate = 30


def _add_mr(ds: Dataset, laterality: str) -> None:
    ds.ImageType = ["ORIGINAL", "PRIMARY", "OTHER"]
    if laterality in ("L", "R"):
        ds.Laterality = laterality
    ds.FrameOfReferenceUID = UID_PREFIX + "5." + ds.SeriesInstanceUID.rsplit(".", 1)[-1]
    ds.PositionReferenceIndicator = ""
    ds.ScanningSequence, ds.SequenceVariant, ds.ScanOptions = "GR", "SP", ""
    ds.MRAcquisitionType = "3D"
    ds.RepetitionTime, ds.EchoTime, ds.EchoTrainLength = "4.5", "2.1", "1"
    ds.ImagePositionPatient = ["-100", "-100", "0"]
    ds.ImageOrientationPatient = ["1", "0", "0", "0", "1", "0"]
    ds.SliceThickness = "1.5"
    ds.PixelSpacing = ["0.8", "0.8"]
    ds.SliceLocation = "0"
    ds.BodyPartExamined = "BREAST"
    ds.PatientPosition = "HFP"


def make_dicom(**overrides: Any) -> Dataset:
    """A small valid DICOM data set (with file meta); see the module docstring for options."""
    opts = {k: overrides.pop(k) for k in list(overrides) if k in _OPTIONS}
    modality = opts.get("modality", "MG")
    rows, columns = int(opts.get("rows", 32)), int(opts.get("columns", 32))
    bits = int(opts.get("bits", 8 if modality == "US" else 12))
    frames = int(opts.get("frames", 1))
    laterality = opts.get("laterality", "L")
    view = opts.get("view", "CC" if modality == "MG" else "")
    seed = int(opts.get("seed", 0))
    syntax = UID(opts.get("transfer_syntax", ExplicitVRLittleEndian))
    study_uid = opts.get("study_uid") or UID_PREFIX + "1." + generate_uid(None)[5:30]
    series_uid = opts.get("series_uid") or UID_PREFIX + "2." + generate_uid(None)[5:30]
    sop_uid = opts.get("sop_uid") or UID_PREFIX + "3." + generate_uid(None)[5:30]
    study_date = opts.get("study_date", "20190311")
    color = bool(opts.get("color", False))
    if bits not in (8, 12, 16) or (color and bits != 8):
        raise ValueError("bits must be 8, 12 or 16 (8 for colour)")
    if modality not in ("MG", "US", "MR"):
        raise ValueError("modality must be MG, US or MR")

    ds = Dataset()
    sop_class = SOP_CLASSES["US-MULTIFRAME" if modality == "US" and frames > 1 else modality]
    ds.SOPClassUID, ds.SOPInstanceUID = sop_class, sop_uid
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.Modality = modality
    ds.StudyInstanceUID, ds.SeriesInstanceUID = study_uid, series_uid
    ds.StudyDate = ds.SeriesDate = ds.ContentDate = ds.AcquisitionDate = study_date
    ds.StudyTime, ds.SeriesTime, ds.ContentTime, ds.AcquisitionTime = (
        "101500",
        "101600",
        "101705.250000",
        "101704",
    )
    ds.InstanceCreationDate = dt.date.today().strftime("%Y%m%d")
    ds.InstanceCreationTime = "120000"
    ds.SeriesNumber, ds.InstanceNumber = 1, 1
    ds.PatientSex, ds.PatientAge = "F", "057Y"
    ds.PatientWeight, ds.PatientSize = "68", "1.65"
    ds.Manufacturer = "FactoryVendor"
    ds.ManufacturerModelName = "Model 3000"
    ds.SoftwareVersions = "1.0"
    ds.BurnedInAnnotation = "YES" if opts.get("burned_in") else "NO"
    ds.LossyImageCompression = "00"
    _add_identifiers(ds, sop_uid, study_uid)

    ds.Rows, ds.Columns = rows, columns
    ds.SamplesPerPixel = 3 if color else 1
    ds.PhotometricInterpretation = "RGB" if color else "MONOCHROME2"
    if color:
        ds.PlanarConfiguration = 0
    ds.BitsAllocated = 8 if bits == 8 else 16
    ds.BitsStored, ds.HighBit, ds.PixelRepresentation = bits, bits - 1, 0
    if not color:
        ds.WindowCenter, ds.WindowWidth = str(1 << (bits - 1)), str(1 << bits)
    if frames > 1:
        ds.NumberOfFrames = frames
    if modality == "MG":
        _add_mg(ds, laterality, view)
    elif modality == "US":
        _add_us(ds, laterality, frames)
    else:
        _add_mr(ds, laterality)
    if opts.get("private", True):
        _add_private(ds)

    pixels = _pixels(rows, columns, bits, frames, seed, color)
    ds.PixelData = pixels.tobytes()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = sop_class
    ds.file_meta.MediaStorageSOPInstanceUID = sop_uid
    ds.file_meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    if syntax in IMAGECODECS_SYNTAXES:
        _encode_imagecodecs(ds, pixels, syntax, bits)
    elif syntax.is_compressed:
        ds.compress(syntax, pixels)  # RLE natively; JPEG-LS/J2K through pyjpegls/openjpeg
        if color and syntax == JPEG2000Lossless:
            ds.PhotometricInterpretation = "YBR_RCT"  # the encoder applied the colour transform
    else:
        ds.file_meta.TransferSyntaxUID = syntax
    for keyword, value in overrides.items():
        if value is None:
            if keyword in ds:
                delattr(ds, keyword)
        else:
            setattr(ds, keyword, value)
    return ds


def write_dicom(path: Path | str, **overrides: Any) -> Path:
    """Write make_dicom(**overrides) to path as a DICOM file (preamble + file meta)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ds = make_dicom(**overrides)
    ds.save_as(path, enforce_file_format=True)
    return path


def supported_transfer_syntaxes(*, lossy: bool = False) -> list[UID]:
    """The lossless syntaxes make_dicom can write here (each compressed one needs its encoder
    installed); with lossy=True, JPEG baseline (8-bit only) too."""
    from pydicom.pixels import get_encoder
    from pydicom.uid import JPEGLSLossless, RLELossless

    out = [ExplicitVRLittleEndian, ImplicitVRLittleEndian]
    out += [
        u for u in (RLELossless, JPEGLSLossless, JPEG2000Lossless) if get_encoder(u).is_available
    ]
    try:
        import imagecodecs

        if imagecodecs.JPEG8.available:
            out += [JPEGLosslessSV1] + ([JPEGBaseline8Bit] if lossy else [])
    except ImportError:
        pass
    return out


def dicom_bytes(**overrides: Any) -> bytes:
    """make_dicom(**overrides) as the bytes of a DICOM file, as an upload carries them."""
    buffer = io.BytesIO()
    make_dicom(**overrides).save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()
