"""DICOM folders (e.g. MIMBCD-UI): ingest through the platform's DICOM ingest, then the labels.

The DICOM ingest (senolab.imaging.ingest) de-identifies and stores every file. When the folder
holds MIMBCD-UI label tables (`severities.csv` / `pathologies.csv`, or `uta4_*.csv`), their rows
are matched to patients through the pseudonym map (the tables use the DICOM PatientID) and
become reference labels per exam: BI-RADS and pathology per modality and breast. The pathology
codes 0/1/2 are read as normal/benign/malignant (see the data set's PROVENANCE).
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from datasets.importers.base import (
    ImportReport,
    Progress,
    report_progress,
    set_reference_label,
)
from senolab.imaging.models import Exam
from senolab.imaging.pseudonyms import entry_for
from senolab.projects.models import Project
from senolab.projects.schema import BIRADS

PATHOLOGY_CODES = {"0": "normal", "1": "benign", "2": "malignant"}
RANK = ["", "normal", "benign", "malignant"]
# Label table columns by exam modality: (column suffix, laterality).
COLUMNS = {
    "MG": [("cc_l", "L"), ("cc_r", "R"), ("mlo_l", "L"), ("mlo_r", "R")],
    "US": [("us_l", "L"), ("us_r", "R")],
    "MR": [("mri", "")],
}


def import_dicom(
    project: Project, path: Path, *, user: Any = None, progress: Progress | None = None
) -> ImportReport:
    """Ingest every DICOM file under path (files, folders, zips), then any MIMBCD label tables."""
    report = ImportReport("dicom")
    try:
        from senolab.imaging.ingest.service import ingest_paths  # heavy: import when used
    except ImportError:
        report.failed.append(("dicom", "this installation has no DICOM ingest module"))
        return report
    ingest = ingest_paths(
        project,
        [Path(path)],
        user=user,
        progress=(lambda f, m: progress(0.95 * f, m)) if progress else None,
    )
    report.images = list(ingest.images)
    report.duplicates = ingest.duplicates
    report.failed = list(ingest.failed)
    report.exams = set(
        Exam.objects.filter(images__pk__in=report.images).values_list("pk", flat=True)
    )
    apply_label_tables(project, Path(path), report)
    report_progress(progress, 1, 1, report.summary().splitlines()[0])
    return report


def apply_label_tables(project: Project, root: Path, report: ImportReport) -> None:
    """Reference labels from the MIMBCD-UI tables under root, for patients already ingested."""
    for patient_id, values in _label_rows(root).items():
        report.labels += _apply_labels(project, patient_id, values, report)


def _tables(root: Path) -> Iterator[Path]:
    if root.is_dir():
        for table in sorted(root.rglob("*.csv")):
            if table.name.endswith(("severities.csv", "pathologies.csv")):
                yield table


def _label_rows(root: Path) -> dict[str, dict[str, str]]:
    """patient_id_anonymized -> merged columns of every label table."""
    rows: dict[str, dict[str, str]] = {}
    for table in _tables(root):
        with open(table, newline="") as fh:
            for row in csv.DictReader(fh):
                key = (row.get("patient_id_anonymized") or "").strip()
                if key:
                    rows.setdefault(key, {}).update({k: (v or "").strip() for k, v in row.items()})
    return rows


def _apply_labels(
    project: Project, patient_id: str, values: dict[str, str], report: ImportReport
) -> int:
    entry = entry_for(project, patient_id)
    if entry is None:
        return 0  # the table covers patients whose images are not in this folder
    written = 0
    for exam in Exam.objects.filter(project=project, patient=entry.patient):
        per_side: dict[str, dict[str, str]] = {}
        for modality in exam.modalities:
            for suffix, side in COLUMNS.get(modality, []):
                birads = values.get(f"birads_{suffix}", "")
                pathology = PATHOLOGY_CODES.get(values.get(f"pathology_{suffix}", ""), "")
                if birads and birads not in BIRADS:
                    report.failed.append(
                        (f"labels of exam {exam.pk}", f"'{birads}' is not a BI-RADS category")
                    )
                    birads = ""
                slot = per_side.setdefault(side, {"birads": "", "pathology": ""})
                if birads and (
                    not slot["birads"] or BIRADS.index(birads) > BIRADS.index(slot["birads"])
                ):
                    slot["birads"] = birads
                if RANK.index(pathology) > RANK.index(slot["pathology"]):
                    slot["pathology"] = pathology
        for side, slot in per_side.items():
            if slot["birads"] or slot["pathology"]:
                attributes = (
                    {"birads_final": values["birads_final"]} if values.get("birads_final") else {}
                )
                set_reference_label(exam, laterality=side, attributes=attributes, **slot)
                written += 1
    return written
