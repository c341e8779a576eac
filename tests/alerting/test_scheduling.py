"""Ticks are claimed once; a stopped beat shows as lag in /readyz and a banner, and the gap is counted."""

from __future__ import annotations

from datetime import timedelta

from django.test import Client
from django.utils import timezone

from apps.alerting import scheduling
from apps.alerting.models import AlertRule
from apps.alerting.tasks import evaluate_due_rules
from apps.core.scoping import tenant_scope
from apps.tenants.roles import Role
from tests.alerting.conftest import checkout_rule
from tests.conftest import Tenant


def test_a_tick_is_claimed_by_one_caller(alice: Tenant) -> None:
    with tenant_scope(alice.organization.pk):
        rule = checkout_rule(alice, [])
    now = timezone.now()
    first = scheduling.claim_due(now)
    assert [(c.rule_id, c.missed) for c in first] == [(rule.pk, 0)]
    assert scheduling.claim_due(now) == []  # already claimed: not due until now + interval
    assert [c.rule_id for c in scheduling.claim_due(now + timedelta(seconds=rule.interval_seconds))] == [rule.pk]


def test_a_stopped_beat_shows_as_lag_and_the_gap_is_counted(alice: Tenant) -> None:
    with tenant_scope(alice.organization.pk):
        rule = checkout_rule(alice, [])
    AlertRule.objects.unscoped().filter(pk=rule.pk).update(next_evaluation_at=timezone.now() - timedelta(minutes=10))

    body = Client().get("/readyz").json()
    assert body["status"] == "ready"  # informational: the web process still serves
    check = body["checks"]["alert_evaluation"]
    assert check["ok"] is False
    assert check["essential"] is False
    assert "Celery beat" in check["detail"]
    client = Client()
    client.force_login(alice.members[Role.EDITOR])
    page = client.get(f"/o/{alice.slug}/incidents/")
    assert b'data-testid="evaluation-lag-banner"' in page.content
    viewer = Client()
    viewer.force_login(alice.members[Role.VIEWER])
    assert b"evaluation-lag-banner" not in viewer.get(f"/o/{alice.slug}/incidents/").content

    assert evaluate_due_rules() == 1
    rule.refresh_from_db()
    assert rule.missed_evaluations == 20  # ten minutes of 30-second ticks
    assert Client().get("/readyz").json()["checks"]["alert_evaluation"]["ok"] is True
    assert b"evaluation-lag-banner" not in client.get(f"/o/{alice.slug}/incidents/").content
