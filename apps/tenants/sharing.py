"""Object-level sharing inside a tenant (django-guardian), never across tenants.

Guardian answers "may this user see this one dashboard?"; the tenant
boundary answers "is it in an organization the user belongs to?" first.
Granting to a non-member is refused, and lookups return only objects of
the organization in scope, so a stray permission row cannot leak a row.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from guardian.shortcuts import assign_perm, get_objects_for_user, remove_perm

from apps.core.scoping import current_organization_id
from apps.tenants.models import Membership
from apps.tenants.services import TenancyError


def _perm_codename(perm: str, obj: Any) -> str:
    return perm if "." in perm else f"{obj._meta.app_label}.{perm}"


def share(obj: Any, user: Any, perm: str) -> None:
    """Give ``user`` ``perm`` (e.g. ``"view_dashboard"``) on one tenant-owned ``obj``."""
    if not Membership.objects.for_organization(obj.organization_id).filter(user_id=user.pk).exists():
        raise TenancyError(f"{user.get_username()} is not a member of this organization; invite them first.")
    assign_perm(_perm_codename(perm, obj), user, obj)


def unshare(obj: Any, user: Any, perm: str) -> None:
    remove_perm(_perm_codename(perm, obj), user, obj)


def shared_with(user: Any, perm: str, queryset: QuerySet[Any]) -> QuerySet[Any]:
    """Objects of ``queryset`` that ``user`` holds ``perm`` on, limited to the organization in scope."""
    visible = get_objects_for_user(user, perm, klass=queryset, accept_global_perms=False)
    return visible.filter(organization_id=current_organization_id())
