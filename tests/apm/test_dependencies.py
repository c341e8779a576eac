"""The dependencies page and API: figures equal those computed here from the spans written."""

# ruff: noqa: S608  (the SQL here is span data, never executed)

from __future__ import annotations

import math
import os
import random
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext

from apps.otlp.types import Resource, Scope, Span, SpanKind, StatusCode
from apps.tracing import dependencies
from apps.tracing.writers import write_spans
from tests.conftest import Tenant, session_client

NOW_NS = time.time_ns()
SHOP = Resource({"service.name": "shop"})
WORKER = Resource({"service.name": "worker"})
ENDPOINTS = ("database-calls", "n-plus-one", "external-calls", "code-timings")


def span(
    resource: Resource,
    name: str,
    duration_ms: float,
    *,
    kind: int = SpanKind.CLIENT,
    ago_s: float = 600,
    parent: Span | None = None,
    error: bool = False,
    attributes: dict[str, Any] | None = None,
) -> Span:
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


def p95_ms(spans: list[Span]) -> float:
    """Nearest-rank p95 of the spans' durations, in milliseconds."""
    ordered = sorted(s.end_ns - s.start_ns for s in spans)
    return round(ordered[max(math.ceil(0.95 * len(ordered)), 1) - 1] / 1e6, 3)


def total_ms(spans: list[Span]) -> float:
    return round(sum(s.end_ns - s.start_ns for s in spans) / 1e6, 3)


def db(parent: Span, statement: str, duration_ms: float, *, system: str = "postgresql", namespace: str = "shop",
       extra: dict[str, Any] | None = None) -> Span:  # fmt: skip
    attributes = {"db.system": system, "db.namespace": namespace, "db.query.text": statement, **(extra or {})}
    ago_s = (NOW_NS - parent.start_ns) / 1e9
    return span(SHOP, statement.split(maxsplit=1)[0], duration_ms, parent=parent, ago_s=ago_s, attributes=attributes)


def request(name: str, ago_s: float = 600, resource: Resource = SHOP) -> Span:
    return span(resource, name, 200, kind=SpanKind.SERVER, ago_s=ago_s)


def page(tenant: Tenant, query: str = "", user: Any = None) -> Any:
    client = Client()
    client.force_login(user or tenant.owner)
    return client.get(f"/o/{tenant.slug}/p/{tenant.project.slug}/dependencies/{query}")


def api(tenant: Tenant, endpoint: str, query: str = "", user: Any = None) -> Any:
    client = session_client(user or tenant.owner)
    return client.get(f"/api/v1/orgs/{tenant.slug}/projects/{tenant.project.slug}/{endpoint}/{query}")


@pytest.fixture
def traffic(alice: Tenant) -> dict[str, Any]:
    """Database calls, N+1 loops, external HTTP calls and timed methods of the last hour, plus what they should give."""
    rng = random.Random(7)
    spans: list[Span] = []
    expected: dict[str, Any] = defaultdict(list)
    for i in range(40):  # one user lookup per request: literals differ, the statement is one
        root = request("GET /account", ago_s=rng.uniform(60, 3000))
        call = db(root, f"SELECT * FROM users WHERE id = {i}", rng.lognormvariate(1.5, 0.6),
                  extra={"db.response.returned_rows": 1} if i % 2 == 0 else {})  # fmt: skip
        spans += [root, call]
        expected["users"].append(call)
    for i in range(15):  # batch inserts of different sizes, affected rows reported (old attribute name)
        root = request("POST /orders")
        values = ", ".join(f"({j}, 'item-{j}')" for j in range(i + 1))
        call = db(root, f"INSERT INTO orders (id, sku) VALUES {values}", 5 + i, extra={"db.rows_affected": i + 1})
        spans += [root, call]
        expected["inserts"].append(call)
    for _ in range(20):  # a cache, another system
        root = request("GET /cart")
        call = db(root, f"GET cart:{rng.randint(1, 10**6)}", 0.3, system="redis", namespace="0")
        spans += [root, call]
        expected["cache"].append(call)
    # N+1: /cart loads items one by one under an internal span, 12 then 15 times; /wishlist only 9 times.
    for repeats in (12, 15):
        root = request("GET /cart")
        loader = span(SHOP, "load items", 50, kind=SpanKind.INTERNAL, parent=root, ago_s=600)
        loop = [db(loader, f"SELECT * FROM items WHERE id = {j}", 1.0) for j in range(repeats)]
        spans += [root, loader, *loop]
        expected["n_plus_one"].append((root, loop))
    wishlist = request("GET /wishlist")
    spans += [wishlist, *(db(wishlist, f"SELECT * FROM wishes WHERE id = {j}", 1.0) for j in range(9))]
    # External calls: ids in the path become {id}; a template wins over the URL.
    for i in range(30):
        root = request("POST /checkout")
        status = 503 if i % 10 == 0 else 200
        call = span(SHOP, "POST", rng.uniform(80, 400), parent=root, error=i == 5, attributes={
            "server.address": "api.payments.example", "http.request.method": "POST",
            "url.full": f"https://api.payments.example/v1/customers/{1000 + i}/charges?attempt=1",
            "http.response.status_code": status})  # fmt: skip
        spans += [root, call]
        expected["payments"].append(call)
    for _ in range(10):
        attributes = {"server.address": "maps.example", "http.request.method": "GET", "url.template": "/geo/{place}",
                      "url.full": "https://maps.example/geo/x"}  # fmt: skip
        call = span(WORKER, "GET", 20, attributes=attributes)
        spans.append(call)
        expected["maps"].append(call)
    # Method timings: code.function + code.namespace, and the newer fully qualified code.function.name.
    for i in range(25):
        timed = span(SHOP, "charge", 10 + i, kind=SpanKind.INTERNAL,
                     attributes={"code.function": "charge", "code.namespace": "shop.payments"})  # fmt: skip
        spans.append(timed)
        expected["charge"].append(timed)
    for _ in range(5):
        timed = span(WORKER, "total", 2, kind=SpanKind.INTERNAL, attributes={"code.function.name": "cart.Cart.total"})
        spans.append(timed)
        expected["total"].append(timed)
    spans.append(span(SHOP, "old", 5, ago_s=7200, attributes={"db.system": "postgresql", "db.statement": "SELECT 1"}))
    store(alice, spans)
    return expected


def by_statement(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {row["statement"]: row for row in rows}


def test_database_calls_grouped_by_statement(alice: Tenant, traffic: dict[str, Any]) -> None:
    rows = api(alice, "database-calls", "?page_size=100").json()["results"]
    statements = by_statement(rows)
    users = statements["SELECT * FROM users WHERE id = ?"]
    assert (users["db_system"], users["database"], users["count"]) == ("postgresql", "shop", 40)
    assert users["total_ms"] == pytest.approx(total_ms(traffic["users"]), abs=0.002)
    assert users["p95_ms"] == p95_ms(traffic["users"])
    assert users["avg_ms"] == pytest.approx(total_ms(traffic["users"]) / 40, abs=0.002)
    assert users["rows"] == 20  # returned_rows=1 on every other call
    assert users["rows_reported"] == 20
    assert users["services"] == ["shop"]
    assert users["example_trace_id"] == max(traffic["users"], key=lambda s: s.end_ns - s.start_ns).trace_id.hex()
    assert users["rate"] == pytest.approx(40 / 3600, rel=0.01)
    inserts = statements["INSERT INTO orders (id, sku) VALUES (?, ?)"]  # 1 to 15 rows per batch: one statement
    assert inserts["count"] == 15
    assert inserts["rows"] == sum(range(1, 16))
    assert inserts["p95_ms"] == p95_ms(traffic["inserts"])
    cache = statements["GET ?"]
    assert (cache["db_system"], cache["database"], cache["count"], cache["rows"]) == ("redis", "0", 20, None)
    assert statements["SELECT * FROM items WHERE id = ?"]["count"] == 27
    assert "SELECT ?" not in statements  # outside the range
    # longest total time first
    assert [r["total_ms"] for r in rows] == sorted((r["total_ms"] for r in rows), reverse=True)


def test_n_plus_one_found_at_ten_repeats_not_at_nine(alice: Tenant, traffic: dict[str, Any]) -> None:
    findings = api(alice, "n-plus-one").json()["results"]
    assert len(findings) == 1, findings  # /wishlist's 9 repeats are not one
    (finding,) = findings
    (_, twelve), (fifteen_root, fifteen) = traffic["n_plus_one"]
    assert finding["service"] == "shop"
    assert finding["endpoint"] == "GET /cart"  # the request, not the internal parent span
    assert finding["statement"] == "SELECT * FROM items WHERE id = ?"
    assert finding["occurrences"] == 2
    assert finding["max_repeats"] == 15
    assert finding["example_trace_id"] == fifteen_root.trace_id.hex()
    assert finding["total_ms"] == pytest.approx(total_ms(twelve) + total_ms(fifteen), abs=0.002)


def test_n_plus_one_falls_back_to_the_parent_name_without_a_request(alice: Tenant) -> None:
    job = span(WORKER, "nightly-report", 500, kind=SpanKind.INTERNAL)
    calls = [
        span(WORKER, "SELECT", 1, parent=job, attributes={"db.system": "mysql", "db.statement": f"SELECT {j}"})
        for j in range(10)
    ]
    store(alice, [job, *calls])
    (finding,) = api(alice, "n-plus-one").json()["results"]
    assert (finding["service"], finding["endpoint"], finding["max_repeats"]) == ("worker", "nightly-report", 10)


def test_external_calls_grouped_by_host_and_route(alice: Tenant, traffic: dict[str, Any]) -> None:
    rows = api(alice, "external-calls").json()["results"]
    assert [(r["host"], r["method"], r["route"]) for r in rows] == [
        ("api.payments.example", "POST", "/v1/customers/{id}/charges"),
        ("maps.example", "GET", "/geo/{place}"),
    ]
    payments, maps = rows
    assert payments["count"] == 30
    assert payments["error_count"] == 4  # three 503s and one span with status ERROR
    assert payments["error_rate"] == pytest.approx(4 / 30)
    assert payments["p95_ms"] == p95_ms(traffic["payments"])
    assert payments["rate"] == pytest.approx(30 / 3600, rel=0.01)
    assert (maps["count"], maps["error_rate"], maps["services"]) == (10, 0.0, ["worker"])


def test_route_of_normalises_ids() -> None:
    assert dependencies.route_of(None, "https://h/v1/users/42/orders/7?x=1") == "/v1/users/{id}/orders/{id}"
    uuid = "3f2b8c1e-9a4d-4e6f-8b2a-1c3d5e7f9a0b"
    assert dependencies.route_of(None, f"http://h/files/{uuid}") == "/files/{id}"
    assert dependencies.route_of(None, "/objects/9f86d081884c7d659a2feaa0c55ad015/v2") == "/objects/{id}/v2"
    assert dependencies.route_of(None, "/api/v2/users") == "/api/v2/users"  # "v2" is not an id
    assert dependencies.route_of("/users/{id}", "https://h/users/1") == "/users/{id}"
    assert dependencies.route_of(None, None) == ""


def test_code_timings_by_service_and_function(alice: Tenant, traffic: dict[str, Any]) -> None:
    rows = {(r["service"], r["function"]): r for r in api(alice, "code-timings").json()["results"]}
    assert set(rows) == {("shop", "shop.payments.charge"), ("worker", "cart.Cart.total")}
    charge = rows[("shop", "shop.payments.charge")]
    assert charge["count"] == 25
    assert charge["total_ms"] == pytest.approx(total_ms(traffic["charge"]), abs=0.002)
    assert charge["p95_ms"] == p95_ms(traffic["charge"])
    assert charge["attribute"] == {"code.function": "charge"}
    assert rows[("worker", "cart.Cart.total")]["attribute"] == {"code.function.name": "cart.Cart.total"}


def test_scan_limit_keeps_the_newest_and_says_so(alice: Tenant, traffic: dict[str, Any]) -> None:
    end = datetime.now(tz=UTC)
    start = end - timedelta(hours=1)
    scan = dependencies.database_spans(alice.organization.pk, alice.project.pk, start, end, limit=10)
    assert scan.truncated
    assert len(scan.rows) == 10
    newest = sorted((s.start_ns for calls in (traffic["users"],) for s in calls), reverse=True)
    assert scan.covered_start > start
    assert scan.rows[0][5] >= newest[0]  # newest first
    full = dependencies.database_spans(alice.organization.pk, alice.project.pk, start, end)
    assert not full.truncated
    assert full.covered_start == start


def test_page_shows_the_four_sections_with_links(alice: Tenant, traffic: dict[str, Any]) -> None:
    response = page(alice, "?range=1h")
    assert response.status_code == 200
    html = response.content.decode()
    for testid in ("statements-table", "n-plus-one-table", "external-table", "methods-table"):
        assert f'data-testid="{testid}"' in html
    assert "SELECT * FROM users WHERE id = ?" in html
    assert 'data-testid="database-truncated"' not in html
    context = response.context
    users = by_statement(context["statements"])["SELECT * FROM users WHERE id = ?"]
    assert users["trace_url"] == f"/o/{alice.slug}/p/app/traces/{users['example_trace_id']}/"
    assert users["trace_url"] in html
    assert users["traces_url"].startswith(f"/o/{alice.slug}/p/app/traces/?service=shop&attr.db.system=postgresql&from=")
    (finding,) = context["findings"]
    assert finding["trace_url"] in html
    assert "operation=GET+%2Fcart" in finding["traces_url"]
    assert "attr.server.address=api.payments.example" in context["external"][0]["traces_url"]
    charge = next(r for r in context["methods"] if r["function"] == "shop.payments.charge")
    assert "attr.code.function=charge" in charge["traces_url"]
    chart = context["chart"]
    bars = chart["data"][0]
    assert len(bars["x"]) == min(10, len(context["statements"]))
    assert all(url.startswith(f"/o/{alice.slug}/p/app/traces/") for url in bars["customdata"])
    assert 'id="statements-chart"' in html


def test_page_sorts_statements(alice: Tenant, traffic: dict[str, Any]) -> None:
    for sort in ("count", "-count", "total_ms", "-total_ms", "p95_ms", "-p95_ms"):
        rows = page(alice, f"?range=1h&sort={sort}").context["statements"]
        values = [r[sort.lstrip("-")] for r in rows]
        assert values == sorted(values, reverse=sort.startswith("-")), sort
    assert "sort=count" in page(alice, "?range=1h&sort=-count").content.decode()  # the header link flips it


def test_page_says_when_the_scan_limit_was_reached(
    alice: Tenant, traffic: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    original = dependencies.database_spans
    monkeypatch.setattr(dependencies, "database_spans", lambda *args: original(*args, limit=5))
    html = page(alice, "?range=1h").content.decode()
    assert 'data-testid="database-truncated"' in html
    assert "Based on the newest 5 database calls" in html


def test_empty_project_explains_how_to_send_data(alice: Tenant) -> None:
    response = page(alice)
    html = response.content.decode()
    assert response.status_code == 200
    assert 'data-testid="empty-state"' in html
    assert "No database or external calls in this range yet." in html


def test_bad_range_is_400(alice: Tenant) -> None:
    assert page(alice, "?from=2026-01-02T00:00&to=2026-01-01T00:00").status_code == 400
    for endpoint in ENDPOINTS:
        response = api(alice, endpoint, "?from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z")
        assert response.status_code == 400, endpoint
        assert "from" in response.json()["error"]["details"]
        assert api(alice, endpoint, "?from=yesterday").status_code == 400


def test_api_lists_are_paged_and_report_the_scan(alice: Tenant, traffic: dict[str, Any]) -> None:
    for endpoint in ENDPOINTS:
        response = api(alice, endpoint, "?page_size=1")
        body = response.json()
        assert set(body) == {"count", "next", "previous", "results"}, endpoint
        assert len(body["results"]) == 1
        assert response["X-Vigil-Truncated"] == "false"
        assert int(response["X-Vigil-Spans-Read"]) > 0
    assert api(alice, "database-calls").json()["count"] == 5
    by_count = api(alice, "database-calls", "?sort=-count").json()["results"]
    assert [r["count"] for r in by_count] == sorted((r["count"] for r in by_count), reverse=True)


def test_other_organizations_get_404(alice: Tenant, bob: Tenant, traffic: dict[str, Any]) -> None:
    assert page(alice, user=bob.owner).status_code == 404
    for endpoint in ENDPOINTS:
        assert api(alice, endpoint, user=bob.owner).status_code == 404
    assert api(bob, "database-calls").json()["count"] == 0  # Bob's project has none of Alice's spans


def test_viewer_sees_the_page(alice: Tenant, traffic: dict[str, Any]) -> None:
    assert page(alice, "?range=1h", alice.members["viewer"]).status_code == 200
    nav = page(alice, "?range=1h").content.decode()
    assert f'href="/o/{alice.slug}/p/app/dependencies/"' in nav


def _queries(client: Any, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured)


def test_query_count_does_not_grow_with_the_results(
    alice: Tenant, traffic: dict[str, Any], django_assert_max_num_queries: Any
) -> None:
    client = session_client(alice.owner)
    urls = [f"/api/v1/orgs/{alice.slug}/projects/app/{e}/" for e in ENDPOINTS]
    urls.append(f"/o/{alice.slug}/p/app/dependencies/?range=1h")
    for url in urls:
        client.get(url)  # warm per-process caches
    counts = {url: _queries(client, url) for url in urls}
    # Ten times the statements, N+1 loops, hosts and functions.
    more: list[Span] = []
    for i in range(10):
        root = request(f"GET /r{i}")
        loader = span(SHOP, f"load {i}", 5, kind=SpanKind.INTERNAL, parent=root, ago_s=600)
        more += [root, loader, *(db(loader, f"SELECT * FROM t{i} WHERE id = {j}", 1) for j in range(10))]
        more.append(span(SHOP, "GET", 5, parent=root, attributes={"server.address": f"h{i}.example"}))
        more.append(span(SHOP, "f", 5, kind=SpanKind.INTERNAL, attributes={"code.function": f"f{i}"}))
    store(alice, more)
    for url in urls:
        with django_assert_max_num_queries(counts[url]):
            assert client.get(url).status_code == 200
    assert len(api(alice, "n-plus-one").json()["results"]) == 11
