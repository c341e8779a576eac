"""Tail-based trace sampling that keeps the numbers exact.

Rollups are appended from every span in the ingest transaction (writers.py), before anything here, so
sampling only ever removes raw spans, later, and request counts, error rates and percentiles stay exact.

- Ingest (``track``, one call at the end of ``write_spans``): for a project whose policy keeps less than
  everything, the per-trace aggregates of the batch (error seen, slowest span, start-time bounds) are
  upserted into ``tracing_trace_state`` in the same transaction. Acknowledged spans are committed as
  before; the decision is pending, not the data. Projects keeping everything pay one cached lookup.
- Decision (``decide_traces``, beat job every 10 s): a trace whose last span arrived more than the
  project's window ago is kept if it has an error span, a span slower than the threshold, or its id
  hashes below ``keep_share`` (the first 8 bytes of a W3C trace id are random: every process decides
  alike); otherwise its raw spans are deleted. The decision is final and covers the whole trace.
- Late spans of a dropped trace are deleted by the ingest transaction that brings them (the upsert
  returns the decision), so a trace is never split. Late spans of a kept trace are kept.
- Decided states are purged after ``STATE_TTL``; a span arriving later starts a new, undecided state.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import connection, transaction

from apps.audit.actions import Action
from apps.audit.services import Origin, record
from apps.otlp.types import Span, StatusCode
from apps.otlp.values import time_of_ns
from apps.tracing.models import SamplingPolicy

if TYPE_CHECKING:
    from apps.tracing.writers import WriteResult

STATE_TTL = timedelta(days=1)
DECISION_BATCH = 1000
MAX_BATCHES_PER_RUN = 50
# Spans of a trace that started before the project began sampling have no state; deleting a dropped
# trace looks this far around the tracked spans' start times.
_DELETE_MARGIN = timedelta(hours=1)
_HASH_SPACE = 2**64

# --- The rule ---------------------------------------------------------------------------------------------------------


def keeps_by_hash(trace_id: bytes, keep_share: float) -> bool:
    """The trace is in the kept share: its first 8 bytes, as an unsigned integer, below ``keep_share`` · 2⁶⁴."""
    return int.from_bytes(trace_id[:8], "big") < keep_share * _HASH_SPACE


def keeps(trace_id: bytes, has_error: bool, max_duration_ns: int, keep_share: float, slow_threshold_ms: int) -> bool:
    return has_error or max_duration_ns > slow_threshold_ms * 1_000_000 or keeps_by_hash(trace_id, keep_share)


# --- Ingest -----------------------------------------------------------------------------------------------------------

# project id -> (expires at, the project samples); per process, like the ingest key and scrubber caches.
_samples: dict[int, tuple[float, bool]] = {}


def samples(organization_id: int, project_id: int) -> bool:
    """The project keeps less than every trace (re-read after VIGIL_INGEST_KEY_CACHE_SECONDS)."""
    found = _samples.get(project_id)
    if found is None or found[0] < time.monotonic():
        share = (
            SamplingPolicy.objects.for_organization(organization_id)
            .filter(project_id=project_id)
            .values_list("keep_share", flat=True)
            .first()
        )
        found = (time.monotonic() + settings.VIGIL_INGEST_KEY_CACHE_SECONDS, share is not None and share < 1.0)
        _samples[project_id] = found
    return found[1]


def forget_policies() -> None:
    """Drop this process's policy cache (after a change here; other processes re-read within the TTL)."""
    _samples.clear()


_UPSERT = """
WITH up AS (
    INSERT INTO tracing_trace_state AS s (organization_id, project_id, trace_id, first_seen, last_seen, has_error,
                                         max_duration_ns, min_start, max_start)
    SELECT %s, %s, t.trace_id, now(), now(), t.has_error, t.max_duration_ns, t.min_start, t.max_start
    FROM unnest(%s::bytea[], %s::boolean[], %s::bigint[], %s::timestamptz[], %s::timestamptz[])
         AS t(trace_id, has_error, max_duration_ns, min_start, max_start)
    ORDER BY t.trace_id
    ON CONFLICT (organization_id, project_id, trace_id) DO UPDATE SET
        last_seen = excluded.last_seen,
        has_error = s.has_error OR excluded.has_error,
        max_duration_ns = greatest(s.max_duration_ns, excluded.max_duration_ns),
        min_start = least(s.min_start, excluded.min_start),
        max_start = greatest(s.max_start, excluded.max_start)
    RETURNING s.trace_id, s.decided
)
SELECT trace_id FROM up WHERE decided = 'drop'
"""

_DELETE_LATE = """
DELETE FROM tracing_span
WHERE organization_id = %s AND project_id = %s AND trace_id = ANY(%s::bytea[]) AND start_time BETWEEN %s AND %s
"""


def track(organization_id: int, project_id: int, spans: Sequence[Span], result: WriteResult) -> None:
    """Record the batch's traces for the decision job; delete spans of traces already dropped.

    Runs in the ingest transaction right after the spans (and their rollups) are written. A batch of
    spans all stored before (a retry) changes nothing and is skipped.
    """
    if not result.inserted or not samples(organization_id, project_id):
        return
    traces: dict[bytes, list[Any]] = {}
    for span in spans:
        duration = max(span.end_ns - span.start_ns, 0)
        start = time_of_ns(span.start_ns)  # as the span's start_time is stored
        error = span.status_code == StatusCode.ERROR
        found = traces.get(span.trace_id)
        if found is None:
            traces[span.trace_id] = [error, duration, start, start]
        else:
            found[0] = found[0] or error
            found[1] = max(found[1], duration)
            found[2] = min(found[2], start)
            found[3] = max(found[3], start)
    ordered = sorted(traces.items())  # one lock order for every writer: no deadlocks between batches
    columns = list(zip(*((trace_id, *values) for trace_id, values in ordered), strict=True))
    with connection.cursor() as cursor:
        cursor.execute(_UPSERT, [organization_id, project_id, *(list(column) for column in columns)])
        dropped = [bytes(trace_id) for (trace_id,) in cursor.fetchall()]
        if dropped:  # late spans of a trace decided "drop": the trace stays whole, i.e. absent
            low = min(traces[t][2] for t in dropped) - timedelta(seconds=1)
            high = max(traces[t][3] for t in dropped) + timedelta(seconds=1)
            cursor.execute(_DELETE_LATE, [organization_id, project_id, dropped, low, high])


# --- The decision job -------------------------------------------------------------------------------------------------

_DUE = """
SELECT s.organization_id, s.project_id, s.trace_id, s.has_error, s.max_duration_ns, s.min_start, s.max_start,
       coalesce(p.keep_share, 1.0), coalesce(p.slow_threshold_ms, 0)
FROM tracing_trace_state s
LEFT JOIN tracing_samplingpolicy p ON p.organization_id = s.organization_id AND p.project_id = s.project_id
WHERE s.decided IS NULL AND s.last_seen <= now() - make_interval(secs => coalesce(p.decision_window_seconds, 0))
ORDER BY s.last_seen
LIMIT %s
FOR UPDATE OF s SKIP LOCKED
"""

_MARK = """
UPDATE tracing_trace_state s SET decided = d.decided, decided_at = now()
FROM unnest(%s::bigint[], %s::bigint[], %s::bytea[], %s::text[]) AS d(organization_id, project_id, trace_id, decided)
WHERE s.organization_id = d.organization_id AND s.project_id = d.project_id AND s.trace_id = d.trace_id
"""

_DELETE_DROPPED = """
DELETE FROM tracing_span t
USING unnest(%s::bigint[], %s::bigint[], %s::bytea[]) AS d(organization_id, project_id, trace_id)
WHERE t.organization_id = d.organization_id AND t.project_id = d.project_id AND t.trace_id = d.trace_id
  AND t.start_time BETWEEN %s AND %s
"""

_PURGE = """
DELETE FROM tracing_trace_state WHERE (organization_id, project_id, trace_id) IN (
    SELECT organization_id, project_id, trace_id FROM tracing_trace_state
    WHERE decided IS NOT NULL AND last_seen < now() - make_interval(secs => %s) LIMIT %s)
"""


@dataclass
class Decisions:
    kept: int = 0
    dropped: int = 0
    spans_deleted: int = 0
    states_purged: int = 0


def _decide_batch(cursor: Any, stats: Decisions) -> int:
    """Decide up to DECISION_BATCH due traces in the caller's transaction; returns how many."""
    cursor.execute(_DUE, [DECISION_BATCH])
    rows = cursor.fetchall()
    if not rows:
        return 0
    marks: list[tuple[int, int, bytes, str]] = []
    dropped: list[tuple[int, int, bytes, datetime, datetime]] = []
    for organization_id, project_id, raw_id, error, longest, low, high, share, threshold in rows:
        trace_id = bytes(raw_id)
        kept = keeps(trace_id, error, longest, share, threshold)
        marks.append((organization_id, project_id, trace_id, "keep" if kept else "drop"))
        if not kept:
            dropped.append((organization_id, project_id, trace_id, low, high))
    cursor.execute(_MARK, [list(column) for column in zip(*marks, strict=True)])
    if dropped:
        low = min(d[3] for d in dropped) - _DELETE_MARGIN
        high = max(d[4] for d in dropped) + _DELETE_MARGIN
        keys = [list(column) for column in zip(*(d[:3] for d in dropped), strict=True)]
        cursor.execute(_DELETE_DROPPED, [*keys, low, high])
        stats.spans_deleted += cursor.rowcount
    stats.dropped += len(dropped)
    stats.kept += len(rows) - len(dropped)
    return len(rows)


def decide_traces() -> Decisions:
    """Decide every trace past its project's window (bounded batches, each its own transaction), then purge
    decided states older than STATE_TTL. Across tenants by design: every statement keys rows by their tenant."""
    stats = Decisions()
    for _ in range(MAX_BATCHES_PER_RUN):
        with transaction.atomic(), connection.cursor() as cursor:
            if _decide_batch(cursor, stats) < DECISION_BATCH:
                break
    for _ in range(MAX_BATCHES_PER_RUN):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(_PURGE, [STATE_TTL.total_seconds(), DECISION_BATCH * 10])
            stats.states_purged += cursor.rowcount
            if cursor.rowcount < DECISION_BATCH * 10:
                break
    return stats


# --- Policy and the trace list's note --------------------------------------------------------------------------------

POLICY_FIELDS = ("keep_share", "slow_threshold_ms", "decision_window_seconds")


def policy_of(organization_id: int, project_id: int) -> SamplingPolicy:
    """The project's policy; an unsaved default (keep everything) when it has none."""
    found = SamplingPolicy.objects.for_organization(organization_id).filter(project_id=project_id).first()
    return found or SamplingPolicy(organization_id=organization_id, project_id=project_id)


def policy_values(policy: SamplingPolicy) -> dict[str, Any]:
    return {name: getattr(policy, name) for name in POLICY_FIELDS}


@transaction.atomic
def set_policy(
    organization_id: int, project_id: int, actor: Any, *, origin: Origin | None = None, **values: Any
) -> SamplingPolicy:
    """Create or change the project's policy (fields not given keep their value); audited with before/after."""
    unknown = set(values) - set(POLICY_FIELDS)
    if unknown:
        raise TypeError(f"unknown sampling fields: {sorted(unknown)}")
    policy = (
        SamplingPolicy.objects.for_organization(organization_id)
        .select_for_update()
        .filter(project_id=project_id)
        .first()
    ) or SamplingPolicy(organization_id=organization_id, project_id=project_id)
    before = policy_values(policy)
    for name, value in values.items():
        setattr(policy, name, value)
    policy.save()
    record(
        organization_id,
        Action.SAMPLING_POLICY_CHANGED,
        actor=actor,
        target=policy,
        before=before,
        after=policy_values(policy),
        origin=origin,
    )
    forget_policies()
    return policy


def sampling_note(organization_id: int, project_id: int) -> dict[str, Any] | None:
    """What the trace list says about sampling: None when every trace is kept."""
    policy = policy_of(organization_id, project_id)
    if policy.keep_share >= 1.0:
        return None
    return {
        "keep_share": policy.keep_share,
        "slow_threshold_ms": policy.slow_threshold_ms,
        "decision_window_seconds": policy.decision_window_seconds,
        "note": "Traces with an error or a slow span are all kept, other traces in this share; "
        "request counts, error rates and percentiles count every span.",
    }
