"""A project's reader agreement: the figures of annotations.agreement over its finished reads.

A reader's read of an exam is what they recorded there (their own human findings and labels)
once their reading is done. From it: a BI-RADS (the exam-level label, else the highest of the
reader's findings) and a breast density (exam-level, else the first breast's); lesions (every
mark with an area, as a region of its image) and, per image, the union of those regions.

Figures: quadratic-weighted Cohen's kappa for BI-RADS and density between every pair of readers,
Krippendorff's alpha (ordinal) when more than two readers read, lesion-level F1 per pair at the
project's IoU threshold, mean Dice between the pair's regions on the images either outlined,
and each reader's sensitivity and specificity against the reference where an exam has one
(positive: BI-RADS 4 or above, or a malignant pathology; truth: a malignant reference).

Blind first reads (annotations.reads) add, per reader: how many final reads changed the
BI-RADS of the first (up or down the scale), the sensitivity and specificity of the first and of
the final reads, and the median time from opening an exam to submitting its final read.
"""

from __future__ import annotations

import csv
import io
import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

import numpy as np

from annotations import agreement
from annotations.geometry import region_mask
from annotations.models import (
    ExamLabel,
    Finding,
    MarkKind,
    ReadingAssignment,
    ReadingStatus,
    Source,
)
from senolab.imaging import storage
from senolab.imaging.models import Image
from senolab.projects.models import Project

BIRADS_SCALE = ["0", "1", "2", "3", "4", "4A", "4B", "4C", "5", "6"]
DENSITY_SCALE = ["A", "B", "C", "D"]
POSITIVE_BIRADS = {"4", "4A", "4B", "4C", "5", "6"}
DEFAULT_IOU_THRESHOLD = 0.3


def worst_birads(values) -> str:
    known = [v for v in values if v in BIRADS_SCALE]
    return max(known, key=BIRADS_SCALE.index) if known else ""


@dataclass
class Read:
    """One reader's read of one exam."""

    birads: str = ""
    density: str = ""
    pathology: str = ""
    # image id -> one region per lesion mark
    lesions: dict[int, list[np.ndarray]] = field(default_factory=dict)


def _stored_mask(key: str) -> np.ndarray | None:
    from PIL import Image as PILImage

    if not key:
        return None
    with storage.open_file(key) as fh:
        return np.asarray(PILImage.open(fh).convert("L")) > 127


def reads_of(labels: list[ExamLabel], findings: list[Finding], images: dict[int, Image]) -> Read:
    read = Read()
    exam_level = [x for x in labels if not x.laterality]
    breast_level = [x for x in labels if x.laterality]
    read.birads = next((x.birads for x in exam_level if x.birads), "") or worst_birads(
        [f.birads for f in findings]
    )
    read.density = next((x.density for x in exam_level + breast_level if x.density), "")
    pathologies = [x.pathology for x in labels] + [f.pathology for f in findings]
    read.pathology = (
        "malignant" if "malignant" in pathologies else next((p for p in pathologies if p), "")
    )
    for finding in findings:
        for mark in finding.marks.all():
            image = images.get(mark.image_id) if mark.image_id else None
            if image is None or mark.kind not in (
                MarkKind.BOX,
                MarkKind.ELLIPSE,
                MarkKind.POLYGON,
                MarkKind.FREEHAND,
                MarkKind.MASK,
            ):
                continue
            stored = _stored_mask(mark.mask_key) if mark.kind == MarkKind.MASK else None
            region = region_mask(mark.kind, mark.geometry, image.rows, image.columns, stored)
            if region is not None:
                read.lesions.setdefault(image.pk, []).append(region)
    return read


def project_reads(project: Project, exam_ids=None) -> dict[str, dict[int, Read]]:
    """{reader username: {exam id: Read}} over the finished readings of the project."""
    readings = ReadingAssignment.objects.filter(
        project=project, status=ReadingStatus.DONE
    ).select_related("reader")
    if exam_ids is not None:
        readings = readings.filter(exam_id__in=list(exam_ids))
    wanted = {(r.exam_id, r.reader_id): r.reader.username for r in readings}
    exams = {e for e, _ in wanted}
    images = {im.pk: im for im in Image.objects.filter(exam_id__in=exams)}
    labels: dict[tuple[int, int | None], list[ExamLabel]] = defaultdict(list)
    for label in ExamLabel.objects.filter(exam_id__in=exams, source=Source.HUMAN):
        labels[(label.exam_id, label.author_id)].append(label)
    findings: dict[tuple[int, int | None], list[Finding]] = defaultdict(list)
    for finding in Finding.objects.filter(
        exam_id__in=exams, source=Source.HUMAN, deleted=False
    ).prefetch_related("marks"):
        findings[(finding.exam_id, finding.created_by_id)].append(finding)
    out: dict[str, dict[int, Read]] = defaultdict(dict)
    for key in sorted(wanted, key=lambda k: (wanted[k], k[0])):
        out[wanted[key]][key[0]] = reads_of(labels[key], findings[key], images)
    return dict(out)


def reference_truth(project: Project) -> dict[int, int]:
    """exam id -> 1 (malignant reference) or 0 (benign or normal reference)."""
    truth: dict[int, int] = {}
    for model in (ExamLabel, Finding):
        rows = model.objects.filter(project=project, source=Source.REFERENCE)
        for exam_id, pathology in rows.values_list("exam_id", "pathology"):
            if pathology in ("malignant", "benign", "normal"):
                truth[exam_id] = max(truth.get(exam_id, 0), int(pathology == "malignant"))
    return truth


def submitted_read(snapshot: dict[str, Any]) -> tuple[str, bool]:
    """The BI-RADS and the malignant call of a submitted read (first_read or final_read)."""
    labels = [x for x in snapshot.get("labels", []) if isinstance(x, dict)]
    findings = [f for f in snapshot.get("findings", []) if isinstance(f, dict)]
    birads = next(
        (x.get("birads", "") for x in labels if not x.get("laterality") and x.get("birads")), ""
    ) or worst_birads(f.get("birads", "") for f in findings)
    malignant = any(r.get("pathology") == "malignant" for r in labels + findings)
    return birads, malignant or birads in POSITIVE_BIRADS


def _rates(calls: list[tuple[bool, int]]) -> tuple[float | None, float | None]:
    tp = sum(1 for positive, truth in calls if positive and truth)
    fn = sum(1 for positive, truth in calls if not positive and truth)
    tn = sum(1 for positive, truth in calls if not positive and not truth)
    fp = sum(1 for positive, truth in calls if positive and not truth)
    return (tp / (tp + fn) if tp + fn else None, tn / (tn + fp) if tn + fp else None)


def blind_reads(project: Project, truth: dict[int, int]) -> list[dict[str, Any]]:
    """Per reader: first against final reads of the blind readings they submitted."""
    readings = (
        ReadingAssignment.objects.filter(
            project=project,
            first_read_submitted_at__isnull=False,
            final_read_submitted_at__isnull=False,
        )
        .select_related("reader")
        .order_by("reader__username", "exam_id")
    )
    by_reader: dict[str, list[ReadingAssignment]] = defaultdict(list)
    for reading in readings:
        by_reader[reading.reader.username].append(reading)
    out = []
    for reader, rows in by_reader.items():
        up = down = 0
        first_calls, final_calls, seconds = [], [], []
        for r in rows:
            first, first_positive = submitted_read(r.first_read)
            final, final_positive = submitted_read(r.final_read)
            if first in BIRADS_SCALE and final in BIRADS_SCALE and first != final:
                if BIRADS_SCALE.index(final) > BIRADS_SCALE.index(first):
                    up += 1
                else:
                    down += 1
            if r.exam_id in truth:
                first_calls.append((first_positive, truth[r.exam_id]))
                final_calls.append((final_positive, truth[r.exam_id]))
            start = r.started_at or r.assigned_at
            if start and r.final_read_submitted_at:
                seconds.append((r.final_read_submitted_at - start).total_seconds())
        first_sens, first_spec = _rates(first_calls)
        final_sens, final_spec = _rates(final_calls)
        out.append(
            {
                "reader": reader,
                "reads": len(rows),
                "birads_changed_up": up,
                "birads_changed_down": down,
                "first_sensitivity": first_sens,
                "first_specificity": first_spec,
                "final_sensitivity": final_sens,
                "final_specificity": final_spec,
                "median_seconds": statistics.median(seconds) if seconds else None,
            }
        )
    return out


def pair_lesions(a: dict[int, Read], b: dict[int, Read], threshold: float) -> dict[str, Any]:
    """Lesion F1 and mean Dice of two readers over the exams both read."""
    matched = total = 0
    dices = []
    for exam in sorted(set(a) & set(b)):
        images = set(a[exam].lesions) | set(b[exam].lesions)
        for image in sorted(images):
            la, lb = a[exam].lesions.get(image, []), b[exam].lesions.get(image, [])
            result = agreement.lesion_agreement(la, lb, threshold=threshold)
            matched += len(result.pairs)
            total += len(la) + len(lb)
            shape = (la or lb)[0].shape
            union_a = np.logical_or.reduce(la) if la else np.zeros(shape, bool)
            union_b = np.logical_or.reduce(lb) if lb else np.zeros(shape, bool)
            dices.append(agreement.dice(union_a, union_b))
    return {
        "lesion_f1": None if total == 0 else 2 * matched / total,
        "matched": matched,
        "lesions": total,
        "dice": None if not dices else float(np.mean(dices)),
        "images": len(dices),
    }


def _scale_ratings(reads: dict[str, dict[int, Read]], attr: str, scale: list[str]):
    return {
        reader: {e: getattr(r, attr) for e, r in by_exam.items() if getattr(r, attr) in scale}
        for reader, by_exam in reads.items()
    }


def project_agreement(project: Project) -> dict[str, Any]:
    threshold = float(
        (project.adjudication_rules or {}).get("iou_threshold", DEFAULT_IOU_THRESHOLD)
    )
    reads = project_reads(project)
    readers = sorted(reads)
    scales: dict[str, Any] = {}
    for name, attr, scale in (
        ("birads", "birads", BIRADS_SCALE),
        ("density", "density", DENSITY_SCALE),
    ):
        ratings = _scale_ratings(reads, attr, scale)
        kappas = agreement.pairwise_kappa(ratings, scale) if len(ratings) >= 2 else {}
        scales[name] = {
            "pairs": [
                {
                    "a": a,
                    "b": b,
                    "kappa": kappa,
                    "exams": len(set(ratings[a]) & set(ratings[b])),
                }
                for (a, b), kappa in kappas.items()
            ],
            "alpha": agreement.alpha(ratings, scale) if len(ratings) > 2 else None,
        }
    lesions = [
        {"a": a, "b": b, **pair_lesions(reads[a], reads[b], threshold)}
        for a, b in combinations(readers, 2)
    ]
    truth = reference_truth(project)
    accuracy = []
    for reader in readers:
        tp = fp = tn = fn = 0
        for exam, read in reads[reader].items():
            if exam not in truth:
                continue
            positive = read.birads in POSITIVE_BIRADS or read.pathology == "malignant"
            if truth[exam]:
                tp, fn = tp + positive, fn + (not positive)
            else:
                fp, tn = fp + positive, tn + (not positive)
        accuracy.append(
            {
                "reader": reader,
                "exams": tp + fp + tn + fn,
                "tp": tp,
                "fp": fp,
                "tn": tn,
                "fn": fn,
                "sensitivity": tp / (tp + fn) if tp + fn else None,
                "specificity": tn / (tn + fp) if tn + fp else None,
            }
        )
    return {
        "project": project.pk,
        "readers": readers,
        "exams": len({e for by_exam in reads.values() for e in by_exam}),
        "iou_threshold": threshold,
        "birads": scales["birads"],
        "density": scales["density"],
        "lesions": lesions,
        "readers_vs_reference": accuracy,
        "blind_reads": blind_reads(project, truth),
    }


def agreement_csv(report: dict[str, Any]) -> str:
    """The figures as one long table: measure, reader a, reader b, value, n."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["measure", "reader_a", "reader_b", "value", "n"])
    for scale in ("birads", "density"):
        for pair in report[scale]["pairs"]:
            writer.writerow(
                [
                    f"{scale}_kappa_quadratic",
                    pair["a"],
                    pair["b"],
                    _num(pair["kappa"]),
                    pair["exams"],
                ]
            )
        writer.writerow(
            [
                f"{scale}_krippendorff_alpha",
                "",
                "",
                _num(report[scale]["alpha"]),
                len(report["readers"]),
            ]
        )
    for pair in report["lesions"]:
        writer.writerow(
            [
                f"lesion_f1_iou{report['iou_threshold']:g}",
                pair["a"],
                pair["b"],
                _num(pair["lesion_f1"]),
                pair["lesions"],
            ]
        )
        writer.writerow(["dice_mean", pair["a"], pair["b"], _num(pair["dice"]), pair["images"]])
    for row in report["readers_vs_reference"]:
        writer.writerow(
            [
                "sensitivity",
                row["reader"],
                "reference",
                _num(row["sensitivity"]),
                row["tp"] + row["fn"],
            ]
        )
        writer.writerow(
            [
                "specificity",
                row["reader"],
                "reference",
                _num(row["specificity"]),
                row["tn"] + row["fp"],
            ]
        )
    for row in report["blind_reads"]:
        for key in (
            "birads_changed_up",
            "birads_changed_down",
            "first_sensitivity",
            "first_specificity",
            "final_sensitivity",
            "final_specificity",
            "median_seconds",
        ):
            value = row[key]
            text = str(value) if isinstance(value, int) else _num(value)
            writer.writerow([f"blind_{key}", row["reader"], "", text, row["reads"]])
    return out.getvalue()


def _num(value: float | None) -> str:
    return "" if value is None else f"{value:.4f}"
