"""Log read endpoint under /api/v1/orgs/<org>/projects/<project>/logs/."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from apps.core.api.timeparams import limit_param, parse_int, time_range
from apps.core.api.viewsets import TenantScopedViewSet
from apps.logs import queries

TELEMETRY_READ = "telemetry:read"
ATTR_PREFIX = "attr."
VOLUME_BUCKETS = 60  # the default step gives about this many bars


def _trace_id(value: str) -> bytes:
    try:
        raw = bytes.fromhex(value)
    except ValueError:
        raw = b""
    if len(raw) != 16:
        raise exceptions.ValidationError({"trace_id": ["A trace id is 32 hexadecimal characters."]})
    return raw


def _severity(value: str) -> int:
    named = queries.SEVERITY_NAMES.get(value.strip().lower())
    if named is not None:
        return named
    if value.isdigit() and 1 <= int(value) <= 24:
        return int(value)
    raise exceptions.ValidationError(
        {"severity_min": ["A severity number 1-24 or one of trace, debug, info, warn, error, fatal."]}
    )


def _cursor(value: str) -> queries.Cursor:
    try:
        return queries.Cursor.decode(value)
    except ValueError:
        raise exceptions.ValidationError({"cursor": ["Use the cursor of a record, as in the next link."]}) from None


def log_filter(params: Mapping[str, str], attributes: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The search filters of a query string (the list's and the volume's): ``search_logs``/``volume`` keywords.
    ``attributes`` defaults to the ``attr.<key>=<value>`` parameters."""
    if attributes is None:
        attributes = {k[len(ATTR_PREFIX) :]: str(v) for k, v in params.items() if k.startswith(ATTR_PREFIX)}
    if any(not key.strip() for key in attributes):
        raise exceptions.ValidationError({"attr.": ["Name the attribute: attr.<key>=<value>."]})
    return {
        "trace_id": _trace_id(params["trace_id"].strip()) if params.get("trace_id", "").strip() else None,
        "q": params.get("q") or None,
        "severity_min": _severity(params["severity_min"]) if params.get("severity_min") else None,
        "service": params.get("service") or None,
        "attributes": dict(attributes),
    }


def volume_step(span: timedelta, buckets: int = VOLUME_BUCKETS) -> int:
    """Whole minutes giving about ``buckets`` steps over ``span``."""
    return max(60, -(-int(span.total_seconds() / buckets) // 60) * 60)


_FILTER_PARAMETERS = [
    OpenApiParameter("trace_id", str, description="32 hex characters: the logs of one trace"),
    OpenApiParameter("q", str, description="case-insensitive text in the body"),
    OpenApiParameter("severity_min", str, description="1-24 or trace/debug/info/warn/error/fatal"),
    OpenApiParameter("service", str),
    OpenApiParameter(
        "attr.<key>", str, description="the record's attribute <key> equals the value (compared as text); repeatable"
    ),
]


class LogViewSet(TenantScopedViewSet):
    project_level = True
    scope_map = {"GET": TELEMETRY_READ}

    @extend_schema(
        parameters=[
            *_FILTER_PARAMETERS,
            OpenApiParameter("from", str, description="RFC 3339 or Unix nanoseconds (inclusive)"),
            OpenApiParameter("to", str, description="RFC 3339 or Unix nanoseconds (exclusive)"),
            OpenApiParameter("limit", int, description="1-1000, default 100"),
            OpenApiParameter("cursor", str, description="continue after this record (the next link sets it)"),
        ],
        responses={200: OpenApiTypes.OBJECT},
    )
    def list(self, request: Request, organization_slug: str, project_slug: str) -> Response:
        """Log records, newest first (with resource, scope, trace and span ids, body in its JSON type).

        ``count`` is the number of records on this page; ``next`` continues below the last one (keyset
        pagination: stable while new records arrive)."""
        assert self.access.project_id is not None  # project_level guarantees it
        params = request.query_params
        start, end = time_range(params, default=None)
        limit = limit_param(params, default=100, maximum=queries.MAX_LIMIT)
        logs = queries.search_logs(
            self.access.organization_id,
            self.access.project_id,
            **log_filter(params),
            start=start,
            end=end,
            limit=limit,
            after=_cursor(params["cursor"]) if params.get("cursor") else None,
        )
        following = None
        if len(logs) == limit:
            query = params.copy()
            query["cursor"] = logs[-1]["cursor"]
            following = request.build_absolute_uri(f"{request.path}?{query.urlencode()}")
        return Response({"count": len(logs), "next": following, "previous": None, "results": logs})

    @extend_schema(
        operation_id="logs_volume",
        parameters=[
            *_FILTER_PARAMETERS,
            OpenApiParameter("from", str, description="RFC 3339 or Unix nanoseconds (inclusive); default: to - 1 h"),
            OpenApiParameter("to", str, description="RFC 3339 or Unix nanoseconds (exclusive); default: now"),
            OpenApiParameter("step", int, description="seconds, a multiple of 60; default: about 60 steps"),
        ],
        responses={200: OpenApiTypes.OBJECT},
    )
    @action(detail=False, methods=["get"])
    def volume(self, request: Request, organization_slug: str, project_slug: str) -> Response:
        """Matching records per step and severity band (the same filters as the list), oldest step first.

        ``buckets`` lists only steps with records: ``{"time", "counts": {"unspecified", "trace", "debug",
        "info", "warn", "error", "fatal"}, "total"}``; a step starts at a multiple of ``step_seconds`` since
        the Unix epoch."""
        assert self.access.project_id is not None  # project_level guarantees it
        params = request.query_params
        start, end = time_range(params, default=timedelta(hours=1))
        assert start is not None
        assert end is not None
        step = parse_int(params, "step", volume_step(end - start), 60, 366 * 86_400)
        if step % 60:
            raise exceptions.ValidationError({"step": ["A whole number of minutes: 60, 120, ... seconds."]})
        try:
            buckets = queries.volume(
                self.access.organization_id,
                self.access.project_id,
                start=start,
                end=end,
                step_seconds=step,
                **log_filter(params),
            )
        except ValueError as exc:
            raise exceptions.ValidationError({"step": [str(exc)]}) from exc
        bands = list(queries.SEVERITY_BANDS.values())
        return Response({"step_seconds": step, "bands": bands, "buckets": buckets})
