from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from senolab.audit.models import AuditEvent


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """Read-only: the log is append-only, so nobody adds, changes or deletes rows here."""

    list_display = ["at", "actor_name", "action", "project", "object_type", "object_id", "ip"]
    list_filter = ["action"]
    search_fields = ["actor_name", "object_id"]
    date_hierarchy = "at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
