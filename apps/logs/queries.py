"""The read API of the log store (raw SQL over the partitioned table; callers pass the tenant)."""

from __future__ import annotations

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
) -> list[dict[str, Any]]:
    """Matching log records, newest first. ``q`` is a case-insensitive substring of the body text;
    ``start`` is inclusive, ``end`` exclusive; ``after`` continues below a record's ``cursor``."""
    where = ["l.organization_id = %s", "l.project_id = %s"]
    params: list[Any] = [organization_id, project_id]
    if trace_id is not None:
        where.append("l.trace_id = %s")
        params.append(trace_id)
    if q:
        where.append("l.body_text ILIKE %s")
        params.append(_like_pattern(q))
    if severity_min is not None:
        where.append("l.severity_number >= %s")
        params.append(severity_min)
    if service:
        where.append("l.service_name = %s")
        params.append(service)
    if start is not None:
        where.append("l.time >= %s")
        params.append(start)
    if end is not None:
        where.append("l.time < %s")
        params.append(end)
    if after is not None:
        where.append("(l.time, l.time_ns, l.observed_time_ns, l.record_id) < (%s, %s, %s, %s)")
        params += [after.time, after.time_ns, after.observed_time_ns, after.record_id]
    params.append(max(1, min(limit, MAX_LIMIT)))
    with connection.cursor() as cursor:
        cursor.execute(_SELECT.format(where=" AND ".join(where)), params)
        return [_record(row) for row in cursor.fetchall()]
