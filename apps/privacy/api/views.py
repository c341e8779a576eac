"""GDPR export and deletion of one end user's telemetry: /api/v1/orgs/<org>/privacy/{export,delete}/.

Both need ``org:admin`` (owners only): an export hands out one person's data across every project, and a
deletion cannot be undone, so neither is left to project admins. Both are audited (apps/privacy/services.py).
"""

from __future__ import annotations

import io
from typing import Any

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from apps.audit.services import Origin
from apps.core.api.viewsets import TenantScopedViewSet
from apps.privacy import services
from apps.privacy.api.serializers import DeletedSerializer, SubjectSerializer
from apps.tenants.models import Project

# The API answers in one response; larger exports are for ``manage.py gdpr export``, which streams to a file.
API_EXPORT_MAX_RECORDS = 10_000


class PrivacyViewSet(TenantScopedViewSet):
    scope_map = {"POST": "org:admin"}
    serializer_class = SubjectSerializer

    def _subject(self, request: Request) -> tuple[int | None, str, str]:
        serializer = SubjectSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data: dict[str, Any] = serializer.validated_data
        project_id = None
        if data.get("project"):
            project = Project.objects.for_organization(self.access.organization_id).filter(slug=data["project"]).first()
            if project is None:
                raise exceptions.ValidationError({"project": [f"No project {data['project']!r} in this organization."]})
            project_id = project.pk
        try:
            services.check_subject(data["key"], data["value"])
        except services.PrivacyError as exc:
            raise exceptions.ValidationError({"key": [str(exc)]}) from exc
        return project_id, data["key"], data["value"]

    @extend_schema(request=SubjectSerializer, responses={(200, "application/x-ndjson"): OpenApiTypes.STR})
    @action(detail=False, methods=["post"], url_path="export")
    def export(self, request: Request, organization_slug: str) -> HttpResponse:
        """The user's spans, log records, metric series and points as JSON lines, at most 10,000 records
        (``X-Vigil-Truncated: true`` when more exist: use ``manage.py gdpr export`` for those)."""
        project_id, key, value = self._subject(request)
        buffer = io.StringIO()
        result = services.export_user_telemetry(
            self.access.organization_id,
            project_id,
            key,
            value,
            buffer,
            actor=request.user,
            origin=Origin.from_request(request),
            limit=API_EXPORT_MAX_RECORDS,
        )
        response = HttpResponse(buffer.getvalue(), content_type="application/x-ndjson")
        response["X-Vigil-Truncated"] = "true" if result.truncated else "false"
        response["Content-Disposition"] = f'attachment; filename="{organization_slug}-privacy-export.jsonl"'
        return response

    @extend_schema(request=SubjectSerializer, responses=DeletedSerializer)
    @action(detail=False, methods=["post"], url_path="delete")
    def erase(self, request: Request, organization_slug: str) -> Response:
        """Delete the user's telemetry (rollups corrected); answers how much was deleted."""
        project_id, key, value = self._subject(request)
        deleted = services.delete_user_telemetry(
            self.access.organization_id,
            project_id,
            key,
            value,
            actor=request.user,
            origin=Origin.from_request(request),
        )
        return Response(deleted.as_dict())
