"""DICOM Segmentation (masks) and Comprehensive 3D SR, TID 1500 (findings), by highdicom.

Both reference the (de-identified) source instance they were drawn on, so the receiving
archive can place them with the image. Codes (docs/exports.md):
- finding types: SNOMED CT codes of the mammography finding context groups (CID 6016 and
  neighbours), from pydicom's code dictionary;
- the segment category: (49755003, SCT, "Morphologically abnormal structure");
- BI-RADS: concept (111005, DCM, "Assessment Category"), value the SNOMED CT "Mammography
  assessment (Category N)" finding; 4A/4B/4C are coded as category 4;
- pathology: concept (111042, DCM, "Pathology"), value (30807003, SCT, "Benign"),
  (21594007, SCT, "Malignant") or (17621005, SCT, "Normal").
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import numpy as np
from pydicom.dataset import Dataset
from pydicom.sr.codedict import codes
from pydicom.sr.coding import Code
from pydicom.uid import generate_uid

from exports.geometry import outline
from exports.model import ExportFinding, ExportMark, LabelMap

MANUFACTURER = "Senolab"
MODEL_NAME = "Senolab export"
SOFTWARE_VERSION = "1"
DEVICE_SERIAL = "0"

FINDING_CODES: dict[str, Code] = {
    "mass": codes.SCT.MammographicBreastMass,
    "calcification": codes.SCT.RadiographicCalcificationFinding,
    "asymmetry": codes.SCT.AsymmetricBreastTissue,
    "architectural_distortion": codes.SCT.ArchitecturalDistortionOfBreast,
    "other": codes.SCT.ImagingFinding,
}
BIRADS_CONCEPT = Code("111005", "DCM", "Assessment Category")
_ASSESSMENTS = {
    "0": ("397138000", "Need additional imaging evaluation"),
    "1": ("397140005", "Negative"),
    "2": ("397141009", "Benign finding"),
    "3": ("397143007", "Probably benign finding"),
    "4": ("397144001", "Suspicious abnormality"),
    "5": ("397145000", "Highly suggestive of malignancy"),
}
# Code meanings are the SNOMED CT names shortened to DICOM's 64-character limit.
BIRADS_CODES: dict[str, Code] = {
    category: Code(value, "SCT", f"BI-RADS {category} - {meaning}")
    for category, (value, meaning) in _ASSESSMENTS.items()
}
PATHOLOGY_CONCEPT = Code("111042", "DCM", "Pathology")
PATHOLOGY_CODES: dict[str, Code] = {
    "benign": codes.SCT.Benign,
    "malignant": codes.SCT.Malignant,
    "normal": codes.SCT.Normal,
}


def finding_code(finding_type: str) -> Code:
    return FINDING_CODES.get(finding_type, FINDING_CODES["other"])


def _key(code) -> tuple[str, str]:
    return (str(code.value), str(code.scheme_designator))


# The reverse of the codes above, on (code value, coding scheme): the meaning is free text.
FINDING_TYPES_BY_CODE = {_key(code): name for name, code in FINDING_CODES.items()}
BIRADS_BY_CODE = {_key(code): category for category, code in BIRADS_CODES.items()}
PATHOLOGY_BY_CODE = {_key(code): name for name, code in PATHOLOGY_CODES.items()}


def finding_type_of(code) -> str | None:
    """Our finding type of a coded finding (a pydicom Code or highdicom CodedConcept); None
    when the code is none of FINDING_CODES."""
    return FINDING_TYPES_BY_CODE.get(_key(code))


def evaluation_of(concept, value) -> tuple[str, str] | None:
    """("birads", category) or ("pathology", name) of a qualitative evaluation; None when the
    concept or its value is not one this module writes."""
    if _key(concept) == _key(BIRADS_CONCEPT) and _key(value) in BIRADS_BY_CODE:
        return "birads", BIRADS_BY_CODE[_key(value)]
    if _key(concept) == _key(PATHOLOGY_CONCEPT) and _key(value) in PATHOLOGY_BY_CODE:
        return "pathology", PATHOLOGY_BY_CODE[_key(value)]
    return None


def tracking_identifier(finding_key: str, mark_number: int, kind: str) -> str:
    """The text identifying a measurement group: the finding it belongs to, and the drawn
    kind, so that a reader can tell a box from a polygon with the same four corners."""
    return f"finding {finding_key} mark {mark_number} {kind}"


TRACKING_PATTERN = re.compile(r"^finding (?P<finding>\S+) mark (?P<mark>\d+)(?: (?P<kind>\w+))?$")


def birads_code(birads: str) -> Code | None:
    """The category code of a BI-RADS value ("4A" -> category 4); None for 6 or unknown."""
    return BIRADS_CODES.get(birads[:1]) if birads else None


def segmentation(
    source: Dataset, mask: np.ndarray, label_map: LabelMap, series_number: int = 900
) -> Dataset:
    """A binary DICOM SEG of one single-frame source image from its (rows, cols) label map:
    one segment per label-map entry, segment number = label value."""
    import highdicom as hd

    if mask.shape != (source.Rows, source.Columns):
        raise ValueError(
            f"The mask is {mask.shape[1]} x {mask.shape[0]} pixels but the image is "
            f"{source.Columns} x {source.Rows}."
        )
    descriptions = [
        hd.seg.SegmentDescription(
            segment_number=value,
            segment_label=name,
            segmented_property_category=codes.SCT.MorphologicallyAbnormalStructure,
            segmented_property_type=finding_code(name),
            algorithm_type=hd.seg.SegmentAlgorithmTypeValues.MANUAL,
        )
        for value, name in enumerate(label_map.names, 1)
    ]
    seg = hd.seg.Segmentation(
        source_images=[source],
        pixel_array=np.asarray(mask, np.uint8)[np.newaxis],
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=descriptions,
        series_instance_uid=generate_uid(),
        series_number=series_number,
        sop_instance_uid=generate_uid(),
        instance_number=1,
        omit_empty_frames=False,
        manufacturer=MANUFACTURER,
        manufacturer_model_name=MODEL_NAME,
        software_versions=SOFTWARE_VERSION,
        device_serial_number=DEVICE_SERIAL,
    )
    # General Image needs Patient Orientation when there is no frame of reference (projection
    # images such as mammograms): the SEG shares the source's.
    # Without a frame of reference the pixel spacing describes no patient space, and
    # highdicom (0.28) reads back a Pixel Measures item only with a slice thickness, which a
    # projection has not: the spacing stays in the source image.
    if "FrameOfReferenceUID" not in source:
        seg.PatientOrientation = source.get("PatientOrientation", "")
        shared = seg.SharedFunctionalGroupsSequence[0]
        if "PixelMeasuresSequence" in shared:
            del shared.PixelMeasuresSequence
    return seg


def _region(mark: ExportMark, source: Dataset):
    """An SCOORD region on the source image: a closed POLYLINE (box, polygon), an ELLIPSE
    (its major then minor axis end points) or a POINT. None for what has no region."""
    import highdicom as hd

    reference = hd.sr.SourceImageForRegion.from_source_image(source)
    g = mark.geometry
    if mark.kind == "ellipse":
        cx, cy, rx, ry = (float(g[k]) for k in ("cx", "cy", "rx", "ry"))
        if rx >= ry:
            axes = [[cx - rx, cy], [cx + rx, cy], [cx, cy - ry], [cx, cy + ry]]
        else:
            axes = [[cx, cy - ry], [cx, cy + ry], [cx - rx, cy], [cx + rx, cy]]
        return hd.sr.ImageRegion("ELLIPSE", np.array(axes, np.float32), reference)
    if mark.kind == "point":
        point = np.array([[float(g["x"]), float(g["y"])]], np.float32)
        return hd.sr.ImageRegion("POINT", point, reference)
    if mark.kind in ("box", "polygon", "freehand"):
        points = outline(mark)
        closed = np.array([*points, points[0]], np.float32)
        return hd.sr.ImageRegion("POLYLINE", closed, reference)
    return None


def _evaluations(finding: ExportFinding) -> list:
    import highdicom as hd

    out = []
    birads = birads_code(finding.birads)
    if birads is not None:
        out.append(hd.sr.QualitativeEvaluation(BIRADS_CONCEPT, birads))
    if finding.pathology in PATHOLOGY_CODES:
        out.append(
            hd.sr.QualitativeEvaluation(PATHOLOGY_CONCEPT, PATHOLOGY_CODES[finding.pathology])
        )
    return out


def measurement_report(
    source: Dataset,
    findings: Iterable[ExportFinding],
    observer: str = "Senolab",
    series_number: int = 901,
) -> Dataset:
    """A Comprehensive 3D SR holding a TID 1500 measurement report: one planar ROI group per
    region mark of the findings on this image (tracking uid per finding and mark), with the
    finding type and the BI-RADS and pathology evaluations."""
    import highdicom as hd

    groups = []
    for finding in findings:
        for n, mark in enumerate(finding.marks):
            region = _region(mark, source)
            if region is None:
                continue
            groups.append(
                hd.sr.PlanarROIMeasurementsAndQualitativeEvaluations(
                    tracking_identifier=hd.sr.TrackingIdentifier(
                        uid=generate_uid(),
                        identifier=tracking_identifier(finding.key, n + 1, mark.kind),
                    ),
                    referenced_region=region,
                    finding_type=finding_code(finding.finding_type),
                    qualitative_evaluations=_evaluations(finding) or None,
                )
            )
    context = hd.sr.ObservationContext(
        observer_device_context=hd.sr.ObserverContext(
            observer_type=codes.DCM.Device,
            observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(
                uid=generate_uid(), name=observer, manufacturer_name=MANUFACTURER
            ),
        )
    )
    report = hd.sr.MeasurementReport(
        observation_context=context,
        procedure_reported=_procedure(source),
        imaging_measurements=groups,
    )
    return hd.sr.Comprehensive3DSR(
        evidence=[source],
        content=report[0],
        series_instance_uid=generate_uid(),
        series_number=series_number,
        sop_instance_uid=generate_uid(),
        instance_number=1,
        manufacturer=MANUFACTURER,
        is_complete=True,
    )


def _procedure(source: Dataset) -> Code:
    modality = source.get("Modality", "")
    if modality == "MG":
        return codes.SCT.Mammography
    if modality == "US":
        return codes.SCT.UltrasonographyOfBreast
    return codes.SCT.ImagingProcedure
