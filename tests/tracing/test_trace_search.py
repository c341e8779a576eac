"""Trace search by service reads the newest matching spans only; its traces, times, counts and chart points are those
of grouping every matching span of the range (the full scan it falls back to)."""

from __future__ import annotations

import os
import random
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from apps.otlp.types import Resource, Scope, Span, SpanKind, StatusCode
from apps.tracing import queries
from apps.tracing.queries import TraceFilter, search_traces, trace_points
from apps.tracing.writers import write_spans
from tests.conftest import Tenant

pytestmark = pytest.mark.django_db

NOW_NS = time.time_ns() // 1000 * 1000  # whole microseconds: spans of equal start_ns tie in start_time too
MS = 1_000_000
MINUTE = 60 * 10**9
CART, SHOP = Resource({"service.name": "cart"}), Resource({"service.name": "shop"})
END = datetime.fromtimestamp(NOW_NS / 1e9, UTC) + timedelta(minutes=1)
DAY = END - timedelta(days=1)


def span(resource: Resource, trace_id: bytes, start_ns: int, duration_ms: float, *, error: bool = False) -> Span:
    return Span(
        resource=resource,
        scope=Scope("tests"),
        trace_id=trace_id,
        span_id=os.urandom(8),
        parent_span_id=None,
        name="op",
        kind=SpanKind.SERVER,
        start_ns=start_ns,
        end_ns=start_ns + int(duration_ms * MS),
        attributes={},
        status_code=StatusCode.ERROR if error else StatusCode.UNSET,
    )


def write(tenant: Tenant, spans: list[Span]) -> None:
    with transaction.atomic():
        write_spans(tenant.organization.pk, tenant.project.pk, spans)


def by_grouping_everything(monkeypatch: pytest.MonkeyPatch, read: Any, *args: Any, **kwargs: Any) -> Any:
    """``read(*args, **kwargs)`` with no capped round: the full grouping of every matching span."""
    with monkeypatch.context() as patched:
        patched.setattr(queries, "_CAP_ROUNDS", ())
        return read(*args, **kwargs)


def test_newest_traces_equal_grouping_every_matching_span(alice: Tenant, monkeypatch: pytest.MonkeyPatch) -> None:
    """Traces of 1-12 spans over two services, spread over a day, some starting at the very same time (ties)."""
    rng = random.Random(5)
    spans = []
    for i in range(150):
        trace_id, at = os.urandom(16), NOW_NS - rng.randrange(24 * 60) * MINUTE
        if i % 10 == 0:
            at = NOW_NS - 30 * MINUTE  # ten traces tie on their newest span
        for j in range(rng.randrange(1, 13)):
            resource = CART if rng.random() < 0.6 else SHOP
            start, duration = at - j * rng.randrange(0, 3) * MINUTE, rng.choice([5, 50, 150, 900])
            spans.append(span(resource, trace_id, start, duration, error=rng.random() < 0.1))
    write(alice, spans)
    org, project = alice.organization.pk, alice.project.pk
    for limit in (1, 2, 3, 7, 20, 200, 1000):
        for f in (
            TraceFilter(DAY, END, service="cart", limit=limit),
            TraceFilter(DAY, END, service="cart", min_duration_ns=100 * MS, limit=limit),
            TraceFilter(END - timedelta(hours=3), END, service="shop", status="error", limit=limit),
        ):
            found = search_traces(org, project, f)
            assert found == by_grouping_everything(monkeypatch, search_traces, org, project, f), f
            assert len(found) == min(limit, len(by_grouping_everything(monkeypatch, trace_points, org, project, f)))
            points = trace_points(org, project, f, limit=limit)
            assert points == by_grouping_everything(monkeypatch, trace_points, org, project, f, limit=limit), f


def test_traces_bigger_than_the_caps_fall_back_to_grouping_every_span(alice: Tenant) -> None:
    """The newest trace has more matching spans than both capped rounds read (64 per trace asked for): they see one
    trace where two were asked for, and only grouping every matching span finds the second."""
    big, older = os.urandom(16), os.urandom(16)
    write(alice, [span(CART, big, NOW_NS - i * 10**6, 150) for i in range(200)])
    write(alice, [span(CART, older, NOW_NS - 2 * MINUTE, 150)])
    f = TraceFilter(DAY, END, service="cart", min_duration_ns=100 * MS, limit=2)
    found = search_traces(alice.organization.pk, alice.project.pk, f)
    assert [t["trace_id"] for t in found] == [big.hex(), older.hex()]
    assert found[0]["span_count"] == 200
    points = trace_points(alice.organization.pk, alice.project.pk, f, limit=2)
    assert [p["trace_id"] for p in points] == [big.hex(), older.hex()]


def test_times_counts_and_longest_span_come_from_every_matching_span(alice: Tenant) -> None:
    """The capped round reads only the newest spans of ``long``; its oldest matching span (four hours earlier, and
    its longest) still sets the trace's start, its span count and its chart point, as when grouping every span."""
    newest, long = os.urandom(16), os.urandom(16)
    old_start = NOW_NS - 4 * 60 * MINUTE
    write(alice, [span(CART, newest, NOW_NS, 150)])
    write(alice, [span(CART, long, old_start, 900, error=True)])
    write(alice, [span(CART, long, NOW_NS - MINUTE - i * MS, 150) for i in range(12)])
    org, project = alice.organization.pk, alice.project.pk
    f = TraceFilter(DAY, END, service="cart", min_duration_ns=100 * MS, limit=2)  # the first round reads 8 spans
    with CaptureQueriesContext(connection) as statements:
        found = search_traces(org, project, f)
    assert len(statements) == 2  # the capped round sufficed: no full grouping
    assert [t["trace_id"] for t in found] == [newest.hex(), long.hex()]
    assert found[1]["span_count"] == 13
    assert found[1]["start_time_unix_nano"] == old_start
    assert found[1]["error"] is True
    points = trace_points(org, project, f, limit=2)
    assert points[1] == {"trace_id": long.hex(), "start_time_unix_nano": old_start, "duration_ns": 900 * MS,
                         "error": True}  # fmt: skip


def test_a_search_without_matches_is_empty(alice: Tenant) -> None:
    write(alice, [span(SHOP, os.urandom(16), NOW_NS, 150)])
    f = TraceFilter(DAY, END, service="cart")
    assert search_traces(alice.organization.pk, alice.project.pk, f) == []
    assert trace_points(alice.organization.pk, alice.project.pk, f) == []
