"""Trace search, the trace view (waterfall, critical path, logs) and the comparison of two traces.

The search reads the same query parameters as the read API (``service``, ``operation``, ``min_duration_ms``,
``max_duration_ms``, ``status``, ``attr.<key>``, ``limit``) and the page's time range (``range`` or ``from``/``to``,
UTC). The trace view embeds the trace as JSON; static/js/waterfall.js draws it.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import msgspec
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, QueryDict
from django.shortcuts import render
from django.urls import path, reverse
from django.utils.safestring import SafeString, mark_safe
from rest_framework import exceptions

from apps.apm import charts
from apps.apm.pages import PROJECT, ProjectPage, attribute_filters, bounded, project_url, trace_search_url
from apps.core.timerange import TimeRange
from apps.logs.queries import search_logs
from apps.tracing import queries
from apps.tracing.api.views import parse_trace_id, trace_filter

PAGE_SIZE = 50
MAX_ROWS = 1000  # the API's largest ``limit``
CHART_POINTS = 2000
LOG_LIMIT = 200
_FILTERS = ("service", "operation", "min_duration_ms", "max_duration_ms", "status")
_LABELS = {
    "min_duration_ms": "Minimum duration",
    "max_duration_ms": "Maximum duration",
    "status": "Status",
    "limit": "Limit",
    "from": "Time range",
    "to": "Time range",
}
_LINK_TIME = "%Y-%m-%dT%H:%M:%S"


@dataclasses.dataclass
class Search:
    """What the search form asked for: the API's filter names (canonical, for links) and any errors."""

    filters: dict[str, str]
    attributes: list[tuple[str, str]]
    errors: list[str]
    query: queries.TraceFilter | None = None

    def params(self, timerange: TimeRange, *, without: Sequence[str] = (), **extra: Any) -> list[tuple[str, str]]:
        """Query parameters reproducing this search (minus ``without``, plus ``extra``)."""
        pairs = [(k, v) for k, v in [*time_params(timerange), *self.filters.items()] if k not in without]
        pairs += [(f"attr.{k}", v) for k, v in self.attributes]
        return pairs + [(k, str(v)) for k, v in extra.items()]


def time_params(timerange: TimeRange) -> list[tuple[str, str]]:
    """``range``, or ``from``/``to`` to the second (the picker's own query keeps minutes only, and a range
    dragged on the chart or linked from a service page is finer)."""
    if not timerange.is_custom:
        return [("range", timerange.key)]
    assert timerange.start is not None
    assert timerange.end is not None
    return [("from", _link_time(timerange.start)), ("to", _link_time(timerange.end))]


def _link_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime(_LINK_TIME + (".%f" if moment.microsecond else ""))


def _error_text(exc: exceptions.ValidationError) -> list[str]:
    detail = exc.detail
    if not isinstance(detail, dict):
        return [str(m) for m in (detail if isinstance(detail, list) else [detail])]
    return [f"{_LABELS.get(name, name)}: {m}" for name, messages in detail.items() for m in messages]


def parse_search(params: QueryDict, timerange: TimeRange) -> Search:
    """The filters of the search page. Attributes come as ``attr.<key>=<value>`` (links, the API's form),
    as form rows ``attr_key``/``attr_value``, or as ``attr=<key>=<value>``; all end up as ``attr.<key>``."""
    filters = {k: params.get(k, "").strip() for k in (*_FILTERS, "limit") if params.get(k, "").strip()}
    attributes, errors = attribute_filters(params)
    errors = [timerange.error, *errors] if timerange.error else errors
    search = Search(filters, attributes, errors)
    if errors:
        return search
    start, end = bounded(timerange)
    try:
        # The read API's own parser: the page and the API accept and refuse the same values.
        query = trace_filter({**filters, "from": start.isoformat(), "to": end.isoformat()})
    except exceptions.ValidationError as exc:
        search.errors += _error_text(exc)
        return search
    low, high = query.min_duration_ns, query.max_duration_ns
    if low is not None and high is not None and low > high:
        search.errors.append("The minimum duration is above the maximum duration.")
        return search
    search.query = dataclasses.replace(query, attributes=tuple(search.attributes))
    return search


class TraceSearchView(ProjectPage):
    template_name = "apm/traces.html"

    def get(self, request: HttpRequest, **kwargs: Any) -> HttpResponse:
        timerange = self.timerange(request)
        search = parse_search(request.GET, timerange)
        org, project = self.organization_id, self.project_id
        start, end = bounded(timerange)
        rows: list[dict[str, Any]] = []
        figure = None
        if search.query is not None:
            rows = queries.search_traces(org, project, search.query)
            for row in rows:
                row["url"] = project_url(request, "trace", trace_id=row["trace_id"])
                row["start"] = datetime.fromtimestamp(row["start_time_unix_nano"] / 1e9, UTC)
                row["duration_ms"] = row["duration_ns"] / 1e6
            points = queries.trace_points(org, project, search.query, limit=CHART_POINTS)
            if points:
                trace_url = project_url(request, "trace", trace_id="0" * 32)
                figure = charts.trace_durations(points, lambda trace_id: trace_url.replace("0" * 32, trace_id))
        limit = search.query.limit if search.query else PAGE_SIZE
        base = request.path
        more = None
        if search.query is not None and len(rows) == limit and limit < MAX_ROWS:
            # "Show more" asks for a larger limit: every page loads exactly the rows it shows.
            more_params = search.params(timerange, without=["limit"], limit=min(limit + PAGE_SIZE, MAX_ROWS))
            more = f"{base}?{urlencode(more_params)}"
        # The chart's drag replaces time and duration; the other filters stay.
        select_params = search.params(
            timerange, without=["range", "from", "to", "min_duration_ms", "max_duration_ms", "limit"]
        )
        context = {
            "search": search,
            "rows": rows,
            "figure": figure,
            "more_url": more,
            "limit": limit,
            "at_max": len(rows) >= MAX_ROWS,
            "select_url": f"{base}?{urlencode(select_params)}",
            "clear_url": f"{base}?{urlencode(time_params(timerange))}",
            "time_params": time_params(timerange),
            "attribute_rows": search.attributes or [("", "")],
            "services": [r["service"] for r in queries.services(org, project, start, end)],
        }
        response = self.page(request, timerange, context)
        if search.errors:
            response.status_code = 400
        return response


# --- The trace view ----------------------------------------------------------------------------------------------


def _load(organization_id: int, project_id: int, trace_id: str) -> tuple[bytes, list[dict[str, Any]]]:
    """The trace's spans, or 404 for a malformed or unknown id."""
    try:
        raw = parse_trace_id(trace_id)
    except exceptions.ValidationError:
        raise Http404("A trace id is 32 hexadecimal characters, not all zero.") from None
    spans = queries.trace_outline(organization_id, project_id, raw)
    if not spans:
        raise Http404(f"No trace {trace_id} in this project (spans are visible once stored; sampling may drop some).")
    return raw, spans


def _end(span: dict[str, Any]) -> int:
    return int(span["end_time_unix_nano"])


def waterfall(spans: list[dict[str, Any]]) -> dict[str, Any]:
    """The spans (``trace_outline``'s) in tree order (depth first, children by start) with ``depth``, ``critical``
    and ``offset_ns``, plus where the trace's error started. Spans whose parent is missing are extra roots."""
    by_id = {s["span_id"]: s for s in spans}
    children: dict[str | None, list[dict[str, Any]]] = {}
    for span in spans:  # get_trace returns them by start, so children lists are in start order
        parent = span["parent_span_id"] if span["parent_span_id"] in by_id else None
        children.setdefault(parent, []).append(span)
    roots = children.get(None, [])
    trace_start = min(s["start_time_unix_nano"] for s in spans)
    trace_end = max(_end(s) for s in spans)

    ordered: list[dict[str, Any]] = []
    depth: dict[str, int] = {}

    def walk(starts: list[dict[str, Any]]) -> None:
        stack = [(root, 0) for root in reversed(starts)]
        while stack:  # iterative: a long chain of spans must not hit Python's recursion limit
            span, level = stack.pop()
            if span["span_id"] in depth:  # a duplicate span id, or a parent cycle in corrupt data
                continue
            depth[span["span_id"]] = level
            ordered.append(span)
            stack += [(child, level + 1) for child in reversed(children.get(span["span_id"], []))]

    walk(roots)
    if len(depth) < len(by_id):  # spans only reachable through a parent cycle: show them as roots too
        rest = [s for s in spans if s["span_id"] not in depth]
        roots = [*roots, *rest]
        walk(rest)

    main = next((r for r in roots if r["parent_span_id"] is None), None) or max(roots, key=lambda r: r["duration_ns"])
    critical = critical_path(main, children)
    for span in ordered:
        span["depth"] = depth[span["span_id"]]
        span["critical"] = span["span_id"] in critical
        span["offset_ns"] = span["start_time_unix_nano"] - trace_start
    return {
        "spans": ordered,
        "root": main,
        "start_ns": trace_start,
        "duration_ns": trace_end - trace_start,
        "propagation": error_propagation(ordered, by_id, depth),
    }


def critical_path(root: dict[str, Any], children: dict[str | None, list[dict[str, Any]]]) -> set[str]:
    """The spans the trace's end waited for: from the root, walk back from its end, taking at each step the child
    that ends last before the current point, descending into it, then continuing from that child's start."""
    path: set[str] = set()
    stack = [(root, _end(root))]
    while stack:
        span, until = stack.pop()
        if span["span_id"] in path:  # only with a parent cycle in corrupt data
            continue
        path.add(span["span_id"])
        point = min(_end(span), until)
        # Children ending last first: the first one starting before the current point is the one that
        # "ends last before it" (an end past the point is clipped to the point).
        for child in sorted(children.get(span["span_id"], []), key=_end, reverse=True):
            if child["start_time_unix_nano"] < point:
                stack.append((child, point))
                point = child["start_time_unix_nano"]
    return path


def error_propagation(
    ordered: list[dict[str, Any]], by_id: dict[str, dict[str, Any]], depth: dict[str, int]
) -> dict[str, Any] | None:
    """Where the error started (the deepest error span none of whose children failed) and the services it went
    through on its way up to the root (consecutive spans of one service count once)."""
    failed = [s for s in ordered if s["status"]["code"] == 2]
    if not failed:
        return None
    with_failed_child = {s["parent_span_id"] for s in failed}
    origins = [s for s in failed if s["span_id"] not in with_failed_child]
    origin = max(origins, key=lambda s: (depth[s["span_id"]], -s["start_time_unix_nano"]))
    services = [origin["service"]]
    span = by_id.get(origin["parent_span_id"] or "")
    while span is not None:
        if span["service"] != services[-1]:
            services.append(span["service"])
        span = by_id.get(span["parent_span_id"] or "")
    return {"origin": origin, "services": services, "error_count": len(failed)}


def _moment(ns: int) -> datetime:
    return datetime.fromtimestamp(ns / 1e9, UTC)


def _logs(
    organization_id: int, project_id: int, raw: bytes, tree: dict[str, Any], span_ids: set[str]
) -> list[dict[str, Any]]:
    # Bounded in time around the trace, so the query reads a few daily partitions, not every one.
    start = _moment(tree["start_ns"]) - timedelta(hours=1)
    end = _moment(tree["start_ns"] + tree["duration_ns"]) + timedelta(hours=1)
    records = search_logs(organization_id, project_id, trace_id=raw, start=start, end=end, limit=LOG_LIMIT)
    for record in records:
        record["time"] = _moment(record["time_unix_nano"] or record["observed_time_unix_nano"])
        body = record["body"]
        record["text"] = body if isinstance(body, str) else json.dumps(body) if body is not None else ""
        record["in_trace"] = record["span_id"] in span_ids
    return list(reversed(records))  # oldest first, like the waterfall


def _columns(spans: list[dict[str, Any]]) -> dict[str, list[Any]]:
    """The waterfall's spans as columns (one list per field, service names by index): a quarter of the bytes of a
    list of objects, which a 5,000-span trace notices in transfer and parse time."""
    services = sorted({s["service"] for s in spans})
    index = {name: i for i, name in enumerate(services)}
    return {
        "services": services,
        "service": [index[s["service"]] for s in spans],
        "span_id": [s["span_id"] for s in spans],
        "parent_span_id": [s["parent_span_id"] for s in spans],
        "name": [s["name"] for s in spans],
        "kind": [s["kind"] for s in spans],
        "offset_ns": [s["offset_ns"] for s in spans],
        "duration_ns": [s["duration_ns"] for s in spans],
        "status": [s["status"]["code"] for s in spans],
        "message": [s["status"]["message"] for s in spans],
        "depth": [s["depth"] for s in spans],
        "critical": [1 if s["critical"] else 0 for s in spans],
    }


def _tenant(request: HttpRequest) -> dict[str, str]:
    match = request.resolver_match
    assert match is not None
    return {k: match.kwargs[k] for k in ("organization_slug", "project_slug")}


def _script_text(text: str) -> SafeString:
    """JSON text made safe inside ``<script type="application/json">``, as ``json_script`` does: ``<``, ``>`` and
    ``&`` only occur inside JSON strings, where their escapes mean the same."""
    return mark_safe(text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e"))  # noqa: S308


def _script_json(value: Any) -> SafeString:
    # msgspec, not json_script's json.dumps: a 5,000-span trace encodes in milliseconds.
    return _script_text(msgspec.json.encode(value).decode())


class TraceView(ProjectPage):
    template_name = "apm/trace.html"

    def get(self, request: HttpRequest, trace_id: str, **kwargs: Any) -> HttpResponse:
        compare_error = ""
        other = request.GET.get("compare", "").strip().lower()
        if other:
            try:
                parse_trace_id(other)
            except exceptions.ValidationError:
                compare_error = f"'{other}' is not a trace id: a trace id is 32 hexadecimal characters."
            else:
                return HttpResponseRedirect(
                    project_url(request, "trace-compare", trace_id=trace_id.lower(), other_id=other)
                )
        raw, spans = _load(self.organization_id, self.project_id, trace_id)
        tree = waterfall(spans)
        root = tree["root"]
        start = _moment(tree["start_ns"])
        span_ids = {s["span_id"] for s in spans}
        context = {
            "trace_id": trace_id.lower(),
            "tree": tree,
            "data": _script_json(
                {
                    "trace_id": trace_id.lower(),
                    "start_ns": tree["start_ns"],
                    "duration_ns": tree["duration_ns"],
                    "spans": _columns(tree["spans"]),
                    # Links to other traces: the JavaScript puts their id in place of the zeros.
                    "trace_url": project_url(request, "trace", trace_id="0" * 32),
                }
            ),
            # Attributes, events, links, resources: fetched by the JavaScript when a span is first opened, so a
            # large trace's page stays small.
            "details_url": reverse(
                "api:trace-detail",
                kwargs={**_tenant(request), "trace_id": trace_id.lower()},
            ),
            "start": start,
            "duration_ms": tree["duration_ns"] / 1e6,
            "span_count": len(spans),
            "services": sorted({s["service"] for s in spans}),
            "error_count": sum(1 for s in spans if s["status"]["code"] == 2),
            "logs": _logs(self.organization_id, self.project_id, raw, tree, span_ids),
            "log_limit": LOG_LIMIT,
            "compare_error": compare_error,
            "compare_value": other,
            "similar_url": trace_search_url(
                request,
                service=root["service"],
                operation=root["name"],
                **{"from": start - timedelta(hours=1), "to": start + timedelta(hours=1)},
            ),
            "search_url": project_url(request, "traces"),
        }
        return render(request, self.template_name, context, status=400 if compare_error else 200)


def compare(first: list[dict[str, Any]], second: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per (service, span name): count and total duration in each trace and the difference (second - first),
    largest difference first."""
    totals: dict[tuple[str, str], list[int]] = {}
    for index, spans in enumerate((first, second)):
        for span in spans:
            entry = totals.setdefault((span["service"], span["name"]), [0, 0, 0, 0])
            entry[index] += 1
            entry[2 + index] += span["duration_ns"]
    rows = [
        {
            "service": service,
            "name": name,
            "count_a": count_a,
            "count_b": count_b,
            "total_a_ms": total_a / 1e6,
            "total_b_ms": total_b / 1e6,
            "diff_ms": (total_b - total_a) / 1e6,
            "diff_abs_ms": abs(total_b - total_a) / 1e6,
            "count_diff": count_b - count_a,
        }
        for (service, name), (count_a, count_b, total_a, total_b) in totals.items()
    ]
    return sorted(rows, key=lambda r: (-abs(r["diff_ms"]), r["service"], r["name"]))


def _summary(request: HttpRequest, trace_id: str, spans: list[dict[str, Any]]) -> dict[str, Any]:
    start = min(s["start_time_unix_nano"] for s in spans)
    root = next((s for s in spans if s["parent_span_id"] is None), spans[0])
    return {
        "trace_id": trace_id.lower(),
        "url": project_url(request, "trace", trace_id=trace_id.lower()),
        "root": root,
        "span_count": len(spans),
        "duration_ms": (max(_end(s) for s in spans) - start) / 1e6,
        "start": _moment(start),
        "error": any(s["status"]["code"] == 2 for s in spans),
    }


class TraceCompareView(ProjectPage):
    template_name = "apm/trace_compare.html"

    def get(self, request: HttpRequest, trace_id: str, other_id: str, **kwargs: Any) -> HttpResponse:
        _, first = _load(self.organization_id, self.project_id, trace_id)
        _, second = _load(self.organization_id, self.project_id, other_id)
        context = {
            "a": _summary(request, trace_id, first),
            "b": _summary(request, other_id, second),
            "rows": compare(first, second),
        }
        return render(request, self.template_name, context)


urlpatterns = [
    path(PROJECT + "traces/", TraceSearchView.as_view(), name="traces"),
    path(PROJECT + "traces/<str:trace_id>/", TraceView.as_view(), name="trace"),
    path(PROJECT + "traces/<str:trace_id>/compare/<str:other_id>/", TraceCompareView.as_view(), name="trace-compare"),
]
