"""Retain Patient Characteristics, checked: a retained value must be valid for its attribute.

Sites put names, free text and identifiers in the wrong fields (a name in PatientAge, a birth
date in PatientSex). The option keeps a characteristic only when its value is one the attribute
can hold; anything else is emptied (both attributes are Type 2 in the Patient and Patient Study
modules, so a zero-length value keeps the file valid) and counted for the ingest report.

The profile retains PatientAge and PatientSex only (see profile.RETAINED_CHARACTERISTICS);
size, weight, ethnic group, smoking status and the other characteristics are removed outright,
so they need no check. A retained attribute without a validator here is emptied: adding one to
the profile without a rule cannot leak free text.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from pydicom.tag import Tag

# PS3.5 AS: nnnD, nnnW, nnnM or nnnY; plausible upper bounds per unit (a person is < 130 years).
_AGE = re.compile(r"^(\d{3})([DWMY])$")
_AGE_LIMITS = {"D": 999, "W": 999, "M": 1560, "Y": 130}
# PS3.3 C.7.1.1 Patient's Sex: M, F or O.
SEX_VALUES = frozenset({"M", "F", "O"})


def valid_age(value: str) -> str | None:
    """The normalised age, or None when the value is not an age."""
    match = _AGE.match(value.strip().upper())
    if not match or int(match.group(1)) > _AGE_LIMITS[match.group(2)]:
        return None
    return match.group(0)


def valid_sex(value: str) -> str | None:
    text = value.strip().upper()
    return text if text in SEX_VALUES else None


VALIDATORS: dict[int, Callable[[str], str | None]] = {
    int(Tag("PatientAge")): valid_age,
    int(Tag("PatientSex")): valid_sex,
}


def checked_value(tag: int, value: object) -> tuple[object, bool]:
    """(value to store, kept): an empty value is kept as it is; an invalid one becomes ""."""
    if value is None or value == "":
        return value, True
    validate = VALIDATORS.get(tag)
    if validate is None or not isinstance(value, str):
        return "", False
    normalised = validate(value)
    return (normalised, True) if normalised is not None else ("", False)
