"""Operations on findings and exam labels: validated, versioned, with optimistic locking.

A save names the version the client last saw. The change is a conditional
`UPDATE ... SET version = version + 1 WHERE id = .. AND version = n` inside the save's
transaction, so of several saves of one version exactly one updates a row; the others update
nothing and get a Conflict carrying the finding as stored. Every accepted change (creation,
edit, deletion) writes a FindingVersion with the whole finding, marks included.
"""

from __future__ import annotations

import hashlib
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from rest_framework.exceptions import NotFound, PermissionDenied, ValidationError

from annotations.geometry import (
    GeometryError,
    decode_mask_png,
    encode_mask_png,
    mask_geometry,
    validate_geometry,
)
from annotations.models import ExamLabel, Finding, FindingVersion, Mark, MarkKind, Source
from senolab.api.errors import Conflict
from senolab.imaging import storage
from senolab.imaging.models import Exam, Image, Slide
from senolab.projects.models import Role
from senolab.projects.permissions import has_role
from senolab.projects.schema import LabelSchemaError, check_attributes, check_label

FINDING_FIELDS = ("finding_type", "birads", "pathology", "laterality", "attributes", "note")
LABEL_FIELDS = ("density", "birads", "pathology", "attributes")
LATERALITIES = ("", "L", "R", "B")


# --- reading --------------------------------------------------------------------------------


def mask_version(mask_key: str) -> str:
    """The version a mask's address names (`mask.png?v=`): one per stored file."""
    return hashlib.sha256(mask_key.encode()).hexdigest()[:16]


def mark_data(mark: Mark) -> dict[str, Any]:
    data = {
        "id": mark.pk,
        "image": mark.image_id,
        "slide": mark.slide_id,
        "frame": mark.frame,
        "kind": mark.kind,
        "geometry": mark.geometry,
    }
    if mark.kind == MarkKind.MASK:
        # The PNG is cached by browsers (MarkMaskView); a repainted mask keeps its mark id but
        # is a new file, so its address names the file: no cache serves the mask it replaced.
        data["mask_url"] = f"/api/marks/{mark.pk}/mask.png?v={mask_version(mark.mask_key or '')}"
        data["mask_key"] = mark.mask_key
    return data


def finding_data(finding: Finding) -> dict[str, Any]:
    """The finding as the API returns it and as its versions store it."""
    marks = [mark_data(m) for m in finding.marks.all()]
    for mark in marks:
        mark.pop("mask_key", None)
    return {
        "id": finding.pk,
        "project": finding.project_id,
        "exam": finding.exam_id,
        "source": finding.source,
        **{name: getattr(finding, name) for name in FINDING_FIELDS},
        "origin": finding.origin,
        "version": finding.version,
        "deleted": finding.deleted,
        "created_by": finding.created_by_id,
        "updated_by": finding.updated_by_id,
        "created_at": finding.created_at.isoformat() if finding.created_at else None,
        "updated_at": finding.updated_at.isoformat() if finding.updated_at else None,
        "marks": marks,
    }


def _snapshot(finding: Finding) -> dict[str, Any]:
    data = finding_data(finding)
    # Versions keep the mask files' keys so that any version's masks can be restored.
    data["marks"] = [mark_data(m) for m in finding.marks.all()]
    return data


def _conflict(finding_id: int, seen: int) -> Conflict:
    current = Finding.objects.filter(pk=finding_id).first()
    exc = Conflict(
        f"This finding was changed by someone else: you edited version {seen}, "
        f"the stored one is version {current.version if current else '?'}."
    )
    exc.extra = {"detail": {"current": finding_data(current) if current else None}}  # type: ignore[attr-defined]
    return exc


# --- validation -----------------------------------------------------------------------------


def _check_labels(exam: Exam, data: dict[str, Any]) -> None:
    schema = exam.project.label_schema or {}
    modality = (exam.modalities or [None])[0] if len(exam.modalities or []) == 1 else None
    try:
        check_label(schema, "finding_types", data.get("finding_type"))
        check_label(schema, "birads", data.get("birads"))
        check_label(schema, "pathology", data.get("pathology"))
        check_label(schema, "density", data.get("density"))
        check_attributes(
            schema, data.get("attributes") or {}, modality, finding_type=data.get("finding_type")
        )
    except LabelSchemaError as exc:
        raise ValidationError({"labels": [str(exc)]}) from exc
    if data.get("laterality", "") not in LATERALITIES:
        raise ValidationError({"laterality": ["Laterality must be one of L, R, B or empty."]})


def check_labels(exam: Exam, data: dict[str, Any]) -> None:
    """The labels of a finding or an exam label against the project's schema (400 if not)."""
    _check_labels(exam, data)


def _target(exam: Exam, spec: dict[str, Any], where: str) -> tuple[Image | None, Slide | None]:
    """The image or slide a mark lies on: of the exam's patient (any of her exams), same project."""
    image_id, slide_id = spec.get("image"), spec.get("slide")
    if (image_id is None) == (slide_id is None):
        raise ValidationError({"marks": [f"{where}: give exactly one of 'image' or 'slide'."]})
    same_patient = {"project_id": exam.project_id, "exam__patient_id": exam.patient_id}
    if image_id is not None:
        image = Image.objects.filter(pk=int(image_id), **same_patient).first()
        if image is None:
            raise ValidationError(
                {"marks": [f"{where}: image {image_id} is not an image of this patient."]}
            )
        return image, None
    assert slide_id is not None  # exactly one of the two is given
    slide = Slide.objects.filter(pk=int(slide_id), **same_patient).first()
    if slide is None:
        raise ValidationError(
            {"marks": [f"{where}: slide {slide_id} is not a slide of this patient."]}
        )
    return None, slide


def _prepare_marks(
    exam: Exam, specs: list[dict[str, Any]], finding: Finding | None
) -> list[dict[str, Any]]:
    """Validated marks, masks decoded; nothing is stored yet."""
    existing = {m.pk: m for m in finding.marks.all()} if finding else {}
    prepared = []
    for i, spec in enumerate(specs):
        where = f"marks[{i}]"
        kind = spec.get("kind")
        if kind not in MarkKind.values:
            raise ValidationError(
                {"marks": [f"{where}: kind must be one of {', '.join(MarkKind.values)}."]}
            )
        mark_id = spec.get("id")
        if mark_id is not None and mark_id not in existing:
            raise ValidationError({"marks": [f"{where}: mark {mark_id} is not of this finding."]})
        image, slide = _target(exam, spec, where)
        if image is not None:
            width, height = image.columns, image.rows
        else:
            assert slide is not None  # _target returns exactly one of them
            width, height = slide.width, slide.height
        frame = int(spec.get("frame") or 0)
        frames = image.frame_count if image else 1
        if not 0 <= frame < frames:
            raise ValidationError(
                {"marks": [f"{where}: frame {frame} does not exist (it has {frames})."]}
            )
        mask, mask_key = None, ""
        try:
            if kind == MarkKind.MASK and spec.get("mask_png_base64"):
                mask = decode_mask_png(spec["mask_png_base64"])
                geometry = mask_geometry(mask, spec.get("geometry"), width, height)
            elif kind == MarkKind.MASK:
                old = existing.get(mark_id) if mark_id is not None else None
                if old is None or old.kind != MarkKind.MASK or not old.mask_key:
                    raise GeometryError("a new mask mark needs 'mask_png_base64'.")
                mask_key, geometry = old.mask_key, old.geometry
            else:
                geometry = validate_geometry(kind, spec.get("geometry"), width, height)
        except GeometryError as exc:
            raise ValidationError({"marks": [f"{where}: {exc}"]}) from exc
        prepared.append(
            {
                "id": mark_id,
                "image": image,
                "slide": slide,
                "frame": frame,
                "kind": kind,
                "geometry": geometry,
                "mask": mask,
                "mask_key": mask_key,
            }
        )
    return prepared


def _store_marks(
    finding: Finding, prepared: list[dict[str, Any]], batch: storage.FileBatch
) -> None:
    keep = {p["id"] for p in prepared if p["id"] is not None}
    finding.marks.exclude(pk__in=keep).delete()
    for p in prepared:
        key = p["mask_key"]
        if p["mask"] is not None:
            key = batch.save(
                storage.new_key(finding.project_id, "masks", "png"), encode_mask_png(p["mask"])
            )
        fields = {
            "image": p["image"],
            "slide": p["slide"],
            "frame": p["frame"],
            "kind": p["kind"],
            "geometry": p["geometry"],
            "mask_key": key,
        }
        if p["id"] is not None:
            Mark.objects.filter(pk=p["id"], finding=finding).update(**fields)
        else:
            Mark.objects.create(finding=finding, **fields)


def _record_version(finding: Finding, user) -> None:
    finding.refresh_from_db()
    FindingVersion.objects.create(
        finding=finding, version=finding.version, snapshot=_snapshot(finding), author=user
    )


def require_writable(user, finding: Finding) -> None:
    """Imported ground truth is read-only to everyone but the project's owners."""
    if finding.source == Source.REFERENCE and not has_role(user, finding.project_id, Role.OWNER):
        raise PermissionDenied(
            "Reference findings (imported ground truth) are read-only: only an owner of the "
            "project may change or delete them."
        )


# --- findings -------------------------------------------------------------------------------


def create_finding(user, exam: Exam, data: dict[str, Any]) -> Finding:
    """A new human finding with its marks, at version 1 (recorded as its first version)."""
    _check_labels(exam, data)
    prepared = _prepare_marks(exam, data.get("marks") or [], None)
    with storage.files_with_rows() as batch:
        finding = Finding.objects.create(
            project_id=exam.project_id,
            exam=exam,
            source=Source.HUMAN,
            created_by=user,
            updated_by=user,
            **{k: data[k] for k in FINDING_FIELDS if k in data and data[k] is not None},
        )
        _store_marks(finding, prepared, batch)
        _record_version(finding, user)
    return finding


def update_finding(user, finding: Finding, version: int, data: dict[str, Any]) -> Finding:
    """Apply the fields given (marks replace the finding's marks) if `version` is still current.

    Raises Conflict (HTTP 409, with the stored finding) when someone saved first.
    """
    require_writable(user, finding)
    if finding.deleted:
        raise NotFound("This finding was deleted.")
    if finding.version != version:
        # Already stale: say so before validating marks the newer version may have removed.
        # The conditional UPDATE below is what guards against saves racing past this check.
        raise _conflict(finding.pk, version)
    merged = {k: getattr(finding, k) for k in FINDING_FIELDS} | {
        k: v for k, v in data.items() if k in FINDING_FIELDS and v is not None
    }
    _check_labels(finding.exam, merged)
    prepared = None
    if data.get("marks") is not None:
        prepared = _prepare_marks(finding.exam, data["marks"], finding)
    try:
        with storage.files_with_rows() as batch:
            changed = Finding.objects.filter(pk=finding.pk, version=version, deleted=False).update(
                version=F("version") + 1,
                updated_by=user,
                updated_at=timezone.now(),
                **{k: merged[k] for k in FINDING_FIELDS},
            )
            if changed != 1:
                raise _StaleVersion
            if prepared is not None:
                _store_marks(finding, prepared, batch)
            _record_version(finding, user)
    except _StaleVersion:
        raise _conflict(finding.pk, version) from None
    return finding


def delete_finding(user, finding: Finding, version: int) -> Finding:
    """Soft delete: the finding stays, flagged and versioned, so history shows who removed it."""
    require_writable(user, finding)
    with transaction.atomic():
        changed = Finding.objects.filter(pk=finding.pk, version=version, deleted=False).update(
            version=F("version") + 1, deleted=True, updated_by=user, updated_at=timezone.now()
        )
        if changed == 1:
            _record_version(finding, user)
    if changed != 1:
        raise _conflict(finding.pk, version)
    return finding


class _StaleVersion(Exception):
    """Internal: the conditional update matched no row; rolls the save's transaction back."""


# --- exam labels ----------------------------------------------------------------------------


def label_data(label: ExamLabel) -> dict[str, Any]:
    return {
        "id": label.pk,
        "exam": label.exam_id,
        "source": label.source,
        "laterality": label.laterality,
        **{name: getattr(label, name) for name in LABEL_FIELDS},
        "origin": label.origin,
        "version": label.version,
        "author": label.author_id,
        "updated_at": label.updated_at.isoformat() if label.updated_at else None,
    }


def save_exam_label(user, exam: Exam, version: int, data: dict[str, Any]) -> ExamLabel:
    """The reader's own exam-level (laterality "") or breast-level (L/R) label, created at
    version 0 -> 1 or updated when `version` is still current; Conflict otherwise."""
    laterality = data.get("laterality") or ""
    if laterality not in ("", "L", "R"):
        raise ValidationError({"laterality": ["Exam labels are exam-level (empty) or L or R."]})
    _check_labels(exam, {k: data.get(k) for k in LABEL_FIELDS})
    fields = {k: data[k] for k in LABEL_FIELDS if data.get(k) is not None}
    key = {"exam": exam, "source": Source.HUMAN, "laterality": laterality, "author": user}
    try:
        with transaction.atomic():
            if version == 0:
                # The unique constraint guards this on PostgreSQL; SQLite cannot declare it
                # (nulls_distinct), but its write transactions are serial, so a check holds.
                if ExamLabel.objects.filter(**key).exists():
                    raise _StaleVersion
                return ExamLabel.objects.create(project_id=exam.project_id, **key, **fields)
            changed = ExamLabel.objects.filter(**key, version=version).update(
                version=F("version") + 1, updated_at=timezone.now(), **fields
            )
            if changed != 1:
                raise _StaleVersion
    except (IntegrityError, _StaleVersion):
        current = ExamLabel.objects.filter(**key).first()
        exc = Conflict(
            f"This label was changed elsewhere: you edited version {version}, the stored one is "
            f"version {current.version if current else 'none'}."
        )
        exc.extra = {"detail": {"current": label_data(current) if current else None}}  # type: ignore[attr-defined]
        raise exc from None
    return ExamLabel.objects.get(**key)
