"""Shapes of the on-call API. Serializers check types; apps.oncall.services checks everything that needs the
database (membership, same organization, unique names) and answers with errors by field path."""

from __future__ import annotations

from datetime import time
from typing import Any

from rest_framework import serializers

from apps.oncall.models import Rotation
from apps.oncall.types import LayerSpec, PolicySpec, RuleSpec, ScheduleSpec, StepSpec


def _ids(help_text: str) -> serializers.ListField:
    return serializers.ListField(
        child=serializers.IntegerField(min_value=1), required=False, default=list, max_length=200, help_text=help_text
    )


class RestrictionSerializer(serializers.Serializer[Any]):
    weekdays = serializers.ListField(
        child=serializers.IntegerField(min_value=0, max_value=6),
        required=False,
        default=list,
        max_length=7,
        help_text="Days the layer covers, 0 = Monday; empty: every day",
    )
    start = serializers.TimeField(required=False, allow_null=True, default=None, help_text="Local time, HH:MM")
    end = serializers.TimeField(
        required=False, allow_null=True, default=None, help_text="Local time; not after start: runs past midnight"
    )


class LayerSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField(read_only=True)
    name = serializers.CharField(max_length=100)
    rotation = serializers.ChoiceField(choices=Rotation.choices)
    shift_hours = serializers.IntegerField(
        min_value=1,
        required=False,
        allow_null=True,
        default=None,
        help_text="Custom rotations: the length of one shift",
    )
    handoff_time = serializers.TimeField(required=False, default=time(9, 0), help_text="Local time of the hand-off")
    handoff_weekday = serializers.IntegerField(
        min_value=0,
        max_value=6,
        required=False,
        allow_null=True,
        default=None,
        help_text="Weekly rotations: 0 = Monday",
    )
    start_date = serializers.DateField(help_text="The first shift starts this day at the hand-off time")
    members = _ids("User ids, in turn order")
    member_names = serializers.ListField(child=serializers.CharField(), read_only=True)
    restriction = RestrictionSerializer(required=False, allow_null=True, default=None)


class ScheduleSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField(read_only=True)
    name = serializers.CharField(max_length=100)
    time_zone = serializers.CharField(max_length=64, required=False, default="UTC")
    description = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")
    layers = LayerSerializer(many=True, required=False, default=list, help_text="Lowest priority first")
    created_at = serializers.DateTimeField(read_only=True)
    updated_at = serializers.DateTimeField(read_only=True)


def layer_spec(data: dict[str, Any]) -> LayerSpec:
    restriction = data.get("restriction") or {}
    return LayerSpec(
        name=data["name"],
        rotation=data["rotation"],
        start_date=data["start_date"],
        members=list(data.get("members") or []),
        handoff_time=data.get("handoff_time") or time(9, 0),
        handoff_weekday=data.get("handoff_weekday"),
        shift_hours=data.get("shift_hours"),
        restrict_weekdays=list(restriction.get("weekdays") or []),
        restrict_start=restriction.get("start"),
        restrict_end=restriction.get("end"),
    )


def schedule_spec(data: dict[str, Any], current: ScheduleSpec | None = None) -> ScheduleSpec:
    """A spec from validated data; fields absent from a partial update keep ``current``'s values."""
    base = current or ScheduleSpec(name="")
    layers = [layer_spec(layer) for layer in data["layers"]] if "layers" in data else base.layers
    return ScheduleSpec(
        name=data.get("name", base.name),
        time_zone=data.get("time_zone", base.time_zone),
        description=data.get("description", base.description),
        layers=layers,
    )


class OverrideSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField(read_only=True)
    schedule = serializers.IntegerField(read_only=True)
    user = serializers.IntegerField(min_value=1, required=False, help_text="Who is on call; default: the caller")
    username = serializers.CharField(read_only=True)
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    reason = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")
    created_by = serializers.CharField(read_only=True, help_text="Username of who added it")
    created_at = serializers.DateTimeField(read_only=True)


class PersonSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    username = serializers.CharField()
    email = serializers.CharField()


class ShiftSerializer(serializers.Serializer[Any]):
    user = serializers.IntegerField(source="user.pk")
    username = serializers.CharField(source="user.username")
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    source = serializers.CharField(help_text='"layer:<name>" or "override"')


class OnCallSerializer(serializers.Serializer[Any]):
    schedule = serializers.IntegerField()
    name = serializers.CharField()
    time_zone = serializers.CharField()
    at = serializers.DateTimeField()
    on_call = PersonSerializer(many=True)
    shifts = ShiftSerializer(many=True, help_text="The shifts running at `at` (ends within 31 days shown exactly)")


class StepSerializer(serializers.Serializer[Any]):
    delay_minutes = serializers.IntegerField(
        min_value=0, required=False, default=0, help_text="Wait after this step before the next (or the repeat)"
    )
    channels = _ids("Team channel ids")
    users = _ids("User ids: their contact methods are notified")
    schedules = _ids("Schedule ids: whoever is on call then is notified")


class PolicySerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField(read_only=True)
    name = serializers.CharField(max_length=100)
    description = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")
    repeat = serializers.IntegerField(
        min_value=0, required=False, default=0, help_text="Run the whole cycle this many more times after the last step"
    )
    steps = StepSerializer(many=True)
    created_at = serializers.DateTimeField(read_only=True)
    updated_at = serializers.DateTimeField(read_only=True)


def policy_spec(data: dict[str, Any], current: PolicySpec | None = None) -> PolicySpec:
    base = current or PolicySpec(name="", steps=[])
    steps = [StepSpec(**step) for step in data["steps"]] if "steps" in data else base.steps
    return PolicySpec(
        name=data.get("name", base.name),
        steps=steps,
        description=data.get("description", base.description),
        repeat=data.get("repeat", base.repeat),
    )


class RuleSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField(read_only=True)
    order = serializers.IntegerField(required=False, default=0, help_text="Rules are tried by order, then id")
    name = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    severities = serializers.ListField(
        child=serializers.CharField(max_length=20),
        required=False,
        default=list,
        max_length=20,
        help_text="Any of these; empty: any",
    )
    project = serializers.SlugField(required=False, allow_null=True, default=None, help_text="Project slug; null: any")
    service = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    labels = serializers.DictField(
        child=serializers.CharField(max_length=200, allow_blank=True),
        required=False,
        default=dict,
        help_text="All must match",
    )
    policy = serializers.IntegerField(
        min_value=1,
        required=False,
        allow_null=True,
        default=None,
        help_text="Escalation policy id; null: do not escalate",
    )
    created_at = serializers.DateTimeField(read_only=True)
    updated_at = serializers.DateTimeField(read_only=True)


def rule_spec(data: dict[str, Any], project_id: int | None, current: RuleSpec | None = None) -> RuleSpec:
    base = current or RuleSpec()
    return RuleSpec(
        order=data.get("order", base.order),
        name=data.get("name", base.name),
        severities=list(data.get("severities", base.severities)),
        project_id=project_id,
        service=data.get("service", base.service),
        labels=dict(data.get("labels", base.labels)),
        policy_id=data.get("policy", base.policy_id),
    )
