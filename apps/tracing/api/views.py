"""Span-store read endpoints under /api/v1/orgs/<org>/projects/<project>/ (telemetry:read)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, serializers
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from apps.audit.services import Origin
from apps.core.api.timeparams import parse_int, time_range
from apps.core.api.viewsets import TenantScopedViewSet
from apps.tracing import queries, service_settings
from apps.tracing.sampling import sampling_note

TELEMETRY_READ = "telemetry:read"
_RANGE = [
    OpenApiParameter("from", str, description="RFC 3339 time or Unix nanoseconds (default: an hour before 'to')"),
    OpenApiParameter("to", str, description="RFC 3339 time or Unix nanoseconds (default: now)"),
]
_SEARCH = [
    *_RANGE,
    OpenApiParameter("service", str),
    OpenApiParameter("operation", str, description="Span name"),
    OpenApiParameter("min_duration_ms", float),
    OpenApiParameter("max_duration_ms", float),
    OpenApiParameter("status", str, enum=["error", "ok", "unset"]),
    OpenApiParameter("attr.<key>", str, description="Span or resource attribute equals value; repeatable"),
    OpenApiParameter("limit", int, description="1-1000, default 50"),
]


def parse_trace_id(value: str) -> bytes:
    try:
        raw = bytes.fromhex(value)
    except ValueError:
        raw = b""
    if len(raw) != 16 or not any(raw):
        raise exceptions.ValidationError({"trace_id": ["A trace id is 32 hexadecimal characters, not all zero."]})
    return raw


def _milliseconds(params: Any, name: str) -> int | None:
    raw = params.get(name)
    if raw in (None, ""):
        return None
    try:
        value = float(raw)
    except ValueError:
        raise exceptions.ValidationError({name: ["Give a number of milliseconds."]}) from None
    if value < 0:
        raise exceptions.ValidationError({name: ["Durations are not negative."]})
    return int(value * 1e6)


_DEFAULT_RANGE = timedelta(hours=1)


def window(params: Any) -> tuple[datetime, datetime]:
    """``from``/``to`` with the default range: the last hour."""
    start, end = time_range(params, default=_DEFAULT_RANGE)
    assert start is not None  # a default range fills both
    assert end is not None
    return start, end


def trace_filter(params: Any) -> queries.TraceFilter:
    start, end = window(params)
    status = params.get("status") or None
    if status not in (None, "error", "ok", "unset"):
        raise exceptions.ValidationError({"status": ["status is error, ok or unset."]})
    attributes = tuple((key[5:], value) for key, value in params.items() if key.startswith("attr.") and key[5:])
    return queries.TraceFilter(
        start=start,
        end=end,
        service=params.get("service") or None,
        operation=params.get("operation") or None,
        min_duration_ns=_milliseconds(params, "min_duration_ms"),
        max_duration_ns=_milliseconds(params, "max_duration_ms"),
        status=status,
        attributes=attributes,
        limit=parse_int(params, "limit", 50, 1, 1000),
    )


class _ProjectTelemetry(TenantScopedViewSet):
    project_level = True
    scope_map = {"GET": TELEMETRY_READ}

    @property
    def project_id(self) -> int:
        assert self.access.project_id is not None  # project_level guarantees it
        return self.access.project_id


class TraceViewSet(_ProjectTelemetry):
    lookup_field = "trace_id"

    @extend_schema(parameters=_SEARCH, responses={200: OpenApiTypes.OBJECT}, operation_id="traces_search")
    def list(self, request: Request, organization_slug: str, project_slug: str) -> Response:
        """Newest traces with a span matching every filter."""
        found = queries.search_traces(self.access.organization_id, self.project_id, trace_filter(request.query_params))
        response = self.get_paginated_response(self.paginate_queryset(found))
        response.data["sampling"] = sampling_note(self.access.organization_id, self.project_id)
        return response

    @extend_schema(
        parameters=[*_SEARCH[:-1], OpenApiParameter("limit", int, description="1-5000, default 2000")],
        responses={200: OpenApiTypes.OBJECT},
        operation_id="traces_distribution",
    )
    @action(detail=False, methods=["get"])
    def distribution(self, request: Request, organization_slug: str, project_slug: str) -> Response:
        """Start, duration and error flag of the newest matching traces (their longest matching span): the data
        of the trace search's duration chart. Same filters as the search."""
        params = request.query_params
        # The search's own limit (1-1000 rows) does not apply: a chart shows more points than a table rows.
        f = trace_filter({k: v for k, v in params.items() if k != "limit"})
        limit = parse_int(params, "limit", 2000, 1, 5000)
        points = queries.trace_points(self.access.organization_id, self.project_id, f, limit=limit)
        return Response({"from": f.start, "to": f.end, "limit": limit, "points": points})

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    def retrieve(self, request: Request, organization_slug: str, project_slug: str, trace_id: str) -> Response:
        """One trace with all its spans (attributes, resource, scope, events, links, status)."""
        spans = queries.get_trace(self.access.organization_id, self.project_id, parse_trace_id(trace_id))
        if not spans:
            raise exceptions.NotFound(f"No trace {trace_id} in this project (yet: spans are visible once stored).")
        return Response({"trace_id": trace_id.lower(), "spans": spans})


class ServiceSettingsSerializer(serializers.Serializer[Any]):
    apdex_threshold_ms = serializers.IntegerField(
        min_value=1, max_value=600_000, help_text="Requests up to this are satisfied, up to four times it tolerated"
    )


class ServiceViewSet(_ProjectTelemetry):
    lookup_field = "service"
    lookup_value_converter = "str"
    scope_map = {"GET": TELEMETRY_READ, "PUT": "projects:write"}

    @extend_schema(parameters=_RANGE, responses={200: OpenApiTypes.OBJECT}, operation_id="services_list")
    def list(self, request: Request, organization_slug: str, project_slug: str) -> Response:
        """Services with request rate, error rate and p50/p95/p99, from the rollups."""
        start, end = window(request.query_params)
        rows = queries.services(self.access.organization_id, self.project_id, start, end)
        return self.get_paginated_response(self.paginate_queryset(rows))

    @extend_schema(parameters=_RANGE, responses={200: OpenApiTypes.OBJECT})
    @action(detail=True, methods=["get"])
    def operations(self, request: Request, organization_slug: str, project_slug: str, service: str) -> Response:
        """The service's operations (span name and kind) with the same measures."""
        start, end = window(request.query_params)
        if not queries.service_exists(self.access.organization_id, self.project_id, service):
            raise exceptions.NotFound(f"No service named {service!r} has sent telemetry to this project.")
        rows = queries.operations(self.access.organization_id, self.project_id, service, start, end)
        return Response({"service": service, "from": start, "to": end, "results": rows})

    @extend_schema(
        parameters=[*_RANGE, OpenApiParameter("step", int, description="Seconds per point (default: ~120 points)")],
        responses={200: OpenApiTypes.OBJECT},
    )
    @action(detail=True, methods=["get"])
    def series(self, request: Request, organization_slug: str, project_slug: str, service: str) -> Response:
        """The service's requests over time (rate, errors, p50/p95/p99 per step) and its deploys (new versions)."""
        start, end = window(request.query_params)
        if not queries.service_exists(self.access.organization_id, self.project_id, service):
            raise exceptions.NotFound(f"No service named {service!r} has sent telemetry to this project.")
        step = parse_int(request.query_params, "step", queries.step_for(start, end), 60, 86_400)
        org, project = self.access.organization_id, self.project_id
        points = queries.service_series(org, project, start, end, step=step, service=service)[service]
        deploys = queries.deploys(org, project, service, start, end)
        return Response({"service": service, "from": start, "to": end, "step": step, "points": points,
                         "deploys": deploys})  # fmt: skip

    @extend_schema(
        methods=["GET"], responses={200: ServiceSettingsSerializer}, operation_id="services_settings_retrieve"
    )
    @extend_schema(
        methods=["PUT"],
        request=ServiceSettingsSerializer,
        responses={200: ServiceSettingsSerializer},
        operation_id="services_settings_update",
    )
    @action(detail=True, methods=["get", "put"], url_path="settings")
    def service_settings(self, request: Request, organization_slug: str, project_slug: str, service: str) -> Response:
        """The service's settings (Apdex threshold, default 500 ms); PUT changes them (projects:write, audited)."""
        org = self.access.organization_id
        if not queries.service_exists(org, self.project_id, service):
            raise exceptions.NotFound(f"No service named {service!r} has sent telemetry to this project.")
        if request.method == "PUT":
            serializer = ServiceSettingsSerializer(data=request.data)
            serializer.is_valid(raise_exception=True)
            service_settings.set_apdex_threshold(
                org, self.project_id, service, threshold_ms=serializer.validated_data["apdex_threshold_ms"],
                actor=request.user, origin=Origin.from_request(request),
            )  # fmt: skip
        return Response({"apdex_threshold_ms": service_settings.apdex_threshold(org, self.project_id, service)})


class ServiceMapViewSet(_ProjectTelemetry):
    @extend_schema(parameters=_RANGE, responses={200: OpenApiTypes.OBJECT})
    def graph(self, request: Request, organization_slug: str, project_slug: str) -> Response:
        """Services and their dependencies with call rate, error rate and p95 per edge."""
        start, end = window(request.query_params)
        graph = queries.service_map(self.access.organization_id, self.project_id, start, end)
        return Response({"from": start, "to": end, **graph})
