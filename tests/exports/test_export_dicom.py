"""DICOM SEG and SR: highdicom reads them back, the content is the export's, dciodvfy finds
no error."""

from __future__ import annotations

import shutil
import subprocess

import highdicom as hd
import numpy as np
import pytest

from exports.dicom import (
    BIRADS_CONCEPT,
    PATHOLOGY_CONCEPT,
    finding_code,
    measurement_report,
    segmentation,
)
from exports.masks import image_mask
from tests.factories.dicom import make_dicom

DCIODVFY = shutil.which("dciodvfy")


@pytest.fixture(params=["MG", "US", "MR"])
def source(request):
    # A source image the size of image 11 (64 x 48): a mammogram and an ultrasound (no frame
    # of reference), and an MR slice (with one)
    return make_dicom(modality=request.param, rows=48, columns=64, laterality="L")


def dciodvfy_errors(path) -> list[str]:
    done = subprocess.run([DCIODVFY, str(path)], capture_output=True, text=True, timeout=60)
    return [line for line in (done.stdout + done.stderr).splitlines() if "Error" in line]


@pytest.fixture
def seg_file(tmp_path, source, images, findings, label_map):
    mask = image_mask(images[0], findings, label_map)
    path = tmp_path / "seg.dcm"
    segmentation(source, mask, label_map).save_as(path)
    return path, mask


@pytest.fixture
def sr_file(tmp_path, source, findings):
    path = tmp_path / "sr.dcm"
    measurement_report(source, [f for f in findings if f.image_key in ("11", "12")]).save_as(path)
    return path


def test_the_seg_reads_back_with_the_mask_pixels_and_segments(seg_file, source, label_map):
    path, mask = seg_file
    # When highdicom reads the file
    seg = hd.seg.segread(path)
    # Then its segments are the label map, coded, and it references the source instance
    assert seg.number_of_segments == 3
    described = [seg.get_segment_description(n) for n in (1, 2, 3)]
    assert [d.segment_label for d in described] == list(label_map.names)
    assert described[0].segmented_property_type.value == finding_code("mass").value
    assert seg.get_source_image_uids() == [
        (source.StudyInstanceUID, source.SeriesInstanceUID, source.SOPInstanceUID)
    ]
    # And its pixels, segments combined, are the label map
    pixels = seg.get_pixels_by_source_instance(
        source_sop_instance_uids=[source.SOPInstanceUID], combine_segments=True
    )
    assert np.array_equal(pixels[0], mask)
    assert seg.StudyInstanceUID == source.StudyInstanceUID


def test_a_mask_of_another_size_than_the_image_is_refused(source, label_map):
    with pytest.raises(ValueError, match="10 x 10 pixels but the image is 64 x 48"):
        segmentation(source, np.zeros((10, 10), np.uint8), label_map)


def test_the_sr_reads_back_with_regions_codes_and_assessments(sr_file, source):
    # When highdicom reads the report
    sr = hd.sr.srread(sr_file)
    groups = sr.content.get_planar_roi_measurement_groups()
    # Then there is one group per region mark (box, polygon, ellipse; the point counts too)
    kinds = [g.roi.GraphicType for g in groups]
    assert kinds == ["POLYLINE", "POINT", "POLYLINE", "ELLIPSE"]
    box, point, polygon, ellipse = groups
    # And the box is a closed outline at its corners on the source image
    assert np.allclose(box.roi.value, [[5, 6], [15, 6], [15, 14], [5, 14], [5, 6]])
    [image_item] = box.roi.ContentSequence
    assert image_item.ReferencedSOPSequence[0].ReferencedSOPInstanceUID == source.SOPInstanceUID
    assert np.allclose(polygon.roi.value, [[30, 10], [50, 12], [40, 30], [30, 10]])
    assert np.allclose(ellipse.roi.value, [[12, 20], [28, 20], [20, 15], [20, 25]])
    assert np.allclose(point.roi.value, [[3, 3]])
    # And findings are coded in SNOMED CT, with BI-RADS and pathology as evaluations
    assert box.finding_type.value == "129788004"  # Mammographic breast mass
    assert polygon.finding_type.value == "129748009"  # Radiographic calcification finding
    evaluations = {e.name.value: e.value.value for e in box.get_qualitative_evaluations()}
    assert evaluations == {
        BIRADS_CONCEPT.value: "397144001",  # category 4 (from 4A)
        PATHOLOGY_CONCEPT.value: "21594007",  # malignant
    }
    polygon_evaluations = {
        e.name.value: e.value.value for e in polygon.get_qualitative_evaluations()
    }
    assert polygon_evaluations == {
        BIRADS_CONCEPT.value: "397141009",
        PATHOLOGY_CONCEPT.value: "30807003",
    }
    assert ellipse.get_qualitative_evaluations() == []


@pytest.mark.skipif(DCIODVFY is None, reason="dciodvfy (dicom3tools) is not installed")
def test_dciodvfy_finds_no_error_in_the_seg_or_the_sr(seg_file, sr_file):
    assert dciodvfy_errors(seg_file[0]) == []
    assert dciodvfy_errors(sr_file) == []
