"""The logs explorer: search a project's log records, see their volume by severity, follow them live.

The page reads the log API's query parameters (``q``, ``service``, ``severity_min``, ``trace_id``,
``attr.<key>``, ``cursor``) through the API's own parser, so both accept and refuse the same values; attribute
filters also come as form rows ``attr_key``/``attr_value``. The time range is the page's picker (UTC).
"""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse, QueryDict
from django.urls import path
from rest_framework import exceptions

from apps.apm import charts
from apps.apm.pages import PROJECT, ProjectPage, attribute_filters, bounded, project_url
from apps.core.timerange import TimeRange
from apps.logs import queries
from apps.logs.api.views import log_filter, volume_step

PAGE_SIZE = 100
_SEVERITIES = ["trace", "debug", "info", "warn", "error", "fatal"]
_LABELS = {"trace_id": "Trace id", "severity_min": "Minimum severity", "attr.": "Attribute", "cursor": "Page"}
_LINK_TIME = "%Y-%m-%dT%H:%M:%S"


@dataclasses.dataclass
class LogSearch:
    """What the form asked for (as the API names it, for links), the parsed filters, and any errors."""

    fields: dict[str, str]
    attributes: list[tuple[str, str]]
    errors: list[str]
    filters: dict[str, Any] | None = None
    cursor: queries.Cursor | None = None

    @property
    def narrowed(self) -> bool:
        return bool(self.fields or self.attributes)

    def params(self, timerange: TimeRange, **extra: str) -> list[tuple[str, str]]:
        pairs = [*time_params(timerange), *self.fields.items()]
        pairs += [(f"attr.{k}", v) for k, v in self.attributes]
        return pairs + list(extra.items())


def time_params(timerange: TimeRange) -> list[tuple[str, str]]:
    """``range``, or ``from``/``to`` to the second (a bar of the chart is a range finer than the picker's)."""
    if not timerange.is_custom:
        return [("range", timerange.key)]
    start, end = bounded(timerange)
    return [("from", start.astimezone(UTC).strftime(_LINK_TIME)), ("to", end.astimezone(UTC).strftime(_LINK_TIME))]


def _messages(exc: exceptions.ValidationError) -> list[str]:
    detail = exc.detail
    if isinstance(detail, dict):
        return [f"{_LABELS.get(str(k), str(k))}: {m}" for k, messages in detail.items() for m in messages]
    return [str(m) for m in (detail if isinstance(detail, list) else [detail])]


def parse_search(params: QueryDict, timerange: TimeRange) -> LogSearch:
    fields = {k: params.get(k, "").strip() for k in ("q", "service", "severity_min", "trace_id")}
    fields = {k: v for k, v in fields.items() if v}
    attributes, errors = attribute_filters(params)
    errors = [timerange.error, *errors] if timerange.error else errors
    search = LogSearch(fields, attributes, errors)
    if len({k for k, _ in attributes}) < len(attributes):
        errors.append("Attribute: each key can be given one value.")
    try:
        search.filters = log_filter(fields, dict(attributes))
        cursor = params.get("cursor", "")
        if cursor:
            search.cursor = queries.Cursor.decode(cursor)
    except exceptions.ValidationError as exc:
        errors += _messages(exc)
    except ValueError:
        errors.append("Page: this 'older' link is not valid; start again from the newest records.")
    return search


def _band(number: int) -> str:
    return queries.SEVERITY_BANDS[((number - 1) // 4) * 4 + 1 if 1 <= number <= 24 else 0]


def _display(record: dict[str, Any], trace_url: str) -> dict[str, Any]:
    ns = record["time_unix_nano"] or record["observed_time_unix_nano"]
    body = record["body"]
    band = _band(record["severity_number"])
    return {
        **record,
        "time": datetime.fromtimestamp(ns / 1e9, UTC),
        "band": band,
        "severity": record["severity_text"] or band.upper(),
        "text": body if isinstance(body, str) else ("" if body is None else json.dumps(body, sort_keys=True)),
        "trace_url": trace_url.replace("0" * 32, record["trace_id"]) if record["trace_id"] else None,
        "attributes_json": json.dumps(record["attributes"] or {}, indent=2, sort_keys=True),
        "resource_json": json.dumps(record["resource"] or {}, indent=2, sort_keys=True),
    }


class LogsView(ProjectPage):
    template_name = "apm/logs.html"

    def get(self, request: HttpRequest, **kwargs: Any) -> HttpResponse:
        timerange = self.timerange(request)
        start, end = bounded(timerange)
        search = parse_search(request.GET, timerange)
        org, project = self.organization_id, self.project_id
        records: list[dict[str, Any]] = []
        figure = None
        older = None
        if not search.errors and search.filters is not None:
            found = queries.search_logs(
                org, project, **search.filters, start=start, end=end, limit=PAGE_SIZE, after=search.cursor
            )
            trace_url = project_url(request, "trace", trace_id="0" * 32)
            records = [_display(r, trace_url) for r in found]
            if len(found) == PAGE_SIZE:
                older = f"{request.path}?{urlencode(search.params(timerange, cursor=found[-1]['cursor']))}"
            step = volume_step(end - start)
            buckets = queries.volume(org, project, start=start, end=end, step_seconds=step, **search.filters)
            if buckets:
                bands = list(queries.SEVERITY_BANDS.values())
                figure = charts.log_volume(buckets, bands, step, lambda t: self._step_url(request, search, t, step))
        context = {
            "search": search,
            "records": records,
            "figure": figure,
            "older_url": older,
            "newest_url": f"{request.path}?{urlencode(search.params(timerange))}" if search.cursor else None,
            "page_size": PAGE_SIZE,
            "time_params": time_params(timerange),
            "attribute_rows": search.attributes or [("", "")],
            "severities": _SEVERITIES,
            "services": queries.log_services(org, project, start, end),
            "clear_url": f"{request.path}?{urlencode(time_params(timerange))}",
        }
        response = self.page(request, timerange, context)
        if search.errors:
            response.status_code = 400
        return response

    @staticmethod
    def _step_url(request: HttpRequest, search: LogSearch, moment: datetime, step: int) -> str:
        """The records of one bar: the same filters over the bar's step."""
        pairs = search.params(TimeRange("custom", moment, moment + timedelta(seconds=step)))
        return f"{request.path}?{urlencode(pairs)}"


urlpatterns = [
    path(PROJECT + "logs/", LogsView.as_view(), name="logs"),
]
