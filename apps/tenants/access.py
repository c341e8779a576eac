"""The tenants app's answer to ``apps.core.access``: membership decides access."""

from __future__ import annotations

from typing import Any

from apps.core.access import TenantAccess, TenantNotFound
from apps.tenants.models import Membership, Organization, Project
from apps.tenants.roles import scopes_for


class MembershipAccessResolver:
    def resolve(self, user: Any, organization_slug: str, project_slug: str | None) -> TenantAccess:
        membership = (
            Membership.objects.unscoped()  # looked up by user; the organization is what we are resolving
            .select_related("organization")
            .filter(user_id=user.pk, organization__slug=organization_slug)
            .first()
        )
        if membership is None:
            raise TenantNotFound(organization_slug)
        organization = membership.organization
        project = None
        if project_slug is not None:
            project = Project.objects.for_organization(organization.pk).filter(slug=project_slug).first()
            if project is None:
                raise TenantNotFound(project_slug)
        return TenantAccess(
            organization_id=organization.pk,
            organization_slug=organization.slug,
            organization_name=organization.name,
            role=membership.role,
            scopes=scopes_for(membership.role),
            project_id=project.pk if project else None,
            project_slug=project.slug if project else None,
            project_name=project.name if project else None,
        )

    def organization_is_active(self, organization_id: int) -> bool:
        return Organization.objects.filter(pk=organization_id).exists()
