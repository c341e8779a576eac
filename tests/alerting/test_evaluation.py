"""One rule evaluated against real spans: states, claims, incidents and notifications at local receivers."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from apps.alerting import evaluation
from apps.alerting.models import AlertInstance, Incident, StateChange
from apps.core.scoping import tenant_scope
from apps.notifications.models import Delivery
from tests.alerting.conftest import checkout_rule, pagerduty_channel, spans, store, webhook_channel
from tests.conftest import Tenant
from tests.notifications.receivers import HttpReceiver

SLOW_AND_FAILING = [800.0] * 95 + [50.0] * 5  # p95 800 ms


def test_breach_fires_once_and_recovery_resolves_with_the_same_dedup_key(
    alice: Tenant, webhook: HttpReceiver, pagerduty: HttpReceiver, deliveries_run: Any
) -> None:
    store(alice, spans("checkout", SLOW_AND_FAILING, errors=10))
    now = timezone.now()
    with tenant_scope(alice.organization.pk):
        rule = checkout_rule(alice, [webhook_channel(alice, webhook), pagerduty_channel(alice, pagerduty)])
        with deliveries_run():
            report = evaluation.evaluate(rule, now)
        assert report.changes == [("{}", "ok", "firing")]
        with deliveries_run():
            again = evaluation.evaluate(rule, now + timedelta(seconds=30))
        assert again.changes == []

        incident = Incident.objects.get()
        assert (incident.status, incident.severity, incident.services) == ("triggered", "critical", ["checkout"])
        instance = AlertInstance.objects.get()
        assert instance.values["latency"] == pytest.approx(800, rel=0.05)
        assert instance.values["errors"] == pytest.approx(0.10)
        assert [r.json()["event"] for r in webhook.received] == ["trigger"]
        assert [r.json()["event_action"] for r in pagerduty.received] == ["trigger"]
        assert webhook.problems == []
        assert pagerduty.problems == []
        body = webhook.received[0].json()
        assert (body["dedup_key"], body["severity"], body["title"]) == (
            incident.dedup_key, "critical", "checkout slow and failing"
        )  # fmt: skip
        assert body["details"]["latency"] == pytest.approx(800, rel=0.05)
        assert body["links"]["runbook"] == "https://wiki.example.com/runbooks/checkout"
        assert body["links"]["traces"].startswith("http://")
        assert "service=checkout" in body["links"]["traces"]
        assert "/incident-link/" in body["links"]["acknowledge"]

        # Ten minutes later the window holds only fast, successful requests: resolved, and both told.
        later = now + timedelta(minutes=10)
        store(alice, spans("checkout", [40.0] * 50, at_ns=int(later.timestamp() * 1e9), ago_s=20))
        with deliveries_run():
            report = evaluation.evaluate(rule, later)
        assert report.changes == [("{}", "firing", "resolved")]
        incident.refresh_from_db()
        assert incident.status == "resolved"
        assert [r.json()["event_action"] for r in pagerduty.received] == ["trigger", "resolve"]
        assert {r.json()["dedup_key"] for r in pagerduty.received} == {incident.dedup_key}
        assert [r.json()["event"] for r in webhook.received] == ["trigger", "resolve"]
        assert pagerduty.problems == []
        assert webhook.problems == []
        assert list(StateChange.objects.order_by("at").values_list("from_state", "to_state")) == [
            ("ok", "firing"), ("firing", "resolved")
        ]  # fmt: skip
        assert Delivery.objects.filter(status="sent").count() == 4


def test_one_condition_alone_does_not_fire_an_and_rule(alice: Tenant, deliveries_run: Any) -> None:
    store(alice, spans("checkout", SLOW_AND_FAILING, errors=0))  # slow but no errors
    with tenant_scope(alice.organization.pk):
        rule = checkout_rule(alice, [])
        assert evaluation.evaluate(rule, timezone.now()).changes == []
        assert not Incident.objects.exists()


def test_a_lost_claim_changes_nothing(alice: Tenant, deliveries_run: Any) -> None:
    """A worker that read the instance before another changed it finds the version moved and backs off."""
    store(alice, spans("checkout", SLOW_AND_FAILING, errors=10))
    now = timezone.now()
    with tenant_scope(alice.organization.pk):
        rule = checkout_rule(alice, [], for_seconds=60)
        assert evaluation.evaluate(rule, now).changes == [("{}", "ok", "pending")]
        instance = AlertInstance.objects.get()
        stale_version = instance.version
        AlertInstance.objects.filter(pk=instance.pk).update(version=stale_version + 1)  # "the other worker"
        instance.version = stale_version
        assert not evaluation._transition(rule, instance, "firing", severity="critical", values={}, verdict=
                                          evaluation.conditions.Verdict(True, "critical", False),
                                          at=now + timedelta(minutes=2))  # fmt: skip
        assert StateChange.objects.count() == 1
        assert not Incident.objects.exists()


def test_for_duration_holds_in_pending_then_fires(alice: Tenant, deliveries_run: Any) -> None:
    store(alice, spans("checkout", SLOW_AND_FAILING, errors=10, ago_s=5))
    now = timezone.now()
    with tenant_scope(alice.organization.pk):
        rule = checkout_rule(alice, [], for_seconds=60)
        assert evaluation.evaluate(rule, now).changes == [("{}", "ok", "pending")]
        assert evaluation.evaluate(rule, now + timedelta(seconds=30)).changes == []
        assert evaluation.evaluate(rule, now + timedelta(seconds=61)).changes == [("{}", "pending", "firing")]
        assert Incident.objects.get().breach_started_at == now  # MTTD counts from the first breach


def test_group_by_service_makes_one_alert_per_service(alice: Tenant, deliveries_run: Any) -> None:
    store(alice, spans("checkout", SLOW_AND_FAILING, errors=10) + spans("cart", SLOW_AND_FAILING, errors=10)
          + spans("search", [10.0] * 100))  # fmt: skip
    queries = {
        "latency": {"source": "red", "measure": "p95", "window_seconds": 300},
        "errors": {"source": "red", "measure": "error_rate", "window_seconds": 300},
    }
    with tenant_scope(alice.organization.pk):
        rule = checkout_rule(alice, [], queries=queries, group_by=["service"])
        report = evaluation.evaluate(rule, timezone.now())
        assert sorted(report.changes) == [('{"service":"cart"}', "ok", "firing"),
                                          ('{"service":"checkout"}', "ok", "firing")]  # fmt: skip
        assert sorted(Incident.objects.values_list("services", flat=True)) == [["cart"], ["checkout"]]
        assert AlertInstance.objects.count() == 2  # the calm search service has no alert at all


def test_a_worker_that_read_before_another_created_the_alert_backs_off(
    alice: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Worker B read the rule's alerts before worker A created and fired this one: B finds the row A made,
    already changed, and leaves it (without the check it would record a second "firing")."""
    store(alice, spans("checkout", SLOW_AND_FAILING, errors=10))
    now = timezone.now()
    with tenant_scope(alice.organization.pk):
        rule = checkout_rule(alice, [])
        assert evaluation.evaluate(rule, now).changes == [("{}", "ok", "firing")]  # worker A
        monkeypatch.setattr(evaluation, "alerts_of", lambda rule: {})  # worker B's earlier read
        report = evaluation.evaluate(rule, now)
        assert (report.changes, report.lost_claims) == ([], 1)
        assert StateChange.objects.count() == 1
        assert Incident.objects.count() == 1
