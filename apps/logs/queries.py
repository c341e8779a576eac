"""The read API of the log store (raw SQL over the partitioned table; callers pass the tenant)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
from django.db import connection

from apps.otlp.values import hex_id

MAX_LIMIT = 1000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# Severity names accepted for ``severity_min`` and the lowest severity number of their range.
SEVERITY_NAMES = {"trace": 1, "debug": 5, "info": 9, "warn": 13, "warning": 13, "error": 17, "fatal": 21}
# The bands logs_count_minute counts by (the lowest severity number of the range; 0: unspecified), in order.
SEVERITY_BANDS = {0: "unspecified", 1: "trace", 5: "debug", 9: "info", 13: "warn", 17: "error", 21: "fatal"}
MAX_VOLUME_BUCKETS = 2000

_SELECT = """
SELECT l.time, l.time_ns, l.observed_time_ns, l.severity_number, l.severity_text, l.body, l.attributes, l.trace_id,
       l.span_id, l.flags, l.event_name, l.service_name, l.scope_name, l.scope_version, l.scope_attributes,
       l.dropped_attributes_count, l.record_id, r.attributes
FROM logs_record l
JOIN otlp_resource r ON r.organization_id = l.organization_id AND r.project_id = l.project_id
                    AND r.fingerprint = l.resource_fingerprint
WHERE {where}
ORDER BY l.time DESC, l.time_ns DESC, l.observed_time_ns DESC, l.record_id DESC
LIMIT %s
"""

# Django's PostgreSQL backend hands jsonb columns of raw queries back as text.
_json = msgspec.json.Decoder()


def _loads(text: str | None) -> Any:
    return _json.decode(text) if text is not None else None


def _like_pattern(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


@dataclass(frozen=True)
class Cursor:
    """A record's place in the newest-first order: pages continue below it."""

    time: datetime
    time_ns: int
    observed_time_ns: int
    record_id: bytes

    def encode(self) -> str:
        micros = (self.time - _EPOCH) // timedelta(microseconds=1)
        return f"{micros}_{self.time_ns}_{self.observed_time_ns}_{self.record_id.hex()}"

    @classmethod
    def decode(cls, text: str) -> Cursor:
        """Raises ValueError for text that ``encode`` did not produce."""
        micros, time_ns, observed, record_id = text.split("_")
        moment = _EPOCH + timedelta(microseconds=int(micros))
        return cls(moment, int(time_ns), int(observed), bytes.fromhex(record_id))


def _record(row: tuple[Any, ...]) -> dict[str, Any]:
    (moment, time_ns, observed_ns, severity_number, severity_text, body, attributes, trace_id, span_id, flags,
     event_name, service, scope_name, scope_version, scope_attributes, dropped, record_id, resource) = row  # fmt: skip
    return {
        "time_unix_nano": time_ns,
        "observed_time_unix_nano": observed_ns,
        "severity_number": severity_number,
        "severity_text": severity_text,
        "body": _loads(body),
        "attributes": _loads(attributes),
        "trace_id": hex_id(bytes(trace_id)) if trace_id else None,
        "span_id": hex_id(bytes(span_id)) if span_id else None,
        "flags": flags,
        "event_name": event_name,
        "service": service,
        "resource": _loads(resource),
        "scope": {"name": scope_name, "version": scope_version, "attributes": _loads(scope_attributes) or {}},
        "dropped_attributes_count": dropped,
        "record_id": bytes(record_id).hex(),
        "cursor": Cursor(moment, time_ns, observed_ns, bytes(record_id)).encode(),
    }


# A bounded search reads its range newest first in windows, the first of min(15 min, range / 32), each one four
# times as long as the one before, and stops when the page is full: a text that matches a few thousand records a
# day fills a page from the last hour instead of matching every record of the day first (bench/queries.py). Four
# rather than two: a text found nowhere reads the whole range in 4 statements instead of 7 (a day of 1.2 M
# records: 0.5 s instead of 0.72 s; one statement, which PostgreSQL runs in parallel, 0.32 s).
_FIRST_WINDOW = timedelta(minutes=15)
_WINDOW_SHARE = 32
_WINDOW_GROWTH = 4


def _windows(start: datetime, end: datetime) -> Iterator[tuple[datetime, datetime]]:
    """``[start, end)`` cut into windows from the end, newest first."""
    size = max(min(_FIRST_WINDOW, (end - start) / _WINDOW_SHARE), timedelta(seconds=1))
    high = end
    while high > start:
        low = max(start, high - size)
        yield low, high
        high, size = low, size * _WINDOW_GROWTH


def search_logs(
    organization_id: int,
    project_id: int,
    *,
    trace_id: bytes | None = None,
    q: str | None = None,
    severity_min: int | None = None,
    service: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    limit: int = 100,
    after: Cursor | None = None,
    attributes: Mapping[str, str] | None = None,
) -> list[dict[str, Any]]:
    """Matching log records, newest first. ``q`` is a case-insensitive substring of the body text;
    ``attributes`` are ``key=value`` pairs the record's attributes must all hold (compared as text, so "200"
    matches the integer 200); ``start`` is inclusive, ``end`` exclusive; ``after`` continues below a record's
    ``cursor``.

    With both bounds and no trace id, the range is read in windows newest first (``_windows``) until ``limit``
    records are found; the order's first key is the time, so the records are the same. A trace id has its own
    index, which each window would read again: that search is one statement."""
    where, params = _filters(
        organization_id,
        project_id,
        trace_id=trace_id,
        q=q,
        severity_min=severity_min,
        service=service,
        attributes=attributes,
    )
    if after is not None:
        where.append("(l.time, l.time_ns, l.observed_time_ns, l.record_id) < (%s, %s, %s, %s)")
        params += [after.time, after.time_ns, after.observed_time_ns, after.record_id]
        if end is None or after.time < end:  # nothing after the cursor's microsecond can follow it
            end = after.time + timedelta(microseconds=1)
    limit = max(1, min(limit, MAX_LIMIT))
    if start is None or end is None or trace_id is not None:
        return _search(where, params, start, end, limit)
    found: list[dict[str, Any]] = []
    for low, high in _windows(start, end):
        found += _search(where, params, low, high, limit - len(found))
        if len(found) == limit:
            break
    return found


def _search(
    where: list[str], params: list[Any], start: datetime | None, end: datetime | None, limit: int
) -> list[dict[str, Any]]:
    where, params = list(where), list(params)
    if start is not None:
        where.append("l.time >= %s")
        params.append(start)
    if end is not None:
        where.append("l.time < %s")
        params.append(end)
    with connection.cursor() as cursor:
        cursor.execute(_SELECT.format(where=" AND ".join(where)), [*params, limit])
        return [_record(row) for row in cursor.fetchall()]


def _filters(
    organization_id: int,
    project_id: int,
    *,
    trace_id: bytes | None,
    q: str | None,
    severity_min: int | None,
    service: str | None,
    attributes: Mapping[str, str] | None,
) -> tuple[list[str], list[Any]]:
    """The WHERE terms (over ``logs_record l``) shared by the search and the raw volume count."""
    where = ["l.organization_id = %s", "l.project_id = %s"]
    params: list[Any] = [organization_id, project_id]
    if trace_id is not None:
        where.append("l.trace_id = %s")
        params.append(trace_id)
    if q:
        # body_lower holds lower(body text), and ILIKE is lower() of both sides compared with LIKE (for UTF-8; see
        # apps/logs/sql/0002_body_lower.sql): the same records, without lowering every row at each search.
        where.append("l.body_lower LIKE lower(%s)")
        params.append(_like_pattern(q))
    if severity_min is not None:
        where.append("l.severity_number >= %s")
        params.append(severity_min)
    if service:
        where.append("l.service_name = %s")
        params.append(service)
    for key, value in sorted((attributes or {}).items()):
        where.append("l.attributes ->> %s = %s")
        params += [key, value]
    return where, params


# Slots are multiples of the step since the epoch, so a minute of the rollup always falls in one slot.
_SLOT = "to_timestamp(floor(extract(epoch FROM {column}) / %s) * %s)"
_BAND = "CASE WHEN l.severity_number BETWEEN 1 AND 24 THEN ((l.severity_number - 1) / 4) * 4 + 1 ELSE 0 END"


def _minute_ceil(moment: datetime) -> datetime:
    floor = moment.replace(second=0, microsecond=0)
    return floor if floor == moment else floor + timedelta(minutes=1)


def volume(
    organization_id: int,
    project_id: int,
    *,
    start: datetime,
    end: datetime,
    step_seconds: int,
    trace_id: bytes | None = None,
    q: str | None = None,
    severity_min: int | None = None,
    service: str | None = None,
    attributes: Mapping[str, str] | None = None,
) -> list[dict[str, Any]]:
    """Records per step and severity band (``SEVERITY_BANDS``) in ``[start, end)``, with the search's filters.

    Returns one ``{"time", "counts": {band name: n}, "total"}`` per step that has records, oldest first; the
    first step starts at ``start`` rounded down to a multiple of the step. Whole minutes are read from the
    ``logs_count_minute`` rollup when the filters are ones it keeps (service, and a minimum severity at the
    start of a band); the partial minutes at either end, and any text, attribute or trace filter, count the
    records themselves, so the numbers always equal what the search finds.
    """
    if step_seconds < 60 or step_seconds % 60:
        raise ValueError("step must be a whole number of minutes")
    if end <= start:
        raise ValueError("start must be before end")
    if (end - start).total_seconds() / step_seconds > MAX_VOLUME_BUCKETS:
        raise ValueError(f"start..end holds more than {MAX_VOLUME_BUCKETS} steps; use a larger step")
    filters: dict[str, Any] = {
        "trace_id": trace_id, "q": q, "severity_min": severity_min, "service": service, "attributes": attributes,
    }  # fmt: skip
    rollup_fits = trace_id is None and not q and not attributes and severity_min in (None, *SEVERITY_BANDS)
    counts: dict[datetime, dict[int, int]] = {}

    def add(rows: list[tuple[datetime, int, int]]) -> None:
        for slot, band, n in rows:
            per_band = counts.setdefault(slot, {})
            per_band[band] = per_band.get(band, 0) + int(n)

    inner_start, inner_end = _minute_ceil(start), end.replace(second=0, microsecond=0)
    if rollup_fits and inner_start < inner_end:
        whole = (inner_start, inner_end)
        rows = _rollup_counts(
            organization_id, project_id, whole, step_seconds, severity_min=severity_min, service=service
        )
        add(rows)
        edges = [(start, inner_start), (inner_end, end)]
    else:
        edges = [(start, end)]
    for low, high in edges:
        if low < high:
            add(_raw_counts(organization_id, project_id, (low, high), step_seconds, filters))
    return [
        {
            "time": slot,
            "counts": {name: counts[slot].get(band, 0) for band, name in SEVERITY_BANDS.items()},
            "total": sum(counts[slot].values()),
        }
        for slot in sorted(counts)
    ]


def _rollup_counts(
    organization_id: int,
    project_id: int,
    window: tuple[datetime, datetime],
    step_seconds: int,
    *,
    severity_min: int | None,
    service: str | None,
) -> list[tuple[datetime, int, int]]:
    start, end = window
    where = ["organization_id = %s", "project_id = %s", "bucket >= %s", "bucket < %s"]
    params: list[Any] = [step_seconds, step_seconds, organization_id, project_id, start, end]
    if severity_min is not None:
        where.append("severity >= %s")
        params.append(severity_min)
    if service:
        where.append("service_name = %s")
        params.append(service)
    sql = (
        f"SELECT {_SLOT.format(column='bucket')}, severity, sum(record_count) FROM logs_count_minute "  # noqa: S608 (fixed names)
        f"WHERE {' AND '.join(where)} GROUP BY 1, 2"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows: list[tuple[datetime, int, int]] = cursor.fetchall()
    return rows


def _raw_counts(
    organization_id: int, project_id: int, window: tuple[datetime, datetime], step_seconds: int, filters: dict[str, Any]
) -> list[tuple[datetime, int, int]]:
    start, end = window
    where, params = _filters(organization_id, project_id, **filters)
    where += ["l.time >= %s", "l.time < %s"]
    sql = (
        f"SELECT {_SLOT.format(column='l.time')}, {_BAND}, count(*) FROM logs_record l "  # noqa: S608 (fixed names)
        f"WHERE {' AND '.join(where)} GROUP BY 1, 2"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [step_seconds, step_seconds, *params, start, end])
        rows: list[tuple[datetime, int, int]] = cursor.fetchall()
    return rows


def log_services(organization_id: int, project_id: int, start: datetime, end: datetime) -> list[str]:
    """Services with log records in the minutes of ``[start, end)``, by name (from the per-minute counts)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT DISTINCT service_name FROM logs_count_minute WHERE organization_id = %s AND project_id = %s "
            "AND bucket >= date_trunc('minute', %s::timestamptz) AND bucket < %s ORDER BY 1 LIMIT 1000",
            [organization_id, project_id, start, end],
        )
        return [name for (name,) in cursor.fetchall()]
