"""Importer of a Senolab export (a zip, or its unpacked folder) with its COCO annotations.

The export must hold `annotations/coco.json` and the images it names (`images_png`); an
export without COCO but with DICOM SEG or SR (and `images_dicom`) is read by
datasets.importers.dicom_annotations instead. Each COCO image becomes an Image of the patient
and exam it names (their pseudonyms are keys here, and go through this project's pseudonym
map like any importer's keys); the annotations sharing a `senolab_finding` become one
reference finding with a mark each: the drawn shape where the annotation carries
`senolab_mark`, else a mask from an RLE segmentation, a polygon from a polygon segmentation,
or a box from `bbox` (plain COCO files from elsewhere).
"""

from __future__ import annotations

import json
import zipfile
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from datasets.importers.base import (
    ImportReport,
    Progress,
    add_reference_finding,
    mask_mark,
    report_progress,
)
from datasets.importers.dicom_annotations import import_dicom_annotations
from senolab.imaging import storage
from senolab.imaging.ingest.raster import RasterError, decode_raster, store_raster
from senolab.projects.models import Project

FORMAT = "senolab-export"
COCO_MEMBER = "annotations/coco.json"
DICOM_FOLDERS = ("dicom/seg/", "dicom/sr/")
MARK_KINDS = {"box", "ellipse", "polygon", "freehand", "point", "length"}


class _Source:
    """Members of the export, from a zip or a folder."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.archive = zipfile.ZipFile(path) if path.is_file() else None

    def has(self, name: str) -> bool:
        if self.archive is not None:
            return name in self.archive.namelist()
        return (self.path / name).is_file()

    def has_any(self, folders: tuple[str, ...]) -> bool:
        if self.archive is not None:
            return any(n.startswith(folders) for n in self.archive.namelist())
        return any((self.path / f).is_dir() for f in folders)

    def read(self, name: str) -> bytes:
        if self.archive is not None:
            return self.archive.read(name)
        return (self.path / name).read_bytes()

    def close(self) -> None:
        if self.archive is not None:
            self.archive.close()


def import_senolab_export(
    project: Project, path: Path, *, user: Any = None, progress: Progress | None = None
) -> ImportReport:
    report = ImportReport(FORMAT)
    try:
        source = _Source(Path(path))
    except zipfile.BadZipFile:
        report.failed.append(("archive", "not a zip file"))
        return report
    try:
        if not source.has(COCO_MEMBER):
            if source.has_any(DICOM_FOLDERS):
                return import_dicom_annotations(
                    project, Path(path), user=user, progress=progress, report_format=FORMAT
                )
            report.failed.append(
                (
                    "archive",
                    f"no {COCO_MEMBER} and no DICOM SEG or SR: export with the coco format, "
                    "or with dicom_seg or dicom_sr and images_dicom",
                )
            )
            return report
        coco = json.loads(source.read(COCO_MEMBER))
        categories = {c["id"]: c["name"] for c in coco.get("categories", [])}
        by_image: dict[int, list[dict[str, Any]]] = defaultdict(list)
        for annotation in coco.get("annotations", []):
            by_image[annotation["image_id"]].append(annotation)
        images = coco.get("images", [])
        for done, record in enumerate(images):
            report_progress(progress, done, len(images), f"Export {done}/{len(images)}")
            label = f"image {record.get('senolab_key') or record.get('id')}"
            if not source.has(record["file_name"]):
                report.failed.append(
                    (label, f"{record['file_name']} is not in the export: export with images_png")
                )
                continue
            try:
                _import_image(
                    project, source, record, by_image[record["id"]], categories, report, user
                )
            except (RasterError, KeyError, ValueError) as exc:
                report.failed.append((label, str(exc)))
        report_progress(progress, len(images), len(images), report.summary().splitlines()[0])
    finally:
        source.close()
    return report


def _import_image(
    project: Project,
    source: _Source,
    record: dict[str, Any],
    annotations: list[dict[str, Any]],
    categories: dict[int, str],
    report: ImportReport,
    user: Any,
) -> None:
    pixels = decode_raster(source.read(record["file_name"]), "png")
    with storage.files_with_rows() as batch:
        result = store_raster(
            project,
            pixels,
            patient_key=f"export:{record.get('patient') or record['id']}",
            exam_key=f"export:{record.get('exam') or record['id']}",
            modality=record.get("modality") or "OT",
            laterality=record.get("laterality") or "U",
            view=record.get("view") or "",
            source="senolab-export",
            user=user,
            batch=batch,
        )
        if not result.created:
            report.duplicates += 1
            return
        image = result.image
        report.images.append(image.pk)
        report.exams.add(image.exam_id)
        findings: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for annotation in annotations:
            key = str(annotation.get("senolab_finding") or f"annotation {annotation['id']}")
            findings[key].append(annotation)
        for group in findings.values():
            marks = [m for m in (_mark(project, image, a, batch) for a in group) if m is not None]
            first = group[0]
            add_reference_finding(
                image.exam,
                finding_type=categories.get(first["category_id"], ""),
                birads=first.get("birads") or "",
                pathology=first.get("pathology") or "",
                laterality=image.laterality if image.laterality in ("L", "R") else "",
                marks=marks,
            )
            report.findings += 1


def _mark(project: Project, image, annotation: dict[str, Any], batch) -> dict[str, Any] | None:
    drawn = annotation.get("senolab_mark")
    if isinstance(drawn, dict) and drawn.get("kind") in MARK_KINDS:
        return {"image": image, "kind": drawn["kind"], "geometry": drawn["geometry"]}
    segmentation = annotation.get("segmentation")
    if isinstance(segmentation, dict):  # RLE
        from pycocotools import mask as mask_utils

        rle = segmentation
        if isinstance(rle.get("counts"), list):
            rle = mask_utils.frPyObjects(rle, image.rows, image.columns)
        elif isinstance(rle.get("counts"), str):
            rle = {**rle, "counts": rle["counts"].encode("ascii")}
        pixels = np.asarray(mask_utils.decode(rle))
        return mask_mark(project, pixels, batch, image=image)
    if isinstance(segmentation, list) and segmentation and len(segmentation[0]) >= 6:
        flat = segmentation[0]
        points = [[flat[i], flat[i + 1]] for i in range(0, len(flat) - 1, 2)]
        return {"image": image, "kind": "polygon", "geometry": {"points": points}}
    x, y, w, h = annotation["bbox"]
    return {
        "image": image,
        "kind": "box",
        "geometry": {"x": x, "y": y, "width": w, "height": h},
    }
