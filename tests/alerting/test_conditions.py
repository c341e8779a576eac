"""The state machine and the condition logic, case by case (no database)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from apps.alerting.conditions import Verdict, judge, next_state

T0 = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
P95_HIGH = {"query": "a", "op": ">", "critical": 500, "warning": 300, "recovery": 250}
ERRORS_HIGH = {"query": "b", "op": ">=", "critical": 0.05}


@pytest.mark.parametrize(
    ("values", "combine", "expected"),
    [
        ({"a": 600, "b": 0.1}, "and", Verdict(True, "critical", False)),
        ({"a": 400, "b": 0.1}, "and", Verdict(True, "warning", False)),  # a only at warning level
        ({"a": 600, "b": 0.01}, "and", Verdict(False, "", False)),
        ({"a": 600, "b": 0.01}, "or", Verdict(True, "critical", False)),  # any condition at critical
        ({"a": 400, "b": 0.01}, "or", Verdict(True, "warning", False)),
        ({"a": 100, "b": 0.05}, "or", Verdict(True, "critical", False)),  # >= is inclusive
        ({"a": 100, "b": 0.01}, "or", Verdict(False, "", False)),
        ({"a": None, "b": 0.1}, "and", Verdict(False, "", True)),  # cannot all hold without a
        ({"a": None, "b": 0.1}, "or", Verdict(True, "critical", False)),  # b alone holds
        ({"a": None, "b": None}, "or", Verdict(False, "", True)),
    ],
)
def test_conditions_combine_with_levels(values: dict, combine: str, expected: Verdict) -> None:
    assert judge([P95_HIGH, ERRORS_HIGH], combine, values, alerting=False) == expected


def test_hysteresis_keeps_a_firing_alert_until_past_the_recovery_threshold() -> None:
    assert judge([P95_HIGH], "and", {"a": 280}, alerting=False).breaching is False
    assert judge([P95_HIGH], "and", {"a": 280}, alerting=True) == Verdict(True, "warning", False)
    assert judge([P95_HIGH], "and", {"a": 250}, alerting=True).breaching is False  # not > 250: recovered


def test_a_single_threshold_serves_both_levels() -> None:
    warning_only = {"query": "a", "op": "<", "warning": 10}
    assert judge([warning_only], "and", {"a": 5}, alerting=False) == Verdict(True, "warning", False)
    critical_only = {"query": "a", "op": "<", "critical": 10}
    assert judge([critical_only], "and", {"a": 5}, alerting=False) == Verdict(True, "critical", False)


BREACH = Verdict(True, "critical", False)
CALM = Verdict(False, "", False)
NO_DATA = Verdict(False, "", True)


def step(state: str, verdict: Verdict, *, for_seconds: int = 0, no_data: str = "keep", held: int = 0) -> str:
    return next_state(state, verdict, no_data=no_data, for_seconds=for_seconds, since=T0,
                      now=T0 + timedelta(seconds=held))  # fmt: skip


def test_pending_waits_for_the_for_duration() -> None:
    assert step("ok", BREACH) == "firing"
    assert step("ok", BREACH, for_seconds=120) == "pending"
    assert step("pending", BREACH, for_seconds=120, held=60) == "pending"
    assert step("pending", BREACH, for_seconds=120, held=120) == "firing"
    assert step("pending", CALM, for_seconds=120, held=60) == "ok"  # never fired: back to ok, not resolved


def test_recovery_resolves_and_a_new_breach_starts_over() -> None:
    assert step("firing", BREACH) == "firing"
    assert step("firing", CALM) == "resolved"
    assert step("resolved", CALM) == "resolved"
    assert step("resolved", BREACH, for_seconds=60) == "pending"


@pytest.mark.parametrize(
    ("state", "policy", "expected"),
    [
        ("firing", "keep", "firing"),
        ("pending", "keep", "pending"),
        ("ok", "keep", "ok"),
        ("firing", "ok", "resolved"),
        ("pending", "ok", "ok"),
        ("ok", "alert", "nodata"),
        ("firing", "alert", "nodata"),
        ("nodata", "ok", "resolved"),
        ("error", "keep", "ok"),
    ],
)
def test_no_data_policies(state: str, policy: str, expected: str) -> None:
    assert step(state, NO_DATA, no_data=policy) == expected
