"""Noise reduction, one test each: grouping, correlation, flapping, silences, inhibition."""

from __future__ import annotations

import os
import time
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from apps.alerting import evaluation, services
from apps.alerting.models import AlertInstance, AlertRule, Incident
from apps.core.scoping import tenant_scope
from apps.otlp.types import Resource, Scope, Span, SpanKind, StatusCode
from tests.alerting.conftest import checkout_rule, spans, store, webhook_channel
from tests.conftest import Tenant
from tests.notifications.receivers import HttpReceiver

SLOW_FAILING = [800.0] * 100


def events(receiver: HttpReceiver) -> list[str]:
    return [request.json()["event"] for request in receiver.received]


def test_grouping_two_rules_on_one_service_make_one_incident(
    alice: Tenant, webhook: HttpReceiver, deliveries_run: Any
) -> None:
    store(alice, spans("checkout", SLOW_FAILING, errors=10))
    now = timezone.now()
    with tenant_scope(alice.organization.pk):
        hook = webhook_channel(alice, webhook)
        first = checkout_rule(alice, [hook], incident_grouping=["service"])
        second = checkout_rule(alice, [hook], name="checkout errors", incident_grouping=["service"], queries={
            "errors": {"source": "red", "measure": "error_rate", "service": "checkout", "window_seconds": 300},
        }, conditions=[{"query": "errors", "op": ">", "critical": 0.05}])  # fmt: skip
        with deliveries_run():
            evaluation.evaluate(first, now)
            evaluation.evaluate(second, now)
        incident = Incident.objects.get()
        assert set(AlertInstance.objects.values_list("incident", flat=True)) == {incident.pk}
        assert list(incident.events.values_list("kind", flat=True).order_by("pk"))[-1] == "alert_joined"
        assert events(webhook) == ["trigger"]  # the joining alert notified nobody again


def call_spans(caller: str, callee: str, count: int, duration_ms: float, *, errors: int) -> list[Span]:
    """``caller`` SERVER → CLIENT → ``callee`` SERVER, in one trace each: an edge of the service map."""
    found = []
    start = time.time_ns() - 30 * 10**9
    for i in range(count):
        trace = os.urandom(16)
        root, client, server = os.urandom(8), os.urandom(8), os.urandom(8)
        status = StatusCode.ERROR if i < errors else StatusCode.UNSET
        end = start + int(duration_ms * 1e6)
        for service, span_id, parent, kind in ((caller, root, None, SpanKind.SERVER),
                                                (caller, client, root, SpanKind.CLIENT),
                                                (callee, server, client, SpanKind.SERVER)):  # fmt: skip
            found.append(Span(resource=Resource({"service.name": service}), scope=Scope("t"), trace_id=trace,
                              span_id=span_id, parent_span_id=parent, name="POST /checkout", kind=kind,
                              start_ns=start + i, end_ns=end + i, attributes={}, status_code=status))  # fmt: skip
    return found


def test_correlation_joins_alerts_of_connected_services_and_names_the_callee_the_origin(
    alice: Tenant, webhook: HttpReceiver, deliveries_run: Any
) -> None:
    store(alice, call_spans("frontend", "checkout", 100, 900, errors=20))
    queries = {
        "latency": {"source": "red", "measure": "p95", "window_seconds": 300},
        "errors": {"source": "red", "measure": "error_rate", "window_seconds": 300},
    }
    now = timezone.now()
    with tenant_scope(alice.organization.pk):
        rule = checkout_rule(alice, [webhook_channel(alice, webhook)], queries=queries, group_by=["service"])
        with deliveries_run():
            report = evaluation.evaluate(rule, now)
        assert len(report.changes) == 2  # frontend and checkout both fire
        incident = Incident.objects.get()  # one incident, not two
        assert sorted(incident.services) == ["checkout", "frontend"]
        assert incident.probable_origin == "checkout"  # frontend calls checkout: failures travel up from it
        assert events(webhook) == ["trigger"]


def test_a_flapping_alert_stops_notifying_and_marks_its_rule(
    alice: Tenant, webhook: HttpReceiver, deliveries_run: Any, settings: Any
) -> None:
    settings.VIGIL_ALERT_FLAP_CHANGES = 4
    base = timezone.now().replace(second=0, microsecond=0) - timedelta(minutes=10)
    for minute in range(6):  # slow and failing in even minutes, fast in odd ones
        at_ns = int((base + timedelta(minutes=minute, seconds=40)).timestamp() * 1e9)
        bad = minute % 2 == 0
        store(alice, spans("checkout", SLOW_FAILING if bad else [20.0] * 100, errors=10 if bad else 0,
                           at_ns=at_ns, ago_s=30))  # fmt: skip
    window = {"window_seconds": 60}
    with tenant_scope(alice.organization.pk):
        rule = checkout_rule(alice, [webhook_channel(alice, webhook)], queries={
            "latency": {"source": "red", "measure": "p95", "service": "checkout", **window},
            "errors": {"source": "red", "measure": "error_rate", "service": "checkout", **window},
        })  # fmt: skip
        with deliveries_run():
            for minute in range(6):
                evaluation.evaluate(rule, base + timedelta(minutes=minute, seconds=50))
        states = list(AlertInstance.objects.get().changes.order_by("at").values_list("to_state", "suppressed_by"))
        assert states == [("firing", ""), ("resolved", ""), ("firing", ""), ("resolved", ""),
                          ("firing", "flapping"), ("resolved", "")]  # fmt: skip
        assert events(webhook) == ["trigger", "resolve", "trigger", "resolve"]  # the 3rd firing told nobody
        rule.refresh_from_db()
        assert rule.flapping_since is not None


def test_a_silence_mutes_until_it_ends_then_the_incident_opens(
    alice: Tenant, webhook: HttpReceiver, deliveries_run: Any
) -> None:
    store(alice, spans("checkout", SLOW_FAILING, errors=10))
    now = timezone.now()
    with tenant_scope(alice.organization.pk):
        rule = checkout_rule(alice, [webhook_channel(alice, webhook)])
        silence = services.create_silence(
            alice.organization.pk, matchers=[{"label": "service", "op": "=~", "value": "check.*"}],
            starts_at=now - timedelta(minutes=1), ends_at=now + timedelta(hours=1), comment="deploying checkout",
            actor=alice.owner,
        )  # fmt: skip
        with deliveries_run():
            evaluation.evaluate(rule, now)
        instance = AlertInstance.objects.get()
        assert (instance.state, instance.suppressed_by, instance.incident) == ("firing", f"silence:{silence.pk}", None)
        assert not Incident.objects.exists()
        assert events(webhook) == []

        services.expire_silence(silence, alice.owner)
        with deliveries_run():
            evaluation.evaluate(rule, timezone.now())
        instance.refresh_from_db()
        assert instance.incident is not None
        assert instance.suppressed_by == ""
        assert events(webhook) == ["trigger"]


def test_a_critical_alert_inhibits_the_warnings_of_its_service(
    alice: Tenant, webhook: HttpReceiver, deliveries_run: Any
) -> None:
    store(alice, spans("checkout", SLOW_FAILING, errors=10))
    now = timezone.now()
    with tenant_scope(alice.organization.pk):
        hook = webhook_channel(alice, webhook)
        critical = checkout_rule(alice, [hook])
        warning = checkout_rule(alice, [hook], name="checkout latency warning", queries={
            "latency": {"source": "red", "measure": "p95", "service": "checkout", "window_seconds": 300},
        }, conditions=[{"query": "latency", "op": ">", "warning": 300}])  # fmt: skip
        with deliveries_run():
            evaluation.evaluate(critical, now)
            evaluation.evaluate(warning, now)
        inhibited = AlertInstance.objects.get(rule=warning)
        assert (inhibited.state, inhibited.severity, inhibited.suppressed_by) == ("firing", "warning", "inhibited")
        assert Incident.objects.count() == 1
        assert events(webhook) == ["trigger"]


@pytest.mark.parametrize("status", ["error"])
def test_trace_count_rules_count_matching_traces(alice: Tenant, status: str) -> None:
    store(alice, spans("checkout", [10.0] * 30, errors=12))
    with tenant_scope(alice.organization.pk):
        rule = checkout_rule(alice, [], queries={
            "failed": {"source": "traces", "service": "checkout", "status": status, "window_seconds": 300},
        }, conditions=[{"query": "failed", "op": ">=", "critical": 12}])  # fmt: skip
        evaluation.evaluate(rule, timezone.now())
        assert AlertInstance.objects.get().values == {"failed": 12.0}
        assert AlertRule.objects.get().last_error == ""
