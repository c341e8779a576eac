"""On-call pages in Chromium: an editor creates a schedule in the form and sees its calendar; a viewer cannot edit."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from apps.oncall.models import Schedule
from tests.browser.test_services_pages import signed_in
from tests.conftest import Tenant, make_tenant


@pytest.mark.browser
def test_create_a_schedule_and_see_its_calendar(asgi_url: str, page: Any, screenshots: Path) -> None:
    tenant: Tenant = make_tenant("rotaco")
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    signed_in(page, asgi_url, tenant.members["editor"])

    page.goto(f"{asgi_url}/o/{tenant.slug}/on-call/")
    assert "No on-call schedules yet" in page.get_by_test_id("empty-state").inner_text()
    page.get_by_role("link", name="Create the first schedule").click()
    page.wait_for_url("**/on-call/new/")
    page.fill("#id_name", "Platform")
    page.fill("#id_time_zone", "Europe/Berlin")
    page.select_option("#id_layers-0-rotation", "daily")
    started = (datetime.now(tz=UTC) - timedelta(days=15)).date()  # before the calendar's first day
    page.fill("#id_layers-0-start_date", started.isoformat())
    page.fill("#id_layers-0-members", "rotaco-editor, rotaco-owner")
    page.screenshot(path=str(screenshots / "oncall-schedule-form.png"), full_page=True)
    page.get_by_role("button", name="Create schedule").click()

    page.wait_for_selector("text=Schedule “Platform” created.")
    schedule = Schedule.objects.for_organization(tenant.organization.pk).get(name="Platform")
    assert page.url.endswith(f"/on-call/{schedule.pk}/")
    calendar = page.get_by_test_id("calendar")
    assert calendar.is_visible()
    final = page.get_by_test_id("calendar-row-final").get_by_test_id("shift")
    assert final.count() >= 14  # two weeks of daily turns
    names = {final.nth(n).inner_text() for n in range(final.count())}
    assert names == {"rotaco-editor", "rotaco-owner"}
    assert "rotaco-" in page.get_by_test_id("on-call-now").inner_text()
    assert page.get_by_test_id("shifts").locator("tbody tr").count() >= 14
    page.screenshot(path=str(screenshots / "oncall-schedule.png"), full_page=True)

    first_day = calendar.locator(".oc-day").first.inner_text()
    page.get_by_role("button", name="Next →").click()
    page.wait_for_url("**start=*")
    assert page.get_by_test_id("calendar").locator(".oc-day").first.inner_text() != first_day
    page.get_by_role("button", name="← Previous").click()
    page.wait_for_url("**start=*")
    assert page.get_by_test_id("calendar").locator(".oc-day").first.inner_text() == first_day

    page.context.clear_cookies()
    signed_in(page, asgi_url, tenant.members["viewer"])
    page.goto(f"{asgi_url}/o/{tenant.slug}/on-call/{schedule.pk}/")
    assert page.get_by_test_id("calendar-row-final").get_by_test_id("shift").count() >= 14
    assert page.get_by_role("link", name="Edit schedule").count() == 0
    assert page.get_by_test_id("override-form").count() == 0
    page.goto(f"{asgi_url}/o/{tenant.slug}/on-call/")
    assert page.get_by_role("link", name="New schedule").count() == 0
    assert page.get_by_test_id("schedules").get_by_role("link", name="Platform").count() == 1
    response = page.goto(f"{asgi_url}/o/{tenant.slug}/on-call/{schedule.pk}/edit/")
    assert response.status == 403
    assert "alerts:write" in page.content()
    assert [e for e in errors if "403" not in e] == []
