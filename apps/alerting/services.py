"""Changing alerting configuration: rules and silences, each change validated once and audited."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from apps.alerting.models import AlertRule, Silence
from apps.alerting.rules import RuleInvalid, clean_descriptive, clean_rule
from apps.alerting.suppression import MATCH_OPERATORS
from apps.audit.actions import Action
from apps.audit.services import Origin, record
from apps.notifications.models import Channel


def _channels(value: Any, organization_id: int) -> list[int]:
    if not isinstance(value, list) or not all(isinstance(c, int) and not isinstance(c, bool) for c in value):
        raise RuleInvalid({"channels": "A list of channel ids."})
    found = set(Channel.objects.for_organization(organization_id).filter(pk__in=value, user=None)
                .values_list("pk", flat=True))  # fmt: skip
    missing = [c for c in value if c not in found]
    if missing:
        raise RuleInvalid({"channels": f"No channel {missing[0]} in this organization."})
    return list(dict.fromkeys(value))


def _snapshot(rule: AlertRule) -> dict[str, Any]:
    return {
        "name": rule.name, "queries": rule.queries, "conditions": rule.conditions, "combine": rule.combine,
        "group_by": rule.group_by, "for_seconds": rule.for_seconds, "no_data": rule.no_data,
        "interval_seconds": rule.interval_seconds, "labels": rule.labels, "channels": rule.channels,
        "enabled": rule.enabled, "muted_until": rule.muted_until.isoformat() if rule.muted_until else None,
    }  # fmt: skip


def save_rule(rule: AlertRule | None, data: Mapping[str, Any], *, organization_id: int, project_id: int,
              actor: Any, origin: Origin | None = None) -> AlertRule:  # fmt: skip
    """Create (``rule`` None) or replace a rule from ``data``; ``RuleInvalid`` names every bad field.

    ``data`` holds the whole rule for a create and any subset for an update (the rest is kept)."""
    current = _snapshot(rule) if rule is not None else {}
    merged = {**current, **data}
    merged.setdefault("channels", [])
    cleaned = clean_rule(merged, organization_id=organization_id, project_id=project_id)
    cleaned["channels"] = _channels(merged["channels"], organization_id)
    descriptive = clean_descriptive(data, creating=rule is None)
    with transaction.atomic():
        if rule is None:
            rule = AlertRule(organization_id=organization_id, project_id=project_id,
                             created_by=actor if getattr(actor, "is_authenticated", False) else None)  # fmt: skip
        before = _snapshot(rule) if rule.pk else None
        for key, value in {**cleaned, **descriptive}.items():
            setattr(rule, key, value)
        if AlertRule.objects.for_organization(organization_id).filter(project_id=project_id, name=rule.name) \
                .exclude(pk=rule.pk).exists():  # fmt: skip
            raise RuleInvalid({"name": f"This project already has a rule named {rule.name!r}."})
        rule.next_evaluation_at = None  # evaluate the new definition at the next beat
        rule.save()
        record(organization_id, Action.ALERT_RULE_UPDATED if before else Action.ALERT_RULE_CREATED, actor=actor,
               target=rule, before=before, after=_snapshot(rule), origin=origin)  # fmt: skip
    return rule


def delete_rule(rule: AlertRule, actor: Any, origin: Origin | None = None) -> None:
    with transaction.atomic():
        record(rule.organization_id, Action.ALERT_RULE_DELETED, actor=actor, target=rule, before=_snapshot(rule),
               origin=origin)  # fmt: skip
        rule.delete()


def _clean_matchers(value: Any) -> list[dict[str, str]]:
    if not isinstance(value, list) or not value:
        raise RuleInvalid({"matchers": 'At least one matcher, e.g. [{"label": "service", "op": "=", "value": "api"}].'})
    cleaned = []
    for index, matcher in enumerate(value):
        field = f"matchers.{index}"
        if not isinstance(matcher, dict) or not all(isinstance(matcher.get(k), str) for k in ("label", "op", "value")):
            raise RuleInvalid({field: "A matcher has text label, op and value."})
        if matcher["op"] not in MATCH_OPERATORS:
            raise RuleInvalid({f"{field}.op": f"Use one of {' '.join(MATCH_OPERATORS)}."})
        if matcher["op"] in ("=~", "!~"):
            try:
                re.compile(matcher["value"])
            except re.error as exc:
                raise RuleInvalid({f"{field}.value": f"Not a regular expression: {exc}."}) from exc
        cleaned.append({"label": matcher["label"], "op": matcher["op"], "value": matcher["value"]})
    return cleaned


def create_silence(organization_id: int, *, matchers: Any, starts_at: datetime | None, ends_at: datetime,
                   comment: str, kind: str = "silence", project_id: int | None = None, actor: Any = None,
                   origin: Origin | None = None) -> Silence:  # fmt: skip
    starts_at = starts_at or timezone.now()
    if kind not in ("silence", "maintenance"):
        raise RuleInvalid({"kind": 'Use "silence" or "maintenance".'})
    if ends_at <= starts_at:
        raise RuleInvalid({"ends_at": "The end must be after the start."})
    if not comment.strip():
        raise RuleInvalid({"comment": "Say why (people reading the incident later will want to know)."})
    silence = Silence.objects.for_organization(organization_id).create(
        organization_id=organization_id, project_id=project_id, kind=kind, matchers=_clean_matchers(matchers),
        starts_at=starts_at, ends_at=ends_at, comment=comment.strip(),
        created_by=actor if getattr(actor, "is_authenticated", False) else None,
    )  # fmt: skip
    record(organization_id, Action.SILENCE_CREATED, actor=actor, target=silence, origin=origin,
           after={"kind": kind, "matchers": silence.matchers, "starts_at": starts_at.isoformat(),
                  "ends_at": ends_at.isoformat(), "comment": silence.comment, "project_id": project_id})  # fmt: skip
    return silence


def expire_silence(silence: Silence, actor: Any, origin: Origin | None = None) -> None:
    """End it now (kept for the record, like Alertmanager's expire)."""
    now = timezone.now()
    if silence.ends_at <= now:
        return
    before = silence.ends_at
    silence.ends_at = max(now, silence.starts_at)
    silence.save(update_fields=["ends_at"])
    record(silence.organization_id, Action.SILENCE_EXPIRED, actor=actor, target=silence, origin=origin,
           before={"ends_at": before.isoformat()}, after={"ends_at": silence.ends_at.isoformat()})  # fmt: skip
