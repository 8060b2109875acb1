"""The pseudonym map at rest: original identifiers encrypted under the key from settings, the
projects' HMAC secrets too, so a database dump alone re-identifies nobody; owners still read
the map, decrypted, through its endpoint."""

from __future__ import annotations

import hashlib
import hmac
import io
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from senolab import settings as settings_module
from senolab.imaging.ingest.service import ingest_paths
from senolab.imaging.models import DeidentificationKey, Patient, PseudonymEntry
from senolab.imaging.pseudonym_key import PseudonymKeyError
from senolab.imaging.pseudonyms import entry_for, pseudonym_for
from tests.factories.dicom import IDENTIFIERS, write_dicom
from tests.imaging.ingest_helpers import media

__all__ = ["media"]

PLANTED = {
    "name": IDENTIFIERS["PatientName"],
    "patient id": IDENTIFIERS["PatientID"],
    "accession": IDENTIFIERS["AccessionNumber"],
}


def _hits(text: bytes) -> list[str]:
    found = []
    for label, value in PLANTED.items():
        # names are searched part by part too: FACTORYSMITH alone is as telling as the whole
        for part in {value, *value.split("^")} - {""}:
            if len(part) >= 4 and part.encode() in text:
                found.append(f"{label}: {part}")
    return found


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("media")
def test_a_database_dump_after_ingest_holds_no_planted_identifier(
    tmp_path, project, owner, client_for
):
    # given a file with a planted name, patient id and accession number, ingested
    report = ingest_paths(project, [write_dicom(tmp_path / "a.dcm", seed=1)])
    assert report.images and not report.failed
    # when the database is dumped (every table, the pseudonym map included)
    dump = io.StringIO()
    call_command("dumpdata", exclude=["sessions"], stdout=dump)
    # then none of them is in it
    assert "pseudonymentry" in dump.getvalue()  # the map is in the dump: the search means something
    assert not _hits(dump.getvalue().encode())
    # and none is in the raw SQLite files either (database, write-ahead log)
    if connection.vendor == "sqlite":
        pseudonym = Patient.objects.get(project=project).pseudonym
        connection.close()
        db = Path(connection.settings_dict["NAME"])
        raw = b"".join(p.read_bytes() for p in db.parent.glob(db.name + "*"))
        assert pseudonym.encode() in raw  # the rows are in these bytes: the search means something
        assert not _hits(raw)
    # and the owner still reads the map, decrypted
    rows = client_for(owner).get(f"/api/projects/{project.pk}/pseudonyms/").json()
    rows = rows["results"] if isinstance(rows, dict) else rows
    assert [(r["original_patient_id"], r["original_patient_name"]) for r in rows] == [
        (PLANTED["patient id"], PLANTED["name"])
    ]


@pytest.mark.django_db
def test_the_map_does_not_open_with_another_key(tmp_path, project, settings):
    # given a map entry written under the configured key
    entry_id = entry_for_new_patient(project, "PAT-77").pk
    # when the key is not the one it was written with
    settings.SENOLAB_PSEUDONYM_KEY = "a-different-key"
    entry = PseudonymEntry.objects.get(pk=entry_id)
    # then the identifiers cannot be read, and the error says what is wrong
    with pytest.raises(PseudonymKeyError, match="SENOLAB_PSEUDONYM_KEY"):
        _ = entry.original_patient_id


def entry_for_new_patient(project, patient_id: str) -> PseudonymEntry:
    from senolab.imaging.pseudonyms import pseudonymize_patient

    pseudonymize_patient(project, patient_id, "DOE^JOHN")
    entry = entry_for(project, patient_id)
    assert entry is not None and entry.original_patient_name == "DOE^JOHN"
    return entry


def test_the_key_file_is_generated_once_outside_the_database_and_the_environment_wins(
    tmp_path, monkeypatch
):
    # given no key in the environment and a key file location
    key_file = tmp_path / "keys" / "pseudonym.key"
    monkeypatch.delenv("SENOLAB_PSEUDONYM_KEY", raising=False)
    monkeypatch.setenv("SENOLAB_PSEUDONYM_KEY_FILE", str(key_file))
    # when the settings read it twice
    first, second = settings_module._pseudonym_key(), settings_module._pseudonym_key()
    # then a private key file was made once and is reused
    assert first == second == key_file.read_text().strip() and len(first) >= 32
    assert key_file.stat().st_mode & 0o077 == 0
    # and a key in the environment takes precedence
    monkeypatch.setenv("SENOLAB_PSEUDONYM_KEY", "from-the-environment")
    assert settings_module._pseudonym_key() == "from-the-environment"


@pytest.mark.django_db(transaction=True)
def test_the_migration_encrypts_existing_rows_and_keeps_every_pseudonym(settings):
    # given the database before encryption, with a project secret and a plain map entry
    executor = MigrationExecutor(connection)
    # imaging before its encryption migration, every other app as it is now (no other app's
    # migration depends on that one)
    others = [node for node in executor.loader.graph.leaf_nodes() if node[0] != "imaging"]
    before = [("imaging", "0001_initial"), *others]
    executor.migrate(before)
    old = executor.loader.project_state(before).apps
    project = old.get_model("projects", "Project").objects.create(name="Old", slug="old")
    secret = "ab" * 32
    old.get_model("imaging", "DeidentificationKey").objects.create(project=project, secret=secret)
    pseudonym = (
        "SNL-"
        + hmac.new(secret.encode(), b"patient:PAT-9", hashlib.sha256).hexdigest()[:10].upper()
    )
    patient = old.get_model("imaging", "Patient").objects.create(
        project=project, pseudonym=pseudonym
    )
    old.get_model("imaging", "PseudonymEntry").objects.create(
        project=project,
        patient=patient,
        original_patient_id="PAT-9",
        original_patient_name="DOE^JOHN",
        date_offset_days=-400,
    )
    # when the migrations run
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())
    # then the rows hold no plain identifier and no plain secret
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM imaging_pseudonymentry")
        row = repr(cursor.fetchall())
        cursor.execute("SELECT secret FROM imaging_deidentificationkey")
        stored_secret = cursor.fetchone()[0]
    assert "PAT-9" not in row and "DOE" not in row and secret not in stored_secret
    # and the entry is found and read as before, under the same pseudonym
    from senolab.projects.models import Project

    project = Project.objects.get(slug="old")
    entry = entry_for(project, "PAT-9")
    assert entry is not None
    assert (entry.original_patient_id, entry.original_patient_name) == ("PAT-9", "DOE^JOHN")
    assert entry.patient.pseudonym == pseudonym == pseudonym_for(project, "PAT-9")
    assert DeidentificationKey.objects.get(project=project).secret != secret
