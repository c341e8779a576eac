"""API behaviour on bad input and through the tenancy flows: one error shape, clear messages."""

from __future__ import annotations

import re
import time
from datetime import timedelta
from typing import Any

import pytest
from django.core import mail
from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from apps.accounts.models import ApiToken
from apps.core.secrets import digest
from apps.logs.writers import write_logs
from apps.tenants import services as tenant_services
from apps.tenants.models import IngestKey, Invitation, Membership, Organization
from apps.tenants.roles import Role
from tests.conftest import Tenant, session_client, token_client
from tests.factories import PASSWORD, ProjectFactory
from tests.support import (
    api_routes,
    assert_error_shape,
    fast_passwords,  # noqa: F401  (fixture)
    fill,
    reset_login_throttle,
    url_values,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_passwords")]


def projects_url(tenant: Tenant) -> str:
    return f"/api/v1/orgs/{tenant.slug}/projects/"


# --- Bad requests -----------------------------------------------------------------------------------------------------


def test_malformed_json_is_400_without_internals(bob: Tenant) -> None:
    response = session_client(bob.owner).post(projects_url(bob), data='{"name": ', content_type="application/json")
    error = assert_error_shape(response, 400)
    assert "JSON" in error["message"]
    assert 'File "' not in response.content.decode()
    assert ".py" not in response.content.decode()


def test_validation_error_names_the_fields(bob: Tenant) -> None:
    response = session_client(bob.owner).post(projects_url(bob), {"name": "", "slug": "not a slug!"}, format="json")
    error = assert_error_shape(response, 400)
    assert error["code"] == "invalid"
    assert set(error["details"]) == {"name", "slug"}
    assert all(isinstance(messages, list) and messages for messages in error["details"].values())


def test_wrong_content_type_is_415(bob: Tenant) -> None:
    response = session_client(bob.owner).post(projects_url(bob), data="name=x", content_type="text/plain")
    error = assert_error_shape(response, 415)
    assert error["code"] == "unsupported_media_type"


@pytest.mark.parametrize(
    "path", ["/api/v1/nothing-here/", "/api/v1/orgs/bob/nothing/", "/api/v1/orgs/bob/projects/x/y/"]
)
def test_unknown_api_route_is_json_404(path: str, bob: Tenant) -> None:
    error = assert_error_shape(session_client(bob.owner).get(path), 404)
    assert error["code"] == "not_found"


def test_unknown_object_is_json_404(bob: Tenant) -> None:
    assert_error_shape(session_client(bob.owner).get(projects_url(bob) + "no-such-project/"), 404)
    assert_error_shape(session_client(bob.owner).get(f"/api/v1/orgs/{bob.slug}/members/999999/"), 404)


# --- API tokens -------------------------------------------------------------------------------------------------------


def bearer(plaintext: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {plaintext}")
    return client


def new_token(bob: Tenant, user: Any = None, **extra: Any) -> tuple[str, ApiToken]:
    client = session_client(user or bob.owner)
    body = {"name": "t", "scopes": ["org:read", "projects:write"], **extra}
    response = client.post(f"/api/v1/orgs/{bob.slug}/tokens/", body, format="json")
    assert response.status_code == 201, response.content
    data = response.json()
    assert data["token"].startswith("vat_")
    assert data["prefix"] == data["token"][:12]
    return data["token"], ApiToken.objects.for_organization(bob.organization.pk).get(pk=data["id"])


def test_token_works_and_is_stored_hashed(bob: Tenant) -> None:
    plaintext, token = new_token(bob)
    assert token.token_hash == digest(plaintext)
    assert plaintext not in str(token.__dict__)
    assert bearer(plaintext).get(projects_url(bob)).status_code == 200
    listing = session_client(bob.owner).get(f"/api/v1/orgs/{bob.slug}/tokens/").json()
    assert "token" not in listing["results"][0]
    assert plaintext not in str(listing)


def test_revoked_token_is_401(bob: Tenant) -> None:
    plaintext, token = new_token(bob)
    session_client(bob.owner).post(f"/api/v1/orgs/{bob.slug}/tokens/{token.pk}/revoke/")
    error = assert_error_shape(bearer(plaintext).get(projects_url(bob)), 401)
    assert "revoked" in error["message"]


def test_expired_token_is_401(bob: Tenant) -> None:
    plaintext, token = new_token(bob)
    ApiToken.objects.unscoped().filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    error = assert_error_shape(bearer(plaintext).get(projects_url(bob)), 401)
    assert "expired" in error["message"]


@pytest.mark.parametrize("header", ["Bearer", "Bearer a b", "Bearer vat_unknown"])
def test_malformed_or_unknown_token_is_401(header: str, bob: Tenant) -> None:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)
    assert_error_shape(client.get(projects_url(bob)), 401)


def test_token_scopes_cannot_exceed_the_role(bob: Tenant) -> None:
    viewer = bob.members[Role.VIEWER]
    response = session_client(viewer).post(
        f"/api/v1/orgs/{bob.slug}/tokens/", {"name": "t", "scopes": ["keys:write"]}, format="json"
    )
    error = assert_error_shape(response, 400)
    assert "keys:write" in str(error["details"])
    assert "viewer" in str(error["details"])
    assert not ApiToken.objects.for_organization(bob.organization.pk).filter(user=viewer).exists()


def test_token_cannot_mint_a_wider_token(bob: Tenant) -> None:
    client = token_client(bob.owner, bob.slug, scopes=frozenset({"org:read"}))
    response = client.post(f"/api/v1/orgs/{bob.slug}/tokens/", {"name": "t", "scopes": ["keys:write"]}, format="json")
    assert_error_shape(response, 400)


def test_token_scopes_shrink_when_the_role_is_lowered(bob: Tenant) -> None:
    admin = bob.members[Role.ADMIN]
    client = token_client(admin, bob.slug)  # carries projects:write
    assert client.post(projects_url(bob), {"name": "One"}, format="json").status_code == 201
    Membership.objects.for_organization(bob.organization.pk).filter(user=admin).update(role=Role.VIEWER)
    error = assert_error_shape(client.post(projects_url(bob), {"name": "Two"}, format="json"), 403)
    assert "projects:write" in error["message"]
    assert client.get(projects_url(bob)).status_code == 200  # what viewers may do still works
    Membership.objects.for_organization(bob.organization.pk).filter(user=admin).delete()
    assert_error_shape(client.get(projects_url(bob)), 404)


# --- Ingest keys ------------------------------------------------------------------------------------------------------


def test_ingest_key_lifecycle(bob: Tenant) -> None:
    client = session_client(bob.members[Role.ADMIN])
    base = f"/api/v1/orgs/{bob.slug}/projects/app/keys/"
    created = client.post(base, {"name": "ci"}, format="json").json()
    plaintext = created["key"]
    assert plaintext.startswith("vik_")
    assert created["prefix"] == plaintext[:12]
    key = IngestKey.objects.for_organization(bob.organization.pk).get(pk=created["id"])
    assert key.key_hash == digest(plaintext)

    listing = client.get(base).json()
    assert {k["prefix"] for k in listing["results"]} == {created["prefix"], bob.ingest_key.prefix}
    assert plaintext not in str(listing)
    assert all("key" not in k for k in listing["results"])
    assert "key" not in client.get(f"{base}{key.pk}/").json()
    assert tenant_services.authenticate_ingest_key(plaintext) == key

    revoked = client.post(f"{base}{key.pk}/revoke/").json()
    assert revoked["revoked_at"] is not None
    assert tenant_services.authenticate_ingest_key(plaintext) is None


def test_expired_or_unknown_ingest_key_is_rejected(bob: Tenant) -> None:
    issued = tenant_services.create_ingest_key(bob.project, bob.owner, name="short")
    assert tenant_services.authenticate_ingest_key(issued.plaintext) == issued.key
    IngestKey.objects.unscoped().filter(pk=issued.key.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert tenant_services.authenticate_ingest_key(issued.plaintext) is None
    assert tenant_services.authenticate_ingest_key("vik_never-issued") is None


def test_ingest_key_expiry_must_be_in_the_future(bob: Tenant) -> None:
    response = session_client(bob.owner).post(
        f"/api/v1/orgs/{bob.slug}/projects/app/keys/",
        {"name": "x", "expires_at": (timezone.now() - timedelta(days=1)).isoformat()},
        format="json",
    )
    assert "future" in str(assert_error_shape(response, 400)["details"])


# --- Pagination -------------------------------------------------------------------------------------------------------

LIST_ROUTES = [r for r in api_routes() if r.actions and r.actions.get("get") == "list"]
# Lists with a documented top-level field beside the page: the trace list says whether traces are sampled.
LIST_EXTRAS = {"trace-list": {"sampling"}}


def test_list_routes_are_discovered() -> None:
    assert len(LIST_ROUTES) >= 5


@pytest.mark.parametrize("route", LIST_ROUTES, ids=str)
def test_every_list_pages(route: Any, bob: Tenant) -> None:
    client = session_client(bob.owner)
    url = fill(route, url_values(route, bob))
    body = client.get(url).json()
    extra = LIST_EXTRAS.get(route.name or "", set())
    assert set(body) == {"count", "next", "previous", "results", *extra}
    assert body["previous"] is None
    capped = client.get(url, {"page_size": 100_000}).json()
    assert capped["count"] == body["count"]


def _one_of_everything(tenant: Tenant) -> None:
    """A row for every tenant model, a trace, an issue and a log record."""
    from tests.logs.test_writers import make_log
    from tests.support import OBJECT_FACTORIES, TELEMETRY_FACTORIES

    for model, factory in OBJECT_FACTORIES.items():
        if model is not Organization:
            factory(tenant, tenant.owner)
    for factory in {id(f): f for f in TELEMETRY_FACTORIES.values()}.values():
        factory(tenant, tenant.owner)
    with transaction.atomic():
        write_logs(
            tenant.organization.pk, tenant.project.pk, [make_log(f"seed {time.time_ns()}", time_ns=time.time_ns())]
        )


@pytest.mark.parametrize("route", LIST_ROUTES, ids=str)
def test_every_list_makes_a_fixed_number_of_queries(route: Any, bob: Tenant, django_assert_num_queries: Any) -> None:
    """No N+1 in our own code: a list with three times more rows makes exactly as many SQL queries."""
    client = session_client(bob.owner)
    url = fill(route, url_values(route, bob))
    _one_of_everything(bob)
    client.get(url)  # warm the per-process caches (keys, policies) before counting
    with CaptureQueriesContext(connection) as first:
        assert client.get(url).status_code == 200
    _one_of_everything(bob)
    _one_of_everything(bob)
    with django_assert_num_queries(len(first)):
        client.get(url)


def test_pages_and_page_size_cap(bob: Tenant) -> None:
    for n in range(7):
        ProjectFactory(organization=bob.organization, slug=f"p{n}", name=f"P{n}")
    client = session_client(bob.owner)
    first = client.get(projects_url(bob), {"page_size": 3}).json()
    assert first["count"] == 8
    assert len(first["results"]) == 3
    assert first["next"]
    assert first["previous"] is None
    second = client.get(first["next"]).json()
    assert second["previous"]
    assert len(second["results"]) == 3
    assert not {p["slug"] for p in first["results"]} & {p["slug"] for p in second["results"]}
    from apps.core.api.pagination import CursorlessPageNumberPagination

    assert CursorlessPageNumberPagination.max_page_size == 500
    assert len(client.get(projects_url(bob), {"page_size": 100_000}).json()["results"]) == 8


# --- Invitations and the last owner -----------------------------------------------------------------------------------


def test_invite_flow_sends_a_working_link(bob: Tenant) -> None:
    admin = bob.members[Role.ADMIN]
    response = session_client(admin).post(
        f"/api/v1/orgs/{bob.slug}/invitations/",
        {"email": "carol@example.org", "role": "editor"},
        format="json",
    )
    assert response.status_code == 201, response.content
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["carol@example.org"]
    link = re.search(r"https?://\S+/invitations/(\S+)/", mail.outbox[0].body)
    assert link, mail.outbox[0].body
    invitation = tenant_services.find_invitation(link.group(1))
    assert (invitation.organization_id, invitation.role) == (bob.organization.pk, "editor")
    page = Client().get("/" + link.group(0).split("/", 3)[3])
    assert page.status_code == 200


def test_expired_invitation_is_refused_clearly(bob: Tenant) -> None:
    issued = tenant_services.invite_member(
        bob.organization.pk, bob.owner, Role.OWNER, email="late@example.org", role=Role.VIEWER
    )
    Invitation.objects.unscoped().filter(pk=issued.invitation.pk).update(expires_at=timezone.now() - timedelta(hours=1))
    with pytest.raises(tenant_services.TenancyError, match="expired"):
        tenant_services.find_invitation(issued.token)
    response = Client().get(f"/invitations/{issued.token}/")
    assert response.status_code == 410
    assert b"expired" in response.content


def test_admin_cannot_invite_or_promote_to_owner(bob: Tenant) -> None:
    client = session_client(bob.members[Role.ADMIN])
    response = client.post(
        f"/api/v1/orgs/{bob.slug}/invitations/", {"email": "x@example.org", "role": "owner"}, format="json"
    )
    assert "cannot grant" in str(assert_error_shape(response, 400)["details"])
    viewer = Membership.objects.for_organization(bob.organization.pk).get(user=bob.members[Role.VIEWER])
    response = client.patch(f"/api/v1/orgs/{bob.slug}/members/{viewer.pk}/", {"role": "owner"}, format="json")
    assert "cannot grant" in str(assert_error_shape(response, 400)["details"])
    viewer.refresh_from_db()
    assert viewer.role == Role.VIEWER


def test_last_owner_cannot_be_demoted_or_removed(bob: Tenant) -> None:
    owner = Membership.objects.for_organization(bob.organization.pk).get(user=bob.owner)
    client = session_client(bob.owner)
    url = f"/api/v1/orgs/{bob.slug}/members/{owner.pk}/"
    error = assert_error_shape(client.patch(url, {"role": "admin"}, format="json"), 400)
    assert "at least one owner" in str(error["details"])
    error = assert_error_shape(client.delete(url), 400)
    assert "owner" in str(error["details"])
    owner.refresh_from_db()
    assert owner.role == Role.OWNER
    # With a second owner the first may step down.
    Membership.objects.for_organization(bob.organization.pk).filter(user=bob.members[Role.ADMIN]).update(role="owner")
    assert client.patch(url, {"role": "admin"}, format="json").status_code == 200


# --- Login rate limiting ----------------------------------------------------------------------------------------------


def test_login_is_rate_limited(bob: Tenant, settings: Any) -> None:
    settings.VIGIL_LOGIN_MAX_ATTEMPTS = 3
    user, ip = bob.members[Role.VIEWER], "198.51.100.23"
    reset_login_throttle(ip, user.username)
    try:
        client = Client(REMOTE_ADDR=ip)
        for _ in range(3):
            assert client.post("/login/", {"username": user.username, "password": "wrong!"}).status_code == 200
        response = client.post("/login/", {"username": user.username, "password": PASSWORD})
        assert response.status_code == 429
        assert 1 <= int(response["Retry-After"]) <= settings.VIGIL_LOGIN_WINDOW_SECONDS + 1
        assert b"Too many failed sign-in attempts" in response.content
        assert "_auth_user_id" not in client.session
        # Another address is still limited by the username.
        other = Client(REMOTE_ADDR="198.51.100.24")
        assert other.post("/login/", {"username": user.username, "password": PASSWORD}).status_code == 429
    finally:
        reset_login_throttle(ip, user.username)
        reset_login_throttle("198.51.100.24", user.username)


def test_successful_login_resets_the_username_count(bob: Tenant, settings: Any) -> None:
    settings.VIGIL_LOGIN_MAX_ATTEMPTS = 3
    user, ip = bob.members[Role.ANALYST], "198.51.100.31"
    reset_login_throttle(ip, user.username)
    try:
        client = Client(REMOTE_ADDR=ip)
        for _ in range(2):
            client.post("/login/", {"username": user.username, "password": "wrong!"})
        assert client.post("/login/", {"username": user.username, "password": PASSWORD}).status_code == 302
        fresh = Client(REMOTE_ADDR="198.51.100.32")
        for _ in range(2):
            fresh.post("/login/", {"username": user.username, "password": "wrong!"})
        assert fresh.post("/login/", {"username": user.username, "password": PASSWORD}).status_code == 302
    finally:
        reset_login_throttle(ip, user.username)
        reset_login_throttle("198.51.100.32", user.username)
