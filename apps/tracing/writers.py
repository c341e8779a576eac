"""Writing spans: one binary COPY straight into ``tracing_span``, then the rollup deltas of the spans stored.

Why this shape:
- ``COPY`` (binary) is the fastest way in (NOTES.md: ~36k rows/s per stream vs 2.2k for the ORM), and
  straight into the partitioned table it costs PostgreSQL about half of COPY into a staging table followed
  by ``INSERT ... SELECT ... ON CONFLICT`` (bench/ingest.py, docs/benchmarks.md).
- Stored once: the primary key refuses a span already stored. The COPY runs in a savepoint; when it meets
  a stored span (a retried request), the savepoint is rolled back, the spans already stored are looked up
  and left out, and the rest is copied again. The ingest pipeline, whose requests are nearly never retries,
  writes ``optimistic``: no savepoint (two round trips and ~2 µs of CPU per span saved), and a stored span
  aborts its transaction with ``StoredBefore``, after which it writes the request again the careful way.
- Counted once: the rollup deltas are computed here from exactly the spans stored (apps/tracing/deltas.py)
  and appended, never upserted, so writers share no rollup rows and never wait on each other's locks.
The caller owns the transaction: the receiver answers success only after it commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.db import OperationalError, connection, transaction
from psycopg.errors import UniqueViolation

from apps.core.partitions import ensure_partitions_for
from apps.core.prepared import execute_prepared
from apps.otlp.resources import Fingerprints, upsert_resources
from apps.otlp.types import Span
from apps.otlp.values import time_of_ns
from apps.tracing import sampling
from apps.tracing.deltas import RollupDeltas, Tenant
from apps.tracing.span_batch import COLUMNS, SpanBatch

__all__ = ["COLUMNS", "PARTITIONED", "StoredBefore", "WriteResult", "write_spans"]

PARTITIONED = (
    "tracing_span", "tracing_red_minute", "tracing_red_tenmin", "tracing_red_hour", "tracing_red_sixhour",
    "tracing_edge_minute", "tracing_edge_tenmin", "tracing_edge_hour", "tracing_edge_sixhour",
)  # fmt: skip
_COPY = f"COPY tracing_span ({', '.join(COLUMNS)}) FROM STDIN (FORMAT BINARY)"
# Concurrent writers of the same spans: each failed attempt means another transaction committed some of them.
_ATTEMPTS = 4

_SQL = Path(__file__).resolve().parent / "sql"
_LINK_PARENTS = (_SQL / "link_parents.sql").read_text()
_STORED = """
SELECT c.i - 1 FROM unnest(%s::bytea[], %s::bytea[], %s::timestamptz[]) WITH ORDINALITY AS c(trace_id, span_id, t, i)
WHERE EXISTS (SELECT 1 FROM tracing_span s WHERE s.organization_id = %s AND s.project_id = %s
              AND s.trace_id = c.trace_id AND s.span_id = c.span_id AND s.start_time = c.t)
"""

_NS_PER_DAY = 86_400 * 10**9


class StoredBefore(Exception):
    """An optimistic write met spans stored before; its transaction is aborted: write again, not optimistic."""


@dataclass(frozen=True)
class WriteResult:
    received: int
    inserted: int

    @property
    def duplicates(self) -> int:
        return self.received - self.inserted


def write_spans(
    organization_id: int, project_id: int, spans: Sequence[Span], *, optimistic: bool = False
) -> WriteResult:
    """Store ``spans`` of one project and roll them up; call inside ``transaction.atomic()``.

    ``optimistic``: copy without a savepoint; if a span is stored already, raise ``StoredBefore`` and leave the
    caller's transaction aborted (the caller rolls it back and writes again without ``optimistic``)."""
    if not spans:
        return WriteResult(0, 0)
    fingerprints = Fingerprints()
    batch = SpanBatch(organization_id, project_id, spans, fingerprints.of)
    ensure_partitions_for(PARTITIONED, {time_of_ns(day * _NS_PER_DAY).date() for day in batch.days})
    first_seen = {fingerprint: time_of_ns(start * 1000) for fingerprint, start in batch.first_seen.items()}
    with connection.cursor() as cursor:
        upsert_resources(cursor, organization_id, project_id, fingerprints.resources.items(), first_seen)
        stored = _copy_new(cursor, organization_id, project_id, batch, fingerprints, optimistic=optimistic)
        deltas = RollupDeltas(stored.red, stored.edges)
        _link_parents((organization_id, project_id), stored, deltas)
        deltas.write(cursor)
    result = WriteResult(received=len(spans), inserted=len(stored))
    sampling.track(organization_id, project_id, spans, result)  # tail sampling: state of the traces just written
    return result


def _copy_new(
    cursor: Any, organization_id: int, project_id: int, batch: SpanBatch, fingerprints: Fingerprints, *,
    optimistic: bool,
) -> SpanBatch:  # fmt: skip
    """COPY the rows of ``batch`` not stored yet; returns the batch of those."""
    if optimistic:
        try:
            _copy(cursor, batch)
        except UniqueViolation as exc:
            raise StoredBefore("some spans of this batch are stored already") from exc
        return batch
    for _ in range(_ATTEMPTS):
        if not batch:
            return batch
        try:
            with transaction.atomic():  # a savepoint: a refused COPY leaves the caller's transaction usable
                _copy(cursor, batch)
            return batch
        except UniqueViolation:
            spans = batch.spans
            cursor.execute(
                _STORED,
                [[s.trace_id for s in spans], [s.span_id for s in spans], [time_of_ns(s.start_ns) for s in spans],
                 organization_id, project_id],
            )  # fmt: skip
            known = {index for (index,) in cursor.fetchall()}
            new = [span for index, span in enumerate(spans) if index not in known]
            batch = SpanBatch(organization_id, project_id, new, fingerprints.of)
    raise OperationalError("Spans of this request are being written by concurrent requests; retry.")


def _copy(cursor: Any, batch: SpanBatch) -> None:
    with cursor.copy(_COPY) as copy:
        copy.write(batch.copy)


def _link_parents(tenant: Tenant, batch: SpanBatch, deltas: RollupDeltas) -> None:
    """The service-map edges whose other end is not in the batch, resolved against the stored spans and pending
    edges in one statement (link_parents.sql)."""
    if not batch:
        return
    orphans = batch.orphans
    found = execute_prepared(
        _LINK_PARENTS,
        {
            "org": tenant[0],
            "project": tenant[1],
            "orphan_ids": b"".join(trace_id + parent + span_id for trace_id, parent, span_id, *_ in orphans),
            "services": [orphan[3] for orphan in orphans],
            "starts": [orphan[4] for orphan in orphans],
            "durations": [orphan[5] for orphan in orphans],
            "errors": [orphan[6] for orphan in orphans],
            "new_ids": batch.ids,
        },
    )
    for stored_caller, trace_id, parent, service, start_ns, duration, is_error in found:
        # no stored caller: a child that waited for a span of this batch
        caller = batch.service_of(bytes(trace_id), bytes(parent)) if stored_caller is None else stored_caller
        deltas.edge(tenant, start_ns, caller, service, "service", duration, is_error)
