"""Generic tenant isolation of the REST API.

Every route under /api/v1/ is discovered from the URL resolver and checked for
every HTTP method it serves, so a new endpoint is covered without writing a
test for it. Routes with ``organization_slug`` must refuse anonymous callers,
answer 404 to members of other organizations (and to tokens of other
organizations), and 403 to members and tokens lacking the method's scope.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.db import transaction
from rest_framework.test import APIClient

from apps.core.api.viewsets import TenantScopedViewSet
from apps.core.views import TenantView
from apps.tenants.roles import ALL_SCOPES, Role
from tests.conftest import Tenant, session_client, token_client
from tests.factories import MembershipFactory, OrganizationFactory, ProjectFactory
from tests.support import (
    Route,
    api_routes,
    assert_error_shape,
    detail_kwargs,
    fast_passwords,  # noqa: F401  (fixture)
    fill,
    make_object,
    roles_lacking,
    url_values,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_passwords")]

ROUTES = api_routes()
TENANT_ROUTES = [r for r in ROUTES if "organization_slug" in r.kwargs]
OTHER_ROUTES = [r for r in ROUTES if "organization_slug" not in r.kwargs]
CASES = [pytest.param(r, m, id=f"{m} {r}") for r in TENANT_ROUTES for m in r.methods]
DETAIL_CASES = [pytest.param(r, m, id=f"{m} {r}") for r in TENANT_ROUTES for m in r.methods if detail_kwargs(r)]
# Routes outside any organization, and what each is: a new one must be added here after deciding its access.
PUBLIC_DOCS = {"api:api-schema", "api:api-docs"}
OWN_DATA = {"api:organization-list"}


# A body valid for every write endpoint (serializers ignore fields they do not know), so write requests get
# past validation to the object lookup and the owner's control requests really succeed.
BODY = {
    "name": "Renamed",
    "role": "viewer",
    "email": "new-person@example.org",
    "scopes": ["org:read"],
    "kind": "key",
    "pattern": "ssn",
    "key": "enduser.id",
    "value": "u-1",
    "keep_share": 0.5,
    "status": "ignored",
    "apdex_threshold_ms": 300,
}


# Bodies of the write endpoints whose fields mean something else than in BODY (a channel's "kind" is a
# transport), by a part of their URL.
BODY_BY_PATH = {
    "/channels/": {"name": "Renamed", "kind": "email", "config": {"recipients": ["oncall@example.org"]}},
    "/contact-methods/": {"name": "Renamed", "kind": "email", "config": {"recipients": ["me@example.org"]}},
    "/alert-rules/": {
        "name": "Renamed",
        "queries": {"a": {"source": "red", "measure": "p95", "service": "checkout", "window_seconds": 300}},
        "conditions": [{"query": "a", "op": ">", "critical": 500}],
    },
    "/silences/": {
        "matchers": [{"label": "service", "op": "=", "value": "checkout"}],
        "ends_at": "2099-01-01T00:00:00Z",
        "comment": "planned maintenance",
    },
    "/notes/": {"text": "Rolled back the deploy."},
    "/feedback/": {"feedback": "noise"},
}


def call(client: APIClient, method: str, url: str) -> Any:
    if method in ("POST", "PUT", "PATCH"):
        body = next((body for part, body in BODY_BY_PATH.items() if part in url), BODY)
        return getattr(client, method.lower())(url, data=body, format="json")
    return getattr(client, method.lower())(url)


def required(route: Route, method: str) -> str:
    scope = route.view_class.required_scope(method)  # type: ignore[union-attr]
    assert scope is not None, f"{route} serves {method} without a scope in scope_map"
    return scope


def url_for(route: Route, tenant: Tenant, user: Any = None) -> str:
    return fill(route, url_values(route, tenant, make_object(route, tenant, user)))


def reachable(response: Any) -> bool:
    """The request succeeded."""
    return 200 <= response.status_code < 300


# --- The route inventory --------------------------------------------------------------------------------------------


def test_discovery_finds_the_tenant_routes() -> None:
    patterns = {r.pattern for r in TENANT_ROUTES}
    assert "api/v1/orgs/<slug:organization_slug>/projects/" in patterns
    assert "api/v1/orgs/<slug:organization_slug>/audit/export/" in patterns
    assert len(CASES) >= 20, [str(r) for r in TENANT_ROUTES]


@pytest.mark.parametrize("route", TENANT_ROUTES, ids=str)
def test_route_with_organization_uses_tenant_viewset(route: Route) -> None:
    assert route.view_class is not None
    assert issubclass(route.view_class, TenantScopedViewSet), (
        f"{route} takes organization_slug but its view {route.view_class} is not a TenantScopedViewSet"
    )


def test_every_route_under_an_organization_has_the_slug() -> None:
    under = [r for r in ROUTES if r.pattern.startswith("api/v1/orgs/") and r.pattern != "api/v1/orgs/"]
    assert under
    assert all("organization_slug" in r.kwargs for r in under), [str(r) for r in under]


@pytest.mark.parametrize(("route", "method"), CASES)
def test_scope_map_names_a_known_scope_for_each_method(route: Route, method: str) -> None:
    assert required(route, method) in ALL_SCOPES


@pytest.mark.parametrize("route", OTHER_ROUTES, ids=str)
def test_routes_outside_organizations_are_known(route: Route) -> None:
    name = f"api:{route.name}"
    assert name in PUBLIC_DOCS | OWN_DATA, f"{route} is outside any organization; decide its access and list it here"


# --- Per route and method --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("route", "method"), CASES)
def test_anonymous_is_refused(route: Route, method: str, bob: Tenant) -> None:
    response = call(APIClient(), method, url_for(route, bob))
    # BearerTokenAuthentication comes first and names a WWW-Authenticate scheme, so DRF answers 401.
    error = assert_error_shape(response, 401)
    assert error["code"] == "not_authenticated"
    assert response["WWW-Authenticate"] == "Bearer"


@pytest.mark.parametrize(("route", "method"), CASES)
def test_owner_of_the_organization_reaches_the_route(route: Route, method: str, bob: Tenant) -> None:
    """The control for the refusals below: the same URL works for its own owner, by session and by token."""
    url = url_for(route, bob)
    for client in (session_client(bob.owner), token_client(bob.owner, bob.slug)):
        with transaction.atomic():  # each request sees the row even if the other deleted it
            response = call(client, method, url)
            transaction.set_rollback(True)
        assert reachable(response), (response.status_code, response.content[:300])


@pytest.mark.parametrize(("route", "method"), CASES)
def test_member_of_another_organization_gets_404(route: Route, method: str, alice: Tenant, bob: Tenant) -> None:
    url = url_for(route, bob)
    for client in (session_client(alice.owner), token_client(alice.owner, alice.slug)):
        error = assert_error_shape(call(client, method, url), 404)
        assert error["code"] == "not_found"


@pytest.mark.parametrize(("route", "method"), DETAIL_CASES)
def test_object_of_another_organization_under_own_slug_gets_404(
    route: Route, method: str, alice: Tenant, bob: Tenant
) -> None:
    """Alice's owner puts the id of Bob's row into a URL of Alice's organization."""
    values = url_values(route, alice, make_object(route, bob))
    assert_error_shape(call(session_client(alice.owner), method, fill(route, values)), 404)


@pytest.mark.parametrize(("route", "method"), CASES)
def test_member_lacking_the_scope_gets_403(route: Route, method: str, bob: Tenant) -> None:
    scope = required(route, method)
    lacking = roles_lacking(scope)
    if not lacking:
        pytest.skip(f"every role has {scope}")
    url = url_for(route, bob)
    for role in lacking:
        error = assert_error_shape(call(session_client(bob.members[role]), method, url), 403)
        assert error["code"] == "permission_denied"
        assert scope in error["message"], error


@pytest.mark.parametrize(("route", "method"), CASES)
def test_token_lacking_the_scope_gets_403(route: Route, method: str, bob: Tenant) -> None:
    scope = required(route, method)
    client = token_client(bob.owner, bob.slug, scopes=ALL_SCOPES - {scope})
    error = assert_error_shape(call(client, method, url_for(route, bob)), 403)
    assert scope in error["message"], error


@pytest.mark.parametrize(("route", "method"), CASES)
def test_token_of_another_organization_gets_404(route: Route, method: str, alice: Tenant, bob: Tenant) -> None:
    """Bob's owner is an owner of Alice's organization too, but their token is bound to Bob's."""
    MembershipFactory(organization=alice.organization, user=bob.owner, role=Role.OWNER)
    url = url_for(route, alice, bob.owner)
    assert_error_shape(call(token_client(bob.owner, bob.slug), method, url), 404)
    # Control: the same person by session reaches Alice's URL, so the 404 comes from the token's binding.
    assert reachable(call(session_client(bob.owner), method, url))


# --- Routes outside any organization -------------------------------------------------------------------------------


def test_organization_list_requires_authentication() -> None:
    error = assert_error_shape(APIClient().get("/api/v1/orgs/"), 401)
    assert error["code"] == "not_authenticated"


def test_organization_list_shows_only_the_callers_organizations(alice: Tenant, bob: Tenant) -> None:
    body = session_client(alice.members[Role.ANALYST]).get("/api/v1/orgs/").json()
    assert body["count"] == 1
    assert [(o["slug"], o["role"]) for o in body["results"]] == [("alice", "analyst")]

    MembershipFactory(organization=alice.organization, user=bob.owner, role=Role.VIEWER)
    body = session_client(bob.owner).get("/api/v1/orgs/").json()
    assert sorted((o["slug"], o["role"]) for o in body["results"]) == [("alice", "viewer"), ("bob", "owner")]


def test_organization_list_of_a_token_shows_only_its_organization(alice: Tenant, bob: Tenant) -> None:
    MembershipFactory(organization=alice.organization, user=bob.owner, role=Role.VIEWER)
    body = token_client(bob.owner, bob.slug).get("/api/v1/orgs/").json()
    assert [o["slug"] for o in body["results"]] == ["bob"]
    body = token_client(bob.owner, "alice").get("/api/v1/orgs/").json()
    assert [o["slug"] for o in body["results"]] == ["alice"]


@pytest.mark.parametrize("name", sorted(PUBLIC_DOCS))
def test_schema_and_docs_leak_no_tenant_data(name: str, settings: Any, bob: Tenant) -> None:
    from django.urls import reverse

    secret_org = OrganizationFactory(name="Quuxcorp Hidden", slug="quuxcorp-hidden")
    ProjectFactory(organization=secret_org, name="Zorblax Secret", slug="zorblax-secret")
    MembershipFactory(organization=secret_org, user=bob.owner, role=Role.OWNER)
    permissions = settings.SPECTACULAR_SETTINGS.get("SERVE_PERMISSIONS", ["rest_framework.permissions.AllowAny"])
    public = permissions == ["rest_framework.permissions.AllowAny"]
    anonymous = APIClient().get(reverse(name))
    if public:
        assert anonymous.status_code == 200
    else:
        assert anonymous.status_code in (401, 403)
    for response in (anonymous, session_client(bob.owner).get(reverse(name))):
        text = response.content.decode()
        for secret in ("Quuxcorp", "quuxcorp-hidden", "Zorblax", "zorblax-secret", "bob-owner"):
            assert secret not in text


# --- The bases cannot be bypassed ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "method", ["get_queryset", "initial", "dispatch", "check_permissions", "get_permissions", "get_authenticators"]
)
def test_viewset_subclass_cannot_override_scoping(method: str) -> None:
    with pytest.raises(TypeError, match=method):
        type("Sneaky", (TenantScopedViewSet,), {method: lambda self, *a, **k: None})


def test_viewset_subclass_of_a_subclass_cannot_override_scoping() -> None:
    class Fine(TenantScopedViewSet):
        scope_map = {"GET": "org:read"}

    with pytest.raises(TypeError, match="get_queryset"):
        type("Sneaky", (Fine,), {"get_queryset": lambda self: None})


def test_tenant_view_subclass_cannot_override_dispatch() -> None:
    with pytest.raises(TypeError, match="dispatch"):
        type("Sneaky", (TenantView,), {"dispatch": lambda self, request, *a, **k: None})
    type("Fine", (TenantView,), {"get": lambda self, request, *a, **k: None})  # handlers are allowed


# On call: an override needs its times (it is created for the caller); a policy needs a step.
BODY_BY_PATH.update({
    "/schedules/": {"name": "Renamed", "start": "2030-01-01T00:00:00Z", "end": "2030-01-02T00:00:00Z"},
    "/escalation-policies/": {"name": "Renamed", "steps": [{"delay_minutes": 5}]},
})  # fmt: skip
