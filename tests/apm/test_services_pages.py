"""The services overview and the service page: figures equal those computed from the raw spans."""

from __future__ import annotations

import math
import os
import random
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db import transaction
from django.test import Client

from apps.otlp.types import Resource, Scope, Span, SpanKind, StatusCode
from apps.tracing import queries
from apps.tracing.writers import write_spans
from tests.conftest import Tenant

NOW_NS = time.time_ns()
FRONTEND = Resource({"service.name": "frontend"})
CHECKOUT = Resource({"service.name": "checkout"})


def span(resource: Resource, name: str, duration_ms: float, *, error: bool = False, kind: int = SpanKind.SERVER,
         ago_s: float = 60, parent: Span | None = None, attributes: dict[str, Any] | None = None) -> Span:  # fmt: skip
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


def store(tenant: Tenant, spans: list[Span]) -> None:
    with transaction.atomic():
        write_spans(tenant.organization.pk, tenant.project.pk, spans)


def exact_percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(math.ceil(q * len(ordered)), 1) - 1]


def page(tenant: Tenant, path: str, user: Any = None) -> Any:
    client = Client()
    client.force_login(user or tenant.owner)
    return client.get(f"/o/{tenant.slug}/p/{tenant.project.slug}/{path}")


@pytest.fixture
def traffic(alice: Tenant) -> dict[str, list[float]]:
    """Frontend GET /cart (log-normal, 4 % errors) calling checkout; a quieter previous period."""
    rng = random.Random(11)
    durations: dict[str, list[float]] = {"frontend": [], "checkout": [], "errors": []}
    spans = []
    for i in range(400):
        d = rng.lognormvariate(4.5, 0.8)  # ms, median ~90
        error = i % 25 == 0
        root = span(FRONTEND, "GET /cart", d, error=error, ago_s=rng.uniform(30, 3000))
        client = span(FRONTEND, "POST /checkout", d * 0.6, kind=SpanKind.CLIENT, parent=root,
                      ago_s=(NOW_NS - root.start_ns) / 1e9)  # fmt: skip
        callee = span(CHECKOUT, "POST /checkout", d * 0.5, parent=client, ago_s=(NOW_NS - root.start_ns) / 1e9)
        spans += [root, client, callee]
        durations["frontend"].append(d)
        durations["checkout"].append(d * 0.5)
        durations["errors"].append(float(error))
    for _ in range(100):  # the hour before: a quarter of the traffic
        spans.append(span(FRONTEND, "GET /cart", rng.lognormvariate(4.5, 0.8), ago_s=rng.uniform(3700, 7000)))
    for start in range(0, len(spans), 500):
        store(alice, spans[start : start + 500])
    return durations


def test_services_overview_matches_the_raw_spans(alice: Tenant, traffic: dict[str, list[float]]) -> None:
    response = page(alice, "services/?range=1h")
    assert response.status_code == 200
    rows = {row["service"]: row for row in response.context["rows"]}
    assert set(rows) == {"frontend", "checkout"}
    frontend = rows["frontend"]
    assert frontend["request_count"] == 400
    assert frontend["error_rate"] == pytest.approx(sum(traffic["errors"]) / 400)
    assert frontend["request_rate"] == pytest.approx(400 / 3600, rel=0.01)
    for key, q in (("p50_ms", 0.5), ("p95_ms", 0.95), ("p99_ms", 0.99)):
        for service in ("frontend", "checkout"):
            exact = exact_percentile(traffic[service], q)
            assert abs(rows[service][key] - exact) / exact <= 0.05, (service, key, rows[service][key], exact)
    satisfied = sum(d <= 500 for d in traffic["frontend"])
    tolerating = sum(500 < d <= 2000 for d in traffic["frontend"])
    assert frontend["apdex"] == pytest.approx((satisfied + tolerating / 2) / 400, abs=0.02)
    # 400 requests now against 100 in the hour before: +300 %
    assert frontend["change"]["request_rate"] == pytest.approx(3.0, rel=0.01)
    html = response.content.decode()
    assert 'data-testid="services-table"' in html
    assert f"/o/{alice.slug}/p/app/services/frontend/" in html
    assert "service=frontend" in html  # the link to the service's traces


def test_services_sort_by_any_column(alice: Tenant, traffic: dict[str, list[float]]) -> None:
    fastest_first = [r["service"] for r in page(alice, "services/?range=1h&sort=p95_ms").context["rows"]]
    slowest_first = [r["service"] for r in page(alice, "services/?range=1h&sort=-p95_ms").context["rows"]]
    assert fastest_first == ["checkout", "frontend"]
    assert slowest_first == ["frontend", "checkout"]


def test_service_page_charts_operations_and_dependencies(alice: Tenant, traffic: dict[str, list[float]]) -> None:
    response = page(alice, "services/frontend/?range=1h&compare=1")
    assert response.status_code == 200
    context = response.context
    charts = context["charts"]
    assert [c["layout"]["title"]["text"] for c in charts] == ["Requests", "Error rate", "Latency"]
    requests_per_minute = charts[0]["data"][0]["y"]
    assert sum(requests_per_minute) == pytest.approx(400, abs=0.01)  # per-minute counts add up to the requests
    assert all(url.startswith(f"/o/{alice.slug}/p/app/traces/?") for url in charts[0]["data"][0]["customdata"])
    assert len(charts[0]["data"]) == 2  # the previous period overlaid
    operations = {(r["operation"], r["span_kind"]): r for r in context["operations"]}
    assert operations[("GET /cart", SpanKind.SERVER)]["request_count"] == 400
    assert operations[("POST /checkout", SpanKind.CLIENT)]["request_count"] == 400
    assert [e["target"] for e in context["calls_out"]] == ["checkout"]
    assert context["calls_out"][0]["call_count"] == 400
    assert context["calls_out"][0]["url"].endswith("/services/checkout/")
    assert context["breakdown"] is not None


def test_unknown_service_is_404_and_bad_range_is_400(alice: Tenant, traffic: dict[str, list[float]]) -> None:
    assert page(alice, "services/nope/").status_code == 404
    response = page(alice, "services/?from=2026-01-02T00:00&to=2026-01-01T00:00")
    assert response.status_code == 400
    assert "The start of the range must be before its end." in response.content.decode()


def test_empty_project_explains_how_to_send_data(alice: Tenant) -> None:
    response = page(alice, "services/")
    html = response.content.decode()
    assert response.status_code == 200
    assert 'data-testid="empty-state"' in html
    assert "OTEL_EXPORTER_OTLP_ENDPOINT=http://testserver" in html


def test_viewer_sees_the_pages(alice: Tenant, traffic: dict[str, list[float]]) -> None:
    viewer = alice.members["viewer"]
    assert page(alice, "services/", viewer).status_code == 200
    assert page(alice, "services/frontend/", viewer).status_code == 200


def test_services_page_query_count_does_not_grow_with_services(
    alice: Tenant, traffic: dict[str, list[float]], django_assert_max_num_queries: Any
) -> None:
    client = Client()
    client.force_login(alice.owner)
    url = f"/o/{alice.slug}/p/app/services/?range=1h"
    client.get(url)
    with django_assert_max_num_queries(14):
        client.get(url)
    store(alice, [span(Resource({"service.name": f"svc-{i}"}), "GET /", 5) for i in range(20)])
    with django_assert_max_num_queries(14):
        response = client.get(url)
    assert len(response.context["rows"]) == 22


def test_deploy_markers_where_a_new_version_first_ran(alice: Tenant) -> None:
    old = Resource({"service.name": "checkout", "service.version": "1.4.2"})
    new = Resource({"service.name": "checkout", "service.version": "1.5.0", "host.name": "b"})
    store(alice, [span(old, "POST /checkout", 50, ago_s=5400), span(old, "POST /checkout", 50, ago_s=1800)])
    store(alice, [span(new, "POST /checkout", 90, ago_s=1200)])  # backfilled: dated by the span, not arrival
    response = page(alice, "services/checkout/?range=1h")
    deploys = response.context["deploys"]
    assert [d["version"] for d in deploys] == ["1.5.0"]
    assert abs(deploys[0]["time"].timestamp() - (NOW_NS / 1e9 - 1200)) < 1
    latency = response.context["charts"][2]["layout"]
    assert latency["annotations"][0]["text"] == "deploy 1.5.0"


def test_series_api_gives_the_charts_data(alice: Tenant, traffic: dict[str, list[float]]) -> None:
    from tests.conftest import session_client

    client = session_client(alice.owner)
    base = f"/api/v1/orgs/{alice.slug}/projects/app/services"
    body = client.get(f"{base}/frontend/series/?step=300").json()
    assert body["step"] == 300
    assert sum(p["request_count"] for p in body["points"]) == 400
    assert body["deploys"] == []
    assert client.get(f"{base}/nope/series/").status_code == 404
    assert client.get(f"{base}/frontend/series/?step=5").status_code == 400


def test_http_calls_to_an_instrumented_service_are_not_an_extra_host(alice: Tenant) -> None:
    root = span(FRONTEND, "GET /cart", 50)
    client = span(FRONTEND, "POST /checkout", 30, kind=SpanKind.CLIENT, parent=root,
                  attributes={"server.address": "checkout.shop.svc", "http.request.method": "POST"})  # fmt: skip
    fx = {"server.address": "api.fx.io"}
    api = span(FRONTEND, "GET /rates", 30, kind=SpanKind.CLIENT, parent=root, attributes=fx)
    store(alice, [root, client, span(CHECKOUT, "POST /checkout", 25, parent=client), api])
    now = datetime.now(tz=UTC)
    graph = queries.service_map(alice.organization.pk, alice.project.pk, now - timedelta(hours=1), now)
    assert {(e["source"], e["target"], e["target_kind"]) for e in graph["edges"]} == {
        ("frontend", "checkout", "service"),
        ("frontend", "api.fx.io", "external"),
    }


def test_apdex_threshold_per_service_from_the_page_and_the_api(alice: Tenant, traffic: dict[str, list[float]]) -> None:
    from tests.conftest import session_client

    client = Client()
    client.force_login(alice.owner)
    response = client.post(f"/o/{alice.slug}/p/app/services/frontend/", {"apdex_threshold_ms": "100"})
    assert response.status_code == 302
    frontend = {r["service"]: r for r in page(alice, "services/?range=1h").context["rows"]}["frontend"]
    satisfied = sum(d <= 100 for d in traffic["frontend"])
    tolerating = sum(100 < d <= 400 for d in traffic["frontend"])
    assert frontend["apdex_threshold_ms"] == 100
    assert frontend["apdex"] == pytest.approx((satisfied + tolerating / 2) / 400, abs=0.02)
    api = session_client(alice.owner)
    url = f"/api/v1/orgs/{alice.slug}/projects/app/services/checkout/settings/"
    assert api.get(url).json() == {"apdex_threshold_ms": 500}
    assert api.put(url, {"apdex_threshold_ms": 50}, format="json").json() == {"apdex_threshold_ms": 50}
    assert api.put(url, {"apdex_threshold_ms": 0}, format="json").status_code == 400
    viewer = session_client(alice.members["viewer"])
    assert viewer.put(url, {"apdex_threshold_ms": 70}, format="json").status_code == 403
    viewer_page = Client()
    viewer_page.force_login(alice.members["viewer"])
    assert viewer_page.post(f"/o/{alice.slug}/p/app/services/frontend/", {"apdex_threshold_ms": "9"}).status_code == 403
    assert (
        'name="apdex_threshold_ms"' not in page(alice, "services/frontend/", alice.members["viewer"]).content.decode()
    )
