"""De-identification of DICOM on ingest: PS3.15 Annex E Basic Application Level
Confidentiality Profile with the Retain Longitudinal Temporal Information with Modified Dates
and (age and sex only, each checked for a valid value) Retain Patient Characteristics options.

`deidentify(ds, project)` changes the data set in place: every attribute of Table E.1-1 gets
its action (see `profile.py` and docs/security.md), private attributes go, sequences are cleaned
recursively, UIDs are remapped consistently per project, the patient becomes the project's
pseudonym, and the data set says how it was de-identified. A retained characteristic whose
value is not valid for it is emptied and named in `Deidentified.removed_characteristics`.
Pixel data is not touched: an image whose text is burned into the pixels is reported
(`Deidentified.burned_in`) for the ingest to quarantine (see senolab.imaging.deid.burned_in).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter
from dataclasses import dataclass

from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence
from pydicom.tag import BaseTag

from senolab.imaging.deid.characteristics import checked_value
from senolab.imaging.deid.profile import PROFILE_ACTIONS, action_for
from senolab.imaging.models import Patient
from senolab.imaging.pseudonyms import pseudonymize_patient, remap_uid

logger = logging.getLogger(__name__)

__all__ = [
    "PROFILE_ACTIONS",
    "DeidentificationError",
    "Deidentified",
    "deidentify",
]

# CID 7050 (De-identification Method) codes of what is applied, in DCM.
METHOD_CODES = [
    ("113100", "Basic Application Confidentiality Profile"),
    ("113107", "Retain Longitudinal Temporal Information Modified Dates Option"),
    ("113108", "Retain Patient Characteristics Option"),
]
METHOD_TEXT = [
    "Senolab: PS3.15 E Basic Profile",
    "Modified Dates: per-patient day offset, times removed",
    "Patient Characteristics: age and sex only",
]

# Dummy values (action D) by VR: valid, and the same for every file.
_DUMMIES: dict[str, object] = {
    "PN": "ANONYMOUS",
    "DA": "19000101",
    "TM": "000000",
    "DT": "19000101",
    "AS": "000D",
    "IS": "0",
    "DS": "0",
    "US": 0,
    "SS": 0,
    "UL": 0,
    "SL": 0,
    "UV": 0,
    "SV": 0,
    "FL": 0.0,
    "FD": 0.0,
}
_TEXT_VRS = {"AE", "CS", "LO", "LT", "SH", "ST", "UC", "UR", "UT"}
# What an item of a U* (reference) sequence keeps besides its UIDs.
_REFERENCE_KEEP = {
    0x00081160,  # ReferencedFrameNumber
    0x0062000B,  # ReferencedSegmentNumber
    0x0040A170,  # PurposeOfReferenceCodeSequence (Type 1C in derivation references)
}
# File meta attributes naming the sending station or carrying private data.
_META_REMOVE = (0x00020016, 0x00020017, 0x00020018, 0x00020100, 0x00020102)


class DeidentificationError(Exception):
    """A data set that cannot be de-identified; the message names no identifier."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Deidentified:
    """What de-identification decided for one data set.

    Attributes:
        patient: the project's pseudonymous Patient (the original id lives in PseudonymEntry).
        date_offset_days: the days every shifted date of this patient moved by.
        study_date: the shifted StudyDate, or None when the file had none.
        burned_in: BurnedInAnnotation is YES, or the image is US without the attribute.
        removed_characteristics: keywords of retained characteristics emptied as invalid.
    """

    patient: Patient
    date_offset_days: int
    study_date: dt.date | None
    burned_in: bool
    removed_characteristics: tuple[str, ...] = ()


def _parse_date(text: str) -> dt.date | None:
    # "." (ACR-NEMA YYYY.MM.DD) and "-" (ISO, seen in non-conformant files) are tolerated.
    digits = text.strip().replace(".", "").replace("-", "")[:8]
    if len(digits) != 8 or not digits.isdigit():
        return None
    try:
        return dt.date(int(digits[:4]), int(digits[4:6]), int(digits[6:8]))
    except ValueError:
        return None


def _format_date(day: dt.date) -> str:
    return f"{day.year:04d}{day.month:02d}{day.day:02d}"


def burned_in_annotation(ds: Dataset) -> bool:
    """YES, or an ultrasound image that does not say: US text is usually burned in."""
    value = str(ds.get("BurnedInAnnotation", "") or "").strip().upper()
    return value == "YES" or (not value and str(ds.get("Modality", "")).upper() == "US")


class _Cleaner:
    """Applies the profile to one data set and, recursively, to its sequences."""

    def __init__(self, project, offset_days: int) -> None:
        self.project = project
        self.offset = dt.timedelta(days=offset_days)
        self._uids: dict[str, str] = {}
        self.counts: Counter[str] = Counter()  # actions applied, for the (PHI-free) log line
        self.removed_characteristics: list[str] = []

    def uid(self, value: str) -> str:
        value = str(value).strip()
        if not value:
            return value
        if value not in self._uids:  # one HMAC per distinct UID in the file
            self._uids[value] = remap_uid(self.project, value)
        return self._uids[value]

    def clean(self, ds: Dataset) -> None:
        for tag in list(ds.keys()):
            # Group lengths (gggg,0000, retired) would be stale once attributes go.
            if tag.is_private or tag.element == 0:
                del ds[tag]
                self.counts["private" if tag.is_private else "X"] += 1
                continue
            try:
                elem = ds[tag]
                action = action_for(int(tag))
                if action is None:
                    if elem.VR == "SQ":
                        for item in elem.value:
                            self.clean(item)
                else:
                    self.apply(ds, elem, action)
            except DeidentificationError:
                raise
            except Exception as exc:  # a malformed value: its text may hold PHI, so no str(exc)
                raise DeidentificationError(
                    f"attribute {_tag(tag)} could not be de-identified ({type(exc).__name__})"
                ) from exc

    def apply(self, ds: Dataset, elem: DataElement, action: str) -> None:
        self.counts[action] += 1
        if action == "X":
            del ds[elem.tag]
        elif action == "K":
            value, kept = checked_value(int(elem.tag), elem.value)
            if kept:
                elem.value = value
            else:
                self.empty(elem)
                self.removed_characteristics.append(elem.keyword or _tag(elem.tag))
        elif action == "U":
            elem.value = self._map(elem.value, self.uid)
        elif action == "U*":
            if elem.VR == "SQ":
                for item in elem.value:
                    self.keep_references(item)
            else:
                elem.value = self._map(elem.value, self.uid)
        elif action == "C":
            elem.value = self._map(elem.value, self.shift)
        elif action == "D" and elem.VR == "UI":
            elem.value = self._map(elem.value, self.uid)
        elif action == "D" and elem.VR not in _TEXT_VRS and elem.VR not in _DUMMIES:
            self.empty(elem)  # sequences and binary values: no meaningful dummy
        elif action == "D":
            elem.value = _DUMMIES.get(elem.VR, "ANONYMIZED")
        else:  # "Z"
            self.empty(elem)

    @staticmethod
    def empty(elem: DataElement) -> None:
        elem.value = Sequence() if elem.VR == "SQ" else elem.empty_value

    @staticmethod
    def _map(value, fn):
        if isinstance(value, (list, MultiValue)):
            return [fn(v) for v in value]
        return fn(value) if value not in (None, "") else value

    def shift(self, value) -> str:
        """A DA or DT moved by the offset; DT keeps only its date (time of day is PHI here)."""
        day = _parse_date(str(value))
        return _format_date(day + self.offset) if day else ""

    def keep_references(self, item: Dataset) -> None:
        """U*: a reference item keeps its (remapped) UIDs and frame/segment numbers only."""
        for tag in list(item.keys()):
            elem = item[tag]
            if tag.is_private or (elem.VR != "UI" and int(tag) not in _REFERENCE_KEEP):
                del item[tag]
            elif elem.VR == "UI" and action_for(int(tag)) in ("U", "D"):
                elem.value = self._map(elem.value, self.uid)
            elif elem.VR == "SQ":
                for nested in elem.value:
                    self.clean(nested)


def _tag(tag: BaseTag | int) -> str:
    return f"({int(tag) >> 16:04X},{int(tag) & 0xFFFF:04X})"


def _code_item(value: str, meaning: str) -> Dataset:
    item = Dataset()
    item.CodeValue = value
    item.CodingSchemeDesignator = "DCM"
    item.CodeMeaning = meaning
    return item


def _record_method(ds: Dataset, pseudonym: str) -> None:
    ds.PatientName = pseudonym
    ds.PatientID = pseudonym
    ds.PatientIdentityRemoved = "YES"
    ds.DeidentificationMethod = METHOD_TEXT
    ds.DeidentificationMethodCodeSequence = Sequence(
        [_code_item(code, meaning) for code, meaning in METHOD_CODES]
    )
    ds.LongitudinalTemporalInformationModified = "MODIFIED"


def _clean_file_meta(ds: Dataset) -> None:
    meta = getattr(ds, "file_meta", None)
    if meta is None:
        return
    for tag in _META_REMOVE:
        if tag in meta:
            del meta[tag]
    if "SOPInstanceUID" in ds:
        meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    # The preamble is free for any use (TIFF/DICOM dual files put a whole header there).
    if getattr(ds, "preamble", None) is not None:
        ds.preamble = b"\x00" * 128


def deidentify(ds: Dataset, project) -> Deidentified:
    """De-identify ds in place for project (see the module docstring).

    Raises DeidentificationError when the data set lacks the UIDs an image needs or holds a
    value that cannot be processed; the message never includes a value from the file.
    """
    if not isinstance(ds, Dataset):
        raise DeidentificationError("not a DICOM data set")
    for keyword in ("SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID"):
        if not str(ds.get(keyword, "") or "").strip():
            raise DeidentificationError(f"the DICOM file has no {keyword}")
    original_id = str(ds.get("PatientID", "") or "").strip()
    original_name = str(ds.get("PatientName", "") or "").strip()
    burned_in = burned_in_annotation(ds)
    patient, offset = pseudonymize_patient(project, original_id, original_name)
    cleaner = _Cleaner(project, offset)
    cleaner.clean(ds)
    _record_method(ds, patient.pseudonym)
    _clean_file_meta(ds)
    study_date = _parse_date(str(ds.get("StudyDate", "") or ""))
    # Counts and codes only: never a value, a UID or the pseudonym map's content.
    logger.debug(
        "de-identified a %s instance for project %s: %s; burned-in=%s",
        str(ds.get("Modality", "?"))[:4],
        getattr(project, "pk", None),
        ", ".join(f"{action} {n}" for action, n in sorted(cleaner.counts.items())),
        burned_in,
    )
    return Deidentified(
        patient=patient,
        date_offset_days=offset,
        study_date=study_date,
        burned_in=burned_in,
        removed_characteristics=tuple(cleaner.removed_characteristics),
    )
