"""DICOM SEG and SR read back into marks: what exports.dicom writes comes back the same, shapes
from elsewhere are read or reported, and an unknown code is never dropped without a word."""

from __future__ import annotations

import numpy as np
import pytest
from pydicom.sr.codedict import codes
from pydicom.sr.coding import Code
from pydicom.uid import generate_uid

from exports.dicom import measurement_report, segmentation
from exports.dicom_read import (
    DicomReadError,
    dicom_kind,
    read_measurement_report,
    read_segmentation,
)
from exports.geometry import full_mask
from exports.masks import image_mask
from tests.factories.dicom import make_dicom, write_dicom


@pytest.fixture
def source():
    return make_dicom(modality="MG", rows=48, columns=64, laterality="L")


def _save(tmp_path, ds, name: str):
    path = tmp_path / name
    ds.save_as(path)
    return path


def test_the_sr_of_the_export_reads_back_as_its_marks_and_codes(tmp_path, source, findings):
    # Given the SR of image 11 (a mass with a box and a point, a calcification polygon)
    on_11 = [f for f in findings if f.image_key == "11"]
    path = _save(tmp_path, measurement_report(source, on_11), "sr.dcm")
    assert dicom_kind(path) == "sr"
    # When it is read
    read = read_measurement_report(path, "sr.dcm")
    # Then each mark comes back with its kind, geometry, finding and codes (4A is category 4)
    assert read.skipped == []
    got = [(r.finding_key, r.mark.kind, dict(r.mark.geometry)) for r in read.regions]
    assert got == [
        ("f1", "box", {"x": 5, "y": 6, "width": 10, "height": 8}),
        ("f1", "point", {"x": 3, "y": 3}),
        ("f2", "polygon", {"points": [[30, 10], [50, 12], [40, 30]]}),
    ]
    assert {r.source_uid for r in read.regions} == {source.SOPInstanceUID}
    codes_back = [(r.finding_type, r.birads, r.pathology) for r in read.regions]
    assert codes_back == [("mass", "4", "malignant")] * 2 + [("calcification", "2", "benign")]


def test_an_ellipse_keeps_its_centre_and_radii(tmp_path, source, findings):
    path = _save(tmp_path, measurement_report(source, [findings[2]]), "sr.dcm")
    [region] = read_measurement_report(path, "sr.dcm").regions
    assert (region.mark.kind, dict(region.mark.geometry)) == (
        "ellipse",
        {"cx": 20, "cy": 20, "rx": 8, "ry": 5},
    )


def _foreign_sr(source, groups: list[tuple[str, list[list[float]], Code, str]]):
    """A TID 1500 SR from elsewhere: (graphic type, coordinates, finding type, identifier)."""
    import highdicom as hd

    reference = hd.sr.SourceImageForRegion.from_source_image(source)
    items = [
        hd.sr.PlanarROIMeasurementsAndQualitativeEvaluations(
            tracking_identifier=hd.sr.TrackingIdentifier(uid=generate_uid(), identifier=name),
            referenced_region=hd.sr.ImageRegion(kind, np.array(coords, np.float32), reference),
            finding_type=code,
        )
        for kind, coords, code, name in groups
    ]
    context = hd.sr.ObservationContext(
        observer_person_context=hd.sr.ObserverContext(
            observer_type=codes.DCM.Person,
            observer_identifying_attributes=hd.sr.PersonObserverIdentifyingAttributes(
                name="Reader^Other"
            ),
        )
    )
    report = hd.sr.MeasurementReport(
        observation_context=context,
        procedure_reported=codes.SCT.Mammography,
        imaging_measurements=items,
    )
    return hd.sr.Comprehensive3DSR(
        evidence=[source],
        content=report[0],
        series_instance_uid=generate_uid(),
        series_number=5,
        sop_instance_uid=generate_uid(),
        instance_number=1,
        manufacturer="Elsewhere",
    )


def test_shapes_from_elsewhere_are_read_or_reported(tmp_path, source):
    mass = codes.SCT.MammographicBreastMass
    sr = _foreign_sr(
        source,
        [
            ("CIRCLE", [[20, 20], [26, 20]], mass, "lesion A"),
            ("ELLIPSE", [[10, 10], [30, 30], [15, 25], [25, 15]], mass, "lesion B"),
            ("POLYLINE", [[1, 1], [9, 5]], mass, "caliper"),
            ("POLYLINE", [[1, 1], [9, 5], [4, 9]], mass, "open line"),
            ("POINT", [[7, 8]], codes.SCT.Liver, "liver"),
        ],
    )
    read = read_measurement_report(_save(tmp_path, sr, "sr.dcm"), "sr.dcm")
    kinds = [(r.mark.kind, r.finding_type) for r in read.regions]
    # A circle is an ellipse, a rotated ellipse its outline, two points a length
    assert kinds == [("ellipse", "mass"), ("polygon", "mass"), ("length", "mass")]
    assert dict(read.regions[0].mark.geometry) == {"cx": 20, "cy": 20, "rx": 6, "ry": 6}
    outline = np.array(read.regions[1].mark.geometry["points"])
    assert np.allclose(outline.mean(axis=0), [20, 20], atol=1e-3)
    assert np.isclose(np.linalg.norm(outline - [20, 20], axis=1).max(), np.hypot(10, 10), 1e-3)
    # Groups without a finding key of ours are findings of their own
    assert len({r.finding_key for r in read.regions}) == 3
    # And what cannot be held is listed with the reason
    reasons = [reason for _, reason in read.skipped]
    assert len(reasons) == 2
    assert "open polyline of 3 points" in reasons[0]
    assert "unknown finding type" in reasons[1] and codes.SCT.Liver.value in reasons[1]


def test_the_seg_of_the_export_reads_back_per_segment(
    tmp_path, source, images, findings, label_map
):
    # Given the SEG of image 11 (a box of a mass, a polygon of a calcification)
    label = image_mask(images[0], findings, label_map)
    path = _save(tmp_path, segmentation(source, label, label_map), "seg.dcm")
    assert dicom_kind(path) == "seg"
    # When it is read
    read = read_segmentation(path, "seg.dcm")
    # Then each non-empty segment is a mask of its finding type with the label map's pixels
    assert [(s.finding_type, s.segment_number) for s in read.segments] == [
        ("mass", 1),
        ("calcification", 2),
    ]
    for segment in read.segments:
        assert segment.source_uid == source.SOPInstanceUID
        assert np.array_equal(segment.mask, label == segment.segment_number)


def test_a_seg_mask_matches_the_mask_mark_it_was_made_of(tmp_path, images, findings, label_map):
    source = make_dicom(modality="MG", rows=30, columns=40, laterality="R")
    label = image_mask(images[2], findings, label_map)
    read = read_segmentation(_save(tmp_path, segmentation(source, label, label_map), "s.dcm"), "s")
    [segment] = read.segments
    assert segment.finding_type == "asymmetry"
    assert np.array_equal(segment.mask, full_mask(findings[3].marks[0], 40, 30) == 1)


def test_a_file_that_is_not_a_segmentation_is_refused_by_name(tmp_path):
    path = write_dicom(tmp_path / "image.dcm")
    assert dicom_kind(path) == "image"
    with pytest.raises(DicomReadError, match="image.dcm cannot be read as a DICOM Segmentation"):
        read_segmentation(path, "image.dcm")
    (tmp_path / "notes.txt").write_text("not DICOM")
    assert dicom_kind(tmp_path / "notes.txt") is None


def test_an_sr_of_another_template_is_reported_not_refused(tmp_path, source):
    import highdicom as hd

    # Given a valid Comprehensive SR holding a free-text report, not TID 1500
    root = hd.sr.ContainerContentItem(name=hd.sr.CodedConcept("18748-4", "LN", "Imaging report"))
    root.ContentSequence = hd.sr.ContentSequence(
        [hd.sr.TextContentItem(codes.DCM.Finding, "free text", relationship_type="CONTAINS")]
    )
    sr = hd.sr.ComprehensiveSR(
        evidence=[source],
        content=root,
        series_instance_uid=generate_uid(),
        series_number=3,
        sop_instance_uid=generate_uid(),
        instance_number=1,
        manufacturer="Elsewhere",
    )
    # When it is read
    read = read_measurement_report(_save(tmp_path, sr, "text.dcm"), "text.dcm")
    # Then it yields nothing and says so
    assert read.regions == []
    assert read.skipped == [("text.dcm", "not a TID 1500 measurement report: not read")]
