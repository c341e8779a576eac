"""The tenant scope of the current unit of work, and managers that refuse to run without it.

One context variable holds the organization id the current request, task or
WebSocket message acts for. Entry paths set it (``TenantScopedViewSet``,
``TenantView``, ``tenant_task``, ``TenantConsumer``); querysets of tenant-owned
models read it and raise ``TenantScopeMissing`` when it is unset, so a query
that forgot its tenant fails instead of returning every tenant's rows.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from typing import TYPE_CHECKING, Any, TypeVar

from django.db import models

if TYPE_CHECKING:
    _Base = models.Manager[Any]
else:
    _Base = models.Manager

_M = TypeVar("_M", bound=models.Model)

_current_organization: ContextVar[int | None] = ContextVar("vigil_tenant_scope", default=None)


class TenantScopeMissing(RuntimeError):
    """A tenant-owned table was queried with no tenant scope set."""


def _checked_id(organization_id: object) -> int:
    if isinstance(organization_id, bool) or not isinstance(organization_id, int) or organization_id <= 0:
        raise TenantScopeMissing(f"a tenant scope needs a positive organization id, got {organization_id!r}")
    return organization_id


def activate_scope(organization_id: int) -> Token[int | None]:
    """Set the scope; the caller must pass the returned token to ``deactivate_scope``."""
    return _current_organization.set(_checked_id(organization_id))


def deactivate_scope(token: Token[int | None]) -> None:
    _current_organization.reset(token)


@contextmanager
def tenant_scope(organization_id: int) -> Iterator[int]:
    """Run a block on behalf of one organization."""
    token = activate_scope(organization_id)
    try:
        yield organization_id
    finally:
        deactivate_scope(token)


def current_organization_id() -> int:
    """The organization id in scope; raises ``TenantScopeMissing`` when there is none."""
    organization_id = _current_organization.get()
    if organization_id is None:
        raise TenantScopeMissing(
            "no tenant scope is set: run inside tenant_scope(), a TenantScopedViewSet, "
            "a tenant_task or a TenantConsumer, or use .for_organization(id)"
        )
    return organization_id


class TenantManager(_Base):
    """Default manager of tenant-owned models.

    ``all()``/``filter()`` are limited to the organization in scope and raise
    without one. ``for_organization(id)`` names the tenant explicitly (services
    that receive an id). ``unscoped()`` is the loud escape hatch for maintenance
    jobs that really span tenants (partition maintenance, platform admin).
    """

    def get_queryset(self) -> models.QuerySet[Any]:
        return super().get_queryset().filter(organization_id=current_organization_id())

    def for_organization(self, organization_id: int) -> models.QuerySet[Any]:
        return super().get_queryset().filter(organization_id=_checked_id(organization_id))

    def unscoped(self) -> models.QuerySet[Any]:
        return super().get_queryset()
