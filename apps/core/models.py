"""Abstract bases for tenant-owned models."""

from __future__ import annotations

from typing import Any

from django.db import models

from apps.core.scoping import TenantManager


class TenantModel(models.Model):
    """A row owned by one organization.

    Contract: ``organization_id`` is on every row and, in the database, leads the
    primary key ``(organization_id, id)`` and every unique constraint (see
    ``apps.core.tenant_keys.TenantKeys``, which each model's first migration
    runs). Django still addresses rows by ``id`` alone, which stays unique
    because it comes from one identity sequence. Foreign keys to other
    tenant-owned models are ``TenantForeignKey``: composite in the database, so
    a row can never point into another organization.
    """

    organization = models.ForeignKey("tenants.Organization", on_delete=models.CASCADE, related_name="+", db_index=False)

    objects = TenantManager()

    class Meta:
        abstract = True
        # Cascades and refresh_from_db go through Django's plain base manager,
        # so deleting an organization still deletes its rows without a scope.


class TenantForeignKey(models.ForeignKey):  # type: ignore[type-arg]
    """A foreign key to another tenant-owned model of the same organization.

    No single-column constraint is created (the target's key is composite);
    ``TenantKeys`` adds ``FOREIGN KEY (organization_id, <column>)`` instead.
    """

    def __init__(self, to: Any, on_delete: Any, **kwargs: Any) -> None:
        kwargs["db_constraint"] = False
        kwargs.setdefault("db_index", False)
        super().__init__(to, on_delete, **kwargs)

    def deconstruct(self) -> Any:
        name, path, args, kwargs = super().deconstruct()
        kwargs.pop("db_constraint", None)
        return name, path, args, kwargs
