"""An export imports back into a new project with the same findings: types, BI-RADS,
pathology, every region mark's shape and every mask's pixels, on the same pixels."""

from __future__ import annotations

import hashlib

import numpy as np

from annotations.models import Finding
from datasets.importers import import_dataset
from ml.services import exports
from ml.services.snapshots import load_mask
from senolab.imaging import storage
from senolab.imaging.models import Image
from senolab.imaging.pixelcache import read_pixels
from senolab.jobs.models import JobStatus
from senolab.jobs.services import run_job


def _pixels_hash(image: Image) -> str:
    return hashlib.sha256(np.ascontiguousarray(read_pixels(image)).tobytes()).hexdigest()


def _mark_value(mark) -> tuple:
    if mark.kind == "mask":
        full = np.zeros((mark.image.rows, mark.image.columns), np.uint8)
        g = mark.geometry
        part = load_mask(mark.mask_key)
        full[g["y"] : g["y"] + part.shape[0], g["x"] : g["x"] + part.shape[1]] = part
        return ("mask", hashlib.sha256(full.tobytes()).hexdigest())
    return (mark.kind, repr(sorted(mark.geometry.items())))


def findings_by_pixels(project, only_images=None) -> dict[str, list[tuple]]:
    """image pixels' hash -> sorted (type, BI-RADS, pathology, marks) of the findings on it."""
    out: dict[str, list[tuple]] = {}
    for finding in Finding.objects.filter(project=project, deleted=False).prefetch_related(
        "marks__image"
    ):
        marks = [m for m in finding.marks.all() if m.image is not None]
        if only_images is not None:
            marks = [m for m in marks if m.image_id in only_images]
        if not marks:
            continue
        key = _pixels_hash(marks[0].image)
        value = (
            finding.finding_type,
            finding.birads,
            finding.pathology,
            tuple(sorted(_mark_value(m) for m in marks)),
        )
        out.setdefault(key, []).append(value)
    return {k: sorted(v) for k, v in out.items()}


def test_an_exported_coco_imports_back_with_the_same_findings(
    export_project, make_project, owner, tmp_path
):
    project, *_ = export_project
    # Given an export with COCO and the images
    export = exports.start_export(project, ["coco", "images_png"], enqueue=False)
    assert run_job(export.job_id, exports.run_export).status == JobStatus.SUCCEEDED
    export.refresh_from_db()
    path = tmp_path / "export.zip"
    path.write_bytes(storage.read(export.archive_key))
    # When it is imported into a new project
    target = make_project("Round trip", owner=owner)
    report = import_dataset(target, "senolab-export", path, user=owner)
    assert report.failed == []
    # Then the new project holds the same findings on the same pixels
    exported = {f["id"] for f in export.findings}
    on_exported_images = {
        m.image_id for f in Finding.objects.filter(pk__in=exported) for m in f.marks.all()
    }
    kept = findings_by_pixels(project, only_images=on_exported_images)
    assert len(kept) == 3 and len(findings_by_pixels(project)) == 4  # quarantined: left behind
    assert findings_by_pixels(target) == kept
    assert report.findings == len(exported)
