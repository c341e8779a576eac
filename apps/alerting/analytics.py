"""Alert quality over a time range: how often rules fire, how fast people react, and how often they were right.

Definitions (docs/alerting.md, "Analytics", states the same):
- **fires**: changes of an alert into firing (or no-data alerting) from a state that was not alerting.
- **flapping score**: the share of a rule's firing episodes in the range that ended within 5 minutes.
- **MTTA / MTTR**: from an incident's opening to its acknowledgement / resolution (incidents opened in the
  range that were acknowledged / resolved), mean, p50 and p90, in seconds.
- **MTTD**: from the first breaching evaluation (``breach_started_at``) to the first notification that was
  sent for the incident (a sent "trigger" delivery's ``finished_at``).
- **precision**: (real + expected) / (real + expected + noise) over incidents with feedback; None without.
- **on-call load**: notifications sent to people's own contact methods, per person, and every sent
  notification per hour of the day (UTC).
- **suggested threshold** of a noisy rule's first condition: between the values that fired as noise and
  those that fired for real when feedback separates them; otherwise the 90th percentile of its firing values
  (a threshold that 90 % of past fires would not have crossed).
"""

from __future__ import annotations

import math
import statistics
from collections import Counter, defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from apps.alerting.models import ALERTING_STATES, AlertRule, Feedback, Incident, StateChange
from apps.notifications.models import Delivery, DeliveryStatus

BLIP = timedelta(minutes=5)
NOISIEST = 10


def _percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (the value a person can find in the list)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(math.ceil(q * len(ordered)), 1) - 1]


def durations(values: Sequence[float]) -> dict[str, Any]:
    return {
        "count": len(values),
        "mean": round(statistics.fmean(values), 3) if values else None,
        "p50": _percentile(values, 0.5),
        "p90": _percentile(values, 0.9),
    }


def _precision(feedback: Counter[str]) -> float | None:
    judged = feedback[Feedback.REAL] + feedback[Feedback.EXPECTED] + feedback[Feedback.NOISE]
    return (feedback[Feedback.REAL] + feedback[Feedback.EXPECTED]) / judged if judged else None


def report(organization_id: int, start: datetime, end: datetime) -> dict[str, Any]:
    """Every figure of the analytics page, for the organization and per rule."""
    changes = list(
        StateChange.objects.for_organization(organization_id)
        .filter(at__gte=start, at__lt=end)
        .order_by("instance_id", "at", "pk")
        .values("rule_id", "instance_id", "from_state", "to_state", "at", "values")
    )
    incidents = list(
        Incident.objects.for_organization(organization_id)
        .filter(opened_at__gte=start, opened_at__lt=end)
        .values("pk", "rule_id", "opened_at", "acknowledged_at", "resolved_at", "breach_started_at", "feedback")
    )
    first_sent = _first_notifications(organization_id, [row["pk"] for row in incidents])
    sent = Delivery.objects.for_organization(organization_id).filter(
        status=DeliveryStatus.SENT, finished_at__gte=start, finished_at__lt=end
    )
    rules = {rule.pk: rule for rule in AlertRule.objects.for_organization(organization_id).order_by("name")}

    per_rule: dict[int | None, dict[str, Any]] = defaultdict(lambda: {"fires": 0, "episodes": [], "values": [],
                                                                     "incidents": []})  # fmt: skip
    for change, following in _with_next(changes):
        entry = per_rule[change["rule_id"]]
        if change["to_state"] in ALERTING_STATES and change["from_state"] not in ALERTING_STATES:
            entry["fires"] += 1
            entry["values"].append(change["values"])
            ended = following["at"] if following and following["to_state"] not in ALERTING_STATES else None
            entry["episodes"].append(ended - change["at"] if ended else None)
    for incident in incidents:
        per_rule[incident["rule_id"]]["incidents"].append(incident)

    rows = [_rule_row(rules.get(rule_id), data, first_sent) for rule_id, data in per_rule.items() if rule_id in rules]
    rows.sort(key=lambda row: (-row["fires"], row["rule"]))
    all_incidents = [incident for data in per_rule.values() for incident in data["incidents"]]
    return {
        "from": start,
        "to": end,
        "organization": {
            "fires": sum(data["fires"] for data in per_rule.values()),
            "incidents": len(incidents),
            **_reaction(all_incidents, first_sent),
        },
        "rules": rows,
        "noisiest": _noisiest(rows, rules, per_rule),
        "responders": [
            {"user": email, "notifications": count}
            for email, count in Counter(
                sent.exclude(channel__user=None).values_list("channel__user__email", flat=True)
            ).most_common()
        ],
        "hours": _per_hour(sent),
    }


def _with_next(changes: list[dict[str, Any]]) -> list[tuple[dict[str, Any], dict[str, Any] | None]]:
    """Each change with the next change of the same alert (None for its last)."""
    out = []
    for index, change in enumerate(changes):
        following = changes[index + 1] if index + 1 < len(changes) else None
        if following is not None and following["instance_id"] != change["instance_id"]:
            following = None
        out.append((change, following))
    return out


def _first_notifications(organization_id: int, incident_ids: list[int]) -> dict[int, datetime]:
    rows = (
        Delivery.objects.for_organization(organization_id)
        .filter(subject__in=[f"incident:{pk}" for pk in incident_ids], event="trigger", status=DeliveryStatus.SENT)
        .values_list("subject", "finished_at")
    )
    first: dict[int, datetime] = {}
    for found_subject, finished in rows:
        pk = int(found_subject.split(":", 1)[1])
        if finished is not None and (pk not in first or finished < first[pk]):
            first[pk] = finished
    return first


def _reaction(incidents: list[dict[str, Any]], first_sent: dict[int, datetime]) -> dict[str, Any]:
    def seconds(a: datetime | None, b: datetime | None) -> float | None:
        return (b - a).total_seconds() if a is not None and b is not None else None

    mtta = [s for i in incidents if (s := seconds(i["opened_at"], i["acknowledged_at"])) is not None]
    mttr = [s for i in incidents if (s := seconds(i["opened_at"], i["resolved_at"])) is not None]
    mttd = [s for i in incidents if (s := seconds(i["breach_started_at"], first_sent.get(i["pk"]))) is not None]
    feedback = Counter(i["feedback"] for i in incidents if i["feedback"])
    return {
        "mtta_seconds": durations(mtta),
        "mttr_seconds": durations(mttr),
        "mttd_seconds": durations(mttd),
        "feedback": {choice: feedback[choice] for choice in Feedback.values},
        "precision": _precision(feedback),
    }


def _rule_row(rule: AlertRule | None, data: dict[str, Any], first_sent: dict[int, datetime]) -> dict[str, Any]:
    assert rule is not None
    episodes = data["episodes"]
    ended = [length for length in episodes if length is not None]
    blips = sum(1 for length in ended if length <= BLIP)
    return {
        "rule_id": rule.pk,
        "rule": rule.name,
        "fires": data["fires"],
        "incidents": len(data["incidents"]),
        "flapping_score": round(blips / len(episodes), 3) if episodes else None,
        "flapping_now": rule.flapping_since is not None,
        **_reaction(data["incidents"], first_sent),
    }


def _noisiest(rows: list[dict[str, Any]], rules: dict[int, AlertRule],
              per_rule: dict[int | None, dict[str, Any]]) -> list[dict[str, Any]]:  # fmt: skip
    """Rules that fired most, noise first: fires × (1 − precision), precision unknown counting as 0.5."""

    def noise(row: dict[str, Any]) -> float:
        precision = row["precision"] if row["precision"] is not None else 0.5
        return row["fires"] * (1 - precision)

    ranked = sorted((row for row in rows if row["fires"]), key=lambda row: (-noise(row), row["rule"]))[:NOISIEST]
    return [
        {"rule_id": row["rule_id"], "rule": row["rule"], "fires": row["fires"], "precision": row["precision"],
         "suggested": suggest_threshold(rules[row["rule_id"]], per_rule[row["rule_id"]])}
        for row in ranked
    ]  # fmt: skip


def suggest_threshold(rule: AlertRule, data: dict[str, Any]) -> dict[str, Any] | None:
    """A threshold for the rule's first condition from the values it fired on (see the module docstring)."""
    condition = rule.conditions[0]
    level = "critical" if "critical" in condition else "warning"
    query, op = condition["query"], condition["op"]
    fired = [values.get(query) for values in data["values"] if values.get(query) is not None]
    if not fired:
        return None
    upward = op in (">", ">=")
    by_feedback: dict[str, list[float]] = defaultdict(list)
    for incident in data["incidents"]:
        value = _incident_value(rule.organization_id, incident["pk"], query)
        if incident["feedback"] and value is not None:
            by_feedback[incident["feedback"]].append(value)
    noise, real = by_feedback[Feedback.NOISE], by_feedback[Feedback.REAL] + by_feedback[Feedback.EXPECTED]
    if noise and real and (max(noise) < min(real) if upward else min(noise) > max(real)):
        edge_noise, edge_real = (max(noise), min(real)) if upward else (min(noise), max(real))
        return {"condition": 0, "level": level, "current": condition[level], "suggested": (edge_noise + edge_real) / 2,
                "basis": "between the values marked noise and those marked real"}  # fmt: skip
    suggested = _percentile(fired, 0.9 if upward else 0.1)
    return {"condition": 0, "level": level, "current": condition[level], "suggested": suggested,
            "basis": "90th percentile of the values it fired on"}  # fmt: skip


def _incident_value(organization_id: int, incident_id: int, query: str) -> float | None:
    """The value of ``query`` when the incident's first alert fired."""
    change = (
        StateChange.objects.for_organization(organization_id)
        .filter(incident_id=incident_id, to_state__in=ALERTING_STATES)
        .order_by("at", "pk")
        .values_list("values", flat=True)
        .first()
    )
    return change.get(query) if change else None


def _per_hour(sent: Any) -> list[int]:
    counts = [0] * 24
    for finished in sent.values_list("finished_at", flat=True):
        counts[finished.hour] += 1
    return counts
