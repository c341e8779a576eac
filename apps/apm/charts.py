"""Plotly figures built on the server; static/js/charts.js draws them and follows their links.

Each trace may carry ``customdata`` of URLs: clicking a point opens the traces (or service) behind it.
Figures are plain dicts (``plotly.graph_objects`` validated, then ``to_plotly_json``), rendered into the page
as JSON by ``templates/components/chart.html``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import plotly.graph_objects as go

_LAYOUT: dict[str, Any] = {
    "margin": {"l": 48, "r": 12, "t": 28, "b": 32},
    "height": 220,
    "hovermode": "x unified",
    "showlegend": True,
    "legend": {"orientation": "h", "y": -0.18},
    "paper_bgcolor": "rgba(0,0,0,0)",
    "plot_bgcolor": "rgba(0,0,0,0)",
    "xaxis": {"type": "date", "showgrid": False},
    "yaxis": {"rangemode": "tozero", "gridcolor": "rgba(128,128,128,0.2)"},
}


def _figure(traces: list[go.Scatter | go.Bar], title: str, y_title: str, **layout: Any) -> dict[str, Any]:
    figure = go.Figure(data=traces, layout={**_LAYOUT, "title": {"text": title, "x": 0, "font": {"size": 13}}})
    figure.update_yaxes(title_text=y_title)
    figure.update_layout(**layout)
    return figure.to_plotly_json()


def _markers(deploys: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Dashed vertical lines labelled with the version, where a new ``service.version`` first appeared."""
    line = {"dash": "dash", "width": 1, "color": "#8c564b"}
    shapes = [
        {"type": "line", "xref": "x", "yref": "paper", "x0": d["time"], "x1": d["time"], "y0": 0, "y1": 1, "line": line}
        for d in deploys
    ]
    notes = [
        {"x": d["time"], "y": 1, "xref": "x", "yref": "paper", "text": f"deploy {d['version']}", "showarrow": False,
         "xanchor": "left", "yanchor": "top", "font": {"size": 10}}
        for d in deploys
    ]  # fmt: skip
    return {"shapes": shapes, "annotations": notes}


def red_charts(
    points: Sequence[dict[str, Any]],
    link: Callable[[datetime], str],
    previous: Sequence[dict[str, Any]] | None = None,
    deploys: Sequence[dict[str, Any]] = (),
) -> list[dict[str, Any]]:
    """Request rate, error rate and latency percentiles over time; ``previous`` overlays the period before
    (shifted onto this one), ``deploys`` marks new versions; every point links to the traces of its step."""
    times = [p["time"] for p in points]
    urls = [link(t) for t in times]

    def line(name: str, values: list[Any], **style: Any) -> go.Scatter:
        return go.Scatter(x=times, y=values, name=name, mode="lines", customdata=urls, **style)

    def earlier(name: str, key: str, scale: float = 1.0) -> list[go.Scatter]:
        if not previous:
            return []
        values = [p[key] * scale if p[key] is not None else None for p in previous][: len(times)]
        return [go.Scatter(x=times, y=values, name=f"{name}, previous period", mode="lines",
                           line={"dash": "dot", "width": 1}, hoverinfo="skip")]  # fmt: skip

    markers = _markers(deploys)
    rate = [round(p["request_rate"] * 60, 3) for p in points]
    errors = [round(p["error_rate"] * 100, 2) if p["request_count"] else None for p in points]
    return [
        _figure(
            [line("requests/min", rate), *earlier("requests/min", "request_rate", 60)],
            "Requests",
            "per minute",
            **markers,
        ),
        _figure(
            [line("errors %", errors, line={"color": "#d62728"}), *earlier("errors %", "error_rate", 100)],
            "Error rate",
            "%",
        ),
        _figure(
            [
                line("p50", [p["p50_ms"] for p in points]),
                line("p95", [p["p95_ms"] for p in points]),
                line("p99", [p["p99_ms"] for p in points]),
                *earlier("p95", "p95_ms"),
            ],
            "Latency",
            "ms",
            **markers,
        ),
    ]


def sparkline(points: Sequence[dict[str, Any]], key: str = "request_count") -> dict[str, Any]:
    """A tiny line of ``key`` over time for a table row (no axes, no legend, not clickable)."""
    figure = go.Figure(
        data=[
            go.Scatter(
                x=[p["time"] for p in points],
                y=[p[key] for p in points],
                mode="lines",
                line={"width": 1.5},
                fill="tozeroy",
                hoverinfo="skip",
            )
        ],
        layout={
            "margin": {"l": 0, "r": 0, "t": 0, "b": 0},
            "height": 28,
            "width": 120,
            "showlegend": False,
            "paper_bgcolor": "rgba(0,0,0,0)",
            "plot_bgcolor": "rgba(0,0,0,0)",
            "xaxis": {"visible": False},
            "yaxis": {"visible": False, "rangemode": "tozero"},
        },
    )
    return figure.to_plotly_json()


_KIND_LABELS = {"database": "database", "cache": "cache", "queue": "queue", "external": "HTTP (external)",
                "service": "downstream service", "internal": "internal"}  # fmt: skip


def time_breakdown(operations: Sequence[dict[str, Any]], calls_out: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    """Where a service's time goes: total seconds per dependency it calls (by kind) and per internal operation."""
    bars: list[tuple[str, str, float]] = []
    for edge in calls_out:
        if edge["avg_ms"] is not None:
            bars.append((edge["target"], _KIND_LABELS.get(edge["target_kind"], edge["target_kind"]),
                         edge["avg_ms"] * edge["call_count"] / 1000))  # fmt: skip
    for row in operations:
        if row["span_kind"] == 1 and row["avg_ms"] is not None:  # INTERNAL spans: the service's own code
            bars.append((row["operation"], "internal", row["avg_ms"] * row["request_count"] / 1000))
    if not bars:
        return None
    bars.sort(key=lambda bar: bar[2])
    traces = []
    for kind in sorted({bar[1] for bar in bars}):
        mine = [bar for bar in bars if bar[1] == kind]
        traces.append(go.Bar(y=[b[0] for b in mine], x=[round(b[2], 3) for b in mine], name=kind, orientation="h"))
    layout = {
        **_LAYOUT,
        "hovermode": "closest",
        "barmode": "stack",
        "height": 60 + 22 * len(bars),
        "margin": {"l": 160, "r": 12, "t": 28, "b": 32},
        "title": {"text": "Time spent, by dependency and internal operation", "x": 0, "font": {"size": 13}},
        "xaxis": {"title": {"text": "seconds in range"}},
        "yaxis": {"automargin": True},
    }
    figure = go.Figure(data=traces, layout=layout)
    return figure.to_plotly_json()


def trace_durations(points: Sequence[dict[str, Any]], link: Callable[[str], str]) -> dict[str, Any]:
    """Trace duration over time (one point per trace: its longest matching span), traces with errors in red.

    Dragging selects a box (``dragmode: select``); static/js/tracesearch.js turns the box into the search's
    from/to/min_duration_ms/max_duration_ms. Clicking a point opens that trace (``link(trace_id)``).
    Times are naive UTC strings: plotly.js draws dates without a time zone, and the page's picker is UTC.
    """

    def when(ns: int) -> str:
        return datetime.fromtimestamp(ns / 1e9, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")

    def scatter(name: str, rows: list[dict[str, Any]], color: str) -> go.Scatter:
        return go.Scatter(
            x=[when(r["start_time_unix_nano"]) for r in rows],
            y=[round(r["duration_ns"] / 1e6, 3) for r in rows],
            customdata=[link(r["trace_id"]) for r in rows],
            name=name,
            mode="markers",
            marker={"color": color, "size": 6, "opacity": 0.75},
            hovertemplate="%{x}<br>%{y} ms<extra>" + name + "</extra>",
        )

    traces = [
        scatter("ok", [p for p in points if not p["error"]], "#2f5fd0"),
        scatter("with errors", [p for p in points if p["error"]], "#d62728"),
    ]
    layout = {
        **_LAYOUT,
        "height": 240,
        "hovermode": "closest",
        "dragmode": "select",
        "selectdirection": "any",
        "title": {"text": f"Duration of the {len(points)} newest matching traces", "x": 0, "font": {"size": 13}},
        "yaxis": {"type": "log", "title": {"text": "ms (log)"}, "gridcolor": "rgba(128,128,128,0.2)"},
    }
    return go.Figure(data=traces, layout=layout).to_plotly_json()


def top_statements(
    rows: Sequence[dict[str, Any]], link: Callable[[dict[str, Any]], str], top: int = 10
) -> dict[str, Any]:
    """Horizontal bars of the ``top`` database statements by total time in the range; a bar opens ``link(row)``
    (the slowest call's trace). Labels are cut to fit; the full statement is in the hover text."""
    from html import escape

    chosen = sorted(rows, key=lambda r: r["total_ms"], reverse=True)[:top][::-1]  # longest at the top

    def label(row: dict[str, Any]) -> str:
        text = row["statement"]
        return escape(text if len(text) <= 48 else text[:47] + "…", quote=False)  # plotly reads tags in texts

    bar = go.Bar(
        y=[f"{i + 1}. {label(r)}" for i, r in enumerate(reversed(chosen))][::-1],
        x=[round(r["total_ms"] / 1000, 3) for r in chosen],
        orientation="h",
        customdata=[link(r) for r in chosen],
        hovertext=[
            f"{escape(r['statement'][:300], quote=False)}<br>{r['count']} calls, p95 {r['p95_ms']} ms" for r in chosen
        ],
        hovertemplate="%{hovertext}<br>%{x} s<extra></extra>",
        marker={"color": "#2f5fd0"},
    )
    layout = {
        **_LAYOUT,
        "hovermode": "closest",
        "showlegend": False,
        "height": 60 + 24 * len(chosen),
        "margin": {"l": 320, "r": 12, "t": 28, "b": 32},
        "title": {"text": f"Top {len(chosen)} statements by total time", "x": 0, "font": {"size": 13}},
        "xaxis": {"title": {"text": "seconds in range"}, "rangemode": "tozero"},
        "yaxis": {"automargin": True, "tickfont": {"family": "monospace", "size": 11}},
    }
    return go.Figure(data=[bar], layout=layout).to_plotly_json()


def occurrences_chart(points: Sequence[dict[str, Any]], link: Callable[[datetime], str]) -> dict[str, Any]:
    """An issue's occurrences per step; a bar opens the error traces of its step."""
    times = [p["time"] for p in points]
    bars = go.Bar(x=times, y=[p["count"] for p in points], name="occurrences", marker={"color": "#d62728"},
                  customdata=[link(t) for t in times])  # fmt: skip
    return _figure([bars], "Occurrences", "count", showlegend=False, hovermode="closest")


# --- Logs and metrics explorers (apps/apm/logs.py, apps/apm/metrics.py) ---------------------------------------------

SEVERITY_COLORS = {"unspecified": "#a0a7b0", "trace": "#b7c3d0", "debug": "#7f8fa6", "info": "#2f5fd0",
                   "warn": "#f0a500", "error": "#d62728", "fatal": "#7b1fa2"}  # fmt: skip


def _utc_text(moment: datetime) -> str:
    """A naive UTC time string: plotly.js draws dates without a time zone, and the pages' picker is UTC."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def log_volume(
    buckets: Sequence[dict[str, Any]], bands: Sequence[str], step_seconds: int, link: Callable[[datetime], str]
) -> dict[str, Any]:
    """Log records per step, stacked by severity band (``apps.logs.queries.volume``'s buckets); a bar opens the
    records of its step (``link(step start)``). Bands without records in the range are left out of the legend."""
    times = [_utc_text(b["time"]) for b in buckets]
    urls = [link(b["time"]) for b in buckets]
    bars = [
        go.Bar(
            x=times,
            y=[b["counts"][band] for b in buckets],
            name=band,
            customdata=urls,
            marker={"color": SEVERITY_COLORS.get(band, "#888888")},
            hovertemplate="%{y} " + band + "<extra></extra>",
        )
        for band in bands
        if any(b["counts"][band] for b in buckets)
    ]
    minutes = step_seconds // 60
    per = f"{minutes} min" if minutes < 60 or minutes % 60 else f"{minutes // 60} h"
    return _figure(bars, f"Log records per {per}, by severity", "records", barmode="stack", bargap=0.15)


def metric_lines(
    groups: Sequence[dict[str, Any]],
    title: str,
    y_title: str,
    link: Callable[[datetime, dict[str, Any]], str],
) -> dict[str, Any]:
    """One line per group (``apps.metrics.queries.grouped_series``); each point opens the traces of its step
    (``link(step start, group)``)."""
    lines = []
    for group in groups:
        moments = [datetime.fromtimestamp(p["time_unix_nano"] / 1e9, UTC) for p in group["points"]]
        label = group.get("label") or str(group["value"])
        lines.append(
            go.Scatter(
                x=[_utc_text(m) for m in moments],
                y=[p["value"] for p in group["points"]],
                name=label,
                mode="lines+markers",
                marker={"size": 4},
                customdata=[link(m, group) for m in moments],
            )
        )
    return _figure(lines, title, y_title, height=320, hovermode="closest")
