"""django-guardian shares single objects inside a tenant and never reaches across one."""

from __future__ import annotations

import pytest

from apps.core.scoping import TenantScopeMissing, tenant_scope
from apps.tenants.models import Project
from apps.tenants.services import TenancyError
from apps.tenants.sharing import share, shared_with, unshare
from tests.conftest import Tenant
from tests.factories import MembershipFactory


@pytest.mark.django_db
def test_share_with_member_then_unshare(alice: Tenant) -> None:
    viewer = alice.members["viewer"]
    project = alice.project
    share(project, viewer, "view_project")
    with tenant_scope(alice.organization.pk):
        assert list(shared_with(viewer, "tenants.view_project", Project.objects.all())) == [project]
    unshare(project, viewer, "view_project")
    with tenant_scope(alice.organization.pk):
        assert list(shared_with(viewer, "tenants.view_project", Project.objects.all())) == []


@pytest.mark.django_db
def test_sharing_with_a_non_member_is_refused(alice: Tenant, bob: Tenant) -> None:
    with pytest.raises(TenancyError, match="not a member"):
        share(alice.project, bob.owner, "view_project")


@pytest.mark.django_db
def test_a_stray_permission_row_does_not_cross_the_tenant_boundary(alice: Tenant, bob: Tenant) -> None:
    # A permission on Bob's project held by someone who is also in Alice's organization...
    bob_viewer = bob.members["viewer"]
    MembershipFactory(organization=alice.organization, user=bob_viewer, role="viewer")
    share(bob.project, bob_viewer, "view_project")
    # ...is invisible while working in Alice's organization.
    with tenant_scope(alice.organization.pk):
        assert list(shared_with(bob_viewer, "tenants.view_project", Project.objects.all())) == []
    with tenant_scope(bob.organization.pk):
        assert list(shared_with(bob_viewer, "tenants.view_project", Project.objects.all())) == [bob.project]


@pytest.mark.django_db
def test_lookups_need_a_tenant_scope(alice: Tenant) -> None:
    with pytest.raises(TenantScopeMissing):
        shared_with(alice.owner, "tenants.view_project", Project.objects.unscoped())
