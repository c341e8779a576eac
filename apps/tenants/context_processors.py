"""Navigation context for every page: the user's organizations and the current one's projects."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from apps.tenants.queries import memberships_of_user, projects_of


def tenant_navigation(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    access = getattr(request, "tenant_access", None)
    memberships = memberships_of_user(user)
    context: dict[str, Any] = {"nav_memberships": memberships, "tenant": access}
    if access is not None:
        context["nav_projects"] = projects_of(access.organization_id)
        context["nav_scopes"] = access.scopes
    return context
