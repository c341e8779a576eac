"""Alert rules, the state of each alert they produce, and the incidents people handle.

A rule (``AlertRule``) measures one or more queries over the stores each ``interval_seconds`` and compares
them with its conditions. Each group (one per service, endpoint, host... by ``group_by``) is an
``AlertInstance`` with a state; every change of state is claimed with a conditional UPDATE of the instance's
``version`` and recorded as a ``StateChange`` in the same transaction, so two workers evaluating the same
rule never both act, and a worker killed mid-evaluation leaves nothing half-done.

Firing alerts open or join an ``Incident`` (deduplicated by grouping key, correlated along the service map);
an incident's life (alerts joining, notifications, acknowledgement, notes, resolution) is its timeline of
``IncidentEvent`` rows. ``Silence`` rows mute alerts whose labels match, for a while.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from apps.core.models import TenantForeignKey, TenantModel


class Source(models.TextChoices):
    RED = "red", "Service requests (rate, errors, latency)"
    METRIC = "metric", "Metric"
    LOGS = "logs", "Log count"
    TRACES = "traces", "Trace count"


class NoData(models.TextChoices):
    OK = "ok", "Treat as OK"
    ALERT = "alert", "Alert (no-data state)"
    KEEP = "keep", "Keep the last state"


class Severity(models.TextChoices):
    CRITICAL = "critical"
    WARNING = "warning"
    INFO = "info"


class AlertRule(TenantModel):
    project = TenantForeignKey("tenants.Project", on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    # {"a": {"source": "red", "measure": "p95", "service": "checkout", "window_seconds": 300}, ...}: see rules.py
    queries = models.JSONField()
    # [{"query": "a", "op": ">", "critical": 500, "warning": 300, "recovery": 250}, ...]
    conditions = models.JSONField()
    combine = models.CharField(max_length=3, choices=[("and", "all conditions"), ("or", "any condition")],
                               default="and")  # fmt: skip
    group_by = models.JSONField(default=list, blank=True, help_text="One alert per value of these keys")
    for_seconds = models.PositiveIntegerField(default=0, help_text="Breaching this long before firing")
    no_data = models.CharField(max_length=5, choices=NoData.choices, default=NoData.KEEP)
    interval_seconds = models.PositiveIntegerField(default=30)
    title_template = models.CharField(max_length=300, blank=True)
    message_template = models.TextField(blank=True)
    runbook_url = models.URLField(max_length=500, blank=True)
    labels = models.JSONField(default=dict, blank=True, help_text="Routing and grouping labels")
    # Labels whose values make the incident key (alerts with the same values join one open incident).
    incident_grouping = models.JSONField(default=list, blank=True)
    channels = models.JSONField(default=list, blank=True, help_text="Channel ids notified besides routing")
    enabled = models.BooleanField(default=True)
    muted_until = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")  # fmt: skip
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # Evaluation bookkeeping: a tick is claimed by moving next_evaluation_at forward with a conditional UPDATE.
    next_evaluation_at = models.DateTimeField(null=True, blank=True)
    last_evaluated_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    missed_evaluations = models.PositiveIntegerField(default=0, help_text="Ticks skipped while evaluation was down")
    flapping_since = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["organization", "project", "name"], name="alerting_rule_name")]
        indexes = [models.Index(fields=["organization", "next_evaluation_at"], name="alerting_rule_due")]

    def __str__(self) -> str:
        return self.name


class AlertState(models.TextChoices):
    OK = "ok"
    PENDING = "pending"  # breaching, waiting for the rule's "for" duration
    FIRING = "firing"
    RESOLVED = "resolved"  # was firing, recovered
    NO_DATA = "nodata"  # no data and the rule alerts on no data
    ERROR = "error"  # the query failed (the rule's last_error says why)


ALERTING_STATES = (AlertState.FIRING, AlertState.NO_DATA)


class AlertInstance(TenantModel):
    rule = TenantForeignKey(AlertRule, on_delete=models.CASCADE, related_name="instances")
    group_key = models.CharField(max_length=500, help_text="Canonical JSON of group_labels")
    group_labels = models.JSONField(default=dict)
    state = models.CharField(max_length=8, choices=AlertState.choices, default=AlertState.OK)
    severity = models.CharField(max_length=8, choices=Severity.choices, blank=True)
    version = models.PositiveIntegerField(default=0, help_text="Bumped by every claimed state change")
    state_since = models.DateTimeField()
    breach_started_at = models.DateTimeField(null=True, blank=True, help_text="First breaching data of this episode")
    values = models.JSONField(default=dict, blank=True, help_text="The last evaluation's values by query")
    incident = TenantForeignKey("Incident", null=True, blank=True, on_delete=models.SET_NULL, related_name="alerts")
    suppressed_by = models.CharField(max_length=100, blank=True, help_text="silence:<id>, inhibited, flapping")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "rule", "group_key"], name="alerting_instance_group"),
        ]

    def __str__(self) -> str:
        return f"{self.rule_id} {self.group_key} {self.state}"


class StateChange(TenantModel):
    instance = TenantForeignKey(AlertInstance, on_delete=models.CASCADE, related_name="changes")
    rule = TenantForeignKey(AlertRule, on_delete=models.CASCADE, related_name="+")
    from_state = models.CharField(max_length=8, choices=AlertState.choices)
    to_state = models.CharField(max_length=8, choices=AlertState.choices)
    severity = models.CharField(max_length=8, blank=True)
    at = models.DateTimeField()
    values = models.JSONField(default=dict, blank=True)
    incident = TenantForeignKey("Incident", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    suppressed_by = models.CharField(max_length=100, blank=True)

    class Meta:
        indexes = [models.Index(fields=["organization", "rule", "at"], name="alerting_change_rule_at")]


class IncidentStatus(models.TextChoices):
    TRIGGERED = "triggered"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


OPEN_STATUSES = (IncidentStatus.TRIGGERED, IncidentStatus.ACKNOWLEDGED)


class Feedback(models.TextChoices):
    REAL = "real", "Real problem"
    NOISE = "noise", "Noise (false positive)"
    EXPECTED = "expected", "Expected (known, no action needed)"


class Incident(TenantModel):
    project = TenantForeignKey("tenants.Project", on_delete=models.CASCADE, related_name="+")
    rule = TenantForeignKey(AlertRule, null=True, on_delete=models.SET_NULL, related_name="incidents",
                            help_text="The rule of the alert that opened it")  # fmt: skip
    title = models.CharField(max_length=300)
    severity = models.CharField(max_length=8, choices=Severity.choices)
    status = models.CharField(max_length=12, choices=IncidentStatus.choices, default=IncidentStatus.TRIGGERED)
    grouping_key = models.CharField(max_length=500)
    dedup_key = models.CharField(max_length=100, help_text="Stable per incident: PagerDuty's dedup_key")
    labels = models.JSONField(default=dict)
    services = models.JSONField(default=list, help_text="Services of its alerts")
    probable_origin = models.CharField(max_length=200, blank=True, help_text="Service the failure probably started in")
    opened_at = models.DateTimeField()
    breach_started_at = models.DateTimeField(null=True, blank=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                        related_name="+")  # fmt: skip
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="+")  # fmt: skip
    escalation_policy = TenantForeignKey("oncall.EscalationPolicy", null=True, blank=True,
                                         on_delete=models.SET_NULL, related_name="+")  # fmt: skip
    next_escalation_at = models.DateTimeField(null=True, blank=True)
    feedback = models.CharField(max_length=8, choices=Feedback.choices, blank=True)
    feedback_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="+")  # fmt: skip

    class Meta:
        indexes = [
            models.Index(fields=["organization", "status", "opened_at"], name="alerting_incident_status"),
            models.Index(fields=["organization", "grouping_key"], name="alerting_incident_key"),
            models.Index(fields=["organization", "next_escalation_at"], name="alerting_incident_escalation"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.title}"


class EventKind(models.TextChoices):
    OPENED = "opened"
    ALERT_JOINED = "alert_joined"
    ALERT_FIRING = "alert_firing"
    ALERT_RESOLVED = "alert_resolved"
    NOTIFIED = "notified"
    ESCALATED = "escalated"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"
    REOPENED = "reopened"
    NOTE = "note"
    FEEDBACK = "feedback"


class IncidentEvent(TenantModel):
    incident = TenantForeignKey(Incident, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=16, choices=EventKind.choices)
    at = models.DateTimeField()
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="+")  # fmt: skip
    text = models.TextField(blank=True)
    data = models.JSONField(default=dict, blank=True)
    # Escalation steps are claimed by inserting their row: the unique key makes a step notify once.
    step_key = models.CharField(max_length=40, null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "incident", "step_key"], name="alerting_event_step"),
        ]
        indexes = [models.Index(fields=["organization", "incident", "at"], name="alerting_event_incident")]


class Silence(TenantModel):
    """Mutes notifications of alerts whose labels match every matcher, from ``starts_at`` to ``ends_at``.

    A maintenance window is a silence planned ahead (``kind="maintenance"``), typically matching a project or
    service; both work the same way.
    """

    project = TenantForeignKey("tenants.Project", null=True, blank=True, on_delete=models.CASCADE,
                               related_name="+")  # fmt: skip
    kind = models.CharField(max_length=12, choices=[("silence", "Silence"), ("maintenance", "Maintenance window")],
                            default="silence")  # fmt: skip
    matchers = models.JSONField(help_text='[{"label": "service", "op": "=", "value": "checkout"}]; =, !=, =~, !~')
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    comment = models.TextField()
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")  # fmt: skip
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["organization", "ends_at"], name="alerting_silence_ends")]
