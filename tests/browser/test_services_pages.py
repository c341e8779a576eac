"""The services overview and the service page in Chromium: charts draw, links lead to the traces behind them."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.test import Client

from apps.ingest.auth import IngestPrincipal
from apps.ingest.pipeline import ingest_decoded
from apps.otlp.types import Decoded, Resource, SpanKind
from tests.apm.test_services_pages import CHECKOUT, FRONTEND, span, store
from tests.conftest import Tenant, make_tenant


def signed_in(page: Any, base_url: str, user: Any) -> None:
    """Give the browser the session of ``user`` (the sign-in form has its own test)."""
    client = Client()
    client.force_login(user)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME]
    page.context.add_cookies([{"name": cookie.key, "value": cookie.value, "url": base_url}])


@pytest.mark.browser
def test_services_then_service_page_then_traces(asgi_url: str, page: Any, screenshots: Path) -> None:
    tenant: Tenant = make_tenant("shopco")
    spans = []
    for i in range(120):
        root = span(FRONTEND, "GET /cart", 40 + i, error=i % 30 == 0, ago_s=20 + i * 25)
        client = span(FRONTEND, "POST /checkout", 30, kind=SpanKind.CLIENT, parent=root, ago_s=20 + i * 25)
        db = span(Resource({"service.name": "checkout"}), "SELECT", 5, kind=SpanKind.CLIENT, parent=client,
                  ago_s=20 + i * 25, attributes={"db.system": "postgresql", "db.name": "shop"})  # fmt: skip
        spans += [root, client, span(CHECKOUT, "POST /checkout", 25, parent=client, ago_s=20 + i * 25), db]
    store(tenant, spans)
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    # A visitor who is not signed in is sent to the sign-in page, and back after it.
    page.goto(f"{asgi_url}/o/{tenant.slug}/p/app/services/")
    assert page.url.startswith(f"{asgi_url}/login/")
    assert "next=/o/shopco/p/app/services/" in page.url
    signed_in(page, asgi_url, tenant.members["viewer"])

    page.goto(f"{asgi_url}/o/{tenant.slug}/p/app/services/?range=1h")
    table = page.get_by_test_id("services-table")
    assert table.locator("tbody tr").count() == 2
    page.wait_for_selector("[data-chart][data-rendered=true]")
    assert page.locator(".js-plotly-plot").count() == 2  # one sparkline per service
    page.screenshot(path=str(screenshots / "apm-services.png"), full_page=True)

    table.get_by_role("link", name="frontend").click()
    page.wait_for_url("**/services/frontend/**")
    page.wait_for_function("document.querySelectorAll('[data-testid=red-charts] [data-rendered=true]').length === 3")
    points = page.evaluate(
        "Array.from(document.querySelectorAll('[data-testid=red-charts] .js-plotly-plot'))"
        ".map(div => div.data[0].y.filter(v => v).length)"
    )
    assert all(count > 0 for count in points), points
    assert page.get_by_test_id("operations-table").get_by_role("link", name="GET /cart").count() == 1
    assert page.get_by_role("link", name="checkout").count() >= 1
    page.screenshot(path=str(screenshots / "apm-service.png"), full_page=True)

    # A click on a chart point opens the traces of that minute (plotly's click event, as a user's click fires it).
    url = page.evaluate(
        "(() => { const div = document.querySelector('[data-testid=red-charts] .js-plotly-plot');"
        " const i = div.data[0].y.findIndex(v => v > 0); return div.data[0].customdata[i]; })()"
    )
    page.evaluate(
        "(() => { const div = document.querySelector('[data-testid=red-charts] .js-plotly-plot');"
        " const i = div.data[0].y.findIndex(v => v > 0);"
        " div.emit('plotly_click', {points: [{customdata: div.data[0].customdata[i]}]}); })()"
    )
    page.wait_for_url(f"{asgi_url}{url}")
    assert "/traces/" in page.url
    assert "service=frontend" in page.url

    # Live: spans stored while the overview is open appear without a reload; paused, nothing changes.
    page.goto(f"{asgi_url}/o/{tenant.slug}/p/app/services/?range=1h")
    page.wait_for_selector("[data-live][data-live-connected=true]")
    ingest(tenant, [span(Resource({"service.name": "search"}), "GET /search", 12)])
    page.wait_for_selector("[data-testid=services-table] >> text=search")
    assert page.get_by_test_id("services-table").locator("tbody tr").count() == 3
    page.get_by_role("button", name="Live").click()
    assert page.get_by_role("button", name="Paused").get_attribute("aria-pressed") == "false"
    ingest(tenant, [span(Resource({"service.name": "recommendations"}), "GET /recs", 12)])
    page.wait_for_timeout(2500)
    assert page.get_by_test_id("services-table").locator("tbody tr").count() == 3
    page.screenshot(path=str(screenshots / "apm-services-live.png"), full_page=True)
    assert errors == []


def ingest(tenant: Tenant, spans: list[Any]) -> None:
    """Through the ingest pipeline, which announces the new data after its commit. In a thread of its own,
    as the server runs it: Playwright's event loop in this thread would refuse the channel layer's call."""
    principal = IngestPrincipal(tenant.organization.pk, tenant.project.pk, 0)
    decoded = Decoded()
    decoded.spans = spans
    with ThreadPoolExecutor(1) as pool:
        pool.submit(ingest_decoded, principal, decoded).result()
