"""Shared fixtures: two organizations (Alice's and Bob's), a member of each role, API clients."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from rest_framework.test import APIClient

from apps.accounts.services import create_api_token
from apps.core.access import resolve_access
from apps.tenants import services as tenant_services
from apps.tenants.models import Organization, Project
from apps.tenants.roles import Role, scopes_for
from tests.factories import MembershipFactory, OrganizationFactory, ProjectFactory, UserFactory

# The notification receivers (Slack, PagerDuty, webhook, Teams, Twilio, SMTP) as fixtures for every test package.
pytest_plugins = ["tests.notifications.fixtures"]


@dataclass
class Tenant:
    """One organization with a project, an ingest key and one member per role."""

    organization: Organization
    project: Project
    members: dict[str, Any] = field(default_factory=dict)
    ingest_key: Any = None

    @property
    def owner(self) -> Any:
        return self.members[Role.OWNER]

    @property
    def slug(self) -> str:
        return self.organization.slug


def make_tenant(name: str) -> Tenant:
    organization = OrganizationFactory(name=name.title(), slug=name)
    project = ProjectFactory(organization=organization, name=f"{name} app", slug="app")
    tenant = Tenant(organization=organization, project=project)
    for role in Role:
        user = UserFactory(username=f"{name}-{role.value}")
        MembershipFactory(organization=organization, user=user, role=role.value)
        tenant.members[role.value] = user
    tenant.ingest_key = tenant_services.create_ingest_key(project, tenant.owner, name="default").key
    return tenant


@pytest.fixture
def alice(db: Any) -> Tenant:
    return make_tenant("alice")


@pytest.fixture
def bob(db: Any) -> Tenant:
    return make_tenant("bob")


def session_client(user: Any) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


def token_client(user: Any, organization_slug: str, scopes: frozenset[str] | None = None) -> APIClient:
    access = resolve_access(user, organization_slug)
    issued = create_api_token(
        access, user, name="test", scopes=scopes if scopes is not None else scopes_for(access.role)
    )
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.plaintext}")
    return client


@pytest.fixture
def asgi_url(transactional_db: Any) -> Any:
    """Base URL of the real ASGI app (uvicorn, HTTP + WebSocket) on a free loopback port."""
    from tests.asgi_server import serve_asgi

    with serve_asgi() as url:
        yield url


@pytest.fixture(autouse=True)
def _empty_telemetry_tables(request: Any, django_db_blocker: Any) -> Any:
    """Transactional tests commit; Django flushes only its models' tables, so empty the telemetry tables too."""
    yield
    marker = request.node.get_closest_marker("django_db")
    if "transactional_db" in request.fixturenames or (marker is not None and marker.kwargs.get("transaction")):
        from tests.telemetry_tables import truncate_telemetry

        with django_db_blocker.unblock():  # this teardown runs after the database fixture's own
            truncate_telemetry()


@pytest.fixture
def ingest_key(alice: Tenant) -> str:
    """A fresh ingest key of Alice's project (and an empty key cache, so it is looked up for real)."""
    from apps.ingest.auth import KEY_CACHE
    from apps.tenants.services import create_ingest_key

    KEY_CACHE.clear()
    return create_ingest_key(alice.project, alice.owner, name="sdk").plaintext


@pytest.fixture(autouse=True)
def _shutdown_tracer_providers() -> Any:
    """Shut SDK providers down after each test, not at exit when pytest has closed the log streams."""
    yield
    from tests.otel_traffic import shutdown_providers

    shutdown_providers()
