"""Metric and log-count rules: values equal what was written, one alert per group."""

from __future__ import annotations

import time
from typing import Any

from django.db import transaction
from django.utils import timezone

from apps.alerting import evaluation
from apps.alerting.models import AlertInstance, Incident
from apps.core.scoping import tenant_scope
from apps.logs.writers import write_logs
from apps.metrics.writers import write_metrics
from apps.otlp.types import LogRecord, MetricKind, MetricPoint, Resource, Scope
from tests.alerting.conftest import checkout_rule
from tests.conftest import Tenant

CHECKOUT = Resource({"service.name": "checkout"})
SCOPE = Scope("tests", "1.0")


def gauge(queue: str, value: float, ago_s: float) -> MetricPoint:
    at = time.time_ns() - int(ago_s * 1e9)
    return MetricPoint(resource=CHECKOUT, scope=SCOPE, name="queue.depth", description="", unit="{jobs}",
                       kind=MetricKind.GAUGE, attributes={"queue": queue}, start_ns=at, time_ns=at,
                       value=value)  # fmt: skip


def log(body: str, severity: int, ago_s: float, service: str = "checkout") -> LogRecord:
    at = time.time_ns() - int(ago_s * 1e9)
    return LogRecord(resource=Resource({"service.name": service}), scope=SCOPE, time_ns=at, observed_time_ns=at,
                     severity_number=severity, severity_text="", body=body, attributes={})  # fmt: skip


def test_a_metric_rule_grouped_by_attribute_alerts_per_value(alice: Tenant) -> None:
    with transaction.atomic():
        write_metrics(alice.organization.pk, alice.project.pk, [
            gauge("orders", 200, 90), gauge("orders", 300, 30), gauge("emails", 4, 90), gauge("emails", 6, 30),
        ])  # fmt: skip
    queries = {"depth": {"source": "metric", "metric": "queue.depth", "aggregation": "avg", "window_seconds": 300}}
    with tenant_scope(alice.organization.pk):
        rule = checkout_rule(alice, [], queries=queries, group_by=["queue"],
                             conditions=[{"query": "depth", "op": ">", "critical": 100}])  # fmt: skip
        report = evaluation.evaluate(rule, timezone.now())
        assert report.changes == [('{"queue":"orders"}', "ok", "firing")]
        assert AlertInstance.objects.get().values == {"depth": 250.0}  # (200 + 300) / 2
        assert Incident.objects.get().labels["queue"] == "orders"


def test_a_log_count_rule_counts_matching_records(alice: Tenant) -> None:
    records = [log("payment declined for order 1", 17, 20) for _ in range(4)]
    records += [log("stock low", 17, 40) for _ in range(3)]
    records += [log("payment declined, retrying", 9, 20) for _ in range(5)]  # info: below the severity
    records += [log("payment declined for order 2", 17, 20, service="frontend")]
    with transaction.atomic():
        write_logs(alice.organization.pk, alice.project.pk, records)
    queries: dict[str, Any] = {
        "errors": {"source": "logs", "severity": "error", "window_seconds": 300},
        "declined": {"source": "logs", "severity": "error", "text": "payment declined", "window_seconds": 300},
    }
    with tenant_scope(alice.organization.pk):
        rule = checkout_rule(alice, [], queries=queries, group_by=["service"], combine="and", conditions=[
            {"query": "errors", "op": ">=", "critical": 5}, {"query": "declined", "op": ">=", "critical": 4},
        ])  # fmt: skip
        report = evaluation.evaluate(rule, timezone.now())
        assert report.changes == [('{"service":"checkout"}', "ok", "firing")]  # frontend: 1 and 1
        assert AlertInstance.objects.get().values == {"errors": 7.0, "declined": 4.0}


def test_a_query_that_cannot_run_any_more_is_reported_on_the_rule(alice: Tenant) -> None:
    with transaction.atomic():
        write_metrics(alice.organization.pk, alice.project.pk, [gauge("orders", 200, 30)])
    queries = {"depth": {"source": "metric", "metric": "queue.depth", "aggregation": "avg", "window_seconds": 300}}
    with tenant_scope(alice.organization.pk):
        rule = checkout_rule(alice, [], queries=queries, conditions=[{"query": "depth", "op": ">", "critical": 100}])
        assert evaluation.evaluate(rule, timezone.now()).changes == [("{}", "ok", "firing")]
        # The metric is now also sent as a counter: the rule's query no longer has one answer.
        counter = MetricPoint(resource=CHECKOUT, scope=SCOPE, name="queue.depth", description="", unit="{jobs}",
                              kind=MetricKind.SUM, attributes={"queue": "x"}, start_ns=1, time_ns=time.time_ns(),
                              value=1, temporality=2, monotonic=True)  # fmt: skip
        with transaction.atomic():
            write_metrics(alice.organization.pk, alice.project.pk, [counter])
        report = evaluation.evaluate(rule, timezone.now())
        assert "several kinds" in report.error
        rule.refresh_from_db()
        assert "several kinds" in rule.last_error
        assert AlertInstance.objects.get().state == "firing"  # kept until an evaluation succeeds


def test_a_failing_query_puts_quiet_alerts_in_error_until_it_runs_again(alice: Tenant) -> None:
    with transaction.atomic():
        write_metrics(alice.organization.pk, alice.project.pk, [gauge("orders", 200, 30)])
    queries = {"depth": {"source": "metric", "metric": "queue.depth", "aggregation": "avg", "window_seconds": 300}}
    now = timezone.now()
    with tenant_scope(alice.organization.pk):
        rule = checkout_rule(alice, [], queries=queries, for_seconds=600,
                             conditions=[{"query": "depth", "op": ">", "critical": 100}])  # fmt: skip
        assert evaluation.evaluate(rule, now).changes == [("{}", "ok", "pending")]
        counter = MetricPoint(resource=CHECKOUT, scope=SCOPE, name="queue.depth", description="", unit="{jobs}",
                              kind=MetricKind.SUM, attributes={}, start_ns=1, time_ns=time.time_ns(), value=1,
                              temporality=2, monotonic=True)  # fmt: skip
        with transaction.atomic():
            write_metrics(alice.organization.pk, alice.project.pk, [counter])
        assert evaluation.evaluate(rule, now).changes == [("{}", "pending", "error")]
        assert evaluation.evaluate(rule, now).changes == []  # once
        assert not Incident.objects.exists()
