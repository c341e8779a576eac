"""Writing spans: one binary COPY straight into ``tracing_span``, then the rollup deltas of the spans stored.

Why this shape:
- ``COPY`` (binary) is the fastest way in (NOTES.md: ~36k rows/s per stream vs 2.2k for the ORM), and
  straight into the partitioned table it costs PostgreSQL about half of COPY into a staging table followed
  by ``INSERT ... SELECT ... ON CONFLICT`` (bench/ingest.py, docs/benchmarks.md).
- Stored once: the primary key refuses a span already stored. The COPY runs in a savepoint; when it meets
  a stored span (a retried request), the savepoint is rolled back, the spans already stored are looked up
  and left out, and the rest is copied again. Retries are rare, so the common case pays nothing for them.
- Counted once: the rollup deltas are computed here from exactly the spans stored (apps/tracing/deltas.py)
  and appended, never upserted, so writers share no rollup rows and never wait on each other's locks.
The caller owns the transaction: the receiver answers success only after it commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import msgspec
from django.db import OperationalError, connection, transaction
from psycopg.errors import UniqueViolation

from apps.core.partitions import ensure_partitions_for
from apps.otlp import binary_copy
from apps.otlp.resources import Fingerprints, upsert_resources
from apps.otlp.types import Span, SpanKind, StatusCode
from apps.otlp.values import hex_id, time_of_ns
from apps.tracing import sampling
from apps.tracing.deltas import RollupDeltas, Tenant

PARTITIONED = (
    "tracing_span", "tracing_red_minute", "tracing_red_tenmin", "tracing_red_hour", "tracing_red_sixhour",
    "tracing_edge_minute", "tracing_edge_tenmin", "tracing_edge_hour", "tracing_edge_sixhour",
)  # fmt: skip
COLUMNS = (
    "organization_id", "project_id", "start_time", "trace_id", "span_id", "parent_span_id", "start_ns", "duration_ns",
    "service_name", "name", "kind", "status_code", "status_message", "trace_state", "flags", "resource_fingerprint",
    "scope_name", "scope_version", "scope_attributes", "attributes", "events", "links", "dropped_attributes_count",
    "dropped_events_count", "dropped_links_count", "http_route", "http_status_code", "db_system", "enduser_id",
    "peer", "peer_kind",
)  # fmt: skip
# apps/otlp/binary_copy.pyx type codes, one per column above
TYPES = "qqTbbbqqtthhttqbttjjjjiiititttt"
assert len(TYPES) == len(COLUMNS)
_COPY = f"COPY tracing_span ({', '.join(COLUMNS)}) FROM STDIN (FORMAT BINARY)"
# Positions in a row, for the writer itself.
_START, _TRACE, _SPAN, _PARENT, _START_NS, _DURATION, _SERVICE, _NAME, _KIND, _STATUS, _RESOURCE, _PEER, _PEER_KIND = (
    COLUMNS.index(c)
    for c in (
        "start_time", "trace_id", "span_id", "parent_span_id", "start_ns", "duration_ns", "service_name", "name",
        "kind", "status_code", "resource_fingerprint", "peer", "peer_kind",
    )
)  # fmt: skip
# Concurrent writers of the same spans: each failed attempt means another transaction committed some of them.
_ATTEMPTS = 4

_SQL = Path(__file__).resolve().parent / "sql"
_LINK_PARENTS = (_SQL / "link_parents.sql").read_text()
_STORED = """
SELECT c.i - 1 FROM unnest(%s::bytea[], %s::bytea[], %s::timestamptz[]) WITH ORDINALITY AS c(trace_id, span_id, t, i)
WHERE EXISTS (SELECT 1 FROM tracing_span s WHERE s.organization_id = %s AND s.project_id = %s
              AND s.trace_id = c.trace_id AND s.span_id = c.span_id AND s.start_time = c.t)
"""

_US_PER_DAY = 86_400_000_000
_CACHES = frozenset({"redis", "memcached", "valkey"})
_CALLING_KINDS = frozenset({SpanKind.CLIENT, SpanKind.PRODUCER})
_encode = msgspec.json.Encoder().encode


@dataclass(frozen=True)
class WriteResult:
    received: int
    inserted: int

    @property
    def duplicates(self) -> int:
        return self.received - self.inserted


def _event(event: Any) -> dict[str, Any]:
    return {
        "time_unix_nano": event.time_ns,
        "name": event.name,
        "attributes": event.attributes,
        "dropped_attributes_count": event.dropped_attributes_count,
    }


def _link(link: Any) -> dict[str, Any]:
    return {
        "trace_id": hex_id(link.trace_id),
        "span_id": hex_id(link.span_id),
        "trace_state": link.trace_state,
        "attributes": link.attributes,
        "dropped_attributes_count": link.dropped_attributes_count,
        "flags": link.flags,
    }


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and -(2**31) <= value < 2**31 else None


def _as_text(value: Any) -> str | None:
    """An attribute as text: strings as they are, other values as JSON (like PostgreSQL's ``->>``)."""
    if value is None or isinstance(value, str):
        return value
    return _encode(value).decode()


def peer_of(kind: int, attributes: dict[str, Any], db_system: str | None) -> tuple[str | None, str | None]:
    """The dependency a client or producer span calls and its kind (database, cache, queue, external), or
    (None, None). Stored with the span: the service map counts it at ingest and GDPR erasure subtracts it."""
    if kind not in _CALLING_KINDS:
        return None, None
    if db_system is not None:
        namespace = _as_text(attributes.get("db.namespace"))
        if namespace is None:
            namespace = _as_text(attributes.get("db.name"))
        peer = db_system if namespace is None else f"{db_system}:{namespace}"
        return peer, "cache" if db_system in _CACHES else "database"
    system = _as_text(attributes.get("messaging.system"))
    if system is not None:
        destination = _as_text(attributes.get("messaging.destination.name"))
        return (system if destination is None else f"{system}:{destination}"), "queue"
    host = _as_text(attributes.get("server.address"))
    if host is None:
        host = _as_text(attributes.get("net.peer.name"))
    return (host, "external") if host is not None else (None, None)


def span_row(organization_id: int, project_id: int, span: Span, resource_fingerprint: bytes) -> tuple[Any, ...]:
    """One COPY row (``TYPES``); hot attributes are copied into their own columns (they stay in ``attributes``
    too). ``start_time`` is in Unix microseconds (``values.time_of_ns`` truncates alike); jsonb is encoded."""
    attributes = span.attributes
    scope = span.scope
    db_system = _text(attributes.get("db.system.name", attributes.get("db.system")))
    peer, peer_kind = peer_of(span.kind, attributes, db_system)
    return (
        organization_id,
        project_id,
        span.start_ns // 1000,
        span.trace_id,
        span.span_id,
        span.parent_span_id,
        span.start_ns,
        max(span.end_ns - span.start_ns, 0),
        span.resource.service_name,
        span.name,
        span.kind,
        span.status_code,
        span.status_message,
        span.trace_state,
        span.flags,
        resource_fingerprint,
        scope.name,
        scope.version,
        _encode(scope.attributes) if scope.attributes else None,
        _encode(attributes),
        _encode([_event(e) for e in span.events]) if span.events else None,
        _encode([_link(link) for link in span.links]) if span.links else None,
        span.dropped_attributes_count,
        span.dropped_events_count,
        span.dropped_links_count,
        _text(attributes.get("http.route")),
        _int(attributes.get("http.response.status_code", attributes.get("http.status_code"))),
        db_system,
        _text(attributes.get("enduser.id", attributes.get("user.id"))),
        peer,
        peer_kind,
    )


def write_spans(organization_id: int, project_id: int, spans: Sequence[Span]) -> WriteResult:
    """Store ``spans`` of one project and roll them up; call inside ``transaction.atomic()``."""
    if not spans:
        return WriteResult(0, 0)
    fingerprints = Fingerprints()
    rows: dict[tuple[bytes, bytes, int], tuple[Any, ...]] = {}
    for span in spans:  # a span repeated within the request is one span
        row = span_row(organization_id, project_id, span, fingerprints.of(span.resource))
        rows.setdefault((row[_TRACE], row[_SPAN], row[_START]), row)
    ensure_partitions_for(PARTITIONED, _days({key[2] for key in rows}))
    with connection.cursor() as cursor:
        upsert_resources(cursor, organization_id, project_id, fingerprints.resources.items(), _first_seen(rows))
        stored = _copy_new(cursor, organization_id, project_id, list(rows.values()))
        deltas = RollupDeltas()
        _roll_up(cursor, (organization_id, project_id), stored, deltas)
        deltas.write(cursor)
    result = WriteResult(received=len(spans), inserted=len(stored))
    sampling.track(organization_id, project_id, spans, result)  # tail sampling: state of the traces just written
    return result


def _time(microseconds: int) -> datetime:
    return time_of_ns(microseconds * 1000)


def _days(starts: set[int]) -> set[date]:
    return {_time(day * _US_PER_DAY).date() for day in {start // _US_PER_DAY for start in starts}}


def _first_seen(rows: dict[tuple[bytes, bytes, int], tuple[Any, ...]]) -> dict[bytes, datetime]:
    """The earliest span start per resource of the batch (dates a new resource by its data)."""
    first: dict[bytes, int] = {}
    for row in rows.values():
        fingerprint, start = row[_RESOURCE], row[_START]
        if fingerprint not in first or start < first[fingerprint]:
            first[fingerprint] = start
    return {fingerprint: _time(start) for fingerprint, start in first.items()}


def _copy_new(cursor: Any, organization_id: int, project_id: int, rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """COPY the rows not stored yet; returns them."""
    for _ in range(_ATTEMPTS):
        if not rows:
            return rows
        try:
            # in a savepoint: a refused COPY leaves the caller's transaction usable
            with transaction.atomic(), cursor.copy(_COPY) as copy:
                copy.write(binary_copy.encode(rows, TYPES, COLUMNS))
            return rows
        except UniqueViolation:
            cursor.execute(
                _STORED,
                [[r[_TRACE] for r in rows], [r[_SPAN] for r in rows], [_time(r[_START]) for r in rows], organization_id,
                 project_id],
            )  # fmt: skip
            known = {index for (index,) in cursor.fetchall()}
            rows = [row for index, row in enumerate(rows) if index not in known]
    raise OperationalError("Spans of this request are being written by concurrent requests; retry.")


def _roll_up(cursor: Any, tenant: Tenant, rows: list[tuple[Any, ...]], deltas: RollupDeltas) -> None:
    """The RED and service-map deltas of the stored ``rows``; edges whose other end is not in the batch are
    resolved against the stored spans and pending edges in one statement (link_parents.sql)."""
    if not rows:
        return
    services = {(row[_TRACE], row[_SPAN]): row[_SERVICE] for row in rows}
    orphans = []
    for row in rows:
        start_ns, duration, service = row[_START_NS], row[_DURATION], row[_SERVICE]
        is_error = row[_STATUS] == StatusCode.ERROR
        deltas.span(tenant, start_ns, service, row[_NAME], row[_KIND], duration, is_error)
        if row[_PEER] is not None:
            deltas.edge(tenant, start_ns, service, row[_PEER], row[_PEER_KIND], duration, is_error)
        parent = row[_PARENT]
        if parent is not None:
            caller = services.get((row[_TRACE], parent))
            if caller is not None:
                deltas.edge(tenant, start_ns, caller, service, "service", duration, is_error)
            else:
                orphans.append(row)
    cursor.execute(
        _LINK_PARENTS,
        {
            "org": tenant[0],
            "project": tenant[1],
            "orphan_ids": b"".join(r[_TRACE] + r[_PARENT] + r[_SPAN] for r in orphans),
            "services": [r[_SERVICE] for r in orphans],
            "starts": [r[_START_NS] for r in orphans],
            "durations": [r[_DURATION] for r in orphans],
            "errors": [r[_STATUS] == StatusCode.ERROR for r in orphans],
            "new_ids": b"".join(trace_id + span_id for trace_id, span_id in services),
        },
    )
    for stored_caller, trace_id, parent, service, start_ns, duration, is_error in cursor.fetchall():
        # no stored caller: a child that waited for a span of this batch
        caller = services[(bytes(trace_id), bytes(parent))] if stored_caller is None else stored_caller
        deltas.edge(tenant, start_ns, caller, service, "service", duration, is_error)
