"""De-identification on ingest (PS3.15 Annex E Basic Profile) and the DICOM fixture factory."""

from __future__ import annotations

import datetime as dt
import subprocess
from pathlib import Path

import pydicom
import pytest
from pydicom.datadict import dictionary_VR, keyword_for_tag
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian, JPEGBaseline8Bit

from senolab.imaging.deid import (
    PROFILE_ACTIONS,
    DeidentificationError,
    Deidentified,
    deidentify,
)
from senolab.imaging.deid.profile import APPLIED_ACTIONS, profile_markdown
from senolab.imaging.models import PseudonymEntry
from senolab.imaging.pseudonyms import remap_uid
from tests.factories.dicom import (
    IDENTIFIERS,
    make_dicom,
    supported_transfer_syntaxes,
    write_dicom,
)

DOCS = Path(__file__).resolve().parents[2] / "docs" / "security.md"
DCIODVFY = Path("/usr/bin/dciodvfy")
SKIP_VRS = {"OB", "OW", "OF", "OD", "OL", "OV", "UN", "AT", "US or SS", "OB or OW"}


def sample_value(vr: str, n: int) -> object:
    """A valid, distinctive value for a VR (n makes each attribute's value its own)."""
    samples = {
        "PN": f"ORIG{n}^PERSON",
        "DA": "20180315",
        "DT": "20180315101112",
        "TM": "101112",
        "UI": f"1.2.826.0.1.3680043.10.999.88.{n}",
        "IS": str(4000 + n),
        "DS": f"{n}.5",
        "AS": "045Y",
        "US": 7,
        "SS": 7,
        "UL": 7,
        "SL": 7,
        "UV": 7,
        "SV": 7,
        "FL": 1.5,
        "FD": 1.5,
    }
    return samples.get(vr, f"ORIGVAL{n:04d}")


def profile_filled_dataset() -> tuple[Dataset, dict[int, object]]:
    """A factory MG image with every dictionary-known profile attribute set (sequences get a
    code item naming a person and carrying a reference UID)."""
    ds = make_dicom()
    originals: dict[int, object] = {}
    for n, (tag, _) in enumerate(sorted(APPLIED_ACTIONS.items())):
        if tag >> 16 in (0x0000, 0x0002, 0x0004) or not keyword_for_tag(tag):
            continue  # command, file meta and DICOMDIR elements do not belong in a data set
        vr = dictionary_VR(tag)
        if vr in SKIP_VRS:
            continue
        if vr == "SQ":
            item = Dataset()
            item.CodeValue, item.CodingSchemeDesignator = f"SQVAL{n}", "99ZZ"
            item.CodeMeaning = f"SEQUENCE MEANING {n}"
            item.ReferencedSOPClassUID = "1.2.840.10008.5.1.4.1.1.1.2"
            item.ReferencedSOPInstanceUID = f"1.2.826.0.1.3680043.10.999.66.{n}"
            ds.add_new(tag, vr, Sequence([item]))
            originals[tag] = item.ReferencedSOPInstanceUID
        else:
            value = sample_value(vr, n)
            ds.add_new(tag, vr, value)
            originals[tag] = value
    return ds, originals


# Rows of PS3.15 Table E.1-1 written here from the standard, with what Senolab applies: a
# change in the library's transcription that touches them fails this test.
STANDARD_ROWS = {
    "AccessionNumber": ("Z", "Z"),
    "PatientName": ("Z", "D"),
    "PatientBirthDate": ("Z", "Z"),
    "PatientSex": ("Z", "K"),
    "PatientAge": ("X", "K"),
    "PatientWeight": ("X", "X"),
    "PatientAddress": ("X", "X"),
    "OtherPatientIDsSequence": ("X", "X"),
    "StudyInstanceUID": ("U", "U"),
    "SeriesInstanceUID": ("U", "U"),
    "SOPInstanceUID": ("U", "U"),
    "FrameOfReferenceUID": ("U", "U"),
    "ReferencedSOPInstanceUID": ("U", "U"),
    "ReferringPhysicianName": ("Z", "Z"),
    "StudyID": ("Z", "Z"),
    "StudyDate": ("Z", "C"),
    "StudyTime": ("Z", "Z"),
    "SeriesDate": ("X/D", "C"),
    "InstitutionName": ("X/Z/D", "D"),
    "InstitutionAddress": ("X", "X"),
    "OperatorsName": ("X/Z/D", "D"),
    "PerformingPhysicianName": ("X", "X"),
    "StudyDescription": ("X", "X"),
    "SeriesDescription": ("X", "X"),
    "ProtocolName": ("X/D", "D"),
    "RequestAttributesSequence": ("X", "X"),
    "ReferencedImageSequence": ("X/Z/U*", "U*"),
    "SourceImageSequence": ("X/Z/U*", "U*"),
    "AcquisitionContextSequence": ("X/Z", "Z"),
    "ReferencedStudySequence": ("X/Z", "X"),
    "DeviceSerialNumber": ("X/Z/D", "D"),
    "ContentCreatorName": ("Z/D", "D"),
    "ImageComments": ("X", "X"),
}
KEPT = [
    "Modality",
    "ImageLaterality",
    "Laterality",
    "ViewPosition",
    "ViewCodeSequence",
    "Rows",
    "Columns",
    "BitsStored",
    "PixelData",
    "PixelSpacing",
    "ImagerPixelSpacing",
    "WindowCenter",
    "WindowWidth",
    "PhotometricInterpretation",
    "NumberOfFrames",
    "FrameTime",
    "SOPClassUID",
    "Manufacturer",
    "BurnedInAnnotation",
    "PresentationIntentType",
]


def test_table_agrees_with_the_standard_and_keeps_what_viewer_and_models_need():
    from pydicom.datadict import tag_for_keyword

    from senolab.imaging.deid.profile import STANDARD_ACTIONS, action_for

    for keyword, (standard, applied) in STANDARD_ROWS.items():
        tag = tag_for_keyword(keyword)
        assert (STANDARD_ACTIONS[tag], PROFILE_ACTIONS[keyword]) == (standard, applied), keyword
    assert [k for k in KEPT if action_for(tag_for_keyword(k)) is not None] == []
    assert action_for(0x60003000) == action_for(0x60220010) == action_for(0x50000010) == "X"


@pytest.mark.django_db
def test_every_profile_attribute_present_is_handled_per_the_table(project):
    # Given an image with every attribute the table names
    ds, originals = profile_filled_dataset()
    assert len(originals) > 400
    # When it is de-identified
    result = deidentify(ds, project)
    # Then each attribute got exactly its action
    offset = dt.timedelta(days=result.date_offset_days)
    for tag, original in originals.items():
        action, keyword = APPLIED_ACTIONS[tag], keyword_for_tag(tag)
        if action == "X":
            assert tag not in ds, keyword
            continue
        value = ds[tag].value
        if keyword in ("PatientName", "PatientID"):
            assert str(value) == result.patient.pseudonym
        elif action == "Z":
            assert value in ("", None) or len(value) == 0, keyword
        elif action == "D":
            assert str(original) not in str(value), keyword
            assert ds[tag].VR == "SQ" and len(value) == 0 or value not in (None, ""), keyword
        elif action == "U":
            assert value == remap_uid(project, str(original)), keyword
        elif action == "U*":
            (item,) = value
            assert item.ReferencedSOPInstanceUID == remap_uid(project, str(original))
            assert "CodeValue" not in item and "CodeMeaning" not in item, keyword
        elif action == "C":
            day = dt.datetime.strptime(str(original)[:8], "%Y%m%d").date() + offset
            assert value == day.strftime("%Y%m%d"), keyword
        else:  # K: kept when valid for the attribute (a valid age), emptied otherwise
            assert action == "K", keyword
            expected = original if keyword == "PatientAge" else ""
            assert value == expected, keyword
    assert result.removed_characteristics == ("PatientSex",)


@pytest.mark.django_db
def test_factory_identifiers_are_gone_from_the_written_file(project, tmp_path):
    # Given a factory image (identifiers, nested sequences, a private block), prior reference
    ds = make_dicom(modality="MG", laterality="R", view="MLO")
    # When it is de-identified and written
    result = deidentify(ds, project)
    ds.save_as(tmp_path / "out.dcm", enforce_file_format=True)
    raw = (tmp_path / "out.dcm").read_bytes().decode("latin-1").upper()
    # Then no identifying value and no original UID remains anywhere in the bytes
    leaked = [k for k, v in IDENTIFIERS.items() if v.split("^")[0].upper() in raw]
    assert not leaked
    assert "1.2.826.0.1.3680043.10.999." not in raw
    assert "FACTORY PRIVATE CREATOR" not in raw and "FACPRIVATEVALUE" not in raw
    # And the viewer's and the models' attributes are kept
    back = pydicom.dcmread(tmp_path / "out.dcm")
    assert (back.Modality, back.ImageLaterality, back.ViewPosition) == ("MG", "R", "MLO")
    assert back.ViewCodeSequence[0].CodeValue == "399368009"
    assert [float(v) for v in back.PixelSpacing] == [0.07, 0.07]
    assert (back.WindowCenter, back.WindowWidth) == (2048, 4096)
    assert (back.PatientAge, back.PatientSex) == ("057Y", "F")
    assert back.PatientName == back.PatientID == result.patient.pseudonym


@pytest.mark.django_db
def test_pseudonym_map_keeps_the_original_and_the_file_says_how_it_was_deidentified(project):
    ds = make_dicom()
    result = deidentify(ds, project)
    assert isinstance(result, Deidentified)
    entry = PseudonymEntry.objects.get(project=project, patient=result.patient)
    assert entry.original_patient_id == IDENTIFIERS["PatientID"]
    assert entry.date_offset_days == result.date_offset_days
    assert not hasattr(result, "original_patient_id")
    assert ds.PatientIdentityRemoved == "YES"
    assert ds.LongitudinalTemporalInformationModified == "MODIFIED"
    items = list(ds.DeidentificationMethodCodeSequence)
    codes = [item.CodeValue for item in items]
    assert codes[0] == "113100" and {"113107", "113108"} <= set(codes)
    assert all(item.CodingSchemeDesignator == "DCM" for item in items)
    assert all(len(text) <= 64 for text in ds.DeidentificationMethod)


@pytest.mark.django_db
def test_uids_are_consistent_within_a_project_and_differ_across_projects(make_project):
    # Given two images of one study with a reference to each other, and a second project
    first, second = make_project(), make_project()
    a = make_dicom(study_uid="1.2.826.0.1.3680043.10.999.1.5", series_uid="1.2.826.0.1.3.1")
    b = make_dicom(study_uid="1.2.826.0.1.3680043.10.999.1.5", series_uid="1.2.826.0.1.3.1")
    b.ReferencedImageSequence[0].ReferencedSOPInstanceUID = a.SOPInstanceUID
    c = make_dicom(study_uid="1.2.826.0.1.3680043.10.999.1.5", sop_uid=a.SOPInstanceUID)
    # When they are de-identified
    for ds, project in ((a, first), (b, first), (c, second)):
        deidentify(ds, project)
    # Then one project maps each UID the same way everywhere, including nested and file meta
    assert a.StudyInstanceUID == b.StudyInstanceUID != "1.2.826.0.1.3680043.10.999.1.5"
    assert a.SeriesInstanceUID == b.SeriesInstanceUID
    assert b.ReferencedImageSequence[0].ReferencedSOPInstanceUID == a.SOPInstanceUID
    assert a.file_meta.MediaStorageSOPInstanceUID == a.SOPInstanceUID
    assert a.SOPInstanceUID.startswith("2.25.") and a.SOPInstanceUID.is_valid
    # And another project maps the same originals elsewhere
    assert c.StudyInstanceUID != a.StudyInstanceUID and c.SOPInstanceUID != a.SOPInstanceUID
    # While UIDs that identify nobody (SOP class, coding schemes) are kept
    assert a.SOPClassUID == "1.2.840.10008.5.1.4.1.1.1.2"


@pytest.mark.django_db
def test_one_patients_dates_shift_by_one_offset_keeping_the_prior_interval(project):
    # Given a prior and a current exam of one patient, and another patient
    prior = make_dicom(study_date="20170311", AcquisitionDateTime="20170311093000")
    current = make_dicom(study_date="20190320")
    other = make_dicom(study_date="20190320", PatientID="FACPID0002")
    # When all three are de-identified
    r_prior, r_current = deidentify(prior, project), deidentify(current, project)
    deidentify(other, project)
    # Then both exams of the patient moved by the same offset, the interval is unchanged
    assert r_prior.patient == r_current.patient
    assert r_prior.date_offset_days == r_current.date_offset_days < 0
    assert r_current.study_date - r_prior.study_date == dt.date(2019, 3, 20) - dt.date(2017, 3, 11)
    assert r_prior.study_date == dt.date(2017, 3, 11) + dt.timedelta(r_prior.date_offset_days)
    assert current.SeriesDate == current.StudyDate == r_current.study_date.strftime("%Y%m%d")
    # And a date-time keeps only its shifted date; times of day are gone
    assert prior.AcquisitionDateTime == prior.StudyDate
    assert prior.StudyTime == "" and "SeriesTime" in prior and prior.SeriesTime != "101600"
    assert "AcquisitionTime" in prior and prior.AcquisitionTime == ""
    # And the other patient has its own pseudonym
    assert other.PatientID != current.PatientID


@pytest.mark.django_db
def test_private_tags_and_stale_group_lengths_are_removed_at_every_depth(project):
    ds = make_dicom()
    nested = ds.AnatomicRegionSequence[0]
    nested.private_block(0x0011, "NESTED VENDOR", create=True).add_new(0x01, "LO", "SECRET")
    ds.add_new(0x00100000, "UL", 123)  # a (retired) group length of the patient group
    assert any(e.tag.is_private for e in ds.iterall())
    deidentify(ds, project)
    assert not any(e.tag.is_private for e in ds.iterall())
    assert 0x00100000 not in ds


@pytest.mark.django_db
def test_nested_sequences_are_cleaned_with_the_same_table(project):
    # Given table attributes deep inside sequences the profile keeps
    ds = make_dicom()
    modifier = Dataset()
    modifier.CodeValue, modifier.CodingSchemeDesignator, modifier.CodeMeaning = "1", "SCT", "x"
    modifier.OperatorsName = "NESTEDOPERATOR^ZED"
    modifier.ReferencedSOPInstanceUID = "1.2.826.0.1.3680043.10.999.42"
    modifier.StudyDate = "20190311"
    modifier.InstitutionAddress = "NESTED STREET 5"
    ds.ViewCodeSequence[0].ViewModifierCodeSequence = Sequence([modifier])
    # When de-identified
    result = deidentify(ds, project)
    # Then each got its action there too, and the codes around them are kept
    item = ds.ViewCodeSequence[0].ViewModifierCodeSequence[0]
    assert item.CodeValue == "1" and ds.ViewCodeSequence[0].CodeValue == "399162004"
    assert "NESTEDOPERATOR" not in str(item.OperatorsName)
    assert item.ReferencedSOPInstanceUID == remap_uid(project, "1.2.826.0.1.3680043.10.999.42")
    assert item.StudyDate == result.study_date.strftime("%Y%m%d")
    assert "InstitutionAddress" not in item
    # And a sequence the profile removes is gone with everything in it
    assert "RequestAttributesSequence" not in ds


@pytest.mark.django_db
def test_burned_in_annotation_is_reported_and_us_without_the_flag_counts_as_burned_in(project):
    assert deidentify(make_dicom(burned_in=True), project).burned_in is True
    assert deidentify(make_dicom(burned_in=False), project).burned_in is False
    assert deidentify(make_dicom(modality="US", BurnedInAnnotation=None), project).burned_in
    assert not deidentify(make_dicom(modality="MG", BurnedInAnnotation=None), project).burned_in


@pytest.mark.django_db
def test_data_set_without_uids_is_refused_with_a_message_naming_no_identifier(project):
    ds = make_dicom(SOPInstanceUID=None)
    with pytest.raises(DeidentificationError) as err:
        deidentify(ds, project)
    assert "SOPInstanceUID" in err.value.message
    assert IDENTIFIERS["PatientID"] not in err.value.message
    assert not PseudonymEntry.objects.filter(project=project).exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("modality", "bits", "frames", "color"),
    [
        ("MG", 12, 1, False),
        ("MG", 16, 1, False),
        ("US", 8, 5, False),
        ("US", 8, 2, True),
        ("MR", 12, 1, False),
    ],
)
def test_output_is_dicom_that_pydicom_reads_with_unchanged_pixels(
    project, tmp_path, modality, bits, frames, color
):
    for syntax in supported_transfer_syntaxes(lossy=bits == 8):
        # Given a factory file in this transfer syntax
        source = write_dicom(
            tmp_path / "in.dcm",
            modality=modality,
            bits=bits,
            frames=frames,
            color=color,
            transfer_syntax=syntax,
        )
        ds = pydicom.dcmread(source)
        expected = ds.pixel_array.copy()
        # When it is de-identified and written
        deidentify(ds, project)
        ds.save_as(tmp_path / "out.dcm", enforce_file_format=True)
        # Then pydicom reads it back with the same syntax and pixels, and a clean preamble
        back = pydicom.dcmread(tmp_path / "out.dcm")
        assert back.file_meta.TransferSyntaxUID == syntax
        assert (back.pixel_array == expected).all()
        assert back.preamble == b"\x00" * 128


def dciodvfy_errors(path: Path) -> set[str]:
    run = subprocess.run([str(DCIODVFY), str(path)], capture_output=True, text=True, timeout=60)
    return {line for line in (run.stdout + run.stderr).splitlines() if line.startswith("Error")}


@pytest.mark.django_db
@pytest.mark.skipif(not DCIODVFY.exists(), reason="dciodvfy (dicom3tools) not installed")
@pytest.mark.parametrize(
    "options",
    [
        {"modality": "MG"},
        {"modality": "US", "frames": 3},
        {"modality": "US", "color": True, "transfer_syntax": JPEGBaseline8Bit},
        {"modality": "MR"},
    ],
)
def test_deidentified_file_has_no_new_dciodvfy_errors(project, tmp_path, options):
    source = write_dicom(tmp_path / "in.dcm", **options)
    ds = pydicom.dcmread(source)
    deidentify(ds, project)
    ds.save_as(tmp_path / "out.dcm", enforce_file_format=True)
    assert dciodvfy_errors(tmp_path / "out.dcm") <= dciodvfy_errors(source)


def test_factory_writes_every_modality_depth_and_syntax_it_claims(tmp_path):
    syntaxes = supported_transfer_syntaxes()
    assert {ExplicitVRLittleEndian, ImplicitVRLittleEndian} <= set(syntaxes)
    cases = [("MG", 1, bits, False) for bits in (8, 12, 16)] + [
        ("US", 3, 8, False),
        ("US", 1, 8, True),
        ("US", 3, 8, True),
        ("MR", 1, 16, False),
    ]
    for modality, frames, bits, color in cases:
        options = {"modality": modality, "bits": bits, "frames": frames, "color": color}
        expected = make_dicom(**options).pixel_array
        shape = ((frames,) if frames > 1 else ()) + (32, 32) + ((3,) if color else ())
        assert expected.shape == shape
        for syntax in syntaxes:
            ds = pydicom.dcmread(write_dicom(tmp_path / "f.dcm", transfer_syntax=syntax, **options))
            assert ds.Modality == modality and ds.BitsStored == bits
            assert ds.file_meta.TransferSyntaxUID == syntax
            assert (ds.pixel_array == expected).all(), (options, syntax.name)


def test_factory_writes_lossy_jpeg_baseline_close_to_the_original(tmp_path):
    lossy = set(supported_transfer_syntaxes(lossy=True)) - set(supported_transfer_syntaxes())
    if not lossy:
        pytest.skip("imagecodecs JPEG encoder not available")
    (syntax,) = lossy
    for color in (False, True):
        expected = make_dicom(modality="US", color=color).pixel_array.astype(int)
        ds = pydicom.dcmread(
            write_dicom(tmp_path / "j.dcm", modality="US", color=color, transfer_syntax=syntax)
        )
        assert ds.LossyImageCompression == "01"
        error = abs(ds.pixel_array.astype(int) - expected)
        assert error.mean() < 8 and error.max() < 80
    with pytest.raises(ValueError):
        make_dicom(bits=12, transfer_syntax=syntax)


def test_docs_print_the_applied_profile_table():
    section = DOCS.read_text().split("<!-- deid:start -->")[1].split("<!-- deid:end -->")[0]
    assert profile_markdown() in section
    assert PROFILE_ACTIONS["PatientAge"] == "K" and PROFILE_ACTIONS["StudyDate"] == "C"


@pytest.mark.django_db
@pytest.mark.realdata
@pytest.mark.filterwarnings("ignore:The (value|PN component) length:UserWarning")  # pathml sample
def test_real_dicom_samples_come_out_readable_with_no_identifier_and_no_new_errors(
    project, shared_data, tmp_path
):
    # Given the real DICOM samples: MG, RG (JPEG 2000), PET, SEG, SM, and MIMBCD ultrasound
    files = sorted((shared_data / "dicom-format-samples").rglob("*.dcm"))
    files += sorted((shared_data / "mimbcd" / "uta7_us").rglob("*.dcm"))[:2]
    assert len(files) >= 10
    for number, source in enumerate(files):
        ds = pydicom.dcmread(source)
        patient_id, study_uid = str(ds.get("PatientID", "")), str(ds.StudyInstanceUID)
        # When each is de-identified and written
        deidentify(ds, project)
        out = tmp_path / f"{number}.dcm"
        ds.save_as(out, enforce_file_format=True)
        # Then it reads back, carries neither its patient id nor its study UID
        raw = out.read_bytes()
        back = pydicom.dcmread(out)
        assert back.PatientIdentityRemoved == "YES", source.name
        assert len(patient_id) < 4 or patient_id.encode() not in raw, source.name
        assert study_uid.encode() not in raw, source.name
        assert not any(e.tag.is_private for e in back.iterall()), source.name
        # And dciodvfy (when installed) finds no error the original did not have
        if DCIODVFY.exists():
            assert dciodvfy_errors(out) <= dciodvfy_errors(source), source.name


@pytest.mark.django_db
def test_debug_log_counts_actions_and_names_no_identifier(project, caplog):
    caplog.set_level("DEBUG", logger="senolab.imaging.deid")
    ds = make_dicom()
    deidentify(ds, project)
    (record,) = [r for r in caplog.records if r.name == "senolab.imaging.deid"]
    message = record.getMessage()
    assert "MG instance" in message and "private 3" in message and " U " in f" {message}"
    assert not [v for v in IDENTIFIERS.values() if v.split("^")[0] in message]
    assert "1.2.826.0.1.3680043.10.999." not in message and ds.PatientID not in message
