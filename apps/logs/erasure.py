"""GDPR: the log records of one end user (``attributes ->> key = value``), read for export and deleted with
the per-minute counts corrected. apps/privacy calls these per project. Resource attributes and bodies are not
searched (resources are shared by every user of a service; free text is not an identifier)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from django.db import connection

from apps.logs.queries import _record

_MATCH = "l.organization_id = %(org)s AND l.project_id = %(project)s AND l.attributes ->> %(key)s = %(value)s"
_START = datetime(1, 1, 1, tzinfo=UTC)
_COUNT = f"SELECT count(*) FROM logs_record l WHERE {_MATCH}"  # noqa: S608  (fixed text)

_EXPORT = f"""
SELECT l.time, l.time_ns, l.observed_time_ns, l.severity_number, l.severity_text, l.body, l.attributes, l.trace_id,
       l.span_id, l.flags, l.event_name, l.service_name, l.scope_name, l.scope_version, l.scope_attributes,
       l.dropped_attributes_count, l.record_id, r.attributes
FROM logs_record l
JOIN otlp_resource r ON r.organization_id = l.organization_id AND r.project_id = l.project_id
                    AND r.fingerprint = l.resource_fingerprint
WHERE {_MATCH} AND (l.time, l.record_id) > (%(time)s, %(record)s)
ORDER BY l.time, l.record_id
LIMIT %(limit)s
"""  # noqa: S608  (fixed text)

# One batch: delete up to %(limit)s records and take them out of logs_count_minute (rows reaching zero go).
_DELETE = f"""
WITH victims AS (
    SELECT l.time, l.record_id FROM logs_record l WHERE {_MATCH} LIMIT %(limit)s
), del AS (
    DELETE FROM logs_record l USING victims v
    WHERE l.organization_id = %(org)s AND l.project_id = %(project)s AND l.time = v.time AND l.record_id = v.record_id
    RETURNING l.time, l.service_name, l.severity_number
), counts AS (
    SELECT date_trunc('minute', time) AS bucket, service_name,
           CASE WHEN severity_number BETWEEN 1 AND 24 THEN ((severity_number - 1) / 4) * 4 + 1 ELSE 0 END AS severity,
           count(*) AS n
    FROM del GROUP BY 1, 2, 3
), updated AS (
    UPDATE logs_count_minute c SET record_count = greatest(c.record_count - counts.n, 0)
    FROM counts
    WHERE c.organization_id = %(org)s AND c.project_id = %(project)s AND c.bucket = counts.bucket
      AND c.service_name = counts.service_name AND c.severity = counts.severity
    RETURNING c.bucket, c.record_count
)
SELECT (SELECT count(*) FROM del), (SELECT array_agg(DISTINCT bucket) FROM updated WHERE record_count = 0)
"""  # noqa: S608  (fixed text)


def _params(organization_id: int, project_id: int, key: str, value: str) -> dict[str, Any]:
    return {"org": organization_id, "project": project_id, "key": key, "value": value}


def count_logs(organization_id: int, project_id: int, key: str, value: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(_COUNT, _params(organization_id, project_id, key, value))
        return int(cursor.fetchone()[0])


def iter_logs(
    organization_id: int, project_id: int, key: str, value: str, *, page: int = 1000
) -> Iterator[dict[str, Any]]:
    """The matching records in the read API's shape, oldest first, read in pages (keyset)."""
    params = _params(organization_id, project_id, key, value)
    after: tuple[Any, ...] = (_START, b"")
    while True:
        with connection.cursor() as cursor:
            cursor.execute(_EXPORT, {**params, "time": after[0], "record": after[1], "limit": page})
            rows = cursor.fetchall()
        for row in rows:
            record = _record(row)
            record.pop("cursor", None)
            yield record
        if len(rows) < page:
            return
        after = (rows[-1][0], bytes(rows[-1][16]))


def delete_log_batch(organization_id: int, project_id: int, key: str, value: str, limit: int) -> int:
    """Delete up to ``limit`` matching records and uncount them; returns how many (0: none left).
    Call inside ``transaction.atomic()``."""
    with connection.cursor() as cursor:
        cursor.execute(_DELETE, {**_params(organization_id, project_id, key, value), "limit": limit})
        deleted, emptied = cursor.fetchone()
        if emptied:
            cursor.execute(
                "DELETE FROM logs_count_minute WHERE organization_id = %s AND project_id = %s AND bucket = ANY(%s) "
                "AND record_count <= 0",
                [organization_id, project_id, emptied],
            )
    return int(deleted)
