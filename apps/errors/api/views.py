"""Issues under /api/v1/orgs/<org>/projects/<project>/errors/ (read: telemetry:read; triage: alerts:write)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.encoders import JSONEncoder

from apps.audit.services import Origin
from apps.core.api.timeparams import time_range
from apps.core.api.viewsets import TenantScopedViewSet
from apps.errors import queries, services
from apps.errors.models import ErrorStatus

_RANGE = [
    OpenApiParameter("from", str, description="RFC 3339 time or Unix nanoseconds (default: a day before 'to')"),
    OpenApiParameter("to", str, description="RFC 3339 time or Unix nanoseconds (default: now)"),
]
_STATUS = OpenApiParameter(
    "status", str, description="unresolved (default), resolved, ignored or all; comma-separated for several"
)


def statuses_of(raw: str | None) -> list[str]:
    """``?status=`` as a list of statuses: unresolved by default, ``all`` for every one."""
    if not raw:
        return [ErrorStatus.UNRESOLVED]
    if raw == "all":
        return list(ErrorStatus.values)
    wanted = [part.strip() for part in raw.split(",") if part.strip()]
    unknown = [part for part in wanted if part not in ErrorStatus.values]
    if unknown:
        raise exceptions.ValidationError({"status": [f"Unknown status {unknown[0]!r}: use unresolved, resolved, "
                                                     "ignored or all."]})  # fmt: skip
    return wanted


def step_of(start: datetime, end: datetime) -> int:
    """About 60 points: whole minutes up to six hours, whole hours beyond, so a day's list is read from the hourly
    occurrence rollup (apps/errors/queries.py); a day has 24 points."""
    seconds = (end - start).total_seconds()
    if seconds <= 6 * 3600:
        return max(60, int(seconds / 60) // 60 * 60)
    return max(1, round(seconds / 60 / 3600)) * 3600


class StatusSerializer(serializers.Serializer[Any]):
    status = serializers.ChoiceField(choices=ErrorStatus.choices)


class ErrorGroupViewSet(TenantScopedViewSet):
    """Exceptions grouped into issues by type, normalised message and top in-app frame."""

    project_level = True
    lookup_field = "fingerprint"
    scope_map = {"GET": "telemetry:read", "PATCH": "alerts:write"}

    @property
    def project_id(self) -> int:
        assert self.access.project_id is not None  # project_level guarantees it
        return self.access.project_id

    def _found(self, fingerprint: str) -> Any:
        issue = queries.issue(self.access.organization_id, self.project_id, fingerprint)
        if issue is None:
            raise exceptions.NotFound(f"No issue {fingerprint} in this project.")
        return issue

    @extend_schema(parameters=[*_RANGE, _STATUS], responses={200: OpenApiTypes.OBJECT}, operation_id="errors_list")
    def list(self, request: Request, organization_slug: str, project_slug: str) -> Response:
        """Issues that occurred in the range, most frequent first, with occurrences over time."""
        start, end = time_range(request.query_params, default=queries.DEFAULT_RANGE)
        assert start is not None
        assert end is not None
        statuses = statuses_of(request.query_params.get("status"))
        rows = queries.issues(
            self.access.organization_id, self.project_id, start, end, statuses=statuses, step=step_of(start, end)
        )
        page = self.paginate_queryset(rows)
        _render_step_times(page or [])
        return self.get_paginated_response(page)

    @extend_schema(parameters=_RANGE, responses={200: OpenApiTypes.OBJECT}, operation_id="errors_retrieve")
    def retrieve(self, request: Request, organization_slug: str, project_slug: str, fingerprint: str) -> Response:
        """One issue: its sample, status, occurrences over the range, who and what it affects, example traces."""
        issue = self._found(fingerprint)
        start, end = time_range(request.query_params, default=queries.DEFAULT_RANGE)
        assert start is not None
        assert end is not None
        details = queries.issue_details(self.access.organization_id, self.project_id, fingerprint, start, end,
                                        step=step_of(start, end))  # fmt: skip
        return Response({**issue_json(issue), **details})

    @extend_schema(request=StatusSerializer, responses={200: OpenApiTypes.OBJECT}, operation_id="errors_set_status")
    def partial_update(self, request: Request, organization_slug: str, project_slug: str, fingerprint: str) -> Response:
        """Set the status: ``resolved`` (reopens when it occurs again), ``ignored`` or ``unresolved``; audited."""
        issue = self._found(fingerprint)
        serializer = StatusSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.set_status(issue, serializer.validated_data["status"], request.user, Origin.from_request(request))
        return Response(issue_json(issue))


def _render_step_times(rows: list[dict[str, Any]]) -> None:
    """Each step's time as the JSON renderer writes it, rendered once for the page instead of once per issue and
    step (~3 k per page: a third of the list's time, bench/queries.py)."""
    rendered: dict[datetime, str] = {}
    encoder = JSONEncoder()
    for row in rows:
        for point in row["series"]:
            moment = point["time"]
            text = rendered.get(moment)
            if text is None:
                text = rendered[moment] = encoder.default(moment)
            point["time"] = text


def issue_json(issue: Any) -> dict[str, Any]:
    return {
        "fingerprint": issue.fingerprint,
        "exception_type": issue.exception_type,
        "message": issue.message,
        "frame": issue.frame,
        "sample_message": issue.sample_message,
        "sample_stacktrace": issue.sample_stacktrace,
        "sample_trace_id": issue.sample_trace_id,
        "first_seen": issue.first_seen,
        "status": issue.status,
        "resolved_at": issue.resolved_at,
    }
