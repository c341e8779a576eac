"""GDPR: the error occurrences of one end user (apps/privacy calls this per project, next to the stores).

An occurrence keeps the end user's id (``enduser.id``, else ``user.id``) to count the users an issue affects;
deleting the user's telemetry deletes those occurrences too, and takes them out of the issues list's rollups
(sql/0002_issue_rollups.sql) in the same transaction, so the list still counts exactly the occurrences left.
Other identifiers are not copied into occurrences.
"""

from __future__ import annotations

from typing import Any

from django.db import connection

ID_KEYS = ("enduser.id", "user.id")
_ERASED = "_vigil_erased_occurrence"

_COUNT = "SELECT count(*) FROM errors_occurrence WHERE organization_id = %s AND project_id = %s AND enduser_id = %s"
_DELETE = f"""
WITH del AS (
    DELETE FROM errors_occurrence WHERE (organization_id, project_id, trace_id, span_id, seq, time) IN (
        SELECT organization_id, project_id, trace_id, span_id, seq, time FROM errors_occurrence
        WHERE organization_id = %(org)s AND project_id = %(project)s AND enduser_id = %(user)s LIMIT %(limit)s)
    RETURNING time, fingerprint, service_name, enduser_id
)
INSERT INTO {_ERASED} SELECT * FROM del
"""  # noqa: S608 (our names; values are parameters)
# The rollup tables in the writers' order (apps/errors/writers.py). Counts: (table, the bucket of an occurrence's
# time, the bucket's length); first and last occurrences per day: (table, the key beside bucket and fingerprint).
_COUNTS = (
    ("errors_issue_minute", "date_trunc('minute', time)", "1 minute"),
    ("errors_issue_tenmin", "date_bin('10 minutes', time, timestamptz 'epoch')", "10 minutes"),
    ("errors_issue_hour", "date_trunc('hour', time)", "1 hour"),
)
_SEEN = (("errors_issue_service_day", "service_name"), ("errors_issue_user_day", "enduser_id"))
_REMOVED = (
    "SELECT {bucket} AS bucket, fingerprint{key}, count(*) AS n, max(time) AS latest FROM {erased} GROUP BY 1, 2{by}"
)
# The rows are locked first, in the writers' order, and corrected by the next statements, whose snapshot then holds
# every occurrence of an ingest that had counted itself into them (it commits before the lock is granted); one that
# has not is not in that snapshot and adds itself after this commits.
_LOCK = """
SELECT 1 FROM {table} r JOIN ({removed}) g ON {join}
WHERE r.organization_id = %(org)s AND r.project_id = %(project)s
ORDER BY r.bucket, r.fingerprint{order} FOR UPDATE OF r
"""
# Counts lose the deleted occurrences; a latest occurrence that was one of them is found again among those left.
_SUBTRACT = """
UPDATE {table} r SET occurrences = r.occurrences - g.n,
    last_seen = CASE WHEN r.last_seen > g.latest THEN r.last_seen ELSE coalesce((
        SELECT max(o.time) FROM errors_occurrence o
        WHERE o.organization_id = r.organization_id AND o.project_id = r.project_id AND o.fingerprint = r.fingerprint
          AND o.time >= r.bucket AND o.time < r.bucket + interval '{length}'
    ), r.last_seen) END
FROM ({removed}) g
WHERE r.organization_id = %(org)s AND r.project_id = %(project)s AND {join}
"""
_EMPTIED = """
DELETE FROM {table} r USING ({removed}) g
WHERE r.organization_id = %(org)s AND r.project_id = %(project)s AND {join} AND r.occurrences <= 0
"""
# A service's or user's first and last occurrence of the day, found again among those left (or the row goes).
_OCCURRENCES_OF_ROW = """
FROM errors_occurrence o
WHERE o.organization_id = r.organization_id AND o.project_id = r.project_id AND o.fingerprint = r.fingerprint
  AND o.{key} = r.{key} AND o.time >= r.bucket AND o.time < r.bucket + interval '1 day'"""
_RESEEN = """
UPDATE {table} r SET first_seen = coalesce((SELECT min(o.time) {occurrences}), r.first_seen),
                     last_seen = coalesce((SELECT max(o.time) {occurrences}), r.last_seen)
FROM ({removed}) g
WHERE r.organization_id = %(org)s AND r.project_id = %(project)s AND {join}
"""
_UNSEEN = """
DELETE FROM {table} r USING ({removed}) g
WHERE r.organization_id = %(org)s AND r.project_id = %(project)s AND {join} AND NOT EXISTS (SELECT 1 {occurrences})
"""


def _corrections() -> list[str]:
    statements = []
    for table, bucket, length in _COUNTS:
        removed = _REMOVED.format(bucket=bucket, key="", by="", erased=_ERASED)
        names = {"table": table, "removed": removed, "join": _join(), "order": "", "length": length}
        statements += [_LOCK.format(**names), _SUBTRACT.format(**names), _EMPTIED.format(**names)]
    for table, key in _SEEN:
        removed = _REMOVED.format(bucket="date_trunc('day', time)", key=f", {key}", by=", 3", erased=_ERASED)
        names = {"table": table, "removed": removed, "join": _join(key), "order": f", r.{key}",
                 "occurrences": _OCCURRENCES_OF_ROW.format(key=key)}  # fmt: skip
        statements += [_LOCK.format(**names), _UNSEEN.format(**names), _RESEEN.format(**names)]
    return statements


def _join(*keys: str) -> str:
    return " AND ".join(f"r.{column} = g.{column}" for column in ("bucket", "fingerprint", *keys))


_CORRECTIONS = _corrections()


def count_occurrences(organization_id: int, project_id: int, key: str, value: str) -> int:
    if key not in ID_KEYS:
        return 0
    with connection.cursor() as cursor:
        cursor.execute(_COUNT, [organization_id, project_id, value])
        return int(cursor.fetchone()[0])


def delete_occurrence_batch(organization_id: int, project_id: int, key: str, value: str, limit: int) -> int:
    """Delete up to ``limit`` of the user's occurrences and uncount them from the issues list's rollups; returns how
    many (0: none left). Call inside ``transaction.atomic()``: rollups and occurrences change together."""
    if key not in ID_KEYS:
        return 0
    tenant: dict[str, Any] = {"org": organization_id, "project": project_id}
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS {_ERASED} (time timestamptz, fingerprint text, service_name text, "
            "enduser_id text) ON COMMIT DELETE ROWS"
        )
        cursor.execute(f"TRUNCATE {_ERASED}")  # inside an outer transaction, rows of an earlier batch are still there
        cursor.execute(_DELETE, {**tenant, "user": value, "limit": limit})
        deleted = cursor.rowcount
        if deleted:
            for statement in _CORRECTIONS:
                cursor.execute(statement, tenant)
        cursor.execute(f"TRUNCATE {_ERASED}")
    return deleted
