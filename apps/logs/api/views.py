"""Log read endpoint under /api/v1/orgs/<org>/projects/<project>/logs/."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions
from rest_framework.request import Request
from rest_framework.response import Response

from apps.core.api.timeparams import limit_param, time_range
from apps.core.api.viewsets import TenantScopedViewSet
from apps.logs import queries

TELEMETRY_READ = "telemetry:read"


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


class LogViewSet(TenantScopedViewSet):
    project_level = True
    scope_map = {"GET": TELEMETRY_READ}

    @extend_schema(
        parameters=[
            OpenApiParameter("trace_id", str, description="32 hex characters: the logs of one trace"),
            OpenApiParameter("q", str, description="case-insensitive text in the body"),
            OpenApiParameter("severity_min", str, description="1-24 or trace/debug/info/warn/error/fatal"),
            OpenApiParameter("service", str),
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
            trace_id=_trace_id(params["trace_id"]) if params.get("trace_id") else None,
            q=params.get("q") or None,
            severity_min=_severity(params["severity_min"]) if params.get("severity_min") else None,
            service=params.get("service") or None,
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
