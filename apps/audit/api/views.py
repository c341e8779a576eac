from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins
from rest_framework.decorators import action
from rest_framework.request import Request

from apps.audit.actions import Action
from apps.audit.api.serializers import AuditEntrySerializer
from apps.audit.models import AuditEntry
from apps.audit.queries import csv_lines, entries
from apps.audit.services import Origin, record
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
    def export(self, request: Request, organization_slug: str) -> StreamingHttpResponse:
        """The filtered trail as CSV (the export itself is audited)."""
        rows = self.get_queryset()
        entry = record(
            self.access.organization_id,
            Action.AUDIT_EXPORTED,
            actor=request.user,
            after={"rows": rows.count()},
            origin=Origin.from_request(request),
        )
        rows = rows.exclude(pk=entry.pk)  # the file holds the rows it was asked for, not its own export entry
        response = StreamingHttpResponse(csv_lines(rows.iterator(chunk_size=1000)), content_type="text/csv")
        response["Content-Disposition"] = f'attachment; filename="audit-{self.access.organization_slug}.csv"'
        return response
