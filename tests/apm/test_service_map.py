"""The service map page: every node and call of the spans written, with figures computed from those spans."""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.db import transaction
from django.test import Client
from django.urls import reverse

from apps.otlp.types import Resource, Scope, Span, SpanKind, StatusCode
from apps.tracing.writers import write_spans
from tests.conftest import Tenant

NOW_NS = time.time_ns()
FRONTEND = Resource({"service.name": "frontend"})
CHECKOUT = Resource({"service.name": "checkout"})
PAYMENTS = Resource({"service.name": "payments"})
RANGE_SECONDS = 3600  # the page's default range: the last hour
TRACES = 10


def span(
    resource: Resource, name: str, duration_ms: float, *, parent: Span | None = None, error: bool = False,
    kind: int = SpanKind.SERVER, ago_s: float = 600, attributes: dict[str, Any] | None = None,
) -> Span:  # fmt: skip
    start = NOW_NS - int(ago_s * 1e9)
    return Span(
        resource=resource,
        scope=Scope("tests"),
        trace_id=parent.trace_id if parent else os.urandom(16),
        span_id=os.urandom(8),
        parent_span_id=parent.span_id if parent else None,
        name=name,
        kind=kind,
        start_ns=start,
        end_ns=start + int(duration_ms * 1e6),
        attributes=attributes or {},
        status_code=StatusCode.ERROR if error else StatusCode.UNSET,
    )


@dataclass
class Calls:
    """What was written for one caller → callee: the durations (ms) and error flags of the calls."""

    durations: list[float] = field(default_factory=list)
    errors: list[bool] = field(default_factory=list)

    def add(self, duration: float, error: bool) -> None:
        self.durations.append(duration)
        self.errors.append(error)

    @property
    def error_rate(self) -> float:
        return sum(self.errors) / len(self.errors)

    @property
    def p95(self) -> float:
        ordered = sorted(self.durations)
        return ordered[max(math.ceil(0.95 * len(ordered)), 1) - 1]


def write_shop(tenant: Tenant) -> dict[str, Calls]:
    """frontend → checkout → payments; checkout uses redis, payments a PostgreSQL database and Stripe.

    Returns the calls of each edge and the requests of each service ("<service>" keys), as written.
    """
    expected: dict[str, Calls] = {}

    def record(key: str, duration: float, error: bool = False) -> None:
        expected.setdefault(key, Calls()).add(duration, error)

    spans = []
    client = SpanKind.CLIENT
    for i in range(TRACES):
        ago = 900 - i * 30
        root = span(FRONTEND, "GET /checkout", 600 + i, ago_s=ago)  # slow: p95 over 500 ms → degraded
        call_checkout = span(FRONTEND, "POST /checkout", 320, kind=client, parent=root, ago_s=ago)
        checkout = span(CHECKOUT, "POST /checkout", 100 + 20 * i, parent=call_checkout, ago_s=ago)
        cache = span(CHECKOUT, "GET", 1 + i / 2, kind=client, parent=checkout, ago_s=ago,
                     attributes={"db.system": "redis"})  # fmt: skip
        call_payments = span(CHECKOUT, "POST /pay", 250, kind=client, parent=checkout, ago_s=ago)
        failed = i in (3, 7)  # 20 % of payments fail → failing
        payments = span(PAYMENTS, "POST /pay", 50 + 10 * i, parent=call_payments, error=failed, ago_s=ago)
        query = span(PAYMENTS, "INSERT payments", 2 + i, kind=client, parent=payments, error=i == 5, ago_s=ago,
                     attributes={"db.system": "postgresql", "db.name": "payments"})  # fmt: skip
        stripe = span(PAYMENTS, "POST /v1/charges", 150 + 5 * i, kind=client, parent=payments, ago_s=ago,
                      attributes={"server.address": "api.stripe.com"})  # fmt: skip
        spans += [root, call_checkout, checkout, cache, call_payments, payments, query, stripe]
        record("frontend", 600 + i)
        record("checkout", 100 + 20 * i)
        record("payments", 50 + 10 * i, failed)
        # A call between services is timed by the callee's span; a dependency by the client span.
        record("frontend>checkout", 100 + 20 * i)
        record("checkout>payments", 50 + 10 * i, failed)
        record("checkout>redis", 1 + i / 2)
        record("payments>postgresql:payments", 2 + i, i == 5)
        record("payments>api.stripe.com", 150 + 5 * i)
    with transaction.atomic():
        write_spans(tenant.organization.pk, tenant.project.pk, spans)
    return expected


class MapParser(HTMLParser):
    """The map's node and call links (their attributes), the texts drawn in them, and every link on the page."""

    def __init__(self) -> None:
        super().__init__()
        self.nodes: dict[str, dict[str, Any]] = {}
        self.edges: dict[tuple[str, str], dict[str, Any]] = {}
        self.hrefs: list[str] = []
        self._current: dict[str, Any] | None = None
        self._text_class: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "a":
            self.hrefs.append(values.get("href") or "")
            if "data-node" in values:
                self._current = self.nodes[values["data-node"] or ""] = {**values, "texts": {}}
            elif "data-source" in values:
                key = (values["data-source"] or "", values["data-target"] or "")
                self._current = self.edges[key] = {**values, "texts": {}}
        elif tag == "text" and self._current is not None:
            self._text_class = values.get("class")

    def handle_endtag(self, tag: str) -> None:
        if tag == "a":
            self._current = None
        elif tag == "text":
            self._text_class = None

    def handle_data(self, data: str) -> None:
        if self._current is not None and self._text_class:
            self._current["texts"][self._text_class] = data


def get(tenant: Tenant, query: str = "", user: Any = None) -> Any:
    client = Client()
    client.force_login(user or tenant.owner)
    return client.get(f"/o/{tenant.slug}/p/{tenant.project.slug}/map/{query}")


def parsed(response: Any) -> MapParser:
    parser = MapParser()
    parser.feed(response.content.decode())
    return parser


def close(actual: str | None, expected: float, tolerance: float = 0.05) -> bool:
    return actual is not None and abs(float(actual) - expected) <= tolerance * expected


@pytest.mark.django_db
def test_every_node_and_call_with_the_figures_of_the_spans(alice: Tenant) -> None:
    expected = write_shop(alice)
    response = get(alice)
    assert response.status_code == 200
    page = parsed(response)

    assert {name: node["data-kind"] for name, node in page.nodes.items()} == {
        "frontend": "service",
        "checkout": "service",
        "payments": "service",
        "redis": "cache",
        "postgresql:payments": "database",
        "api.stripe.com": "external",
    }
    assert set(page.edges) == {
        ("frontend", "checkout"),
        ("checkout", "payments"),
        ("checkout", "redis"),
        ("payments", "postgresql:payments"),
        ("payments", "api.stripe.com"),
    }
    for (source, target), edge in page.edges.items():
        calls = expected[f"{source}>{target}"]
        assert int(edge["data-calls"]) == len(calls.durations), (source, target)
        assert float(edge["data-rate"]) == pytest.approx(len(calls.durations) / RANGE_SECONDS), (source, target)
        assert float(edge["data-error-rate"]) == pytest.approx(calls.error_rate), (source, target)
        assert close(edge["data-p95-ms"], calls.p95), (source, target, edge["data-p95-ms"], calls.p95)
        # the compact text on the edge: calls per minute (under one a second), error rate, p95
        per_minute = len(calls.durations) / RANGE_SECONDS * 60
        text = edge["texts"]["map-edge-text"]
        assert text.startswith(f"{per_minute:.1f}/min · {calls.error_rate * 100:.0f} % · "), text
        assert f"Calls from {source} to {target}" in edge["aria-label"]
    for service in ("frontend", "checkout", "payments"):
        node, requests = page.nodes[service], expected[service]
        assert int(node["data-calls"]) == len(requests.durations)
        assert float(node["data-error-rate"]) == pytest.approx(requests.error_rate)
        assert close(node["data-p95-ms"], requests.p95), (service, node["data-p95-ms"], requests.p95)
        assert node["texts"]["map-node-name"] == service


@pytest.mark.django_db
def test_node_colours_follow_error_rates_and_latency(alice: Tenant) -> None:
    write_shop(alice)
    page = parsed(get(alice))
    health = {name: node["data-health"] for name, node in page.nodes.items()}
    assert health == {
        "frontend": "warning",  # no errors, but a p95 over the 500 ms Apdex threshold
        "checkout": "ok",
        "payments": "critical",  # 20 % errors
        "redis": "ok",
        "postgresql:payments": "critical",  # 10 % of the calls into it failed
        "api.stripe.com": "ok",
    }
    for name, node in page.nodes.items():
        assert f"health-{health[name]}" in node["class"]
    assert page.edges[("checkout", "payments")]["data-health"] == "critical"
    assert page.edges[("frontend", "checkout")]["data-health"] == "ok"


@pytest.mark.django_db
def test_nodes_link_to_service_pages_and_calls_to_trace_search(alice: Tenant) -> None:
    write_shop(alice)
    page = parsed(get(alice))
    tenant = {"organization_slug": alice.slug, "project_slug": alice.project.slug}
    traces = reverse("apm:traces", kwargs=tenant)

    def query(href: str) -> dict[str, str]:
        parts = urlsplit(href)
        assert parts.path == traces, href
        return {k: v[0] for k, v in parse_qs(parts.query).items()}

    for service in ("frontend", "checkout", "payments"):
        href = page.nodes[service]["href"]
        assert href == reverse("apm:service", kwargs={**tenant, "service": service}) + "?range=1h"
    database = query(page.nodes["postgresql:payments"]["href"])
    assert database["service"] == "payments"
    assert database["attr.db.system"] == "postgresql"
    assert {"from", "to"} <= set(database)
    assert query(page.nodes["api.stripe.com"]["href"])["attr.server.address"] == "api.stripe.com"
    assert query(page.nodes["redis"]["href"])["attr.db.system"] == "redis"

    between = query(page.edges[("checkout", "payments")]["href"])
    assert between["service"] == "checkout"
    assert {"from", "to"} <= set(between)
    external = query(page.edges[("payments", "api.stripe.com")]["href"])
    assert (external["service"], external["attr.server.address"]) == ("payments", "api.stripe.com")

    viewer = alice.members["viewer"]  # the least privileged role: every link of its map opens
    client = Client()
    client.force_login(viewer)
    for href in {h for h in parsed(get(alice, user=viewer)).hrefs if h.startswith("/o/")}:
        assert client.get(href).status_code == 200, href


@pytest.mark.django_db
def test_layout_places_callers_left_of_callees(alice: Tenant) -> None:
    write_shop(alice)
    page = parsed(get(alice))
    layer = {name: int(node["data-layer"]) for name, node in page.nodes.items()}
    assert layer == {
        "frontend": 0,
        "checkout": 1,
        "payments": 2,
        "redis": 2,
        "postgresql:payments": 3,
        "api.stripe.com": 3,
    }


@pytest.mark.django_db
def test_empty_project_shows_the_empty_state(alice: Tenant) -> None:
    response = get(alice)
    assert response.status_code == 200
    content = response.content.decode()
    assert 'data-testid="empty-state"' in content
    assert "No service map in this range yet." in content
    assert 'data-testid="service-map"' not in content


@pytest.mark.django_db
def test_a_bad_time_range_is_answered_400_with_its_message(alice: Tenant) -> None:
    response = get(alice, "?range=forever")
    assert response.status_code == 400
    assert "Unknown time range" in response.content.decode()
    response = get(alice, "?from=2025-02-01T10:00&to=2025-01-01T10:00")
    assert response.status_code == 400
    assert "The start of the range must be before its end." in response.content.decode()


@pytest.mark.django_db
def test_the_api_still_answers_the_same_graph(alice: Tenant) -> None:
    write_shop(alice)
    page = parsed(get(alice))
    client = Client()
    client.force_login(alice.owner)
    body = client.get(f"/api/v1/orgs/{alice.slug}/projects/{alice.project.slug}/service-map/").json()
    assert {node["id"] for node in body["nodes"]} == set(page.nodes)
    assert {(edge["source"], edge["target"]) for edge in body["edges"]} == set(page.edges)
