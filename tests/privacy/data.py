"""Telemetry of two end users (u-1, u-2) and of nobody, in one tenant: spans over two services with a database
call, log records and metric series."""

from __future__ import annotations

import os
import time
from typing import Any

from django.db import connection, transaction

from apps.logs.writers import write_logs
from apps.metrics.writers import write_metrics
from apps.otlp.types import LogRecord, MetricKind, MetricPoint, Resource, Scope, Span, SpanKind, StatusCode
from apps.tracing.writers import write_spans
from tests.conftest import Tenant

NOW_NS = (time.time_ns() // 60_000_000_000 - 3) * 60_000_000_000 + 5_000_000_000  # inside a minute, 3 minutes ago
FRONTEND = Resource({"service.name": "frontend"})
CHECKOUT = Resource({"service.name": "checkout"})
SCOPE = Scope("tests", "1.0")


def span(resource: Resource, name: str, trace_id: bytes, parent: Span | None = None, **kw: Any) -> Span:
    duration_ms = kw.pop("duration_ms", 10)
    offset_ms = kw.pop("offset_ms", 0)
    start = NOW_NS + offset_ms * 1_000_000
    return Span(
        resource=resource,
        scope=SCOPE,
        trace_id=trace_id,
        span_id=os.urandom(8),
        parent_span_id=parent.span_id if parent else None,
        name=name,
        kind=kw.pop("kind", SpanKind.SERVER),
        start_ns=start,
        end_ns=start + int(duration_ms * 1e6),
        attributes=kw.pop("attributes", {}),
        status_code=StatusCode.ERROR if kw.pop("error", False) else StatusCode.UNSET,
    )


def user_trace(user: str | None, i: int, *, child_only: bool = False) -> list[Span]:
    """frontend GET /cart → checkout POST /pay → postgresql; every span names the user (only the child with
    ``child_only``)."""
    trace_id = os.urandom(16)
    who = {"enduser.id": user, "user.email": f"{user}@example.org"} if user else {}
    root = span(FRONTEND, "GET /cart", trace_id, attributes={} if child_only else who, duration_ms=20 + i, error=i == 0)
    child = span(CHECKOUT, "POST /pay", trace_id, root, attributes=who, duration_ms=8 + 3 * i, offset_ms=1)
    db = span(
        CHECKOUT,
        "SELECT orders",
        trace_id,
        child,
        kind=SpanKind.CLIENT,
        attributes={**({} if child_only else who), "db.system": "postgresql", "db.namespace": "shop"},
        duration_ms=1 + i,
        offset_ms=2,
    )
    return [root, child, db]


def log(user: str | None, i: int) -> LogRecord:
    return LogRecord(
        resource=CHECKOUT,
        scope=SCOPE,
        time_ns=NOW_NS + i * 1000,
        observed_time_ns=NOW_NS + i * 1000,
        severity_number=9 if i % 2 else 17,
        severity_text="INFO",
        body=f"paid order {i}",
        attributes={"enduser.id": user} if user else {"order": i},
    )


def points(user: str | None) -> list[MetricPoint]:
    return [
        MetricPoint(
            resource=CHECKOUT,
            scope=SCOPE,
            name="cart.size",
            description="",
            unit="1",
            kind=MetricKind.GAUGE,
            attributes={"enduser.id": user} if user else {"region": "eu"},
            start_ns=NOW_NS,
            time_ns=NOW_NS + s * 10_000_000_000,
            value=s,
        )
        for s in range(3)
    ]


def seed(tenant: Tenant, *, traces: int = 3) -> list[Span]:
    """Writes everything (one transaction per signal); returns the spans."""
    spans: list[Span] = []
    for user in ("u-1", "u-2", None):
        for i in range(traces):
            spans += user_trace(user, i)
    spans += user_trace("u-1", 7, child_only=True)
    org, project = tenant.organization.pk, tenant.project.pk
    with transaction.atomic():
        write_spans(org, project, spans)
    with transaction.atomic():
        write_logs(org, project, [log(u, i) for u in ("u-1", "u-2", None) for i in range(4)])
    with transaction.atomic():
        write_metrics(org, project, [p for u in ("u-1", "u-2", None) for p in points(u)])
    return spans


def fetch(sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()
