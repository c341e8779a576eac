"""What services call, under /api/v1/orgs/<org>/projects/<project>/ (telemetry:read): database statements,
N+1 patterns, external HTTP calls and method timings (apps/tracing/dependencies.py).

Each is a paged list. Figures come from at most the newest ``SCAN_LIMIT`` matching spans of the range; the
response headers say how many were read and whether the limit cut the range short (``X-Vigil-Truncated``),
since a list's body has the page shape only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from apps.core.api.viewsets import TenantScopedViewSet
from apps.tracing import dependencies
from apps.tracing.api.views import window

TELEMETRY_READ = "telemetry:read"
_RANGE = [
    OpenApiParameter("from", str, description="RFC 3339 time or Unix nanoseconds (default: an hour before 'to')"),
    OpenApiParameter("to", str, description="RFC 3339 time or Unix nanoseconds (default: now)"),
]
_HEADERS = [
    OpenApiParameter("X-Vigil-Spans-Read", int, OpenApiParameter.HEADER, response=True,
                     description="How many spans the figures come from"),
    OpenApiParameter("X-Vigil-Truncated", str, OpenApiParameter.HEADER, response=True, enum=["true", "false"],
                     description=f"true when the newest {dependencies.SCAN_LIMIT} spans did not reach back to 'from'"),
]  # fmt: skip


def _sort(keys: list[str]) -> OpenApiParameter:
    return OpenApiParameter("sort", str, enum=[*keys, *(f"-{k}" for k in keys)],
                            description="A column, '-' for descending (default: as described)")  # fmt: skip


def _schema(operation_id: str, sort_keys: list[str]) -> Callable[[Any], Any]:
    return extend_schema(
        parameters=[*_RANGE, _sort(sort_keys), *_HEADERS],
        responses={200: OpenApiResponse(OpenApiTypes.OBJECT, description="Paged: count, next, previous, results")},
        operation_id=operation_id,
    )


class _Dependencies(TenantScopedViewSet):
    """One project's telemetry (the ``_ProjectTelemetry`` pattern of views.py): a paged list from one scan."""

    project_level = True
    scope_map = {"GET": TELEMETRY_READ}
    sort_keys: list[str] = []

    @property
    def project_id(self) -> int:
        assert self.access.project_id is not None  # project_level guarantees it
        return self.access.project_id

    def rows(self, scan: dependencies.Scan) -> list[dict[str, Any]]:
        raise NotImplementedError

    def scan(self, start: Any, end: Any) -> dependencies.Scan:
        raise NotImplementedError

    def answer(self, request: Request) -> Response:
        start, end = window(request.query_params)
        scan = self.scan(start, end)
        rows = dependencies.sort_rows(self.rows(scan), request.query_params.get("sort", ""), self.sort_keys)
        response = self.get_paginated_response(self.paginate_queryset(rows))
        response["X-Vigil-Spans-Read"] = str(len(scan.rows))
        response["X-Vigil-Truncated"] = "true" if scan.truncated else "false"
        return response


class DatabaseCallViewSet(_Dependencies):
    sort_keys = ["count", "total_ms", "avg_ms", "p95_ms", "rows"]

    def scan(self, start: Any, end: Any) -> dependencies.Scan:
        return dependencies.database_spans(self.access.organization_id, self.project_id, start, end)

    def rows(self, scan: dependencies.Scan) -> list[dict[str, Any]]:
        return dependencies.database_calls(scan)

    @_schema("dependencies_database_calls", sort_keys)
    def list(self, request: Request, organization_slug: str, project_slug: str) -> Response:
        """Database and cache calls (client spans with db.system) grouped by system, database and statement
        without literals: count, rate, total/avg/p95 time, rows (summed where reported), calling services and
        the slowest call's trace. Longest total time first."""
        return self.answer(request)


class NPlusOneViewSet(_Dependencies):
    sort_keys = ["occurrences", "max_repeats", "total_ms"]

    def scan(self, start: Any, end: Any) -> dependencies.Scan:
        return dependencies.database_spans(self.access.organization_id, self.project_id, start, end)

    def rows(self, scan: dependencies.Scan) -> list[dict[str, Any]]:
        return dependencies.n_plus_one(self.access.organization_id, self.project_id, scan)

    @_schema("dependencies_n_plus_one", sort_keys)
    def list(self, request: Request, organization_slug: str, project_slug: str) -> Response:
        """N+1 patterns: the same statement (without literals) run 10 times or more under one parent span, per
        service, endpoint (the request's entry span) and statement: occurrences (parent spans), the most
        repeats, their total time and an example trace. Most repeats first."""
        return self.answer(request)


class ExternalCallViewSet(_Dependencies):
    sort_keys = ["count", "rate", "error_rate", "total_ms", "p95_ms"]

    def scan(self, start: Any, end: Any) -> dependencies.Scan:
        return dependencies.external_spans(self.access.organization_id, self.project_id, start, end)

    def rows(self, scan: dependencies.Scan) -> list[dict[str, Any]]:
        return dependencies.external_calls(scan)

    @_schema("dependencies_external_calls", sort_keys)
    def list(self, request: Request, organization_slug: str, project_slug: str) -> Response:
        """External HTTP calls (client spans to hosts outside the project) grouped by host, method and route
        (url.template or http.route, else the URL's path with ids as {id}): rate, error rate (status ERROR or
        HTTP ≥ 500), p95, calling services and the slowest call's trace. Busiest first."""
        return self.answer(request)


class CodeTimingViewSet(_Dependencies):
    sort_keys = ["count", "total_ms", "avg_ms", "p95_ms"]

    def scan(self, start: Any, end: Any) -> dependencies.Scan:
        return dependencies.code_spans(self.access.organization_id, self.project_id, start, end)

    def rows(self, scan: dependencies.Scan) -> list[dict[str, Any]]:
        return dependencies.code_timings(scan)

    @_schema("dependencies_code_timings", sort_keys)
    def list(self, request: Request, organization_slug: str, project_slug: str) -> Response:
        """Method timings: spans carrying code.function (with code.namespace) or code.function.name, grouped by
        service and function: count, total/avg/p95 time and the slowest call's trace. Longest total first."""
        return self.answer(request)
