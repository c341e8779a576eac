"""The banner of channels Vigil disabled, on every organization page (templates/notifications/_banner.html).

Shown to the people who can fix them: members with ``alerts:write`` for the team's channels, and everyone for
their own contact methods. Lazy: the one query runs only when a page draws the banner, and never for
anonymous visitors or pages outside an organization.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from apps.notifications import queries
from apps.tenants.roles import Scope


@dataclass(frozen=True)
class Banner:
    organization_slug: str
    items: list[queries.DisabledChannel] = field(default_factory=list)
    more: bool = False
    team: bool = False  # the viewer may edit team channels (the "all channels" link opens for them)


def disabled_channels(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    access = getattr(request, "tenant_access", None)
    if user is None or not user.is_authenticated or access is None:
        return {}
    team = Scope.ALERTS_WRITE in access.scopes

    def banner() -> Banner:
        items, more = queries.disabled_for(access.organization_id, user.pk, team=team)
        return Banner(access.organization_slug, items, more, team)

    return {"disabled_channels": SimpleLazyObject(banner)}
