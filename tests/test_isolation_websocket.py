"""Tenant isolation of WebSockets, through the real ASGI app (uvicorn) and a real WebSocket client."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlparse

import pytest
from django.db import connection, transaction
from django.test import Client
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from apps.core.consumers import CLOSE_NOT_FOUND, CLOSE_UNAUTHENTICATED, TenantConsumer
from apps.live.services import publish
from config.websocket_urls import websocket_urlpatterns
from tests.conftest import Tenant
from tests.support import _KWARG, fast_passwords  # noqa: F401  (fixture)

pytestmark = pytest.mark.usefixtures("fast_passwords")


@pytest.fixture(scope="module")
def _server(django_db_setup: Any, django_db_blocker: Any) -> Any:
    """One real ASGI server (uvicorn) for the module: stopping one takes seconds, starting it per test is waste."""
    from tests.asgi_server import serve_asgi

    server = serve_asgi()
    url = server.__enter__()
    try:
        yield url
    finally:
        with django_db_blocker.unblock():  # stopping it closes the server threads' database connections
            server.__exit__(None, None, None)
            with connection.cursor() as cursor:  # and in case it did not: only idle ones of the test database
                cursor.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid() AND state = 'idle'"
                )


@pytest.fixture
def asgi_url(_server: str, transactional_db: Any) -> str:
    """Same as conftest's asgi_url (rows must be committed to be seen by the server), with a shared server."""
    return _server


TENANT_ROUTES = [p for p in websocket_urlpatterns if "organization_slug" in str(p.pattern)]
LIVE_ROUTE = next(p for p in websocket_urlpatterns if p.name == "live")


def ws_url(asgi_url: str, pattern: Any, slug: str) -> str:
    path = _KWARG.sub(lambda m: slug if m.group("name") == "organization_slug" else "x", str(pattern.pattern))
    return asgi_url.replace("http://", "ws://") + "/" + path


def session_cookie(user: Any) -> str:
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}"


def open_socket(asgi_url: str, url: str, user: Any = None, origin: str | None = None) -> ClientConnection:
    headers = {"Cookie": session_cookie(user)} if user is not None else {}
    return connect(
        url,
        origin=origin or asgi_url,
        additional_headers=headers,
        proxy=None,
        open_timeout=5,  # type: ignore[arg-type]
    )


def refusal(ws: ClientConnection) -> tuple[int, dict[str, Any]]:
    """The error message the consumer sends, then the close code."""
    body = json.loads(ws.recv(timeout=5))
    with pytest.raises(ConnectionClosed) as closed:
        ws.recv(timeout=5)
    assert closed.value.rcvd is not None
    return closed.value.rcvd.code, body


def subscribe(ws: ClientConnection, *topics: str) -> None:
    ws.send(json.dumps({"subscribe": list(topics)}))
    assert json.loads(ws.recv(timeout=5)) == {"subscribed": sorted(topics)}


def test_websocket_routes_are_tenant_consumers() -> None:
    assert TENANT_ROUTES, "no WebSocket route takes organization_slug"
    for pattern in TENANT_ROUTES:
        consumer = pattern.callback.consumer_class  # type: ignore[attr-defined]
        assert issubclass(consumer, TenantConsumer), pattern


@pytest.mark.parametrize("pattern", TENANT_ROUTES, ids=lambda p: str(p.pattern))
def test_anonymous_is_closed_with_4401(pattern: Any, asgi_url: str, bob: Tenant) -> None:
    with open_socket(asgi_url, ws_url(asgi_url, pattern, bob.slug)) as ws:
        code, body = refusal(ws)
    assert code == CLOSE_UNAUTHENTICATED == 4401
    assert body["error"]["code"] == 4401
    assert "Sign in" in body["error"]["message"]


@pytest.mark.parametrize("pattern", TENANT_ROUTES, ids=lambda p: str(p.pattern))
def test_member_of_another_organization_is_closed_with_4404(
    pattern: Any, asgi_url: str, alice: Tenant, bob: Tenant
) -> None:
    with open_socket(asgi_url, ws_url(asgi_url, pattern, bob.slug), alice.owner) as ws:
        code, _body = refusal(ws)
    assert code == CLOSE_NOT_FOUND == 4404
    with open_socket(asgi_url, ws_url(asgi_url, pattern, "no-such-org"), alice.owner) as ws:
        assert refusal(ws)[0] == 4404


def test_foreign_origin_is_rejected(asgi_url: str, bob: Tenant) -> None:
    with pytest.raises(InvalidStatus) as rejected:
        open_socket(asgi_url, ws_url(asgi_url, LIVE_ROUTE, bob.slug), bob.owner, origin="http://evil.example")
    assert rejected.value.response.status_code == 403


def test_member_receives_only_its_organizations_publishes(asgi_url: str, alice: Tenant, bob: Tenant) -> None:
    assert urlparse(asgi_url).hostname == "127.0.0.1"
    with (
        open_socket(asgi_url, ws_url(asgi_url, LIVE_ROUTE, bob.slug), bob.members["viewer"]) as bob_ws,
        open_socket(asgi_url, ws_url(asgi_url, LIVE_ROUTE, alice.slug), alice.members["viewer"]) as alice_ws,
    ):
        subscribe(bob_ws, "deploys")
        subscribe(alice_ws, "deploys")
        publish(alice.organization.pk, "deploys", {"n": "alice-1"})
        publish(bob.organization.pk, "other-topic", {"n": "bob-other"})
        publish(bob.organization.pk, "deploys", {"n": "bob-1"})
        # Bob's first message is Bob's own publish: Alice's (sent earlier) and the other topic never arrive.
        assert json.loads(bob_ws.recv(timeout=5)) == {"topic": "deploys", "payload": {"n": "bob-1"}}
        assert json.loads(alice_ws.recv(timeout=5)) == {"topic": "deploys", "payload": {"n": "alice-1"}}
        with pytest.raises(TimeoutError):
            bob_ws.recv(timeout=0.3)
        with pytest.raises(TimeoutError):
            alice_ws.recv(timeout=0.3)


def test_publish_is_delivered_only_after_commit(asgi_url: str, bob: Tenant) -> None:
    with open_socket(asgi_url, ws_url(asgi_url, LIVE_ROUTE, bob.slug), bob.owner) as ws:
        subscribe(ws, "deploys")
        with transaction.atomic():
            publish(bob.organization.pk, "deploys", {"n": "rolled-back"})
            transaction.set_rollback(True)
        with transaction.atomic():
            publish(bob.organization.pk, "deploys", {"n": "committed"})
            with pytest.raises(TimeoutError):  # nothing is sent before the commit
                ws.recv(timeout=0.3)
        assert json.loads(ws.recv(timeout=5)) == {"topic": "deploys", "payload": {"n": "committed"}}
        with pytest.raises(TimeoutError):
            ws.recv(timeout=0.3)


def test_topics_cannot_name_another_organizations_group(asgi_url: str, alice: Tenant, bob: Tenant) -> None:
    """A topic that looks like a group name of another organization is rejected, not joined."""
    with open_socket(asgi_url, ws_url(asgi_url, LIVE_ROUTE, bob.slug), bob.owner) as ws:
        ws.send(json.dumps({"subscribe": [f"org.{alice.organization.pk}.deploys".upper()]}))
        assert "error" in json.loads(ws.recv(timeout=5))
        subscribe(ws, f"org.{alice.organization.pk}.deploys")  # a legal name, but inside Bob's organization
        publish(alice.organization.pk, "deploys", {"n": "alice"})
        with pytest.raises(TimeoutError):
            ws.recv(timeout=0.3)
