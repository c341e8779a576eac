"""The metrics explorer: one metric over time, filtered by attributes, grouped by one, with an aggregation its
kind allows (``apps.metrics.queries.grouped_series``, the API's ``metrics/aggregate/``).

Query parameters: ``name``, ``agg``, ``group_by``, ``attr.<key>`` (or form rows ``attr_key``/``attr_value``) and
the page's time range (UTC). Every point of the chart opens the traces of its step.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from itertools import zip_longest
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.urls import path

from apps.apm import charts
from apps.apm.pages import PROJECT, ProjectPage, bounded, trace_search_url
from apps.metrics import queries

CHART_POINTS = 120
_AGG_LABELS = {"avg": "average", "min": "minimum", "max": "maximum", "sum": "sum", "count": "count",
               "rate": "rate per second", "p50": "p50", "p90": "p90", "p95": "p95", "p99": "p99"}  # fmt: skip


def chart_step(start: datetime, end: datetime, points: int = CHART_POINTS) -> int:
    """Whole minutes (whole hours past six hours, so the hour rollup is read), about ``points`` steps."""
    unit = 60 if end - start <= timedelta(hours=6) else 3600
    return max(unit, -(-int((end - start).total_seconds() / points) // unit) * unit)


def _attributes(request: HttpRequest) -> tuple[list[tuple[str, str]], list[str]]:
    params = request.GET
    pairs: list[tuple[str, str]] = []
    errors: list[str] = []
    for name in params:
        if name.startswith("attr."):
            key = name[5:].strip()
            if not key:
                errors.append("An attribute filter needs a key: attr.<key>=<value>.")
            pairs += [(key, value) for value in params.getlist(name) if key]
    for raw_key, raw_value in zip_longest(params.getlist("attr_key"), params.getlist("attr_value"), fillvalue=""):
        key, value = raw_key.strip(), raw_value.strip()
        if key and value:
            pairs.append((key, value))
        elif key or value:
            errors.append(f"Attribute filter '{key or '?'} = {value or '?'}': enter both a key and a value.")
    pairs = list(dict.fromkeys(pairs))
    if len({k for k, _ in pairs}) < len(pairs):
        errors.append("Each attribute key can be given one value.")
    return pairs, errors


def _y_title(agg: str, unit: str) -> str:
    unit = "" if unit in ("", "1") else unit
    if agg == "rate":
        return f"{unit}/s" if unit else "per second"
    if agg == "count":
        return "count"
    return unit


class MetricsView(ProjectPage):
    template_name = "apm/metrics.html"

    def get(self, request: HttpRequest, **kwargs: Any) -> HttpResponse:
        timerange = self.timerange(request)
        start, end = bounded(timerange)
        org, project = self.organization_id, self.project_id
        names = queries.metric_names(org, project)
        name = request.GET.get("name", "").strip()
        attributes, errors = _attributes(request)
        if timerange.error:
            errors.insert(0, timerange.error)
        group_by = request.GET.get("group_by", "").strip()
        agg = request.GET.get("agg", "").strip()
        if request.GET.get("agg_for", name) != name:
            agg = ""  # the form's aggregation was offered for another metric; its kind may not allow it here
        context: dict[str, Any] = {
            "names": names,
            "name": name,
            "agg": agg,
            "group_by": group_by,
            "attribute_rows": attributes or [("", "")],
            "figure": None,
            "info": None,
        }
        if name:
            found = queries.find_series(org, project, name, {}, queries.MAX_SERIES)
            if not found:
                errors.append(f"No metric named '{name}' in this project. Pick one of the names the list offers.")
            else:
                info = found[0][1]
                allowed = queries.valid_aggregations(info)
                agg = agg or queries.default_aggregation(info)
                if agg not in allowed:
                    errors.append(f"Unknown aggregation '{agg}': use one of {', '.join(queries.AGGREGATIONS)}.")
                elif allowed[agg]:
                    errors.append(f"{_AGG_LABELS[agg]} is not available for {name}: {allowed[agg]}")
                keys = sorted({k for _, i in found for k in (*i.attributes, *i.resource)})
                context.update(
                    info=info.describe(),
                    agg=agg,
                    aggregations=[(a, _AGG_LABELS[a], why) for a, why in allowed.items()],
                    attribute_keys=keys,
                )
                if not errors:
                    context.update(
                        self._chart(
                            request,
                            name,
                            info,
                            agg=agg,
                            attributes=dict(attributes),
                            group_by=group_by,
                            start=start,
                            end=end,
                        )
                    )
                    if context.get("query_error"):
                        errors.append(context["query_error"])
        context["errors"] = errors
        response = self.page(request, timerange, context)
        if errors:
            response.status_code = 400
        return response

    def _chart(
        self,
        request: HttpRequest,
        name: str,
        info: queries.SeriesInfo,
        *,
        agg: str,
        attributes: dict[str, str],
        group_by: str,
        start: datetime,
        end: datetime,
    ) -> dict[str, Any]:
        step = chart_step(start, end)
        try:
            result = queries.grouped_series(
                self.organization_id,
                self.project_id,
                name,
                attributes=attributes,
                start=start,
                end=end,
                step_seconds=step,
                agg=agg,
                group_by=group_by or None,
            )
        except queries.QueryError as exc:
            return {"query_error": str(exc)}
        for group in result["groups"]:
            if not group_by:
                group["label"] = name
            elif group["value"] is None:
                group["label"] = f"(no {group_by})"
            else:
                group["label"] = f"{group_by}={group['value']}"

        def traces_at(moment: datetime, group: dict[str, Any]) -> str:
            span = {"from": moment, "to": moment + timedelta(seconds=step)}
            return trace_search_url(request, service=group["service"], **span)

        has_points = any(g["points"] for g in result["groups"])
        title = f"{name}: {_AGG_LABELS[agg]}" + (f" by {group_by}" if group_by else "")
        figure = (
            charts.metric_lines(result["groups"], title, _y_title(agg, info.unit), traces_at) if has_points else None
        )
        return {"figure": figure, "result": result, "step": step}


urlpatterns = [
    path(PROJECT + "metrics/", MetricsView.as_view(), name="metrics"),
]
