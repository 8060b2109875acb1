"""Pseudonyms, date offsets and UID remapping: consistent per project, secret per project."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from django.db import IntegrityError, transaction

from senolab.imaging.models import DeidentificationKey, Patient, PseudonymEntry
from senolab.projects.models import Project

# Dates move back by a per-patient number of days in this range: intervals within a patient
# (priors, follow-up) are kept, absolute dates are not.
DATE_OFFSET_RANGE = (-3650, -365)


def project_secret(project: Project) -> bytes:
    key, _ = DeidentificationKey.objects.get_or_create(
        project=project, defaults={"secret": secrets.token_hex(32)}
    )
    return key.secret.encode()


def _digest(project: Project, kind: str, value: str) -> bytes:
    return hmac.new(project_secret(project), f"{kind}:{value}".encode(), hashlib.sha256).digest()


def remap_uid(project: Project, uid: str) -> str:
    """A new UID under the 2.25 (UUID-derived) root, the same for the same input in a project."""
    number = int.from_bytes(_digest(project, "uid", uid.strip())[:16], "big")
    return f"2.25.{number}"


def pseudonym_for(project: Project, original_patient_id: str) -> str:
    return "SNL-" + _digest(project, "patient", original_patient_id).hex()[:10].upper()


def pseudonymize_patient(
    project: Project, original_patient_id: str, original_patient_name: str = ""
) -> tuple[Patient, int]:
    """The project's Patient for an original identifier, and its date offset in days.

    Creates the patient and its PseudonymEntry on first sight; safe under concurrent ingest.
    """
    original_patient_id = (original_patient_id or "").strip() or "UNKNOWN"
    entry = (
        PseudonymEntry.objects.select_related("patient")
        .filter(project=project, original_patient_id=original_patient_id)
        .first()
    )
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
                original_patient_id=original_patient_id,
                original_patient_name=original_patient_name,
                date_offset_days=offset,
            )
    except IntegrityError:  # another worker created it first
        entry = PseudonymEntry.objects.select_related("patient").get(
            project=project, original_patient_id=original_patient_id
        )
    return entry.patient, entry.date_offset_days
