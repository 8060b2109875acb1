"""DICOM ingest service: rows, de-identified original, pixel cache, duplicates, atomic items."""

from __future__ import annotations

import datetime as dt
import io
import logging
import zipfile

import numpy as np
import pydicom
import pytest

from senolab.imaging import pixelcache, storage
from senolab.imaging.ingest import IngestError
from senolab.imaging.ingest.service import ingest_dicom_file, ingest_paths
from senolab.imaging.models import Image, PseudonymEntry
from tests.factories.dicom import IDENTIFIERS, make_dicom, write_dicom
from tests.imaging.ingest_helpers import media, row_counts, stored_files

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media")]
__all__ = ["media"]


def test_mammogram_becomes_rows_a_deidentified_original_and_a_pixel_cache(tmp_path, project):
    # given a right MLO mammogram with identifiers
    path = write_dicom(
        tmp_path / "FACTORYSMITH.dcm",
        rows=64,
        columns=48,
        view="MLO",
        laterality="R",
        study_date="20190311",
    )
    original = pydicom.dcmread(path)
    # when it is ingested
    image = ingest_dicom_file(project, path)
    # then the image row describes it, under remapped UIDs
    assert (image.modality, image.laterality, image.view) == ("MG", "R", "MLO")
    assert (image.rows, image.columns, image.bits_stored, image.frame_count) == (64, 48, 12, 1)
    assert image.pixel_spacing == [0.07, 0.07]
    assert image.sop_instance_uid != original.SOPInstanceUID
    assert image.exam.study_uid != original.StudyInstanceUID
    # and the exam date moved by the patient's offset
    entry = PseudonymEntry.objects.get(project=project, patient=image.exam.patient)
    original_date = image.exam.study_date - dt.timedelta(days=entry.date_offset_days)
    assert original_date == dt.date(2019, 3, 11) and entry.date_offset_days != 0
    # and the pixel cache holds the pixels exactly
    np.testing.assert_array_equal(pixelcache.read_pixels(image), original.pixel_array)
    # and the kept original carries none of the identifiers
    stored = storage.read(image.storage_key)
    assert not [v for v in IDENTIFIERS.values() if v.encode() in stored]
    assert storage.sha256_of(stored) == image.sha256
    assert pydicom.dcmread(io.BytesIO(stored)).PatientIdentityRemoved == "YES"


def test_reingesting_the_same_file_or_the_same_instance_adds_nothing(media, tmp_path, project):
    # given a file ingested once
    ds = make_dicom(seed=4)
    first = tmp_path / "a.dcm"
    ds.save_as(first, enforce_file_format=True)
    image = ingest_dicom_file(project, first)
    counts, files = row_counts(project), stored_files(media)
    # when the same bytes, and the same instance re-encoded, come again
    again = ingest_dicom_file(project, first)
    ds.file_meta.TransferSyntaxUID = pydicom.uid.ImplicitVRLittleEndian
    recoded = tmp_path / "b.dcm"
    ds.save_as(recoded, enforce_file_format=True, implicit_vr=True)
    report = ingest_paths(project, [recoded])
    # then both are duplicates of the stored image
    assert again.pk == image.pk
    assert report.duplicates == 1 and report.images == [] and report.failed == []
    assert row_counts(project) == counts and stored_files(media) == files


def test_a_four_view_exam_shares_one_exam_and_patient(tmp_path, project):
    for side in "RL":
        for view in ("CC", "MLO"):
            write_dicom(
                tmp_path / f"{side}{view}.dcm",
                laterality=side,
                view=view,
                study_uid="1.2.826.0.1.3680043.10.999.1.42",
                series_uid="1.2.826.0.1.3680043.10.999.2.42",
                seed=ord(side) + len(view),
            )
    report = ingest_paths(project, [tmp_path])
    assert len(report.images) == 4 and not report.failed
    images = Image.objects.filter(pk__in=report.images)
    assert {(i.laterality, i.view) for i in images} == {(s, v) for s in "RL" for v in ("CC", "MLO")}
    assert row_counts(project) == (1, 1, 1, 4)


def test_bad_items_fail_with_messages_while_the_rest_of_the_batch_goes_in(media, tmp_path, project):
    # given a folder with a good file, a text file posing as DICOM, a truncated file and a
    # DICOM without pixel data, plus a label table beside them
    folder = tmp_path / "batch"
    write_dicom(folder / "good.dcm", seed=1)
    (folder / "not-dicom.dcm").write_bytes(b"hello, not an image")
    (folder / "truncated.dcm").write_bytes(
        (write_dicom(tmp_path / "t.dcm", seed=2).read_bytes())[:-300]
    )
    write_dicom(folder / "nopixels.dcm", seed=3, PixelData=None)
    (folder / "labels.csv").write_text("patient,birads\n")
    # when the folder is ingested
    report = ingest_paths(project, [folder])
    # then the good file went in, each bad one failed with its reason, the table was skipped
    assert len(report.images) == 1 and report.skipped == 1
    messages = sorted(message for _, message in report.failed)
    assert len(messages) == 3
    assert any("no pixel data" in m for m in messages)
    assert any("not a DICOM" in m for m in messages)
    assert any("truncated" in m for m in messages)
    assert all(label.startswith("item 1, file ") for label, _ in report.failed)
    # and the failed items stored nothing
    assert row_counts(project) == (1, 1, 1, 1)
    assert len(stored_files(media)) == 1 + len(Image.objects.get().pixel_cache["levels"])


def test_failure_while_storing_leaves_no_rows_and_no_files(media, tmp_path, project, monkeypatch):
    # given storage that fails once the original and the pixel cache files are written
    from senolab.imaging.ingest import service

    path = write_dicom(tmp_path / "a.dcm")
    written: list[str] = []
    save_into = service._PendingFiles.save_into

    def then_fail(self, batch):
        save_into(self, batch)
        written.extend(batch.keys)
        raise OSError("disk full")

    monkeypatch.setattr(service._PendingFiles, "save_into", then_fail)
    # when the file is ingested
    with pytest.raises(OSError):
        ingest_dicom_file(project, path)
    # then nothing of it is stored: no patient, no exam, no file
    assert len(written) >= 2
    assert row_counts(project) == (0, 0, 0, 0)
    assert stored_files(media) == []
    assert not PseudonymEntry.objects.filter(project=project).exists()


def test_zip_archives_are_expanded_and_unsafe_ones_refused_whole(tmp_path, project):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for i in range(2):
            zf.writestr(
                f"FACTORYSMITH/{i}.dcm",
                write_dicom(tmp_path / f"{i}.dcm", seed=10 + i).read_bytes(),
            )
    (tmp_path / "good.zip").write_bytes(buf.getvalue())
    bad = io.BytesIO()
    with zipfile.ZipFile(bad, "w") as zf:
        zf.writestr("../escape.dcm", write_dicom(tmp_path / "e.dcm", seed=20).read_bytes())
    (tmp_path / "bad.zip").write_bytes(bad.getvalue())
    report = ingest_paths(project, [tmp_path / "good.zip", tmp_path / "bad.zip"])
    assert len(report.images) == 2
    assert report.failed == [("item 2", report.failed[0][1])]
    assert "climbs out" in report.failed[0][1]


def test_large_mammogram_gets_downsampled_cache_levels(tmp_path, project):
    path = write_dicom(tmp_path / "big.dcm", rows=1400, columns=1100, bits=16)
    image = ingest_dicom_file(project, path)
    shapes = [level["shape"] for level in image.pixel_cache["levels"]]
    assert shapes[0] == [1, 1400, 1100, 1] and shapes[-1][1] <= 512 and len(shapes) == 3
    assert pixelcache.read_pixels(image, level=1).shape == (700, 550)


def test_multiframe_ultrasound_keeps_its_frames_and_flags_burned_in_text(tmp_path, project):
    path = write_dicom(
        tmp_path / "cine.dcm", modality="US", frames=4, rows=30, columns=40, burned_in=True
    )
    image = ingest_dicom_file(project, path)
    assert (image.modality, image.frame_count, image.burned_in_annotation) == ("US", 4, True)
    assert pixelcache.read_pixels(image, frame=3).shape == (30, 40)


def test_progress_reaches_one_and_no_log_line_names_a_file_or_patient(tmp_path, project, caplog):
    folder = tmp_path / "FACTORYSMITH-JANE"
    for i in range(3):
        write_dicom(folder / f"FACPID0001-{i}.dcm", seed=30 + i)
    (folder / "FACPID0001-broken.dcm").write_bytes(b"\x00" * 200)
    seen: list[float] = []
    caplog.set_level(logging.DEBUG)
    report = ingest_paths(project, [folder], progress=lambda f, m: seen.append(f))
    assert len(report.images) == 3 and len(report.failed) == 1
    assert seen[-1] == 1.0 and seen == sorted(seen)
    text = caplog.text + repr(report.failed)
    assert "FACPID0001" not in text and "FACTORYSMITH" not in text


def test_a_single_unreadable_file_raises_ingest_error(tmp_path, project):
    path = tmp_path / "empty.dcm"
    path.write_bytes(b"")
    with pytest.raises(IngestError, match="empty"):
        ingest_dicom_file(project, path)
    assert row_counts(project) == (0, 0, 0, 0)


def test_management_command_ingests_and_prints_the_report(tmp_path, project):
    from io import StringIO

    from django.core.management import call_command
    from django.core.management.base import CommandError

    write_dicom(tmp_path / "in" / "a.dcm", seed=40)
    (tmp_path / "in" / "b.dcm").write_bytes(b"nope")
    out = StringIO()
    call_command(
        "ingest_dicom",
        str(tmp_path / "in"),
        "--project",
        project.name,
        stdout=out,
        stderr=StringIO(),
    )
    assert "1 images ingested, 0 duplicates" in out.getvalue()
    assert "failed: item 1, file 2: not a DICOM file" in out.getvalue()
    with pytest.raises(CommandError, match="nothing was ingested"):
        call_command(
            "ingest_dicom",
            str(tmp_path / "in" / "b.dcm"),
            "--project",
            project.name,
            stdout=StringIO(),
            stderr=StringIO(),
        )
    with pytest.raises(CommandError, match="no project"):
        call_command("ingest_dicom", str(tmp_path), "--project", "nope")
