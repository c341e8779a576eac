"""Recording exceptions at ingest: occurrences appended, new issues created, resolved issues reopened.

Called by the ingest pipeline in the same transaction as the spans and logs, after PII scrubbing. Errors
are a few per cent of the records, so plain INSERTs with the rows as one JSON document are enough here
(psycopg dumps ``bytea[]`` element by element in Python; ids travel as hex instead).
- Occurrences: ``ON CONFLICT DO NOTHING`` on their key, so a retried request counts nothing twice; the rollups
  of the issues list count exactly the rows inserted (same statement).
- Issues: inserted once per fingerprint (``ON CONFLICT DO NOTHING``: no lock on an existing issue, so
  concurrent writers of a frequent error never queue on its row); later sightings are read from the
  occurrences, not written to the issue.
- Reopening: a resolved issue with an occurrence after its ``resolved_at`` becomes unresolved, with an
  audit entry; only resolved issues are touched, so the usual batch updates nothing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import msgspec

from apps.audit.actions import Action
from apps.audit.services import record
from apps.core.partitions import ensure_partitions_for
from apps.core.prepared import execute_prepared
from apps.errors import fingerprint
from apps.errors.models import ErrorGroup
from apps.otlp.types import LogRecord, Span
from apps.otlp.values import time_of_ns

ERROR_SEVERITY = 17  # OTLP SeverityNumber ERROR and above
_MAX_STACKTRACE = 8000
_encode = msgspec.json.Encoder().encode
_ZERO_TRACE = "0" * 32

# The new occurrences (a retried one is neither stored nor counted again) and, in the same statement, their counts
# in the rollups the issues list reads (sql/0002_issue_rollups.sql). Upserts in key order and in this order of tables
# (erasure locks in the same), so concurrent writers of one issue queue on its rows instead of deadlocking.
_INSERT_OCCURRENCES = """
WITH ins AS (
    INSERT INTO errors_occurrence (organization_id, project_id, time, fingerprint, trace_id, span_id, seq,
                                   service_name, operation, enduser_id, source)
    SELECT %(org)s, %(project)s, timestamptz 'epoch' + (r.t / 1000) * interval '1 microsecond', r.f,
           decode(r.tr, 'hex'), decode(r.sp, 'hex'), r.q, r.s, r.o, r.u, r.k
    FROM jsonb_to_recordset(%(rows)s::jsonb) AS r(t bigint, f text, tr text, sp text, q integer, s text, o text,
                                                  u text, k smallint)
    ORDER BY 2, 5, 6, 7
    ON CONFLICT DO NOTHING
    RETURNING time, fingerprint, service_name, enduser_id
), minute AS (
    INSERT INTO errors_issue_minute AS r (organization_id, project_id, bucket, fingerprint, occurrences, last_seen)
    SELECT %(org)s, %(project)s, date_trunc('minute', time), fingerprint, count(*), max(time)
    FROM ins GROUP BY 3, 4 ORDER BY 3, 4
    ON CONFLICT (organization_id, project_id, bucket, fingerprint) DO UPDATE SET
        occurrences = r.occurrences + excluded.occurrences, last_seen = greatest(r.last_seen, excluded.last_seen)
), tenmin AS (
    INSERT INTO errors_issue_tenmin AS r (organization_id, project_id, bucket, fingerprint, occurrences, last_seen)
    SELECT %(org)s, %(project)s, date_bin('10 minutes', time, timestamptz 'epoch'), fingerprint, count(*), max(time)
    FROM ins GROUP BY 3, 4 ORDER BY 3, 4
    ON CONFLICT (organization_id, project_id, bucket, fingerprint) DO UPDATE SET
        occurrences = r.occurrences + excluded.occurrences, last_seen = greatest(r.last_seen, excluded.last_seen)
), hour AS (
    INSERT INTO errors_issue_hour AS r (organization_id, project_id, bucket, fingerprint, occurrences, last_seen)
    SELECT %(org)s, %(project)s, date_trunc('hour', time), fingerprint, count(*), max(time)
    FROM ins GROUP BY 3, 4 ORDER BY 3, 4
    ON CONFLICT (organization_id, project_id, bucket, fingerprint) DO UPDATE SET
        occurrences = r.occurrences + excluded.occurrences, last_seen = greatest(r.last_seen, excluded.last_seen)
), services AS (
    INSERT INTO errors_issue_service_day AS r (organization_id, project_id, bucket, fingerprint, service_name,
                                               first_seen, last_seen)
    SELECT %(org)s, %(project)s, date_trunc('day', time), fingerprint, service_name, min(time), max(time)
    FROM ins GROUP BY 3, 4, 5 ORDER BY 3, 4, 5
    ON CONFLICT (organization_id, project_id, bucket, fingerprint, service_name) DO UPDATE SET
        first_seen = least(r.first_seen, excluded.first_seen), last_seen = greatest(r.last_seen, excluded.last_seen)
), users AS (
    INSERT INTO errors_issue_user_day AS r (organization_id, project_id, bucket, fingerprint, enduser_id,
                                            first_seen, last_seen)
    SELECT %(org)s, %(project)s, date_trunc('day', time), fingerprint, enduser_id, min(time), max(time)
    FROM ins WHERE enduser_id IS NOT NULL GROUP BY 3, 4, 5 ORDER BY 3, 4, 5
    ON CONFLICT (organization_id, project_id, bucket, fingerprint, enduser_id) DO UPDATE SET
        first_seen = least(r.first_seen, excluded.first_seen), last_seen = greatest(r.last_seen, excluded.last_seen)
)
SELECT count(*) FROM ins
"""
ROLLUPS = (
    "errors_issue_minute", "errors_issue_tenmin", "errors_issue_hour", "errors_issue_service_day",
    "errors_issue_user_day",
)  # fmt: skip
_INSERT_GROUPS = """
INSERT INTO errors_errorgroup (organization_id, project_id, fingerprint, exception_type, message, frame,
                               sample_message, sample_stacktrace, sample_trace_id, first_seen, status)
SELECT %(org)s, %(project)s, g.f, g.ty, g.m, g.fr, g.sm, g.st, g.tr,
       timestamptz 'epoch' + (g.t / 1000) * interval '1 microsecond', 'unresolved'
FROM jsonb_to_recordset(%(groups)s::jsonb) AS g(f text, ty text, m text, fr text, sm text, st text, tr text, t bigint)
ORDER BY g.f
ON CONFLICT (organization_id, project_id, fingerprint) DO NOTHING
"""
_REOPEN = """
UPDATE errors_errorgroup e SET status = 'unresolved', resolved_at = NULL, status_changed_at = now()
FROM jsonb_to_recordset(%(latest)s::jsonb) AS l(f text, t bigint)
WHERE e.organization_id = %(org)s AND e.project_id = %(project)s AND e.fingerprint = l.f AND e.status = 'resolved'
  AND e.resolved_at < timestamptz 'epoch' + (l.t / 1000) * interval '1 microsecond'
RETURNING e.id, e.fingerprint, e.exception_type, e.message
"""


@dataclass
class _Seen:
    grouping: fingerprint.Grouping
    message: str
    stacktrace: str
    trace_id: str
    first_ns: int
    last_ns: int


def _text(value: Any) -> str:
    return value if isinstance(value, str) else "" if value is None else str(value)


def _key_of_log(log: LogRecord) -> str:
    """A log record has no span of its own: 8 bytes of its content stand in for the span id (equal on a retry)."""
    content = f"{log.time_ns}\x00{log.observed_time_ns}\x00{_text(log.body)}\x00{log.resource.service_name}"
    return hashlib.blake2b(content.encode("utf-8", "surrogatepass"), digest_size=8).hexdigest()


def _exceptions(spans: Sequence[Span], logs: Sequence[LogRecord]) -> list[tuple[dict[str, Any], str, str, str]]:
    """(occurrence row, type, message, stacktrace) of every exception in the batch."""
    found = []
    for span in spans:
        events = span.events
        if not events:  # most spans: no enumerate() made for them
            continue
        for seq, event in enumerate(events):
            if event.name != "exception":
                continue
            a = event.attributes
            kind, message = _text(a.get("exception.type")), _text(a.get("exception.message"))
            if not kind and not message:
                continue
            row = {"t": event.time_ns or span.start_ns, "tr": span.trace_id.hex(), "sp": span.span_id.hex(), "q": seq,
                   "s": span.resource.service_name, "o": span.name, "k": 1,
                   "u": _text(span.attributes.get("enduser.id", span.attributes.get("user.id"))) or None}  # fmt: skip
            found.append((row, kind, message, _text(a.get("exception.stacktrace"))))
    for log in logs:
        if log.severity_number < ERROR_SEVERITY:
            continue
        a = log.attributes
        kind = _text(a.get("exception.type")) or log.severity_text or "ERROR"
        message = _text(a.get("exception.message")) or _text(log.body)
        row = {"t": log.time_ns or log.observed_time_ns, "tr": log.trace_id.hex() if log.trace_id else _ZERO_TRACE,
               "sp": _key_of_log(log), "q": 0, "s": log.resource.service_name, "o": log.event_name or "log", "k": 2,
               "u": _text(a.get("enduser.id", a.get("user.id"))) or None}  # fmt: skip
        found.append((row, kind, message, _text(a.get("exception.stacktrace"))))
    return found


def record_errors(organization_id: int, project_id: int, spans: Sequence[Span], logs: Sequence[LogRecord]) -> int:
    """Store the batch's exceptions; returns how many occurrences the batch holds (stored or already there)."""
    found = _exceptions(spans, logs)
    if not found:
        return 0
    seen: dict[str, _Seen] = {}
    rows = []
    for row, kind, message, stacktrace in found:
        grouping = fingerprint.group(kind, message, stacktrace)
        row["f"] = grouping.fingerprint
        rows.append(row)
        known = seen.get(grouping.fingerprint)
        if known is None:
            seen[grouping.fingerprint] = _Seen(grouping, message[:2000], stacktrace[:_MAX_STACKTRACE], row["tr"],
                                               row["t"], row["t"])  # fmt: skip
        else:
            known.first_ns, known.last_ns = min(known.first_ns, row["t"]), max(known.last_ns, row["t"])
    ensure_partitions_for(("errors_occurrence", *ROLLUPS), {time_of_ns(row["t"]).date() for row in rows})
    groups = [
        {"f": f, "ty": s.grouping.exception_type, "m": s.grouping.message, "fr": s.grouping.frame, "sm": s.message,
         "st": s.stacktrace, "tr": s.trace_id, "t": s.first_ns}
        for f, s in seen.items()
    ]  # fmt: skip
    tenant = {"org": organization_id, "project": project_id}
    execute_prepared(_INSERT_GROUPS, {**tenant, "groups": _encode(groups).decode()})
    execute_prepared(_INSERT_OCCURRENCES, {**tenant, "rows": _encode(rows).decode()})
    latest = [{"f": f, "t": s.last_ns} for f, s in seen.items()]
    reopened = execute_prepared(_REOPEN, {**tenant, "latest": _encode(latest).decode()})
    for group_id, group_fingerprint, kind, message in reopened:
        issue = ErrorGroup(pk=group_id, organization_id=organization_id, project_id=project_id,
                           fingerprint=group_fingerprint, exception_type=kind, message=message)  # fmt: skip
        record(organization_id, Action.ERROR_REOPENED, actor_label="ingest (the error occurred again)", target=issue,
               before={"status": "resolved"}, after={"status": "unresolved"})  # fmt: skip
    return len(rows)
