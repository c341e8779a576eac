"""The tenant scope: managers refuse to run without it, and tenant_task sets it from its first argument."""

from __future__ import annotations

import pytest

from apps.core.access import TenantNotFound
from apps.core.scoping import TenantScopeMissing, current_organization_id, tenant_scope
from apps.tenants.models import Membership, Project
from tests.conftest import Tenant
from tests.factories import ProjectFactory
from tests.support import fast_passwords  # noqa: F401  (fixture)
from tests.tasks_for_tests import project_slugs

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_passwords")]


def slugs(queryset: object) -> set[str]:
    return {p.slug for p in queryset}  # type: ignore[attr-defined]


@pytest.fixture
def projects(alice: Tenant, bob: Tenant) -> None:
    ProjectFactory(organization=alice.organization, slug="alice-extra")
    ProjectFactory(organization=bob.organization, slug="bob-extra")


def test_queries_without_a_scope_raise(alice: Tenant, bob: Tenant) -> None:
    with pytest.raises(TenantScopeMissing):
        list(Project.objects.all())
    with pytest.raises(TenantScopeMissing):
        Project.objects.filter(slug="app").exists()
    with pytest.raises(TenantScopeMissing):
        Membership.objects.count()
    with pytest.raises(TenantScopeMissing):
        current_organization_id()


@pytest.mark.usefixtures("projects")
def test_tenant_scope_limits_to_one_organization(alice: Tenant, bob: Tenant) -> None:
    with tenant_scope(alice.organization.pk):
        assert slugs(Project.objects.all()) == {"app", "alice-extra"}
        assert Membership.objects.count() == 5
        with tenant_scope(bob.organization.pk):  # nested scopes restore the outer one
            assert slugs(Project.objects.all()) == {"app", "bob-extra"}
        assert slugs(Project.objects.all()) == {"app", "alice-extra"}
    with pytest.raises(TenantScopeMissing):
        list(Project.objects.all())


@pytest.mark.usefixtures("projects")
def test_for_organization_and_unscoped(alice: Tenant, bob: Tenant) -> None:
    with tenant_scope(alice.organization.pk):  # the explicit organization wins over the scope
        assert slugs(Project.objects.for_organization(bob.organization.pk)) == {"app", "bob-extra"}
    assert slugs(Project.objects.for_organization(bob.organization.pk)) == {"app", "bob-extra"}
    assert {(p.organization_id, p.slug) for p in Project.objects.unscoped()} == {
        (alice.organization.pk, "app"),
        (alice.organization.pk, "alice-extra"),
        (bob.organization.pk, "app"),
        (bob.organization.pk, "bob-extra"),
    }


@pytest.mark.parametrize("bad", [None, 0, -1, True, "1"])
def test_scope_needs_a_positive_integer(bad: object) -> None:
    with pytest.raises(TenantScopeMissing), tenant_scope(bad):  # type: ignore[arg-type]
        pass
    with pytest.raises(TenantScopeMissing):
        Project.objects.for_organization(bad)  # type: ignore[arg-type]


# --- tenant_task ---------------------------------------------------------------------------------------------------


@pytest.mark.usefixtures("projects")
def test_task_sees_only_its_organization(alice: Tenant, bob: Tenant) -> None:
    bob_id = bob.organization.pk
    assert project_slugs.delay(bob_id).get() == [f"{bob_id}:app", f"{bob_id}:bob-extra"]
    assert project_slugs.apply(args=[bob_id], kwargs={"suffix": "!"}).get() == [
        f"{bob_id}:app!",
        f"{bob_id}:bob-extra!",
    ]
    alice_id = alice.organization.pk
    assert project_slugs.delay(organization_id=alice_id).get() == [f"{alice_id}:alice-extra", f"{alice_id}:app"]
    # The scope ends with the task.
    with pytest.raises(TenantScopeMissing):
        current_organization_id()


@pytest.mark.parametrize("args", [[], [None], ["1"], [True]])
def test_task_without_an_organization_id_raises(args: list[object], alice: Tenant) -> None:
    with pytest.raises(TenantScopeMissing):
        project_slugs.delay(*args)
    with pytest.raises(TenantScopeMissing):
        project_slugs.apply(args=args).get()


def test_task_for_a_missing_organization_raises(alice: Tenant) -> None:
    with pytest.raises(TenantNotFound):
        project_slugs.delay(alice.organization.pk + 10_000)
    with pytest.raises(TenantNotFound):
        project_slugs.apply(args=[alice.organization.pk + 10_000]).get()
