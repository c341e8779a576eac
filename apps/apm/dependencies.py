"""The dependencies page: database statements, N+1 patterns, external HTTP calls and method timings.

Figures come from the raw spans of the range (apps/tracing/dependencies.py), at most the newest
``SCAN_LIMIT`` of each kind; the page says so when the limit cut the range short. Every row leads to the
traces behind it: a trace search, or the example trace.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.urls import path

from apps.apm import charts
from apps.apm.pages import PROJECT, ProjectPage, bounded, project_url, trace_search_url
from apps.tracing import dependencies

# Sortable columns of the statements table: (key, label); ?sort=<key> or ?sort=-<key>.
STATEMENT_COLUMNS = [("count", "Calls"), ("total_ms", "Total time"), ("avg_ms", "Average"), ("p95_ms", "p95"),
                     ("rows", "Rows")]  # fmt: skip


class DependenciesView(ProjectPage):
    template_name = "apm/dependencies.html"

    def get(self, request: HttpRequest, **kwargs: Any) -> HttpResponse:
        timerange = self.timerange(request)
        start, end = bounded(timerange)
        org, project = self.organization_id, self.project_id
        span_range = {"from": start, "to": end}

        def trace(trace_id: str | None) -> str | None:
            return project_url(request, "trace", trace_id=trace_id) if trace_id else None

        database = dependencies.database_spans(org, project, start, end)
        statements = dependencies.database_calls(database)
        for row in statements:
            row["trace_url"] = trace(row["example_trace_id"])
            # The trace search cannot match a statement without literals: narrow to the service and system.
            row["traces_url"] = trace_search_url(
                request, service=row["services"][0], **{"attr.db.system": row["db_system"], **span_range}
            )
        chart = charts.top_statements(statements, lambda row: row["trace_url"]) if statements else None

        findings = dependencies.n_plus_one(org, project, database)
        for row in findings:
            row["trace_url"] = trace(row["example_trace_id"])
            row["traces_url"] = trace_search_url(request, service=row["service"], operation=row["endpoint"],
                                                 **span_range)  # fmt: skip

        external = dependencies.external_spans(org, project, start, end)
        calls = dependencies.external_calls(external)
        for row in calls:
            row["trace_url"] = trace(row["example_trace_id"])
            row["traces_url"] = trace_search_url(
                request, service=row["services"][0], **{"attr.server.address": row["host"], **span_range}
            )

        code = dependencies.code_spans(org, project, start, end)
        methods = dependencies.code_timings(code)
        for row in methods:
            row["trace_url"] = trace(row["example_trace_id"])
            ((key, value),) = row["attribute"].items()
            row["traces_url"] = trace_search_url(
                request, service=row["service"], **{f"attr.{key}": value, **span_range}
            )

        sort = request.GET.get("sort", "")
        context = {
            "statements": dependencies.sort_rows(statements, sort, [k for k, _ in STATEMENT_COLUMNS]),
            "statement_columns": STATEMENT_COLUMNS,
            "sort": sort,
            "chart": chart,
            "findings": findings,
            "threshold": dependencies.N_PLUS_ONE_THRESHOLD,
            "external": calls,
            "methods": methods,
            "scans": {"database": database, "external": external, "code": code},
            "has_data": bool(statements or calls or methods),
        }
        return self.page(request, timerange, context)


urlpatterns = [path(PROJECT + "dependencies/", DependenciesView.as_view(), name="dependencies")]
