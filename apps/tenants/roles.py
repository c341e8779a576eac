"""Roles and the scopes they grant: the only place this mapping lives."""

from __future__ import annotations

from django.db import models


class Scope:
    ORG_READ = "org:read"
    ORG_ADMIN = "org:admin"
    MEMBERS_WRITE = "members:write"
    PROJECTS_WRITE = "projects:write"
    KEYS_WRITE = "keys:write"
    TELEMETRY_READ = "telemetry:read"
    ALERTS_WRITE = "alerts:write"
    DASHBOARDS_WRITE = "dashboards:write"
    REPORTS_WRITE = "reports:write"
    AUDIT_READ = "audit:read"


ALL_SCOPES: frozenset[str] = frozenset(
    value for name, value in vars(Scope).items() if name.isupper() and isinstance(value, str)
)


class Role(models.TextChoices):
    OWNER = "owner", "Owner"
    ADMIN = "admin", "Admin"
    EDITOR = "editor", "Editor"
    ANALYST = "analyst", "Analyst"
    VIEWER = "viewer", "Viewer"


_VIEWER = frozenset({Scope.ORG_READ, Scope.TELEMETRY_READ})
_ANALYST = _VIEWER | {Scope.DASHBOARDS_WRITE, Scope.REPORTS_WRITE}
_EDITOR = _ANALYST | {Scope.ALERTS_WRITE}
_ADMIN = _EDITOR | {Scope.MEMBERS_WRITE, Scope.PROJECTS_WRITE, Scope.KEYS_WRITE, Scope.AUDIT_READ}

ROLE_SCOPES: dict[str, frozenset[str]] = {
    Role.OWNER: ALL_SCOPES,
    Role.ADMIN: _ADMIN,
    Role.EDITOR: _EDITOR,
    Role.ANALYST: _ANALYST,
    Role.VIEWER: _VIEWER,
}

# Who may grant which role: nobody grants a role above their own.
ROLE_RANK = {Role.VIEWER: 0, Role.ANALYST: 1, Role.EDITOR: 2, Role.ADMIN: 3, Role.OWNER: 4}


def scopes_for(role: str) -> frozenset[str]:
    return ROLE_SCOPES.get(role, frozenset())
