"""Adjudication: exams whose independent readers disagree, and the consensus a reviewer records.

`Project.adjudication_rules` (a dict; missing keys take these defaults) says how far apart two
finished reads of an exam may be before the exam needs adjudication:

- "birads_difference": 2. Two readers' BI-RADS categories this many or more apart (4A, 4B and
  4C count as 4).
- "density_difference": 1. Densities this many or more steps apart (A to D).
- "lesion_f1_below": 0.5. Lesion F1 of two readers below this (marks matched at "iou_threshold").
- "iou_threshold": 0.3.

An exam enters the queue when at least two of its readings are done, the exam is not closed, and
some pair of readers crosses a threshold. A reviewer sees the reads side by side and records the
consensus: exam labels and copies of the readers' findings chosen, stored with source
"consensus"; recording it closes the exam (status "done"), which also ends the privacy of its
reads (annotations.privacy).
"""

from __future__ import annotations

from itertools import combinations
from typing import Any

from django.db import transaction
from rest_framework.exceptions import ValidationError

from annotations import agreement, services
from annotations.agreement_report import (
    BIRADS_SCALE,
    DENSITY_SCALE,
    Read,
    project_reads,
)
from annotations.models import (
    ExamLabel,
    Finding,
    FindingVersion,
    Mark,
    ReadingAssignment,
    ReadingStatus,
    Source,
)
from senolab.imaging.models import Exam, ExamStatus
from senolab.projects.models import Project

DEFAULT_RULES: dict[str, float] = {
    "birads_difference": 2,
    "density_difference": 1,
    "lesion_f1_below": 0.5,
    "iou_threshold": 0.3,
}


def rules_of(project: Project) -> dict[str, float]:
    return {**DEFAULT_RULES, **(project.adjudication_rules or {})}


def _birads_rank(value: str) -> int | None:
    return int(value[0]) if value in BIRADS_SCALE else None


def disagreements(reads: dict[str, Read], rules: dict[str, float]) -> list[str]:
    """Why the reads of one exam (reader -> Read) need adjudication; [] when they do not."""
    reasons = []
    for a, b in combinations(sorted(reads), 2):
        ra, rb = reads[a], reads[b]
        ba, bb = _birads_rank(ra.birads), _birads_rank(rb.birads)
        if ba is not None and bb is not None and abs(ba - bb) >= rules["birads_difference"]:
            reasons.append(f"BI-RADS {ra.birads} ({a}) vs {rb.birads} ({b})")
        if ra.density in DENSITY_SCALE and rb.density in DENSITY_SCALE:
            steps = abs(DENSITY_SCALE.index(ra.density) - DENSITY_SCALE.index(rb.density))
            if steps >= rules["density_difference"]:
                reasons.append(f"density {ra.density} ({a}) vs {rb.density} ({b})")
        matched = total = 0
        for image in set(ra.lesions) | set(rb.lesions):
            la, lb = ra.lesions.get(image, []), rb.lesions.get(image, [])
            result = agreement.lesion_agreement(la, lb, threshold=rules["iou_threshold"])
            matched, total = matched + len(result.pairs), total + len(la) + len(lb)
        if total and 2 * matched / total < rules["lesion_f1_below"]:
            reasons.append(f"lesion F1 {2 * matched / total:.2f} between {a} and {b}")
    return reasons


def queue(project: Project) -> list[dict[str, Any]]:
    """Open exams with two or more finished reads that disagree beyond the project's rules."""
    done = ReadingAssignment.objects.filter(project=project, status=ReadingStatus.DONE)
    open_exams = (
        Exam.objects.filter(project=project, pk__in=done.values("exam_id"))
        .exclude(status=ExamStatus.DONE)
        .values_list("pk", flat=True)
    )
    reads = project_reads(project, exam_ids=open_exams)
    by_exam: dict[int, dict[str, Read]] = {}
    for reader, exams in reads.items():
        for exam_id, read in exams.items():
            by_exam.setdefault(exam_id, {})[reader] = read
    rules = rules_of(project)
    out = []
    for exam_id in sorted(by_exam):
        if len(by_exam[exam_id]) < 2:
            continue
        reasons = disagreements(by_exam[exam_id], rules)
        if reasons:
            out.append({"exam": exam_id, "readers": sorted(by_exam[exam_id]), "reasons": reasons})
    return out


def exam_reads(exam: Exam) -> dict[str, Any]:
    """Every reading of the exam side by side: its first read (when blind), the current read,
    and the consensus recorded so far."""
    readings = ReadingAssignment.objects.filter(exam=exam).select_related("reader")
    findings = Finding.objects.filter(exam=exam, deleted=False).prefetch_related("marks")
    labels = ExamLabel.objects.filter(exam=exam)
    reads = []
    for reading in readings.order_by("reader__username"):
        reads.append(
            {
                "reader": reading.reader.username,
                "status": reading.status,
                "first_read": reading.first_read or None,
                "findings": [
                    services.finding_data(f)
                    for f in findings
                    if f.source == Source.HUMAN and f.created_by_id == reading.reader_id
                ],
                "labels": [
                    services.label_data(x)
                    for x in labels
                    if x.source == Source.HUMAN and x.author_id == reading.reader_id
                ],
            }
        )
    reads_by_name = {
        name: read
        for name, by_exam in project_reads(exam.project, [exam.pk]).items()
        for read in by_exam.values()
    }
    return {
        "exam": exam.pk,
        "closed": exam.status == ExamStatus.DONE,
        "reasons": disagreements(reads_by_name, rules_of(exam.project)),
        "reads": reads,
        "consensus": {
            "findings": [
                services.finding_data(f) for f in findings if f.source == Source.CONSENSUS
            ],
            "labels": [services.label_data(x) for x in labels if x.source == Source.CONSENSUS],
        },
    }


def _copy_finding(finding: Finding, user) -> Finding:
    copy = Finding.objects.create(
        project_id=finding.project_id,
        exam_id=finding.exam_id,
        source=Source.CONSENSUS,
        created_by=user,
        updated_by=user,
        origin={"kind": "consensus", "finding": finding.pk, "reader": finding.created_by_id},
        **{name: getattr(finding, name) for name in services.FINDING_FIELDS},
    )
    for mark in finding.marks.all():
        Mark.objects.create(
            finding=copy,
            image_id=mark.image_id,
            slide_id=mark.slide_id,
            frame=mark.frame,
            kind=mark.kind,
            geometry=mark.geometry,
            mask_key=mark.mask_key,  # the file is never rewritten, so both marks may share it
        )
    FindingVersion.objects.create(
        finding=copy, version=copy.version, snapshot=services.finding_data(copy), author=user
    )
    return copy


def record_consensus(exam: Exam, user, data: dict[str, Any]) -> dict[str, Any]:
    """Store the consensus (replacing any earlier one) and close the exam.

    data: "density", "birads", "pathology" (the exam-level consensus labels, each optional) and
    "findings" (ids of the readers' findings the consensus keeps; they are copied).
    """
    services.check_labels(exam, {k: data.get(k) for k in services.LABEL_FIELDS})
    ids = list(dict.fromkeys(data.get("findings") or []))
    chosen = list(Finding.objects.filter(pk__in=ids, exam=exam, source=Source.HUMAN, deleted=False))
    if len(chosen) != len(ids):
        missing = sorted(set(ids) - {f.pk for f in chosen})
        raise ValidationError(
            {"findings": [f"Not a reader's finding of this exam: {', '.join(map(str, missing))}."]}
        )
    with transaction.atomic():
        for old in Finding.objects.filter(exam=exam, source=Source.CONSENSUS, deleted=False):
            services.delete_finding(user, old, old.version)
        ExamLabel.objects.filter(exam=exam, source=Source.CONSENSUS).delete()
        fields = {k: data[k] for k in ("density", "birads", "pathology") if data.get(k)}
        if fields:
            ExamLabel.objects.create(
                project_id=exam.project_id,
                exam=exam,
                source=Source.CONSENSUS,
                laterality="",
                author=user,
                **fields,
            )
        for finding in sorted(chosen, key=lambda f: f.pk):
            _copy_finding(finding, user)
        Exam.objects.filter(pk=exam.pk).update(status=ExamStatus.DONE)
    exam.refresh_from_db()
    return exam_reads(exam)
