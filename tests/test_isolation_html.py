"""Generic tenant isolation of the HTML pages: every route with ``organization_slug`` outside /api/."""

from __future__ import annotations

import inspect
from typing import Any

import pytest
from django.conf import settings
from django.db import transaction
from django.test import Client
from django.urls import reverse

from apps.accounts.models import ApiToken
from apps.core.views import TenantView
from apps.tenants.models import IngestKey, Invitation, Membership
from tests.conftest import Tenant
from tests.support import (
    OBJECT_FACTORIES,
    TELEMETRY_FACTORIES,
    Route,
    discover_routes,
    fast_passwords,  # noqa: F401  (fixture)
    fill,
    roles_lacking,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_passwords")]

ROUTES = [r for r in discover_routes() if not r.pattern.startswith("api/") and "organization_slug" in r.kwargs]
CASES = [
    pytest.param(r, m, id=f"{m} /{r.pattern}")
    for r in ROUTES
    for m in sorted(getattr(r.view_class, "scope_map", None) or {"GET": None})
]
# HTML routes name their objects <model>_id; a view may also declare ``model``.
KWARG_MODELS: dict[str, type] = {
    "key_id": IngestKey,
    "membership_id": Membership,
    "invitation_id": Invitation,
    "token_id": ApiToken,
}


def url_for(route: Route, tenant: Tenant) -> str:
    values: dict[str, Any] = {}
    for name in route.kwargs:
        if name == "organization_slug":
            values[name] = tenant.slug
        elif name == "project_slug":
            values[name] = tenant.project.slug
        else:
            model = getattr(route.view_class, "model", None) or KWARG_MODELS.get(name)
            if model is None and name in TELEMETRY_FACTORIES:
                # Telemetry has no model: the factory stores one item in the tenant and names it by the kwarg.
                values[name] = getattr(TELEMETRY_FACTORIES[name](tenant, tenant.owner), name)
                continue
            factory = OBJECT_FACTORIES.get(model)  # type: ignore[arg-type]
            assert factory is not None, f"{route}: add the model of {name!r} to KWARG_MODELS / OBJECT_FACTORIES"
            obj = factory(tenant, tenant.owner)
            values[name] = obj.pk
    return fill(route, values)


def request(client: Client, method: str, url: str) -> Any:
    return client.generic(method, url, data="", content_type="application/x-www-form-urlencoded")


def logged_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def tenant_view_classes() -> list[type]:
    import importlib

    try:
        module = importlib.import_module("apps.tenants.views")
    except ModuleNotFoundError:
        return []
    return [
        obj
        for obj in vars(module).values()
        if inspect.isclass(obj) and issubclass(obj, TenantView) and obj is not TenantView
    ]


def test_pages_exist_when_tenant_views_do() -> None:
    if not tenant_view_classes():
        pytest.skip("apps/tenants/views.py defines no TenantView yet")
    assert ROUTES, "apps.tenants.views defines TenantView subclasses but no route with organization_slug was found"


@pytest.mark.parametrize("route", ROUTES, ids=str)
def test_page_under_an_organization_is_a_tenant_view(route: Route) -> None:
    assert route.view_class is not None
    assert issubclass(route.view_class, TenantView), route
    for method in route.view_class.scope_map:
        assert method in ("GET", "POST", "PUT", "PATCH", "DELETE"), (route, method)


@pytest.mark.parametrize(("route", "method"), CASES)
def test_anonymous_goes_to_login(route: Route, method: str, bob: Tenant) -> None:
    url = url_for(route, bob)
    response = request(Client(), method, url)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse(settings.LOGIN_URL) + "?next="), response["Location"]


@pytest.mark.parametrize(("route", "method"), CASES)
def test_owner_reaches_the_page(route: Route, method: str, bob: Tenant) -> None:
    """The control for the refusals: the same URL works for the organization's owner."""
    with transaction.atomic():
        response = request(logged_in(bob.owner), method, url_for(route, bob))
        transaction.set_rollback(True)
    # An empty form may be answered 400 with the form again: still past the tenancy and scope checks.
    allowed = (200, 302) if method == "GET" else (200, 302, 400)
    assert response.status_code in allowed, (response.status_code, response.content[:300])
    if response.status_code == 302:
        assert not response["Location"].startswith(reverse(settings.LOGIN_URL))


@pytest.mark.parametrize(("route", "method"), CASES)
def test_member_of_another_organization_gets_404(route: Route, method: str, alice: Tenant, bob: Tenant) -> None:
    response = request(logged_in(alice.owner), method, url_for(route, bob))
    assert response.status_code == 404
    assert b"Traceback" not in response.content


@pytest.mark.parametrize(("route", "method"), CASES)
def test_member_lacking_the_scope_gets_403(route: Route, method: str, bob: Tenant) -> None:
    scope = route.view_class.scope_map.get(method)  # type: ignore[union-attr]
    assert scope, f"{route} serves {method} without a scope"
    lacking = roles_lacking(scope)
    if not lacking:
        pytest.skip(f"every role has {scope}")
    url = url_for(route, bob)
    for role in lacking:
        response = request(logged_in(bob.members[role]), method, url)
        assert response.status_code == 403, (role, response.status_code)
        assert scope.encode() in response.content, f"the 403 page should name the missing scope {scope}"
