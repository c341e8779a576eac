"""End to end: OpenTelemetry SDK → OTLP ingest → a two-condition rule evaluated by the beat task → one incident
and one notification per channel at the local receivers, then recovery → resolved and every channel told,
PagerDuty with the same dedup_key. Everything runs for real except the far end of each channel."""

from __future__ import annotations

import random
import time
from datetime import timedelta
from typing import Any

from django.utils import timezone
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode

from apps.alerting.models import AlertRule, Incident
from apps.alerting.tasks import evaluate_due_rules, evaluate_rule
from apps.core.scoping import tenant_scope
from tests.alerting.conftest import channel, pagerduty_channel, slack_channel, webhook_channel
from tests.conftest import Tenant, session_client
from tests.notifications.fixtures import sms_config
from tests.notifications.receivers import HttpReceiver, SmtpReceiver
from tests.otel_traffic import _made


def send_requests(asgi_url: str, key: str, *, durations_ms: list[float], errors: int, at_ns: int) -> None:
    """Checkout's server spans, sent by the real SDK over OTLP/HTTP, ending just before ``at_ns``."""
    provider = TracerProvider(resource=Resource.create({"service.name": "checkout", "service.version": "1.5.0"}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(
        endpoint=f"{asgi_url}/v1/traces", headers={"Authorization": f"Bearer {key}"})))  # fmt: skip
    _made.append(provider)
    tracer = provider.get_tracer("shop.checkout")
    for i, duration in enumerate(durations_ms):
        start = at_ns - int(20e9) + i * 1000
        span = tracer.start_span("POST /checkout", kind=SpanKind.SERVER, start_time=start)
        if i < errors:
            span.set_status(Status(StatusCode.ERROR, "payment declined"))
        span.end(end_time=start + int(duration * 1e6))
    assert provider.force_flush(30_000)


def test_telemetry_breaching_a_two_condition_rule_notifies_each_channel_once_then_resolves(
    alice: Tenant,
    asgi_url: str,
    ingest_key: str,
    slack: HttpReceiver,
    pagerduty: HttpReceiver,
    webhook: HttpReceiver,
    teams: HttpReceiver,
    twilio: HttpReceiver,
    smtp: SmtpReceiver,
) -> None:
    with tenant_scope(alice.organization.pk):
        channels = [
            slack_channel(alice, slack), pagerduty_channel(alice, pagerduty), webhook_channel(alice, webhook),
            channel(alice, "teams", {"webhook_url": teams.url + "/workflows/abc/triggers/manual/run?sig=s3cr3t"}),
            channel(alice, "sms", sms_config(twilio)),
            channel(alice, "email", {"recipients": ["oncall@example.com"]}),
        ]  # fmt: skip
    rule_body = {
        "name": "checkout slow and failing",
        "queries": {
            "latency": {"source": "red", "measure": "p95", "service": "checkout", "window_seconds": 300},
            "errors": {"source": "red", "measure": "error_rate", "service": "checkout", "window_seconds": 300},
        },
        "conditions": [
            {"query": "latency", "op": ">", "critical": 500},
            {"query": "errors", "op": ">", "critical": 0.05},
        ],
        "combine": "and",
        "no_data": "ok",
        "title_template": "{{ labels.service }} is slow and failing",
        "message_template": "p95 {{ values.latency }} ms, errors {{ values.errors }}: {{ link.traces }}",
        "channels": [c.pk for c in channels],
    }
    response = session_client(alice.owner).post(
        f"/api/v1/orgs/{alice.slug}/projects/{alice.project.slug}/alert-rules/", rule_body, format="json"
    )
    assert response.status_code == 201, response.content

    rng = random.Random(5)
    now_ns = time.time_ns()
    send_requests(asgi_url, ingest_key, durations_ms=[rng.uniform(700, 1200) for _ in range(200)], errors=20,
                  at_ns=now_ns)  # fmt: skip
    assert evaluate_due_rules() == 1  # the beat's task: claims the rule's tick and evaluates it
    assert evaluate_due_rules() == 0  # not due again yet

    receivers: dict[str, Any] = {"slack": slack, "pagerduty": pagerduty, "webhook": webhook, "teams": teams,
                                 "sms": twilio}  # fmt: skip
    assert {name: len(r.received) for name, r in receivers.items()} == dict.fromkeys(receivers, 1)
    assert len(smtp.messages) == 1
    with tenant_scope(alice.organization.pk):
        incident = Incident.objects.get()
        rule = AlertRule.objects.get()
    assert incident.title == "checkout is slow and failing"
    assert pagerduty.received[0].json()["dedup_key"] == incident.dedup_key
    assert "errors 0.1" in webhook.received[0].json()["summary"]
    assert len(twilio.received[0].body.decode()) > 0

    # Ten minutes later checkout is fast and healthy again.
    later = timezone.now() + timedelta(minutes=10)
    send_requests(asgi_url, ingest_key, durations_ms=[40.0] * 100, errors=0, at_ns=int(later.timestamp() * 1e9))
    evaluate_rule(alice.organization.pk, rule.pk, later.isoformat())

    with tenant_scope(alice.organization.pk):
        incident.refresh_from_db()
        assert incident.status == "resolved"
        assert Incident.objects.count() == 1
    assert {name: len(r.received) for name, r in receivers.items()} == dict.fromkeys(receivers, 2)
    assert len(smtp.messages) == 2
    assert [r.json()["event_action"] for r in pagerduty.received] == ["trigger", "resolve"]
    assert {r.json()["dedup_key"] for r in pagerduty.received} == {incident.dedup_key}
    assert [r.json()["event"] for r in webhook.received] == ["trigger", "resolve"]
    for name, receiver in receivers.items():
        assert receiver.problems == [], name
