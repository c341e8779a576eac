"""From alerts to incidents: open, join (deduplication and correlation), acknowledge, resolve, notify.

Everything here runs inside the transaction that claimed the alert's change of state, so an incident, its
timeline and its pending notifications exist exactly when the change does. Opening incidents is serialised
per organization by an advisory lock: two alerts that belong together never open two incidents.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from apps.alerting import escalation, notify, suppression
from apps.alerting.models import (
    ALERTING_STATES,
    OPEN_STATUSES,
    AlertInstance,
    AlertRule,
    EventKind,
    Incident,
    IncidentEvent,
    IncidentStatus,
    Severity,
    StateChange,
)
from apps.live.services import publish
from apps.tracing import queries as trace_queries

logger = logging.getLogger("vigil.alerting")
SEVERITY_RANK = {Severity.INFO: 0, Severity.WARNING: 1, Severity.CRITICAL: 2}
LIVE_TOPIC = "incidents"


def on_state_change(rule: AlertRule, instance: AlertInstance, change: StateChange, *,
                    breach_started_at: datetime | None) -> None:  # fmt: skip
    """React to a claimed change of an alert's state (called in its transaction)."""
    if change.to_state in ALERTING_STATES:
        if change.from_state not in ALERTING_STATES:
            alert_started(rule, instance, change.at, breach_started_at=breach_started_at, change=change)
    elif change.from_state in ALERTING_STATES:
        alert_stopped(rule, instance, change.at, change=change)


def alert_started(rule: AlertRule, instance: AlertInstance, at: datetime, *, breach_started_at: datetime | None,
                  change: StateChange | None = None) -> Incident | None:  # fmt: skip
    """An alert began firing (or is still firing and no longer suppressed): join or open its incident."""
    why = suppression.reason(rule, instance, at)
    if why == "flapping" and rule.flapping_since is None:
        AlertRule.objects.filter(pk=rule.pk, flapping_since__isnull=True).update(flapping_since=at)
    elif why != "flapping" and rule.flapping_since is not None:
        AlertRule.objects.filter(pk=rule.pk).update(flapping_since=None)
    if why:
        AlertInstance.objects.filter(pk=instance.pk).update(suppressed_by=why)
        if change is not None:
            StateChange.objects.filter(pk=change.pk).update(suppressed_by=why)
        return None
    labels = suppression.alert_labels(rule, instance)
    _lock_incidents(rule.organization_id)
    if change is None and AlertInstance.objects.filter(pk=instance.pk, incident__isnull=False).exists():
        return None  # another worker's recheck opened it while this one waited for the lock
    incident = _open_incident_for(rule, labels, instance.group_key, at)
    if incident is None:
        incident = _open(rule, instance, labels, at, breach_started_at)
    else:
        _join(incident, rule, instance, labels, at)
    AlertInstance.objects.filter(pk=instance.pk).update(incident=incident, suppressed_by="")
    instance.incident = incident
    if change is not None:
        StateChange.objects.filter(pk=change.pk).update(incident=incident)
    return incident


def alert_stopped(rule: AlertRule, instance: AlertInstance, at: datetime, *, change: StateChange) -> None:
    """An alert recovered: note it; when it was the incident's last alerting one, resolve the incident."""
    AlertInstance.objects.filter(pk=instance.pk).update(suppressed_by="")
    if instance.incident_id is None:
        return
    incident = Incident.objects.select_for_update().get(pk=instance.incident_id)
    StateChange.objects.filter(pk=change.pk).update(incident=incident)
    _event(incident, EventKind.ALERT_RESOLVED, at, text=f"{rule.name} {instance.group_key} recovered",
           data={"rule": rule.pk, "group": instance.group_labels, "values": change.values})  # fmt: skip
    still = AlertInstance.objects.filter(incident=incident, state__in=ALERTING_STATES).exclude(pk=instance.pk)
    if incident.status in OPEN_STATUSES and not still.exists():
        resolve(incident, at=at, actor=None, text="All its alerts recovered")


def recheck_suppressed(rule: AlertRule, instance: AlertInstance, at: datetime) -> None:
    """An alert still firing without an incident: open one if what suppressed it has ended."""
    with transaction.atomic():
        alert_started(rule, instance, at, breach_started_at=instance.breach_started_at)


# --- opening and joining ---------------------------------------------------------------------------------------


def grouping_key(rule: AlertRule, labels: dict[str, str], group_key: str) -> str:
    """Alerts with the same key join one open incident: the values of the rule's ``incident_grouping``
    labels, or by default the rule and the alert's group (one incident per alert)."""
    if rule.incident_grouping:
        return "labels:" + ",".join(f"{name}={labels.get(name, '')}" for name in sorted(rule.incident_grouping))
    return f"rule:{rule.pk}:{group_key}"


def _lock_incidents(organization_id: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext('vigil.incidents'), %s)", [organization_id])


def _open_incident_for(rule: AlertRule, labels: dict[str, str], group_key: str, at: datetime) -> Incident | None:
    """An open incident this alert belongs to: same grouping key within the group window (deduplication),
    else one on a service connected to this alert's service in the service map, opened within the
    correlation window (correlation)."""
    key = grouping_key(rule, labels, group_key)
    window = timedelta(seconds=settings.VIGIL_ALERT_GROUP_WINDOW)
    found = (
        Incident.objects.filter(grouping_key=key, status__in=OPEN_STATUSES, opened_at__gte=at - window)
        .order_by("-opened_at")
        .first()
    )
    if found is not None:
        return found
    service = labels.get("service")
    if not service:
        return None
    window = timedelta(seconds=settings.VIGIL_ALERT_CORRELATION_WINDOW)
    candidates = list(
        Incident.objects.filter(project_id=rule.project_id, status__in=OPEN_STATUSES, opened_at__gte=at - window)
        .exclude(services=[])
        .order_by("-opened_at")
    )
    if not candidates:
        return None
    calls = service_calls(rule.organization_id, rule.project_id, at)
    for incident in candidates:
        if any((service, other) in calls or (other, service) in calls for other in incident.services):
            return incident
    return None


def service_calls(organization_id: int, project_id: int, at: datetime) -> set[tuple[str, str]]:
    """(caller, callee) pairs between instrumented services over the last hour of the service map."""
    found = trace_queries.service_map(organization_id, project_id, at - timedelta(hours=1), at)
    return {(edge["source"], edge["target"]) for edge in found["edges"] if edge["target_kind"] == "service"}


def probable_origin(services: Iterable[str], calls: set[tuple[str, str]]) -> str:
    """The incident's service that the others depend on: one that calls none of the others (failures travel
    from callee to caller), preferring the one most of the others call; "" when it cannot be told."""
    members = sorted(set(services))
    if len(members) < 2:
        return members[0] if members else ""
    callees = [s for s in members if not any((s, other) in calls for other in members if other != s)]
    if not callees:
        return ""
    return max(callees, key=lambda s: (sum((other, s) in calls for other in members), s))


def _open(rule: AlertRule, instance: AlertInstance, labels: dict[str, str], at: datetime,
          breach_started_at: datetime | None) -> Incident:  # fmt: skip
    service = labels.get("service", "")
    incident = Incident.objects.create(
        organization_id=rule.organization_id, project_id=rule.project_id, rule=rule,
        title=notify.title(rule, instance), severity=instance.severity or Severity.CRITICAL,
        grouping_key=grouping_key(rule, labels, instance.group_key), dedup_key=f"vigil-{uuid.uuid4().hex}",
        labels=labels, services=[service] if service else [], probable_origin=service, opened_at=at,
        breach_started_at=breach_started_at or at,
    )  # fmt: skip
    _event(incident, EventKind.OPENED, at, text=incident.title,
           data={"rule": rule.pk, "group": instance.group_labels, "values": instance.values})  # fmt: skip
    notify.incident_opened(incident, rule, instance, at)
    escalation.start(incident, at)
    _publish(incident)
    return incident


def _join(incident: Incident, rule: AlertRule, instance: AlertInstance, labels: dict[str, str], at: datetime) -> None:
    service = labels.get("service")
    changed: dict[str, Any] = {}
    if service and service not in incident.services:
        services = [*incident.services, service]
        changed["services"] = services
        changed["probable_origin"] = probable_origin(services, service_calls(rule.organization_id,
                                                                             rule.project_id, at))  # fmt: skip
    if SEVERITY_RANK.get(instance.severity, 0) > SEVERITY_RANK.get(incident.severity, 0):
        changed["severity"] = instance.severity
    if changed:
        Incident.objects.filter(pk=incident.pk).update(**changed)
        for name, value in changed.items():
            setattr(incident, name, value)
    _event(incident, EventKind.ALERT_JOINED, at, text=f"{rule.name} {instance.group_key}",
           data={"rule": rule.pk, "group": instance.group_labels, "values": instance.values,
                 "severity": instance.severity})  # fmt: skip
    _publish(incident)


# --- people acting on incidents -------------------------------------------------------------------------------


def acknowledge(incident: Incident, *, at: datetime | None = None, actor: Any = None, via: str = "ui") -> bool:
    """Stop escalation and tell the channels; False when it was not triggered (already acknowledged or
    resolved). Claimed with a conditional UPDATE, so a double click acknowledges once."""
    at = at or timezone.now()
    user = actor if getattr(actor, "is_authenticated", False) else None
    with transaction.atomic():
        claimed = Incident.objects.filter(pk=incident.pk, status=IncidentStatus.TRIGGERED).update(
            status=IncidentStatus.ACKNOWLEDGED, acknowledged_at=at, acknowledged_by=user, next_escalation_at=None
        )
        if not claimed:
            return False
        incident.refresh_from_db()
        _event(incident, EventKind.ACKNOWLEDGED, at, actor=user, data={"via": via})
        notify.incident_changed(incident, "acknowledge", at)
        _publish(incident)
    return True


def resolve(incident: Incident, *, at: datetime | None = None, actor: Any = None, text: str = "",
            via: str = "ui") -> bool:  # fmt: skip
    """Close it and tell the channels that were told it started; False when it was already resolved."""
    at = at or timezone.now()
    user = actor if getattr(actor, "is_authenticated", False) else None
    with transaction.atomic():
        claimed = Incident.objects.filter(pk=incident.pk, status__in=OPEN_STATUSES).update(
            status=IncidentStatus.RESOLVED, resolved_at=at, resolved_by=user, next_escalation_at=None
        )
        if not claimed:
            return False
        incident.refresh_from_db()
        _event(incident, EventKind.RESOLVED, at, actor=user, text=text, data={"via": via})
        notify.incident_changed(incident, "resolve", at)
        _publish(incident)
    return True


def add_note(incident: Incident, text: str, actor: Any) -> IncidentEvent:
    event = _event(incident, EventKind.NOTE, timezone.now(), actor=actor, text=text)
    _publish(incident)
    return event


def set_feedback(incident: Incident, feedback: str, actor: Any) -> None:
    Incident.objects.filter(pk=incident.pk).update(feedback=feedback, feedback_by=actor)
    incident.feedback = feedback
    _event(incident, EventKind.FEEDBACK, timezone.now(), actor=actor, data={"feedback": feedback})


def _event(incident: Incident, kind: str, at: datetime, *, actor: Any = None, text: str = "",
           data: dict[str, Any] | None = None) -> IncidentEvent:  # fmt: skip
    return IncidentEvent.objects.create(
        organization_id=incident.organization_id, incident=incident, kind=kind, at=at,
        actor=actor if getattr(actor, "is_authenticated", False) else None, text=text[:2000], data=data or {},
    )  # fmt: skip


def _publish(incident: Incident) -> None:
    publish(incident.organization_id, LIVE_TOPIC, {"incident": incident.pk, "status": incident.status})
