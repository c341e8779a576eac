"""The services overview and the service page."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import path

from apps.apm import charts
from apps.apm.pages import PROJECT, ProjectPage, bounded, project_url, trace_search_url
from apps.audit.services import Origin
from apps.tracing import queries, service_settings

PROJECTS_WRITE = "projects:write"

# Columns of the services and operations tables: (key, label); ?sort=<key> or ?sort=-<key>.
_COLUMNS = [
    ("request_rate", "Requests/s"),
    ("error_rate", "Error rate"),
    ("p50_ms", "p50"),
    ("p95_ms", "p95"),
    ("p99_ms", "p99"),
    ("apdex", "Apdex"),
]
_COMPARED = ("request_rate", "error_rate", "p95_ms")


def _sorted(rows: list[dict[str, Any]], sort: str, name_key: str) -> list[dict[str, Any]]:
    key = sort.lstrip("-")
    if key not in {k for k, _ in _COLUMNS} | {name_key}:
        return rows  # the query's order: busiest first
    present = [r for r in rows if r.get(key) is not None]
    missing = [r for r in rows if r.get(key) is None]
    return sorted(present, key=lambda r: r[key], reverse=sort.startswith("-")) + missing


def _with_change(rows: list[dict[str, Any]], before: list[dict[str, Any]], name_key: str) -> None:
    """Add ``change`` (relative, for the compared columns) against the previous period's rows."""
    earlier = {r[name_key]: r for r in before}
    for row in rows:
        old = earlier.get(row[name_key], {})
        row["change"] = {
            key: (row[key] - old[key]) / old[key] if row.get(key) is not None and old.get(key) else None
            for key in _COMPARED
        }


def _previous(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    return start - (end - start), start


class ServicesView(ProjectPage):
    template_name = "apm/services.html"

    def get(self, request: HttpRequest, **kwargs: Any) -> HttpResponse:
        timerange = self.timerange(request)
        start, end = bounded(timerange)
        rows = queries.services(self.organization_id, self.project_id, start, end)
        compare = request.GET.get("compare", "1") != "0"
        if compare:
            before = queries.services(self.organization_id, self.project_id, *_previous(start, end))
            _with_change(rows, before, "service")
        series = queries.service_series(
            self.organization_id, self.project_id, start, end, step=queries.step_for(start, end, points=40)
        )
        sort = request.GET.get("sort", "")
        for row in rows:
            row["url"] = project_url(request, "service", service=row["service"])
            row["traces_url"] = trace_search_url(request, service=row["service"], **{"from": start, "to": end})
            row["sparkline"] = charts.sparkline(series.get(row["service"], []))
        context = {
            "rows": _sorted(rows, sort, "service"),
            "columns": _COLUMNS,
            "sort": sort,
            "compare": compare,
        }
        return self.page(request, timerange, context)


class ServiceView(ProjectPage):
    template_name = "apm/service.html"
    scope_map = {"GET": "telemetry:read", "POST": PROJECTS_WRITE}  # POST: the service's Apdex threshold

    def post(self, request: HttpRequest, service: str, **kwargs: Any) -> HttpResponse:
        if not queries.service_exists(self.organization_id, self.project_id, service):
            raise Http404(f"No service named {service!r} has sent telemetry to this project.")
        raw = request.POST.get("apdex_threshold_ms", "").strip()
        if not raw.isdigit() or not 1 <= int(raw) <= 600_000:
            messages.error(request, "The Apdex threshold is a whole number of milliseconds from 1 to 600,000.")
        else:
            service_settings.set_apdex_threshold(
                self.organization_id, self.project_id, service, threshold_ms=int(raw), actor=request.user,
                origin=Origin.from_request(request),
            )  # fmt: skip
            messages.success(request, f"Apdex of {service} now counts requests up to {int(raw)} ms as satisfied.")
        return HttpResponseRedirect(request.get_full_path())

    def get(self, request: HttpRequest, service: str, **kwargs: Any) -> HttpResponse:
        if not queries.service_exists(self.organization_id, self.project_id, service):
            raise Http404(f"No service named {service!r} has sent telemetry to this project.")
        timerange = self.timerange(request)
        start, end = bounded(timerange)
        step = queries.step_for(start, end)
        org, project = self.organization_id, self.project_id
        points = queries.service_series(org, project, start, end, step=step, service=service)[service]
        compare = request.GET.get("compare") == "1"
        previous = None
        if compare:
            before = queries.service_series(org, project, *_previous(start, end), step=step, service=service)
            previous = before.get(service)

        def traces_at(moment: datetime) -> str:
            return trace_search_url(
                request, service=service, **{"from": moment, "to": moment + timedelta(seconds=step)}
            )

        operations = queries.operations(org, project, service, start, end)
        if compare:
            _with_change(operations, queries.operations(org, project, service, *_previous(start, end)), "operation")
        for row in operations:
            row["traces_url"] = trace_search_url(
                request, service=service, operation=row["operation"], **{"from": start, "to": end}
            )
        graph = queries.service_map(org, project, start, end)
        calls_out = [e for e in graph["edges"] if e["source"] == service]
        calls_in = [e for e in graph["edges"] if e["target"] == service]
        for edge in calls_out:
            is_service = edge["target_kind"] == "service"
            edge["url"] = project_url(request, "service", service=edge["target"]) if is_service else None
        for edge in calls_in:
            edge["url"] = project_url(request, "service", service=edge["source"])
        deploys = queries.deploys(org, project, service, start, end)
        context = {
            "apdex_threshold_ms": service_settings.apdex_threshold(org, project, service),
            "can_configure": PROJECTS_WRITE in self.access.scopes,
            "service": service,
            "deploys": deploys,
            "charts": charts.red_charts(
                points, traces_at, previous, queries.deploys(org, project, service, start, end)
            ),
            "operations": _sorted(operations, request.GET.get("sort", ""), "operation"),
            "columns": _COLUMNS,
            "sort": request.GET.get("sort", ""),
            "compare": compare,
            "calls_out": calls_out,
            "calls_in": calls_in,
            "breakdown": charts.time_breakdown(operations, calls_out),
            "has_data": any(p["request_count"] for p in points) or bool(operations),
            "traces_url": trace_search_url(request, service=service, **{"from": start, "to": end}),
        }
        return self.page(request, timerange, context)


urlpatterns = [
    path(PROJECT + "services/", ServicesView.as_view(), name="services"),
    path(PROJECT + "services/<path:service>/", ServiceView.as_view(), name="service"),
]
