"""What a transport sends: one notification, independent of the alert and incident models.

Alerting (later) builds a ``Notification`` from an incident; transports only ever see this
plain value, so they can be tested, and re-sent from the delivery log, without the models.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

Event = Literal["trigger", "acknowledge", "resolve", "test"]
Severity = Literal["critical", "warning", "info"]

EVENTS: tuple[Event, ...] = ("trigger", "acknowledge", "resolve", "test")
SEVERITIES: tuple[Severity, ...] = ("critical", "warning", "info")
# The link names transports know how to show, in the order they are shown.
LINK_NAMES = ("incident", "chart", "traces", "runbook", "acknowledge")


@dataclass(frozen=True)
class Notification:
    event: Event
    dedup_key: str  # stable per incident: PagerDuty's dedup_key, email threading
    title: str
    severity: Severity
    summary: str  # one line
    details: Mapping[str, Any]  # the values that triggered it (name → value) and labels
    source: str  # e.g. "vigil: checkout p95"
    links: Mapping[str, str]  # LINK_NAMES → absolute URLs ("acknowledge" is a signed link)
    timestamp: datetime  # timezone-aware
    organization: str

    def __post_init__(self) -> None:
        # Fail at construction rather than in the middle of a delivery to a third party.
        if self.event not in EVENTS:
            raise ValueError(f"unknown event {self.event!r}")
        if self.severity not in SEVERITIES:
            raise ValueError(f"unknown severity {self.severity!r}")
        if not self.dedup_key:
            raise ValueError("dedup_key must not be empty")
        if self.timestamp.tzinfo is None:
            raise ValueError("timestamp must be timezone-aware")


def jsonable(value: Any) -> Any:
    """A value that ``json.dumps(..., allow_nan=False)`` accepts: detail values come from metrics and labels.

    NaN and infinities are not JSON (Python would write ``NaN``, which strict parsers refuse), so they
    become strings; anything unknown (datetimes, decimals) becomes its ``str``.
    """
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(item) for item in value]
    return str(value)


def display_value(value: Any) -> str:
    """A detail value as people read it: floats rounded to 4 significant digits, lists comma-separated."""
    if isinstance(value, float) and math.isfinite(value):
        return f"{value:.4g}"
    if isinstance(value, list | tuple):
        return ", ".join(display_value(item) for item in value)
    return str(value)
