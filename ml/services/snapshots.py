"""Immutable data set snapshots: annotated exams of a project turned into the engine's Cases.

A snapshot's manifest is plain JSON: per case its patient, clinical record, labels, lesions and
images (pixel-cache layouts, materialised ground-truth masks). The engine's Cases are rebuilt from
the manifest alone, so a run trains on exactly what was hashed even if annotations change later.

Ground truth is read from the annotations app: ExamLabel (density, BI-RADS, pathology), Finding
(type, pathology) and their Marks (lesion centres, masks). `ground_truth` picks the source:
"reference" (imported), "human" (experts), or "any" (reference where an exam has it, else human).
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
from collections import Counter
from collections.abc import Iterable
from types import SimpleNamespace
from typing import Any

import numpy as np
from django.db.models import Prefetch

from annotations.models import ExamLabel, Finding, Mark, Source
from ml.engine.cases import Case, ImageRef, Lesion
from ml.engine.splits import split_cases
from ml.models import DatasetSnapshot
from ml.services.errors import NothingToTrain
from senolab.imaging import storage
from senolab.imaging.models import ClinicalRecord, Exam, Image
from senolab.imaging.pixelcache import read_pixels
from senolab.projects.models import Project

PATHOLOGY_RANK = {"normal": 0, "benign": 1, "malignant": 2}
BIRADS_ORDER = ["0", "1", "2", "3", "4", "4A", "4B", "4C", "5", "6"]
# Marks that outline a region (used for segmentation masks); the others only locate a lesion.
REGION_KINDS = {"mask", "polygon", "freehand"}
DEFAULT_FRACTIONS = (0.7, 0.15, 0.15)


# --- loading pixels and masks (module-level functions: picklable for data-loader workers) ----


def load_pixels(layout: dict[str, Any]) -> np.ndarray:
    return read_pixels(SimpleNamespace(pixel_cache=layout), 0, 0)


def load_mask(key: str) -> np.ndarray:
    from PIL import Image as PILImage

    with storage.open_file(key) as fh:
        return (np.asarray(PILImage.open(fh).convert("L")) > 127).astype(np.uint8)


# --- ground truth from annotation rows --------------------------------------------------------


def _sources(exam: Exam, ground_truth: str) -> set[str]:
    if ground_truth in (Source.REFERENCE, Source.HUMAN):
        return {ground_truth}
    has_reference = any(x.source == Source.REFERENCE for x in exam.labels.all()) or any(
        f.source == Source.REFERENCE for f in exam.findings.all()
    )
    return {Source.REFERENCE} if has_reference else {Source.HUMAN}


def _worst(values: Iterable[str], order: list[str]) -> str:
    known = [v for v in values if v in order]
    return max(known, key=order.index) if known else ""


def exam_labels(
    exam: Exam, labels: list[ExamLabel], findings: list[Finding], clinical: ClinicalRecord | None
) -> dict[str, Any]:
    """Case-level labels by name. Keys are left out when unknown.

    pathology: the worst of normal < benign < malignant over labels and findings;
    abnormal: 1 when any finding or a benign/malignant pathology, 0 when ground truth exists
    and says nothing is there; malignant: 1/0 where pathology is known (normal counts as 0);
    density, birads: from the exam labels (density falls back to the clinical record).
    """
    out: dict[str, Any] = {}
    pathologies = [x.pathology for x in labels] + [f.pathology for f in findings]
    pathology = _worst(pathologies, list(PATHOLOGY_RANK))
    if pathology:
        out["pathology"] = pathology
        out["malignant"] = int(pathology == "malignant")
        if pathology != "normal":
            out["benign_vs_malignant"] = pathology
    if findings or pathology in ("benign", "malignant"):
        out["abnormal"] = 1
    elif labels or pathology == "normal":
        out["abnormal"] = 0
    density = next((x.density for x in labels if x.density), "")
    if not density and clinical is not None:
        density = clinical.breast_density
    if density:
        out["density"] = density
    birads = _worst([x.birads for x in labels] + [f.birads for f in findings], BIRADS_ORDER)
    if birads:
        out["birads"] = birads
    types = sorted({f.finding_type for f in findings if f.finding_type})
    if types:
        out["finding_types"] = types
    return out


def lesion_of(mark: Mark, finding: Finding) -> dict[str, Any] | None:
    """A lesion centre and radius (pixels) from a mark's geometry, or None when it has no area."""
    g = mark.geometry or {}
    try:
        if mark.kind == "ellipse":
            cx, cy, r = float(g["cx"]), float(g["cy"]), max(float(g["rx"]), float(g["ry"]))
        elif mark.kind == "point":
            cx, cy, r = float(g["x"]), float(g["y"]), float(g.get("radius", 0.0))
        elif mark.kind in ("box", "mask"):
            w, h = float(g["width"]), float(g["height"])
            cx, cy, r = float(g["x"]) + w / 2, float(g["y"]) + h / 2, max(w, h) / 2
        elif mark.kind in ("polygon", "freehand"):
            pts = np.asarray(g["points"], dtype=float)
            lo, hi = pts.min(axis=0), pts.max(axis=0)
            (cx, cy), r = (lo + hi) / 2, float((hi - lo).max() / 2)
        else:
            return None
    except (KeyError, TypeError, ValueError):
        return None
    return {
        "image_key": str(mark.image_id),
        "cx": cx,
        "cy": cy,
        "radius": r,
        "finding_type": finding.finding_type,
        "pathology": finding.pathology,
    }


def _union_mask(image: Image, marks: list[Mark]) -> np.ndarray | None:
    """The union of an image's region marks as an (H, W) uint8 0/1 array, or None."""
    from PIL import Image as PILImage
    from PIL import ImageDraw

    regions = [m for m in marks if m.kind in REGION_KINDS]
    if not regions:
        return None
    canvas = PILImage.new("L", (image.columns, image.rows), 0)
    draw = ImageDraw.Draw(canvas)
    for mark in regions:
        g = mark.geometry or {}
        if mark.kind == "mask" and mark.mask_key:
            part = PILImage.fromarray(load_mask(mark.mask_key) * 255)
            layer = PILImage.new("L", canvas.size, 0)
            layer.paste(part, (int(g.get("x", 0)), int(g.get("y", 0))))
            canvas = PILImage.fromarray(np.maximum(np.asarray(canvas), np.asarray(layer)))
            draw = ImageDraw.Draw(canvas)
        elif mark.kind in ("polygon", "freehand") and len(g.get("points", [])) >= 3:
            draw.polygon([tuple(map(float, p)) for p in g["points"]], fill=255)
    return (np.asarray(canvas) > 127).astype(np.uint8)


def _png(mask: np.ndarray) -> bytes:
    from PIL import Image as PILImage

    buf = io.BytesIO()
    PILImage.fromarray(mask * 255).save(buf, format="PNG")
    return buf.getvalue()


# --- manifest, hash, cases ----------------------------------------------------------------------


def _exams(project: Project, exam_ids: Iterable[int] | None):
    marks = Mark.objects.filter(image__isnull=False).order_by("id")
    qs = (
        Exam.objects.filter(project=project)
        .select_related("patient", "clinical_record")
        .prefetch_related(
            Prefetch("images", queryset=Image.objects.usable_for_research().order_by("id")),
            Prefetch("labels", queryset=ExamLabel.objects.order_by("id")),
            Prefetch(
                "findings",
                queryset=Finding.objects.filter(deleted=False)
                .order_by("id")
                .prefetch_related(Prefetch("marks", queryset=marks)),
            ),
        )
        .order_by("id")
    )
    if exam_ids is not None:
        qs = qs.filter(pk__in=list(exam_ids))
    return qs


def build_manifest(
    project: Project, ground_truth: str = "any", exam_ids: Iterable[int] | None = None
) -> tuple[list[dict], dict[str, bytes]]:
    """Per-exam manifest entries, and the mask PNGs still to store (by content hash)."""
    entries: list[dict] = []
    pending_masks: dict[str, bytes] = {}
    for exam in _exams(project, exam_ids):
        images = [im for im in exam.images.all() if im.pixel_cache.get("levels")]
        if not images:
            continue
        sources = _sources(exam, ground_truth)
        labels = [x for x in exam.labels.all() if x.source in sources]
        findings = [f for f in exam.findings.all() if f.source in sources]
        clinical = getattr(exam, "clinical_record", None)
        marks_by_image: dict[int, list[Mark]] = {}
        lesions = []
        for finding in findings:
            for mark in finding.marks.all():
                marks_by_image.setdefault(mark.image_id, []).append(mark)
                lesion = lesion_of(mark, finding)
                if lesion is not None:
                    lesions.append(lesion)
        image_entries = []
        for im in images:
            entry = {
                "key": str(im.pk),
                "modality": im.modality,
                "laterality": im.laterality,
                "view": im.view,
                "pixel_spacing": im.pixel_spacing,
                "sha256": im.sha256,
                "pixel_cache": im.pixel_cache,
                "mask_sha256": "",
            }
            mask = _union_mask(im, marks_by_image.get(im.pk, []))
            if mask is not None:
                data = _png(mask)
                digest = hashlib.sha256(data).hexdigest()
                pending_masks[digest] = data
                entry["mask_sha256"] = digest
            image_entries.append(entry)
        entries.append(
            {
                "key": str(exam.pk),
                "patient": exam.patient.pseudonym,
                "site": exam.site,
                "clinical": _clinical(clinical),
                "labels": exam_labels(exam, labels, findings, clinical),
                "lesions": lesions,
                "images": image_entries,
            }
        )
    return entries, pending_masks


def _clinical(record: ClinicalRecord | None) -> dict[str, Any]:
    if record is None:
        return {}
    out = {
        "age_at_exam": record.age_at_exam,
        "breast_density": record.breast_density,
        "biopsy_outcome": record.biopsy_outcome,
        "risk_factors": record.risk_factors,
        "receptor_status": record.receptor_status,
        **(record.fields or {}),
    }
    return {k: v for k, v in out.items() if v not in (None, "", [], {})}


def content_hash(manifest: list[dict]) -> str:
    """sha256 of what the cases are (pixels by checksum, labels, lesions, masks), not of where
    their files happen to be stored."""

    def strip(entry: dict) -> dict:
        images = [
            {k: v for k, v in im.items() if k not in ("pixel_cache", "mask_key")}
            for im in entry["images"]
        ]
        return {**entry, "images": images}

    canonical = json.dumps([strip(e) for e in manifest], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def cases_from_manifest(manifest: list[dict]) -> list[Case]:
    cases = []
    for entry in manifest:
        images = tuple(
            ImageRef(
                key=im["key"],
                modality=im["modality"],
                laterality=im["laterality"],
                view=im["view"],
                load=functools.partial(load_pixels, im["pixel_cache"]),
                pixel_spacing=tuple(im["pixel_spacing"]) if im.get("pixel_spacing") else None,
                mask=functools.partial(load_mask, im["mask_key"]) if im.get("mask_key") else None,
            )
            for im in entry["images"]
        )
        lesions = tuple(Lesion(**lesion) for lesion in entry["lesions"])
        cases.append(
            Case(
                key=entry["key"],
                patient=entry["patient"],
                images=images,
                clinical=entry["clinical"],
                labels=entry["labels"],
                lesions=lesions,
                site=entry["site"],
            )
        )
    return cases


def snapshot_cases(snapshot: DatasetSnapshot, split: str | None = None) -> list[Case]:
    """The snapshot's cases, optionally only those of one split."""
    manifest = snapshot.manifest
    if split is not None:
        manifest = [e for e in manifest if snapshot.split.get(e["key"]) == split]
    return cases_from_manifest(manifest)


def split_assignment(
    cases: list[Case], seed: int, fractions: Iterable[float], stratify_key: str
) -> dict[str, str]:
    """case key -> split name, by patient, through the engine's split_cases (no torch)."""
    parts = split_cases(
        cases,
        seed=seed,
        fractions=tuple(fractions),  # type: ignore[arg-type]
        stratify=stratify_key or None,
    )
    return {case.key: name for name, members in parts.items() for case in members}


def _summary(manifest: list[dict], split: dict[str, str]) -> dict[str, Any]:
    per_split: dict[str, Counter] = {}
    for entry in manifest:
        counter = per_split.setdefault(split.get(entry["key"], "none"), Counter())
        counter["cases"] += 1
        counter["images"] += len(entry["images"])
        for name in ("pathology", "abnormal", "density"):
            if name in entry["labels"]:
                counter[f"{name}={entry['labels'][name]}"] += 1
    return {name: dict(c) for name, c in per_split.items()}


def build_snapshot(
    project: Project,
    *,
    ground_truth: str = "any",
    seed: int = 0,
    fractions: tuple[float, ...] = DEFAULT_FRACTIONS,
    stratify_key: str = "",
    exam_ids: Iterable[int] | None = None,
    user=None,
    require_label: str = "",
) -> DatasetSnapshot:
    """Snapshot the project's annotated exams, split by patient (stratified on stratify_key).

    An identical snapshot (same content, seed, fractions, stratification) is reused, so
    training twice on unchanged data records the same hash and the same split.
    `require_label` keeps only cases that have that label (the recipe's target).
    """
    manifest, pending_masks = build_manifest(project, ground_truth, exam_ids)
    if require_label:
        manifest = [e for e in manifest if require_label in e["labels"]]
    if not manifest:
        raise NothingToTrain("No annotated exams with images to snapshot.")
    digest = content_hash(manifest)
    existing = DatasetSnapshot.objects.filter(
        project=project,
        content_hash=digest,
        seed=seed,
        fractions=list(fractions),
        stratify_key=stratify_key,
        ground_truth=ground_truth,
    ).first()
    if existing is not None:
        return existing
    split = split_assignment(cases_from_manifest(manifest), seed, fractions, stratify_key)
    used = {im["mask_sha256"] for e in manifest for im in e["images"] if im["mask_sha256"]}
    with storage.files_with_rows() as batch:
        keys = {
            digest_: batch.save(storage.new_key(project.pk, "gt-masks", "png"), data)
            for digest_, data in pending_masks.items()
            if digest_ in used
        }
        for entry in manifest:
            for im in entry["images"]:
                if im["mask_sha256"]:
                    im["mask_key"] = keys[im["mask_sha256"]]
        snapshot = DatasetSnapshot.objects.create(
            project=project,
            content_hash=digest,
            ground_truth=ground_truth,
            case_ids=[int(e["key"]) for e in manifest],
            split=split,
            seed=seed,
            fractions=list(fractions),
            stratify_key=stratify_key,
            manifest=manifest,
            summary=_summary(manifest, split),
            created_by=user,
        )
    return snapshot


def build_snapshot_for(
    project: Project, recipe: Any, *, seed: int = 0, ground_truth: str = "any", user=None
) -> DatasetSnapshot:
    # Classifiers learn a case label; segmentation and detection learn masks and lesions, so
    # their "label" only names what is outlined and every case is kept (normals are negatives).
    label = getattr(recipe, "label", "") or ""
    classifier = getattr(recipe, "task", "") == "classification"
    return build_snapshot(
        project,
        ground_truth=ground_truth,
        seed=seed,
        stratify_key=label if classifier else "abnormal",
        require_label=label if classifier else "",
        user=user,
    )


def split_of(snapshot: DatasetSnapshot) -> dict[str, list]:
    """The snapshot's cases grouped by split name, as the engine's train() takes them."""
    cases = snapshot_cases(snapshot)
    out: dict[str, list] = {"train": [], "val": [], "test": []}
    for case in cases:
        out.setdefault(snapshot.split[case.key], []).append(case)
    return out


def snapshot_findings(snapshot: DatasetSnapshot) -> Iterable[Finding]:
    """The findings (marks prefetched) a snapshot's ground truth is read from: the snapshot's
    exams, the same source rule as build_manifest. Exports record and write these."""
    for exam in _exams(snapshot.project, snapshot.case_ids):
        sources = _sources(exam, snapshot.ground_truth)
        for finding in exam.findings.all():
            if finding.source in sources:
                yield finding
