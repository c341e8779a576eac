"""Trace read endpoints under /api/v1/orgs/<org>/projects/<project>/."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions
from rest_framework.request import Request
from rest_framework.response import Response

from apps.core.api.viewsets import TenantScopedViewSet
from apps.tracing import queries

TELEMETRY_READ = "telemetry:read"


def parse_trace_id(value: str) -> bytes:
    try:
        raw = bytes.fromhex(value)
    except ValueError:
        raw = b""
    if len(raw) != 16 or not any(raw):
        raise exceptions.ValidationError({"trace_id": ["A trace id is 32 hexadecimal characters, not all zero."]})
    return raw


class TraceViewSet(TenantScopedViewSet):
    project_level = True
    scope_map = {"GET": TELEMETRY_READ}
    lookup_field = "trace_id"

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    def retrieve(self, request: Request, organization_slug: str, project_slug: str, trace_id: str) -> Response:
        """One trace with all its spans (attributes, resource, scope, events, links, status)."""
        assert self.access.project_id is not None  # project_level guarantees it
        spans = queries.get_trace(self.access.organization_id, self.access.project_id, parse_trace_id(trace_id))
        if not spans:
            raise exceptions.NotFound(f"No trace {trace_id} in this project (yet: spans are visible once stored).")
        return Response({"trace_id": trace_id.lower(), "spans": spans})
