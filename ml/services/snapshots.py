"""Immutable data set snapshots: annotated exams of a project turned into the engine's Cases.

A snapshot's manifest is plain JSON: per case its patient, clinical record, labels, per-breast
labels where a breast has its own (`breasts`), lesions and images (pixel-cache layouts,
materialised ground-truth masks). The engine's Cases are rebuilt from
the manifest alone, so a run trains on exactly what was hashed even if annotations change later.

Ground truth is read from the annotations app: ExamLabel (density, BI-RADS, pathology), Finding
(type, pathology) and their Marks (lesion centres, masks). `ground_truth` picks the source:
"reference" (imported), "human" (experts), or "any" (reference where an exam has it, else human);
with independent readers also "consensus" (what a reviewer recorded in adjudication; exams
without one are left out), "reader" (one named reader's own findings and labels; exams that
reader did not annotate are left out) or "majority" (each case label is the value most readers
gave, a tie going to the more severe value; lesions and masks are those of the reader who agrees
with the majority on most labels, the lowest user id on a tie).
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
from collections import Counter
from collections.abc import Iterable, Sequence
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
from senolab.imaging.pixelcache import read_pixels, read_reduced
from senolab.projects.models import Project

PATHOLOGY_RANK = {"normal": 0, "benign": 1, "malignant": 2}
BIRADS_ORDER = ["0", "1", "2", "3", "4", "4A", "4B", "4C", "5", "6"]
# Marks that outline a region (used for segmentation masks); the others only locate a lesion.
REGION_KINDS = {"mask", "polygon", "freehand"}
DEFAULT_FRACTIONS = (0.7, 0.15, 0.15)


# --- loading pixels and masks (module-level functions: picklable for data-loader workers) ----


def load_pixels(layout: dict[str, Any]) -> np.ndarray:
    return read_pixels(SimpleNamespace(pixel_cache=layout), 0, 0)


def load_reduced(
    layout: dict[str, Any], long_side: int, short_side: int
) -> tuple[np.ndarray, int, tuple[int, int]]:
    return read_reduced(layout, long_side, short_side)


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


def _authored_by(exam: Exam) -> dict[int, tuple[list[ExamLabel], list[Finding]]]:
    """Each reader's own human labels and findings of the exam."""
    out: dict[int, tuple[list[ExamLabel], list[Finding]]] = {}
    for label in exam.labels.all():
        if label.source == Source.HUMAN and label.author_id is not None:
            out.setdefault(label.author_id, ([], []))[0].append(label)
    for finding in exam.findings.all():
        if finding.source == Source.HUMAN and finding.created_by_id is not None:
            out.setdefault(finding.created_by_id, ([], []))[1].append(finding)
    return out


# Votes of the majority policy: on a tie, the more severe value wins (by these orders).
_VOTE_ORDERS: dict[str, Sequence[Any]] = {
    "pathology": list(PATHOLOGY_RANK),
    "benign_vs_malignant": ["benign", "malignant"],
    "birads": BIRADS_ORDER,
    "density": ["A", "B", "C", "D"],
    "malignant": [0, 1],
    "abnormal": [0, 1],
}


def _majority(per_reader: dict[int, dict[str, Any]]) -> tuple[dict[str, Any], int]:
    """The majority's labels, and the reader (id) whose own labels agree with it most."""
    out: dict[str, Any] = {}
    for key, order in _VOTE_ORDERS.items():
        votes = Counter(labels[key] for labels in per_reader.values() if key in labels)
        if votes:
            top = max(votes.values())
            tied = [v for v, n in votes.items() if n == top]
            out[key] = max(tied, key=lambda v: order.index(v) if v in order else -1)
    agreeing = sorted(
        per_reader,
        key=lambda r: (-sum(per_reader[r].get(k) == v for k, v in out.items()), r),
    )
    return out, agreeing[0]


def ground_truth_rows(
    exam: Exam, ground_truth: str, reader_id: int | None = None
) -> tuple[list[ExamLabel], list[Finding], dict[str, Any] | None] | None:
    """The labels and findings that are the exam's ground truth under the policy, and the case
    labels when the policy decides them itself (majority); None when the exam has none."""
    if ground_truth == "consensus":
        labels = [x for x in exam.labels.all() if x.source == Source.CONSENSUS]
        findings = [f for f in exam.findings.all() if f.source == Source.CONSENSUS]
        return (labels, findings, None) if labels or findings else None
    if ground_truth == "reader":
        own = _authored_by(exam).get(reader_id) if reader_id is not None else None
        return (own[0], own[1], None) if own else None
    if ground_truth == "majority":
        reads = _authored_by(exam)
        if not reads:
            return None
        clinical = getattr(exam, "clinical_record", None)
        per_reader = {r: exam_labels(exam, ls, fs, clinical) for r, (ls, fs) in reads.items()}
        voted, closest = _majority(per_reader)
        types = per_reader[closest].get("finding_types")
        if types:
            voted["finding_types"] = types
        return reads[closest][0], reads[closest][1], voted
    sources = _sources(exam, ground_truth)
    labels = [x for x in exam.labels.all() if x.source in sources]
    findings = [f for f in exam.findings.all() if f.source in sources]
    return labels, findings, None


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


def breast_labels(
    exam: Exam,
    labels: list[ExamLabel],
    findings: list[Finding],
    image_sides: dict[int, str],
) -> dict[str, dict[str, Any]]:
    """Per-breast labels, "L"/"R" -> labels named as exam_labels names them, from the exam
    labels recorded for that side and the findings on it (their laterality, else that of the
    images their marks are on); only sides with such a label or finding."""
    out: dict[str, dict[str, Any]] = {}
    for side in ("L", "R"):
        side_labels = [x for x in labels if x.laterality == side]
        side_findings = [f for f in findings if _finding_side(f, image_sides) == side]
        if side_labels or side_findings:
            out[side] = exam_labels(exam, side_labels, side_findings, None)
    return out


def _finding_side(finding: Finding, image_sides: dict[int, str]) -> str:
    if finding.laterality in ("L", "R"):
        return finding.laterality
    sides = {image_sides.get(m.image_id or 0, "") for m in finding.marks.all()}
    return sides.pop() if len(sides) == 1 else ""


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
    project: Project,
    ground_truth: str = "any",
    exam_ids: Iterable[int] | None = None,
    reader_id: int | None = None,
) -> tuple[list[dict], dict[str, bytes]]:
    """Per-exam manifest entries, and the mask PNGs still to store (by content hash)."""
    entries: list[dict] = []
    pending_masks: dict[str, bytes] = {}
    for exam in _exams(project, exam_ids):
        images = [im for im in exam.images.all() if im.pixel_cache.get("levels")]
        if not images:
            continue
        rows = ground_truth_rows(exam, ground_truth, reader_id)
        if rows is None:
            continue
        labels, findings, decided = rows
        clinical = getattr(exam, "clinical_record", None)
        marks_by_image: dict[int | None, list[Mark]] = {}
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
        case: dict[str, Any] = {
            "key": str(exam.pk),
            "patient": exam.patient.pseudonym,
            "site": exam.site,
            "clinical": _clinical(clinical),
            "labels": decided
            if decided is not None
            else exam_labels(exam, labels, findings, clinical),
            "lesions": lesions,
            "images": image_entries,
        }
        # Only where a breast has labels of its own, so other exams' hashes stay as they were
        breasts = breast_labels(exam, labels, findings, {im.pk: im.laterality for im in images})
        if breasts:
            case["breasts"] = breasts
        entries.append(case)
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
                load_reduced=functools.partial(load_reduced, im["pixel_cache"]),
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
    ground_truth_reader=None,
) -> DatasetSnapshot:
    """Snapshot the project's annotated exams, split by patient (stratified on stratify_key).

    An identical snapshot (same content, seed, fractions, stratification) is reused, so
    training twice on unchanged data records the same hash and the same split.
    `require_label` keeps only cases that have that label (the recipe's target).
    `ground_truth_reader` is the reader of the "reader" policy.
    """
    if ground_truth == "reader" and ground_truth_reader is None:
        raise NothingToTrain("Name the reader whose reads are the ground truth.")
    reader_id = ground_truth_reader.pk if ground_truth == "reader" else None
    manifest, pending_masks = build_manifest(project, ground_truth, exam_ids, reader_id)
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
        ground_truth_reader_id=reader_id,
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
            ground_truth_reader_id=reader_id,
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
    project: Project,
    recipe: Any,
    *,
    seed: int = 0,
    ground_truth: str = "any",
    user=None,
    ground_truth_reader=None,
    exam_ids: Iterable[int] | None = None,
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
        ground_truth_reader=ground_truth_reader,
        exam_ids=exam_ids,
    )


def case_manufacturers(cases: Iterable[Case]) -> dict[str, str]:
    """Case key -> the scanner manufacturer its images' DICOM named (the first one that did;
    cases without one are left out), for figures per manufacturer."""
    image_case = {im.key: case.key for case in cases for im in case.images}
    out: dict[str, str] = {}
    rows = Image.objects.filter(pk__in=[int(k) for k in image_case]).values_list("pk", "extra")
    for pk, extra in sorted(rows):
        maker = str((extra or {}).get("Manufacturer") or "").strip()
        if maker:
            out.setdefault(image_case[str(pk)], maker)
    return out


def split_of(snapshot: DatasetSnapshot) -> dict[str, list]:
    """The snapshot's cases grouped by split name, as the engine's train() takes them."""
    cases = snapshot_cases(snapshot)
    out: dict[str, list] = {"train": [], "val": [], "test": []}
    for case in cases:
        out.setdefault(snapshot.split[case.key], []).append(case)
    return out


def snapshot_findings(snapshot: DatasetSnapshot) -> Iterable[Finding]:
    """The findings (marks prefetched) a snapshot's ground truth is read from: the snapshot's
    exams, the same ground-truth rule as build_manifest (consensus, one reader, the reader
    closest to the majority, or the source rule). Exports record and write these."""
    for exam in _exams(snapshot.project, snapshot.case_ids):
        rows = ground_truth_rows(exam, snapshot.ground_truth, snapshot.ground_truth_reader_id)
        if rows is not None:
            yield from rows[1]
