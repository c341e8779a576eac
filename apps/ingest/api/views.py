"""A project's PII scrub rules: /api/v1/orgs/<org>/projects/<project>/scrub-rules/."""

from __future__ import annotations

from rest_framework import exceptions, mixins, status
from rest_framework.request import Request
from rest_framework.response import Response

from apps.audit.services import Origin
from apps.core.api.viewsets import TenantScopedViewSet
from apps.ingest import services
from apps.ingest.api.serializers import ScrubRuleSerializer
from apps.ingest.models import ScrubRule


class ScrubRuleViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantScopedViewSet):
    model = ScrubRule
    project_level = True
    serializer_class = ScrubRuleSerializer
    scope_map = {"GET": "telemetry:read", "POST": "projects:write", "DELETE": "projects:write"}

    def create(self, request: Request, organization_slug: str, project_slug: str) -> Response:
        serializer = ScrubRuleSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        assert self.access.project_id is not None  # project_level guarantees it
        try:
            rule = services.create_scrub_rule(
                self.access.organization_id,
                self.access.project_id,
                request.user,
                origin=Origin.from_request(request),
                **serializer.validated_data,
            )
        except services.ScrubRuleError as exc:
            raise exceptions.ValidationError({"pattern": [str(exc)]}) from exc
        return self.created(ScrubRuleSerializer(rule).data)

    def destroy(self, request: Request, organization_slug: str, project_slug: str, pk: str) -> Response:
        services.delete_scrub_rule(self.get_object(), request.user, origin=Origin.from_request(request))
        return Response(status=status.HTTP_204_NO_CONTENT)
