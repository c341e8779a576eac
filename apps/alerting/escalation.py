"""Driving an incident through its escalation policy until someone acknowledges it.

Routing picks the policy when the incident opens; the policy's steps fall due over time
(``apps.oncall.escalation``). Each due step is claimed by inserting its timeline row, whose
``(incident, step_key)`` is unique, so a step notifies once however many workers run the tick, and the
incident row is locked meanwhile, so an acknowledgement either comes first (nothing more is sent) or waits
for the step being sent.
"""

from __future__ import annotations

from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.alerting import notify
from apps.alerting.models import EventKind, Incident, IncidentEvent, IncidentStatus
from apps.oncall import escalation as policy_steps
from apps.oncall.routing import route


def start(incident: Incident, at: datetime) -> None:
    """Route a new incident to a policy and send its first step now (in the opening transaction)."""
    policy = route(incident.organization_id, project_id=incident.project_id, severity=incident.severity,
                   service=incident.labels.get("service"), labels=incident.labels)  # fmt: skip
    if policy is None:
        return
    incident.escalation_policy = policy
    incident.next_escalation_at = at
    Incident.objects.filter(pk=incident.pk).update(escalation_policy=policy, next_escalation_at=at)
    run_due(incident, at)


def run_due(incident: Incident, now: datetime) -> int:
    """Send every step of the incident's policy that is due and not sent yet; the number of steps sent."""
    sent = 0
    with transaction.atomic():
        locked = Incident.objects.select_for_update().filter(pk=incident.pk).first()
        if locked is None or locked.status != IncidentStatus.TRIGGERED or locked.escalation_policy_id is None:
            Incident.objects.filter(pk=incident.pk).update(next_escalation_at=None)
            return 0
        policy = locked.escalation_policy
        assert policy is not None
        for due in policy_steps.due_steps(policy, triggered_at=locked.opened_at, now=now):
            key = f"step{due.step_index}.repeat{due.repeat}"
            if not _claim(locked, key, now, due.step_index, due.repeat):
                continue
            notify.send(locked, policy_steps.step_channels(due.step, now), "trigger", now, step=key)
            sent += 1
        following = policy_steps.next_due(policy, triggered_at=locked.opened_at, after=now)
        Incident.objects.filter(pk=locked.pk).update(next_escalation_at=following)
    return sent


def _claim(incident: Incident, key: str, at: datetime, index: int, repeat: int) -> bool:
    try:
        with transaction.atomic():
            IncidentEvent.objects.create(
                organization_id=incident.organization_id, incident=incident, kind=EventKind.ESCALATED, at=at,
                step_key=key, text=f"escalation step {index + 1}" + (f", repeat {repeat}" if repeat else ""),
                data={"step": index, "repeat": repeat},
            )  # fmt: skip
    except IntegrityError:
        return False  # another worker sent this step
    return True


def due_incidents(now: datetime | None = None, limit: int = 500) -> list[tuple[int, int]]:
    """(organization id, incident id) of triggered incidents with a step due; across tenants by design (each is
    then handled in a task scoped to its organization)."""
    now = now or timezone.now()
    return list(
        Incident.objects.unscoped()
        .filter(status=IncidentStatus.TRIGGERED, next_escalation_at__lte=now)
        .order_by("next_escalation_at")
        .values_list("organization_id", "pk")[:limit]
    )
