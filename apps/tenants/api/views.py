"""Tenancy endpoints. Thin: validate, call ``apps.tenants.services``, serialize."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, mixins, status
from rest_framework.decorators import action
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.audit.services import Origin
from apps.core.api.pagination import CursorlessPageNumberPagination
from apps.core.api.viewsets import TenantScopedViewSet
from apps.tenants import services
from apps.tenants.api import serializers as s
from apps.tenants.models import IngestKey, Invitation, Membership, Organization, Project
from apps.tenants.queries import memberships_of_user
from apps.tenants.roles import Scope


def _tenancy_errors(func: Any) -> Any:
    """Services raise TenancyError with a message for people: answer 400 with it."""

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except services.TenancyError as exc:
            raise exceptions.ValidationError({"detail": [str(exc)]}) from exc

    wrapper.__name__ = func.__name__
    wrapper.__doc__ = func.__doc__
    return wrapper


class MyOrganizationsView(APIView):
    """The organizations the caller belongs to (not tenant-scoped: it lists the caller's own)."""

    permission_classes = [IsAuthenticated]

    @extend_schema(responses=s.OrganizationSerializer(many=True))
    def get(self, request: Request) -> Response:
        memberships = memberships_of_user(request.user)
        token_org = getattr(request.auth, "organization_id", None)
        if token_org is not None:  # an API token sees only its own organization
            memberships = [m for m in memberships if m.organization_id == token_org]
        paginator = CursorlessPageNumberPagination()
        page = paginator.paginate_queryset([m.organization for m in memberships], request, view=self) or []
        roles = {m.organization_id: m.role for m in memberships}
        return paginator.get_paginated_response(
            s.OrganizationSerializer(page, many=True, context={"roles": roles}).data
        )

    @extend_schema(request=s.OrganizationSerializer, responses={201: s.OrganizationSerializer})
    def post(self, request: Request) -> Response:
        """Create an organization; the caller becomes its owner. Signed-in sessions only, not API tokens."""
        if request.auth is not None:
            raise exceptions.PermissionDenied(
                "API tokens belong to one organization and cannot create another; sign in to create one."
            )
        serializer = s.OrganizationSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        organization = services.create_organization(
            serializer.validated_data["name"], request.user, origin=Origin.from_request(request)
        )
        data = s.OrganizationSerializer(organization, context={"roles": {organization.pk: "owner"}}).data
        return Response(data, status=status.HTTP_201_CREATED)


class OrganizationViewSet(TenantScopedViewSet):
    """``/orgs/<slug>/``: the organization itself."""

    model = Organization
    tenant_lookup = "id"
    serializer_class = s.OrganizationSerializer
    scope_map = {"GET": Scope.ORG_READ, "PATCH": Scope.ORG_ADMIN}

    def retrieve(self, request: Request, organization_slug: str) -> Response:
        organization = self.get_queryset().get()
        return Response(
            s.OrganizationSerializer(organization, context={"roles": {organization.pk: self.access.role}}).data
        )

    def partial_update(self, request: Request, organization_slug: str) -> Response:
        serializer = s.OrganizationSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        organization = self.get_queryset().get()
        if "name" in serializer.validated_data:
            organization = services.update_organization(
                organization.pk,
                request.user,
                name=serializer.validated_data["name"],
                origin=Origin.from_request(request),
            )
        return Response(
            s.OrganizationSerializer(organization, context={"roles": {organization.pk: self.access.role}}).data
        )


class ProjectViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantScopedViewSet):
    model = Project
    serializer_class = s.ProjectSerializer
    lookup_field = "slug"
    lookup_url_kwarg = "slug"
    scope_map = {
        "GET": Scope.ORG_READ,
        "POST": Scope.PROJECTS_WRITE,
        "PATCH": Scope.PROJECTS_WRITE,
        "DELETE": Scope.PROJECTS_WRITE,
    }

    @_tenancy_errors
    def create(self, request: Request, organization_slug: str) -> Response:
        serializer = s.ProjectSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        project = services.create_project(
            self.access.organization_id,
            request.user,
            name=serializer.validated_data["name"],
            slug=serializer.validated_data.get("slug"),
            origin=Origin.from_request(request),
        )
        return self.created(s.ProjectSerializer(project).data)

    @extend_schema(request=s.ProjectUpdateSerializer, responses=s.ProjectSerializer)
    def partial_update(self, request: Request, organization_slug: str, slug: str) -> Response:
        serializer = s.ProjectUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        project = services.update_project(
            self.get_object(), request.user, name=serializer.validated_data["name"], origin=Origin.from_request(request)
        )
        return Response(s.ProjectSerializer(project).data)

    def destroy(self, request: Request, organization_slug: str, slug: str) -> Response:
        services.delete_project(self.get_object(), request.user, origin=Origin.from_request(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


class MemberViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantScopedViewSet):
    model = Membership
    serializer_class = s.MembershipSerializer
    scope_map = {"GET": Scope.ORG_READ, "PATCH": Scope.MEMBERS_WRITE, "DELETE": Scope.MEMBERS_WRITE}

    def scope_queryset(self, queryset: QuerySet[Any]) -> QuerySet[Any]:
        return queryset.select_related("user")

    @extend_schema(request=s.RoleSerializer, responses=s.MembershipSerializer)
    @_tenancy_errors
    def partial_update(self, request: Request, organization_slug: str, pk: str) -> Response:
        serializer = s.RoleSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        membership = services.change_role(
            self.get_object(),
            request.user,
            self.access.role,
            role=serializer.validated_data["role"],
            origin=Origin.from_request(request),
        )
        return Response(s.MembershipSerializer(membership).data)

    @_tenancy_errors
    def destroy(self, request: Request, organization_slug: str, pk: str) -> Response:
        services.remove_member(self.get_object(), request.user, self.access.role, origin=Origin.from_request(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


class InvitationViewSet(mixins.ListModelMixin, TenantScopedViewSet):
    model = Invitation
    serializer_class = s.InvitationSerializer
    scope_map = {"GET": Scope.MEMBERS_WRITE, "POST": Scope.MEMBERS_WRITE, "DELETE": Scope.MEMBERS_WRITE}

    @_tenancy_errors
    def create(self, request: Request, organization_slug: str) -> Response:
        from apps.tenants.invitations import send_invitation

        serializer = s.InvitationSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        issued = services.invite_member(
            self.access.organization_id,
            request.user,
            self.access.role,
            email=serializer.validated_data["email"],
            role=serializer.validated_data["role"],
            origin=Origin.from_request(request),
        )
        send_invitation(issued, self.access.organization_name, request.user)
        return self.created(s.InvitationSerializer(issued.invitation).data)

    def destroy(self, request: Request, organization_slug: str, pk: str) -> Response:
        services.revoke_invitation(self.get_object(), request.user, origin=Origin.from_request(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


class IngestKeyViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantScopedViewSet):
    """``/orgs/<org>/projects/<project>/keys/``. The secret appears once, in the create response."""

    model = IngestKey
    project_level = True
    serializer_class = s.IngestKeySerializer
    scope_map = {"GET": Scope.KEYS_WRITE, "POST": Scope.KEYS_WRITE}

    @extend_schema(request=s.IngestKeySerializer, responses={201: s.IssuedIngestKeySerializer})
    @_tenancy_errors
    def create(self, request: Request, organization_slug: str, project_slug: str) -> Response:
        serializer = s.IngestKeySerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        project = Project.objects.for_organization(self.access.organization_id).get(pk=self.access.project_id)
        issued = services.create_ingest_key(
            project,
            request.user,
            name=serializer.validated_data["name"],
            expires_at=serializer.validated_data.get("expires_at"),
            origin=Origin.from_request(request),
        )
        data = dict(s.IngestKeySerializer(issued.key).data)
        data["key"] = issued.plaintext
        return self.created(data)

    @extend_schema(request=None, responses=s.IngestKeySerializer)
    @action(detail=True, methods=["post"])
    def revoke(self, request: Request, organization_slug: str, project_slug: str, pk: str) -> Response:
        key = services.revoke_ingest_key(self.get_object(), request.user, origin=Origin.from_request(request))
        return Response(s.IngestKeySerializer(key).data)
