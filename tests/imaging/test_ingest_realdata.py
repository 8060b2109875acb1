"""DICOM ingest of the real files in ../shared/data (see each folder's PROVENANCE.md)."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest

from annotations.models import ExamLabel
from datasets.importers import import_dataset
from senolab.imaging import pixelcache, storage
from senolab.imaging.ingest import IngestError
from senolab.imaging.ingest.service import ingest_dicom_file
from senolab.imaging.models import Exam, Image, PseudonymEntry

pytestmark = [pytest.mark.realdata, pytest.mark.django_db]

NEMA = "dicom-format-samples/nema-wg04-mammo"


def test_nema_jpeg2000_mammogram_decodes_at_full_size(shared_data, project):
    # given the real 12-bit JPEG 2000 mammogram (stored as RG Secondary Capture, left MLO)
    path = shared_data / NEMA / "MG1_J2KI.dcm"
    # when it is ingested
    image = ingest_dicom_file(project, path)
    # then it is a full-size 12-bit breast image with its view and side
    assert (image.columns, image.rows, image.bits_stored) == (3064, 4664, 12)
    assert (image.modality, image.laterality, image.view) == ("MG", "L", "MLO")
    assert image.transfer_syntax_uid == "1.2.840.10008.1.2.4.91"
    # and the pixel cache holds the decoded pixels, with downsampled levels
    full = pixelcache.read_pixels(image)
    assert full.shape == (4664, 3064) and full.dtype == np.uint16 and 0 < full.max() <= 4095
    assert len(image.pixel_cache["levels"]) >= 4
    assert max(image.pixel_cache["levels"][-1]["shape"][1:3]) <= pixelcache.MIN_LEVEL_SIDE
    # and the original is kept as it came (still JPEG 2000), de-identified
    kept = pydicom.dcmread(storage.open_file(image.storage_key))
    assert kept.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.4.91"
    assert kept.PatientIdentityRemoved == "YES"


def test_nema_jpeg_12bit_copy_is_decoded_or_refused_naming_the_syntax(shared_data, project):
    reference = ingest_dicom_file(project, shared_data / NEMA / "MG1_J2KI.dcm")
    try:
        image = ingest_dicom_file(project, shared_data / NEMA / "MG1_JPLY.dcm")
    except IngestError as refused:  # no decoder here reads it: the message names the syntax
        assert "JPEG Extended" in str(refused) and "1.2.840.10008.1.2.4.51" in str(refused)
        return
    # Decoded (GDCM reads what pylibjpeg does not): the same picture as the JPEG 2000 copy.
    assert (image.rows, image.columns) == (4664, 3064)
    a = pixelcache.read_pixels(image, level=2).astype(float).ravel()
    b = pixelcache.read_pixels(reference, level=2).astype(float).ravel()
    assert image.pk != reference.pk and image.transfer_syntax_uid == "1.2.840.10008.1.2.4.51"
    assert np.corrcoef(a, b)[0, 1] > 0.99


def test_true_mg_class_object_keeps_view_laterality_and_spacing(shared_data, project):
    image = ingest_dicom_file(
        project, shared_data / "dicom-format-samples/clunie-mg/MG_Explicit_Little.dcm"
    )
    assert (image.modality, image.laterality, image.view) == ("MG", "R", "CC")
    assert (image.rows, image.columns) == (512, 512)
    assert image.pixel_spacing == [0.25, 0.25]


@pytest.mark.slow
def test_mimbcd_mri_and_ultrasound_folders_import_with_their_label_tables(shared_data, project):
    # when the whole MIMBCD-UI folder is imported in its published layout
    report = import_dataset(project, "dicom", shared_data / "mimbcd")
    # then every MRI slice and ultrasound image went in, the tables and manifest skipped
    assert not report.failed, report.failed[:5]
    images = Image.objects.filter(project=project)
    assert images.filter(modality="MR").count() == 128 + 256
    assert images.filter(modality="US").count() >= 30
    assert set(images.filter(modality="MR").values_list("rows", flat=True)) == {352, 288}
    assert images.filter(modality="US", samples_per_pixel=3).exists()
    # and the labelled patient with BI-RADS 5 has malignant left-breast reference labels
    (entry,) = [
        e
        for e in PseudonymEntry.objects.filter(project=project)
        if e.original_patient_id.startswith("9cfd047c")  # encrypted at rest: no SQL filter
    ]
    exams = Exam.objects.filter(project=project, patient=entry.patient)
    assert {m for e in exams for m in e.modalities} >= {"MR", "US"}
    labels = ExamLabel.objects.filter(exam__in=exams, source="reference", laterality="L")
    assert labels.exists() and set(labels.values_list("pathology", flat=True)) == {"malignant"}
    assert "5" in set(labels.values_list("birads", flat=True))
    # and nothing served carries the original patient id
    stored = storage.read(images.filter(modality="MR").first().storage_key)
    assert entry.original_patient_id.encode() not in stored
