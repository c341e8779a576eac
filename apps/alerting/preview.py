"""A rule (saved or not) evaluated over the last day: when it would have fired, and how often.

The day is cut into steps of the rule's window (its shortest one, when queries differ: each query is then
measured over that step), the same measurement as one evaluation, step by step;
the state machine of ``conditions`` runs over them, so ``for_seconds``, hysteresis and no-data behave as
they will live. Read-only: nothing is stored and nobody is notified.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from apps.alerting import conditions, measures
from apps.alerting.models import ALERTING_STATES, AlertState

RANGE = timedelta(hours=24)


def preview(rule: Mapping[str, Any], *, organization_id: int, project_id: int, now: datetime) -> dict[str, Any]:
    """``rule``: the cleaned fields (``rules.clean_rule``). Per group: each step's values and state, and the
    periods it would have been firing."""
    step = min(query["window_seconds"] for query in rule["queries"].values())
    origin = datetime.fromtimestamp((now - RANGE).timestamp() // step * step, tz=now.tzinfo)
    per_query: dict[str, measures.Series] = {}
    window = measures.Window(start=origin, end=now.replace(second=0, microsecond=0) + timedelta(minutes=1), at=now)
    for name, query in rule["queries"].items():
        stepped = {**query, "window_seconds": step}
        per_query[name] = measures.series(stepped, organization_id, project_id, rule["group_by"], window)
    groups = sorted({group for found in per_query.values() for group in found})
    out = []
    for group in groups:
        points = _points(per_query, group)
        state, since, fired = AlertState.OK, origin, []
        rows = []
        for moment, values in points:
            verdict = conditions.judge(rule["conditions"], rule["combine"], values, alerting=state in ALERTING_STATES)
            new = conditions.next_state(state, verdict, no_data=rule["no_data"], for_seconds=rule["for_seconds"],
                                        since=since, now=moment + timedelta(seconds=step))  # fmt: skip
            if new != state:
                if new in ALERTING_STATES and state not in ALERTING_STATES:
                    fired.append({"from": moment, "to": None, "severity": verdict.severity or "warning"})
                elif state in ALERTING_STATES and new not in ALERTING_STATES and fired:
                    fired[-1]["to"] = moment
                state, since = new, moment + timedelta(seconds=step)
            rows.append({"time": moment, "values": values, "state": state, "severity": verdict.severity})
        out.append({"labels": dict(group), "points": rows, "fired": fired})
    return {
        "from": origin, "to": now, "step_seconds": step, "groups": out,
        "fire_count": sum(len(group["fired"]) for group in out),
    }  # fmt: skip


def _points(per_query: Mapping[str, measures.Series], group: measures.Group) -> list[tuple[datetime, dict[str, Any]]]:
    moments: dict[datetime, dict[str, Any]] = {}
    for name, found in per_query.items():
        for moment, value in found.get(group, []):
            moments.setdefault(moment, {})[name] = value
    return sorted(moments.items())
