"""Writing log records: COPY into a staging table, then one statement inserts the new records and
counts exactly those in the per-minute rollup.

- ``record_id`` is a 16-byte blake2b of the record's content (ids, times, severity, body, attributes,
  resource and scope), so a retried request hits ``ON CONFLICT DO NOTHING`` and the rollup, fed from
  ``RETURNING``, counts each record once.
- Rollup rows are upserted in key order, so concurrent writers cannot deadlock.
- A record with neither a time nor an observed time (valid OTLP, never sent by the SDKs) is filed
  under the time it arrived; its ``record_id`` still holds both zeros, but a retry arriving on
  another day would land in another partition and be stored again.
The caller owns the transaction: the receiver answers success only after it commits.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
from django.db import connection

from apps.core.partitions import ensure_partitions_for
from apps.otlp.jsonb import jsonb
from apps.otlp.resources import Fingerprints, upsert_resources
from apps.otlp.staging import clear_stage, stage_rows
from apps.otlp.types import LogRecord

STAGE = "_vigil_log_stage"
PARTITIONED = ("logs_record", "logs_count_minute")
COLUMNS = (
    "organization_id", "project_id", "time", "record_id", "time_ns", "observed_time_ns", "flags", "severity_number",
    "dropped_attributes_count", "trace_id", "span_id", "resource_fingerprint", "service_name", "severity_text",
    "event_name", "scope_name", "scope_version", "scope_attributes", "body", "body_lower", "attributes",
)  # fmt: skip
_TYPES = (
    "int8", "int8", "timestamptz", "bytea", "int8", "int8", "int8", "int2", "int4", "bytea", "bytea", "bytea", "text",
    "text", "text", "text", "text", "jsonb", "jsonb", "text", "jsonb",
)  # fmt: skip
# The staged body text is lowered by PostgreSQL's lower(), the function its ILIKE applies (apps/logs/queries.py).
_INSERT_AND_COUNT = (
    (Path(__file__).resolve().parent / "sql" / "insert_logs.sql")
    .read_text()
    .format(
        stage=STAGE,
        columns=", ".join(COLUMNS),
        values=", ".join("lower(body_lower)" if name == "body_lower" else name for name in COLUMNS),
    )
)

_encode = msgspec.json.Encoder(order="sorted")


@dataclass(frozen=True)
class WriteResult:
    received: int
    inserted: int

    @property
    def duplicates(self) -> int:
        return self.received - self.inserted


def record_id(record: LogRecord, resource_fingerprint: bytes) -> bytes:
    """The record's identity: equal content (a retry) gives the same id."""
    scope = record.scope
    payload = _encode.encode(
        [
            record.trace_id,
            record.span_id,
            record.time_ns,
            record.observed_time_ns,
            record.severity_number,
            record.severity_text,
            record.event_name,
            record.flags,
            record.body,
            record.attributes,
            resource_fingerprint,
            scope.name,
            scope.version,
            scope.attributes,
        ]
    )
    return hashlib.blake2b(payload, digest_size=16).digest()


def body_text(body: Any) -> str | None:
    """The text ``q`` searches (stored lower-cased): a string body itself, any other body as JSON."""
    if body is None:
        return None
    if isinstance(body, str):
        return body
    return _encode.encode(body).decode()


def log_row(
    organization_id: int, project_id: int, record: LogRecord, resource_fingerprint: bytes, arrived_ns: int
) -> tuple[Any, ...]:
    effective_ns = record.time_ns or record.observed_time_ns or arrived_ns
    scope = record.scope
    body = record.body
    return (
        organization_id,
        project_id,
        datetime.fromtimestamp(effective_ns / 1e9, tz=UTC),
        record_id(record, resource_fingerprint),
        record.time_ns,
        record.observed_time_ns,
        record.flags,
        record.severity_number,
        record.dropped_attributes_count,
        record.trace_id,
        record.span_id,
        resource_fingerprint,
        record.resource.service_name,
        record.severity_text,
        record.event_name,
        scope.name,
        scope.version,
        jsonb(scope.attributes) if scope.attributes else None,
        jsonb(body) if body is not None else None,
        body_text(body),
        jsonb(record.attributes),
    )


def write_logs(organization_id: int, project_id: int, logs: Sequence[LogRecord]) -> WriteResult:
    """Store ``logs`` of one project and count them per minute; call inside ``transaction.atomic()``."""
    if not logs:
        return WriteResult(0, 0)
    fingerprints = Fingerprints()
    arrived_ns = time.time_ns()
    rows = [log_row(organization_id, project_id, r, fingerprints.of(r.resource), arrived_ns) for r in logs]
    ensure_partitions_for(PARTITIONED, {row[2].date() for row in rows})
    with connection.cursor() as cursor:
        upsert_resources(cursor, organization_id, project_id, fingerprints.resources.items())
        stage_rows(cursor, stage=STAGE, like="logs_record", columns=COLUMNS, types=_TYPES, rows=rows)
        cursor.execute(_INSERT_AND_COUNT)
        inserted = cursor.fetchone()[0]
        clear_stage(cursor, STAGE)
    return WriteResult(received=len(rows), inserted=inserted)
