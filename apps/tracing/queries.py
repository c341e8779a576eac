"""The read API of the span store (raw SQL over the partitioned tables; callers pass the tenant)."""

from __future__ import annotations

import contextlib
import itertools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import numpy as np
from django.db import connection

from apps.otlp.values import hex_id
from apps.tracing import histogram
from apps.tracing.service_settings import DEFAULT_APDEX_THRESHOLD_MS, apdex_threshold, apdex_thresholds

_TRACE = """
SELECT s.trace_id, s.span_id, s.parent_span_id, s.name, s.service_name, s.kind, s.start_ns, s.duration_ns,
       s.status_code, s.status_message, s.trace_state, s.flags, s.attributes, s.events, s.links,
       s.scope_name, s.scope_version, s.scope_attributes, s.dropped_attributes_count, s.dropped_events_count,
       s.dropped_links_count, r.attributes
FROM tracing_span s
JOIN otlp_resource r ON r.organization_id = s.organization_id AND r.project_id = s.project_id
                    AND r.fingerprint = s.resource_fingerprint
WHERE s.organization_id = %s AND s.project_id = %s AND s.trace_id = %s
ORDER BY s.start_ns, s.span_id
"""


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# Django's PostgreSQL backend hands jsonb columns of raw queries back as text.
_json = msgspec.json.Decoder()


def _loads(text: str | None) -> Any:
    return _json.decode(text) if text is not None else None


def span_json(row: tuple[Any, ...]) -> dict[str, Any]:
    (trace_id, span_id, parent, name, service, kind, start_ns, duration_ns, status_code, status_message, trace_state,
     flags, attributes, events, links, scope_name, scope_version, scope_attributes, dropped_attributes,
     dropped_events, dropped_links, resource) = row  # fmt: skip
    return {
        "trace_id": hex_id(bytes(trace_id)),
        "span_id": hex_id(bytes(span_id)),
        "parent_span_id": hex_id(bytes(parent)) if parent else None,
        "name": name,
        "service": service,
        "kind": kind,
        "start_time_unix_nano": start_ns,
        "end_time_unix_nano": start_ns + duration_ns,
        "duration_ns": duration_ns,
        "status": {"code": status_code, "message": status_message},
        "trace_state": trace_state,
        "flags": flags,
        "attributes": _loads(attributes),
        "resource": _loads(resource),
        "scope": {"name": scope_name, "version": scope_version, "attributes": _loads(scope_attributes) or {}},
        "events": _loads(events) or [],
        "links": _loads(links) or [],
        "dropped_attributes_count": dropped_attributes,
        "dropped_events_count": dropped_events,
        "dropped_links_count": dropped_links,
    }


def get_trace(organization_id: int, project_id: int, trace_id: bytes) -> list[dict[str, Any]]:
    """Every stored span of one trace, oldest first; empty when the trace is unknown."""
    with connection.cursor() as cursor:
        cursor.execute(_TRACE, [organization_id, project_id, trace_id])
        return [span_json(row) for row in cursor.fetchall()]


_OUTLINE = """
SELECT s.span_id, s.parent_span_id, s.name, s.service_name, s.kind, s.start_ns, s.duration_ns, s.status_code,
       s.status_message
FROM tracing_span s
WHERE s.organization_id = %s AND s.project_id = %s AND s.trace_id = %s
ORDER BY s.start_ns, s.span_id
"""


def trace_outline(organization_id: int, project_id: int, trace_id: bytes) -> list[dict[str, Any]]:
    """The spans of one trace without their attributes, events, links, resource or scope (``get_trace``'s keys for
    what is there), oldest first; empty when the trace is unknown. What a waterfall needs to draw a large trace
    quickly; ``get_trace`` has the rest."""
    with connection.cursor() as cursor:
        cursor.execute(_OUTLINE, [organization_id, project_id, trace_id])
        rows = cursor.fetchall()
    return [
        {
            "span_id": bytes(span_id).hex(),
            "parent_span_id": bytes(parent).hex() if parent else None,
            "name": name,
            "service": service,
            "kind": kind,
            "start_time_unix_nano": start_ns,
            "end_time_unix_nano": start_ns + duration_ns,
            "duration_ns": duration_ns,
            "status": {"code": status_code, "message": status_message},
        }
        for span_id, parent, name, service, kind, start_ns, duration_ns, status_code, status_message in rows
    ]


@dataclass(frozen=True)
class TraceFilter:
    start: datetime
    end: datetime
    service: str | None = None
    operation: str | None = None
    min_duration_ns: int | None = None
    max_duration_ns: int | None = None
    status: str | None = None  # "error", "ok", "unset"
    attributes: tuple[tuple[str, str], ...] = ()
    limit: int = 50


def _attribute_alternatives(key: str, raw: str) -> list[str]:
    """``attr.k=v`` matches v as a string, and also as the number or boolean it spells."""
    candidates: list[Any] = [raw]
    if raw.lstrip("-").isdigit():
        candidates.append(int(raw))
    else:
        with contextlib.suppress(ValueError):
            candidates.append(float(raw))
    if raw in ("true", "false"):
        candidates.append(raw == "true")
    return [msgspec.json.encode({key: value}).decode() for value in candidates]


def _span_conditions(organization_id: int, project_id: int, f: TraceFilter) -> tuple[list[str], list[Any]]:
    where = ["s.organization_id = %s", "s.project_id = %s", "s.start_time >= %s", "s.start_time < %s"]
    params: list[Any] = [organization_id, project_id, f.start, f.end]
    if f.service:
        where.append("s.service_name = %s")
        params.append(f.service)
    if f.operation:
        where.append("s.name = %s")
        params.append(f.operation)
    if f.min_duration_ns is not None:
        where.append("s.duration_ns >= %s")
        params.append(f.min_duration_ns)
    if f.max_duration_ns is not None:
        where.append("s.duration_ns <= %s")
        params.append(f.max_duration_ns)
    if f.status:
        where.append("s.status_code = %s")
        params.append({"unset": 0, "ok": 1, "error": 2}[f.status])
    for key, raw in f.attributes:
        alternatives = _attribute_alternatives(key, raw)
        # A span attribute, or a resource attribute (service.version, host.name, ...). The resources that match
        # are found first, in their own small table: folded into the span scan as a subquery, PostgreSQL ran it
        # once per span (measured: 48 of 57 s for a day of 4 M spans, bench/queries.py).
        resources = _matching_resources(organization_id, project_id, alternatives)
        condition, values = "s.attributes @> ANY(%s::jsonb[])", [alternatives]
        if key == "enduser.id" and raw:  # the promoted, indexed column narrows; the attribute decides
            condition, values = f"(s.enduser_id = %s AND {condition})", [raw, alternatives]
        if resources:
            condition, values = f"({condition} OR s.resource_fingerprint = ANY(%s))", [*values, resources]
        where.append(condition)
        params += values
    return where, params


def _matching_resources(organization_id: int, project_id: int, alternatives: list[str]) -> list[bytes]:
    rows = _fetch(
        "SELECT fingerprint FROM otlp_resource WHERE organization_id = %s AND project_id = %s "
        "AND attributes @> ANY(%s::jsonb[])",
        [organization_id, project_id, alternatives],
    )
    return [bytes(fingerprint) for (fingerprint,) in rows]


# Caps on the matching spans read newest first, per trace asked for, before a search groups every matching span of
# the range (``_newest_trace_ids``): most traces have a few matching spans, big ones need the second round.
_CAP_ROUNDS = (4, 64)


def _newest_trace_ids(where: list[str], params: list[Any], limit: int) -> list[bytes] | None:
    """The ``limit`` newest traces among the spans matching ``where`` (newest last matching span first, ties by trace
    id), found from the newest matching spans only; None when those do not tell, and the caller must group them all.

    Read newest first, the first time a trace id appears is its newest matching span, so the first ``limit`` distinct
    ids met are the answer: exact when the capped scan met ``limit`` ids, or ended before its cap (it saw every
    matching span). A search by service reads ``tracing_span_service_time`` backwards and stops at the cap instead of
    grouping every matching span of the range (a day of one busy service: ~800 k spans to check at 10 M spans a day).
    """
    for per_trace in _CAP_ROUNDS:
        cap = per_trace * limit
        sql = f"""
            SELECT trace_id, sum(count(*)) OVER () FROM (
                SELECT s.trace_id, s.start_time FROM tracing_span s WHERE {" AND ".join(where)}
                ORDER BY s.start_time DESC, s.trace_id LIMIT %s
            ) newest
            GROUP BY trace_id ORDER BY max(start_time) DESC, trace_id LIMIT %s
        """  # noqa: S608  (conditions are ours; values are parameters)
        rows = _fetch(sql, [*params, cap, limit])
        if len(rows) == limit or not rows or rows[0][1] < cap:
            return [bytes(trace_id) for trace_id, _ in rows]
    return None


def _matched(organization_id: int, project_id: int, f: TraceFilter, limit: int) -> tuple[str, list[Any]]:
    """The WHERE terms of the matching spans of the ``limit`` newest matching traces, and their values: the traces'
    ids when ``_newest_trace_ids`` found them, else every matching span (grouped and cut by the caller's CTE).

    Only a search by service tries the newest spans first: without one, no index holds the spans in time order (the
    BRIN index only narrows), so the capped scan would read and sort as much as grouping them all."""
    where, params = _span_conditions(organization_id, project_id, f)
    ids = _newest_trace_ids(where, params, limit) if f.service else None
    if ids is not None:
        where, params = [*where, "s.trace_id = ANY(%s)"], [*params, ids]
    return " AND ".join(where), params


def search_traces(organization_id: int, project_id: int, f: TraceFilter) -> list[dict[str, Any]]:
    """Newest traces with a span matching every filter (ties by trace id): root span, services, duration, span count,
    error flag. Times and counts come from every matching span in the range, also when the traces were found from
    the newest ones (``_newest_trace_ids``)."""
    where, params = _matched(organization_id, project_id, f, f.limit)
    sql = f"""
        WITH matched AS (
            SELECT s.trace_id, max(s.start_time) AS last_seen, min(s.start_time) AS first_seen
            FROM tracing_span s WHERE {where}
            GROUP BY s.trace_id ORDER BY last_seen DESC, s.trace_id LIMIT %s
        )
        SELECT m.trace_id, count(*), min(t.start_ns), max(t.start_ns + t.duration_ns), bool_or(t.status_code = 2),
               (array_agg(t.name ORDER BY t.parent_span_id IS NULL DESC, t.start_ns))[1],
               (array_agg(t.service_name ORDER BY t.parent_span_id IS NULL DESC, t.start_ns))[1],
               array_agg(DISTINCT t.service_name), bool_or(t.parent_span_id IS NULL)
        FROM matched m
        JOIN tracing_span t ON t.organization_id = %s AND t.project_id = %s AND t.trace_id = m.trace_id
         AND t.start_time BETWEEN m.first_seen - interval '1 hour' AND m.last_seen + interval '1 hour'
        GROUP BY m.trace_id, m.last_seen ORDER BY m.last_seen DESC, m.trace_id
    """  # noqa: S608  (conditions are ours; values are parameters)
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, f.limit, organization_id, project_id])
        rows = cursor.fetchall()
    return [
        {
            "trace_id": bytes(trace_id).hex(),
            "root": {"name": root_name, "service": root_service, "complete": has_root},
            "services": sorted(services),
            "start_time_unix_nano": start_ns,
            "duration_ns": end_ns - start_ns,
            "span_count": count,
            "error": error,
        }
        for trace_id, count, start_ns, end_ns, error, root_name, root_service, services, has_root in rows
    ]


def trace_points(organization_id: int, project_id: int, f: TraceFilter, limit: int = 2000) -> list[dict[str, Any]]:
    """The duration chart's points of the newest ``limit`` traces with a span matching every filter (``f.limit`` is
    ignored; found as in ``search_traces``): per trace, the longest matching span's start (the first of equally long
    ones) and duration, and whether any span of the trace failed (the results table's error flag).

    The longest matching span (not the whole trace) is what a box drawn on the chart can filter by: a search with the
    box's time and duration bounds finds the same trace. Without filters it is usually the root span. The error
    check is one indexed lookup per trace, near the matched spans' times like ``search_traces``'s join.
    """
    where, params = _matched(organization_id, project_id, f, limit)
    sql = f"""
        WITH matched AS (
            SELECT s.trace_id, (array_agg(s.start_ns ORDER BY s.duration_ns DESC, s.start_ns))[1] AS start_ns,
                   max(s.duration_ns) AS duration_ns, min(s.start_time) AS first_seen, max(s.start_time) AS last_seen
            FROM tracing_span s WHERE {where}
            GROUP BY s.trace_id ORDER BY last_seen DESC, s.trace_id LIMIT %s
        )
        SELECT m.trace_id, m.start_ns, m.duration_ns, EXISTS (
            SELECT 1 FROM tracing_span e
            WHERE e.organization_id = %s AND e.project_id = %s AND e.trace_id = m.trace_id AND e.status_code = 2
              AND e.start_time BETWEEN m.first_seen - interval '1 hour' AND m.last_seen + interval '1 hour'
        )
        FROM matched m ORDER BY m.last_seen DESC, m.trace_id
    """  # noqa: S608  (conditions are ours; values are parameters)
    rows = _fetch(sql, [*params, limit, organization_id, project_id])
    return [
        {"trace_id": bytes(trace_id).hex(), "start_time_unix_nano": start, "duration_ns": duration, "error": error}
        for trace_id, start, duration, error in rows
    ]


def _rollup_table(kind: str, start: datetime, end: datetime, step: int | None = None) -> str:
    """Minute rollups for ranges up to six hours, hourly ones beyond (a few hundred rows either way); minutes
    also when per-``step`` figures need a finer step than an hour (an alert rule's preview)."""
    minutes = end - start <= timedelta(hours=6) or (step is not None and step % 3600 != 0)
    return f"tracing_{kind}_{'minute' if minutes else 'hour'}"


def _rollup_rows(
    kind: str, start: datetime, end: datetime, *, columns: str, where: str, params: list[Any], step: int | None = None
) -> list[Any]:
    """Rows of the folded rollup table plus the deltas not folded yet, read in one statement (one snapshot),
    so a row being folded is counted exactly once."""
    table = _rollup_table(kind, start, end, step)
    scope = "organization_id = %s AND project_id = %s AND bucket >= %s AND bucket < %s"
    sql = (
        f"SELECT {columns} FROM {table} WHERE {scope} {where} "  # noqa: S608  (our names; values are parameters)
        f"UNION ALL SELECT {columns} FROM tracing_{kind}_delta WHERE {scope} {where}"
    )
    return _fetch(sql, params * 2)


# Sums per key of the rollup rows in {rows} (``_total_pieces``). The packed histograms come back concatenated as they
# are stored (array_send, less its 20-byte header: per bucket a 4-byte length and the 8-byte value) and are added up
# with numpy: regrouping every bucket in SQL (unnest, GROUP BY key and bucket) took most of the service map's time,
# and int8[] arrays as text cost more to send and parse (bench/queries.py). {only}, when given, restricts the sums
# (not the keys) to matching rows.
_TOTALS = """
SELECT {keys}, (sum(n){only})::bigint, (sum(e){only})::bigint, (sum(d){only})::bigint,
       string_agg(substr(array_send(histogram), 21), ''::bytea){only}
FROM ({rows}) AS r GROUP BY {keys}
"""
_PIECE = (
    "SELECT {keys}, {count} AS n, error_count AS e, duration_sum_ns AS d, histogram{extra} FROM {table} "
    "WHERE organization_id = %(org)s AND project_id = %(project)s AND bucket >= %({low})s AND bucket < %({high})s "
    "{where}"
)
_SENT = np.dtype([("length", ">i4"), ("value", ">i8")])
# The rollup levels (table suffix, bucket length in seconds) that ranges read as minutes, or as hours past six hours
# (``_rollup_table``); each level's buckets are whole buckets of the next finer one.
_MINUTE_LEVELS = (("minute", 60), ("tenmin", 600), ("hour", 3600))
_HOUR_LEVELS = (("hour", 3600), ("sixhour", 6 * 3600))
Piece = tuple[str, datetime, datetime]  # a table and the range of its buckets read


def _unpack_sent(sent: list[bytes | None]) -> list[histogram.Histogram]:
    """The histograms ``_TOTALS`` sends (one sum of concatenated packed histograms per key), added up in one pass."""
    chunks = [chunk or b"" for chunk in sent]
    values = np.frombuffer(b"".join(chunks), dtype=_SENT)["value"].astype(np.int64)
    owner = np.repeat(np.arange(len(chunks)), [len(chunk) // _SENT.itemsize for chunk in chunks])
    table = np.bincount(owner * histogram.SIZE + (values >> 32), weights=values & 0xFFFFFFFF,
                        minlength=len(chunks) * histogram.SIZE).reshape(len(chunks), histogram.SIZE)  # fmt: skip
    keys, buckets = np.nonzero(table)
    counts = table[keys, buckets].astype(np.int64).tolist()
    bounds = np.searchsorted(keys, np.arange(len(chunks) + 1)).tolist()
    found = buckets.tolist()
    return [dict(zip(found[low:high], counts[low:high], strict=True)) for low, high in itertools.pairwise(bounds)]


def _ceil(moment: datetime, seconds: int) -> datetime:
    return _EPOCH + timedelta(seconds=-(-(moment - _EPOCH) // timedelta(seconds=seconds)) * seconds)


def _floor(moment: datetime, seconds: int) -> datetime:
    return _EPOCH + timedelta(seconds=(moment - _EPOCH) // timedelta(seconds=seconds) * seconds)


def _cover(kind: str, first: datetime, stop: datetime, levels: tuple[tuple[str, int], ...]) -> list[Piece]:
    """``[first, stop)`` (whole buckets of ``levels[0]``) as the coarsest buckets that fit: the whole buckets of the
    next level inside it from that level (recursively), only the ends from this one."""
    (level, _), coarser = levels[0], levels[1:]
    table = f"tracing_{kind}_{level}"
    if coarser:
        low, high = _ceil(first, coarser[0][1]), _floor(stop, coarser[0][1])
        if low < high:
            return [(table, first, low), *_cover(kind, low, high, coarser), (table, high, stop)]
    return [(table, first, stop)]


def _total_pieces(kind: str, start: datetime, end: datetime) -> list[Piece]:
    """(table, from, to): the rows ``_rollup_totals`` sums, the same buckets as ``_rollup_table``'s rows with a bucket
    in [start, end) (minutes, or hours past six hours), read from the coarsest table that holds them whole, plus the
    deltas not folded yet. An hour is then ~6 ten-minute rows per key and some minutes at the ends, instead of 60
    minute rows; a day ~3 six-hour rows and some hours, instead of 24."""
    levels = _MINUTE_LEVELS if _rollup_table(kind, start, end).endswith("_minute") else _HOUR_LEVELS
    unit = levels[0][1]
    return [*_cover(kind, _ceil(start, unit), _ceil(end, unit), levels), (f"tracing_{kind}_delta", start, end)]


def _rollup_totals(
    kind: str, start: datetime, end: datetime, *, keys: str, where: str = "", only: str = "", params: dict[str, Any]
) -> dict[tuple[Any, ...], Totals]:
    """(count, errors, duration sum, histogram) per ``keys`` over the range, summed by PostgreSQL: one row per
    key comes back, not one per key and minute (thousands over an hour, whose transfer and merging in Python
    were most of the overview's and the map's time: bench/queries.py). Rows not matching ``only`` (SQL over the
    rollup columns) still name their key, with zero sums."""
    count = "request_count" if kind == "red" else "call_count"
    times: dict[str, datetime] = {}
    selects = []
    for table, low, high in _total_pieces(kind, start, end):
        if low < high:
            n = len(times)
            times[f"t{n}"], times[f"t{n + 1}"] = low, high
            extra = ", span_kind" if only and kind == "red" and "span_kind" not in keys else ""
            selects.append(_PIECE.format(keys=keys, count=count, extra=extra, table=table, low=f"t{n}",
                                         high=f"t{n + 1}", where=where))  # fmt: skip
    only_sql = f" FILTER (WHERE {only})" if only else ""
    sql = _TOTALS.format(keys=keys, only=only_sql, rows=" UNION ALL ".join(selects))
    rows = _fetch(sql, {**params, **times})
    width = keys.count(",") + 1
    histograms = _unpack_sent([row[width + 3] for row in rows])
    return {
        tuple(row[:width]): (row[width] or 0, row[width + 1] or 0, row[width + 2] or 0, hist)
        for row, hist in zip(rows, histograms, strict=True)
    }


def _stats(count: int, errors: int, duration_sum: int, hist: histogram.Histogram, seconds: float) -> dict[str, Any]:
    """Rates, error ratio, mean and p50/p95/p99 (milliseconds) of summed rollup rows."""

    def ms(q: float) -> float | None:
        value = histogram.percentile_ns(hist, q)
        return round(value / 1e6, 3) if value is not None else None

    return {
        "request_count": count,
        "error_count": errors,
        "request_rate": count / seconds if seconds else 0.0,
        "error_rate": errors / count if count else 0.0,
        "avg_ms": round(duration_sum / count / 1e6, 3) if count else None,
        "p50_ms": ms(0.5),
        "p95_ms": ms(0.95),
        "p99_ms": ms(0.99),
    }


Totals = tuple[int, int, int, histogram.Histogram]


def _apdex(totals: Totals | None, threshold_ms: float) -> float | None:
    value = histogram.apdex(totals[3], threshold_ms * 1e6) if totals else None
    return round(value, 3) if value is not None else None


def _grouped(rows: list[tuple[Any, ...]], width: int) -> dict[tuple[Any, ...], Totals]:
    """Sum (count, errors, duration sum, histogram) of rollup rows by their first ``width`` columns."""
    sums: dict[tuple[Any, ...], list[int]] = {}
    group_ids: list[int] = []
    for row in rows:
        key = tuple(row[:width])
        found = sums.get(key)
        if found is None:
            found = sums[key] = [0, 0, 0, len(sums)]
        found[0] += row[width]
        found[1] += row[width + 1]
        found[2] += row[width + 2]
        group_ids.append(found[3])
    merged = histogram.merge_packed_by_group(group_ids, [row[width + 3] for row in rows], len(sums))
    return {key: (c, e, d, merged[g]) for key, (c, e, d, g) in sums.items()}


# Requests are the spans that start work in a service: SERVER and CONSUMER spans.
_ENTRY_KINDS = [2, 5]
_EMPTY: Totals = (0, 0, 0, {})


def _fetch(sql: str, params: list[Any] | dict[str, Any]) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def services(organization_id: int, project_id: int, start: datetime, end: datetime) -> list[dict[str, Any]]:
    """RED of each service's requests (SERVER/CONSUMER spans) over the range from the rollups, busiest first.

    Services with no request spans (a worker with only internal spans) are listed with zero requests.
    """
    tenant = {"org": organization_id, "project": project_id}
    # every service with a rollup row in the range, its sums counting only the requests
    entry = _rollup_totals(
        "red", start, end, keys="service_name", only="span_kind = ANY(%(kinds)s)",
        params={**tenant, "kinds": _ENTRY_KINDS},
    )  # fmt: skip
    names = sorted(name for (name,) in entry)
    seconds = (end - start).total_seconds()
    thresholds = apdex_thresholds(organization_id, project_id)
    result = [
        {
            "service": name,
            **_stats(*entry.get((name,), _EMPTY), seconds),
            "apdex": _apdex(entry.get((name,)), thresholds.get(name, DEFAULT_APDEX_THRESHOLD_MS)),
            "apdex_threshold_ms": thresholds.get(name, DEFAULT_APDEX_THRESHOLD_MS),
        }
        for name in names
    ]
    return sorted(result, key=lambda row: (-row["request_count"], row["service"]))


def step_for(start: datetime, end: datetime, points: int = 120) -> int:
    """A chart step in seconds: whole minutes (or hours past six hours, the rollup used), about ``points`` of them."""
    unit = 60 if end - start <= timedelta(hours=6) else 3600
    return max(unit, -(-int((end - start).total_seconds() / points) // unit) * unit)


def _bucket_start(moment: datetime, start: datetime, step: int) -> datetime:
    return start + timedelta(seconds=((moment - start).total_seconds() // step) * step)


def service_series(
    organization_id: int, project_id: int, start: datetime, end: datetime, *, step: int, service: str | None = None
) -> dict[str, list[dict[str, Any]]]:
    """Requests (SERVER/CONSUMER spans) per ``step`` seconds and service: count, rate, errors, p50/p95/p99.

    Every step of the range is present (zeros when quiet), so charts show gaps as zero, not as lines across.
    One service when ``service`` is given; the key is the service name.
    """
    where, params = "AND span_kind = ANY(%s)", [organization_id, project_id, start, end, _ENTRY_KINDS]
    if service is not None:
        where, params = where + " AND service_name = %s", [*params, service]
    rows = _rollup_rows(
        "red",
        start,
        end,
        columns="service_name, bucket, request_count, error_count, duration_sum_ns, histogram",
        where=where,
        params=params,
        step=step,
    )
    grouped = _grouped([(name, _bucket_start(bucket, start, step), *rest) for name, bucket, *rest in rows], 2)
    steps = [start + timedelta(seconds=step * i) for i in range(int((end - start).total_seconds() // step) + 1)]
    names = sorted({name for name, _ in grouped} | ({service} if service else set()))
    return {
        name: [{"time": moment, **_stats(*grouped.get((name, moment), _EMPTY), step)} for moment in steps]
        for name in names
    }


def operation_series(
    organization_id: int, project_id: int, start: datetime, end: datetime, *, step: int, service: str | None = None
) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """Like ``service_series``, per (service, operation) of the requests: one statement for every step, where
    ``operations()`` per step would take one each (an alert rule grouped by endpoint, previewed over a day)."""
    where, params = "AND span_kind = ANY(%s)", [organization_id, project_id, start, end, _ENTRY_KINDS]
    if service is not None:
        where, params = where + " AND service_name = %s", [*params, service]
    rows = _rollup_rows(
        "red", start, end, columns="service_name, operation, bucket, request_count, error_count, duration_sum_ns, "
        "histogram", where=where, params=params, step=step,
    )  # fmt: skip
    grouped = _grouped(
        [(name, operation, _bucket_start(bucket, start, step), *rest) for name, operation, bucket, *rest in rows], 3
    )
    steps = [start + timedelta(seconds=step * i) for i in range(int((end - start).total_seconds() // step) + 1)]
    keys = sorted({(name, operation) for name, operation, _ in grouped})
    return {
        key: [{"time": moment, **_stats(*grouped.get((*key, moment), _EMPTY), step)} for moment in steps]
        for key in keys
    }


def deploys(
    organization_id: int, project_id: int, service: str, start: datetime, end: datetime
) -> list[dict[str, Any]]:
    """Versions of ``service`` (resource ``service.version``) first seen within the range, oldest first: the
    deploy markers of the service page. A version's first sighting is its earliest resource's ``first_seen``."""
    rows = _fetch(
        "SELECT version, first_seen FROM ("
        "  SELECT attributes ->> 'service.version' AS version, min(first_seen) AS first_seen FROM otlp_resource"
        "  WHERE organization_id = %s AND project_id = %s AND service_name = %s AND attributes ? 'service.version'"
        "  GROUP BY 1) v "
        "WHERE first_seen >= %s AND first_seen < %s ORDER BY first_seen",
        [organization_id, project_id, service, start, end],
    )
    return [{"version": version, "time": first_seen} for version, first_seen in rows]


def service_exists(organization_id: int, project_id: int, service: str) -> bool:
    """Whether the project ever sent telemetry from ``service`` (resources outlive the time range)."""
    return bool(
        _fetch(
            "SELECT 1 FROM otlp_resource WHERE organization_id = %s AND project_id = %s AND service_name = %s LIMIT 1",
            [organization_id, project_id, service],
        )
    )


def operations(
    organization_id: int, project_id: int, service: str, start: datetime, end: datetime
) -> list[dict[str, Any]]:
    """RED per operation (span name and kind) of one service, busiest first."""
    grouped = _rollup_totals(
        "red", start, end, keys="operation, span_kind", where="AND service_name = %(service)s",
        params={"org": organization_id, "project": project_id, "service": service},
    )  # fmt: skip
    seconds = (end - start).total_seconds()
    threshold = apdex_threshold(organization_id, project_id, service)
    result = [
        {
            "operation": name,
            "span_kind": kind,
            **_stats(*totals, seconds),
            "apdex": _apdex(totals, threshold) if kind in _ENTRY_KINDS else None,  # Apdex rates requests, not calls
        }
        for (name, kind), totals in grouped.items()
    ]
    return sorted(result, key=lambda row: (-row["request_count"], row["operation"]))


def _service_of_host(host: str) -> str:
    """``checkout``, ``checkout:8080`` and ``checkout.shop.svc.cluster.local`` name the service ``checkout``."""
    return host.split(":", 1)[0].split(".", 1)[0]


def service_map(organization_id: int, project_id: int, start: datetime, end: datetime) -> dict[str, Any]:
    """Nodes (services and the databases, caches, queues and hosts they call) and edges with count, errors, p95."""
    grouped = _rollup_totals(
        "edge", start, end, keys="source_service, target, target_kind",
        params={"org": organization_id, "project": project_id},
    )  # fmt: skip
    seconds = (end - start).total_seconds()
    nodes: dict[str, dict[str, Any]] = {
        row["service"]: {"id": row["service"], "kind": "service", **row}
        for row in services(organization_id, project_id, start, end)
    }
    service_calls = {(source, target) for source, target, kind in grouped if kind == "service"}
    edges = []
    for (source, target, kind), (count, errors, duration_sum, hist) in sorted(grouped.items()):
        if kind == "external" and (source, _service_of_host(target)) in service_calls:
            continue  # an HTTP client span to an instrumented service: the service edge already counts the call
        nodes.setdefault(source, {"id": source, "kind": "service"})
        nodes.setdefault(target, {"id": target, "kind": kind})
        p95 = histogram.percentile_ns(hist, 0.95)
        edges.append(
            {
                "source": source,
                "target": target,
                "target_kind": kind,
                "call_count": count,
                "error_count": errors,
                "call_rate": count / seconds if seconds else 0.0,
                "error_rate": errors / count if count else 0.0,
                "avg_ms": round(duration_sum / count / 1e6, 3) if count else None,
                "p95_ms": round(p95 / 1e6, 3) if p95 is not None else None,
            }
        )
    return {"nodes": sorted(nodes.values(), key=lambda node: node["id"]), "edges": edges}
