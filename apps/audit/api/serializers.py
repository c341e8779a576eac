from rest_framework import serializers

from apps.audit.models import AuditEntry


class AuditEntrySerializer(serializers.ModelSerializer[AuditEntry]):
    actor = serializers.CharField(source="actor_label")
    target = serializers.CharField(source="target_label")

    class Meta:
        model = AuditEntry
        fields = [
            "id",
            "created_at",
            "actor",
            "action",
            "target_type",
            "target_id",
            "target",
            "before",
            "after",
            "ip_address",
            "user_agent",
        ]
        read_only_fields = fields
