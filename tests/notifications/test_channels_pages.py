"""The channel pages and the banner of disabled channels, through Django's test client."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from apps.notifications import services
from apps.notifications.models import Channel
from apps.tenants.roles import Role
from tests.conftest import Tenant
from tests.notifications.receivers import HttpReceiver, webhook_validator
from tests.notifications.test_transports import WEBHOOK_SECRET
from tests.support import fast_passwords  # noqa: F401 (fixture)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_passwords", "allow_loopback")]


@pytest.fixture
def webhook() -> Iterator[HttpReceiver]:
    with HttpReceiver(webhook_validator(WEBHOOK_SECRET)).running() as receiver:
        yield receiver


def browser(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def text(response: Any) -> str:
    """The page's visible text, whitespace collapsed (for assertions on sentences)."""
    html = response.content.decode()
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def test_empty_state_explains_channels_and_offers_adding_to_editors(bob: Tenant) -> None:
    url = f"/o/{bob.slug}/channels/"
    editor = browser(bob.members[Role.EDITOR]).get(url)
    assert editor.status_code == 200
    assert "A channel is one place Vigil sends notifications" in text(editor)
    assert f'href="/o/{bob.slug}/channels/new/"' in editor.content.decode()
    viewer = browser(bob.members[Role.VIEWER]).get(url)
    assert "alerts:write" in text(viewer)
    assert "/channels/new/" not in viewer.content.decode()
    assert browser(bob.members[Role.VIEWER]).get(url + "new/").status_code == 403


def test_add_a_webhook_then_test_it_and_see_the_result_inline(bob: Tenant, webhook: HttpReceiver) -> None:
    client = browser(bob.members[Role.EDITOR])
    chooser = client.get(f"/o/{bob.slug}/channels/new/")
    assert "?kind=webhook" in chooser.content.decode()
    form = client.get(f"/o/{bob.slug}/channels/new/?kind=webhook")
    assert 'name="config_secret"' in form.content.decode()
    assert re.search(r'name="config_secret"[^>]*value="whsec_', form.content.decode())  # generated for the user

    bad = {"kind": "webhook", "name": "hook", "config_url": "ftp://x", "config_secret": "short"}
    refused = client.post(f"/o/{bob.slug}/channels/new/", bad)
    assert refused.status_code == 400
    assert refused.content.decode().count('class="error"') >= 2  # each bad field says what is wrong
    assert not Channel.objects.for_organization(bob.organization.pk).exists()

    created = client.post(f"/o/{bob.slug}/channels/new/", {"kind": "webhook", "name": "hook",
                          "config_url": webhook.url + "/hooks/vigil", "config_secret": WEBHOOK_SECRET})  # fmt: skip
    channel = Channel.objects.for_organization(bob.organization.pk).get()
    assert created.status_code == 302
    assert created["Location"] == f"/o/{bob.slug}/channels/{channel.pk}/"

    tested = client.post(f"/o/{bob.slug}/channels/{channel.pk}/test/")
    assert tested.status_code == 302
    page = client.get(tested["Location"])
    assert "Test notification sent : HTTP 200 in" in text(page)
    assert webhook.received[0].json()["event"] == "test"

    detail = client.get(f"/o/{bob.slug}/channels/{channel.pk}/")
    assert "test: Test notification to hook" in text(detail)  # the delivery log
    assert WEBHOOK_SECRET not in detail.content.decode()
    assert "saved (hidden)" in text(detail)


def test_editing_keeps_an_empty_secret_and_enabling_clears_the_reason(bob: Tenant, webhook: HttpReceiver) -> None:
    channel = services.create_channel(bob.organization.pk, bob.owner, name="hook", kind="webhook",
                                      config={"url": webhook.url + "/a", "secret": WEBHOOK_SECRET})  # fmt: skip
    services.disable_channel(channel, "Webhook answered HTTP 410: gone")
    client = browser(bob.members[Role.EDITOR])
    form = client.get(f"/o/{bob.slug}/channels/{channel.pk}/edit/")
    assert WEBHOOK_SECRET not in form.content.decode()
    assert "Webhook answered HTTP 410: gone" in text(form)
    edited = {"name": "hook", "config_url": webhook.url + "/b", "config_secret": "", "enabled": "on"}
    saved = client.post(f"/o/{bob.slug}/channels/{channel.pk}/edit/", edited)
    assert saved.status_code == 302
    channel.refresh_from_db()
    assert channel.config == {"url": webhook.url + "/b", "secret": WEBHOOK_SECRET}
    assert (channel.enabled, channel.disabled_reason, channel.disabled_at) == (True, "", None)


def test_my_contact_methods_are_mine(bob: Tenant) -> None:
    viewer, analyst = bob.members[Role.VIEWER], bob.members[Role.ANALYST]
    client = browser(viewer)
    empty = client.get(f"/o/{bob.slug}/contact-methods/")
    assert "No contact methods yet" in text(empty)
    assert "Everyone's contact methods" not in text(empty)
    assert client.get(f"/o/{bob.slug}/contact-methods/new/?kind=webhook").status_code == 200  # the choice again
    added = client.post(f"/o/{bob.slug}/contact-methods/new/",
                        {"kind": "email", "name": "Work", "config_recipients": "viewer@example.org"})  # fmt: skip
    assert added.status_code == 302
    method = Channel.objects.for_organization(bob.organization.pk).get()
    assert method.user_id == viewer.pk
    assert "viewer@example.org" in text(client.get(f"/o/{bob.slug}/contact-methods/"))
    tested = client.post(f"/o/{bob.slug}/contact-methods/{method.pk}/test/")
    assert "Test notification sent" in text(client.get(tested["Location"]))

    other = browser(analyst)
    assert "viewer@example.org" not in text(other.get(f"/o/{bob.slug}/contact-methods/"))
    assert other.get(f"/o/{bob.slug}/contact-methods/{method.pk}/edit/").status_code == 404
    assert other.post(f"/o/{bob.slug}/contact-methods/{method.pk}/delete/").status_code == 404
    admin_page = text(browser(bob.members[Role.ADMIN]).get(f"/o/{bob.slug}/contact-methods/"))
    assert "Everyone's contact methods" in admin_page
    assert "Person Name Kind Status bob-viewer Work email enabled" in admin_page
    assert client.post(f"/o/{bob.slug}/contact-methods/{method.pk}/delete/").status_code == 302
    assert not Channel.objects.for_organization(bob.organization.pk).exists()


# --- The banner ---------------------------------------------------------------------------------------------------


def channel_queries(client: Client, url: str) -> tuple[Any, int]:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    return response, sum('"notifications_channel"' in query["sql"] for query in queries.captured_queries)


def test_admins_see_a_banner_naming_the_disabled_channel_on_every_page(bob: Tenant) -> None:
    channel = services.create_channel(bob.organization.pk, bob.owner, name="pager", kind="email",
                                      config={"recipients": ["a@example.org"]})  # fmt: skip
    services.disable_channel(channel, "SMTP answered 550: no such user")
    editor = browser(bob.members[Role.EDITOR])
    for url in (f"/o/{bob.slug}/projects/", f"/o/{bob.slug}/p/app/services/", f"/o/{bob.slug}/settings/members/"):
        response, queries = channel_queries(editor, url)
        assert response.status_code == 200, url
        assert 'data-testid="disabled-channels"' in response.content.decode(), url
        assert "Channel “pager” (email): SMTP answered 550: no such user" in text(response)
        assert f'href="/o/{bob.slug}/channels/{channel.pk}/edit/"' in response.content.decode()
        assert queries == 1, url  # the banner's one query (on the partial index)

    viewer_page, queries = channel_queries(browser(bob.members[Role.VIEWER]), f"/o/{bob.slug}/projects/")
    assert "disabled-channels" not in viewer_page.content.decode()  # viewers cannot fix it
    assert queries == 1

    login, queries = channel_queries(Client(), "/login/")
    assert login.status_code == 200
    assert queries == 0

    services.update_channel(channel, bob.owner, enabled=True)
    assert "disabled-channels" not in editor.get(f"/o/{bob.slug}/projects/").content.decode()


def test_a_person_sees_the_banner_for_their_own_disabled_contact_method(bob: Tenant) -> None:
    viewer = bob.members[Role.VIEWER]
    method = services.create_channel(bob.organization.pk, viewer, name="Mobile", kind="email",
                                     config={"recipients": ["v@example.org"]}, user=viewer)  # fmt: skip
    services.disable_channel(method, "SMTP answered 550: mailbox unavailable")
    page = browser(viewer).get(f"/o/{bob.slug}/projects/")
    assert "Your contact method “Mobile”" in text(page)
    assert f'href="/o/{bob.slug}/contact-methods/{method.pk}/edit/"' in page.content.decode()
    assert "Mobile" not in text(browser(bob.members[Role.ANALYST]).get(f"/o/{bob.slug}/projects/"))
    # A person disabling their own is their decision: no banner.
    services.update_channel(method, viewer, enabled=True)
    services.update_channel(method, viewer, enabled=False)
    assert Channel.objects.for_organization(bob.organization.pk).get().disabled_reason == ""
    assert "disabled-channels" not in browser(viewer).get(f"/o/{bob.slug}/projects/").content.decode()
