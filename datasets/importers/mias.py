"""mini-MIAS importer: `Info.txt` plus `mdbNNN.pgm` (published) or `mdbNNN.png` files.

Info.txt rows: reference, background tissue (F/G/D), class (CALC, CIRC, SPIC, MISC, ARCH, ASYM,
NORM), severity (B/M), centre x y and radius in pixels. An image may have several rows (several
abnormalities); a few give no centre (calcifications spread over the breast: a finding without a
mark). Two conventions of the data set matter:

- The centre's origin is the BOTTOM-left corner (note 3 of Info.txt): we store y = height - y
  so that marks use the platform's top-left origin.
- Films come in pairs: odd numbers are right breasts, even numbers left, and mdb(2k-1)/mdb(2k)
  are one patient. Both go into one patient and one exam (an MLO pair), so the 2-up view works.

Tissue maps to the project's density classes: F (fatty) -> A, G (fatty-glandular) -> B,
D (dense-glandular) -> C. MIAS does not separate heterogeneously from extremely dense, so D is
recorded as C; the original letter is kept in the label's attributes ("mias_tissue").
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from datasets.importers.base import (
    ImportReport,
    Progress,
    add_reference_finding,
    report_progress,
    set_reference_label,
)
from senolab.imaging import storage
from senolab.imaging.ingest.raster import RasterError, store_raster
from senolab.projects.models import Project

DENSITY = {"F": "A", "G": "B", "D": "C"}
FINDING_TYPE = {
    "CALC": "calcification",
    "CIRC": "mass",
    "SPIC": "mass",
    "MISC": "mass",
    "ARCH": "architectural_distortion",
    "ASYM": "asymmetry",
}
MASS_MARGIN = {"CIRC": "circumscribed", "SPIC": "spiculated", "MISC": "indistinct"}
PATHOLOGY = {"B": "benign", "M": "malignant"}
ROW = re.compile(r"^\s*(mdb\d{3})\s+([FGD])\s+([A-Z]{4})\b(.*)$", re.IGNORECASE)
PIXEL_SPACING_MM = [0.2, 0.2]


@dataclass
class MiasRow:
    severity: str = ""
    x: float | None = None
    y: float | None = None
    radius: float | None = None


@dataclass
class MiasEntry:
    reference: str
    tissue: str
    cls: str
    rows: list[MiasRow] = field(default_factory=list)


def parse_info(text: str) -> tuple[dict[str, MiasEntry], list[tuple[str, str]]]:
    """Entries by reference (mdbNNN) and the rows that could not be read (label, message)."""
    entries: dict[str, MiasEntry] = {}
    bad: list[tuple[str, str]] = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip().lower().startswith("mdb"):
            continue
        match = ROW.match(line)
        if not match:
            bad.append((f"Info.txt line {number}", "not a MIAS row (reference tissue class ...)"))
            continue
        ref, tissue, cls, rest = match.groups()
        ref, tissue, cls = ref.lower(), tissue.upper(), cls.upper()
        if cls != "NORM" and cls not in FINDING_TYPE:
            bad.append((ref, f"unknown abnormality class '{cls}'"))
            continue
        entry = entries.setdefault(ref, MiasEntry(ref, tissue, cls))
        if cls == "NORM":
            continue
        tokens = rest.split()
        severity = tokens[0].upper() if tokens else ""
        row = MiasRow(severity=severity if severity in ("B", "M") else "")
        numbers = tokens[1:4]
        if len(numbers) == 3 and all(re.fullmatch(r"\d+(\.\d+)?", t) for t in numbers):
            row.x, row.y, row.radius = (float(t) for t in numbers)
        if cls != entry.cls:
            # Two classes on one film: keep each row's own class by splitting the entry.
            entry = entries.setdefault(f"{ref}:{cls}", MiasEntry(ref, tissue, cls))
        entry.rows.append(row)
    return entries, bad


def _find_info(root: Path) -> Path | None:
    if root.is_file():
        return root
    candidates = sorted(p for p in root.rglob("*") if p.name.lower() == "info.txt")
    return candidates[0] if candidates else None


def _image_files(folder: Path) -> dict[str, Path]:
    files: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        stem, suffix = path.stem.lower(), path.suffix.lower()
        # The published .pgm wins over a converted .png of the same film.
        if re.fullmatch(r"mdb\d{3}", stem) and suffix in (".pgm", ".png"):
            if stem not in files or suffix == ".pgm":
                files[stem] = path
    return files


def import_mias(
    project: Project, path: Path, *, user: Any = None, progress: Progress | None = None
) -> ImportReport:
    """Import a mini-MIAS folder (Info.txt + images) with its ground truth."""
    report = ImportReport("mini-mias")
    info = _find_info(Path(path))
    if info is None:
        report.failed.append(("Info.txt", "no Info.txt found: not a mini-MIAS folder"))
        return report
    entries, bad = parse_info(info.read_text(errors="replace"))
    report.failed.extend(bad)
    by_film: dict[str, list[MiasEntry]] = defaultdict(list)
    for entry in entries.values():
        by_film[entry.reference].append(entry)
    files = _image_files(info.parent)
    films = sorted(by_film)
    for done, ref in enumerate(films):
        report_progress(progress, done, len(films), f"mini-MIAS {done}/{len(films)}")
        if ref not in files:
            report.failed.append((ref, "image file (.pgm or .png) not found beside Info.txt"))
            continue
        try:
            _import_film(project, ref, files[ref], by_film[ref], report, user)
        except RasterError as exc:
            report.failed.append((ref, str(exc)))
    report_progress(progress, len(films), len(films), report.summary().splitlines()[0])
    return report


def _import_film(
    project: Project,
    ref: str,
    path: Path,
    entries: list[MiasEntry],
    report: ImportReport,
    user: Any,
) -> None:
    number = int(ref[3:])
    laterality = "R" if number % 2 else "L"
    patient_key = f"mias:{(number + 1) // 2:03d}"
    with storage.files_with_rows() as batch:
        result = store_raster(
            project,
            path,
            patient_key=patient_key,
            exam_key="mlo-pair",
            modality="MG",
            laterality=laterality,
            view="MLO",
            source="mini-mias",
            user=user,
            batch=batch,
            pixel_spacing=PIXEL_SPACING_MM,
            description="mini-MIAS MLO pair",
        )
        if not result.created:
            report.duplicates += 1
            return
        image, exam = result.image, result.image.exam
        report.images.append(image.pk)
        report.exams.add(exam.pk)
        pathologies = []
        for entry in entries:
            for row in entry.rows:
                pathology = PATHOLOGY.get(row.severity, "unknown")
                pathologies.append(pathology)
                marks = []
                if row.x is not None and row.y is not None and row.radius:
                    marks.append(
                        {
                            "image": image,
                            "kind": "ellipse",
                            "geometry": {
                                "cx": row.x,
                                "cy": image.rows - row.y,
                                "rx": row.radius,
                                "ry": row.radius,
                            },
                        }
                    )
                attributes = (
                    {"mass_margin": MASS_MARGIN[entry.cls]} if entry.cls in MASS_MARGIN else {}
                )
                add_reference_finding(
                    exam,
                    finding_type=FINDING_TYPE[entry.cls],
                    pathology=pathology,
                    laterality=laterality,
                    attributes=attributes,
                    marks=marks,
                    note=f"MIAS class {entry.cls}" + ("" if marks else " (no centre given)"),
                )
                report.findings += 1
        tissue = entries[0].tissue
        worst = (
            "malignant"
            if "malignant" in pathologies
            else ("benign" if "benign" in pathologies else ("unknown" if pathologies else "normal"))
        )
        set_reference_label(
            exam,
            laterality=laterality,
            density=DENSITY[tissue],
            pathology=worst,
            attributes={"mias_tissue": tissue},
        )
        report.labels += 1
