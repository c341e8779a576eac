from rest_framework import serializers

from apps.ingest.models import ScrubRule


class ScrubRuleSerializer(serializers.ModelSerializer[ScrubRule]):
    class Meta:
        model = ScrubRule
        fields = ["id", "kind", "pattern", "action", "category", "created_at"]
        read_only_fields = ["id", "created_at"]
