"""The metric writer: points stored once, rollups counted once, the series cap, histograms and rates."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db import connection, transaction

from apps.metrics import queries
from apps.metrics.distributions import ExpHistogram, explicit_percentile
from apps.metrics.writers import WriteResult, write_metrics
from apps.otlp.types import MetricKind, MetricPoint, Resource, Scope
from tests.conftest import Tenant

RESOURCE = Resource({"service.name": "checkout"})
SCOPE = Scope("shop.metrics", "1.0")
MINUTE_NS = 60 * 10**9
BASE_NS = (time.time_ns() // (2 * MINUTE_NS) - 5) * 2 * MINUTE_NS  # an even minute, about ten minutes ago
CUMULATIVE, DELTA = 2, 1


def point(name: str, kind: int, offset_s: float, **kw: Any) -> MetricPoint:
    return MetricPoint(
        resource=RESOURCE,
        scope=SCOPE,
        name=name,
        description=kw.pop("description", ""),
        unit=kw.pop("unit", "1"),
        kind=kind,
        attributes=kw.pop("attributes", {"route": "/pay"}),
        start_ns=kw.pop("start_ns", BASE_NS - MINUTE_NS),
        time_ns=BASE_NS + int(offset_s * 1e9),
        **kw,
    )


def write(tenant: Tenant, points: list[MetricPoint]) -> WriteResult:
    with transaction.atomic():
        return write_metrics(tenant.organization.pk, tenant.project.pk, points)


def fetch(sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def agg(tenant: Tenant, name: str, how: str, step: int = 60, **attributes: str) -> list[list[tuple[int, Any]]]:
    found = queries.series(
        tenant.organization.pk,
        tenant.project.pk,
        name,
        attributes=attributes,
        start=datetime.fromtimestamp(BASE_NS / 1e9, tz=UTC) - timedelta(hours=1),
        end=datetime.now(tz=UTC) + timedelta(minutes=1),
        step_seconds=step,
        agg=how,
    )
    return [[((p["time_unix_nano"] - BASE_NS) // 10**9, p["value"]) for p in s["points"]] for s in found]


@pytest.mark.django_db(transaction=True)
def test_retried_batch_is_stored_and_rolled_up_once(alice: Tenant) -> None:
    points = [point("queue.depth", MetricKind.GAUGE, i * 10, value=v) for i, v in enumerate([3, 7, 2, 8.5])]
    points += [
        point("jobs.done", MetricKind.SUM, i * 10, value=10 * i, temporality=DELTA, monotonic=True) for i in range(4)
    ]
    assert write(alice, points) == WriteResult(8, 8)
    assert write(alice, points) == WriteResult(8, 0)  # the retry
    org = alice.organization.pk
    assert fetch("SELECT count(*) FROM metrics_point WHERE organization_id = %s", org) == [(8,)]
    assert fetch("SELECT sum(points) FROM metrics_rollup_minute WHERE organization_id = %s", org) == [(8,)]
    assert fetch("SELECT sum(points) FROM metrics_rollup_hour WHERE organization_id = %s", org) == [(8,)]
    assert agg(alice, "queue.depth", "avg") == [[(0, 5.125)]]
    assert agg(alice, "queue.depth", "max") == [[(0, 8.5)]]
    assert agg(alice, "queue.depth", "min") == [[(0, 2)]]
    assert agg(alice, "queue.depth", "count") == [[(0, 4)]]
    assert agg(alice, "jobs.done", "sum") == [[(0, 60)]]
    raw = queries.series(
        org, alice.project.pk, "queue.depth", attributes={"route": "/pay"},
        start=datetime.now(tz=UTC) - timedelta(hours=1), end=datetime.now(tz=UTC),
    )  # fmt: skip
    values = [p["value"] for p in raw[0]["points"]]
    assert values == [3, 7, 2, 8.5]
    assert [type(v) for v in values] == [int, int, int, float]  # integer points stay integers


@pytest.mark.django_db(transaction=True)
def test_series_cap_rejects_points_of_new_series_and_names_the_metric(alice: Tenant, settings: Any) -> None:
    settings.VIGIL_METRICS_MAX_SERIES_PER_PROJECT = 3
    known = [point("cpu", MetricKind.GAUGE, 0, value=1.0, attributes={"core": str(i)}) for i in range(3)]
    assert write(alice, known).rejected == 0
    later = [point("cpu", MetricKind.GAUGE, 30, value=2.0, attributes={"core": str(i)}) for i in range(3)]
    new = [
        point("http.server.duration", MetricKind.GAUGE, 30 + i, value=1.0, attributes={"route": f"/r{i % 2}"})
        for i in range(4)
    ]
    result = write(alice, later + new)
    assert (result.inserted, result.rejected) == (3, 4)
    assert result.message == (
        "series limit 3 reached for this project; rejected 4 points of new series of http.server.duration"
    )
    org = alice.organization.pk
    assert fetch("SELECT series_count FROM metrics_series_count WHERE organization_id = %s", org) == [(3,)]
    assert fetch("SELECT count(*) FROM metrics_series WHERE organization_id = %s", org) == [(3,)]
    settings.VIGIL_METRICS_MAX_SERIES_PER_PROJECT = 4
    result = write(alice, new)
    assert (result.inserted, result.rejected) == (2, 2)  # room for one more series: its two points
    assert fetch("SELECT series_count FROM metrics_series_count WHERE organization_id = %s", org) == [(4,)]


@pytest.mark.django_db(transaction=True)
def test_histogram_buckets_merge_and_changed_bounds_are_skipped(alice: Tenant) -> None:
    bounds = [10.0, 100.0, 1000.0]

    def hist(offset: float, counts: list[int], b: list[float] = bounds, **kw: Any) -> MetricPoint:
        return point(
            "latency", MetricKind.HISTOGRAM, offset, count=sum(counts), sum=1.0 * sum(counts), bucket_counts=counts,
            explicit_bounds=b, temporality=kw.pop("temporality", DELTA), **kw,
        )  # fmt: skip

    write(alice, [hist(0, [1, 2, 3, 0]), hist(10, [0, 4, 0, 1])])
    write(alice, [hist(20, [5, 0, 0, 0])])  # another request, same minute
    write(alice, [hist(30, [1, 1], b=[50.0])])  # the bounds changed
    rows = fetch(
        "SELECT bucket_counts, explicit_bounds, hist_count, skipped_points FROM metrics_rollup_minute "
        "WHERE organization_id = %s",
        alice.organization.pk,
    )
    assert rows == [([6, 6, 3, 1], bounds, 18, 1)]
    # 16 observations in the bounds: p50 is rank 8 → the second bucket (10, 100], 2 of its 6
    assert agg(alice, "latency", "p50") == [[(0, pytest.approx(10 + 90 * 2 / 6))]]
    assert agg(alice, "latency", "count") == [[(0, 18)]]

    # cumulative: the rollup holds the increase between points, not the running totals
    start = BASE_NS
    cumulative = [
        hist(60, [1, 1, 0, 0], temporality=CUMULATIVE, start_ns=start, attributes={"route": "/c"}),
        hist(70, [3, 2, 1, 0], temporality=CUMULATIVE, start_ns=start, attributes={"route": "/c"}),
    ]
    write(alice, cumulative[:1])
    write(alice, cumulative[1:])
    assert agg(alice, "latency", "count", route="/c") == [[(60, 6)]]


@pytest.mark.django_db(transaction=True)
def test_rate_handles_counter_resets(alice: Tenant) -> None:
    s1, s2 = BASE_NS - MINUTE_NS, BASE_NS + 80 * 10**9

    def counter(offset: float, value: int, start: int) -> MetricPoint:
        return point("requests", MetricKind.SUM, offset, value=value, start_ns=start, temporality=CUMULATIVE,
                     monotonic=True)  # fmt: skip

    write(alice, [counter(0, 10, s1), counter(30, 40, s1), counter(60, 100, s1)])
    # process restart (new start time), then a drop without a new start time: both are resets
    write(alice, [counter(90, 5, s2), counter(120, 65, s2), counter(150, 20, s2)])
    assert agg(alice, "requests", "rate") == [[(0, pytest.approx(40 / 60)), (60, pytest.approx(65 / 60)),
                                               (120, pytest.approx(80 / 60))]]  # fmt: skip
    assert agg(alice, "requests", "rate", step=120) == [[(0, pytest.approx(105 / 120)), (120, pytest.approx(80 / 120))]]
    write(alice, [point("temp", MetricKind.GAUGE, 0, value=1)])
    with pytest.raises(queries.QueryError, match="monotonic"):
        agg(alice, "temp", "rate")


@pytest.mark.django_db(transaction=True)
def test_exponential_histograms_merge_at_the_smaller_scale(alice: Tenant) -> None:
    def exp(offset: float, scale: int, positive_offset: int, counts: list[int]) -> MetricPoint:
        return point("size", MetricKind.EXPONENTIAL_HISTOGRAM, offset, count=sum(counts), sum=0.0, scale=scale,
                     positive_offset=positive_offset, positive_counts=counts, temporality=DELTA)  # fmt: skip

    write(alice, [exp(0, 1, 2, [1, 1]), exp(10, 0, 1, [2])])
    rows = fetch("SELECT exp_scale, exp_positive_offset, exp_positive_counts FROM metrics_rollup_minute")
    assert rows == [(0, 1, [4])]  # scale-1 buckets 2 and 3 are scale-0 bucket 1: (2, 4]
    assert agg(alice, "size", "p50") == [[(0, pytest.approx(3.0))]]


def test_percentile_interpolation() -> None:
    assert explicit_percentile([10, 20], [0, 10, 0], 0.5) == pytest.approx(15)
    assert explicit_percentile([10, 20], [10, 0, 0], 0.5, lo=2) == pytest.approx(6)
    assert explicit_percentile([10, 20], [0, 0, 4], 0.5, hi=40) == pytest.approx(30)
    histogram = ExpHistogram(0, positive={0: 1, 1: 1})
    assert histogram.percentile(1.0) == pytest.approx(4)
    assert histogram.downscaled(-1).positive == {0: 2}
