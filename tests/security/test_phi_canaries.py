"""PHI canaries: DICOM files with a canary in every Basic Profile attribute go through ingest;
no canary may come back from storage, the database, the logs or any API response, except in the
pseudonym map, which only project owners may read."""

from __future__ import annotations

import datetime as dt
import io
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pydicom
import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection
from rest_framework.test import APIClient

from senolab.imaging.ingest import service as ingest
from senolab.imaging.models import Exam, Image, PseudonymEntry
from senolab.imaging.pseudonyms import entry_for
from senolab.projects.models import Project
from tests.security.matrix import fill_path
from tests.security.operations import api_operations
from tests.security.phi import CanaryFile, write_canary_files
from tests.security.seed import Seeded


def hits(text: str, canaries: dict[str, str]) -> list[str]:
    low = text.lower()
    return sorted(f"{c} ({where})" for c, where in canaries.items() if c.lower() in low)


@dataclass
class Ingested:
    """The canary files after ingest, what the log received meanwhile, and the users."""

    project: Project
    files: list[CanaryFile]
    report: Any
    canaries: dict[str, str]
    logged: list[logging.LogRecord]
    owner: Any
    reviewer: Any
    outsider: Any


def without_shifted_dates(canaries: dict[str, str], offsets: set[int]) -> dict[str, str]:
    """Drop the canary dates that another canary date shifted by a patient's offset equals:
    finding one of those proves nothing."""
    days = {}
    for value in canaries:
        try:
            days[value] = dt.datetime.strptime(value, "%Y%m%d").date()
        except ValueError:
            continue
    shifted = {d + dt.timedelta(days=o) for d in days.values() for o in offsets}
    return {c: w for c, w in canaries.items() if c not in days or days[c] not in shifted}


def log_text(records: list[logging.LogRecord]) -> str:
    """Every record as a handler would write it (message with its arguments, tracebacks),
    the SQL that reads and writes the (encrypted) pseudonym map included."""
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    return "\n".join(formatter.format(r) for r in records)


@pytest.fixture
def ingested(tmp_path, make_user, make_project, caplog):
    """Both canary files ingested into a fresh project, with every log record at DEBUG kept."""
    owner, reviewer, outsider = make_user(), make_user(), make_user()
    project = make_project(owner=owner, reviewer=reviewer)
    make_project(owner=outsider)
    folder = tmp_path / "incoming"
    folder.mkdir()
    files = write_canary_files(folder, "H8")
    # Every logger at DEBUG, SQL included (beyond SENOLAB_LOG_LEVEL=DEBUG, which leaves Django's
    # loggers at INFO); loggers the settings pin higher (pydicom) stay where they are.
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="django")
    connection.force_debug_cursor = True
    try:
        report = ingest.ingest_paths(project, [folder], user=owner)
    finally:
        connection.force_debug_cursor = False
    # Kept here: caplog.records in a test body holds only that test's own phase.
    logged = [record for record in caplog.records]
    offsets = set(
        PseudonymEntry.objects.filter(project=project).values_list("date_offset_days", flat=True)
    )
    canaries = without_shifted_dates({c: w for f in files for c, w in f.canaries.items()}, offsets)
    return Ingested(project, files, report, canaries, logged, owner, reviewer, outsider)


def stored_hits(canaries: dict[str, str]) -> list[str]:
    """Canaries in any stored file (originals, pixel caches, thumbnails) or its key."""
    media = Path(settings.MEDIA_ROOT)
    found = []
    for path in (p for p in media.rglob("*") if p.is_file()):
        found += [
            f"{path.relative_to(media)}: {hit}"
            for hit in hits(
                str(path.relative_to(media)) + path.read_bytes().decode("latin-1"), canaries
            )
        ]
    return found


def database_hits(canaries: dict[str, str]) -> list[str]:
    """Canaries in a full dump of the database, the pseudonym map included (it is encrypted)."""
    dump = io.StringIO()
    call_command("dumpdata", exclude=["sessions"], stdout=dump)
    return hits(dump.getvalue(), canaries)


@pytest.mark.django_db(transaction=False)
def test_canary_dicom_leaves_no_identifier_in_storage_database_or_logs(ingested):
    project, files, report = ingested.project, ingested.files, ingested.report
    canaries = ingested.canaries
    # Then the plain file went in, and the burned-in one was refused or flagged
    images = Image.objects.filter(project=project)
    assert len(report.images) >= 1 and images.exists(), report.failed
    burned_flagged = images.filter(burned_in_annotation=True).exists()
    assert burned_flagged or len(report.failed) == 1, "burned-in annotation flag ignored"
    # And no stored file carries a canary
    stored = [p for p in Path(settings.MEDIA_ROOT).rglob("*") if p.is_file()]
    assert len(stored) >= 2, "nothing stored: the search would prove nothing"
    assert not stored_hits(canaries), stored_hits(canaries)[:10]
    # And the database holds no canary, not even in the (encrypted) pseudonym map
    assert not database_hits(canaries), database_hits(canaries)[:20]
    entry = entry_for(project, files[0].patient_id)
    assert entry is not None and entry.original_patient_id == files[0].patient_id
    assert entry.patient.pseudonym not in canaries
    # And no log record, at DEBUG, names one; nor do the failure messages
    logged = log_text(ingested.logged)
    assert ingested.logged, "no log record at all: the log search would prove nothing"
    assert not hits(logged, canaries), hits(logged, canaries)[:20]
    assert not hits(repr(report.failed), canaries)
    print(
        f"\nPHI canaries: {len(canaries)} distinct values in {len(files)} files; searched "
        f"{len(stored)} stored files, a {len(ingested.logged)}-record DEBUG log, the database "
        f"dump; images {len(report.images)}, refused {len(report.failed)}, "
        f"burned-in flagged {burned_flagged}: 0 hits"
    )


@pytest.mark.django_db
def test_the_canary_search_finds_an_identifier_the_deidentification_left(
    tmp_path, make_user, make_project, monkeypatch
):
    # Given a de-identification that leaves one identifier behind in the stored DICOM
    from senolab.imaging import deid

    real = deid.deidentify

    def leaky(ds, project):
        result = real(ds, project)
        ds.PatientComments = leaked
        return result

    monkeypatch.setattr(deid, "deidentify", leaky)
    owner = make_user()
    project = make_project(owner=owner)
    files = write_canary_files(tmp_path, "LK")
    canaries = {c: w for f in files for c, w in f.canaries.items()}
    leaked = next(c for c, where in canaries.items() if where == "PatientName")
    # When the files are ingested
    report = ingest.ingest_paths(project, [files[0].path], user=owner)
    # Then the check this suite relies on finds it in storage
    assert report.images, report.failed
    assert any(leaked.lower() in hit.lower() for hit in stored_hits(canaries))


@pytest.mark.django_db
def test_api_responses_and_served_dicom_about_canary_exams_carry_no_identifier(ingested):
    project, canaries = ingested.project, ingested.canaries
    users = {"owner": ingested.owner}
    client = APIClient()
    client.force_authenticate(users["owner"])
    image = Image.objects.filter(project=project).first()
    seeded = Seeded(project, "H8", {type(project): project})
    for obj in (image, image.exam, image.series, image.exam.patient):
        seeded.add(obj)
    checked = served_dicom = 0
    for op in api_operations():
        if op.method != "GET" or "pseudonym" in op.template:
            continue
        path, first = fill_path(op, seeded)
        if op.params and first is None:
            continue  # an operation about objects this test did not make (findings, models)
        response = client.get(path, {"project": project.pk, "exam": image.exam_id})
        body = b"".join(response.streaming_content) if response.streaming else response.content
        text = body.decode("latin-1") + str(dict(response.items()))
        assert not hits(text, canaries), f"GET {path}: {hits(text, canaries)[:10]}"
        if "dicom" in response.get("Content-Type", ""):
            served = pydicom.dcmread(io.BytesIO(body))
            assert served.get("PatientIdentityRemoved") == "YES", path
            assert not [e.tag for e in served.iterall() if e.tag.is_private], path
            served_dicom += 1
        checked += 1
    assert checked >= 3
    print(f"\nPHI canaries: {checked} GET operations about the exams, {served_dicom} served DICOM")
    assert served_dicom >= 1 or not any("dicom" in op.template for op in api_operations())
    assert Exam.objects.filter(project=project).count() >= 1
