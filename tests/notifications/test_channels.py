"""The channels and contact-methods API: validation by the transport, write-only secrets, test sends, the log."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from apps.notifications import services
from apps.notifications.models import Channel, Delivery
from apps.tenants.roles import Role
from tests.conftest import Tenant, session_client, token_client
from tests.notifications.receivers import HttpReceiver, text_answer, webhook_validator
from tests.notifications.test_transports import ACCOUNT_SID, AUTH_TOKEN, WEBHOOK_SECRET, notification
from tests.support import assert_error_shape, fast_passwords  # noqa: F401 (fixture)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_passwords", "allow_loopback")]


@pytest.fixture
def webhook() -> Iterator[HttpReceiver]:
    with HttpReceiver(webhook_validator(WEBHOOK_SECRET)).running() as receiver:
        yield receiver


def channels_url(tenant: Tenant, tail: str = "") -> str:
    return f"/api/v1/orgs/{tenant.slug}/channels/{tail}"


def methods_url(tenant: Tenant, tail: str = "") -> str:
    return f"/api/v1/orgs/{tenant.slug}/contact-methods/{tail}"


def hook_body(receiver: HttpReceiver, **overrides: Any) -> dict[str, Any]:
    body = {"name": "deploy hook", "kind": "webhook",
            "config": {"url": receiver.url + "/hooks/vigil", "secret": WEBHOOK_SECRET}}  # fmt: skip
    return {**body, **overrides}


def stored(tenant: Tenant, channel_id: int) -> Channel:
    return Channel.objects.for_organization(tenant.organization.pk).get(pk=channel_id)


def test_create_read_update_delete_with_write_only_secrets(bob: Tenant, webhook: HttpReceiver) -> None:
    client = session_client(bob.members[Role.EDITOR])
    created = client.post(channels_url(bob), hook_body(webhook), format="json")
    assert created.status_code == 201, created.content
    data = created.json()
    assert data["config"] == {"url": webhook.url + "/hooks/vigil", "secret": "********"}
    assert (data["kind"], data["enabled"], data["last_delivery"], data["created_by"]) == ("webhook", True, None,
                                                                                         "bob-editor")  # fmt: skip
    assert WEBHOOK_SECRET not in created.content.decode()
    channel_url = channels_url(bob, f"{data['id']}/")

    viewer = session_client(bob.members[Role.VIEWER])
    listing = viewer.get(channels_url(bob)).json()
    assert [c["name"] for c in listing["results"]] == ["deploy hook"]
    assert WEBHOOK_SECRET not in str(listing)
    assert viewer.get(channel_url).json()["config"]["secret"] == "********"

    # A PATCH that leaves the secret out, or sends the mask back, keeps it.
    new_url = webhook.url + "/hooks/v2"
    assert client.patch(channel_url, {"config": {"url": new_url}}, format="json").status_code == 200
    assert stored(bob, data["id"]).config == {"url": new_url, "secret": WEBHOOK_SECRET}
    response = client.patch(channel_url, {"name": "hook", "config": {"url": new_url, "secret": "********"}},
                            format="json")  # fmt: skip
    assert response.json()["name"] == "hook"
    assert stored(bob, data["id"]).config["secret"] == WEBHOOK_SECRET
    rotated = "whsec-rotated-0123456789abcdefghijkl"
    response = client.patch(channel_url, {"config": {"url": new_url, "secret": rotated}}, format="json")
    assert response.status_code == 200, response.content
    assert stored(bob, data["id"]).config["secret"] == rotated

    assert client.patch(channel_url, {"enabled": False}, format="json").json()["enabled"] is False
    assert client.delete(channel_url).status_code == 204
    assert not Channel.objects.for_organization(bob.organization.pk).exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "x", "kind": "carrier-pigeon", "config": {}}, "kind"),
        ({"name": "x", "kind": "webhook", "config": {"url": "ftp://example.com/", "secret": WEBHOOK_SECRET}},
         "config.url"),
        ({"name": "x", "kind": "webhook", "config": {"url": "https://example.com/"}}, "config.secret"),
        ({"name": "x", "kind": "webhook", "config": "https://example.com/"}, "config"),
        ({"name": "x", "kind": "email", "config": {"recipients": ["nobody"], "digest_minutes": 5000}},
         "config.digest_minutes"),
        ({"name": "x", "kind": "email", "config": {"recipients": ["a@example.com"], "colour": "red"}},
         "config.colour"),
        ({"name": "", "kind": "email", "config": {"recipients": ["a@example.com"]}}, "name"),
        ({"name": "x", "kind": ["email"], "config": {}}, "kind"),
    ],
)  # fmt: skip
def test_bad_input_is_400_naming_the_field_and_writes_nothing(bob: Tenant, body: dict[str, Any], field: str) -> None:
    response = session_client(bob.owner).post(channels_url(bob), body, format="json")
    error = assert_error_shape(response, 400)
    assert field in error["details"], error
    assert error["details"][field]
    assert not Channel.objects.for_organization(bob.organization.pk).exists()


def test_names_are_unique_and_the_kind_is_fixed(bob: Tenant, webhook: HttpReceiver) -> None:
    client = session_client(bob.owner)
    first = client.post(channels_url(bob), hook_body(webhook), format="json").json()
    error = assert_error_shape(client.post(channels_url(bob), hook_body(webhook), format="json"), 400)
    assert "already named" in error["details"]["name"][0]
    error = assert_error_shape(
        client.patch(channels_url(bob, f"{first['id']}/"), {"kind": "slack"}, format="json"), 400
    )
    assert "kind" in error["details"]
    assert stored(bob, first["id"]).kind == "webhook"


def test_send_test_answers_the_result_and_logs_it(bob: Tenant, webhook: HttpReceiver) -> None:
    client = token_client(bob.members[Role.EDITOR], bob.slug)
    channel = client.post(channels_url(bob), hook_body(webhook), format="json").json()

    answer = client.post(channels_url(bob, f"{channel['id']}/test/"))
    assert answer.status_code == 200
    result = answer.json()
    assert (result["status"], result["event"], result["subject"], result["response_status"]) == ("sent", "test",
                                                                                               "test", 200)  # fmt: skip
    assert (result["attempts"], result["permanent"], result["error"]) == (1, False, "")
    assert webhook.problems == []
    body = webhook.received[0].json()
    assert (body["event"], body["severity"], body["details"]["sent_by"]) == ("test", "info", "bob-editor")

    webhook.script(text_answer(404, "no such hook"))
    failed = client.post(channels_url(bob, f"{channel['id']}/test/")).json()
    assert (failed["status"], failed["permanent"], failed["response_status"]) == ("failed", True, 404)
    assert "404" in failed["error"]
    assert stored(bob, channel["id"]).enabled  # a test never disables: the person testing sees the failure

    log = client.get(channels_url(bob, f"{channel['id']}/deliveries/"), {"page_size": 1}).json()
    assert log["count"] == 2
    assert log["next"]
    assert [d["status"] for d in log["results"]] == ["failed"]  # newest first
    listed = client.get(channels_url(bob)).json()["results"][0]
    assert (listed["last_delivery"]["status"], listed["last_delivery"]["id"]) == ("failed", failed["id"])


def test_deliveries_are_the_channels_own(bob: Tenant, webhook: HttpReceiver) -> None:
    client = session_client(bob.owner)
    one = client.post(channels_url(bob), hook_body(webhook), format="json").json()
    two = client.post(channels_url(bob), hook_body(webhook, name="other"), format="json").json()
    services.enqueue(stored(bob, one["id"]), notification(), subject="incident:1")
    log = client.get(channels_url(bob, f"{two['id']}/deliveries/")).json()
    assert log["count"] == 0
    assert client.get(channels_url(bob, f"{one['id']}/deliveries/")).json()["results"][0]["status"] == "pending"


# --- Contact methods --------------------------------------------------------------------------------------------


def sms_body(**overrides: Any) -> dict[str, Any]:
    config = {"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN, "to": "+15005550006",
              "from_number": "+15005550001"}  # fmt: skip
    return {"name": "Mobile", "kind": "sms", "config": config, **overrides}


def test_every_member_manages_their_own_contact_methods_only(bob: Tenant) -> None:
    viewer, analyst, admin = (bob.members[r] for r in (Role.VIEWER, Role.ANALYST, Role.ADMIN))
    mine = session_client(viewer)
    email = {"name": "Work email", "kind": "email", "config": {"recipients": ["viewer@example.org"]}}
    created = mine.post(methods_url(bob), email, format="json")
    assert created.status_code == 201, created.content
    method = created.json()
    assert method["user"] == "bob-viewer"
    sms = mine.post(methods_url(bob), sms_body(), format="json").json()
    assert sms["config"]["auth_token"] == "********"
    error = assert_error_shape(mine.post(methods_url(bob), {"name": "hook", "kind": "webhook", "config": {}},
                                         format="json"), 400)  # fmt: skip
    assert "kind" in error["details"]
    # Another person may use the same name for their own.
    assert session_client(analyst).post(methods_url(bob), sms_body(), format="json").status_code == 201

    theirs = session_client(analyst)
    assert [m["user"] for m in theirs.get(methods_url(bob)).json()["results"]] == ["bob-analyst"]
    for method_name in ("get", "patch", "delete"):
        response = getattr(theirs, method_name)(methods_url(bob, f"{method['id']}/"), {"name": "x"}, format="json")
        assert_error_shape(response, 404)
    assert_error_shape(theirs.post(methods_url(bob, f"{method['id']}/test/")), 404)

    # Admins (alerts:write) see everyone's, to set up escalation, but change only their own.
    everyone = session_client(admin).get(methods_url(bob)).json()
    assert sorted(m["user"] for m in everyone["results"]) == ["bob-analyst", "bob-viewer", "bob-viewer"]
    assert session_client(admin).get(methods_url(bob, f"{method['id']}/")).status_code == 200
    assert_error_shape(session_client(admin).patch(methods_url(bob, f"{method['id']}/"), {"name": "x"},
                                                   format="json"), 404)  # fmt: skip

    renamed = mine.patch(methods_url(bob, f"{method['id']}/"), {"name": "Email"}, format="json")
    assert renamed.json()["name"] == "Email"
    assert mine.post(methods_url(bob, f"{method['id']}/test/")).json()["status"] == "sent"  # locmem email
    assert mine.delete(methods_url(bob, f"{method['id']}/")).status_code == 204
    # Contact methods are not team channels.
    assert session_client(admin).get(channels_url(bob)).json()["count"] == 0


def test_a_test_send_to_a_deleted_channel_leaves_the_log(bob: Tenant) -> None:
    channel = services.create_channel(bob.organization.pk, bob.owner, name="mail", kind="email",
                                      config={"recipients": ["a@example.org"]})  # fmt: skip
    services.send_test(channel, bob.owner)
    services.delete_channel(channel, bob.owner)
    assert list(Delivery.objects.for_organization(bob.organization.pk).values_list("status", "channel_id")) == [
        ("sent", None)
    ]
