"""Creating organizations: the API for signed-in users, and the management command for admins."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from apps.audit.models import AuditEntry
from apps.tenants.models import Membership, Organization
from tests.conftest import Tenant, session_client, token_client


@pytest.mark.django_db
def test_signed_in_user_creates_an_organization_and_owns_it(alice: Tenant) -> None:
    client = session_client(alice.members["viewer"])
    response = client.post("/api/v1/orgs/", {"name": "Side Project"}, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["role"] == "owner"
    organization = Organization.objects.get(slug=response.json()["slug"])
    membership = Membership.objects.for_organization(organization.pk).get()
    assert (membership.user, membership.role) == (alice.members["viewer"], "owner")
    assert AuditEntry.objects.for_organization(organization.pk).filter(action="member.joined").exists()
    slugs = [o["slug"] for o in client.get("/api/v1/orgs/").json()["results"]]
    assert sorted(slugs) == sorted([alice.slug, organization.slug])


@pytest.mark.django_db
def test_api_tokens_cannot_create_organizations(alice: Tenant) -> None:
    response = token_client(alice.owner, alice.slug).post("/api/v1/orgs/", {"name": "X"}, format="json")
    assert response.status_code == 403
    assert "sign in" in response.json()["error"]["message"]


@pytest.mark.django_db
def test_command_creates_organization_with_a_new_owner() -> None:
    out = StringIO()
    call_command(
        "create_organization",
        "Acme",
        "--owner",
        "ada",
        "--create-user",
        "--password",
        "a long passphrase 1",
        stdout=out,
    )
    organization = Organization.objects.get(slug="acme")
    assert Membership.objects.for_organization(organization.pk).get().user.username == "ada"
    assert "/o/acme/" in out.getvalue()


@pytest.mark.django_db
def test_command_refuses_unknown_owner_and_taken_slug(alice: Tenant) -> None:
    with pytest.raises(CommandError, match="--create-user"):
        call_command("create_organization", "Acme", "--owner", "nobody")
    with pytest.raises(CommandError, match="taken"):
        call_command("create_organization", "Alice 2", "--owner", alice.owner.username, "--slug", alice.slug)
