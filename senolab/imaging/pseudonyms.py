"""Pseudonyms, date offsets and UID remapping: consistent per project, secret per project.

Every value is an HMAC under the project's secret, which is stored encrypted with the pseudonym
key from settings (senolab.imaging.pseudonym_key); the pseudonym map keeps the original
identifiers encrypted and finds them by an HMAC digest. A database dump alone holds neither the
identifiers nor the key that would let anyone test a guess against a pseudonym.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from django.db import IntegrityError, transaction

from senolab.imaging.models import DeidentificationKey, Patient, PseudonymEntry
from senolab.imaging.pseudonym_key import decrypt, encrypt
from senolab.projects.models import Project

# Dates move back by a per-patient number of days in this range: intervals within a patient
# (priors, follow-up) are kept, absolute dates are not.
DATE_OFFSET_RANGE = (-3650, -365)


def set_project_secret(project: Project, secret: str) -> DeidentificationKey:
    """Give a project a chosen secret (benchmarks pin one for a reproducible split)."""
    return DeidentificationKey.objects.create(project=project, secret=encrypt(secret))


def project_secret(project: Project) -> bytes:
    key = DeidentificationKey.objects.filter(project=project).first()
    if key is None:
        try:
            with transaction.atomic():
                key = set_project_secret(project, secrets.token_hex(32))
        except IntegrityError:  # another worker created it first
            key = DeidentificationKey.objects.get(project=project)
    return decrypt(key.secret).encode()


def _digest(project: Project, kind: str, value: str) -> bytes:
    return hmac.new(project_secret(project), f"{kind}:{value}".encode(), hashlib.sha256).digest()


def remap_uid(project: Project, uid: str) -> str:
    """A new UID under the 2.25 (UUID-derived) root, the same for the same input in a project."""
    number = int.from_bytes(_digest(project, "uid", uid.strip())[:16], "big")
    return f"2.25.{number}"


def pseudonym_for(project: Project, original_patient_id: str) -> str:
    return "SNL-" + _digest(project, "patient", original_patient_id).hex()[:10].upper()


def original_id_digest(project: Project, original_patient_id: str) -> str:
    """The map's lookup key for an original patient id (the id itself is stored encrypted)."""
    return _digest(project, "map", original_patient_id.strip()).hex()


def entry_for(project: Project, original_patient_id: str) -> PseudonymEntry | None:
    """The map's entry for an original patient id, or None."""
    return (
        PseudonymEntry.objects.select_related("patient")
        .filter(
            project=project, original_id_digest=original_id_digest(project, original_patient_id)
        )
        .first()
    )


def pseudonymize_patient(
    project: Project, original_patient_id: str, original_patient_name: str = ""
) -> tuple[Patient, int]:
    """The project's Patient for an original identifier, and its date offset in days.

    Creates the patient and its PseudonymEntry on first sight; safe under concurrent ingest.
    """
    original_patient_id = (original_patient_id or "").strip() or "UNKNOWN"
    entry = entry_for(project, original_patient_id)
    if entry:
        return entry.patient, entry.date_offset_days
    low, high = DATE_OFFSET_RANGE
    offset = low + secrets.randbelow(high - low + 1)
    try:
        with transaction.atomic():
            patient, _ = Patient.objects.get_or_create(
                project=project, pseudonym=pseudonym_for(project, original_patient_id)
            )
            entry = PseudonymEntry.objects.create(
                project=project,
                patient=patient,
                original_id_digest=original_id_digest(project, original_patient_id),
                original_patient_id_encrypted=encrypt(original_patient_id),
                original_patient_name_encrypted=(
                    encrypt(original_patient_name) if original_patient_name else ""
                ),
                date_offset_days=offset,
            )
    except IntegrityError:  # another worker created it first
        entry = entry_for(project, original_patient_id)
        if entry is None:
            raise
    return entry.patient, entry.date_offset_days
