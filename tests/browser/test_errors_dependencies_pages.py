"""The errors and dependencies pages in Chromium: issues open, triage works, N+1 findings lead to their trace."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from apps.errors.models import ErrorGroup
from apps.otlp.types import SpanKind
from tests.apm.test_dependencies import SHOP, db, request, span, store
from tests.browser.test_services_pages import ingest, signed_in
from tests.conftest import Tenant, make_tenant
from tests.errors.test_issues import failing_span


@pytest.mark.browser
def test_errors_then_issue_then_triage_then_dependencies(asgi_url: str, page: Any, screenshots: Path) -> None:
    tenant: Tenant = make_tenant("errco")
    ingest(tenant, [failing_span(n, user=f"u-{n % 4}") for n in range(9)])
    root = request("GET /cart")
    loader = span(SHOP, "load items", 50, kind=SpanKind.INTERNAL, parent=root, ago_s=600)
    loop = [db(loader, f"SELECT * FROM items WHERE id = {j}", 1.0) for j in range(12)]  # noqa: S608 (span data)
    store(tenant, [root, loader, *loop])
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    signed_in(page, asgi_url, tenant.members["editor"])

    page.goto(f"{asgi_url}/o/{tenant.slug}/p/app/errors/")
    table = page.get_by_test_id("errors-table")
    assert table.locator("tbody tr").count() == 1
    assert "9" in table.locator("tbody tr td").first.inner_text()
    page.wait_for_selector("[data-chart][data-rendered=true]")
    page.screenshot(path=str(screenshots / "apm-errors.png"), full_page=True)

    table.get_by_role("link", name="shop.payments.PaymentDeclined").click()
    page.wait_for_selector("[data-testid=stacktrace]")
    assert page.get_by_test_id("issue-count").inner_text() == "9"
    assert page.get_by_test_id("example-traces").locator("a").count() == 9
    page.wait_for_selector("#occurrences-chart ~ [data-chart][data-rendered=true], [data-chart][data-rendered=true]")
    page.screenshot(path=str(screenshots / "apm-error.png"), full_page=True)
    page.get_by_role("button", name="Resolve").click()
    page.wait_for_selector("text=The issue is now resolved.")
    assert page.get_by_test_id("issue-status").inner_text() == "resolved"
    assert ErrorGroup.objects.for_organization(tenant.organization.pk).get().status == "resolved"
    page.get_by_test_id("example-traces").locator("a").first.click()
    page.wait_for_url("**/traces/*/")

    page.goto(f"{asgi_url}/o/{tenant.slug}/p/app/dependencies/")
    assert page.get_by_text("SELECT * FROM items WHERE id = ?").count() >= 1
    page.screenshot(path=str(screenshots / "apm-dependencies.png"), full_page=True)
    assert errors == []
