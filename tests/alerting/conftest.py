"""Alerting fixtures: spans written straight to the store, rules, and channels pointing at local receivers.

The receivers' fixtures (``slack``, ``pagerduty``, ``webhook``, ``teams``, ``twilio``, ``smtp``) come from
tests/notifications/fixtures.py, registered for every test: each checks its requests against what the real
service expects.
"""

from __future__ import annotations

import os
import time
from typing import Any

import pytest
from django.db import transaction

from apps.alerting import services as alerting_services
from apps.alerting.models import AlertRule
from apps.notifications import services as channel_services
from apps.notifications.models import Channel
from apps.otlp.types import Resource, Scope, Span, SpanKind, StatusCode
from apps.tracing.writers import write_spans
from tests.conftest import Tenant
from tests.notifications.fixtures import (
    ROUTING_KEY,
    SLACK_PATH,
    WEBHOOK_SECRET,
)
from tests.notifications.receivers import HttpReceiver


def spans(service: str, durations_ms: list[float], *, errors: int = 0, ago_s: float = 30,
          operation: str = "POST /checkout", at_ns: int | None = None) -> list[Span]:  # fmt: skip
    """SERVER spans of ``service``, the first ``errors`` of them failed, all starting ``ago_s`` before now."""
    start = (at_ns or time.time_ns()) - int(ago_s * 1e9)
    return [
        Span(
            resource=Resource({"service.name": service}),
            scope=Scope("tests"),
            trace_id=os.urandom(16),
            span_id=os.urandom(8),
            parent_span_id=None,
            name=operation,
            kind=SpanKind.SERVER,
            start_ns=start + i,
            end_ns=start + i + int(d * 1e6),
            attributes={},
            status_code=StatusCode.ERROR if i < errors else StatusCode.UNSET,
        )
        for i, d in enumerate(durations_ms)
    ]


def store(tenant: Tenant, found: list[Span]) -> None:
    with transaction.atomic():
        write_spans(tenant.organization.pk, tenant.project.pk, found)


def channel(tenant: Tenant, kind: str, config: dict[str, Any], name: str | None = None) -> Channel:
    return channel_services.create_channel(tenant.organization.pk, tenant.owner, name=name or kind, kind=kind,
                                           config=config)  # fmt: skip


def webhook_channel(tenant: Tenant, receiver: HttpReceiver) -> Channel:
    return channel(tenant, "webhook", {"url": receiver.url + "/hooks/vigil", "secret": WEBHOOK_SECRET})


def pagerduty_channel(tenant: Tenant, receiver: HttpReceiver) -> Channel:
    return channel(tenant, "pagerduty", {"routing_key": ROUTING_KEY, "events_url": receiver.url + "/v2/enqueue"})


def slack_channel(tenant: Tenant, receiver: HttpReceiver) -> Channel:
    return channel(tenant, "slack", {"webhook_url": receiver.url + SLACK_PATH})


def checkout_rule(tenant: Tenant, channels: list[Channel], **overrides: Any) -> AlertRule:
    """Two conditions: checkout's p95 above 500 ms AND its error rate at 5 % or more, over 5 minutes."""
    data = {
        "name": "checkout slow and failing",
        "queries": {
            "latency": {"source": "red", "measure": "p95", "service": "checkout", "window_seconds": 300},
            "errors": {"source": "red", "measure": "error_rate", "service": "checkout", "window_seconds": 300},
        },
        "conditions": [
            {"query": "latency", "op": ">", "critical": 500, "warning": 300},
            {"query": "errors", "op": ">=", "critical": 0.05},
        ],
        "combine": "and",
        "no_data": "ok",
        "channels": [c.pk for c in channels],
        "runbook_url": "https://wiki.example.com/runbooks/checkout",
        **overrides,
    }
    return alerting_services.save_rule(None, data, organization_id=tenant.organization.pk,
                                       project_id=tenant.project.pk, actor=tenant.owner)  # fmt: skip


@pytest.fixture
def deliveries_run(django_capture_on_commit_callbacks: Any) -> Any:
    """Run what commits queue (the deliveries' sending) as it would run after a real commit."""
    return lambda: django_capture_on_commit_callbacks(execute=True)
