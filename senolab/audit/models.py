"""The access audit log: one append-only row per access to patient data or to who may access it.

Rows are never changed or deleted by the application: save() inserts only, and delete() and the
queryset's update() and delete() refuse. The one deletion is the retention purge
(services.purge_expired_events), which bypasses the guard on purpose.
"""

from __future__ import annotations

from typing import Any, NoReturn

from django.conf import settings
from django.db import models
from django.utils import timezone

from senolab.projects.models import Project


class AuditLogIsAppendOnly(Exception):
    """Raised on any attempt to change or delete an audit row outside the retention purge."""


def _refuse(what: str) -> NoReturn:
    raise AuditLogIsAppendOnly(f"The audit log is append-only: rows cannot be {what}.")


class AuditAction(models.TextChoices):
    EXAM_VIEWED = "exam_viewed", "Exam viewed"
    IMAGE_VIEWED = "image_viewed", "Image viewed"
    SLIDE_VIEWED = "slide_viewed", "Slide viewed"
    DICOM_DOWNLOADED = "dicom_downloaded", "DICOM file downloaded"
    MASK_DOWNLOADED = "mask_downloaded", "Mask downloaded"
    EXPORT_CREATED = "export_created", "Export created"
    EXPORT_DOWNLOADED = "export_downloaded", "Export downloaded"
    ARTIFACT_DOWNLOADED = "artifact_downloaded", "Model artifact downloaded"
    ARTIFACT_IMPORTED = "artifact_imported", "Model artifact imported"
    PSEUDONYM_MAP_READ = "pseudonym_map_read", "Pseudonym map read"
    MEMBER_ADDED = "member_added", "Member added"
    MEMBER_ROLE_CHANGED = "member_role_changed", "Member's role changed"
    MEMBER_REMOVED = "member_removed", "Member removed"
    LOGIN = "login", "Logged in"
    LOGIN_FAILED = "login_failed", "Log-in failed"
    MODEL_ACTIVATED = "model_activated", "Model version activated"


class AuditEventQuerySet(models.QuerySet):
    def update(self, **kwargs: Any) -> NoReturn:
        _refuse("updated")

    def delete(self) -> NoReturn:
        _refuse("deleted")


class AuditEvent(models.Model):
    at = models.DateTimeField(default=timezone.now, db_index=True, editable=False)
    # No database constraint and no cascade: the row outlives the user or project it names
    # (deleting a project must not erase who looked at its patients).
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    actor_name = models.CharField(max_length=150, blank=True, help_text="user name at the time")
    action = models.CharField(max_length=40, choices=AuditAction.choices, db_index=True)
    project = models.ForeignKey(
        Project,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    object_type = models.CharField(max_length=40, blank=True)
    object_id = models.CharField(max_length=64, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    # Ids, roles and kinds only: never a patient identifier, a file name or a password.
    detail = models.JSONField(default=dict, blank=True)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["project", "at"], name="audit_project_at")]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.actor_name or '-'} {self.action}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            _refuse("updated")
        kwargs["force_insert"] = True  # an explicit pk must never overwrite an existing row
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> NoReturn:
        _refuse("deleted")
