from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins
from rest_framework.decorators import action
from rest_framework.request import Request

from apps.audit.api.serializers import AuditEntrySerializer
from apps.audit.export import csv_response, export_csv
from apps.audit.models import AuditEntry
from apps.audit.queries import entries
from apps.audit.services import Origin
from apps.core.api.viewsets import TenantScopedViewSet

_FILTERS = [
    OpenApiParameter("action", str, description="Only actions starting with this, e.g. 'member.'"),
    OpenApiParameter("actor", str, description="Only this username"),
]


@extend_schema(parameters=_FILTERS)
class AuditEntryViewSet(mixins.ListModelMixin, TenantScopedViewSet):
    """The organization's audit trail, newest first."""

    model = AuditEntry
    serializer_class = AuditEntrySerializer
    scope_map = {"GET": "audit:read"}

    def scope_queryset(self, queryset: QuerySet[Any]) -> QuerySet[Any]:
        params = self.request.query_params
        return entries(self.access.organization_id, action=params.get("action"), actor=params.get("actor"))

    @extend_schema(responses={(200, "text/csv"): OpenApiTypes.STR})
    @action(detail=False, methods=["get"], url_path="export")
    def export(self, request: Request, organization_slug: str) -> HttpResponse:
        """The filtered trail as CSV (the export itself is audited)."""
        params = self.request.query_params
        export = export_csv(
            self.access.organization_id,
            self.access.organization_slug,
            self.get_queryset(),
            actor=request.user,
            filters={k: params[k] for k in ("action", "actor") if params.get(k)},
            origin=Origin.from_request(request),
        )
        return csv_response(export)
