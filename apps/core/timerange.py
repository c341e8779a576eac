"""The time range of a page, read from its query string: ``?range=1h`` or ``?from=…&to=…``.

``templates/components/timerange.html`` renders the picker for a ``TimeRange``;
pages pass ``start``/``end`` to their queries. Times without an offset are UTC,
which is what the picker's labels say.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.http import QueryDict
from django.utils import timezone
from django.utils.dateparse import parse_datetime

PRESETS: dict[str, tuple[str, timedelta]] = {
    "15m": ("Last 15 minutes", timedelta(minutes=15)),
    "1h": ("Last hour", timedelta(hours=1)),
    "6h": ("Last 6 hours", timedelta(hours=6)),
    "24h": ("Last 24 hours", timedelta(hours=24)),
    "7d": ("Last 7 days", timedelta(days=7)),
    "30d": ("Last 30 days", timedelta(days=30)),
}
ALL_TIME = "all"
_PARAMS = ("range", "from", "to", "page")
_INPUT_FORMAT = "%Y-%m-%dT%H:%M"


def _parse(value: str) -> datetime | None:
    try:
        moment = parse_datetime(value.strip())
    except ValueError:
        return None
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if timezone.is_naive(moment) else moment


@dataclass(frozen=True)
class TimeRange:
    """A resolved range. ``start``/``end`` are None only for "all time" (pages that allow it)."""

    key: str
    start: datetime | None
    end: datetime | None
    error: str = ""
    allow_all: bool = False
    other_params: list[tuple[str, str]] = field(default_factory=list)

    @property
    def is_custom(self) -> bool:
        return self.key == "custom"

    @property
    def label(self) -> str:
        if self.key in PRESETS:
            return PRESETS[self.key][0]
        if self.key == ALL_TIME:
            return "All time"
        return f"{self.from_value.replace('T', ' ')} to {self.to_value.replace('T', ' ')} UTC"

    @property
    def from_value(self) -> str:
        return self.start.astimezone(UTC).strftime(_INPUT_FORMAT) if self.start else ""

    @property
    def to_value(self) -> str:
        return self.end.astimezone(UTC).strftime(_INPUT_FORMAT) if self.end else ""

    @property
    def presets(self) -> list[tuple[str, str]]:
        options = [(key, label) for key, (label, _) in PRESETS.items()]
        return [*options, (ALL_TIME, "All time")] if self.allow_all else options

    def query(self) -> dict[str, str]:
        """The query parameters that reproduce this range (for links such as pagination or export)."""
        if self.is_custom:
            return {"from": self.from_value, "to": self.to_value}
        return {"range": self.key}


def parse_timerange(
    params: QueryDict | Mapping[str, str], *, default: str = "24h", now: datetime | None = None
) -> TimeRange:
    """The range the query string asks for; an unreadable one falls back to ``default`` with ``error`` set.

    ``default=ALL_TIME`` makes "all time" a choice (the audit log); chart pages keep a bounded default.
    """
    now = now or timezone.now()
    allow_all = default == ALL_TIME
    other = [
        (name, value)
        for name in params
        if name not in _PARAMS
        for value in (params.getlist(name) if isinstance(params, QueryDict) else [params[name]])
    ]

    def preset(key: str, error: str = "") -> TimeRange:
        if key == ALL_TIME:
            return TimeRange(ALL_TIME, None, None, error, allow_all, other)
        return TimeRange(key, now - PRESETS[key][1], now, error, allow_all, other)

    key = (params.get("range") or "").strip()
    raw_from, raw_to = (params.get("from") or "").strip(), (params.get("to") or "").strip()
    if key in PRESETS or (key == ALL_TIME and allow_all):
        return preset(key)
    if key:
        return preset(default, f"Unknown time range '{key}'. Choose one of the presets or a custom range.")
    if not raw_from and not raw_to:
        return preset(default)
    start, end = _parse(raw_from) if raw_from else None, _parse(raw_to) if raw_to else now
    if start is None or end is None:
        return preset(default, "Enter times as YYYY-MM-DD HH:MM (UTC), for example 2025-01-31 14:00.")
    if start >= end:
        return preset(default, "The start of the range must be before its end.")
    return TimeRange("custom", start, end, "", allow_all, other)
