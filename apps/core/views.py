"""The base of every tenant HTML page: the one place the web UI scopes to a tenant."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponseBase
from django.views import View

from apps.core.access import MissingScope, TenantAccess, TenantNotFound, resolve_access
from apps.core.scoping import tenant_scope

_SEALED = ("dispatch",)


class TenantView(View):
    """A page under ``/o/<organization_slug>/`` (and ``/p/<project_slug>/``).

    Anonymous users go to the login page; non-members get 404; members
    without the scope that ``scope_map`` names for the method get 403. The
    response is rendered inside the tenant scope.
    """

    scope_map: ClassVar[Mapping[str, str]] = {}
    access: TenantAccess

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if any(name in cls.__dict__ for name in _SEALED):
            raise TypeError(f"{cls.__name__} must not override dispatch: tenant scoping happens there")

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        try:
            access = resolve_access(request.user, kwargs["organization_slug"], kwargs.get("project_slug"))
        except TenantNotFound as exc:
            raise Http404("No such organization or project, or you are not a member.") from exc
        method = request.method or "GET"
        required = self.scope_map.get("GET" if method in ("HEAD", "OPTIONS") else method)
        if required is None:
            raise PermissionDenied(f"{method} is not allowed here.")
        try:
            access.require(required)
        except MissingScope as exc:
            raise PermissionDenied(str(exc)) from exc
        self.access = access
        request.tenant_access = access  # type: ignore[attr-defined]
        with tenant_scope(access.organization_id):
            response = super().dispatch(request, *args, **kwargs)
            render = getattr(response, "render", None)
            if callable(render) and not getattr(response, "is_rendered", True):
                render()
            return response
