"""Evaluate one rule at one instant: measure, judge every group, and claim each change of state.

Claiming: a change is written by ``UPDATE ... WHERE id = %s AND version = %s`` (bumping the version) in
the same transaction as its ``StateChange`` row, its incident and its pending notifications. A second
worker evaluating the same rule at the same moment finds the version moved and does nothing; a worker
killed mid-way rolls back, and the next evaluation derives the state again from the data.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F

from apps.alerting import conditions, incidents, measures
from apps.alerting.models import ALERTING_STATES, AlertInstance, AlertRule, AlertState, StateChange

logger = logging.getLogger("vigil.alerting")


@dataclass
class Report:
    """What one evaluation did (the task logs it; tests read it)."""

    groups: int = 0
    changes: list[tuple[str, str, str]] = field(default_factory=list)  # (group key, from, to)
    lost_claims: int = 0  # changes another worker made first
    error: str = ""


def group_key(group: measures.Group) -> str:
    return json.dumps(dict(group), sort_keys=True, separators=(",", ":"))


def evaluate(rule: AlertRule, at: datetime) -> Report:
    report = Report()
    try:
        values = _measure_all(rule, at)
    except measures.MeasureError as exc:
        report.error = str(exc)
        _record_error(rule, at, report.error, report)
        return report
    instances = alerts_of(rule)
    keys = {group_key(group): group for group in values}
    # A group that stopped reporting still has to be judged (no data), if its alert is not at rest.
    for key, instance in instances.items():
        if key not in keys and instance.state != AlertState.OK:
            keys[key] = tuple(instance.group_labels.items())
    report.groups = len(keys)
    for key, group in sorted(keys.items()):
        group_values = values.get(group, {})
        instance = instances.get(key)
        state = instance.state if instance is not None else AlertState.OK
        verdict = conditions.judge(rule.conditions, rule.combine, group_values, alerting=state in ALERTING_STATES)
        since = instance.state_since if instance is not None else at
        new_state = conditions.next_state(state, verdict, no_data=rule.no_data, for_seconds=rule.for_seconds,
                                          since=since, now=at)  # fmt: skip
        severity = verdict.severity or (instance.severity if instance is not None else "")
        if new_state == state:
            if instance is not None and (instance.values, instance.severity) != (_jsonable(group_values), severity):
                # The latest values (and a firing alert's severity) for the pages; not a change of state.
                AlertInstance.objects.filter(pk=instance.pk, version=instance.version).update(
                    values=_jsonable(group_values), severity=severity
                )
            if instance is not None and state in ALERTING_STATES and instance.incident_id is None:
                incidents.recheck_suppressed(rule, instance, at)
            continue
        if instance is None:
            instance = _instance(rule, key, group, at)
            if instance.version != 0:  # another worker created it and already changed it: its move, not ours
                report.lost_claims += 1
                continue
        if _transition(rule, instance, new_state, severity=severity, values=group_values, verdict=verdict, at=at):
            report.changes.append((key, state, new_state))
        else:
            report.lost_claims += 1
    AlertRule.objects.filter(pk=rule.pk).update(last_evaluated_at=at, last_error="")
    return report


def alerts_of(rule: AlertRule) -> dict[str, AlertInstance]:
    """The rule's alerts by group key, as this evaluation sees them (another worker may change them meanwhile)."""
    return {instance.group_key: instance for instance in AlertInstance.objects.filter(rule=rule)}


def _measure_all(rule: AlertRule, at: datetime) -> dict[measures.Group, dict[str, float | None]]:
    """Values per group and query name."""
    out: dict[measures.Group, dict[str, float | None]] = {}
    for name, query in rule.queries.items():
        for group, value in measures.measure(query, rule.organization_id, rule.project_id, rule.group_by,
                                             at).items():  # fmt: skip
            out.setdefault(group, {})[name] = value
    return out


def _jsonable(values: Mapping[str, float | None]) -> dict[str, Any]:
    return {name: (round(value, 6) if value is not None else None) for name, value in values.items()}


def _instance(rule: AlertRule, key: str, group: measures.Group, at: datetime) -> AlertInstance:
    """The group's instance, created at rest (ok, version 0) if it does not exist yet (race-safe)."""
    try:
        with transaction.atomic():
            return AlertInstance.objects.create(
                organization_id=rule.organization_id, rule=rule, group_key=key, group_labels=dict(group),
                state=AlertState.OK, state_since=at,
            )  # fmt: skip
    except IntegrityError:  # another worker created it first
        return AlertInstance.objects.get(rule=rule, group_key=key)


def _transition(rule: AlertRule, instance: AlertInstance, new_state: str, *, severity: str,
                values: Mapping[str, float | None], verdict: conditions.Verdict, at: datetime) -> bool:  # fmt: skip
    """Claim and apply one change of state; False when another worker changed the instance first."""
    old_state = instance.state
    breach_started = instance.breach_started_at
    if verdict.breaching and old_state not in (AlertState.PENDING, *ALERTING_STATES):
        breach_started = at  # the first breaching evaluation of this episode (MTTD counts from here)
    if new_state in (AlertState.OK, AlertState.RESOLVED):
        breach_started = None
    with transaction.atomic():
        claimed = AlertInstance.objects.filter(pk=instance.pk, version=instance.version).update(
            state=new_state, severity=severity, version=F("version") + 1, state_since=at,
            breach_started_at=breach_started, values=_jsonable(values),
        )  # fmt: skip
        if not claimed:
            return False
        episode_start = instance.breach_started_at or breach_started
        instance.refresh_from_db()
        change = StateChange.objects.create(
            organization_id=rule.organization_id, instance=instance, rule=rule, from_state=old_state,
            to_state=new_state, severity=severity, at=at, values=_jsonable(values),
        )  # fmt: skip
        incidents.on_state_change(rule, instance, change, breach_started_at=episode_start)
    logger.info("rule %s %s: %s → %s", rule.pk, instance.group_key, old_state, new_state)
    return True


def _record_error(rule: AlertRule, at: datetime, message: str, report: Report) -> None:
    """The rule's queries failed: say so on the rule, and move its alerts that are not alerting to ``error``
    (claimed like any change). Alerting ones stay firing: a broken query is no reason to call a problem
    resolved. The next evaluation that succeeds derives every state again."""
    AlertRule.objects.filter(pk=rule.pk).update(last_evaluated_at=at, last_error=message[:2000])
    logger.warning("rule %s failed: %s", rule.pk, message)
    quiet = AlertInstance.objects.filter(rule=rule).exclude(state__in=[*ALERTING_STATES, AlertState.ERROR])
    verdict = conditions.Verdict(False, "", False)
    for instance in quiet:
        before = instance.state
        if _transition(rule, instance, AlertState.ERROR, severity="", values={}, verdict=verdict, at=at):
            report.changes.append((instance.group_key, before, AlertState.ERROR))
        else:
            report.lost_claims += 1
