"""The metrics explorer: the rate of a counter and the p95 of a histogram equal values computed by hand from
the points written, group-by draws one line per value, names are offered, the aggregations follow the kind."""

from __future__ import annotations

import re
import time
from itertools import pairwise
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.db import transaction
from django.test import Client

from apps.metrics.writers import write_metrics
from apps.otlp.types import MetricKind, MetricPoint, Resource, Scope
from tests.conftest import Tenant

MINUTE_NS = 60 * 10**9
BASE_NS = (time.time_ns() // MINUTE_NS - 20) * MINUTE_NS  # a whole minute, twenty minutes ago
CHECKOUT = Resource({"service.name": "checkout"})
FRONTEND = Resource({"service.name": "frontend"})
SCOPE = Scope("shop.metrics", "1.0")
CUMULATIVE, DELTA = 2, 1
BOUNDS = [10.0, 100.0, 1000.0]


def point(name: str, kind: int, minute: int, resource: Resource = CHECKOUT, **kw: Any) -> MetricPoint:
    return MetricPoint(
        resource=resource,
        scope=SCOPE,
        name=name,
        description=kw.pop("description", ""),
        unit=kw.pop("unit", "1"),
        kind=kind,
        attributes=kw.pop("attributes", {}),
        start_ns=BASE_NS - MINUTE_NS,
        time_ns=BASE_NS + minute * MINUTE_NS + 5 * 10**9,
        **kw,
    )


def write(tenant: Tenant, points: list[MetricPoint]) -> None:
    with transaction.atomic():
        write_metrics(tenant.organization.pk, tenant.project.pk, points)


def get(tenant: Tenant, query: str = "") -> Any:
    client = Client()
    client.force_login(tenant.members["viewer"])
    return client.get(f"/o/{tenant.slug}/p/{tenant.project.slug}/metrics/{query}")


# Cumulative request counters of two routes (checkout) and one of frontend, one point a minute.
COUNTERS = {
    ("/pay", "checkout"): [100, 160, 250, 250, 400],
    ("/cart", "checkout"): [10, 30, 35, 80, 81],
    ("/", "frontend"): [7, 8, 9, 20, 26],
}
RESOURCES = {"checkout": CHECKOUT, "frontend": FRONTEND}
# Delta histograms: per minute the counts of the buckets (≤10, ≤100, ≤1000, >1000).
HISTOGRAM = [[10, 10, 0, 0], [2, 18, 0, 0], [0, 5, 14, 1]]


@pytest.fixture
def metrics(alice: Tenant, bob: Tenant) -> None:
    points = []
    for (route, service), values in COUNTERS.items():
        resource = RESOURCES[service]
        for minute, value in enumerate(values):
            points.append(
                point(
                    "http.requests",
                    MetricKind.SUM,
                    minute,
                    resource,
                    value=value,
                    temporality=CUMULATIVE,
                    monotonic=True,
                    attributes={"route": route},
                    description="Requests served",
                )
            )
    for minute, counts in enumerate(HISTOGRAM):
        points.append(
            point(
                "http.duration",
                MetricKind.HISTOGRAM,
                minute,
                unit="ms",
                count=sum(counts),
                sum=1.0,
                bucket_counts=counts,
                explicit_bounds=BOUNDS,
                temporality=DELTA,
                description="Request time",
            )
        )
    points.append(point("queue.depth", MetricKind.GAUGE, 0, value=4, unit="{jobs}"))
    write(alice, points)
    write(bob, [point("bob.only", MetricKind.GAUGE, 0, value=1)])


def increases(values: list[int]) -> list[int]:
    """A cumulative counter's increase per point: the first counts from zero (the stream starts there)."""
    return [values[0], *(b - a for a, b in pairwise(values))]


def hand_p95(counts: list[int]) -> float:
    """Rank 0.95 * n within the bucket it falls in, interpolated linearly between the bucket's bounds."""
    rank = 0.95 * sum(counts)
    below = 0
    for i, count in enumerate(counts):
        if below + count >= rank:
            low = 0.0 if i == 0 else BOUNDS[i - 1]
            return low + (BOUNDS[i] - low) * (rank - below) / count
        below += count
    raise AssertionError("rank beyond the buckets")


def lines(response: Any) -> dict[str, list[float]]:
    assert response.status_code == 200, response.content.decode()[:3000]
    return {trace["name"]: trace["y"] for trace in response.context["figure"]["data"]}


@pytest.mark.django_db(transaction=True)
def test_rate_of_a_counter_equals_the_increase_per_second(alice: Tenant, metrics: None) -> None:
    total = [sum(step) for step in zip(*(increases(v) for v in COUNTERS.values()), strict=True)]
    found = lines(get(alice, "?name=http.requests"))  # rate is the default for a counter
    assert list(found) == ["http.requests"]
    assert found["http.requests"] == pytest.approx([n / 60 for n in total])
    by_route = lines(get(alice, "?name=http.requests&agg=rate&group_by=route"))
    assert set(by_route) == {"route=/pay", "route=/cart", "route=/"}  # one line per value
    for (route, _), values in COUNTERS.items():
        assert by_route[f"route={route}"] == pytest.approx([n / 60 for n in increases(values)])
    filtered = lines(get(alice, "?name=http.requests&agg=rate&attr.service.name=checkout"))
    checkout = [a + b for a, b in zip(increases(COUNTERS["/pay", "checkout"]), increases(COUNTERS["/cart", "checkout"]),
                                      strict=True)]  # fmt: skip
    assert filtered["http.requests"] == pytest.approx([n / 60 for n in checkout])
    rows = lines(get(alice, "?name=http.requests&agg=rate&attr_key=route&attr_value=/cart&group_by=service.name"))
    assert rows == {"service.name=checkout": pytest.approx([n / 60 for n in increases(COUNTERS["/cart", "checkout"])])}


@pytest.mark.django_db(transaction=True)
def test_p95_of_a_histogram_equals_the_hand_computed_percentile(alice: Tenant, metrics: None) -> None:
    found = lines(get(alice, "?name=http.duration&agg=p95"))
    assert found["http.duration"] == pytest.approx([hand_p95(c) for c in HISTOGRAM])
    assert hand_p95(HISTOGRAM[0]) == pytest.approx(91.0)  # the rank-19 observation of 20: 9/10 into (10, 100]
    default = get(alice, "?name=http.duration")
    assert default.context["agg"] == "p95"
    counts = lines(get(alice, "?name=http.duration&agg=count"))
    assert counts["http.duration"] == [sum(c) for c in HISTOGRAM]


@pytest.mark.django_db(transaction=True)
def test_points_link_to_the_traces_of_their_time(alice: Tenant, metrics: None) -> None:
    response = get(alice, "?name=http.requests&agg=rate&group_by=service.name")
    figure = {t["name"]: t for t in response.context["figure"]["data"]}
    link = figure["service.name=frontend"]["customdata"][0]
    parts = urlsplit(link)
    assert parts.path == "/o/alice/p/app/traces/"
    params = parse_qs(parts.query)
    assert params["service"] == ["frontend"]
    assert params["from"] == [time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(BASE_NS // 10**9))]
    assert params["to"] == [time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(BASE_NS // 10**9 + 60))]
    ungrouped = get(alice, "?name=http.requests&agg=rate").context["figure"]["data"][0]["customdata"][0]
    assert "service=" not in ungrouped  # two services: the traces of every service


@pytest.mark.django_db(transaction=True)
def test_names_kind_unit_and_aggregations(alice: Tenant, metrics: None) -> None:
    html = get(alice).content.decode()
    datalist = re.search(r'<datalist id="metric-names".*?</datalist>', html, re.S)
    assert datalist
    assert re.findall(r'<option value="([^"]+)"', datalist.group(0)) == [
        "http.duration",
        "http.requests",
        "queue.depth",
    ]
    assert "bob.only" not in html

    def options(query: str) -> list[str]:
        page = get(alice, query).content.decode()
        select = re.search(r'<select name="agg".*?</select>', page, re.S)
        assert select
        return re.findall(r'<option value="([^"]+)"', select.group(0))

    assert options("?name=queue.depth") == ["avg", "min", "max", "sum", "count"]
    assert options("?name=http.requests") == ["avg", "min", "max", "sum", "count", "rate"]
    assert options("?name=http.duration") == ["avg", "min", "max", "sum", "count", "p50", "p90", "p95", "p99"]
    gauge = get(alice, "?name=queue.depth").content.decode()
    assert "rate applies to monotonic sums (counters); this metric is a gauge." in gauge
    assert "percentiles need a histogram; this metric is a gauge." in gauge
    assert '<code data-testid="metric-unit">{jobs}</code>' in gauge
    counter = get(alice, "?name=http.requests").content.decode()
    assert "sum (monotonic counter)" in counter
    assert "Requests served" in counter
    assert 'id="metrics-region"' in counter


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("?name=no.such.metric", "No metric named &#x27;no.such.metric&#x27; in this project."),
        ("?name=http.requests&agg=p95", "p95 is not available for http.requests: percentiles need a histogram"),
        ("?name=queue.depth&agg=rate", "rate per second is not available for queue.depth: rate applies to"),
        ("?name=queue.depth&agg=median", "Unknown aggregation &#x27;median&#x27;"),
        ("?name=queue.depth&attr_key=route", "enter both a key and a value"),
        ("?from=2025-01-02T10:00&to=2025-01-01T10:00", "The start of the range must be before its end."),
    ],
)
def test_invalid_queries_answer_400(alice: Tenant, metrics: None, query: str, message: str) -> None:
    response = get(alice, query)
    assert response.status_code == 400
    assert message in response.content.decode()


@pytest.mark.django_db(transaction=True)
def test_another_metric_drops_the_previous_aggregation(alice: Tenant, metrics: None) -> None:
    response = get(alice, "?name=queue.depth&agg=p95&agg_for=http.duration")
    assert response.status_code == 200
    assert response.context["agg"] == "avg"


@pytest.mark.django_db(transaction=True)
def test_empty_state_without_metrics(alice: Tenant, bob: Tenant) -> None:
    write(bob, [point("bob.only", MetricKind.GAUGE, 0, value=1)])
    html = get(alice).content.decode()
    assert 'data-testid="empty-state"' in html
    assert "No metrics in this range yet." in html


@pytest.mark.django_db(transaction=True)
def test_api_aggregate_gives_the_page_numbers(alice: Tenant, metrics: None) -> None:
    client = Client()
    client.force_login(alice.owner)
    url = f"/api/v1/orgs/{alice.slug}/projects/{alice.project.slug}/metrics/aggregate/"
    body = client.get(url, {"name": "http.requests", "agg": "rate", "group_by": "route"}).json()
    assert body["kind"] == "sum"
    assert body["monotonic"] is True
    assert body["aggregations"]["p95"].startswith("percentiles need a histogram")
    values = {g["value"]: [p["value"] for p in g["points"]] for g in body["groups"]}
    assert values["/pay"] == pytest.approx([n / 60 for n in increases(COUNTERS["/pay", "checkout"])])
    assert {g["value"]: g["service"] for g in body["groups"]} == {
        "/pay": "checkout",
        "/cart": "checkout",
        "/": "frontend",
    }
    bad = client.get(url, {"name": "http.requests", "agg": "p95"})
    assert bad.status_code == 400
    assert client.get(url, {"name": "nope", "agg": "avg"}).status_code == 400
    histogram = client.get(url, {"name": "http.duration"}).json()  # the kind's default aggregation
    assert histogram["agg"] == "p95"
    assert [p["value"] for p in histogram["groups"][0]["points"]] == pytest.approx([hand_p95(c) for c in HISTOGRAM])
    names = client.get(url).json()["names"]  # without a name: what there is to choose from
    assert [n["name"] for n in names] == ["http.duration", "http.requests", "queue.depth"]
