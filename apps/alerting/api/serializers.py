"""Shapes of the alerting API. Rule bodies are checked by ``apps.alerting.rules.clean_rule``; these
serializers describe them (for the schema) and write the answers."""

from __future__ import annotations

from typing import Any

from django.utils import timezone
from rest_framework import serializers

from apps.alerting.models import AlertInstance, AlertRule, Feedback, Incident, IncidentEvent, Silence
from apps.tenants.models import Project


class AlertInstanceSerializer(serializers.ModelSerializer[AlertInstance]):
    class Meta:
        model = AlertInstance
        fields = ["id", "group_labels", "state", "severity", "state_since", "values", "incident", "suppressed_by"]


class AlertRuleSerializer(serializers.ModelSerializer[AlertRule]):
    instances = AlertInstanceSerializer(many=True, read_only=True)

    class Meta:
        model = AlertRule
        fields = [
            "id", "name", "description", "queries", "conditions", "combine", "group_by", "for_seconds", "no_data",
            "interval_seconds", "title_template", "message_template", "runbook_url", "labels", "incident_grouping",
            "channels", "enabled", "muted_until", "created_at", "updated_at", "last_evaluated_at", "last_error",
            "missed_evaluations", "flapping_since", "instances",
        ]  # fmt: skip
        read_only_fields = ["created_at", "updated_at", "last_evaluated_at", "last_error", "missed_evaluations",
                            "flapping_since"]  # fmt: skip


class IncidentSerializer(serializers.ModelSerializer[Incident]):
    project = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    acknowledged_by = serializers.SlugRelatedField(slug_field="email", read_only=True)
    resolved_by = serializers.SlugRelatedField(slug_field="email", read_only=True)
    rule_name = serializers.SerializerMethodField()

    class Meta:
        model = Incident
        fields = [
            "id", "project", "rule", "rule_name", "title", "severity", "status", "dedup_key", "labels", "services",
            "probable_origin", "opened_at", "breach_started_at", "acknowledged_at", "acknowledged_by", "resolved_at",
            "resolved_by", "feedback",
        ]  # fmt: skip

    def get_rule_name(self, incident: Incident) -> str | None:
        return incident.rule.name if incident.rule is not None else None


class IncidentEventSerializer(serializers.ModelSerializer[IncidentEvent]):
    actor = serializers.SlugRelatedField(slug_field="email", read_only=True)

    class Meta:
        model = IncidentEvent
        fields = ["id", "kind", "at", "actor", "text", "data"]


class IncidentDetailSerializer(IncidentSerializer):
    alerts = AlertInstanceSerializer(many=True, read_only=True)
    timeline = serializers.SerializerMethodField()

    class Meta(IncidentSerializer.Meta):
        fields = [*IncidentSerializer.Meta.fields, "alerts", "timeline"]

    def get_timeline(self, incident: Incident) -> list[dict[str, Any]]:
        events = incident.events.select_related("actor").order_by("at", "pk")
        return list(IncidentEventSerializer(events, many=True).data)


class NoteSerializer(serializers.Serializer[Any]):
    text = serializers.CharField(max_length=2000)


class FeedbackSerializer(serializers.Serializer[Any]):
    feedback = serializers.ChoiceField(choices=Feedback.choices)


class SilenceSerializer(serializers.ModelSerializer[Silence]):
    project = serializers.SlugRelatedField(slug_field="slug", queryset=Project._base_manager.none(), required=False,
                                           allow_null=True)  # fmt: skip
    created_by = serializers.SlugRelatedField(slug_field="email", read_only=True)
    starts_at = serializers.DateTimeField(required=False)
    active = serializers.SerializerMethodField()

    class Meta:
        model = Silence
        fields = ["id", "kind", "project", "matchers", "starts_at", "ends_at", "comment", "created_by", "created_at",
                  "active"]  # fmt: skip

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        organization_id = self.context.get("organization_id")
        if organization_id is not None:  # a project of another organization is "not found", like any slug
            self.fields["project"].queryset = Project.objects.for_organization(organization_id)

    def get_active(self, silence: Silence) -> bool:
        now = timezone.now()
        return silence.starts_at <= now < silence.ends_at
