"""Pure decisions: do the measured values breach the conditions, and what state follows.

No database here, so every rule of the state machine is tested directly (tests/alerting/test_conditions.py).
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from apps.alerting.models import ALERTING_STATES, AlertState, NoData, Severity

_COMPARE: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le,
}  # fmt: skip


@dataclass(frozen=True)
class Verdict:
    breaching: bool
    severity: str  # critical or warning when breaching, "" otherwise
    no_data: bool  # not breaching, and some condition had no value to judge


def judge(conditions: Sequence[Mapping[str, Any]], combine: str, values: Mapping[str, float | None], *,
          alerting: bool) -> Verdict:  # fmt: skip
    """Breaching at warning level, at critical level, or not at all.

    A condition with one threshold breaches at it for both levels. While the alert is already ``alerting``,
    a condition with a ``recovery`` threshold keeps breaching until the value is past it (hysteresis), so
    a value hovering around the threshold does not flap between firing and resolved.
    """
    warning_hits: list[bool] = []
    critical_hits: list[bool] = []
    missing = False
    for condition in conditions:
        value = values.get(condition["query"])
        if value is None:
            missing = True
            warning_hits.append(False)
            critical_hits.append(False)
            continue
        compare = _COMPARE[condition["op"]]
        critical = condition.get("critical")
        warning = condition.get("warning", critical)
        at_critical = compare(value, critical if critical is not None else warning)
        at_warning = compare(value, warning)
        if alerting and "recovery" in condition and compare(value, condition["recovery"]):
            at_warning = True  # not recovered yet
        critical_hits.append(at_critical)
        warning_hits.append(at_warning or at_critical)
    join = all if combine == "and" else any
    has_critical = any("critical" in condition for condition in conditions)
    if join(critical_hits) and has_critical:
        return Verdict(True, Severity.CRITICAL, False)
    if join(warning_hits):
        return Verdict(True, Severity.WARNING, False)
    return Verdict(False, "", missing)


def next_state(state: str, verdict: Verdict, *, no_data: str, for_seconds: int, since: datetime,  # noqa: PLR0911
               now: datetime) -> str:  # fmt: skip
    """The instance's state after this evaluation (``since``: when it entered ``state``)."""
    if verdict.breaching:
        if state == AlertState.FIRING:
            return AlertState.FIRING
        if state == AlertState.PENDING:
            return AlertState.FIRING if (now - since).total_seconds() >= for_seconds else AlertState.PENDING
        return AlertState.FIRING if for_seconds == 0 else AlertState.PENDING
    if verdict.no_data:
        if no_data == NoData.KEEP:
            return state if state != AlertState.ERROR else AlertState.OK
        if no_data == NoData.ALERT:
            return AlertState.NO_DATA
    # Not breaching (or no data treated as OK).
    if state in ALERTING_STATES:
        return AlertState.RESOLVED
    if state in (AlertState.PENDING, AlertState.ERROR):
        return AlertState.OK
    return state
