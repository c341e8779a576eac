"""GDPR: the metric series of one end user (series attributes hold ``key = value``), read for export and
deleted whole: points, per-series rollups, the series row and its place under the series cap. A series is
only ever about the user it names, so nothing else needs correcting. apps/privacy calls these per project."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from django.db import connection

from apps.metrics.queries import SeriesInfo, _loads, _raw_point

_SERIES = """
SELECT s.series_hash, s.name, s.kind, s.temporality, s.monotonic, s.unit, s.description, s.attributes, r.attributes,
       s.scope_name, s.scope_version
FROM metrics_series s
JOIN otlp_resource r ON r.organization_id = s.organization_id AND r.project_id = s.project_id
                    AND r.fingerprint = s.resource_fingerprint
WHERE s.organization_id = %(org)s AND s.project_id = %(project)s AND s.attributes ->> %(key)s = %(value)s
ORDER BY s.name, s.series_hash
"""
_POINTS = """
SELECT time_ns, start_time_ns, flags, value, value_int, count, sum, min, max, bucket_counts, explicit_bounds, scale,
       zero_count, zero_threshold, positive_offset, positive_counts, negative_offset, negative_counts, quantiles,
       exemplars, time
FROM metrics_point
WHERE organization_id = %s AND project_id = %s AND series_hash = %s AND time > %s
ORDER BY time
LIMIT %s
"""
_START = datetime(1, 1, 1, tzinfo=UTC)


def find_series(organization_id: int, project_id: int, key: str, value: str) -> list[tuple[str, SeriesInfo]]:
    """Every matching series (name, info); a user has few of them, so they are listed whole."""
    with connection.cursor() as cursor:
        cursor.execute(_SERIES, {"org": organization_id, "project": project_id, "key": key, "value": value})
        return [
            (n, SeriesInfo(bytes(h), k, t, m, u, d, _loads(a), _loads(r), sn, sv))
            for h, n, k, t, m, u, d, a, r, sn, sv in cursor.fetchall()
        ]


def count_points(organization_id: int, project_id: int, keys: list[bytes]) -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM metrics_point "
            "WHERE organization_id = %s AND project_id = %s AND series_hash = ANY(%s)",
            [organization_id, project_id, keys],
        )
        return int(cursor.fetchone()[0])


def iter_points(
    organization_id: int, project_id: int, info: SeriesInfo, *, page: int = 1000
) -> Iterator[dict[str, Any]]:
    """Every point of one series in the read API's raw shape, oldest first, in pages (keyset on time)."""
    after = _START
    while True:
        with connection.cursor() as cursor:
            cursor.execute(_POINTS, [organization_id, project_id, info.key, after, page])
            rows = cursor.fetchall()
        for row in rows:
            yield _raw_point(row[:20], info.kind)
        if len(rows) < page:
            return
        after = rows[-1][20]


# Deleting in bounded steps: each statement removes at most %s rows of one table.
_DELETE_POINTS = """
DELETE FROM metrics_point p USING (
    SELECT series_hash, time FROM metrics_point
    WHERE organization_id = %s AND project_id = %s AND series_hash = ANY(%s) LIMIT %s
) v
WHERE p.organization_id = %s AND p.project_id = %s AND p.series_hash = v.series_hash AND p.time = v.time
"""
_DELETE_ROLLUPS = """
DELETE FROM {table} r USING (
    SELECT series_hash, bucket FROM {table}
    WHERE organization_id = %s AND project_id = %s AND series_hash = ANY(%s) LIMIT %s
) v
WHERE r.organization_id = %s AND r.project_id = %s AND r.series_hash = v.series_hash AND r.bucket = v.bucket
"""


def delete_series_batch(organization_id: int, project_id: int, keys: list[bytes], limit: int) -> tuple[int, int, int]:
    """One step of deleting the series ``keys``: up to ``limit`` points, else up to ``limit`` rollup rows, else
    the series rows themselves (and their count under the cap). Returns (points, rollup rows, series) deleted;
    all zero when nothing is left. Call inside ``transaction.atomic()``."""
    scope = [organization_id, project_id]
    with connection.cursor() as cursor:
        cursor.execute(_DELETE_POINTS, [*scope, keys, limit, *scope])
        if cursor.rowcount:
            return cursor.rowcount, 0, 0
        for table in ("metrics_rollup_minute", "metrics_rollup_hour"):
            cursor.execute(_DELETE_ROLLUPS.format(table=table), [*scope, keys, limit, *scope])
            if cursor.rowcount:
                return 0, cursor.rowcount, 0
        cursor.execute(
            "DELETE FROM metrics_series WHERE organization_id = %s AND project_id = %s AND series_hash = ANY(%s)",
            [*scope, keys],
        )
        series = cursor.rowcount
        if series:
            cursor.execute(
                "UPDATE metrics_series_count SET series_count = greatest(series_count - %s, 0) "
                "WHERE organization_id = %s AND project_id = %s",
                [series, *scope],
            )
    return 0, 0, series
