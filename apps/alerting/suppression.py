"""Why a firing alert would not notify: a silence (or maintenance window), inhibition, or flapping.

An alert that is suppressed still changes state (the history shows it), but opens no incident and sends
nothing; once the reason ends, the next evaluation of an alert still firing opens the incident then.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings

from apps.alerting.models import AlertInstance, AlertRule, AlertState, Severity, Silence, StateChange

MATCH_OPERATORS = ("=", "!=", "=~", "!~")


def alert_labels(rule: AlertRule, instance: AlertInstance) -> dict[str, str]:
    """What silences, routing and grouping match on: the rule's labels, its group, its name and severity,
    and the service it watches (from the group, else from its queries)."""
    labels = {**rule.labels, **instance.group_labels, "rule": rule.name, "severity": instance.severity}
    if not labels.get("service"):
        service = next((q.get("service") for q in rule.queries.values() if q.get("service")), None)
        if service:
            labels["service"] = service
    return {key: str(value) for key, value in labels.items() if value not in (None, "")}


def matches(matchers: list[Mapping[str, Any]], labels: Mapping[str, str]) -> bool:
    """Every matcher holds (a missing label is the empty string, as in Alertmanager)."""
    for matcher in matchers:
        value = labels.get(matcher["label"], "")
        op, wanted = matcher["op"], matcher["value"]
        if op == "=" and value != wanted:
            return False
        if op == "!=" and value == wanted:
            return False
        if op in ("=~", "!~"):
            hit = re.fullmatch(wanted, value) is not None
            if hit != (op == "=~"):
                return False
    return True


def reason(rule: AlertRule, instance: AlertInstance, at: datetime) -> str:
    """ "" when the alert may notify; otherwise ``silence:<id>``, ``inhibited`` or ``flapping``."""
    labels = alert_labels(rule, instance)
    active = Silence.objects.filter(starts_at__lte=at, ends_at__gt=at).order_by("ends_at")
    for silence in active:
        if (silence.project_id is None or silence.project_id == rule.project_id) and matches(silence.matchers, labels):
            return f"silence:{silence.pk}"
    if rule.muted_until is not None and rule.muted_until > at:
        return "muted"
    if instance.severity == Severity.WARNING and _critical_on_same_service(rule, instance, labels.get("service")):
        return "inhibited"
    if is_flapping(instance, at):
        return "flapping"
    return ""


def _critical_on_same_service(rule: AlertRule, instance: AlertInstance, service: str | None) -> bool:
    """Inhibition: a critical alert firing on a service makes its warnings redundant."""
    if not service:
        return False
    firing = (
        AlertInstance.objects.filter(
            state=AlertState.FIRING, severity=Severity.CRITICAL, rule__project_id=rule.project_id
        )
        .exclude(pk=instance.pk)
        .select_related("rule")
    )
    return any(alert_labels(other.rule, other).get("service") == service for other in firing)


def is_flapping(instance: AlertInstance, at: datetime) -> bool:
    """Too many changes of state lately (``VIGIL_ALERT_FLAP_CHANGES`` within ``VIGIL_ALERT_FLAP_WINDOW``)."""
    since = at - timedelta(seconds=settings.VIGIL_ALERT_FLAP_WINDOW)
    changes = StateChange.objects.filter(instance=instance, at__gt=since).count()
    return changes >= settings.VIGIL_ALERT_FLAP_CHANGES
