"""The filters of the audit log, shared by the API and the page: project, action, since."""

from __future__ import annotations

import re

from django_filters import rest_framework as filters

from senolab.audit.models import AuditAction, AuditEvent

PROJECT_ID = re.compile(r"[0-9]{1,10}")


class AuditEventFilter(filters.FilterSet):
    project = filters.NumberFilter(field_name="project_id", label="Project id")
    action = filters.ChoiceFilter(choices=AuditAction.choices)
    since = filters.IsoDateTimeFilter(
        field_name="at", lookup_expr="gte", label="From this time on (ISO 8601, e.g. 2026-12-01)"
    )

    class Meta:
        model = AuditEvent
        fields = ["project", "action", "since"]
