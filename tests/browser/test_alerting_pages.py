"""The alerting pages in Chromium: a rule built in the form by keyboard and mouse, previewed, saved, muted; then
the analytics page with its chart."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from apps.alerting.models import AlertRule
from apps.core.scoping import tenant_scope
from tests.alerting.conftest import channel, spans, store
from tests.alerting.test_analytics import DAY, history
from tests.browser.test_services_pages import signed_in
from tests.conftest import Tenant, make_tenant


@pytest.mark.browser
def test_build_preview_and_save_a_rule_then_open_the_analytics(asgi_url: str, page: Any, screenshots: Path) -> None:
    tenant: Tenant = make_tenant("alertco")
    store(tenant, spans("checkout", [900.0] * 20, errors=15, ago_s=3 * 3600))
    with tenant_scope(tenant.organization.pk):
        team = channel(tenant, "email", {"recipients": ["oncall@example.com"]}, name="On-call mail")
        history(tenant)
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    signed_in(page, asgi_url, tenant.members["editor"])
    rules = f"{asgi_url}/o/{tenant.slug}/p/app/alert-rules/"

    page.goto(rules)
    page.get_by_role("link", name="New rule").first.click()
    page.wait_for_url("**/alert-rules/new/")
    page.get_by_label("Rule name").fill("checkout latency and errors")
    query = page.locator("[data-row=queries]").first
    assert query.get_by_label("Metric name").is_hidden()  # only the fields of the chosen source show
    query.get_by_label("Query name").fill("latency")
    query.get_by_label("Service").fill("checkout")

    # A second query, by keyboard: Enter on "Add query" focuses the new row's name.
    page.get_by_role("button", name="Add query").focus()
    page.keyboard.press("Enter")
    page.keyboard.type("errors")
    second = page.locator("[data-row=queries]").nth(1)
    assert second.get_by_label("Query name").evaluate("input => input === document.activeElement")
    second.get_by_label("Measure").select_option("error_rate")
    second.get_by_label("Service").fill("checkout")
    second.get_by_label("Source").select_option("metric")
    assert second.get_by_label("Metric name").is_visible()
    assert second.get_by_label("Measure").is_hidden()
    second.get_by_label("Source").select_option("red")

    conditions = page.locator("[data-row=conditions]")
    conditions.first.get_by_label("Query", exact=True).fill("latency")
    conditions.first.get_by_label("Critical at").fill("500")
    page.get_by_role("button", name="Add condition").focus()
    page.keyboard.press("Enter")
    page.keyboard.type("errors")
    conditions.nth(1).get_by_label("Is", exact=True).select_option(">=")
    conditions.nth(1).get_by_label("Critical at").fill("0.5")
    # One too many, removed by keyboard: focus moves to the remaining row's button, nothing is left behind.
    page.get_by_role("button", name="Add condition").focus()
    page.keyboard.press("Enter")
    assert conditions.count() == 3
    conditions.nth(2).get_by_role("button", name="Remove this condition").focus()
    page.keyboard.press("Enter")
    assert conditions.count() == 2
    assert page.evaluate("document.activeElement.textContent.trim()") == "Remove condition"
    page.get_by_label("On-call mail").check()
    page.screenshot(path=str(screenshots / "alerting-rule-form.png"), full_page=True)

    page.get_by_role("button", name="Preview").click()
    page.wait_for_selector("[data-testid=rule-preview] [data-chart][data-rendered=true]")
    assert page.get_by_test_id("fire-count").inner_text() == "1"
    assert AlertRule.objects.for_organization(tenant.organization.pk).count() == 2  # history's: a preview saves nothing
    assert page.locator("[data-row=conditions]").count() == 2  # the form comes back as typed
    page.get_by_test_id("rule-preview").screenshot(path=str(screenshots / "alerting-rule-preview.png"))

    page.get_by_role("button", name="Create rule").click()
    page.wait_for_url("**/alert-rules/*/")
    rule = AlertRule.objects.for_organization(tenant.organization.pk).get(name="checkout latency and errors")
    assert sorted(rule.queries) == ["errors", "latency"]
    assert rule.conditions == [{"query": "latency", "op": ">", "critical": 500},
                               {"query": "errors", "op": ">=", "critical": 0.5}]  # fmt: skip
    assert rule.channels == [team.pk]
    page.get_by_role("button", name="Mute for 1h").click()
    page.wait_for_selector("[data-testid=muted]")
    rule.refresh_from_db()
    assert rule.muted_until is not None
    page.wait_for_selector("[data-testid=rule-preview] [data-chart][data-rendered=true]")
    page.screenshot(path=str(screenshots / "alerting-rule.png"), full_page=True)

    start, end = DAY.strftime("%Y-%m-%dT%H:%M"), (DAY + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    page.goto(f"{asgi_url}/o/{tenant.slug}/alert-analytics/?from={start}&to={end}")
    page.wait_for_selector("#hours-chart ~ [data-chart][data-rendered=true], [data-chart][data-rendered=true]")
    assert page.get_by_test_id("fires").inner_text() == "4"
    assert page.get_by_test_id("mtta-mean").inner_text() == "5 min 40 s"
    page.get_by_test_id("rules-table").get_by_role("link", name="Rule", exact=True).focus()
    page.keyboard.press("Enter")
    page.wait_for_url("**sort=rule")
    assert page.get_by_test_id("rules-table").locator("th[aria-sort=ascending]").count() == 1
    page.screenshot(path=str(screenshots / "alerting-analytics.png"), full_page=True)
    assert errors == []
