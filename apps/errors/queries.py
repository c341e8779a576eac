"""Reading issues and their occurrences (raw SQL over ``errors_occurrence``; callers pass the tenant)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db import connection

from apps.errors.models import ErrorGroup

DEFAULT_RANGE = timedelta(hours=24)

# One scan of the range's occurrences, grouped by hash (a count(DISTINCT ...) sorted a day of them on disk:
# 0.7 s for 170k occurrences, bench/queries.py).
_ISSUES = """
WITH occ AS MATERIALIZED (
    SELECT fingerprint, time, service_name, enduser_id FROM errors_occurrence
    WHERE organization_id = %(org)s AND project_id = %(project)s AND time >= %(start)s AND time < %(end)s
), counts AS (
    SELECT fingerprint, count(*) AS n, max(time) AS last_seen FROM occ GROUP BY fingerprint
), services AS (
    SELECT fingerprint, array_agg(service_name) AS services
    FROM (SELECT DISTINCT fingerprint, service_name FROM occ) s GROUP BY fingerprint
), users AS (
    SELECT fingerprint, count(*) AS users
    FROM (SELECT DISTINCT fingerprint, enduser_id FROM occ WHERE enduser_id IS NOT NULL) u GROUP BY fingerprint
)
SELECT g.fingerprint, g.exception_type, g.message, g.frame, g.status, g.first_seen, c.n, c.last_seen, s.services,
       coalesce(u.users, 0)
FROM counts c
JOIN services s USING (fingerprint)
LEFT JOIN users u USING (fingerprint)
JOIN errors_errorgroup g ON g.organization_id = %(org)s AND g.project_id = %(project)s AND g.fingerprint = c.fingerprint
WHERE g.status = ANY(%(statuses)s)
ORDER BY c.n DESC, g.fingerprint
"""
_SERIES = """
SELECT fingerprint, floor(extract(epoch FROM time - %(start)s) / %(step)s)::integer AS slot, count(*)
FROM errors_occurrence
WHERE organization_id = %(org)s AND project_id = %(project)s AND time >= %(start)s AND time < %(end)s
  AND (%(fingerprint)s::text IS NULL OR fingerprint = %(fingerprint)s)
GROUP BY 1, 2
"""
_BREAKDOWN = """
SELECT service_name, operation, enduser_id, count(*)
FROM errors_occurrence
WHERE organization_id = %(org)s AND project_id = %(project)s AND fingerprint = %(fingerprint)s
  AND time >= %(start)s AND time < %(end)s
GROUP BY GROUPING SETS ((service_name), (operation), (enduser_id))
"""
_EXAMPLES = """
SELECT DISTINCT ON (time, trace_id) trace_id, time, service_name, operation
FROM errors_occurrence
WHERE organization_id = %(org)s AND project_id = %(project)s AND fingerprint = %(fingerprint)s
  AND time >= %(start)s AND time < %(end)s AND trace_id <> '\\x00000000000000000000000000000000'::bytea
ORDER BY time DESC, trace_id
LIMIT 10
"""
_LAST_SEEN = """
SELECT max(time) FROM errors_occurrence
WHERE organization_id = %(org)s AND project_id = %(project)s AND fingerprint = %(fingerprint)s
"""


def _fetch(sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _series(params: dict[str, Any], start: datetime, end: datetime, step: int) -> dict[str, list[dict[str, Any]]]:
    """Occurrences per ``step`` seconds and fingerprint, every step present (zeros where none)."""
    counts: dict[str, dict[int, int]] = {}
    for fingerprint, slot, count in _fetch(_SERIES, {**params, "step": step}):
        counts.setdefault(fingerprint, {})[slot] = count
    return {f: _points(start, end, step, by_slot) for f, by_slot in counts.items()}


def _points(start: datetime, end: datetime, step: int, by_slot: dict[int, int]) -> list[dict[str, Any]]:
    slots = int((end - start).total_seconds() // step) + 1
    return [{"time": start + timedelta(seconds=step * i), "count": by_slot.get(i, 0)} for i in range(slots)]


def issues(
    organization_id: int, project_id: int, start: datetime, end: datetime, *, statuses: list[str], step: int
) -> list[dict[str, Any]]:
    """Issues with an occurrence in the range, most frequent first, each with its occurrences per ``step``."""
    params = {"org": organization_id, "project": project_id, "start": start, "end": end, "statuses": statuses}
    rows = _fetch(_ISSUES, params)
    series = _series({**params, "fingerprint": None}, start, end, step) if rows else {}
    return [
        {
            "fingerprint": fingerprint,
            "exception_type": kind,
            "message": message,
            "frame": frame,
            "status": status,
            "first_seen": first_seen,
            "last_seen": last_seen,
            "count": count,
            "services": sorted(services),
            "users": users,
            "series": series.get(fingerprint, []),
        }
        for fingerprint, kind, message, frame, status, first_seen, count, last_seen, services, users in rows
    ]


def issue(organization_id: int, project_id: int, fingerprint: str) -> ErrorGroup | None:
    return (
        ErrorGroup.objects.for_organization(organization_id)
        .filter(project_id=project_id, fingerprint=fingerprint)
        .first()
    )


def issue_details(
    organization_id: int, project_id: int, fingerprint: str, start: datetime, end: datetime, *, step: int
) -> dict[str, Any]:
    """Occurrences over time, the services, operations and end users affected, example traces, last seen."""
    params = {"org": organization_id, "project": project_id, "fingerprint": fingerprint, "start": start, "end": end}
    services: list[tuple[str, int]] = []
    operations: list[tuple[str, int]] = []
    users: list[tuple[str, int]] = []
    for service, operation, user, count in _fetch(_BREAKDOWN, params):
        if service is not None:
            services.append((service, count))
        elif operation is not None:
            operations.append((operation, count))
        elif user is not None:
            users.append((user, count))
    top = lambda pairs: [{"name": n, "count": c} for n, c in sorted(pairs, key=lambda p: (-p[1], p[0]))[:10]]  # noqa: E731
    examples = [
        {"trace_id": bytes(trace_id).hex(), "time": time, "service": service, "operation": operation}
        for trace_id, time, service, operation in _fetch(_EXAMPLES, params)
    ]
    return {
        "series": _series(params, start, end, step).get(fingerprint) or _points(start, end, step, {}),
        "count": sum(c for _, c in services),
        "services": top(services),
        "operations": top(operations),
        "users": top(users),
        "affected_users": len(users),
        "examples": examples,
        "last_seen": _fetch(_LAST_SEEN, params)[0][0],
    }
