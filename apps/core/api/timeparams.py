"""Time and number query parameters of the telemetry read API, with 400 messages that say what to send.

Times are RFC 3339 (``2025-06-01T12:00:00Z``, ``2025-06-01T14:00:00.123456+02:00``) or Unix
nanoseconds (``1748779200000000000``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.utils.dateparse import parse_datetime
from rest_framework import exceptions

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MAX_NS = 2**63 - 1
MAX_LIMIT = 1000


def _invalid(name: str, message: str) -> exceptions.ValidationError:
    return exceptions.ValidationError({name: [message]})


def parse_time_ns(name: str, value: str) -> int:
    """Nanoseconds since the Unix epoch from RFC 3339 or an integer of nanoseconds."""
    text = value.strip()
    if text.isdigit():
        ns = int(text)
        if ns > _MAX_NS:
            raise _invalid(name, f"{text} is too large for Unix nanoseconds.")
        return ns
    try:
        moment = parse_datetime(text)
    except ValueError:
        moment = None
    if moment is None or "t" not in text.lower():
        raise _invalid(
            name,
            f"'{value}' is not a time: send RFC 3339 (2025-06-01T12:00:00Z) or Unix nanoseconds (1748779200000000000).",
        )
    if moment.tzinfo is None:
        raise _invalid(name, f"'{value}' has no UTC offset: add Z or +hh:mm (RFC 3339).")
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 10**9 + delta.microseconds * 1000


def ns_to_datetime(ns: int) -> datetime:
    return _EPOCH + timedelta(microseconds=ns // 1000)


@dataclass(frozen=True)
class TimeWindow:
    """``from``/``to`` of a request; unpacks as ``start, end = window``."""

    start: datetime | None
    end: datetime | None

    def __iter__(self) -> Iterator[datetime | None]:
        return iter((self.start, self.end))


def time_range(
    params: Mapping[str, str], default: timedelta | None = timedelta(hours=1), now: datetime | None = None
) -> TimeWindow:
    """``from`` and ``to``. With ``default`` (an hour unless told), a missing ``to`` is now and a missing
    ``from`` is ``to - default``; with ``default=None`` a missing bound stays None (unbounded).
    ``from`` must come before ``to``."""
    start = ns_to_datetime(parse_time_ns("from", params["from"])) if params.get("from") else None
    end = ns_to_datetime(parse_time_ns("to", params["to"])) if params.get("to") else None
    if default is not None:
        end = end or (now or datetime.now(tz=UTC))
        start = start or end - default
    if start is not None and end is not None and start >= end:
        raise _invalid("from", "from must be before to.")
    return TimeWindow(start, end)


def parse_int(params: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    value = params.get(name)
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError:
        raise _invalid(name, f"'{value}' is not an integer.") from None
    if not low <= number <= high:
        raise _invalid(name, f"must be between {low} and {high}.")
    return number


def limit_param(params: Mapping[str, str], default: int = 100, maximum: int = MAX_LIMIT) -> int:
    """``limit``: 1..``maximum`` (1000 unless told), ``default`` when absent."""
    return parse_int(params, "limit", default, 1, maximum)
