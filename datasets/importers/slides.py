"""Slides importer: every SVS / TIFF file and every folder of DICOM whole-slide instances."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from datasets.importers.base import ImportReport, Progress, report_progress
from senolab.imaging.ingest.slides import SLIDE_SUFFIXES, WSI_SOP_CLASS, SlideError, store_slide
from senolab.projects.models import Project


def _is_wsi_dicom(path: Path) -> bool:
    import pydicom

    try:
        header = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=["SOPClassUID"])
    except Exception:  # noqa: BLE001 - anything unreadable is simply not a DICOM slide
        return False
    return str(header.get("SOPClassUID", "")) == WSI_SOP_CLASS


def find_slides(root: Path) -> list[Path]:
    """Slide files, and folders holding DICOM WSI instances (one slide per folder)."""
    if root.is_file():
        return [root]
    found: list[Path] = []
    dicom_folders: set[Path] = set()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        if path.suffix.lower() in SLIDE_SUFFIXES:
            found.append(path)
        elif (
            path.parent not in dicom_folders
            and path.suffix.lower() in ("", ".dcm")
            and _is_wsi_dicom(path)
        ):
            dicom_folders.add(path.parent)
    return found + sorted(dicom_folders)


def import_slides(
    project: Project, path: Path, *, user: Any = None, progress: Progress | None = None
) -> ImportReport:
    """Import the slides under path; each slide is its own patient and exam."""
    report = ImportReport("slides")
    root = Path(path)
    slides = find_slides(root)
    if not slides:
        report.failed.append(("folder", "no SVS, TIFF or DICOM whole-slide image found"))
    for done, slide_path in enumerate(slides):
        report_progress(progress, done, len(slides), f"slide {done + 1}/{len(slides)}")
        relative = slide_path.relative_to(root) if slide_path != root else Path(slide_path.name)
        label = f"slide #{done + 1}"
        try:
            result = store_slide(
                project,
                slide_path,
                patient_key=f"slide:{relative}",
                exam_key="1",
                user=user,
                source="slides",
            )
        except SlideError as exc:
            report.failed.append((label, str(exc)))
            continue
        if result.created:
            report.slides.append(result.slide.pk)
            report.exams.add(result.slide.exam_id)
        else:
            report.duplicates += 1
    report_progress(progress, 1, 1, report.summary().splitlines()[0])
    return report
