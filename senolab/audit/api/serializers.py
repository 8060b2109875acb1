from rest_framework import serializers

from senolab.audit.models import AuditEvent


class AuditEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = AuditEvent
        fields = [
            "id",
            "at",
            "actor",
            "actor_name",
            "action",
            "project",
            "object_type",
            "object_id",
            "ip",
            "detail",
        ]
        read_only_fields = fields
