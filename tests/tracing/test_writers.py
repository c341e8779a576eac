"""The span writer: stored once, counted once, rolled up exactly."""

from __future__ import annotations

import os
import random
import threading
import time
from typing import Any

import pytest
from django.db import connection, transaction

from apps.ingest.auth import IngestPrincipal
from apps.ingest.pipeline import ingest_decoded
from apps.otlp.types import Decoded, Resource, Scope, Span, SpanKind, StatusCode
from apps.tracing import histogram
from apps.tracing.rollups import compact_rollups
from apps.tracing.writers import StoredBefore, write_spans
from tests.conftest import Tenant

NOW_NS = time.time_ns()
RESOURCE_A = Resource({"service.name": "frontend", "host.name": "web-1"})
RESOURCE_B = Resource({"service.name": "checkout"})
SCOPE = Scope("tests", "1.0")


def make_span(
    resource: Resource,
    name: str,
    *,
    parent: bytes | None = None,
    duration_ms: float = 10,
    error: bool = False,
    kind: int = SpanKind.SERVER,
    trace_id: bytes | None = None,
    attributes: dict[str, Any] | None = None,
    start_ns: int = NOW_NS,
) -> Span:
    return Span(
        resource=resource,
        scope=SCOPE,
        trace_id=trace_id or os.urandom(16),
        span_id=os.urandom(8),
        parent_span_id=parent,
        name=name,
        kind=kind,
        start_ns=start_ns,
        end_ns=start_ns + int(duration_ms * 1e6),
        attributes=attributes or {},
        status_code=StatusCode.ERROR if error else StatusCode.UNSET,
    )


def write(tenant: Tenant, spans: list[Span]) -> int:
    with transaction.atomic():
        return write_spans(tenant.organization.pk, tenant.project.pk, spans).inserted


def folded(sql: str, *params: Any) -> list[tuple[Any, ...]]:
    """Fold the deltas, then query the minute/hour rollup tables."""
    compact_rollups()
    return fetch(sql, *params)


def fetch(sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


@pytest.mark.django_db(transaction=True)
def test_retried_batch_is_stored_and_counted_once(alice: Tenant) -> None:
    spans = [make_span(RESOURCE_A, "GET /", error=(i % 4 == 0)) for i in range(20)]
    assert write(alice, spans) == 20
    assert write(alice, spans) == 0  # the retry
    assert fetch("SELECT count(*) FROM tracing_span WHERE organization_id = %s", alice.organization.pk) == [(20,)]
    deltas = fetch("SELECT sum(request_count) FROM tracing_red_delta WHERE organization_id = %s", alice.organization.pk)
    assert deltas == [(20,)]  # the retry appended nothing
    rows = folded(
        "SELECT sum(request_count), sum(error_count) FROM tracing_red_minute WHERE organization_id = %s",
        alice.organization.pk,
    )
    assert rows == [(20, 5)]
    hour = fetch(
        "SELECT request_count, histogram FROM tracing_red_hour WHERE organization_id = %s", alice.organization.pk
    )
    assert hour[0][0] == 20
    assert sum(histogram.unpack(hour[0][1]).values()) == 20
    assert fetch("SELECT count(*) FROM tracing_red_delta") == [(0,)]


@pytest.mark.django_db(transaction=True)
def test_partly_retried_batch_stores_and_counts_only_the_new_spans(alice: Tenant) -> None:
    trace_id = os.urandom(16)
    root = make_span(RESOURCE_A, "GET /checkout", trace_id=trace_id, kind=SpanKind.CLIENT)
    first = [root, *(make_span(RESOURCE_A, "GET /") for _ in range(4))]
    assert write(alice, first) == 5
    # a Collector re-batched: three stored spans again, plus a callee of the stored root and a new span
    child = make_span(RESOURCE_B, "POST /pay", parent=root.span_id, trace_id=trace_id, error=True)
    assert write(alice, [*first[2:], child, make_span(RESOURCE_A, "GET /")]) == 2
    assert fetch("SELECT count(*) FROM tracing_span WHERE organization_id = %s", alice.organization.pk) == [(7,)]
    red = folded(
        "SELECT sum(request_count), sum(error_count) FROM tracing_red_minute WHERE organization_id = %s",
        alice.organization.pk,
    )
    assert red == [(7, 1)]
    edges = fetch("SELECT source_service, target, call_count FROM tracing_edge_minute WHERE organization_id = %s",
                  alice.organization.pk)  # fmt: skip
    assert edges == [("frontend", "checkout", 1)]


@pytest.mark.django_db(transaction=True)
def test_an_optimistic_write_meeting_stored_spans_stops_and_the_pipeline_writes_again(alice: Tenant) -> None:
    spans = [make_span(RESOURCE_A, "GET /", error=(i == 4)) for i in range(5)]
    assert write(alice, spans[:3]) == 3
    with pytest.raises(StoredBefore), transaction.atomic():
        write_spans(alice.organization.pk, alice.project.pk, spans, optimistic=True)
    assert fetch("SELECT count(*) FROM tracing_span WHERE organization_id = %s", alice.organization.pk) == [(3,)]
    decoded = Decoded(spans=list(spans))
    assert ingest_decoded(IngestPrincipal(alice.organization.pk, alice.project.pk, 0), decoded).accepted == 5
    assert fetch("SELECT count(*) FROM tracing_span WHERE organization_id = %s", alice.organization.pk) == [(5,)]
    red = folded(
        "SELECT sum(request_count), sum(error_count) FROM tracing_red_minute WHERE organization_id = %s",
        alice.organization.pk,
    )
    assert red == [(5, 1)]


@pytest.mark.django_db(transaction=True)
def test_span_repeated_within_one_request_is_stored_once(alice: Tenant) -> None:
    span = make_span(RESOURCE_A, "GET /")
    assert write(alice, [span, span, make_span(RESOURCE_A, "GET /")]) == 2
    assert folded("SELECT sum(request_count) FROM tracing_red_minute WHERE organization_id = %s",
                  alice.organization.pk) == [(2,)]  # fmt: skip


@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_of_the_same_spans_store_and_count_them_once(alice: Tenant) -> None:
    """The second writer's COPY waits for the first transaction's key, is refused when it commits, and
    then stores only what is left."""
    shared = [make_span(RESOURCE_A, "GET /") for _ in range(10)]
    own = make_span(RESOURCE_A, "GET /own")
    first_wrote, second_started = threading.Event(), threading.Event()
    results: dict[str, int] = {}

    def first() -> None:
        try:
            with transaction.atomic():
                results["first"] = write_spans(alice.organization.pk, alice.project.pk, shared).inserted
                first_wrote.set()
                second_started.wait(10)
                time.sleep(0.3)  # the second writer is now waiting on our uncommitted keys
        finally:
            connection.close()

    def second() -> None:
        try:
            first_wrote.wait(10)
            second_started.set()
            results["second"] = write(alice, [*shared, own])
        finally:
            connection.close()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert results == {"first": 10, "second": 1}
    assert fetch("SELECT count(*) FROM tracing_span WHERE organization_id = %s", alice.organization.pk) == [(11,)]
    assert folded("SELECT sum(request_count) FROM tracing_red_minute WHERE organization_id = %s",
                  alice.organization.pk) == [(11,)]  # fmt: skip


@pytest.mark.django_db(transaction=True)
def test_percentiles_from_rollups_are_within_five_percent_of_exact(alice: Tenant) -> None:
    rng = random.Random(7)
    durations = [rng.lognormvariate(3.5, 1.0) for _ in range(3000)]  # milliseconds, p99 around 300 ms
    spans = [make_span(RESOURCE_A, "GET /items", duration_ms=d) for d in durations]
    for start in range(0, len(spans), 500):
        write(alice, spans[start : start + 500])
    stored = folded("SELECT histogram FROM tracing_red_hour WHERE organization_id = %s", alice.organization.pk)
    merged: histogram.Histogram = {}
    for (packed,) in stored:
        histogram.add_packed(merged, packed)
    exact_ns = sorted(int(d * 1e6) for d in durations)
    for q in (0.5, 0.9, 0.95, 0.99):
        exact = exact_ns[max(int(-(-q * len(exact_ns) // 1)) - 1, 0)]
        estimate = histogram.percentile_ns(merged, q)
        assert estimate is not None
        assert abs(estimate - exact) / exact <= 0.05, (q, estimate, exact)


@pytest.mark.django_db(transaction=True)
def test_service_edges_across_batches_in_either_order(alice: Tenant) -> None:
    trace_id = os.urandom(16)
    parent = make_span(RESOURCE_A, "GET /checkout", trace_id=trace_id, kind=SpanKind.CLIENT)
    child = make_span(RESOURCE_B, "POST /pay", parent=parent.span_id, trace_id=trace_id, error=True)
    write(alice, [child])  # the callee's span arrives first
    assert fetch("SELECT count(*) FROM tracing_pending_edge") == [(1,)]
    write(alice, [parent])
    edges = folded(
        "SELECT source_service, target, target_kind, call_count, error_count FROM tracing_edge_minute "
        "WHERE organization_id = %s",
        alice.organization.pk,
    )
    assert edges == [("frontend", "checkout", "service", 1, 1)]
    assert fetch("SELECT count(*) FROM tracing_pending_edge") == [(0,)]

    trace_2 = os.urandom(16)
    parent_2 = make_span(RESOURCE_A, "GET /checkout", trace_id=trace_2, kind=SpanKind.CLIENT)
    write(alice, [parent_2])
    write(alice, [make_span(RESOURCE_B, "POST /pay", parent=parent_2.span_id, trace_id=trace_2)])
    edges = folded(
        "SELECT call_count, error_count FROM tracing_edge_hour WHERE organization_id = %s", alice.organization.pk
    )
    assert edges == [(2, 1)]


@pytest.mark.django_db(transaction=True)
def test_database_cache_and_external_dependencies_become_edges(alice: Tenant) -> None:
    client = SpanKind.CLIENT
    write(
        alice,
        [
            make_span(RESOURCE_B, "SELECT", kind=client, attributes={"db.system": "postgresql", "db.name": "shop"}),
            make_span(RESOURCE_B, "GET", kind=client, attributes={"db.system": "redis"}),
            make_span(RESOURCE_B, "POST", kind=client, attributes={"server.address": "api.stripe.com"}),
        ],
    )
    edges = folded(
        "SELECT target, target_kind FROM tracing_edge_minute WHERE organization_id = %s ORDER BY 1",
        alice.organization.pk,
    )
    assert edges == [("api.stripe.com", "external"), ("postgresql:shop", "database"), ("redis", "cache")]


def test_python_and_sql_bucket_formulas_agree(db: Any) -> None:
    samples = [1, 999, 1000, 1001, 1500, 10_000, 123_456, 10**6, 10**9, 10**12, 10**15]
    with connection.cursor() as cursor:
        for value in samples:
            cursor.execute(f"SELECT {histogram.HIST_INDEX_SQL} FROM (SELECT %s::bigint AS duration_ns) t", [value])  # noqa: S608
            assert cursor.fetchone()[0] == histogram.bucket_index(value), value


@pytest.mark.django_db(transaction=True)
def test_readers_count_deltas_before_and_after_folding(alice: Tenant) -> None:
    from datetime import UTC, datetime, timedelta

    from apps.tracing import queries

    write(alice, [make_span(RESOURCE_A, "GET /", error=(i == 0)) for i in range(6)])
    now = datetime.now(tz=UTC)
    args = (alice.organization.pk, alice.project.pk, now - timedelta(hours=1), now + timedelta(minutes=1))
    before = queries.services(*args)
    assert compact_rollups() == 1
    write(alice, [make_span(RESOURCE_A, "GET /") for _ in range(2)])  # a new delta next to folded rows
    after = queries.services(*args)
    assert before[0]["request_count"] == 6
    assert before[0]["error_count"] == 1
    assert after[0]["request_count"] == 8
    assert after[0]["p50_ms"] == before[0]["p50_ms"]
