"""GDPR: the spans of one end user (an attribute key and value), read for export and deleted with the
rollups corrected. apps/privacy calls these per project; see docs/architecture.md "GDPR deletion and rollups".

Matching is on the span's own attributes (``attributes ->> key = value``, so the integer 42 matches "42");
``enduser.id`` also uses the promoted, indexed ``enduser_id`` column. Resource, event and link attributes
are not searched: resources are shared by every user of a service.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from django.db import connection

from apps.tracing.histogram import HIST_INDEX_SQL
from apps.tracing.queries import span_json
from apps.tracing.rollups import fold_all_deltas

_SQL = Path(__file__).resolve().parent / "sql"
_RED = "_vigil_erased_red"
_EDGE = "_vigil_erased_edge"
_START = datetime(1, 1, 1, tzinfo=UTC)

_EXPORT = """
SELECT s.trace_id, s.span_id, s.parent_span_id, s.name, s.service_name, s.kind, s.start_ns, s.duration_ns,
       s.status_code, s.status_message, s.trace_state, s.flags, s.attributes, s.events, s.links,
       s.scope_name, s.scope_version, s.scope_attributes, s.dropped_attributes_count, s.dropped_events_count,
       s.dropped_links_count, r.attributes, s.start_time
FROM tracing_span s
JOIN otlp_resource r ON r.organization_id = s.organization_id AND r.project_id = s.project_id
                    AND r.fingerprint = s.resource_fingerprint
WHERE s.organization_id = %(org)s AND s.project_id = %(project)s AND {match}
  AND (s.start_time, s.trace_id, s.span_id) > (%(time)s, %(trace)s, %(span)s)
ORDER BY s.start_time, s.trace_id, s.span_id
LIMIT %(limit)s
"""


def match_sql(key: str) -> str:
    """The condition on ``tracing_span s`` for ``%(key)s`` = ``%(value)s``."""
    if key == "enduser.id":
        # enduser_id holds enduser.id (or user.id when there is no enduser.id): the index narrows, the
        # attribute decides.
        return "s.enduser_id = %(value)s AND s.attributes ->> %(key)s = %(value)s"
    return "s.attributes ->> %(key)s = %(value)s"


def count_spans(organization_id: int, project_id: int, key: str, value: str) -> int:
    sql = f"SELECT count(*) FROM tracing_span s WHERE s.organization_id = %(org)s AND s.project_id = %(project)s AND {match_sql(key)}"  # noqa: S608, E501
    with connection.cursor() as cursor:
        cursor.execute(sql, {"org": organization_id, "project": project_id, "key": key, "value": value})
        return int(cursor.fetchone()[0])


def iter_spans(
    organization_id: int, project_id: int, key: str, value: str, *, page: int = 1000
) -> Iterator[dict[str, Any]]:
    """The matching spans in the read API's shape, oldest first, read in pages (keyset, no long snapshot)."""
    sql = _EXPORT.format(match=match_sql(key))
    params: dict[str, Any] = {"org": organization_id, "project": project_id, "key": key, "value": value}
    after: tuple[Any, ...] = (_START, b"", b"")
    while True:
        with connection.cursor() as cursor:
            cursor.execute(sql, {**params, "time": after[0], "trace": after[1], "span": after[2], "limit": page})
            rows = cursor.fetchall()
        for row in rows:
            yield span_json(row[:22])
        if len(rows) < page:
            return
        last = rows[-1]
        after = (last[22], bytes(last[0]), bytes(last[1]))


_ERASE = (_SQL / "erase_spans.sql").read_text()
_CORRECT = (_SQL / "correct_rollups.sql").read_text()
_FAMILIES = (
    (_RED, "tracing_red", ("service_name", "operation", "span_kind"), "request_count"),
    (_EDGE, "tracing_edge", ("source_service", "target", "target_kind"), "call_count"),
)
# The rollup tables' buckets (apps/tracing/sql/compact_rollups.sql), as expressions of a span's start_time.
_LEVELS = (
    ("minute", "date_trunc('minute', start_time)"),
    ("tenmin", "date_bin('10 minutes', start_time, timestamptz 'epoch')"),
    ("hour", "date_trunc('hour', start_time)"),
    ("sixhour", "date_bin('6 hours', start_time, timestamptz 'epoch')"),
)
_CORRECTIONS = [
    statement
    for removed, prefix, keys, count in _FAMILIES
    for level, bucket_of in _LEVELS
    for statement in _CORRECT.format(
        removed=removed,
        table=f"{prefix}_{level}",
        bucket_of=bucket_of,
        keys=", ".join(keys),
        join=" AND ".join(f"r.{k} = g.{k}" for k in keys),
        count=count,
        hist_index=HIST_INDEX_SQL,
    ).split(";\n")
]


def _temp_tables(cursor: Any) -> None:
    cursor.execute(
        f"CREATE TEMP TABLE IF NOT EXISTS {_RED} (organization_id bigint, project_id bigint, start_time timestamptz, "
        "service_name text, operation text, span_kind smallint, duration_ns bigint, is_error boolean) "
        "ON COMMIT DELETE ROWS"
    )
    cursor.execute(
        f"CREATE TEMP TABLE IF NOT EXISTS {_EDGE} (organization_id bigint, project_id bigint, start_time timestamptz, "
        "source_service text, target text, target_kind text, duration_ns bigint, is_error boolean) "
        "ON COMMIT DELETE ROWS"
    )
    # ON COMMIT DELETE ROWS empties them at commit; a caller inside an outer transaction must not see stale rows.
    cursor.execute(f"TRUNCATE {_RED}, {_EDGE}")


def delete_span_batch(organization_id: int, project_id: int, key: str, value: str, limit: int) -> int:
    """Delete the matching spans of up to ``limit`` traces and take them out of the RED and service-map rollups;
    returns how many spans were deleted (0: none left). Call inside ``transaction.atomic()``: one batch, one
    transaction, so rollups and raw rows always agree."""
    fold_all_deltas()
    with connection.cursor() as cursor:
        _temp_tables(cursor)
        cursor.execute(
            _ERASE.format(match=match_sql(key), red=_RED, edge=_EDGE),
            {"org": organization_id, "project": project_id, "key": key, "value": value, "limit": limit},
        )
        deleted = int(cursor.fetchone()[0])
        if deleted:
            for statement in _CORRECTIONS:
                cursor.execute(statement)
        cursor.execute(f"TRUNCATE {_RED}, {_EDGE}")
    return deleted
