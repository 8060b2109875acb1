"""The action table: DICOM PS3.15 Annex E, Table E.1-1, as the ingest applies it.

The Basic Profile column comes from dicom-anonymizer (KitwareMedical, BSD-3-Clause), which
transcribes Table E.1-1 of the 2026c edition of the standard; this module only resolves the
standard's composite actions and applies the options Senolab uses:

- Retain Longitudinal Temporal Information with Modified Dates (DCM 113107): the acquisition
  dates in SHIFTED_DATES move by the patient's date offset (action "C"); every other date and
  every time keeps its Basic Profile action, so time of day is never kept.
- Retain Patient Characteristics (DCM 113108), limited to PatientAge and PatientSex: breast
  imaging research needs age and sex; size, weight, smoking status, ethnic group, allergies and
  the other free-text characteristics are removed as in the Basic Profile.
"""

from __future__ import annotations

from dicomanonymizer.dicom_anonymization_databases import dicomfields_2026c as table
from pydicom.datadict import dictionary_VR, keyword_for_tag, tag_for_keyword

# Action codes of Table E.1-1 (plus "C" for the dates the option modifies).
LEGEND = {
    "X": "removed",
    "Z": "replaced by a zero-length value (sequences: emptied)",
    "D": "replaced by a non-identifying dummy value of the same VR (sequences: emptied;"
    " PatientName and PatientID: the patient's pseudonym)",
    "U": "UID replaced by a project-consistent one (remap_uid)",
    "U*": "sequence kept: its items keep their UIDs (remapped), frame and segment numbers and"
    " purpose-of-reference code, nothing else",
    "C": "date shifted by the patient's offset (Retain Longitudinal Modified Dates)",
    "K": "kept (Retain Patient Characteristics)",
}

_CATEGORIES = {
    "D_TAGS": "D",
    "Z_TAGS": "Z",
    "X_TAGS": "X",
    "U_TAGS": "U",
    "Z_D_TAGS": "Z/D",
    "X_Z_TAGS": "X/Z",
    "X_D_TAGS": "X/D",
    "X_Z_D_TAGS": "X/Z/D",
    "X_Z_U_STAR_TAGS": "X/Z/U*",
}

# Table E.1-1 rows that dicom-anonymizer 2.1.0 lacks.
_SUPPLEMENT = {0x00089123: "U"}  # Creator-Version UID

# Repeating groups, matched as (tag & mask) == value.
MASKED_ACTIONS: list[tuple[int, int, str]] = [
    (0x50000000, 0xFF000000, "X"),  # Curve Data (retired): the whole 50xx group
    # Overlay Data and Overlay Comments are X in the table; the rest of the overlay plane goes
    # with them (a plane without its data is invalid) - the whole 60xx group.
    (0x60000000, 0xFF000000, "X"),
]

SHIFTED_DATES = frozenset(
    tag_for_keyword(k)
    for k in (
        "StudyDate",
        "SeriesDate",
        "AcquisitionDate",
        "ContentDate",
        "AcquisitionDateTime",
        "FrameAcquisitionDateTime",
        "FrameReferenceDateTime",
        "StartAcquisitionDateTime",
        "EndAcquisitionDateTime",
    )
)
RETAINED_CHARACTERISTICS = frozenset(tag_for_keyword(k) for k in ("PatientAge", "PatientSex"))
PSEUDONYM_TAGS = frozenset(tag_for_keyword(k) for k in ("PatientName", "PatientID"))
# Sequences with a composite action that image IODs require as Type 2 (kept, emptied); the
# others are Type 3 wherever they appear, where an empty sequence is an error: removed.
TYPE2_SEQUENCES = frozenset({tag_for_keyword("AcquisitionContextSequence")})


def _standard_actions() -> dict[int, str]:
    actions: dict[int, str] = {}
    for category, code in _CATEGORIES.items():
        for entry in getattr(table, category):
            if len(entry) == 2:  # masked entries (4-tuples) are in MASKED_ACTIONS
                actions[(entry[0] << 16) | entry[1]] = code
    actions.update(_SUPPLEMENT)
    return actions


def resolve(tag: int, code: str) -> str:
    """The one action applied for a standard code, given the options above.

    Composite codes let an application choose by IOD type; without the IOD at hand the choice
    that stays valid for Type 1 and 2 attributes is made (a dummy or a zero-length value never
    carries the original); sequences are removed unless Type 2 (TYPE2_SEQUENCES), and X/Z/U*
    keeps the reference sequences with remapped UIDs.
    """
    if tag in SHIFTED_DATES:
        return "C"
    if tag in RETAINED_CHARACTERISTICS:
        return "K"
    if tag in PSEUDONYM_TAGS:
        return "D"  # the dummy is the patient's pseudonym
    if code == "X/Z/U*":
        return "U*"
    if "/" in code and _is_sequence(tag):
        return "Z" if tag in TYPE2_SEQUENCES else "X"
    if "/" in code:
        return "D" if "D" in code else "Z"
    return code


def _is_sequence(tag: int) -> bool:
    try:
        return dictionary_VR(tag) == "SQ"
    except KeyError:
        return False


STANDARD_ACTIONS: dict[int, str] = _standard_actions()
APPLIED_ACTIONS: dict[int, str] = {t: resolve(t, c) for t, c in STANDARD_ACTIONS.items()}
# The table docs/security.md prints: DICOM keyword -> applied action.
PROFILE_ACTIONS: dict[str, str] = {
    keyword_for_tag(t): a for t, a in APPLIED_ACTIONS.items() if keyword_for_tag(t)
}
PROFILE_ACTIONS.update({"OverlayData": "X", "OverlayComments": "X"})


def action_for(tag: int) -> str | None:
    """The applied action for a tag, or None for an attribute the profile keeps."""
    action = APPLIED_ACTIONS.get(tag)
    if action is None:
        for value, mask, masked in MASKED_ACTIONS:
            if tag & mask == value:
                return masked
    return action


def _tag_text(tag: int) -> str:
    return f"`({tag >> 16:04X},{tag & 0xFFFF:04X})`"


def profile_markdown() -> str:
    """The table as docs/security.md prints it: one paragraph per applied action."""
    lines = [
        "| Code | Applied action |",
        "| --- | --- |",
        *(f"| {code} | {text} |" for code, text in LEGEND.items()),
        "",
        "Repeating groups: `(50xx,xxxx)` Curve Data and the overlay planes `(60xx,xxxx)`, "
        "including `(60xx,3000)` OverlayData and `(60xx,4000)` OverlayComments, are removed "
        "(X); every private attribute is removed.",
    ]
    for code in LEGEND:
        rows = sorted(
            (keyword_for_tag(t) or "", t) for t, a in APPLIED_ACTIONS.items() if a == code
        )
        if not rows:
            continue
        items = []
        for keyword, tag in rows:
            standard = STANDARD_ACTIONS[tag]
            note = "" if standard == code else f" ({standard})"
            items.append(f"{_tag_text(tag)}{' ' + keyword if keyword else ''}{note}")
        lines += ["", f"**{code}** ({len(rows)}): " + ", ".join(items) + "."]
    return "\n".join(lines)
