"""A tenant task used only by tests/test_scoping.py."""

from __future__ import annotations

from apps.core.tasks import tenant_task
from apps.tenants.models import Project


@tenant_task(name="tests.project_slugs")
def project_slugs(organization_id: int, suffix: str = "") -> list[str]:
    """The slugs the body sees through the scoped default manager, plus the id it was given."""
    return [
        f"{organization_id}:{slug}{suffix}" for slug in Project.objects.order_by("slug").values_list("slug", flat=True)
    ]
