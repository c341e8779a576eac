"""Celery entry points of alerting: thin, each one call into the module that does the work."""

from __future__ import annotations

from datetime import datetime

from celery import shared_task
from django.utils import timezone

from apps.alerting import escalation, evaluation, scheduling
from apps.alerting.models import AlertRule, Incident
from apps.core.tasks import tenant_task


@shared_task(name="vigil.evaluate_due_rules", ignore_result=True)
def evaluate_due_rules() -> int:
    """Beat: claim the due ticks (across tenants) and evaluate each in a task scoped to its organization."""
    claimed = scheduling.claim_due(timezone.now())
    for tick in claimed:
        evaluate_rule.delay(tick.organization_id, tick.rule_id, tick.at.isoformat())
    return len(claimed)


@tenant_task(name="vigil.evaluate_rule", ignore_result=True)
def evaluate_rule(organization_id: int, rule_id: int, at: str) -> dict[str, object]:
    rule = AlertRule.objects.filter(pk=rule_id, enabled=True).select_related("project").first()
    if rule is None:
        return {"skipped": "rule deleted or disabled"}
    report = evaluation.evaluate(rule, datetime.fromisoformat(at))
    return {"groups": report.groups, "changes": len(report.changes), "lost_claims": report.lost_claims,
            "error": report.error}  # fmt: skip


@shared_task(name="vigil.escalate_incidents", ignore_result=True)
def escalate_incidents() -> int:
    """Beat: hand each triggered incident with a step due to a task scoped to its organization."""
    due = escalation.due_incidents(timezone.now())
    for organization_id, incident_id in due:
        escalate_incident.delay(organization_id, incident_id)
    return len(due)


@tenant_task(name="vigil.escalate_incident", ignore_result=True)
def escalate_incident(organization_id: int, incident_id: int) -> int:
    incident = Incident.objects.filter(pk=incident_id).first()
    return escalation.run_due(incident, timezone.now()) if incident is not None else 0
