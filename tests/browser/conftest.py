"""Fixtures for browser tests: headless Debian Chromium driven by Playwright's sync API.

Playwright never downloads a browser here (no ``playwright install``): it
launches the system Chromium at /usr/bin/chromium.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-quic",
]

# Playwright's sync API keeps an asyncio event loop in this thread, so Django's
# ORM, which refuses to run synchronously while a loop runs, would raise
# SynchronousOnlyOperation when the test sets up or checks data between browser
# steps. Those queries really are synchronous and in their own thread; the
# guard does not apply. Set here only, for browser tests.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"


@pytest.fixture
def screenshots() -> Path:
    """Where the steps' screenshots go (var/ is git-ignored)."""
    directory = Path(settings.BASE_DIR) / "var" / "screenshots"
    directory.mkdir(parents=True, exist_ok=True)
    return directory


@pytest.fixture
def browser_page() -> Iterator[Any]:
    """A fresh page in a fresh context (no cookies or storage), light system theme, 1280x860."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"Chromium is not installed at {CHROMIUM} (make chromium installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1280, "height": 860}, color_scheme="light")
        context.set_default_timeout(15_000)
        page = context.new_page()
        try:
            yield page
        finally:
            context.close()
            browser.close()


@pytest.fixture
def page(asgi_url: str, browser_page: Any) -> Any:
    """The browser page, with a fresh database connection for the test (after the server and database fixtures).

    The previous browser test's server, stopping, ended every other connection to the test database
    (tests/asgi_server.py); under Playwright's event loop Django's connection is per context, so the one this
    test would reuse may be among them."""
    from django.db import connection

    connection.close()
    return browser_page
