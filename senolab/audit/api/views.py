"""GET /api/audit/: the access audit log, filtered by project, action and since.

Owners read the rows of the projects they own, staff every row (log-ins have no project and are
for staff only). Naming a project needs the owner role in it: a member below gets 403, anyone
else 404, as everywhere in the API.
"""

from __future__ import annotations

from django.db.models import QuerySet
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.generics import ListAPIView

from senolab.audit import services
from senolab.audit.api.serializers import AuditEventSerializer
from senolab.audit.filters import PROJECT_ID, AuditEventFilter
from senolab.audit.models import AuditEvent
from senolab.projects.models import Role
from senolab.projects.permissions import require_role


class AuditEventListView(ListAPIView):
    """Who viewed, downloaded or changed what, newest first (append-only; read-only here)."""

    serializer_class = AuditEventSerializer
    filterset_class = AuditEventFilter
    ordering_fields = ["at"]

    def get_queryset(self) -> QuerySet[AuditEvent]:
        if getattr(self, "swagger_fake_view", False):
            return AuditEvent.objects.none()
        user = self.request.user
        project = self.request.query_params.get("project", "")
        if project:
            if not PROJECT_ID.fullmatch(project):
                raise ValidationError({"project": ["'project' must be a project id."]})
            require_role(user, int(project), Role.OWNER)
        elif not services.owns_any_project(user):
            raise PermissionDenied("Reading the audit log needs the owner role in a project.")
        return services.readable_events(user)
