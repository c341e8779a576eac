"""Plotly figures of the alerting pages, built on the server (static/js/charts.js draws them).

Alerting sits beside ``apps.apm`` in the import layers, so it keeps its own small figure builders in the same
style (``templates/components/chart.html`` renders any of them). Times are naive UTC strings: plotly.js
draws dates without a time zone, and the pages say UTC.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import plotly.graph_objects as go

_LAYOUT: dict[str, Any] = {
    "margin": {"l": 56, "r": 12, "t": 32, "b": 32},
    "height": 260,
    "hovermode": "x unified",
    "showlegend": True,
    "legend": {"orientation": "h", "y": -0.2},
    "paper_bgcolor": "rgba(0,0,0,0)",
    "plot_bgcolor": "rgba(0,0,0,0)",
    "xaxis": {"type": "date", "showgrid": False},
    "yaxis": {"rangemode": "tozero", "gridcolor": "rgba(128,128,128,0.2)"},
}
_LEVELS = {  # threshold lines: colour and dash per level
    "critical": ("#d62728", "dash"),
    "warning": ("#e3a008", "dash"),
    "recovery": ("#2ca02c", "dot"),
}
_FIRED_FILL = {"critical": "rgba(214,39,40,0.14)", "warning": "rgba(227,160,8,0.16)"}


def _when(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def group_label(labels: Mapping[str, Any]) -> str:
    """``service=checkout, operation=GET /`` (or "all data" for a rule without group_by)."""
    return ", ".join(f"{key}={value}" for key, value in labels.items()) or "all data"


def preview_figure(group: Mapping[str, Any], conditions: Sequence[Mapping[str, Any]], *, start: datetime,
                   end: datetime) -> dict[str, Any]:  # fmt: skip
    """One group of a rule preview (``apps.alerting.preview.preview``): each query's value per step as a line,
    each condition's thresholds as horizontal lines of its query's colour family, and the periods the rule
    would have been firing shaded (red for critical, amber for warning)."""
    points = group["points"]
    times = [_when(point["time"]) for point in points]
    names = list(dict.fromkeys(name for point in points for name in point["values"]))
    names += [c["query"] for c in conditions if c.get("query") and c["query"] not in names]
    # Queries measure different things (ms, ratios, counts): the first on the left axis, the others on the right.
    axis = {name: "y" if index == 0 else "y2" for index, name in enumerate(names)}
    traces: list[go.Scatter] = [
        go.Scatter(
            x=times,
            y=[point["values"].get(name) for point in points],
            name=name,
            mode="lines+markers",  # a step with data between two without is a lone point: mark it
            connectgaps=False,
            line={"width": 1.6},
            marker={"size": 4},
            yaxis=axis[name],
        )
        for name in names
    ]
    for index, condition in enumerate(conditions):
        for level, (colour, dash) in _LEVELS.items():
            value = condition.get(level)
            if value is None or not times:
                continue
            traces.append(go.Scatter(
                x=[times[0], times[-1]], y=[value, value], mode="lines", hoverinfo="skip",
                name=f"{condition.get('query')} {condition.get('op')} {value:g} ({level}, condition {index + 1})",
                line={"color": colour, "dash": dash, "width": 1}, yaxis=axis.get(condition.get("query"), "y"),
            ))  # fmt: skip
    shapes = [
        {"type": "rect", "xref": "x", "yref": "paper", "y0": 0, "y1": 1, "line": {"width": 0}, "layer": "below",
         "x0": _when(period["from"]), "x1": _when(period["to"] or end),
         "fillcolor": _FIRED_FILL.get(period.get("severity", ""), _FIRED_FILL["warning"])}
        for period in group["fired"]
    ]  # fmt: skip
    fired = len(group["fired"])
    title = f"{group_label(group['labels'])}: fired {fired} time{'' if fired == 1 else 's'}"
    layout = {**_LAYOUT, "title": {"text": title, "x": 0, "font": {"size": 13}}, "shapes": shapes,
              "xaxis": {**_LAYOUT["xaxis"], "range": [_when(start), _when(end)]}}  # fmt: skip
    if len(names) > 1:
        layout["yaxis"] = {**_LAYOUT["yaxis"], "title": {"text": names[0]}}
        layout["yaxis2"] = {"overlaying": "y", "side": "right", "rangemode": "tozero", "showgrid": False,
                            "title": {"text": ", ".join(names[1:])}}  # fmt: skip
        layout["margin"] = {**_LAYOUT["margin"], "r": 56}
    return go.Figure(data=traces, layout=layout).to_plotly_json()


def notifications_per_hour(hours: Sequence[int]) -> dict[str, Any]:
    """Notifications sent in each hour of the day (UTC), summed over the range: when on-call people get paged."""
    figure = go.Figure(
        data=[
            go.Bar(
                x=list(range(24)),
                customdata=[f"{hour:02d}:00" for hour in range(24)],
                y=list(hours),
                name="notifications",
                marker={"color": "#2f5fd0"},
                hovertemplate="%{customdata} UTC: %{y}<extra></extra>",
            )
        ],
        layout={
            **_LAYOUT,
            "hovermode": "closest",
            "showlegend": False,
            "title": {"text": "Notifications per hour of day (UTC)", "x": 0, "font": {"size": 13}},
            "xaxis": {
                "type": "linear",
                "range": [-0.5, 23.5],
                "tickmode": "array",
                "tickvals": list(range(0, 24, 3)),
                "ticktext": [f"{hour:02d}:00" for hour in range(0, 24, 3)],
                "title": {"text": "hour (UTC)"},
            },
            "yaxis": {"rangemode": "tozero", "gridcolor": "rgba(128,128,128,0.2)", "title": {"text": "sent"}},
        },
    )
    return figure.to_plotly_json()
