"""Routing: the first rule (by order) whose matchers all match picks the policy; a rule without matchers is the
default; a rule without a policy stops escalation; rules of another organization never apply."""

from __future__ import annotations

from typing import Any

import pytest

from apps.oncall import services
from apps.oncall.models import EscalationPolicy
from apps.oncall.routing import route
from apps.oncall.types import PolicySpec, RuleSpec, StepSpec
from apps.tenants.models import Project
from tests.conftest import Tenant
from tests.factories import ProjectFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_passwords")]


def make_policy(tenant: Tenant, name: str) -> EscalationPolicy:
    return services.create_policy(tenant.organization.pk, tenant.owner, PolicySpec(name, [StepSpec(5)]))


def rule(tenant: Tenant, **fields: Any) -> None:
    services.create_rule(tenant.organization.pk, tenant.owner, RuleSpec(**fields))


@pytest.fixture
def setup(bob: Tenant) -> dict[str, Any]:
    """Rules of Bob's organization, created out of order to show that ``order`` decides."""
    other: Project = ProjectFactory(organization=bob.organization, slug="shop", name="Shop")
    p = {name: make_policy(bob, name) for name in ("default", "db", "checkout", "web", "pager")}
    rule(bob, order=100, name="default", policy_id=p["default"].pk)
    rule(bob, order=10, name="db critical", severities=["critical"], labels={"team": "db", "env": "prod"},
         policy_id=p["db"].pk)  # fmt: skip
    rule(bob, order=20, name="checkout", project_id=other.pk, service="checkout", policy_id=p["checkout"].pk)
    rule(
        bob, order=30, name="web", severities=["Warning", "critical"], project_id=bob.project.pk, policy_id=p["web"].pk
    )
    rule(bob, order=5, name="info is noise", severities=["info"])  # no policy: do not escalate
    rule(bob, order=30, name="web twin", severities=["warning"], policy_id=p["pager"].pk)  # same order: later id loses
    return {"policies": p, "shop": other}


def routed(bob: Tenant, *, project_id: int | None = None, severity: str = "warning", service: str | None = None,
           labels: dict[str, str] | None = None) -> str | None:  # fmt: skip
    policy = route(bob.organization.pk, project_id=project_id, severity=severity, service=service, labels=labels or {})
    return policy.name if policy else None


def test_first_matching_rule_by_order_wins(bob: Tenant, setup: dict[str, Any]) -> None:
    prod_db = {"team": "db", "env": "prod", "region": "eu"}
    assert routed(bob, severity="critical", labels=prod_db, project_id=bob.project.pk) == "db"  # order 10 before 30
    assert routed(bob, severity="critical", project_id=bob.project.pk) == "web"
    assert routed(bob, severity="warning", project_id=bob.project.pk) == "web"  # not "web twin": same order, older id


def test_every_matcher_must_hold(bob: Tenant, setup: dict[str, Any]) -> None:
    shop = setup["shop"].pk
    assert routed(bob, severity="critical", labels={"team": "db"}) == "default"  # env label missing
    assert routed(bob, severity="critical", labels={"team": "db", "env": "staging"}) == "default"  # wrong value
    assert routed(bob, severity="warning", labels={"team": "db", "env": "prod"}) == "pager"  # severity differs
    assert routed(bob, severity="critical", project_id=shop, service="checkout") == "checkout"
    assert routed(bob, severity="critical", project_id=shop, service="cart") == "default"  # other service
    assert routed(bob, severity="critical", project_id=bob.project.pk, service="checkout") == "web"  # other project
    assert routed(bob, severity="CRITICAL", project_id=bob.project.pk) == "web"  # severities ignore case


def test_default_rule_and_do_not_escalate(bob: Tenant, setup: dict[str, Any]) -> None:
    assert routed(bob, severity="error", service="anything") == "default"
    assert routed(bob, severity="info") is None  # the matching rule has no policy


def test_no_rule_means_no_policy_and_rules_stay_in_their_organization(alice: Tenant, bob: Tenant,
                                                                      setup: dict[str, Any]) -> None:  # fmt: skip
    assert routed(alice, severity="critical") is None
    rule(alice, name="alice default", policy_id=make_policy(alice, "alice policy").pk)
    assert routed(alice, severity="critical") == "alice policy"
    assert routed(bob, severity="error") == "default"


def test_route_makes_one_query(bob: Tenant, setup: dict[str, Any], django_assert_num_queries: Any) -> None:
    with django_assert_num_queries(1):
        assert routed(bob, severity="error") == "default"
