"""The read API of tenancy for other apps."""

from __future__ import annotations

from typing import Any

from apps.core.secrets import digest
from apps.tenants.models import IngestKey, Invitation, Membership, Organization, Project


def organization_ids_of_user(user: Any) -> list[int]:
    return list(
        Membership.objects.unscoped()  # all organizations of one user, by design
        .filter(user_id=user.pk)
        .values_list("organization_id", flat=True)
    )


def memberships_of_user(user: Any) -> list[Membership]:
    """The user's memberships with their organizations, for the switcher."""
    return list(
        Membership.objects.unscoped()
        .select_related("organization")
        .filter(user_id=user.pk)
        .order_by("organization__name")
    )


def projects_of(organization_id: int) -> list[Project]:
    return list(Project.objects.for_organization(organization_id).order_by("name"))


def organization(organization_id: int) -> Organization:
    return Organization.objects.get(pk=organization_id)


def project(organization_id: int, project_id: int) -> Project:
    return Project.objects.for_organization(organization_id).get(pk=project_id)


def ingest_keys_of(organization_id: int, project_id: int) -> list[IngestKey]:
    """The project's keys, newest first, with their creators for the table."""
    return list(
        IngestKey.objects.for_organization(organization_id)
        .filter(project_id=project_id)
        .select_related("created_by")
        .order_by("-created_at")
    )


def ingest_key(organization_id: int, project_id: int, key_id: int) -> IngestKey:
    """One key of one project; ``IngestKey.DoesNotExist`` for anyone else's."""
    return IngestKey.objects.for_organization(organization_id).get(project_id=project_id, pk=key_id)


def members_of(organization_id: int) -> list[Membership]:
    return list(Membership.objects.for_organization(organization_id).select_related("user").order_by("user__username"))


def membership(organization_id: int, membership_id: int) -> Membership:
    return Membership.objects.for_organization(organization_id).select_related("user").get(pk=membership_id)


def invitations_of(organization_id: int) -> list[Invitation]:
    """Invitations not yet accepted or revoked (expired ones included, so admins see why a link failed)."""
    return list(
        Invitation.objects.for_organization(organization_id)
        .filter(accepted_at__isnull=True, revoked_at__isnull=True)
        .select_related("invited_by")
        .order_by("-created_at")
    )


def invitation(organization_id: int, invitation_id: int) -> Invitation:
    return Invitation.objects.for_organization(organization_id).get(pk=invitation_id)


def invitation_token_exists(token: str) -> bool:
    """Whether a link token was ever issued (used, revoked and expired ones included)."""
    return (
        Invitation.objects.unscoped()  # the token is what identifies the organization here
        .filter(token_hash=digest(token))
        .exists()
    )
