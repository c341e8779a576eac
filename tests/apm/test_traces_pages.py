"""The trace search, trace view and trace comparison pages, over spans and logs written with the stores' writers."""

from __future__ import annotations

import os
import re
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db import transaction
from django.test import Client

from apps.apm.traces import compare, critical_path, waterfall
from apps.logs.writers import write_logs
from apps.otlp.types import LogRecord, Resource, Scope, Span, SpanEvent, SpanKind, SpanLink, StatusCode
from apps.tracing.writers import write_spans
from tests.conftest import Tenant, session_client

pytestmark = pytest.mark.django_db

NOW_NS = time.time_ns()
MS = 1_000_000
FRONTEND = Resource({"service.name": "frontend", "host.name": "web-1"})
CHECKOUT = Resource({"service.name": "checkout", "service.version": "2.0.0"})
PAYMENTS = Resource({"service.name": "payments"})
SCOPE = Scope("tests", "1.0")


def span(
    resource: Resource,
    name: str,
    trace_id: bytes,
    *,
    parent: Span | None = None,
    start_ms: float = 0,
    duration_ms: float = 10,
    error: bool = False,
    base_ns: int = NOW_NS - 10 * 60 * 10**9,
    **extra: Any,
) -> Span:
    start = base_ns + int(start_ms * MS)
    return Span(
        resource=resource,
        scope=SCOPE,
        trace_id=trace_id,
        span_id=os.urandom(8),
        parent_span_id=parent.span_id if parent else None,
        name=name,
        kind=extra.pop("kind", SpanKind.SERVER),
        start_ns=start,
        end_ns=start + int(duration_ms * MS),
        attributes=extra.pop("attributes", {}),
        status_code=StatusCode.ERROR if error else StatusCode.UNSET,
        **extra,
    )


def write(tenant: Tenant, spans: list[Span]) -> None:
    with transaction.atomic():
        write_spans(tenant.organization.pk, tenant.project.pk, spans)


@pytest.fixture
def shop(alice: Tenant) -> dict[str, Any]:
    """Three traces: a failing checkout (3 services), a fast home page, and a search three hours ago."""
    checkout_id, home_id, search_id = os.urandom(16), os.urandom(16), os.urandom(16)
    root = span(FRONTEND, "GET /checkout", checkout_id, duration_ms=120, attributes={"http.route": "/checkout"})
    pay = span(CHECKOUT, "POST /pay", checkout_id, parent=root, start_ms=15, duration_ms=80, error=True)
    charge = span(
        PAYMENTS,
        "charge",
        checkout_id,
        parent=pay,
        start_ms=20,
        duration_ms=60,
        error=True,
        status_message="card declined",
        kind=SpanKind.CLIENT,
        attributes={"payment.provider": "acme"},
        events=[SpanEvent(NOW_NS - 10 * 60 * 10**9 + 50 * MS, "retry", {"attempt": 2})],
        links=[SpanLink(search_id, os.urandom(8), "", {"reason": "caused by"})],
    )
    home = span(FRONTEND, "GET /", home_id, duration_ms=5, attributes={"http.route": "/"})
    search = span(
        FRONTEND, "GET /search", search_id, duration_ms=40, base_ns=NOW_NS - 3 * 3600 * 10**9,
        attributes={"user.tier": "gold"},
    )  # fmt: skip
    write(alice, [root, pay, charge, home, search])
    base = f"/o/{alice.slug}/p/{alice.project.slug}/traces/"
    return {
        "base": base,
        "checkout": checkout_id.hex(),
        "home": home_id.hex(),
        "search": search_id.hex(),
        "search_start": datetime.fromtimestamp(search.start_ns / 1e9, UTC),
        "charge": charge,
    }


def found(client: Client, url: str, params: dict[str, Any] | None = None) -> set[str]:
    response = client.get(url, params or {})
    assert response.status_code == 200, response.content.decode()[:2000]
    return set(re.findall(r'href="[^"]*/traces/([0-9a-f]{32})/" data-trace-link', response.content.decode()))


def test_search_filters(alice: Tenant, shop: dict[str, Any]) -> None:
    client = session_client(alice.owner)
    base = shop["base"]
    checkout, home, search = shop["checkout"], shop["home"], shop["search"]
    assert found(client, base) == {checkout, home}  # the last hour by default
    assert found(client, base, {"service": "payments"}) == {checkout}
    assert found(client, base, {"operation": "GET /"}) == {home}
    assert found(client, base, {"min_duration_ms": "100"}) == {checkout}
    assert found(client, base, {"max_duration_ms": "10"}) == {home}
    assert found(client, base, {"min_duration_ms": "50", "max_duration_ms": "70"}) == {checkout}
    assert found(client, base, {"status": "error"}) == {checkout}
    assert found(client, base, {"attr.http.route": "/checkout"}) == {checkout}
    assert found(client, base, {"attr_key": "http.route", "attr_value": "/"}) == {home}  # the form's rows
    assert found(client, base, {"attr": "payment.provider=acme"}) == {checkout}
    assert found(client, base, {"attr.service.version": "2.0.0"}) == {checkout}  # a resource attribute
    assert found(client, base, {"attr.host.name": "web-1", "operation": "GET /"}) == {home}
    assert found(client, base, {"range": "6h"}) == {checkout, home, search}
    # A link as the service pages build it (trace_search_url: from/to to the second, UTC, no offset).
    moment = shop["search_start"]
    window = {"from": (moment - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%S"),
              "to": (moment + timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%S")}  # fmt: skip
    assert found(client, base, window) == {search}
    assert found(client, base, {**window, "attr.user.tier": "gold"}) == {search}
    assert found(client, base, {**window, "service": "checkout"}) == set()


def test_results_table_and_chart(alice: Tenant, shop: dict[str, Any]) -> None:
    client = session_client(alice.owner)
    page = client.get(shop["base"], {"service": "payments"}).content.decode()
    assert "GET /checkout" in page  # the root operation, though the match is a payments span
    for name in ("frontend", "checkout", "payments"):
        assert f'<span class="tag">{name}</span>' in page
    assert "120 ms" in page or "120.0 ms" in page
    assert 'id="trace-durations"' in page  # the chart's figure
    assert '"dragmode": "select"' in page
    # Limited: one row and a link asking for more (never more rows loaded than shown).
    page = client.get(shop["base"], {"limit": "1"}).content.decode()
    assert len(re.findall(r"data-trace-link", page)) == 1
    assert re.search(r'href="[^"]*limit=51"[^>]*data-testid="more-traces"', page)


def test_invalid_filters_answer_400_with_a_message(alice: Tenant, shop: dict[str, Any]) -> None:
    client = session_client(alice.owner)
    cases = {
        "min_duration_ms=abc": "Give a number of milliseconds",
        "max_duration_ms=-5": "Durations are not negative",
        "min_duration_ms=50&max_duration_ms=10": "minimum duration is above the maximum",
        "status=broken": "status is error, ok or unset",
        "attr=no-equals-sign": "is not an attribute filter",
        "attr_key=&attr_value=orphan": "enter both a key and a value",
        "attr.=x": "needs a key",
        "from=2025-01-02T00:00:00&to=2025-01-01T00:00:00": "must be before its end",
        "from=yesterday": "Enter times as",
        "limit=0": "between 1 and 1000",
    }
    for query, message in cases.items():
        response = client.get(f"{shop['base']}?{query}")
        assert response.status_code == 400, query
        body = response.content.decode()
        assert message in body, (query, body[body.find("search-errors") :][:500])
        assert 'data-testid="search-errors"' in body
        assert 'data-testid="empty-state"' not in body


def test_empty_state(alice: Tenant, shop: dict[str, Any]) -> None:
    response = session_client(alice.owner).get(shop["base"], {"service": "nobody"})
    assert response.status_code == 200
    assert 'data-testid="empty-state"' in response.content.decode()
    assert "No traces in this range yet" in response.content.decode()


def test_distribution_api(alice: Tenant, shop: dict[str, Any]) -> None:
    client = session_client(alice.owner)
    url = f"/api/v1/orgs/{alice.slug}/projects/{alice.project.slug}/traces/distribution/"
    body = client.get(url, {"range": "ignored", "status": "error"}).json()
    assert [p["trace_id"] for p in body["points"]] == [shop["checkout"]]
    assert body["points"][0]["duration_ns"] == 80 * MS  # the longest matching (failed) span: POST /pay
    assert body["points"][0]["error"] is True
    points = {p["trace_id"]: p for p in client.get(url).json()["points"]}
    assert set(points) == {shop["checkout"], shop["home"]}
    assert points[shop["checkout"]]["duration_ns"] == 120 * MS  # the root span
    assert (points[shop["checkout"]]["error"], points[shop["home"]]["error"]) == (True, False)
    # The error flag is the trace's, like the table's, even when only its ok root span matches.
    by_root = {p["trace_id"]: p["error"] for p in client.get(url, {"service": "frontend"}).json()["points"]}
    assert by_root == {shop["checkout"]: True, shop["home"]: False}
    assert client.get(url, {"min_duration_ms": "x"}).status_code == 400
    assert client.get(url, {"limit": "6000"}).status_code == 400


def test_trace_view(alice: Tenant, shop: dict[str, Any]) -> None:
    response = session_client(alice.owner).get(shop["base"] + shop["checkout"] + "/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "3 spans" in page
    for name in ("frontend", "checkout", "payments"):
        assert f'data-service="{name}"' in page
    assert 'id="trace-data"' in page
    # The error started in payments (the deepest failed span without failed children) and went up to the root.
    propagation = page[page.index('data-testid="error-propagation"') :][:800]
    assert "Error started in <strong>payments</strong>" in propagation
    assert "card declined" in propagation
    assert re.search(r"<strong>checkout</strong> → <strong>frontend</strong>", propagation)
    assert "Other traces of GET /checkout" in page
    assert (
        'data-testid="error-propagation"'
        not in session_client(alice.owner).get(shop["base"] + shop["home"] + "/").content.decode()
    )


def test_unknown_or_malformed_trace_is_404(alice: Tenant, shop: dict[str, Any]) -> None:
    client = session_client(alice.owner)
    for trace_id in ("ab" * 16, "zz" * 16, "0" * 32, "abc", shop["checkout"][:-2]):
        response = client.get(shop["base"] + trace_id + "/")
        assert response.status_code == 404, trace_id
        assert b"Traceback" not in response.content
    assert client.get(f"{shop['base']}{shop['checkout']}/compare/{'ab' * 16}/").status_code == 404


def test_another_tenant_cannot_open_the_trace(alice: Tenant, bob: Tenant, shop: dict[str, Any]) -> None:
    url = f"/o/{bob.slug}/p/{bob.project.slug}/traces/{shop['checkout']}/"
    assert session_client(bob.owner).get(url).status_code == 404


def test_logs_tab_shows_the_correlated_log(alice: Tenant, shop: dict[str, Any]) -> None:
    charge = shop["charge"]
    log = LogRecord(
        resource=PAYMENTS,
        scope=SCOPE,
        time_ns=charge.start_ns + 5 * MS,
        observed_time_ns=charge.start_ns + 6 * MS,
        severity_number=17,
        severity_text="ERROR",
        body="card declined by acme",
        attributes={},
        trace_id=charge.trace_id,
        span_id=charge.span_id,
    )
    with transaction.atomic():
        write_logs(alice.organization.pk, alice.project.pk, [log])
    page = session_client(alice.owner).get(shop["base"] + shop["checkout"] + "/").content.decode()
    logs = page[page.index('data-testid="trace-logs"') :]
    assert "card declined by acme" in logs
    assert f'href="#span-{charge.span_id.hex()}"' in logs
    assert "Logs (1)" in page


def test_compare_page_and_form(alice: Tenant, shop: dict[str, Any]) -> None:
    client = session_client(alice.owner)
    checkout, home = shop["checkout"], shop["home"]
    response = client.get(shop["base"] + checkout + "/", {"compare": home.upper()})
    assert response.status_code == 302
    assert response["Location"] == f"{shop['base']}{checkout}/compare/{home}/"
    bad = client.get(shop["base"] + checkout + "/", {"compare": "nope"})
    assert bad.status_code == 400
    assert "is not a trace id" in bad.content.decode()

    page = client.get(response["Location"]).content.decode()
    table = page[page.index('data-testid="compare-table"') :]
    names = re.findall(r'<th scope="row">([^<]+)</th>', table)
    # Sorted by the largest difference: GET /checkout (-120 ms), POST /pay (-80), charge (-60), GET / (+5).
    assert names == ["GET /checkout", "POST /pay", "charge", "GET /"]
    assert 'data-diff-ms="-120.000"' in table
    assert 'data-diff-ms="5.000"' in table


def _s(span_id: str, parent: str | None, start: int, end: int, *, error: bool = False, service: str = "a") -> dict:
    return {
        "span_id": span_id,
        "parent_span_id": parent,
        "name": span_id,
        "service": service,
        "start_time_unix_nano": start,
        "end_time_unix_nano": end,
        "duration_ns": end - start,
        "status": {"code": 2 if error else 0, "message": ""},
        "events": [],
    }


def test_critical_path_walks_back_from_the_end() -> None:
    spans = [_s("r", None, 0, 100), _s("c1", "r", 0, 50), _s("c2", "r", 10, 40), _s("c3", "r", 55, 90),
             _s("c3a", "c3", 56, 70), _s("c3b", "c3", 60, 88)]  # fmt: skip
    children: dict[str | None, list[dict[str, Any]]] = {}
    for s in spans:
        children.setdefault(s["parent_span_id"], []).append(s)
    # From 100: c3 ends last (90); inside it c3b (88), then c3a ends at 70 > c3b's start 60, so it overlaps
    # and is clipped: still the one the point waited for. Back at the root from 55: c1 (50), then nothing
    # starts before 0; c2 ended while c1 still ran.
    assert critical_path(spans[0], children) == {"r", "c3", "c3b", "c3a", "c1"}


def test_waterfall_order_depth_and_error_origin() -> None:
    spans = [
        _s("root", None, 0, 100, error=True, service="front"),
        _s("mid", "root", 5, 90, error=True, service="cart"),
        _s("leaf", "mid", 10, 80, error=True, service="db"),
        _s("ok", "root", 1, 3, service="front"),
        _s("orphan", "missing", 20, 30, service="late"),
    ]
    spans.sort(key=lambda s: s["start_time_unix_nano"])
    tree = waterfall(spans)
    assert [(s["span_id"], s["depth"]) for s in tree["spans"]] == [
        ("root", 0), ("ok", 1), ("mid", 1), ("leaf", 2), ("orphan", 0),
    ]  # fmt: skip
    assert tree["propagation"]["origin"]["span_id"] == "leaf"
    assert tree["propagation"]["services"] == ["db", "cart", "front"]
    # "ok" ends before "mid" starts: the root waited for it too. The orphan is not under the root.
    assert {s["span_id"] for s in tree["spans"] if s["critical"]} == {"root", "mid", "leaf", "ok"}


def test_compare_lines_up_span_names() -> None:
    a = [_s("x", None, 0, 10), _s("y", "x", 0, 4)]
    b = [_s("x", None, 0, 30), _s("y", "x", 0, 4), _s("y", "x", 4, 8)]
    rows = compare(a, b)
    assert [(r["name"], r["count_a"], r["count_b"], r["diff_ms"]) for r in rows] == [
        ("x", 1, 1, 20 / 1e6),
        ("y", 1, 2, 4 / 1e6),
    ]
