"""Record accesses in the audit log, read them back, and purge rows past their retention.

Views call one function each: record_view (the first view of an exam, image or slide per log-in
session), record_dicom_download / record_mask_download / record_artifact_download /
record_export_created / record_export_download / record_artifact_import (every time),
record_pseudonym_map_read, record_member_added / record_role_change / record_member_removed,
record_model_activation and record_token_login.
Session log-ins and failed log-ins come from Django's signals (senolab/audit/signals.py).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any, TypeVar

from django.conf import settings
from django.db import models
from django.db.models import QuerySet
from django.utils import timezone

from senolab.audit.models import AuditAction, AuditEvent
from senolab.projects.models import Membership, Project, Role
from senolab.projects.permissions import visible_project_ids

T = TypeVar("T", bound=models.Model)

# The session remembers which objects this log-in has already viewed (newest last, capped, so
# a session that reads thousands of images does not grow without bound).
VIEWED_SESSION_KEY = "senolab_audit_viewed"
VIEWED_REMEMBERED = 2000
VIEW_ACTIONS = {
    "exam": AuditAction.EXAM_VIEWED,
    "image": AuditAction.IMAGE_VIEWED,
    "slide": AuditAction.SLIDE_VIEWED,
}
MAX_DETAIL_CHARS = 1000


def client_ip(request: Any) -> str | None:
    """The address the request came from (REMOTE_ADDR, as the log-in throttle counts it)."""
    meta = getattr(request, "META", None) or {}
    return meta.get("REMOTE_ADDR") or None


def _project_id(project: Project | int | None) -> int | None:
    return project.pk if isinstance(project, Project) else project


def record(
    action: str,
    *,
    request: Any = None,
    actor: Any = None,
    project: Project | int | None = None,
    target: models.Model | None = None,
    object_type: str = "",
    object_id: str | int = "",
    detail: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one row. The actor defaults to the request's user; the project and object to the
    target's. `detail` holds ids, roles and kinds: never a patient identifier or a password."""
    if actor is None and request is not None:
        user = getattr(request, "user", None)
        actor = user if user is not None and user.is_authenticated else None
    if target is not None:
        object_type = object_type or target._meta.model_name or ""
        object_id = object_id or target.pk
        if project is None:
            project = getattr(target, "project_id", None)
    detail = detail or {}
    if len(json.dumps(detail, default=str)) > MAX_DETAIL_CHARS:
        raise ValueError("An audit detail is a few ids and kinds, not a document.")
    return AuditEvent.objects.create(
        action=AuditAction(action),
        actor=actor,
        actor_name=actor.get_username() if actor is not None else "",
        project_id=_project_id(project),
        object_type=object_type,
        object_id=str(object_id),
        ip=client_ip(request),
        detail=detail,
    )


def record_view(request: Any, obj: T) -> T:
    """Log the first view of this exam, image or slide in the caller's log-in session; returns
    the object so a view can wrap its own lookup. Without a session (API tokens) every view is
    logged: there is nothing to remember it in."""
    kind = obj._meta.model_name or ""
    session = getattr(request, "session", None)
    if session is None or session.session_key is None:
        record(VIEW_ACTIONS[kind], request=request, target=obj)
        return obj
    key = f"{getattr(request.user, 'pk', '')}:{kind}:{obj.pk}"
    seen: list[str] = session.get(VIEWED_SESSION_KEY, [])
    if key not in seen:
        record(VIEW_ACTIONS[kind], request=request, target=obj)
        session[VIEWED_SESSION_KEY] = [*seen, key][-VIEWED_REMEMBERED:]
    return obj


def record_dicom_download(request: Any, image: models.Model) -> None:
    """A DICOM file left the platform (logged every time, unlike views)."""
    record(AuditAction.DICOM_DOWNLOADED, request=request, target=image)


def record_mask_download(request: Any, mark: Any) -> None:
    """A mask mark's PNG was served (a mark belongs to its finding's project)."""
    record(
        AuditAction.MASK_DOWNLOADED,
        request=request,
        target=mark,
        project=mark.finding.project_id,
        detail={"finding": mark.finding_id},
    )


def record_artifact_download(request: Any, version: models.Model) -> None:
    """A model artifact left the platform (with its model card)."""
    record(AuditAction.ARTIFACT_DOWNLOADED, request=request, target=version)


def record_artifact_import(request: Any, version: models.Model, **detail: Any) -> None:
    """A model artifact came in from elsewhere, its checksum verified."""
    record(AuditAction.ARTIFACT_IMPORTED, request=request, target=version, detail=detail)


def record_export_created(
    request: Any, project: Project | int, export_id: str | int, **detail: Any
) -> None:
    """A data set export of a project was started (its formats and job in the detail)."""
    record(
        AuditAction.EXPORT_CREATED,
        request=request,
        project=project,
        object_type="export",
        object_id=export_id,
        detail=detail,
    )


def record_export_download(
    request: Any, project: Project | int, export_id: str | int, **detail: Any
) -> None:
    """An export of a project was downloaded, or a page of its records read."""
    record(
        AuditAction.EXPORT_DOWNLOADED,
        request=request,
        project=project,
        object_type="export",
        object_id=export_id,
        detail=detail,
    )


def record_pseudonym_map_read(request: Any, project: Project | int) -> None:
    record(
        AuditAction.PSEUDONYM_MAP_READ,
        request=request,
        project=project,
        object_type="pseudonym_map",
        object_id=_project_id(project) or "",
    )


def record_member_added(request: Any, membership: Membership) -> None:
    record(
        AuditAction.MEMBER_ADDED,
        request=request,
        target=membership,
        detail={"user": membership.user_id, "role": membership.role},
    )


def record_member_removed(request: Any, membership: Membership) -> None:
    """Call before deleting: the row still holds the role the member had."""
    record(
        AuditAction.MEMBER_REMOVED,
        request=request,
        target=membership,
        detail={"user": membership.user_id, "role": membership.role},
    )


def record_role_change(request: Any, membership: Membership, new_role: str | None) -> None:
    """Call before saving the change: the membership still holds the old role."""
    if new_role is None or new_role == membership.role:
        return
    record(
        AuditAction.MEMBER_ROLE_CHANGED,
        request=request,
        target=membership,
        detail={"user": membership.user_id, "from": membership.role, "to": str(new_role)},
    )


def record_model_activation(request: Any, version: models.Model) -> None:
    record(AuditAction.MODEL_ACTIVATED, request=request, target=version)


def record_token_login(request: Any, user: Any) -> None:
    """A password exchanged for an API token: a log-in that Django's signal does not announce."""
    record(AuditAction.LOGIN, request=request, actor=user, detail={"via": "token"})


def readable_events(user: Any) -> QuerySet[AuditEvent]:
    """Rows this user may read: staff all; others those of projects they own. Rows without a
    project (log-ins) are for staff only."""
    if not user or not user.is_authenticated:
        return AuditEvent.objects.none()
    owned = visible_project_ids(user, Role.OWNER)
    if owned is None:
        return AuditEvent.objects.all()
    return AuditEvent.objects.filter(project__in=owned)


def owns_any_project(user: Any) -> bool:
    return bool(user.is_staff or Membership.objects.filter(user=user, role=Role.OWNER).exists())


def purge_expired_events(now: datetime | None = None) -> int:
    """Delete rows older than SENOLAB_AUDIT_RETENTION_DAYS (0 keeps them forever)."""
    days = settings.SENOLAB_AUDIT_RETENTION_DAYS
    if days <= 0:
        return 0
    cutoff = (now or timezone.now()) - timedelta(days=days)
    expired = AuditEvent.objects.filter(at__lt=cutoff)
    # The one deletion the log allows: QuerySet.delete itself, past the append-only guard.
    deleted, _ = models.QuerySet.delete(expired)
    return deleted
