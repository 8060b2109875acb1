"""Saving clinical records: one record from the workspace (guarded by the updated_at the client
read, as findings are by their version) and many from a CSV file keyed by patient pseudonym
(every row checked first; one bad row and nothing is stored).

CSV format (UTF-8, first line the header; line numbers count that line as 1):
- `pseudonym` (required): the patient's pseudonym as the platform shows it;
- `accession` or `study_date` (YYYY-MM-DD, the shifted date the platform shows): which of the
  patient's exams; may be left out when the patient has one exam;
- `age_at_exam`, `breast_density` (A-D), `biopsy_outcome`, `risk_factors` (separated by `;`),
  `ER`, `PR`, `HER2`, `Ki67` (into receptor_status), and one column per field of the project's
  clinical schema (numbers, integers, `true`/`false` for bool fields, text or a choice).
An empty cell leaves the stored value as it is. Any other column is refused.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from senolab.api.errors import Conflict
from senolab.imaging.models import ClinicalRecord, Exam, Patient
from senolab.projects.models import Project

RECORD_FIELDS = (
    "age_at_exam",
    "breast_density",
    "risk_factors",
    "biopsy_outcome",
    "receptor_status",
    "fields",
)
RECEPTORS = ("ER", "PR", "HER2", "Ki67")
KEY_COLUMNS = ("pseudonym", "accession", "study_date")
STANDARD_COLUMNS = ("age_at_exam", "breast_density", "biopsy_outcome", "risk_factors")
MAX_ROWS = 10_000


def record_data(record: ClinicalRecord | None) -> dict[str, Any] | None:
    from senolab.imaging.api.serializers import ClinicalRecordSerializer

    return ClinicalRecordSerializer(record).data if record is not None else None


def _conflict(exam: Exam, seen: dt.datetime | None) -> Conflict:
    current = ClinicalRecord.objects.filter(exam=exam).first()
    if current is None:
        message = "This clinical record was removed by someone else; nothing was saved."
    elif seen is None:
        message = (
            "Someone else created this exam's clinical record while you were editing it; your "
            "changes were not saved."
        )
    else:
        when = timezone.localtime(current.updated_at).strftime("%H:%M:%S")
        message = (
            f"This clinical record was changed by someone else (saved at {when}) after you "
            "opened it; your changes were not saved."
        )
    exc = Conflict(message)
    exc.extra = {"detail": {"current": record_data(current)}}  # type: ignore[attr-defined]
    return exc


def save_record(exam: Exam, values: dict[str, Any], seen: dt.datetime | None) -> ClinicalRecord:
    """Create the exam's record (seen is None) or update it when `seen` is still its updated_at;
    Conflict (409, with the stored record) otherwise. `values` are validated record fields."""
    values = {k: v for k, v in values.items() if k in RECORD_FIELDS}
    current = ClinicalRecord.objects.filter(exam=exam).first()
    if current is None and seen is None:
        try:
            with transaction.atomic():
                return ClinicalRecord.objects.create(
                    exam=exam, patient_id=exam.patient_id, project_id=exam.project_id, **values
                )
        except IntegrityError:
            raise _conflict(exam, None) from None
    if current is None or seen is None or current.updated_at != seen:
        raise _conflict(exam, seen)
    # Conditional, so a save racing past the check above still cannot overwrite a newer one.
    changed = ClinicalRecord.objects.filter(pk=current.pk, updated_at=seen).update(
        updated_at=timezone.now(), **values
    )
    if changed != 1:
        raise _conflict(exam, seen)
    return ClinicalRecord.objects.get(pk=current.pk)


# --- CSV import -----------------------------------------------------------------------------


class ImportError_(Exception):  # noqa: N801 - not the builtin ImportError
    """The file is refused as a whole: `problems` lists (line, reason), nothing was stored."""

    def __init__(self, problems: list[tuple[int, str]]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"line {n}: {why}" for n, why in problems))


@dataclass
class _Row:
    line: int
    exam: Exam
    record: ClinicalRecord | None
    values: dict[str, Any]


def _cell_value(kind: str, text: str) -> Any:
    if kind == "integer":
        return int(text)
    if kind == "number":
        number = float(text)
        return int(number) if number.is_integer() and "." not in text else number
    if kind == "bool":
        lowered = text.lower()
        if lowered in ("true", "yes", "1"):
            return True
        if lowered in ("false", "no", "0"):
            return False
        raise ValueError("not true or false")
    return text


def _find_exam(project: Project, row: dict[str, str], patients: dict[str, Patient]) -> Exam:
    pseudonym = row.get("pseudonym", "")
    if not pseudonym:
        raise ValueError("no pseudonym")
    patient = patients.get(pseudonym)
    if patient is None:
        raise ValueError(f"no patient with pseudonym '{pseudonym}' in this project")
    exams = Exam.objects.filter(patient=patient)
    if row.get("accession"):
        exams = exams.filter(accession=row["accession"])
    if row.get("study_date"):
        try:
            exams = exams.filter(study_date=dt.date.fromisoformat(row["study_date"]))
        except ValueError:
            raise ValueError(f"study_date '{row['study_date']}' is not YYYY-MM-DD") from None
    found = list(exams[:2])
    if not found:
        raise ValueError(f"patient '{pseudonym}' has no such exam")
    if len(found) > 1:
        raise ValueError(
            f"patient '{pseudonym}' has several exams: give the accession or study_date"
        )
    return found[0]


def _row_values(row: dict[str, str], schema: dict[str, Any]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name in STANDARD_COLUMNS:
        text = row.get(name, "")
        if not text:
            continue
        if name == "risk_factors":
            values[name] = [part.strip() for part in text.split(";") if part.strip()]
        else:
            values[name] = text
    receptors = {name: row[name] for name in RECEPTORS if row.get(name)}
    if receptors:
        values["receptor_status"] = receptors
    fields: dict[str, Any] = {}
    for name, spec in schema.items():
        text = row.get(name, "")
        if not text:
            continue
        try:
            fields[name] = _cell_value(spec["type"], text)
        except ValueError:
            raise ValueError(f"{name}: '{text}' is not a {spec['type']}") from None
    if fields:
        values["fields"] = fields
    return values


def _merged(record: ClinicalRecord | None, values: dict[str, Any]) -> dict[str, Any]:
    """The whole record after the row: the stored values with the row's cells on top."""
    if record is None:
        return values
    merged = {name: getattr(record, name) for name in RECORD_FIELDS}
    merged.update({k: v for k, v in values.items() if k not in ("receptor_status", "fields")})
    merged["receptor_status"] = {**record.receptor_status, **values.get("receptor_status", {})}
    merged["fields"] = {**record.fields, **values.get("fields", {})}
    return merged


def _message(errors: Any) -> str:
    if isinstance(errors, dict):
        return "; ".join(f"{k}: {_message(v)}" for k, v in errors.items())
    if isinstance(errors, list):
        return " ".join(_message(e) for e in errors)
    return str(errors)


def read_rows(project: Project, data: bytes) -> list[_Row]:
    """Every row checked; ImportError_ listing every bad line when any is bad."""
    from senolab.imaging.api.serializers import ClinicalRecordSerializer

    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ImportError_([(1, "the file is not UTF-8 text")]) from None
    reader = csv.DictReader(io.StringIO(text))
    schema = project.clinical_schema or {}
    header = [name.strip() for name in reader.fieldnames or []]
    reader.fieldnames = header
    known = {*KEY_COLUMNS, *STANDARD_COLUMNS, *RECEPTORS, *schema}
    unknown = [name for name in header if name not in known]
    if not header or "pseudonym" not in header:
        raise ImportError_([(1, "the header needs a 'pseudonym' column")])
    if unknown:
        raise ImportError_(
            [(1, f"unknown column(s): {', '.join(unknown)} (not in the clinical schema)")]
        )
    patients = {p.pseudonym: p for p in Patient.objects.filter(project=project)}
    rows: list[_Row] = []
    problems: list[tuple[int, str]] = []
    seen_exams: dict[int, int] = {}
    for index, raw in enumerate(reader):
        line = index + 2
        if index >= MAX_ROWS:
            raise ImportError_([(line, f"more than {MAX_ROWS} rows: split the file")])
        if None in raw:
            problems.append((line, "more cells than the header has columns"))
            continue
        row = {k: (v or "").strip() for k, v in raw.items()}
        if not any(row.values()):
            continue
        try:
            exam = _find_exam(project, row, patients)
            values = _row_values(row, schema)
        except ValueError as exc:
            problems.append((line, str(exc)))
            continue
        if exam.pk in seen_exams:
            problems.append((line, f"the same exam as line {seen_exams[exam.pk]}"))
            continue
        seen_exams[exam.pk] = line
        record = ClinicalRecord.objects.filter(exam=exam).first()
        serializer = ClinicalRecordSerializer(
            data=_merged(record, values), context={"clinical_schema": schema}
        )
        if not serializer.is_valid():
            problems.append((line, _message(serializer.errors)))
            continue
        checked = dict(serializer.validated_data)
        checked.pop("updated_at", None)
        rows.append(_Row(line, exam, record, checked))
    if problems:
        raise ImportError_(problems)
    if not rows:
        raise ImportError_([(1, "the file has no rows")])
    return rows


def import_csv(project: Project, data: bytes) -> dict[str, int]:
    """Check every row, then create or update the records in one transaction: the counts."""
    rows = read_rows(project, data)
    created = updated = 0
    with transaction.atomic():
        for row in rows:
            values = {k: row.values[k] for k in RECORD_FIELDS if k in row.values}
            if row.record is None:
                ClinicalRecord.objects.create(
                    exam=row.exam, patient_id=row.exam.patient_id, project=project, **values
                )
                created += 1
            else:
                for name, value in values.items():
                    setattr(row.record, name, value)
                row.record.save()
                updated += 1
    return {"rows": len(rows), "created": created, "updated": updated}
