"""Who gets notified and when: on-call schedules, escalation policies and routing rules.

A ``Schedule`` says who is on call at any instant (its ``Layer`` rotations and ``Override`` rows;
apps/oncall/schedules.py is the maths, docs/oncall.md the semantics). An ``EscalationPolicy`` is an
ordered list of ``EscalationStep``s, each naming targets (``StepTarget``: a team channel, a person or a
schedule) and how long to wait before the next step (apps/oncall/escalation.py). ``RoutingRule``s pick
the policy of an incident: the first rule whose matchers all match wins (apps/oncall/routing.py).
Every change goes through apps/oncall/services.py, which validates and audits it.
"""

from __future__ import annotations

from datetime import time

from django.conf import settings
from django.db import models
from django.db.models import Q

from apps.core.models import TenantForeignKey, TenantModel


class Schedule(TenantModel):
    """An on-call schedule: layers of rotations in one time zone, plus overrides."""

    name = models.CharField(max_length=100)
    time_zone = models.CharField(max_length=64, default="UTC", help_text="IANA name; hand-offs follow its clock")
    description = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["organization", "name"], name="oncall_schedule_name")]

    def __str__(self) -> str:
        return self.name


class Rotation(models.TextChoices):
    DAILY = "daily"
    WEEKLY = "weekly"
    CUSTOM = "custom"  # shift_hours long


class Layer(TenantModel):
    """One rotation of a schedule. Higher ``position`` wins where several layers have someone on call.

    Members take turns in ``LayerMember.position`` order, one shift each, from ``start_date`` at
    ``handoff_time`` (local to the schedule's time zone). Optionally restricted to some hours of the day
    (``restrict_start``–``restrict_end``) and days of the week (``restrict_weekdays``, 0 = Monday): outside
    them the layer has nobody on call and lower layers show through.
    """

    schedule = TenantForeignKey(Schedule, on_delete=models.CASCADE, related_name="layers")
    position = models.PositiveSmallIntegerField()
    name = models.CharField(max_length=100)
    rotation = models.CharField(max_length=8, choices=Rotation.choices, default=Rotation.WEEKLY)
    shift_hours = models.PositiveIntegerField(null=True, blank=True, help_text="Shift length of a custom rotation")
    handoff_time = models.TimeField(default=time(9, 0))
    handoff_weekday = models.PositiveSmallIntegerField(null=True, blank=True, help_text="Weekly: 0 = Monday")
    start_date = models.DateField()
    restrict_weekdays = models.JSONField(default=list, blank=True, help_text="Days the layer covers; empty: all")
    restrict_start = models.TimeField(null=True, blank=True)
    restrict_end = models.TimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "schedule", "position"], name="oncall_layer_position")
        ]
        ordering = ["position"]

    def __str__(self) -> str:
        return self.name


class LayerMember(TenantModel):
    """A person's turn in a layer's rotation (``position`` orders the turns)."""

    layer = TenantForeignKey(Layer, on_delete=models.CASCADE, related_name="members")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    position = models.PositiveSmallIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "layer", "position"], name="oncall_member_position")
        ]
        ordering = ["position"]

    def __str__(self) -> str:
        return f"{self.user} in {self.layer}"


class Override(TenantModel):
    """Someone on call instead of the rotations from ``start`` to ``end`` (who set it up, and why)."""

    schedule = TenantForeignKey(Schedule, on_delete=models.CASCADE, related_name="overrides")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    start = models.DateTimeField()
    end = models.DateTimeField()
    reason = models.CharField(max_length=500, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(end__gt=models.F("start")), name="oncall_override_order")]
        indexes = [models.Index(fields=["organization", "schedule", "end"], name="oncall_override_end")]

    def __str__(self) -> str:
        return f"{self.user} from {self.start:%Y-%m-%d %H:%M} to {self.end:%Y-%m-%d %H:%M} UTC"


class EscalationPolicy(TenantModel):
    """Ordered steps; after the last one the whole cycle runs again ``repeat`` more times."""

    name = models.CharField(max_length=100)
    description = models.TextField(blank=True)
    repeat = models.PositiveSmallIntegerField(default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["organization", "name"], name="oncall_policy_name")]
        verbose_name_plural = "escalation policies"

    def __str__(self) -> str:
        return self.name


class EscalationStep(TenantModel):
    """Notify the targets, then wait ``delay_minutes`` before the next step (or the next repeat)."""

    policy = TenantForeignKey(EscalationPolicy, on_delete=models.CASCADE, related_name="steps")
    position = models.PositiveSmallIntegerField()
    delay_minutes = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "policy", "position"], name="oncall_step_position")
        ]
        ordering = ["position"]

    def __str__(self) -> str:
        return f"step {self.position + 1} of {self.policy_id}"


class StepTarget(TenantModel):
    """Exactly one of: a team channel, a person (their contact methods), a schedule (whoever is on call).

    A schedule in use cannot be deleted (RESTRICT); a deleted channel or person just leaves the step.
    """

    step = TenantForeignKey(EscalationStep, on_delete=models.CASCADE, related_name="targets")
    channel = TenantForeignKey(
        "notifications.Channel", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    schedule = TenantForeignKey(Schedule, null=True, blank=True, on_delete=models.RESTRICT, related_name="+")

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=(
                    Q(channel__isnull=False, user__isnull=True, schedule__isnull=True)
                    | Q(channel__isnull=True, user__isnull=False, schedule__isnull=True)
                    | Q(channel__isnull=True, user__isnull=True, schedule__isnull=False)
                ),
                name="oncall_target_one_kind",
            )
        ]

    def __str__(self) -> str:
        return f"target {self.pk} of step {self.step_id}"


class RoutingRule(TenantModel):
    """Sends matching incidents to a policy. Empty matchers match everything; ``policy`` None: do not escalate.

    Rules are tried by ``order`` (then id); the first whose matchers all match wins.
    """

    order = models.IntegerField(default=0)
    name = models.CharField(max_length=100, blank=True)
    severities = models.JSONField(default=list, blank=True, help_text="Any of these; empty: any severity")
    project = TenantForeignKey("tenants.Project", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    service = models.CharField(max_length=200, blank=True)
    labels = models.JSONField(default=dict, blank=True, help_text="key: value pairs that must all match")
    policy = TenantForeignKey(EscalationPolicy, null=True, blank=True, on_delete=models.RESTRICT, related_name="+")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [models.Index(fields=["organization", "order"], name="oncall_rule_order")]
        ordering = ["order", "id"]

    def __str__(self) -> str:
        return self.name or f"rule {self.pk}"
