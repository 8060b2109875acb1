"""Retain Patient Characteristics keeps PatientAge and PatientSex only when their values are
valid for the attribute; a name put in the wrong field is removed and counted in the report."""

from __future__ import annotations

import io

import pydicom
import pytest
from django.core.management import call_command

from senolab.imaging import storage
from senolab.imaging.deid.characteristics import valid_age, valid_sex
from senolab.imaging.ingest.service import ingest_paths
from senolab.imaging.models import Image
from tests.factories.dicom import write_dicom
from tests.imaging.ingest_helpers import media

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media")]
__all__ = ["media"]


@pytest.mark.parametrize(
    ("value", "kept"),
    [
        ("057Y", "057Y"),
        ("130Y", "130Y"),
        ("006M", "006M"),
        ("003W", "003W"),
        ("010D", "010D"),
        (" 045y ", "045Y"),
        ("131Y", None),
        ("57Y", None),
        ("0057Y", None),
        ("057", None),
        ("DOE^JANE", None),
        ("19610417", None),
        ("", None),
    ],
)
def test_an_age_is_kept_only_as_nnn_and_a_unit_within_a_lifetime(value, kept):
    assert valid_age(value) == kept


@pytest.mark.parametrize(
    ("value", "kept"),
    [
        ("F", "F"),
        ("M", "M"),
        ("O", "O"),
        ("f ", "F"),
        ("FEMALE", None),
        ("JANE", None),
        ("U", None),
    ],
)
def test_a_sex_is_kept_only_as_m_f_or_o(value, kept):
    assert valid_sex(value) == kept


def test_names_in_age_and_sex_are_removed_and_counted_in_the_ingest_report(tmp_path, project):
    # given a file whose site put the patient's name in PatientAge and PatientSex
    planted = write_dicom(tmp_path / "a.dcm", seed=1, PatientAge="SMITHJ", PatientSex="JANE")
    # and one with a valid age and sex, and one with a name in the age only
    valid = write_dicom(tmp_path / "b.dcm", seed=2, PatientAge="057Y", PatientSex="F")
    half = write_dicom(tmp_path / "c.dcm", seed=3, PatientAge="SMITHJ", PatientSex="F")
    # when they are ingested
    report = ingest_paths(project, [planted, valid, half])
    # then the report counts each removed value by attribute
    assert not report.failed
    assert report.as_result()["removed_characteristics"] == {"PatientAge": 2, "PatientSex": 1}
    # and no stored file holds the planted names; the valid values are kept
    by_count = {}
    for image in Image.objects.filter(project=project):
        data = storage.read(image.storage_key)
        assert b"SMITHJ" not in data and b"JANE" not in data
        ds = pydicom.dcmread(io.BytesIO(data))
        by_count[len(image.extra.get("removed_characteristics", []))] = (
            ds.PatientAge,
            ds.PatientSex,
        )
    assert by_count == {2: ("", ""), 0: ("057Y", "F"), 1: ("", "F")}


def test_the_ingest_command_reports_removed_values_and_quarantined_images(tmp_path, project):
    # given a US file with a name in PatientSex (and no burned-in statement)
    path = write_dicom(
        tmp_path / "a.dcm", modality="US", PatientSex="JANE", BurnedInAnnotation=None
    )
    out = io.StringIO()
    # when it is ingested from the command line
    call_command(
        "ingest_dicom", str(path), "--project", project.name, stdout=out, stderr=io.StringIO()
    )
    # then the summary names what was removed and quarantined, never the value
    text = out.getvalue()
    assert "PatientSex: 1 invalid value(s) removed" in text
    assert "1 quarantined for burned-in text" in text
    assert "JANE" not in text
