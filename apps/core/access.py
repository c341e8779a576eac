"""Who may do what in which organization: the contract between entry paths and tenancy.

``apps.core`` knows nothing of organizations or memberships. ``apps.tenants``
registers an ``AccessResolver`` at start-up; every entry path asks it through
``resolve_access``. With no resolver registered, every request is refused.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Protocol


class TenantNotFound(LookupError):
    """The organization or project does not exist, or the user is not a member.

    Entry paths answer 404 for both so that outsiders cannot probe which
    organizations exist.
    """


class MissingScope(PermissionError):
    """The member's role (or token) lacks the scope the action needs."""

    def __init__(self, scope: str, role: str) -> None:
        self.scope = scope
        self.role = role
        super().__init__(
            f"This action needs the '{scope}' scope, which your role '{role}' or your API token "
            "does not grant. Ask an owner or admin of the organization for access."
        )


@dataclass(frozen=True)
class TenantAccess:
    """What one authenticated user may do in one organization (and project)."""

    organization_id: int
    organization_slug: str
    organization_name: str
    role: str
    scopes: frozenset[str]
    project_id: int | None = None
    project_slug: str | None = None
    project_name: str | None = None

    def require(self, scope: str) -> None:
        if scope not in self.scopes:
            raise MissingScope(scope, self.role)

    def restricted_to(self, scopes: frozenset[str]) -> TenantAccess:
        return replace(self, scopes=self.scopes & scopes)


class ScopedCredential(Protocol):
    """An API token: bound to one organization, carrying a subset of scopes."""

    organization_id: int
    scope_set: frozenset[str]


class AccessResolver(Protocol):
    def resolve(self, user: Any, organization_slug: str, project_slug: str | None) -> TenantAccess:
        """Return the access or raise ``TenantNotFound``."""

    def organization_is_active(self, organization_id: int) -> bool: ...


_resolver: AccessResolver | None = None


def register_access_resolver(resolver: AccessResolver) -> None:
    global _resolver
    _resolver = resolver


def _get_resolver() -> AccessResolver:
    if _resolver is None:
        raise TenantNotFound("no access resolver is registered; refusing every tenant request")
    return _resolver


def resolve_access(
    user: Any, organization_slug: str, project_slug: str | None = None, credential: object | None = None
) -> TenantAccess:
    """The access of ``user`` (narrowed by an API token ``credential``) or ``TenantNotFound``."""
    if user is None or not getattr(user, "is_authenticated", False):
        raise TenantNotFound("not signed in")
    access = _get_resolver().resolve(user, organization_slug, project_slug)
    scope_set = getattr(credential, "scope_set", None)
    if scope_set is not None:
        if getattr(credential, "organization_id", None) != access.organization_id:
            raise TenantNotFound("this API token belongs to another organization")
        access = access.restricted_to(scope_set)
    return access


def organization_is_active(organization_id: int) -> bool:
    return _get_resolver().organization_is_active(organization_id)
