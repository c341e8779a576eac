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
