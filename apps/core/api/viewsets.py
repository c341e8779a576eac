"""The base of every tenant API endpoint: the one place the API scopes to a tenant.

``TenantScopedViewSet.initial`` resolves the organization (and project) from
the URL and the caller's membership, narrows the scopes to the API token's,
checks the scope that ``scope_map`` names for the HTTP method, and sets the
tenant scope for the rest of the request. ``get_queryset`` filters by the
organization after whatever the subclass's ``scope_queryset`` hook returned.
Subclasses cannot override these methods: defining one raises ``TypeError``
when the class is created.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextvars import Token
from typing import Any, ClassVar

from django.db import models
from rest_framework import exceptions
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.viewsets import GenericViewSet

from apps.core.access import MissingScope, TenantAccess, TenantNotFound, resolve_access
from apps.core.scoping import activate_scope, deactivate_scope

# Methods where tenant scoping happens; a subclass defining any of them is refused.
_SEALED = ("initial", "dispatch", "get_queryset", "check_permissions", "get_permissions", "get_authenticators")
_READ_ALIASES = {"HEAD": "GET", "OPTIONS": "GET"}


class TenantScopedViewSet(GenericViewSet):  # type: ignore[type-arg]
    """Base viewset for everything under ``/api/v1/orgs/<organization_slug>/``.

    Subclasses declare:
    - ``scope_map``: HTTP method → required scope. A method missing from it is refused (403).
    - ``model``: the model whose rows the endpoint serves; the base filters them to the tenant.
    - ``tenant_lookup``: the field holding the organization id (``organization_id``).
    - ``project_level``: True when the URL has ``<project_slug>`` and rows carry ``project_id``.
    - ``scope_queryset(qs)``: optional narrowing (ordering, per-user rows).
    """

    scope_map: ClassVar[Mapping[str, str]] = {}
    model: ClassVar[type[models.Model] | None] = None
    tenant_lookup: ClassVar[str] = "organization_id"
    project_level: ClassVar[bool] = False
    access: TenantAccess
    _scope_token: Token[int | None] | None = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        sealed = [name for name in _SEALED if name in cls.__dict__]
        if sealed:
            raise TypeError(
                f"{cls.__name__} overrides {', '.join(sealed)}: tenant scoping happens there. "
                "Use scope_map, tenant_lookup and scope_queryset instead."
            )
        if cls.model is not None:
            # An empty queryset only for schema introspection; get_queryset never reads it.
            cls.queryset = cls.model._base_manager.none()

    @classmethod
    def required_scope(cls, method: str) -> str | None:
        return cls.scope_map.get(_READ_ALIASES.get(method, method))

    def dispatch(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().dispatch(request, *args, **kwargs)
        finally:
            if self._scope_token is not None:
                deactivate_scope(self._scope_token)
                self._scope_token = None

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)  # authentication, IsAuthenticated, throttles
        try:
            access = resolve_access(
                request.user, kwargs["organization_slug"], kwargs.get("project_slug"), credential=request.auth
            )
        except TenantNotFound as exc:
            raise exceptions.NotFound("Not found. Check the organization and project in the URL.") from exc
        required = self.required_scope(request.method or "GET")
        if required is None:
            raise exceptions.PermissionDenied(f"{request.method} is not allowed on this endpoint.")
        try:
            access.require(required)
        except MissingScope as exc:
            raise exceptions.PermissionDenied(str(exc)) from exc
        self.access = access
        self._scope_token = activate_scope(access.organization_id)

    def scope_queryset(self, queryset: models.QuerySet[Any]) -> models.QuerySet[Any]:
        """Hook for subclasses; the tenant filter is applied after it regardless."""
        return queryset

    def get_queryset(self) -> models.QuerySet[Any]:
        if self.model is None:
            raise TypeError(f"{type(self).__name__} must set model")
        queryset = self.scope_queryset(self.model._base_manager.all())
        queryset = queryset.filter(**{self.tenant_lookup: self.access.organization_id})
        if self.project_level:
            queryset = queryset.filter(project_id=self.access.project_id)
        return queryset

    def tenant_fields(self) -> dict[str, int]:
        """Fields every created row gets from the URL, never from the body."""
        fields = {"organization_id": self.access.organization_id}
        if self.project_level and self.access.project_id is not None:
            fields["project_id"] = self.access.project_id
        return fields

    def created(self, data: Any) -> Response:
        return Response(data, status=201)
