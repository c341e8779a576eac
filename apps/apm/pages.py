"""What every APM page shares: the project scope, the time range, and the empty state."""

from __future__ import annotations

from datetime import UTC, datetime
from itertools import zip_longest
from typing import Any
from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import render
from django.urls import reverse

from apps.core.timerange import TimeRange, parse_timerange
from apps.core.views import TenantView

TELEMETRY_READ = "telemetry:read"
PROJECT = "o/<slug:organization_slug>/p/<slug:project_slug>/"


class ProjectPage(TenantView):
    """A read-only page over one project's telemetry (``telemetry:read``)."""

    scope_map = {"GET": TELEMETRY_READ}
    template_name = ""

    @property
    def organization_id(self) -> int:
        return self.access.organization_id

    @property
    def project_id(self) -> int:
        assert self.access.project_id is not None  # every APM route names a project
        return self.access.project_id

    def timerange(self, request: HttpRequest, default: str = "1h") -> TimeRange:
        return parse_timerange(request.GET, default=default)

    def page(self, request: HttpRequest, timerange: TimeRange, context: dict[str, Any]) -> HttpResponse:
        """Render ``template_name``; a time range the page could not read answers 400 with its message."""
        context = {"timerange": timerange, "send_data": send_data_help(request), **context}
        return render(request, self.template_name, context, status=400 if timerange.error else 200)


def send_data_help(request: HttpRequest) -> dict[str, str]:
    """The project's OTLP endpoints for the empty states (the ingest key itself is shown once, at creation)."""
    base = request.build_absolute_uri("/").rstrip("/")
    return {"otlp_http": base, "traces": f"{base}/v1/traces"}


def trace_search_url(request: HttpRequest, **filters: Any) -> str:
    """The trace search of this project filtered by ``filters`` (the API's names: service, operation, status,
    min_duration_ms, max_duration_ms, attr.<key>, from, to); datetimes become UTC ISO strings."""
    match = request.resolver_match
    assert match is not None
    base = reverse("apm:traces", kwargs={k: match.kwargs[k] for k in ("organization_slug", "project_slug")})
    query = {k: (v.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S") if isinstance(v, datetime) else v)
             for k, v in filters.items() if v not in (None, "")}  # fmt: skip
    return f"{base}?{urlencode(query)}" if query else base


def project_url(request: HttpRequest, name: str, **kwargs: Any) -> str:
    """``reverse`` of an APM page in the current project."""
    match = request.resolver_match
    assert match is not None
    tenant = {k: match.kwargs[k] for k in ("organization_slug", "project_slug")}
    return reverse(f"apm:{name}", kwargs={**tenant, **kwargs})


def bounded(timerange: TimeRange) -> tuple[datetime, datetime]:
    """The range's start and end (APM pages never offer "all time", so both are set)."""
    if timerange.start is None or timerange.end is None:
        raise ValueError("APM pages need a bounded time range")
    return timerange.start, timerange.end


def attribute_filters(params: QueryDict) -> tuple[list[tuple[str, str]], list[str]]:
    """The attribute filters of a search form: ``attr.<key>=<value>`` (links and the API's spelling),
    ``attr_key``/``attr_value`` rows (the form) and ``attr=key=value``; deduplicated, with what is wrong."""
    attributes: list[tuple[str, str]] = []
    errors: list[str] = []
    for name in params:
        if name.startswith("attr."):
            key = name[5:].strip()
            if not key:
                errors.append("An attribute filter needs a key: attr.<key>=<value>.")
            attributes += [(key, value) for value in params.getlist(name) if key]
    for raw_key, raw_value in zip_longest(params.getlist("attr_key"), params.getlist("attr_value"), fillvalue=""):
        key, value = raw_key.strip(), raw_value.strip()
        if key and value:
            attributes.append((key, value))
        elif key or value:
            errors.append(f"Attribute filter '{key or '?'} = {value or '?'}': enter both a key and a value.")
    for text in params.getlist("attr"):
        key, equals, value = text.partition("=")
        if not equals or not key.strip():
            errors.append(f"'{text}' is not an attribute filter: write key=value, for example http.route=/checkout.")
        else:
            attributes.append((key.strip(), value.strip()))
    return list(dict.fromkeys(attributes)), errors
