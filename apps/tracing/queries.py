"""The read API of the span store (raw SQL over the partitioned tables; callers pass the tenant)."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import msgspec
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


def search_traces(organization_id: int, project_id: int, f: TraceFilter) -> list[dict[str, Any]]:
    """Newest traces with a span matching every filter: root span, services, duration, span count, error flag."""
    where, params = _span_conditions(organization_id, project_id, f)
    sql = f"""
        WITH matched AS (
            SELECT s.trace_id, max(s.start_time) AS last_seen, min(s.start_time) AS first_seen
            FROM tracing_span s WHERE {" AND ".join(where)}
            GROUP BY s.trace_id ORDER BY last_seen DESC LIMIT %s
        )
        SELECT m.trace_id, count(*), min(t.start_ns), max(t.start_ns + t.duration_ns), bool_or(t.status_code = 2),
               (array_agg(t.name ORDER BY t.parent_span_id IS NULL DESC, t.start_ns))[1],
               (array_agg(t.service_name ORDER BY t.parent_span_id IS NULL DESC, t.start_ns))[1],
               array_agg(DISTINCT t.service_name), bool_or(t.parent_span_id IS NULL)
        FROM matched m
        JOIN tracing_span t ON t.organization_id = %s AND t.project_id = %s AND t.trace_id = m.trace_id
         AND t.start_time BETWEEN m.first_seen - interval '1 hour' AND m.last_seen + interval '1 hour'
        GROUP BY m.trace_id, m.last_seen ORDER BY m.last_seen DESC
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
    ignored): per trace, the longest matching span's start and duration, and whether any span of the trace failed
    (the results table's error flag).

    The longest matching span (not the whole trace) is what a box drawn on the chart can filter by: a search with the
    box's time and duration bounds finds the same trace. Without filters it is usually the root span. The error
    check is one indexed lookup per trace, near the matched spans' times like ``search_traces``'s join.
    """
    where, params = _span_conditions(organization_id, project_id, f)
    sql = f"""
        WITH matched AS (
            SELECT s.trace_id, (array_agg(s.start_ns ORDER BY s.duration_ns DESC))[1] AS start_ns,
                   max(s.duration_ns) AS duration_ns, min(s.start_time) AS first_seen, max(s.start_time) AS last_seen
            FROM tracing_span s WHERE {" AND ".join(where)}
            GROUP BY s.trace_id ORDER BY last_seen DESC LIMIT %s
        )
        SELECT m.trace_id, m.start_ns, m.duration_ns, EXISTS (
            SELECT 1 FROM tracing_span e
            WHERE e.organization_id = %s AND e.project_id = %s AND e.trace_id = m.trace_id AND e.status_code = 2
              AND e.start_time BETWEEN m.first_seen - interval '1 hour' AND m.last_seen + interval '1 hour'
        )
        FROM matched m ORDER BY m.last_seen DESC
    """  # noqa: S608  (conditions are ours; values are parameters)
    rows = _fetch(sql, [*params, limit, organization_id, project_id])
    return [
        {"trace_id": bytes(trace_id).hex(), "start_time_unix_nano": start, "duration_ns": duration, "error": error}
        for trace_id, start, duration, error in rows
    ]


def _rollup_table(kind: str, start: datetime, end: datetime) -> str:
    """Minute rollups for ranges up to six hours, hourly ones beyond (a few hundred rows either way)."""
    return f"tracing_{kind}_{'minute' if end - start <= timedelta(hours=6) else 'hour'}"


def _rollup_rows(
    kind: str, start: datetime, end: datetime, *, columns: str, where: str, params: list[Any]
) -> list[Any]:
    """Rows of the folded rollup table plus the deltas not folded yet, read in one statement (one snapshot),
    so a row being folded is counted exactly once."""
    table = _rollup_table(kind, start, end)
    scope = "organization_id = %s AND project_id = %s AND bucket >= %s AND bucket < %s"
    sql = (
        f"SELECT {columns} FROM {table} WHERE {scope} {where} "  # noqa: S608  (our names; values are parameters)
        f"UNION ALL SELECT {columns} FROM tracing_{kind}_delta WHERE {scope} {where}"
    )
    return _fetch(sql, params * 2)


_TOTALS = """
WITH rows AS MATERIALIZED (
    SELECT {keys}, {count} AS n, error_count AS e, duration_sum_ns AS d, histogram FROM {table}
    WHERE organization_id = %(org)s AND project_id = %(project)s AND bucket >= %(start)s AND bucket < %(end)s {where}
    UNION ALL
    SELECT {keys}, {count}, error_count, duration_sum_ns, histogram FROM tracing_{kind}_delta
    WHERE organization_id = %(org)s AND project_id = %(project)s AND bucket >= %(start)s AND bucket < %(end)s {where}
), totals AS (
    SELECT {keys}, sum(n)::bigint AS n, sum(e)::bigint AS e, sum(d)::bigint AS d FROM rows GROUP BY {keys}
), buckets AS (
    SELECT {keys}, u.v >> 32 AS i, sum(u.v & 4294967295)::bigint AS c FROM rows, unnest(histogram) AS u(v)
    GROUP BY {keys}, i
), merged AS (
    SELECT {keys}, array_agg((i << 32) | c ORDER BY i) AS histogram FROM buckets GROUP BY {keys}
)
SELECT {keys}, t.n, t.e, t.d, m.histogram FROM totals t JOIN merged m USING ({keys})
"""


def _rollup_totals(
    kind: str, start: datetime, end: datetime, *, keys: str, where: str = "", params: dict[str, Any]
) -> dict[tuple[Any, ...], Totals]:
    """(count, errors, duration sum, histogram) per ``keys`` over the range, summed by PostgreSQL: one row per
    key comes back, not one per key and minute (thousands over an hour, whose transfer and merging in Python
    were most of the overview's and the map's time: bench/queries.py)."""
    table = _rollup_table(kind, start, end)
    count = "request_count" if kind == "red" else "call_count"
    sql = _TOTALS.format(keys=keys, table=table, kind=kind, count=count, where=where)
    rows = _fetch(sql, {"start": start, "end": end, **params})
    width = keys.count(",") + 1
    return {tuple(row[:width]): (row[width], row[width + 1], row[width + 2], histogram.unpack(row[width + 3]))
            for row in rows}  # fmt: skip


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
    entry = _rollup_totals(
        "red", start, end, keys="service_name", where="AND span_kind = ANY(%(kinds)s)",
        params={**tenant, "kinds": _ENTRY_KINDS},
    )  # fmt: skip
    names = sorted({name for (name,) in entry} | set(_services_seen(organization_id, project_id, start, end)))
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
    )
    grouped = _grouped([(name, _bucket_start(bucket, start, step), *rest) for name, bucket, *rest in rows], 2)
    steps = [start + timedelta(seconds=step * i) for i in range(int((end - start).total_seconds() // step) + 1)]
    names = sorted({name for name, _ in grouped} | ({service} if service else set()))
    return {
        name: [{"time": moment, **_stats(*grouped.get((name, moment), _EMPTY), step)} for moment in steps]
        for name in names
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


def _services_seen(organization_id: int, project_id: int, start: datetime, end: datetime) -> list[str]:
    """Services with any span in the range (also those without requests), from the rollups' smallest key set."""
    rows = _rollup_rows("red", start, end, columns="DISTINCT service_name", where="", params=[organization_id,
                        project_id, start, end])  # fmt: skip
    return [name for (name,) in rows]


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
        stats = _stats(count, errors, duration_sum, hist, seconds)
        edges.append(
            {
                "source": source,
                "target": target,
                "target_kind": kind,
                "call_count": count,
                "error_count": errors,
                "call_rate": stats["request_rate"],
                "error_rate": stats["error_rate"],
                "avg_ms": stats["avg_ms"],
                "p95_ms": stats["p95_ms"],
            }
        )
    return {"nodes": sorted(nodes.values(), key=lambda node: node["id"]), "edges": edges}
