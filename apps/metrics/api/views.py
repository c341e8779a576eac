"""Metric read endpoints under /api/v1/orgs/<org>/projects/<project>/metrics/."""

from __future__ import annotations

from datetime import timedelta

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from apps.core.api.timeparams import limit_param, parse_int, time_range
from apps.core.api.viewsets import TenantScopedViewSet
from apps.metrics import queries

TELEMETRY_READ = "telemetry:read"
ATTR_PREFIX = "attr."


class MetricViewSet(TenantScopedViewSet):
    project_level = True
    scope_map = {"GET": TELEMETRY_READ}

    @extend_schema(
        parameters=[
            OpenApiParameter("name", str, description="metric name; without it the series are listed, no points"),
            OpenApiParameter("attr.<key>", str, description="attribute (or resource attribute) equals value"),
            OpenApiParameter("from", str, description="RFC 3339 or Unix nanoseconds; default: to - 1 h"),
            OpenApiParameter("to", str, description="RFC 3339 or Unix nanoseconds; default: now"),
            OpenApiParameter("step", int, description="seconds, a multiple of 60; default 60"),
            OpenApiParameter(
                "agg", str, description="avg, min, max, sum, count, rate, p50, p90, p95, p99; none: raw points"
            ),
            OpenApiParameter("limit", int, description="series, 1-1000, default 100"),
        ],
        responses={200: OpenApiTypes.OBJECT},
    )
    @action(detail=False, methods=["get"])
    def series(self, request: Request, organization_slug: str, project_slug: str) -> Response:
        """Series of one metric with raw points, or one aggregated value per step."""
        assert self.access.project_id is not None  # project_level guarantees it
        params = request.query_params
        start, end = time_range(params, default=timedelta(hours=1))
        assert start is not None
        assert end is not None
        attributes = {k[len(ATTR_PREFIX) :]: str(v) for k, v in params.items() if k.startswith(ATTR_PREFIX)}
        if any(not key for key in attributes):
            raise exceptions.ValidationError({"attr.": ["Name the attribute: attr.<key>=<value>."]})
        try:
            found = queries.series(
                self.access.organization_id,
                self.access.project_id,
                params.get("name") or None,
                attributes=attributes,
                start=start,
                end=end,
                step_seconds=parse_int(params, "step", 60, 60, 366 * 86_400),
                agg=params.get("agg") or None,
                limit=limit_param(params, default=100, maximum=queries.MAX_SERIES),
            )
        except queries.QueryError as exc:
            raise exceptions.ValidationError({"detail": [str(exc)]}) from exc
        return Response({"series": found})

    @extend_schema(
        parameters=[OpenApiParameter("prefix", str), OpenApiParameter("limit", int, description="1-1000")],
        responses={200: OpenApiTypes.OBJECT},
    )
    @action(detail=False, methods=["get"])
    def names(self, request: Request, organization_slug: str, project_slug: str) -> Response:
        """Metric names (with kind, unit and number of series), alphabetically."""
        assert self.access.project_id is not None
        params = request.query_params
        names = queries.metric_names(
            self.access.organization_id,
            self.access.project_id,
            params.get("prefix", ""),
            limit_param(params, default=1000, maximum=queries.MAX_SERIES),
        )
        return Response({"names": names})

    @extend_schema(
        operation_id="metrics_aggregate",
        parameters=[
            OpenApiParameter("name", str, description="metric name; without it the metric names are listed"),
            OpenApiParameter("attr.<key>", str, description="attribute (or resource attribute) equals value"),
            OpenApiParameter("group_by", str, description="attribute key: one line per value; none: one line"),
            OpenApiParameter(
                "agg",
                str,
                description="avg, min, max, sum, count, rate, p50, p90, p95, p99; default: rate for counters, "
                "p95 for histograms, else avg",
            ),
            OpenApiParameter("from", str, description="RFC 3339 or Unix nanoseconds; default: to - 1 h"),
            OpenApiParameter("to", str, description="RFC 3339 or Unix nanoseconds; default: now"),
            OpenApiParameter("step", int, description="seconds, a multiple of 60; default 60"),
        ],
        responses={200: OpenApiTypes.OBJECT},
    )
    @action(detail=False, methods=["get"])
    def aggregate(self, request: Request, organization_slug: str, project_slug: str) -> Response:
        """One metric aggregated per step across its matching series: one line per value of ``group_by``, or
        one line for all series. With the metric's kind, unit, description and the aggregations its kind allows
        (``aggregations``: name → "" when allowed, else why not). Without ``name``: ``{"names": [...]}`` as the
        names endpoint gives them, to pick one."""
        assert self.access.project_id is not None  # project_level guarantees it
        params = request.query_params
        org, project = self.access.organization_id, self.access.project_id
        name = params.get("name") or ""
        if not name:
            return Response({"names": queries.metric_names(org, project)})
        start, end = time_range(params, default=timedelta(hours=1))
        assert start is not None
        assert end is not None
        attributes = {k[len(ATTR_PREFIX) :]: str(v) for k, v in params.items() if k.startswith(ATTR_PREFIX)}
        if any(not key for key in attributes):
            raise exceptions.ValidationError({"attr.": ["Name the attribute: attr.<key>=<value>."]})
        known = queries.find_series(org, project, name, {}, 1)
        if not known:
            raise exceptions.ValidationError({"name": [f"No metric named {name!r} in this project."]})
        info = known[0][1]
        agg = params.get("agg") or queries.default_aggregation(info)
        step = parse_int(params, "step", 60, 60, 366 * 86_400)
        try:
            result = queries.grouped_series(
                org,
                project,
                name,
                attributes=attributes,
                start=start,
                end=end,
                step_seconds=step,
                agg=agg,
                group_by=params.get("group_by") or None,
            )
        except queries.QueryError as exc:
            raise exceptions.ValidationError({"detail": [str(exc)]}) from exc
        description = {k: v for k, v in info.describe().items() if k in ("kind", "monotonic", "unit", "description")}
        return Response(
            {"name": name, **description, "aggregations": queries.valid_aggregations(info), "agg": agg,
             "step_seconds": step, "group_by": params.get("group_by") or None, **result}
        )  # fmt: skip
