"""The foundation's web UI end to end, in a real browser against the real ASGI app.

An owner signs in through the form, switches project with the switcher,
creates an ingest key and sees its plaintext exactly once, finds the
``ingest_key.created`` entry in the audit log (also through the time-range
picker) and toggles the theme. Every page must load only our own assets.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model

from apps.core.secrets import digest
from apps.tenants import services
from apps.tenants.models import IngestKey

PASSWORD = "correct horse battery staple"


def _demo_owner() -> None:
    """The demo layout (owner "demo", organization "Demo", projects "shop" and "api"), built with the services."""
    owner = get_user_model().objects.create_user("demo", email="demo@example.com", password=PASSWORD)
    organization = services.create_organization("Demo", owner, slug="demo")
    services.create_project(organization.pk, owner, name="shop", slug="shop")
    services.create_project(organization.pk, owner, name="api", slug="api")
    # A second organization, so the organization switcher has somewhere to go.
    services.create_organization("Side project", owner, slug="side")


@pytest.mark.browser
def test_owner_signs_in_creates_a_key_once_and_finds_it_in_the_audit_log(
    asgi_url: str, page: Any, screenshots: Path, settings: Any
) -> None:
    # The per-address failure count lives in Redis and every test client is 127.0.0.1: other
    # tests' failed logins must not lock this one out. (The server thread reads the same settings.)
    settings.VIGIL_LOGIN_MAX_ATTEMPTS = 1000
    _demo_owner()
    foreign: list[str] = []
    page.on("request", lambda request: None if request.url.startswith(asgi_url) else foreign.append(request.url))

    def shot(name: str) -> None:
        page.screenshot(path=str(screenshots / f"foundation-{name}.png"), full_page=True)

    # Anonymous visitors land on the sign-in form.
    page.goto(asgi_url + "/")
    assert page.url.startswith(asgi_url + "/login/")
    shot("01-login")

    # A wrong password is refused with the form's message, status 200 and no session.
    page.fill("#id_username", "demo")
    page.fill("#id_password", "not the password")
    page.click("button[type=submit]")
    assert page.locator(".alert-error").inner_text().startswith("That username and password do not match")

    page.fill("#id_username", "demo")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/o/(demo|side)/projects/$"))
    # "/" goes to the first organization by name: Demo.
    assert page.url == f"{asgi_url}/o/demo/projects/"
    table = page.locator("table")
    assert table.locator("tbody th").all_inner_texts() == ["api", "shop"]
    shot("02-projects")

    # The organization switcher lists both organizations and keeps the kind of page.
    page.click("[data-testid=org-switcher] summary")
    page.click("[data-testid=org-switcher] a:has-text('Side project')")
    page.wait_for_url(f"{asgi_url}/o/side/projects/")
    assert "No projects yet" in page.inner_text("main")
    page.click("[data-testid=org-switcher] summary")
    page.click("[data-testid=org-switcher] a:has-text('Demo')")
    page.wait_for_url(f"{asgi_url}/o/demo/projects/")

    # The project switcher: into "shop" (its services), then over to "api" on the same kind of page.
    page.click("[data-testid=project-switcher] summary")
    page.click("[data-testid=project-switcher] a:has-text('shop')")
    page.wait_for_url(f"{asgi_url}/o/demo/p/shop/services/")
    assert page.inner_text("[data-testid=project-switcher] .switcher-value") == "shop"
    page.click("[data-testid=manage-menu] summary")
    page.click("nav.mainnav a:has-text('Ingest keys')")
    page.wait_for_url(f"{asgi_url}/o/demo/p/shop/keys/")
    page.click("[data-testid=project-switcher] summary")
    shot("03-project-switcher")
    page.click("[data-testid=project-switcher] a:has-text('api')")
    page.wait_for_url(f"{asgi_url}/o/demo/p/api/keys/")
    assert page.inner_text("[data-testid=project-switcher] .switcher-value") == "api"
    assert "No ingest keys yet" in page.inner_text("main")

    # Create a key: the plaintext is shown once, on the page after the redirect.
    page.fill("#id_name", "browser agent")
    page.click("form.inline-form button[type=submit]")
    page.wait_for_url(f"{asgi_url}/o/demo/p/api/keys/created/")
    plaintext = page.inner_text("[data-testid=secret-value]").strip()
    assert plaintext.startswith("vik_")
    assert "won't see it again" in page.inner_text("main")
    key = IngestKey.objects.unscoped().get(key_hash=digest(plaintext))
    assert (key.project.slug, key.name, key.prefix) == ("api", "browser agent", plaintext[:12])
    shot("04-key-created")

    # Reloading the result page does not show it again (nor create another key): back to the list, prefix only.
    page.reload()
    page.wait_for_url(f"{asgi_url}/o/demo/p/api/keys/")
    assert plaintext not in page.content()
    assert "shown only once" in page.inner_text(".flashes")
    rows = page.locator("[data-testid=ingest-keys] tbody tr")
    assert rows.count() == 1
    assert key.prefix + "…" in rows.first.inner_text()
    # Revisiting the result page directly does not show it either.
    page.goto(f"{asgi_url}/o/demo/p/api/keys/created/")
    page.wait_for_url(f"{asgi_url}/o/demo/p/api/keys/")
    assert plaintext not in page.content()
    assert IngestKey.objects.unscoped().filter(project=key.project).count() == 1
    shot("05-keys-list")

    # The audit log has the entry, newest first, and keeps it under the 1h preset of the time-range picker.
    # On a project's page the organization's administration is in the "Manage" menu of the bar.
    page.click("[data-testid=manage-menu] summary")
    page.click("nav.mainnav a:has-text('Audit log')")
    page.wait_for_url(f"{asgi_url}/o/demo/audit/")
    first = page.locator("[data-testid=audit-log] tbody tr").first
    assert "ingest_key.created" in first.inner_text()
    assert key.prefix in first.inner_text()
    page.click(".timerange-presets button[value='1h']")
    page.wait_for_url(re.compile(r"/o/demo/audit/\?range=1h$"))
    assert page.get_attribute(".timerange-presets button[value='1h']", "aria-pressed") == "true"
    assert "ingest_key.created" in page.inner_text("[data-testid=audit-log]")
    # Filtering by an action prefix keeps the range and hides other actions.
    page.fill("input[name=action]", "ingest_key.")
    page.click(".filter-form button[type=submit]")
    page.wait_for_url(re.compile(r"range=1h.*action=ingest_key\.|action=ingest_key\..*range=1h"))
    actions = page.locator("[data-testid=audit-log] tbody th code").all_inner_texts()
    assert actions == ["ingest_key.created"]
    shot("06-audit-log")

    # The theme toggle switches to dark, is remembered across reloads, and switches back.
    html = page.locator("html")
    assert html.get_attribute("data-theme") is None  # follows the (light) system preference
    light_bg = page.evaluate("getComputedStyle(document.body).backgroundColor")
    page.click("#theme-toggle")
    assert html.get_attribute("data-theme") == "dark"
    assert page.evaluate("localStorage.getItem('vigil-theme')") == "dark"
    page.reload()
    assert html.get_attribute("data-theme") == "dark"
    dark_bg = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert dark_bg != light_bg
    shot("07-audit-log-dark")
    page.click("#theme-toggle")
    assert html.get_attribute("data-theme") == "light"
    assert page.evaluate("getComputedStyle(document.body).backgroundColor") == light_bg

    # plotly.js is served from our static files for the chart pages to come.
    assert page.request.get(asgi_url + "/static/vendor/plotly/plotly.min.js").ok

    assert foreign == [], f"pages loaded assets from elsewhere: {foreign}"
