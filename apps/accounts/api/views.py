from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, mixins
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from apps.accounts import services
from apps.accounts.api import serializers as s
from apps.accounts.models import ApiToken
from apps.audit.services import Origin
from apps.core.api.viewsets import TenantScopedViewSet
from apps.tenants.roles import Scope


class ApiTokenViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantScopedViewSet):
    """The caller's own API tokens in this organization. The secret appears once, on creation."""

    model = ApiToken
    serializer_class = s.ApiTokenSerializer
    scope_map = {"GET": Scope.ORG_READ, "POST": Scope.ORG_READ}

    def scope_queryset(self, queryset: QuerySet[Any]) -> QuerySet[Any]:
        return queryset.filter(user_id=self.request.user.pk)

    @extend_schema(request=s.ApiTokenSerializer, responses={201: s.IssuedApiTokenSerializer})
    def create(self, request: Request, organization_slug: str) -> Response:
        serializer = s.ApiTokenSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        try:
            issued = services.create_api_token(
                self.access,
                request.user,
                name=data["name"],
                scopes=data["scopes"],
                expires_at=data.get("expires_at"),
                origin=Origin.from_request(request),
            )
        except services.TokenError as exc:
            raise exceptions.ValidationError({"scopes": [str(exc)]}) from exc
        body = dict(s.ApiTokenSerializer(issued.token).data)
        body["token"] = issued.plaintext
        return self.created(body)

    @extend_schema(request=None, responses=s.ApiTokenSerializer)
    @action(detail=True, methods=["post"])
    def revoke(self, request: Request, organization_slug: str, pk: str) -> Response:
        token = services.revoke_api_token(self.get_object(), request.user, origin=Origin.from_request(request))
        return Response(s.ApiTokenSerializer(token).data)
