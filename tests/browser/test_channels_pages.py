"""The channel pages in Chromium: add a webhook channel through the form, send it a test, see the result inline."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path
from typing import Any

import pytest

from apps.notifications.models import Channel, Delivery
from tests.browser.test_services_pages import signed_in
from tests.conftest import Tenant, make_tenant
from tests.notifications.receivers import WEBHOOK_KEYS, HttpReceiver, webhook_validator

SECRET = "whsec-browser-0123456789abcdefghijklmn"


@pytest.mark.browser
@pytest.mark.usefixtures("allow_loopback")
def test_add_a_webhook_channel_and_send_a_test_notification(asgi_url: str, page: Any, screenshots: Path) -> None:
    tenant: Tenant = make_tenant("chanco")
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    signed_in(page, asgi_url, tenant.members["editor"])

    with HttpReceiver(webhook_validator(SECRET)).running() as receiver:
        page.goto(f"{asgi_url}/o/{tenant.slug}/channels/")
        assert "A channel is one place Vigil sends notifications" in page.get_by_test_id("empty-state").inner_text()
        page.screenshot(path=str(screenshots / "channels-empty.png"), full_page=True)
        page.get_by_role("link", name="Add channel").click()
        page.get_by_test_id("channel-kinds").get_by_role("link", name="Webhook").click()
        page.get_by_label("Name").fill("Deploy hook")
        page.get_by_label("URL", exact=True).fill(receiver.url + "/hooks/vigil")
        secret = page.get_by_label("Signing secret")
        assert secret.input_value().startswith("whsec_")  # one is generated; we use our receiver's
        secret.fill(SECRET)
        page.get_by_role("button", name="Add channel").click()
        page.wait_for_url("**/channels/*/")
        channel = Channel.objects.for_organization(tenant.organization.pk).get()
        assert (channel.name, channel.kind, channel.config["secret"]) == ("Deploy hook", "webhook", SECRET)

        page.get_by_role("button", name="Send test notification").click()
        result = page.get_by_test_id("test-result")
        assert "Test notification sent: HTTP 200" in " ".join(result.inner_text().split())
        assert "sent" in page.get_by_test_id("deliveries").locator("tbody tr").first.inner_text()
        page.screenshot(path=str(screenshots / "channel.png"), full_page=True)

        # The list, keyboard only: focus the row's button and press Enter.
        page.goto(f"{asgi_url}/o/{tenant.slug}/channels/")
        button = page.get_by_role("button", name="Send test notification to Deploy hook")
        button.focus()
        page.keyboard.press("Enter")
        page.wait_for_url("**/channels/?tested=*")
        row_result = page.get_by_test_id("channels").get_by_test_id("test-result")
        assert "sent" in row_result.inner_text()
        page.screenshot(path=str(screenshots / "channels.png"), full_page=True)

        assert receiver.problems == []
        assert len(receiver.received) == 2
        request = receiver.received[0]
        body = request.json()
        assert set(body) == WEBHOOK_KEYS  # the documented body (docs/notifications.md), nothing else
        assert (body["version"], body["event"], body["severity"], body["organization"]) == (1, "test", "info", "chanco")
        assert body["title"] == "Test notification to Deploy hook"
        assert body["details"] == {"channel": "Deploy hook", "sent_by": "chanco-editor"}
        signed = request.headers["x-vigil-timestamp"].encode() + b"." + request.body
        expected = "sha256=" + hmac.new(SECRET.encode(), signed, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(request.headers["x-vigil-signature"], expected)

    logged = Delivery.objects.for_organization(tenant.organization.pk).filter(channel=channel)
    assert sorted(logged.values_list("status", "subject")) == [("sent", "test"), ("sent", "test")]
    assert errors == []
