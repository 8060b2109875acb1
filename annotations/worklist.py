"""The reading worklist: which exams a reader has, and which one comes next.

The order of "next" is a policy looked up by name in one registry, so later work adds a policy
with `@register_policy(name)` without touching the API. The Django setting SENOLAB_WORKLIST_POLICY
names the policy in use (default "ranked-then-assigned"); a per-project choice can replace
`policy_for` when projects get one.

Rankings are the other hook: an app that knows which exams should be read first (ml's open
active-learning round) registers `ranking(project) -> exam ids, first first` with
`register_ranking`, so this module imports none of them. The default policy serves ranked exams
before the rest; with no ranking registered or nothing ranked it is "assigned-then-unassigned".
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from annotations.models import ExamLabel, Finding, ReadingAssignment, ReadingStatus, Source
from annotations.privacy import others_reads_q
from senolab.imaging.models import ClinicalRecord, Exam
from senolab.projects.models import Project

# A policy takes (project, reader) and returns the next exam for the reader, or None.
Policy = Callable[[Project, Any], Exam | None]
POLICIES: dict[str, Policy] = {}
DEFAULT_POLICY = "ranked-then-assigned"
Ranking = Callable[[Project], list[int]]
RANKINGS: list[Ranking] = []


def register_policy(name: str) -> Callable[[Policy], Policy]:
    def add(policy: Policy) -> Policy:
        POLICIES[name] = policy
        return policy

    return add


def register_ranking(ranking: Ranking) -> Ranking:
    if ranking not in RANKINGS:
        RANKINGS.append(ranking)
    return ranking


def ranked_exam_ids(project: Project) -> list[int]:
    """The registered rankings' exams in order, each once."""
    return list(dict.fromkeys(e for ranking in RANKINGS for e in ranking(project)))


def policy_name(project: Project) -> str:
    name = settings.SENOLAB_WORKLIST_POLICY or DEFAULT_POLICY
    if name not in POLICIES:
        raise ImproperlyConfigured(
            f"SENOLAB_WORKLIST_POLICY={name!r} is not a worklist policy: {sorted(POLICIES)}"
        )
    return name


def policy_for(project: Project) -> Policy:
    return POLICIES[policy_name(project)]


def unassigned_q(project: Project) -> Q:
    """Exams no reader has been given."""
    return ~Q(pk__in=ReadingAssignment.objects.filter(project=project).values("exam_id"))


def unassigned_exams(project: Project) -> QuerySet[Exam]:
    return Exam.objects.filter(project=project).filter(unassigned_q(project))


@register_policy("assigned-then-unassigned")
def assigned_then_unassigned(project: Project, reader) -> Exam | None:
    """The reader's oldest unfinished assignment (in progress first), then the oldest exam no
    one has been given."""
    mine = (
        ReadingAssignment.objects.filter(project=project, reader=reader)
        .exclude(status=ReadingStatus.DONE)
        .order_by("-status", "assigned_at", "id")  # "in_progress" sorts after "assigned"
        .select_related("exam")
        .first()
    )
    if mine is not None:
        return mine.exam
    return unassigned_exams(project).order_by("created_at", "id").first()


@register_policy(DEFAULT_POLICY)
def ranked_then_assigned(project: Project, reader) -> Exam | None:
    """The first ranked exam the reader may read (one of their unfinished assignments, or one
    no reader has been given), then as "assigned-then-unassigned"."""
    ranked = ranked_exam_ids(project)
    if ranked:
        readings = ReadingAssignment.objects.filter(project=project, exam_id__in=ranked)
        mine = set(
            readings.filter(reader=reader)
            .exclude(status=ReadingStatus.DONE)
            .values_list("exam_id", flat=True)
        )
        taken = set(readings.values_list("exam_id", flat=True))
        for exam_id in ranked:
            exam = None
            if exam_id in mine or exam_id not in taken:
                exam = Exam.objects.filter(project=project, pk=exam_id).first()
            if exam is not None:
                return exam
    return assigned_then_unassigned(project, reader)


def filter_exams(
    queryset: QuerySet[Exam], params: dict[str, str], *, blind: bool = False, reader=None
) -> QuerySet[Exam]:
    """The worklist filters: modality, status (of my reading), birads, density, site, and the
    clinical record's age range and biopsy outcome (ValueError when one is malformed). A blind
    reader's BI-RADS and density filters look at no reference label or finding, and none look
    at another reader's private read."""
    if params.get("modality"):
        queryset = queryset.filter(
            Q(series__modality=params["modality"]) | Q(images__modality=params["modality"])
        )
    if params.get("site"):
        queryset = queryset.filter(site=params["site"])
    seen = ~Q(source=Source.REFERENCE) if blind else Q()
    seen_labels, seen_findings = _visible(seen, reader)
    if params.get("birads"):
        b = params["birads"]
        labels = ExamLabel.objects.filter(seen_labels, birads=b).values("exam_id")
        findings = Finding.objects.filter(seen_findings, birads=b, deleted=False).values("exam_id")
        queryset = queryset.filter(Q(pk__in=labels) | Q(pk__in=findings))
    if params.get("density"):
        labels = ExamLabel.objects.filter(seen_labels, density=params["density"]).values("exam_id")
        queryset = queryset.filter(pk__in=labels)
    records = clinical_filter(params)
    if records is not None:
        queryset = queryset.filter(pk__in=ClinicalRecord.objects.filter(records).values("exam_id"))
    return queryset.distinct()


def _age(params: dict[str, str], name: str) -> int | None:
    text = params.get(name, "")
    if not text:
        return None
    if not re.fullmatch(r"[0-9]{1,3}", text) or int(text) > 150:
        raise ValueError(f"{name}: a whole number of years from 0 to 150.")
    return int(text)


def clinical_filter(params: dict[str, str]) -> Q | None:
    """The clinical-record conditions of the worklist filters (age_min, age_max,
    biopsy_outcome), or None when none is asked; ValueError says what is wrong."""
    low, high = _age(params, "age_min"), _age(params, "age_max")
    if low is not None and high is not None and low > high:
        raise ValueError("The age range is empty: age_max is below age_min.")
    conditions = Q()
    if low is not None:
        conditions &= Q(age_at_exam__gte=low)
    if high is not None:
        conditions &= Q(age_at_exam__lte=high)
    if params.get("biopsy_outcome"):
        conditions &= Q(biopsy_outcome__iexact=params["biopsy_outcome"])
    return conditions if conditions else None


def assign_exams(project: Project, reader, exams: QuerySet[Exam] | list[Exam]) -> int:
    """Put exams of the project on the reader's worklist; returns how many were new to it."""
    added = 0
    for exam in exams:
        if exam.project_id != project.pk:
            raise ValueError(f"exam {exam.pk} is not in project {project.pk}")
        _, created = ReadingAssignment.objects.get_or_create(
            exam=exam, reader=reader, defaults={"project": project}
        )
        added += created
    return added


def start_reading(project: Project, reader, exam: Exam) -> ReadingAssignment:
    """Mark the reader's reading of the exam in progress (assigning it if it was not)."""
    now = timezone.now()
    try:
        with transaction.atomic():
            reading, _ = ReadingAssignment.objects.get_or_create(
                exam=exam, reader=reader, defaults={"project": project}
            )
    except IntegrityError:  # a second tab created it at the same moment
        reading = ReadingAssignment.objects.get(exam=exam, reader=reader)
    if reading.status == ReadingStatus.ASSIGNED:
        reading.status = ReadingStatus.IN_PROGRESS
        reading.started_at = now
        reading.save(update_fields=["status", "started_at"])
    return reading


def next_exam(project: Project, reader) -> Exam | None:
    """The next exam by the project's policy, marked in progress for the reader."""
    exam = policy_for(project)(project, reader)
    if exam is not None:
        start_reading(project, reader, exam)
    return exam


def finish_reading(project: Project, reader, exam: Exam) -> ReadingAssignment:
    reading = start_reading(project, reader, exam)
    reading.status = ReadingStatus.DONE
    reading.finished_at = timezone.now()
    reading.save(update_fields=["status", "finished_at"])
    return reading


def summary(project: Project, reader) -> dict[str, Any]:
    """Counts for the reader and who is reading what in the project."""
    mine = ReadingAssignment.objects.filter(project=project, reader=reader)
    done = mine.filter(status=ReadingStatus.DONE).count()
    remaining = mine.exclude(status=ReadingStatus.DONE).count()
    readers = (
        ReadingAssignment.objects.filter(project=project, status=ReadingStatus.IN_PROGRESS)
        .select_related("reader")
        .order_by("exam_id")
    )
    return {
        "policy": policy_name(project),
        "done": done,
        "remaining": remaining,
        "unassigned": unassigned_exams(project).count(),
        "reading_now": [
            {"exam": r.exam_id, "reader": r.reader.username, "since": r.started_at} for r in readers
        ],
    }


def _visible(seen: Q, reader) -> tuple[Q, Q]:
    """`seen` for labels and for findings, less other readers' private reads."""
    labels_hidden = others_reads_q(reader, "author") if reader is not None else None
    findings_hidden = others_reads_q(reader, "created_by") if reader is not None else None
    return (
        seen if labels_hidden is None else seen & ~labels_hidden,
        seen if findings_hidden is None else seen & ~findings_hidden,
    )


def exam_labels_summary(
    exam_ids: list[int], *, blind: bool = False, reader=None
) -> dict[int, dict[str, str]]:
    """Highest BI-RADS and a density per exam, for the worklist rows; a blind reader's leave
    out the reference (imported ground truth), and none show another reader's private read."""
    out: dict[int, dict[str, str]] = {i: {"birads": "", "density": ""} for i in exam_ids}
    seen_labels, seen_findings = _visible(~Q(source=Source.REFERENCE) if blind else Q(), reader)
    # Exam-level labels first (laterality ""); a breast-level label's density fills an exam that
    # has none (public data sets label density per breast).
    labels = ExamLabel.objects.filter(seen_labels, exam_id__in=exam_ids)
    for label in labels.order_by("laterality", "id"):
        row = out[label.exam_id]
        if not label.laterality:
            row["birads"] = row["birads"] or label.birads
        row["density"] = row["density"] or label.density
    findings = Finding.objects.filter(seen_findings, exam_id__in=exam_ids, deleted=False)
    for exam_id, birads in findings.values_list("exam_id", "birads"):
        if birads and birads > out[exam_id]["birads"]:
            out[exam_id]["birads"] = birads
    return out
