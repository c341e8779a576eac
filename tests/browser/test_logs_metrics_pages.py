"""The logs and metrics explorers in Chromium: charts draw, a record expands, its trace link opens the trace,
and a record ingested while the page is open appears (live tail)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from apps.ingest.auth import IngestPrincipal
from apps.ingest.pipeline import ingest_decoded
from apps.otlp.types import Decoded, MetricKind
from tests.apm.test_logs_page import CHECKOUT as LOG_RESOURCE
from tests.apm.test_logs_page import log
from tests.apm.test_logs_page import write as write_logs
from tests.apm.test_metrics_page import point
from tests.apm.test_metrics_page import write as write_metrics
from tests.apm.test_services_pages import CHECKOUT, span, store
from tests.browser.test_services_pages import signed_in
from tests.conftest import Tenant, make_tenant


def ingest_log(tenant: Tenant, record: Any) -> None:
    """Through the ingest pipeline, which announces new records after its commit. In a thread of its own:
    Playwright keeps an event loop in this one, where the channel layer's async_to_sync refuses to send."""

    def run() -> None:
        decoded = Decoded()
        decoded.logs = [record]
        try:
            ingest_decoded(IngestPrincipal(tenant.organization.pk, tenant.project.pk, 0), decoded)
        finally:
            connection.close()

    worker = threading.Thread(target=run)
    worker.start()
    worker.join(timeout=30)


def watch_errors(page: Any) -> list[str]:
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    return errors


@pytest.mark.browser
def test_logs_page_expands_links_and_tails(asgi_url: str, page: Any, screenshots: Path) -> None:
    tenant: Tenant = make_tenant("logco")
    root = span(CHECKOUT, "POST /checkout", 35, ago_s=90)
    store(tenant, [root])
    records = [log(f"request {i} handled", [9, 13, 17][i % 3], ago_s=100 + i * 40, attributes={"user.id": f"u-{i}"})
               for i in range(40)]  # fmt: skip
    records.append(log("payment declined", 17, ago_s=90, trace_id=root.trace_id, span_id=root.span_id,
                       attributes={"card": "visa"}))  # fmt: skip
    write_logs(tenant, records)
    errors = watch_errors(page)
    signed_in(page, asgi_url, tenant.members["viewer"])

    page.goto(f"{asgi_url}/o/{tenant.slug}/p/app/logs/?range=1h")
    page.wait_for_selector("[data-testid=log-volume] [data-chart][data-rendered=true]")
    bars = page.evaluate(
        "document.querySelector('[data-testid=log-volume] .js-plotly-plot').data"
        ".map(t => [t.name, t.y.reduce((a, b) => a + b, 0)])"
    )
    assert dict(bars) == {"info": 14, "warn": 13, "error": 14}
    assert page.get_by_test_id("log-record").count() == 41

    # Expand a record with the keyboard: its attributes and resource show.
    record = page.get_by_test_id("log-record").filter(has_text="payment declined")
    summary = record.locator("summary")
    summary.focus()
    page.keyboard.press("Enter")
    assert record.get_by_test_id("log-attributes").is_visible()
    assert '"card": "visa"' in record.get_by_test_id("log-attributes").inner_text()
    assert '"service.name": "checkout"' in record.get_by_test_id("log-resource").inner_text()
    page.screenshot(path=str(screenshots / "apm-logs.png"), full_page=True)

    # Its trace link opens the trace.
    record.get_by_test_id("log-trace-link").click()
    page.wait_for_url(f"**/traces/{root.trace_id.hex()}/")
    assert page.get_by_role("heading", level=1).count() == 1
    assert "POST /checkout" in page.content()

    # Live tail: a record ingested while the page is open appears at the top without a reload.
    page.goto(f"{asgi_url}/o/{tenant.slug}/p/app/logs/?range=1h")
    page.wait_for_selector("[data-live][data-live-connected=true]")
    ingest_log(tenant, log("fresh record from the pipeline", 21, ago_s=1, resource=LOG_RESOURCE))
    page.wait_for_selector("[data-testid=log-record] >> text=fresh record from the pipeline")
    assert "fresh record" in page.get_by_test_id("log-record").first.inner_text()
    page.wait_for_selector("[data-testid=log-volume] [data-chart][data-rendered=true]")
    names = page.evaluate("document.querySelector('[data-testid=log-volume] .js-plotly-plot').data.map(t => t.name)")
    assert "fatal" in names
    page.screenshot(path=str(screenshots / "apm-logs-live.png"), full_page=True)
    assert errors == []


@pytest.mark.browser
def test_metrics_page_draws_the_chart_and_links_to_traces(asgi_url: str, page: Any, screenshots: Path) -> None:
    tenant: Tenant = make_tenant("metricco")
    points = [
        point("http.requests", MetricKind.SUM, minute, value=10 * minute * minute + 5, temporality=2, monotonic=True,
              attributes={"route": route}, description="Requests served")
        for minute in range(8) for route in ("/pay", "/cart")
    ]  # fmt: skip
    points.append(point("queue.depth", MetricKind.GAUGE, 0, value=3))
    write_metrics(tenant, points)
    errors = watch_errors(page)
    signed_in(page, asgi_url, tenant.members["viewer"])

    page.goto(f"{asgi_url}/o/{tenant.slug}/p/app/metrics/?range=1h")
    assert page.get_by_test_id("metric-list").get_by_role("link").count() == 2
    # The name field completes from the page's list and, by prefix, from the names API.
    name = page.locator("input[name=name]")
    with page.expect_response(lambda response: "/metrics/names/?" in response.url) as asked:
        name.type("http.re", delay=20)
    assert [n["name"] for n in asked.value.json()["names"]] == ["http.requests"]
    name.fill("http.requests")
    page.get_by_role("button", name="Show").click()
    page.wait_for_selector("[data-testid=metric-chart] [data-chart][data-rendered=true]")
    assert page.get_by_test_id("metric-kind").inner_text() == "sum (monotonic counter)"
    assert page.locator("select[name=agg]").input_value() == "rate"

    page.locator("input[name=group_by]").fill("route")
    page.get_by_role("button", name="Show").click()
    page.wait_for_url("**group_by=route*")
    page.wait_for_selector("[data-testid=metric-chart] [data-chart][data-rendered=true]")
    lines = page.evaluate(
        "document.querySelector('[data-testid=metric-chart] .js-plotly-plot').data"
        ".map(t => [t.name, t.y.filter(v => v !== null).length])"
    )
    assert sorted(lines) == [["route=/cart", 8], ["route=/pay", 8]]
    page.screenshot(path=str(screenshots / "apm-metrics.png"), full_page=True)

    # A point opens the traces of its minute, of the series' service.
    url = page.evaluate("document.querySelector('[data-testid=metric-chart] .js-plotly-plot').data[0].customdata[2]")
    page.evaluate(
        "(() => { const div = document.querySelector('[data-testid=metric-chart] .js-plotly-plot');"
        " div.emit('plotly_click', {points: [{customdata: div.data[0].customdata[2]}]}); })()"
    )
    page.wait_for_url(f"{asgi_url}{url}")
    assert "/traces/" in page.url
    assert "service=checkout" in page.url
    assert errors == []
