"""The service map in Chromium: drawn without errors, nodes and calls visible, reachable by keyboard, and a
click on a service opens its page. A 30-service map is drawn too, without overlapping nodes."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.db import transaction
from django.test import Client

from apps.otlp.types import Resource, Scope, Span, SpanKind
from apps.tracing.writers import write_spans
from tests.apm.test_service_map import write_shop
from tests.browser.test_services_pages import ingest
from tests.conftest import Tenant, make_tenant


def signed_in(page: Any, base_url: str, user: Any) -> None:
    """Give the browser the session of ``user`` (the sign-in form has its own test)."""
    client = Client()
    client.force_login(user)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME]
    page.context.add_cookies([{"name": cookie.key, "value": cookie.value, "url": base_url}])


def watch_errors(page: Any) -> list[str]:
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("requestfailed", lambda request: errors.append(f"{request.url}: {request.failure}"))
    return errors


@pytest.mark.browser
def test_map_draws_and_leads_to_the_service_page(asgi_url: str, page: Any, screenshots: Path) -> None:
    tenant: Tenant = make_tenant("mapco")
    write_shop(tenant)
    errors = watch_errors(page)
    signed_in(page, asgi_url, tenant.members["viewer"])

    page.goto(f"{asgi_url}/o/{tenant.slug}/p/app/map/")
    svg = page.get_by_test_id("service-map")
    assert svg.is_visible()
    nodes, edges = svg.locator(".map-node"), svg.locator(".map-edge")
    assert nodes.count() == 6
    assert edges.count() == 5
    for i in range(nodes.count()):
        assert nodes.nth(i).is_visible()
    for i in range(edges.count()):
        box = edges.nth(i).locator(".map-edge-line").bounding_box()
        assert box is not None
        assert box["width"] > 20, box
    assert page.get_by_role("link", name="Service payments, failing", exact=False).count() == 1
    page.screenshot(path=str(screenshots / "apm-service-map.png"), full_page=True)

    # Hover on a call: its tooltip, and the rest of the map steps back.
    edges.filter(has=page.locator("text=/min")).first.hover()
    tooltip = page.locator("[data-map-tooltip]")
    assert tooltip.is_visible()
    assert "→" in tooltip.inner_text()

    # Keyboard: Tab reaches the first node (in column order: frontend), its tooltip shows, Enter opens it.
    for _ in range(40):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.classList.contains('map-node')"):
            break
    else:
        pytest.fail("Tab never reached a node of the map")
    assert page.evaluate("document.activeElement.getAttribute('data-node')") == "frontend"
    assert tooltip.is_visible()
    assert tooltip.inner_text().startswith("frontend (service, degraded)")
    page.keyboard.press("Tab")  # then its call to checkout
    assert page.evaluate("document.activeElement.getAttribute('data-target')") == "checkout"
    page.screenshot(path=str(screenshots / "apm-service-map-focus.png"))

    svg.locator(".map-node[data-node=checkout]").click()
    page.wait_for_url("**/services/checkout/**")
    assert page.locator("h1").inner_text().strip().startswith("checkout")

    # Live: a new caller stored while the map is open appears, and its tooltip works (the map is set up again).
    page.goto(f"{asgi_url}/o/{tenant.slug}/p/app/map/")
    page.wait_for_selector("[data-live][data-live-connected=true]")
    root = _live_span("search", None)
    ingest(tenant, [root, _live_span("checkout", root)])
    page.wait_for_selector(".map-node[data-node=search]")
    page.locator(".map-node[data-node=search]").hover()
    assert page.locator("[data-map-tooltip]").inner_text().startswith("search")
    assert errors == []


def _live_span(service: str, parent: Any) -> Any:
    now = time.time_ns()
    return Span(resource=Resource({"service.name": service}), scope=Scope("tests"),
                trace_id=parent.trace_id if parent else os.urandom(16), span_id=os.urandom(8),
                parent_span_id=parent.span_id if parent else None, name="GET /search", kind=SpanKind.SERVER,
                start_ns=now, end_ns=now + 5_000_000, attributes={})  # fmt: skip


def _big_map(tenant: Tenant) -> int:
    """30 services in four levels, each calling two of the next, plus databases, caches and hosts."""
    now = time.time_ns() - 300 * 10**9
    names = [f"service-{i:02d}" for i in range(30)]
    levels = [names[:3], names[3:9], names[9:18], names[18:]]
    calls = [
        (caller, level[(k * 2 + j) % len(level)])
        for depth, level in enumerate(levels[1:], start=1)
        for k, caller in enumerate(levels[depth - 1])
        for j in range(2)
    ]
    calls += [(levels[3][k], levels[3][(k + 1) % len(levels[3])]) for k in range(0, len(levels[3]), 4)]
    calls += [(levels[2][0], levels[0][0])]  # a call back: a cycle
    spans = []

    def span(service: str, name: str, kind: int, parent: Span | None, attributes: dict[str, Any] | None = None) -> Span:
        return Span(
            resource=Resource({"service.name": service}), scope=Scope("tests"),
            trace_id=parent.trace_id if parent else os.urandom(16), span_id=os.urandom(8),
            parent_span_id=parent.span_id if parent else None, name=name, kind=kind, start_ns=now,
            end_ns=now + 20_000_000, attributes=attributes or {},
        )  # fmt: skip

    for caller, callee in calls:
        root = span(caller, "GET /", SpanKind.SERVER, None)
        client = span(caller, f"call {callee}", SpanKind.CLIENT, root)
        spans += [root, client, span(callee, "GET /", SpanKind.SERVER, client)]
    dependencies = [
        {"db.system": "postgresql", "db.name": "shop"},
        {"db.system": "redis"},
        {"messaging.system": "kafka", "messaging.destination.name": "orders"},
        {"server.address": "api.stripe.com"},
    ]
    for k, name in enumerate(levels[3]):
        root = span(name, "GET /", SpanKind.SERVER, None)
        spans += [root, span(name, "dependency", SpanKind.CLIENT, root, dependencies[k % len(dependencies)])]
    with transaction.atomic():
        write_spans(tenant.organization.pk, tenant.project.pk, spans)
    return len(names) + len(dependencies)


@pytest.mark.browser
def test_a_30_service_map_is_readable(asgi_url: str, page: Any, screenshots: Path) -> None:
    tenant: Tenant = make_tenant("bigmap")
    expected_nodes = _big_map(tenant)
    errors = watch_errors(page)
    signed_in(page, asgi_url, tenant.owner)
    page.goto(f"{asgi_url}/o/{tenant.slug}/p/app/map/")
    nodes = page.locator(".map-node")
    assert nodes.count() == expected_nodes
    boxes = [nodes.nth(i).locator(".map-node-shape").bounding_box() for i in range(nodes.count())]
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            assert a is not None
            assert b is not None
            apart = (
                a["x"] + a["width"] <= b["x"] + 1
                or b["x"] + b["width"] <= a["x"] + 1
                or a["y"] + a["height"] <= b["y"] + 1
                or b["y"] + b["height"] <= a["y"] + 1
            )
            assert apart, (a, b)
    # the entry services are in the first column, although one is called back from deeper down
    first = page.locator(".map-node[data-layer='0']")
    assert sorted(first.evaluate_all("els => els.map(e => e.dataset.node)")) == [
        "service-00",
        "service-01",
        "service-02",
    ]
    page.screenshot(path=str(screenshots / "apm-service-map-30.png"))  # what a visitor first sees
    page.add_style_tag(content=".map-wrap { max-height: none; overflow: visible; }")  # the whole map, unscrolled
    page.get_by_test_id("service-map").screenshot(path=str(screenshots / "apm-service-map-30-whole.png"))
    assert errors == []
