"""The read API of tenancy for other apps."""

from __future__ import annotations

from typing import Any

from apps.tenants.models import Membership, Organization, Project


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
