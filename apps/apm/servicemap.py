"""The service map: services and their dependencies, laid out by call depth and drawn as SVG on the server.

Server-side SVG because it needs no JavaScript package, works without JavaScript, and each node and edge is
a plain link (focusable, with an accessible name); static/js/servicemap.js only adds the hover/focus
highlight and the tooltip. The layout is apps/apm/graph_layout.py; this module turns the query's nodes and
edges into shapes, colours, texts and links.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse
from django.urls import path

from apps.apm import graph_layout
from apps.apm.pages import PROJECT, ProjectPage, bounded, project_url, trace_search_url
from apps.apm.templatetags.apm import ms
from apps.tracing import queries
from apps.tracing.service_settings import DEFAULT_APDEX_THRESHOLD_MS

# Health thresholds. Error rate: 1 % is already worth a look, 5 % is failing. Latency (services only): a p95
# above the Apdex threshold T means more than 5 % of requests are not "satisfied", above 4·T more than 5 %
# are "frustrated" (Apdex's own definitions), so the colours agree with the services table's Apdex column.
ERROR_RATE_WARNING = 0.01
ERROR_RATE_CRITICAL = 0.05
P95_WARNING_MS = DEFAULT_APDEX_THRESHOLD_MS  # a service's own Apdex threshold replaces it (its settings)
P95_CRITICAL_MS = 4 * DEFAULT_APDEX_THRESHOLD_MS

HEALTH_LABELS = {"ok": "healthy", "warning": "degraded", "critical": "failing", "idle": "no requests"}
HEALTH_GLYPHS = {"ok": "✓", "warning": "!", "critical": "✕", "idle": "–"}
KIND_LABELS = {"service": "service", "database": "database", "cache": "cache", "queue": "queue", "external": "host"}
NAME_CHARS = 17  # what fits on a node; the full name is in its title and accessible name


def health(error_rate: float | None, p95_ms: float | None = None, calls: int = 0, threshold_ms: float = 0) -> str:
    """ok / warning / critical from the error rate and (when given) the p95 against the Apdex threshold
    (``threshold_ms``, default the project default); idle without calls."""
    warning_ms = threshold_ms or P95_WARNING_MS
    if not calls:
        return "idle"
    error_rate = error_rate or 0.0
    if error_rate >= ERROR_RATE_CRITICAL or (p95_ms or 0) >= 4 * warning_ms:
        return "critical"
    if error_rate >= ERROR_RATE_WARNING or (p95_ms or 0) >= warning_ms:
        return "warning"
    return "ok"


def rate_text(per_second: float) -> str:
    """Calls per second, or per minute under one a second (a quiet edge is not "0.00/s")."""
    if per_second >= 10:
        return f"{per_second:,.0f}/s"
    if per_second >= 1:
        return f"{per_second:.1f}/s"
    per_minute = per_second * 60
    if per_minute >= 10:
        return f"{per_minute:.0f}/min"
    return f"{per_minute:.1f}/min" if per_minute >= 0.1 else f"{per_minute:.2f}/min"


def percent_text(ratio: float | None) -> str:
    if not ratio:
        return "0 %"
    value = ratio * 100
    return f"{value:.0f} %" if value >= 10 else f"{value:.1f} %" if value >= 0.1 else f"{value:.2f} %"


def dependency_filters(target: str, kind: str) -> dict[str, str]:
    """The trace-search attribute filter that finds client spans calling dependency ``target``.

    The writer names dependencies ``<db.system>[:<db.namespace>]``, ``<messaging.system>[:<destination>]`` or
    the host (apps/tracing/span_batch.pyx, _peer_of). Limitation: the search matches one attribute key, so spans
    that only carry the newer ``db.system.name`` or the older ``net.peer.name`` are not found by it; a
    ``peer=`` filter on the stored peer column in the trace search would be exact.
    """
    system, _, rest = target.partition(":")
    if kind in ("database", "cache"):
        return {"attr.db.system": system}
    if kind == "queue":
        return {"attr.messaging.destination.name": rest} if rest else {"attr.messaging.system": system}
    return {"attr.server.address": target}


# --- shapes (path data; x, y is the top-left corner) -------------------------------------------------------


def _rounded(x: float, y: float, w: float, h: float, r: float) -> str:
    return (
        f"M{x + r:g},{y:g}H{x + w - r:g}A{r:g},{r:g} 0 0 1 {x + w:g},{y + r:g}V{y + h - r:g}"
        f"A{r:g},{r:g} 0 0 1 {x + w - r:g},{y + h:g}H{x + r:g}A{r:g},{r:g} 0 0 1 {x:g},{y + h - r:g}"
        f"V{y + r:g}A{r:g},{r:g} 0 0 1 {x + r:g},{y:g}Z"
    )


def shape(kind: str, x: float, y: float, w: float, h: float) -> str:
    """A node's outline by kind: service a rounded box, database a cylinder, cache a cut-corner box, queue a
    tag pointing on, external host a pill. Same bounding box for all, so the layout is uniform."""
    if kind == "service":
        return _rounded(x, y, w, h, 8)
    if kind == "database":
        rx, ry = w / 2, 7
        return (
            f"M{x:g},{y + ry:g}A{rx:g},{ry:g} 0 0 1 {x + w:g},{y + ry:g}V{y + h - ry:g}"
            f"A{rx:g},{ry:g} 0 0 1 {x:g},{y + h - ry:g}Z"
            f"M{x:g},{y + ry:g}A{rx:g},{ry:g} 0 0 0 {x + w:g},{y + ry:g}"
        )
    if kind == "cache":
        c = min(10, h / 3)
        return f"M{x + c:g},{y:g}H{x + w - c:g}L{x + w:g},{y + c:g}V{y + h - c:g}L{x + w - c:g},{y + h:g}H{x + c:g}L{x:g},{y + h - c:g}V{y + c:g}Z"  # noqa: E501
    if kind == "queue":
        tip = 14
        return f"M{x:g},{y:g}H{x + w - tip:g}L{x + w:g},{y + h / 2:g}L{x + w - tip:g},{y + h:g}H{x:g}Z"
    return _rounded(x, y, w, h, h / 2)


def _curve(points: list[graph_layout.Point]) -> str:
    """A smooth path through ``points`` with horizontal tangents at each (edges leave and enter sideways)."""
    (x0, y0), rest = points[0], points[1:]
    parts = [f"M{x0:.1f},{y0:.1f}"]
    for x1, y1 in rest:
        dx = (x1 - x0) / 2
        parts.append(f"C{x0 + dx:.1f},{y0:.1f} {x1 - dx:.1f},{y1:.1f} {x1:.1f},{y1:.1f}")
        x0, y0 = x1, y1
    return "".join(parts)


def _bezier(start: graph_layout.Point, end: graph_layout.Point, t: float) -> graph_layout.Point:
    """A point of the curve ``_curve`` draws from ``start`` to ``end``."""
    (x0, y0), (x3, y3) = start, end
    dx = (x3 - x0) / 2
    x1, y1, x2, y2 = x0 + dx, y0, x3 - dx, y3
    u = 1 - t
    return (
        u**3 * x0 + 3 * u * u * t * x1 + 3 * u * t * t * x2 + t**3 * x3,
        u**3 * y0 + 3 * u * u * t * y1 + 3 * u * t * t * y2 + t**3 * y3,
    )


def edge_geometry(route: list[graph_layout.Point], spacing: graph_layout.Spacing, back: bool) -> dict[str, Any]:
    """The path of an edge from its source's side to its target's side, running straight through the node
    columns it crosses (its bends), and the places its label may go, best first (``place_labels`` picks)."""
    half = spacing.node_width / 2
    shift = 8 if back else 0  # a call back against the layering runs beside the forward one, not on it
    route = [(x, y + shift) for x, y in route]
    (sx, sy), (tx, ty) = route[0], route[-1]
    start = (sx + half if route[1][0] > sx else sx - half, sy)
    end = (tx - half - 2 if route[-2][0] < tx else tx + half + 2, ty)  # 2 px for the arrow's tip
    points = [start]
    for x, y in route[1:-1]:  # bends: straight across the column
        points += [(x - half, y), (x + half, y)] if route[-1][0] > route[0][0] else [(x + half, y), (x - half, y)]
    points.append(end)
    bends = route[1:-1]
    if bends:  # the middle bend first, then the others: each has its own slot in a column
        middle = len(bends) // 2
        spots = [bends[middle], *bends[:middle], *bends[middle + 1 :]]
    else:  # half way, then nearer the target, then nearer the source
        spots = [_bezier(start, end, t) for t in (0.5, 0.72, 0.28)]
    return {"path": _curve(points), "spots": [(round(x, 1), round(y - 5, 1)) for x, y in spots]}


LABEL_CHAR_WIDTH = 5.9  # px per character of the 10.5 px edge text (tabular figures), a little generous
LABEL_HEIGHT = 12


def place_labels(edges: list[dict[str, Any]], nodes: list[dict[str, Any]]) -> None:
    """Give each edge's compact text the first of its spots where it overlaps no node and no text placed
    before it, busiest calls first; an edge with no free spot shows no text (its figures stay in its
    tooltip, its accessible name and the table of calls). Keeps a dense map readable instead of smudged."""
    taken = [(n["box_x"], n["box_y"], n["box_x"] + n["box_width"], n["box_y"] + n["box_height"]) for n in nodes]

    def free(box: tuple[float, float, float, float]) -> bool:
        return all(box[2] <= b[0] or b[2] <= box[0] or box[3] <= b[1] or b[3] <= box[1] for b in taken)

    for edge in sorted(edges, key=lambda e: (-e["call_rate"], e["source"], e["target"])):
        width = len(edge["text"]) * LABEL_CHAR_WIDTH
        edge["label_x"], edge["label_y"], edge["show_text"] = *edge["spots"][0], False
        for x, y in edge["spots"]:
            box = (x - width / 2, y - LABEL_HEIGHT + 3, x + width / 2, y + 3)  # y is the text's baseline
            if free(box):
                edge["label_x"], edge["label_y"], edge["show_text"] = x, y, True
                taken.append(box)
                break


# --- the page --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Links:
    request: HttpRequest
    start: datetime
    end: datetime
    range_query: dict[str, str]

    def service(self, name: str) -> str:
        return f"{project_url(self.request, 'service', service=name)}?{urlencode(self.range_query)}"

    def traces(self, **filters: Any) -> str:
        return trace_search_url(self.request, **filters, **{"from": self.start, "to": self.end})


def _node_stats(graph: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Per node: calls, rate, errors, p95 and callers. A service's are its own requests (the services
    query); a dependency's are the calls into it, summed over its callers (p95: the slowest caller's)."""
    stats: dict[str, dict[str, Any]] = {}
    for node in graph["nodes"]:
        if node["kind"] == "service":
            stats[node["id"]] = {
                "calls": node.get("request_count", 0),
                "threshold_ms": node.get("apdex_threshold_ms", 0),
                "rate": node.get("request_rate", 0.0),
                "error_rate": node.get("error_rate", 0.0),
                "p95_ms": node.get("p95_ms"),
                "callers": [],
            }
        else:
            stats[node["id"]] = {"calls": 0, "errors": 0, "rate": 0.0, "p95_ms": None, "callers": []}
    for edge in graph["edges"]:
        target = stats[edge["target"]]
        target["callers"].append(edge["source"])
        if edge["target_kind"] != "service":
            target["calls"] += edge["call_count"]
            target["errors"] += edge["error_count"]
            target["rate"] += edge["call_rate"]
            if edge["p95_ms"] is not None:
                target["p95_ms"] = max(target["p95_ms"] or 0.0, edge["p95_ms"])
    for value in stats.values():
        if "errors" in value:
            value["error_rate"] = value["errors"] / value["calls"] if value["calls"] else 0.0
    return stats


def _entries(graph: dict[str, Any]) -> list[str]:
    """Services with requests from outside the map: more requests than calls from other services (a gateway
    that a webhook also calls back is still an entry, so the layout keeps it in the first column)."""
    called: dict[str, int] = {}
    for edge in graph["edges"]:
        if edge["target_kind"] == "service":
            called[edge["target"]] = called.get(edge["target"], 0) + edge["call_count"]
    return [
        node["id"]
        for node in graph["nodes"]
        if node["kind"] == "service" and node.get("request_count", 0) > called.get(node["id"], 0)
    ]


def _figures(rate: float, error_rate: float | None, p95_ms: float | None) -> tuple[str, str]:
    """The figures of a node or call, as a sentence and as the compact text drawn on the map."""
    if p95_ms is None:
        return (
            f"{rate_text(rate)}, {percent_text(error_rate)} errors",
            f"{rate_text(rate)} · {percent_text(error_rate)}",
        )
    sentence = f"{rate_text(rate)}, {percent_text(error_rate)} errors, p95 {ms(p95_ms)}"
    return sentence, f"{rate_text(rate)} · {percent_text(error_rate)} · {ms(p95_ms)}"


def _edge_item(
    edge: dict[str, Any], placed: graph_layout.Layout, spacing: graph_layout.Spacing, links: _Links
) -> dict[str, Any]:
    key = (edge["source"], edge["target"])
    back = key in placed.back_edges
    state = health(edge["error_rate"], edge["p95_ms"], edge["call_count"])
    sentence, text = _figures(edge["call_rate"], edge["error_rate"], edge["p95_ms"])
    # Traces between the two: the source's traces in the range; into a dependency, only those with the client
    # span that calls it. Into a service the search cannot say "calls into the target" (each filter matches
    # one span, and the callee's spans carry no attribute naming the caller), so the link lists the source's
    # traces and the target's service page shows who calls it.
    into = {} if edge["target_kind"] == "service" else dependency_filters(edge["target"], edge["target_kind"])
    return {
        **edge,
        **edge_geometry(placed.routes[key], spacing, back),
        "health": state,
        "glyph": HEALTH_GLYPHS[state],
        "back": back,
        "url": links.traces(service=edge["source"], **into),
        "text": text,
        "rate_text": rate_text(edge["call_rate"]),
        "kind_label": KIND_LABELS.get(edge["target_kind"], edge["target_kind"]),
        "label": f"Calls from {edge['source']} to {edge['target']}: {sentence}. Open the traces.",
        "detail": f"{edge['source']} → {edge['target']}\n{sentence}\n{edge['call_count']} calls",
        # thicker for busier calls, on a log scale (1 call a minute → 1.8 px, 1,000 → 4.5 px)
        "width": round(1.5 + min(3.0, math.log10(1 + edge["call_rate"] * 60)), 2),
    }


def _node_item(
    name: str, kind: str, value: dict[str, Any], *, placed: graph_layout.Layout, spacing: graph_layout.Spacing,
    links: _Links,
) -> dict[str, Any]:  # fmt: skip
    cx, cy = placed.positions[name]
    x, y = cx - spacing.node_width / 2, cy - spacing.node_height / 2
    kind_label = KIND_LABELS.get(kind, kind)
    if kind == "service":
        url = links.service(name)
        state = health(value["error_rate"], value["p95_ms"], value["calls"], value.get("threshold_ms", 0))
        sentence, summary = _figures(value["rate"], value["error_rate"], value["p95_ms"])
        action = "Open the service page."
    else:
        callers = sorted(set(value["callers"]))
        # One caller: its traces calling this dependency. Several: every trace calling it (the search takes
        # one service; each call's own link narrows to its caller).
        url = links.traces(**({"service": callers[0]} if len(callers) == 1 else {}), **dependency_filters(name, kind))
        state = health(value["error_rate"], None, value["calls"])
        sentence, summary = _figures(value["rate"], value["error_rate"], None)
        sentence, summary, action = f"{sentence} in calls", f"{kind_label} · {summary}", "Open the traces calling it."
    return {
        "id": name,
        "kind": kind if kind in KIND_LABELS else "external",
        "kind_label": kind_label,
        "layer": placed.layers[name],
        "name": name if len(name) <= NAME_CHARS else name[: NAME_CHARS - 1] + "…",
        "summary": summary,
        "health": state,
        "glyph": HEALTH_GLYPHS[state],
        "shape": shape(kind, x, y, spacing.node_width, spacing.node_height),
        "box_x": x,
        "box_y": y,
        "box_width": spacing.node_width,
        "box_height": spacing.node_height,
        "text_x": x + 12,
        "name_y": y + 22,
        "summary_y": y + 40,
        "glyph_x": x + spacing.node_width - 12,
        "glyph_y": y + 21,
        "url": url,
        "calls": value["calls"],
        "error_rate": value["error_rate"],
        "p95_ms": value["p95_ms"],
        "label": f"{kind_label.capitalize()} {name}, {HEALTH_LABELS[state]}: {sentence}. {action}",
        "detail": f"{name} ({kind_label}, {HEALTH_LABELS[state]})\n{sentence}",
    }


def build_map(graph: dict[str, Any], links: _Links, spacing: graph_layout.Spacing | None = None) -> dict[str, Any]:
    """Everything the template draws: nodes and calls with geometry, colours, texts and links. Nodes come
    column by column, top to bottom, each followed by its calls: that is the drawing and the tab order."""
    spacing = spacing or graph_layout.Spacing()
    stats = _node_stats(graph)
    placed = graph_layout.layout(
        [n["id"] for n in graph["nodes"]],
        [(e["source"], e["target"]) for e in graph["edges"]],
        spacing,
        entries=_entries(graph),
    )
    kinds = {node["id"]: node["kind"] for node in graph["nodes"]}
    nodes = [
        _node_item(name, kinds[name], stats[name], placed=placed, spacing=spacing, links=links)
        for layer in placed.order
        for name in layer
        if isinstance(name, str)
    ]
    urls = {node["id"]: node["url"] for node in nodes}
    outgoing: dict[str, list[dict[str, Any]]] = {}
    for edge in graph["edges"]:
        item = _edge_item(edge, placed, spacing, links)
        item["source_url"], item["target_url"] = urls[edge["source"]], urls[edge["target"]]
        outgoing.setdefault(edge["source"], []).append(item)
    for node in nodes:
        node["edges"] = outgoing.get(node["id"], [])
    place_labels([edge for edges in outgoing.values() for edge in edges], nodes)
    present = {node["kind"] for node in nodes}
    return {
        "nodes": nodes,
        "edges": [edge for node in nodes for edge in node["edges"]],
        "width": math.ceil(placed.width),
        "height": math.ceil(placed.height),
        "legend_kinds": [
            (kind, label, shape(kind, 1, 1, 34, 18)) for kind, label in KIND_LABELS.items() if kind in present
        ],
    }


class ServiceMapView(ProjectPage):
    template_name = "apm/service_map.html"

    def get(self, request: HttpRequest, **kwargs: Any) -> HttpResponse:
        timerange = self.timerange(request)
        start, end = bounded(timerange)
        graph = queries.service_map(self.organization_id, self.project_id, start, end)
        links = _Links(request, start, end, timerange.query())
        context = {
            "map": build_map(graph, links) if graph["nodes"] else None,
            "thresholds": {
                "error_warning": ERROR_RATE_WARNING,
                "error_critical": ERROR_RATE_CRITICAL,
                "p95_warning": P95_WARNING_MS,
                "p95_critical": P95_CRITICAL_MS,
            },
            "legend_health": [(key, label, HEALTH_GLYPHS[key]) for key, label in HEALTH_LABELS.items()],
            "traces_url": links.traces(),
        }
        return self.page(request, timerange, context)


urlpatterns = [
    path(PROJECT + "map/", ServiceMapView.as_view(), name="service-map"),
]
