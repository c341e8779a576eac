"""Which rules are due, claimed so that each tick of a rule is evaluated by one worker only.

A tick is claimed by moving the rule's ``next_evaluation_at`` forward with a conditional UPDATE (it must
still hold the value this worker read). When evaluation stopped for a while (beat or every worker down),
the first claim afterwards evaluates now and counts the ticks that were skipped in ``missed_evaluations``,
which the rule's page shows; ``evaluation_lag`` is what /readyz reports meanwhile.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import F, Q

from apps.alerting.models import AlertRule


@dataclass(frozen=True)
class Claimed:
    organization_id: int
    rule_id: int
    at: datetime
    missed: int


def claim_due(now: datetime, limit: int = 500) -> list[Claimed]:
    """Across tenants by design: each claimed tick is handed to a task scoped to the rule's organization."""
    due = (
        AlertRule.objects.unscoped()
        .filter(enabled=True)
        .filter(Q(next_evaluation_at__lte=now) | Q(next_evaluation_at__isnull=True))
        .order_by(F("next_evaluation_at").asc(nulls_first=True))
        .values_list("organization_id", "pk", "next_evaluation_at", "interval_seconds")[:limit]
    )
    claimed = []
    for organization_id, rule_id, tick, interval in due:
        missed = 0 if tick is None else int((now - tick).total_seconds() // interval)
        claim = AlertRule.objects.unscoped().filter(pk=rule_id)
        claim = claim.filter(next_evaluation_at=tick) if tick is not None else claim.filter(next_evaluation_at=None)
        won = claim.update(next_evaluation_at=now + timedelta(seconds=interval),
                           missed_evaluations=F("missed_evaluations") + missed)  # fmt: skip
        if won:
            claimed.append(Claimed(organization_id, rule_id, now, missed))
    return claimed


def evaluation_lag(now: datetime, organization_id: int | None = None) -> float:
    """Seconds the most overdue enabled rule is late (0 when evaluation keeps up): across tenants for /readyz,
    or one organization's rules for its pages' banner."""
    rules = (
        AlertRule.objects.unscoped() if organization_id is None else AlertRule.objects.for_organization(organization_id)
    )
    oldest = (
        rules.filter(enabled=True, next_evaluation_at__isnull=False)
        .order_by("next_evaluation_at")
        .values_list("next_evaluation_at", flat=True)
        .first()
    )
    return max(0.0, (now - oldest).total_seconds()) if oldest is not None else 0.0
