"""Reading issues and their occurrences (raw SQL over ``errors_occurrence``; callers pass the tenant)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import connection

from apps.errors.models import ErrorGroup

DEFAULT_RANGE = timedelta(hours=24)
_MINUTE, _HOUR = 60, 3600
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# The issues of a range from the occurrence rollups (sql/0002_issue_rollups.sql), each figure equal to counting the
# occurrences of the range. Counts, latest occurrence and steps: {rows}, the UNION ALL of ``_pieces`` (the coarsest
# rollup rows that lie inside the range and inside one step, the seconds at either end from the occurrences).
# Services and users: the days overlapping the range whose first or last occurrence is inside it; a day that starts
# before and ends after it is looked up in the occurrences (an index probe). bench/queries.py, 10 M spans: a day's
# list reads ~4 k rows instead of ~420 k occurrences (a scan that took 0.6 s at 4 M spans).
_ISSUES = """
WITH rows (fingerprint, t, n, last_seen) AS MATERIALIZED ({rows}
), totals AS (
    -- the steps as they come (the occurrences at an end may repeat a rollup row's step: Python adds them up)
    SELECT fingerprint, sum(n)::bigint AS n, max(last_seen) AS last_seen,
           array_agg(extract(epoch FROM date_bin(%(step)s * interval '1 second', t, timestamptz 'epoch'))::bigint
                     / %(step)s) AS slots,
           array_agg(n) AS counts
    FROM rows GROUP BY fingerprint
), services AS (
    SELECT fingerprint, array_agg(DISTINCT service_name) AS services FROM errors_issue_service_day d
    WHERE organization_id = %(org)s AND project_id = %(project)s AND {days} AND (first_seen >= %(start)s
          OR last_seen < %(end)s OR EXISTS (
            SELECT 1 FROM errors_occurrence o
            WHERE o.organization_id = %(org)s AND o.project_id = %(project)s AND o.fingerprint = d.fingerprint
              AND o.service_name = d.service_name AND o.time >= %(start)s AND o.time < %(end)s))
    GROUP BY fingerprint
), users AS (
    SELECT fingerprint, count(DISTINCT enduser_id) AS users FROM errors_issue_user_day d
    WHERE organization_id = %(org)s AND project_id = %(project)s AND {days} AND (first_seen >= %(start)s
          OR last_seen < %(end)s OR EXISTS (
            SELECT 1 FROM errors_occurrence o
            WHERE o.organization_id = %(org)s AND o.project_id = %(project)s AND o.enduser_id = d.enduser_id
              AND o.fingerprint = d.fingerprint AND o.time >= %(start)s AND o.time < %(end)s))
    GROUP BY fingerprint
)
SELECT g.fingerprint, g.exception_type, g.message, g.frame, g.status, g.first_seen, t.n, t.last_seen, s.services,
       coalesce(u.users, 0), t.slots, t.counts
FROM totals t
JOIN services s USING (fingerprint)
LEFT JOIN users u USING (fingerprint)
JOIN errors_errorgroup g ON g.organization_id = %(org)s AND g.project_id = %(project)s AND g.fingerprint = t.fingerprint
WHERE g.status = ANY(%(statuses)s)
ORDER BY t.n DESC, g.fingerprint
"""
# days overlapping [start, end) with an occurrence not after the end and not before the start
_DAYS = "bucket > %(start)s - interval '1 day' AND bucket < %(end)s AND first_seen < %(end)s AND last_seen >= %(start)s"
# rows of _ISSUES (fingerprint, t, n, last_seen): from a rollup table, or {table} = "occurrence", the occurrences
_ROLLUP_ROWS = (
    "SELECT fingerprint, bucket, occurrences, last_seen FROM errors_issue_{table} "
    "WHERE organization_id = %(org)s AND project_id = %(project)s AND bucket >= %({low})s AND bucket < %({high})s"
)
_OCCURRENCE_ROWS = (
    "SELECT fingerprint, time, 1, time FROM errors_occurrence "
    "WHERE organization_id = %(org)s AND project_id = %(project)s AND time >= %({low})s AND time < %({high})s"
)
# the count rollups, finest first: (table suffix, bucket length in seconds); each bucket is whole buckets of the last
_LEVELS = (("minute", _MINUTE), ("tenmin", 10 * _MINUTE), ("hour", _HOUR))
_SERIES = """
SELECT fingerprint, floor(extract(epoch FROM time) / %(step)s)::bigint AS slot, count(*)
FROM errors_occurrence
WHERE organization_id = %(org)s AND project_id = %(project)s AND time >= %(start)s AND time < %(end)s
  AND fingerprint = %(fingerprint)s
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


def _check_step(step: int) -> None:
    if step < _MINUTE or step % _MINUTE:
        raise ValueError("step must be a whole number of minutes")


def _points(start: datetime, end: datetime, step: int, by_slot: dict[int, int]) -> list[dict[str, Any]]:
    """One point per ``step`` seconds from the step holding ``start`` to the one holding ``end``, zeros where none.
    Steps are aligned to multiples of ``step`` since the epoch (as the log volume's), so that a minute or an
    hour of the rollups always falls in one step."""
    first, times = _steps(start, end, step)
    return [{"time": moment, "count": by_slot.get(first + i, 0)} for i, moment in enumerate(times)]


def _steps(start: datetime, end: datetime, step: int) -> tuple[int, list[datetime]]:
    first, last = _slot(start, step), _slot(end, step)
    return first, [_EPOCH + timedelta(seconds=i * step) for i in range(first, last + 1)]


def _slot(moment: datetime, step: int) -> int:
    return int((moment - _EPOCH).total_seconds() // step)


def _ceil(moment: datetime, seconds: int) -> datetime:
    return _EPOCH + timedelta(seconds=-(-(moment - _EPOCH) // timedelta(seconds=seconds)) * seconds)


def _floor(moment: datetime, seconds: int) -> datetime:
    return _EPOCH + timedelta(seconds=(moment - _EPOCH) // timedelta(seconds=seconds) * seconds)


def _cover(
    first: datetime, stop: datetime, levels: tuple[tuple[str, int], ...]
) -> list[tuple[str, datetime, datetime]]:
    """``[first, stop)`` (whole buckets of ``levels[0]``) as the coarsest buckets that fit: the whole buckets of the
    next level inside it from that level (recursively), only the ends from this one."""
    (table, _), coarser = levels[0], levels[1:]
    if coarser:
        low, high = _ceil(first, coarser[0][1]), _floor(stop, coarser[0][1])
        if low < high:
            return [(table, first, low), *_cover(low, high, coarser), (table, high, stop)]
    return [(table, first, stop)]


def _pieces(start: datetime, end: datetime, step: int) -> tuple[str, dict[str, datetime]]:
    """The rows of ``_ISSUES`` for ``[start, end)`` and their time parameters: the whole minutes of the range from the
    coarsest rollup whose buckets each lie in one step, the seconds at either end from the occurrences."""
    first, stop = _ceil(start, _MINUTE), _floor(end, _MINUTE)
    levels = tuple(level for level in _LEVELS if step % level[1] == 0)
    pieces = [("occurrence", start, end)]
    if first < stop:
        pieces = [("occurrence", start, first), *_cover(first, stop, levels), ("occurrence", stop, end)]
    params: dict[str, datetime] = {}
    selects = []
    for table, low, high in pieces:
        if low < high:
            n = len(params)
            params[f"t{n}"], params[f"t{n + 1}"] = low, high
            sql = _OCCURRENCE_ROWS if table == "occurrence" else _ROLLUP_ROWS
            selects.append(sql.format(table=table, low=f"t{n}", high=f"t{n + 1}"))
    return "\n    UNION ALL\n    ".join(selects), params


def issues(
    organization_id: int, project_id: int, start: datetime, end: datetime, *, statuses: list[str], step: int
) -> list[dict[str, Any]]:
    """Issues with an occurrence in the range, most frequent first, each with its occurrences per ``step`` seconds
    (whole minutes; ``_points`` says how steps are placed). Read from the occurrence rollups; every figure is
    what counting the occurrences of ``[start, end)`` gives."""
    _check_step(step)
    if start >= end:
        return []
    rows_sql, times = _pieces(start, end, step)
    params = {"org": organization_id, "project": project_id, "statuses": statuses, "step": step, "start": start,
              "end": end, **times}  # fmt: skip
    rows = _fetch(_ISSUES.format(rows=rows_sql, days=_DAYS), params)
    steps = _steps(start, end, step)
    return [_issue_json(row, *steps) for row in rows]


def _issue_json(row: tuple[Any, ...], first: int, times: list[datetime]) -> dict[str, Any]:
    fingerprint, kind, message, frame, status, first_seen, count, last_seen, services, users, slots, counts = row
    by_slot: dict[int, int] = {}
    for slot, n in zip(slots, counts, strict=True):
        by_slot[slot] = by_slot.get(slot, 0) + n
    return {
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
        "series": [{"time": moment, "count": by_slot.get(first + i, 0)} for i, moment in enumerate(times)],
    }


def issue(organization_id: int, project_id: int, fingerprint: str) -> ErrorGroup | None:
    return (
        ErrorGroup.objects.for_organization(organization_id)
        .filter(project_id=project_id, fingerprint=fingerprint)
        .first()
    )


def issue_details(
    organization_id: int, project_id: int, fingerprint: str, start: datetime, end: datetime, *, step: int
) -> dict[str, Any]:
    """Occurrences over time (per ``step`` seconds, placed as in ``issues``), the services, operations and end users
    affected, example traces, last seen."""
    _check_step(step)
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
        "series": _points(start, end, step, {slot: n for _, slot, n in _fetch(_SERIES, {**params, "step": step})}),
        "count": sum(c for _, c in services),
        "services": top(services),
        "operations": top(operations),
        "users": top(users),
        "affected_users": len(users),
        "examples": examples,
        "last_seen": _fetch(_LAST_SEEN, params)[0][0],
    }
