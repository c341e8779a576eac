"""``tenant_task``: the one place Celery work scopes to a tenant."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

from celery import shared_task

from apps.core.access import TenantNotFound, organization_is_active
from apps.core.scoping import TenantScopeMissing, tenant_scope

P = ParamSpec("P")
R = TypeVar("R")


def tenant_task(**celery_options: Any) -> Callable[[Callable[..., R]], Any]:
    """Declare a Celery task that runs for one organization.

    The task's first argument must be the organization id (an int). Without it
    the task raises ``TenantScopeMissing``; for an organization that no longer
    exists it raises ``TenantNotFound`` (never retried). The body runs inside
    ``tenant_scope(organization_id)``, so tenant managers work and are limited
    to that organization. Options (``name``, ``autoretry_for``, ...) go to Celery.
    """

    def decorator(func: Callable[..., R]) -> Any:
        @functools.wraps(func)
        def run(*args: Any, **kwargs: Any) -> R:
            organization_id = kwargs.pop("organization_id", args[0] if args else None)
            rest = args[1:] if args else ()
            if isinstance(organization_id, bool) or not isinstance(organization_id, int):
                raise TenantScopeMissing(
                    f"{func.__name__} needs an organization id as its first argument, got {organization_id!r}"
                )
            if not organization_is_active(organization_id):
                raise TenantNotFound(f"organization {organization_id} does not exist")
            with tenant_scope(organization_id):
                return func(organization_id, *rest, **kwargs)

        options = dict(celery_options)
        options.setdefault("name", f"{func.__module__}.{func.__name__}")
        return shared_task(**options)(run)

    return decorator
