from rest_framework import serializers


class SubjectSerializer(serializers.Serializer):  # type: ignore[type-arg]
    """Whose telemetry: an attribute key naming end users, the user's value, optionally one project's slug."""

    key = serializers.CharField(help_text="enduser.id, user.id, user.email or a key in VIGIL_PRIVACY_EXTRA_USER_KEYS")
    value = serializers.CharField(max_length=4096, trim_whitespace=False)
    project = serializers.SlugField(required=False, allow_null=True, help_text="Only this project (default: all)")


class DeletedSerializer(serializers.Serializer):  # type: ignore[type-arg]
    spans = serializers.IntegerField()
    logs = serializers.IntegerField()
    metric_series = serializers.IntegerField()
    metric_points = serializers.IntegerField()
    error_occurrences = serializers.IntegerField()
