"""What a project's services call: database statements, N+1 patterns, external HTTP calls, method timings.

Computed at read time from the raw client spans of the range, not from rollups: the grouping key of a
database call is its statement without literals (apps/tracing/statements.py), which ingest does not store
yet (storing it with the span would let SQL group and index it; normalising here is most of a page's time).
Each scan reads at most ``SCAN_LIMIT`` of the newest
matching spans, so the cost of a page is bounded whatever the range; ``Scan.truncated`` says when the limit
was reached, and rates then cover the part of the range the spans came from. Percentiles are exact (nearest
rank over the durations read). Each function issues a fixed number of statements, whatever the result size.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from django.db import connection

from apps.otlp.values import time_of_ns
from apps.tracing.statements import normalize_statement

SCAN_LIMIT = 50_000
N_PLUS_ONE_THRESHOLD = 10  # the same statement this many times under one parent span
_CLIENT = 3
_ERROR = 2
_ENTRY_KINDS = (2, 5)  # SERVER, CONSUMER: where a request enters a service (also inlined in _CONTEXT)
# Statements longer than this are cut in SQL: the normaliser keeps 2,000 characters anyway, and 50,000 rows of
# multi-kilobyte batch inserts would otherwise be read in full.
_STATEMENT_CHARS = 4_000


@dataclass
class Scan:
    """The spans one query read, newest first, and whether ``limit`` cut the range short."""

    rows: list[tuple[Any, ...]]
    start: datetime
    end: datetime
    limit: int
    # Normalised statements of a database scan, row by row, computed once: the statements table and the N+1
    # search both group by them, and normalising is most of a page's time.
    _statements: list[str] | None = field(default=None, repr=False)

    def statements(self) -> list[str]:
        if self._statements is None:
            self._statements = [_statement(row) for row in self.rows]
        return self._statements

    @property
    def truncated(self) -> bool:
        return len(self.rows) >= self.limit

    @property
    def covered_start(self) -> datetime:
        """Where the spans read begin: the range's start, or the oldest span read when the limit was hit."""
        if not self.truncated or not self.rows:
            return self.start
        return max(self.start, min(time_of_ns(row[_START_NS]) for row in self.rows))

    @property
    def seconds(self) -> float:
        return max((self.end - self.covered_start).total_seconds(), 1.0)


# Columns every scan returns first, in this order.
_COMMON = "s.trace_id, s.span_id, s.parent_span_id, s.service_name, s.name, s.start_ns, s.duration_ns, s.status_code"
_TRACE, _SPAN, _PARENT, _SERVICE, _NAME, _START_NS, _DURATION, _STATUS = range(8)


def _scan(organization_id: int, project_id: int, start: datetime, end: datetime, *, columns: str, where: str,
          limit: int) -> Scan:  # fmt: skip
    sql = (
        f"SELECT {_COMMON}, {columns} FROM tracing_span s "  # noqa: S608  (our columns; values are parameters)
        "WHERE s.organization_id = %s AND s.project_id = %s AND s.start_time >= %s AND s.start_time < %s "
        f"AND {where} ORDER BY s.start_time DESC LIMIT %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [organization_id, project_id, start, end, limit])
        return Scan(cursor.fetchall(), start, end, limit)


def _p95_ms(durations: list[int]) -> float:
    ordered = sorted(durations)
    return _ms(ordered[max(math.ceil(0.95 * len(ordered)), 1) - 1])


def _ms(ns: float) -> float:
    return round(ns / 1e6, 3)


def _hex(value: Any) -> str:
    return bytes(value).hex()


@dataclass
class _Group:
    """Calls sharing a key: their durations, the slowest one's trace, the services making them."""

    durations: list[int] = field(default_factory=list)
    errors: int = 0
    services: set[str] = field(default_factory=set)
    slowest: tuple[int, bytes] = (-1, b"")
    rows: int = 0
    rows_reported: int = 0

    def add(self, row: tuple[Any, ...], *, error: bool = False) -> None:
        duration = row[_DURATION]
        self.durations.append(duration)
        self.errors += error
        self.services.add(row[_SERVICE])
        if duration > self.slowest[0]:
            self.slowest = (duration, row[_TRACE])

    def stats(self, seconds: float) -> dict[str, Any]:
        count, total = len(self.durations), sum(self.durations)
        return {
            "count": count,
            "rate": count / seconds,
            "total_ms": _ms(total),
            "avg_ms": _ms(total / count),
            "p95_ms": _p95_ms(self.durations),
            "services": sorted(self.services),
            "example_trace_id": _hex(self.slowest[1]),
        }


# --- Database calls --------------------------------------------------------------------------------------------------

# Statement text (current then older semantic conventions), falling back to the span name (``SELECT shop.orders``)
# when instrumentation records no text; rows returned or affected, when reported.
_DATABASE_COLUMNS = f"""s.db_system, s.peer,
    left(coalesce(s.attributes ->> 'db.query.text', s.attributes ->> 'db.statement'), {_STATEMENT_CHARS}),
    coalesce(s.attributes ->> 'db.response.returned_rows', s.attributes ->> 'db.rows_affected',
             s.attributes ->> 'db.row_count')"""
_SYSTEM, _PEER, _STATEMENT, _ROWS = range(8, 12)


def database_spans(
    organization_id: int, project_id: int, start: datetime, end: datetime, limit: int = SCAN_LIMIT
) -> Scan:
    """The newest client spans calling a database or cache in the range (one statement)."""
    return _scan(organization_id, project_id, start, end, columns=_DATABASE_COLUMNS,
                 where=f"s.kind = {_CLIENT} AND s.db_system IS NOT NULL", limit=limit)  # fmt: skip


def _statement(row: tuple[Any, ...]) -> str:
    text = row[_STATEMENT]
    return normalize_statement(text, row[_SYSTEM]) if text else row[_NAME]


def _database(row: tuple[Any, ...]) -> str | None:
    """The database (namespace) of ``peer`` = "system:namespace", stored by the writer."""
    peer = row[_PEER] or ""
    return peer.partition(":")[2] or None


def _row_count(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(float(value))
    except ValueError:
        return None


def database_calls(scan: Scan) -> list[dict[str, Any]]:
    """Calls grouped by (db.system, database, normalised statement), by total time, longest first."""
    groups: dict[tuple[str, str | None, str], _Group] = defaultdict(_Group)
    for row, statement in zip(scan.rows, scan.statements(), strict=True):
        group = groups[(row[_SYSTEM], _database(row), statement)]
        group.add(row, error=row[_STATUS] == _ERROR)
        rows = _row_count(row[_ROWS])
        if rows is not None:
            group.rows += rows
            group.rows_reported += 1
    result = [
        {
            "db_system": system,
            "database": database,
            "statement": statement,
            **group.stats(scan.seconds),
            "error_count": group.errors,
            "rows": group.rows if group.rows_reported else None,
            "rows_reported": group.rows_reported,
        }
        for (system, database, statement), group in groups.items()
    ]
    return sorted(result, key=lambda r: (-r["total_ms"], r["statement"]))


# --- N+1 -------------------------------------------------------------------------------------------------------------

_CONTEXT = """
SELECT s.trace_id, s.span_id, s.name, s.kind, s.service_name, s.start_ns, s.parent_span_id IS NULL
FROM tracing_span s
WHERE s.organization_id = %s AND s.project_id = %s AND s.start_time >= %s AND s.start_time < %s
  AND s.trace_id = ANY(%s) AND (s.kind IN (2, 5) OR s.parent_span_id IS NULL OR s.span_id = ANY(%s))
"""


def n_plus_one(
    organization_id: int, project_id: int, scan: Scan, threshold: int = N_PLUS_ONE_THRESHOLD
) -> list[dict[str, Any]]:
    """The same normalised statement run ``threshold`` times or more under one parent span, per (service,
    endpoint, statement): how many parents did it (occurrences), the most repeats, and the trace of those.

    The endpoint is the request the calls served: the service's first SERVER/CONSUMER span in the trace,
    else the parent span's name (a job), else the trace's root. One more statement reads those spans.
    """
    repeats: dict[tuple[bytes, bytes, str, str], list[int]] = defaultdict(list)
    for row, statement in zip(scan.rows, scan.statements(), strict=True):
        if row[_PARENT] is not None:
            key = (bytes(row[_TRACE]), bytes(row[_PARENT]), row[_SERVICE], statement)
            repeats[key].append(row[_DURATION])
    flagged = {key: durations for key, durations in repeats.items() if len(durations) >= threshold}
    if not flagged:
        return []
    traces = sorted({trace for trace, _, _, _ in flagged})
    parents = sorted({parent for _, parent, _, _ in flagged})
    # Spans of a trace start close to its calls: a margin around the range keeps partition pruning.
    margin = timedelta(hours=1)
    with connection.cursor() as cursor:
        cursor.execute(_CONTEXT, [organization_id, project_id, scan.start - margin, scan.end + margin, traces, parents])
        context = cursor.fetchall()
    entries: dict[tuple[bytes, str], tuple[int, str]] = {}  # (trace, service) -> earliest entry span
    names: dict[tuple[bytes, bytes], str] = {}
    roots: dict[bytes, str] = {}
    for raw_trace, raw_span, name, kind, service, start_ns, is_root in context:
        trace, span = bytes(raw_trace), bytes(raw_span)
        names[(trace, span)] = name
        if is_root:
            roots[trace] = name
        if kind in _ENTRY_KINDS and ((trace, service) not in entries or start_ns < entries[(trace, service)][0]):
            entries[(trace, service)] = (start_ns, name)

    findings: dict[tuple[str, str, str], dict[str, Any]] = {}
    for (trace, parent, service, statement), durations in flagged.items():
        endpoint = (entries.get((trace, service)) or (0, None))[1] or names.get((trace, parent)) or roots.get(trace)
        key = (service, endpoint or "(unknown)", statement)
        empty = {"service": key[0], "endpoint": key[1], "statement": statement, "occurrences": 0, "max_repeats": 0,
                 "total_ms": 0.0, "example_trace_id": None}  # fmt: skip
        finding = findings.setdefault(key, empty)
        finding["occurrences"] += 1
        finding["total_ms"] = round(finding["total_ms"] + _ms(sum(durations)), 3)
        if len(durations) > finding["max_repeats"]:
            finding["max_repeats"] = len(durations)
            finding["example_trace_id"] = trace.hex()
    return sorted(findings.values(), key=lambda f: (-f["max_repeats"], -f["occurrences"], f["service"], f["endpoint"]))


# --- External HTTP calls ---------------------------------------------------------------------------------------------

_EXTERNAL_COLUMNS = """s.peer, s.http_status_code,
    coalesce(s.attributes ->> 'http.request.method', s.attributes ->> 'http.method'),
    coalesce(s.attributes ->> 'url.template', s.http_route),
    left(coalesce(s.attributes ->> 'url.full', s.attributes ->> 'http.url', s.attributes ->> 'url.path',
                  s.attributes ->> 'http.target'), 2000)"""
_HOST, _HTTP_STATUS, _METHOD, _TEMPLATE, _URL = range(8, 13)
_ID_SEGMENT = re.compile(
    r"\d+|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|(?=[^/]*\d)[0-9a-fA-F]{16,}"
)


def external_spans(
    organization_id: int, project_id: int, start: datetime, end: datetime, limit: int = SCAN_LIMIT
) -> Scan:
    """The newest client spans calling a host outside the project (``peer_kind = 'external'``)."""
    return _scan(organization_id, project_id, start, end, columns=_EXTERNAL_COLUMNS,
                 where=f"s.kind = {_CLIENT} AND s.peer_kind = 'external'", limit=limit)  # fmt: skip


def route_of(template: str | None, url: str | None) -> str:
    """The route called: the instrumentation's template, else the URL's path with ids (numbers, UUIDs,
    long hexadecimal tokens) as ``{id}``, so ``/users/42`` and ``/users/7`` are one route."""
    if template:
        return template
    if not url:
        return ""
    path = urlsplit(url).path if "://" in url else url.split("?", 1)[0]
    return "/".join("{id}" if _ID_SEGMENT.fullmatch(part) else part for part in path.split("/")) or "/"


def external_calls(scan: Scan) -> list[dict[str, Any]]:
    """Calls grouped by (host, method, route): rate, error rate (status ERROR or HTTP ≥ 500), p95; busiest first."""
    groups: dict[tuple[str, str, str], _Group] = defaultdict(_Group)
    for row in scan.rows:
        status = row[_HTTP_STATUS]
        error = row[_STATUS] == _ERROR or (status is not None and status >= 500)
        groups[(row[_HOST], (row[_METHOD] or "").upper(), route_of(row[_TEMPLATE], row[_URL]))].add(row, error=error)
    result = []
    for (host, method, route), group in groups.items():
        stats = group.stats(scan.seconds)
        result.append({"host": host, "method": method, "route": route, **stats, "error_count": group.errors,
                       "error_rate": group.errors / stats["count"]})  # fmt: skip
    return sorted(result, key=lambda r: (-r["count"], r["host"], r["route"]))


# --- Method-level timings --------------------------------------------------------------------------------------------

# code.function.name (semantic conventions 1.30+) is fully qualified; code.function + code.namespace before it.
_CODE_COLUMNS = """coalesce(s.attributes ->> 'code.function.name', s.attributes ->> 'code.function'),
    s.attributes ->> 'code.namespace', s.attributes ? 'code.function.name'"""
_FUNCTION, _NAMESPACE, _QUALIFIED = 8, 9, 10


def code_spans(organization_id: int, project_id: int, start: datetime, end: datetime, limit: int = SCAN_LIMIT) -> Scan:
    """The newest spans of any kind that name the function they time."""
    return _scan(organization_id, project_id, start, end, columns=_CODE_COLUMNS,
                 where="s.attributes ?| array['code.function', 'code.function.name']", limit=limit)  # fmt: skip


def code_timings(scan: Scan) -> list[dict[str, Any]]:
    """Spans grouped by (service, namespace.function): count, total, avg, p95; longest total first."""
    groups: dict[tuple[str, str], _Group] = defaultdict(_Group)
    attribute: dict[tuple[str, str], tuple[str, str]] = {}  # the attribute (key, value) that names it, for search
    for row in scan.rows:
        function, namespace = row[_FUNCTION] or "", row[_NAMESPACE]
        name = f"{namespace}.{function}" if namespace and not function.startswith(f"{namespace}.") else function
        key = (row[_SERVICE], name)
        groups[key].add(row, error=row[_STATUS] == _ERROR)
        attribute.setdefault(key, ("code.function.name" if row[_QUALIFIED] else "code.function", function))
    result = [
        {
            "service": service,
            "function": name,
            "attribute": dict([attribute[(service, name)]]),
            **_without(group.stats(scan.seconds), "services"),
            "error_count": group.errors,
        }
        for (service, name), group in groups.items()
    ]
    return sorted(result, key=lambda r: (-r["total_ms"], r["service"], r["function"]))


def _without(values: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {k: v for k, v in values.items() if k not in keys}


def sort_rows(rows: Iterable[dict[str, Any]], sort: str, allowed: Iterable[str]) -> list[dict[str, Any]]:
    """``rows`` by ``sort`` (a key, ``-`` for descending) when ``allowed``; else unchanged."""
    rows = list(rows)
    key = sort.lstrip("-")
    if key not in set(allowed):
        return rows
    present = sorted((r for r in rows if r[key] is not None), key=lambda r: r[key], reverse=sort != key)
    return present + [r for r in rows if r[key] is None]
