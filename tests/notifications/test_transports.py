"""Each transport's exact request, checked by a local receiver that validates what the real service expects.

No database: transports take a plain ``Notification`` and a config mapping. Receivers listen on
127.0.0.1, which the SSRF policy refuses unless ``VIGIL_OUTBOUND_ALLOWLIST`` allows it
(``allow_loopback`` of conftest.py). The receivers themselves are in receivers.py: they validate
each service's format, which conftest.py's general receiver does not.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from datetime import UTC, datetime
from typing import Any

import pytest
from django.core.exceptions import ValidationError

from apps.notifications.delivery import DeliveryResult, deliver
from apps.notifications.message import Notification
from apps.notifications.transports import registry
from apps.notifications.transports.base import DeliveryError
from apps.notifications.transports.digest import render_digest
from apps.notifications.transports.email import send_email
from apps.notifications.transports.sms import build_body
from tests.notifications.fixtures import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    ROUTING_KEY,
    SLACK_PATH,
    WEBHOOK_SECRET,
    pagerduty_config,
    slack_config,
    sms_config,
)
from tests.notifications.receivers import (
    HttpReceiver,
    SmtpReceiver,
    free_port,
    json_answer,
    text_answer,
    twilio_validator,
    validate_pagerduty,
    validate_slack,
    webhook_validator,
)


def notification(**overrides: Any) -> Notification:
    values: dict[str, Any] = {
        "event": "trigger",
        "dedup_key": "org-1:rule-7:incident-42",
        "title": "checkout p95 latency above 800 ms",
        "severity": "critical",
        "summary": "p95 was 1240 ms over the last 5 minutes (threshold 800 ms)",
        "details": {"p95_ms": 1240.0, "threshold_ms": 800, "service": "checkout", "env": "prod"},
        "source": "vigil: checkout p95",
        "links": {
            "incident": "https://vigil.example.com/o/acme/incidents/42/",
            "chart": "https://vigil.example.com/o/acme/p/shop/services/checkout/",
            "traces": "https://vigil.example.com/o/acme/p/shop/traces/?service=checkout",
            "runbook": "https://wiki.example.com/runbooks/checkout-latency",
            "acknowledge": "https://vigil.example.com/ack/42/sig-abc123/",
        },
        "timestamp": datetime(2026, 11, 29, 8, 0, tzinfo=UTC),
        "organization": "acme",
    }
    values.update(overrides)
    return Notification(**values)


class Sleeps(list[float]):
    """An injectable ``sleep`` that records the waits instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def send(kind: str, config: dict[str, Any], note: Notification, sleeps: Sleeps | None = None) -> DeliveryResult:
    return deliver(kind, config, note, sleep=sleeps if sleeps is not None else Sleeps())


def send_error(kind: str, config: dict[str, Any], note: Notification | None = None) -> DeliveryError:
    with pytest.raises(DeliveryError) as caught:
        registry.get(kind).send(config, note or notification())
    return caught.value


# --- Registry and configuration ----------------------------------------------------------------------------------


def test_registry_has_one_transport_per_kind() -> None:
    assert set(registry.TRANSPORTS) == {"slack", "pagerduty", "email", "sms", "webhook", "teams"}
    for kind, transport in registry.TRANSPORTS.items():
        assert transport.kind == kind
        assert transport.config_fields, kind
        assert registry.get(kind) is transport
    with pytest.raises(KeyError):
        registry.get("carrier-pigeon")


def test_config_validation_checks_urls_with_the_ssrf_policy(settings: Any) -> None:
    settings.VIGIL_OUTBOUND_ALLOWLIST = []
    with pytest.raises(ValidationError) as caught:
        registry.get("slack").validate_config({"webhook_url": "http://127.0.0.1:9/services/x"})
    assert "webhook_url" in caught.value.message_dict
    with pytest.raises(ValidationError) as caught:
        registry.get("webhook").validate_config({"url": "ftp://example.com/", "secret": "short", "extra": 1})
    assert set(caught.value.message_dict) == {"url", "secret", "extra"}

    settings.VIGIL_OUTBOUND_ALLOWLIST = ["127.0.0.1/32"]
    config = registry.get("pagerduty").validate_config({"routing_key": ROUTING_KEY})
    assert config == {"routing_key": ROUTING_KEY, "events_url": "https://events.pagerduty.com/v2/enqueue"}
    assert registry.get("email").validate_config({"recipients": "a@example.com, b@example.com"}) == {
        "recipients": ["a@example.com", "b@example.com"]
    }
    with pytest.raises(ValidationError):
        registry.get("email").validate_config({"recipients": ["not an address"]})
    sms = registry.get("sms")
    with pytest.raises(ValidationError):  # Twilio takes exactly one of From and MessagingServiceSid
        sms.validate_config({"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN, "to": "+15005550006"})
    assert sms.validate_config(
        {"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN, "to": "+15005550006", "from_number": "+15005550001"}
    )["api_url"].startswith("https://api.twilio.com")


# --- Slack ---------------------------------------------------------------------------------------------------------


def test_slack_trigger_is_valid_block_kit(slack: HttpReceiver) -> None:
    result = send("slack", slack_config(slack), notification())

    assert result.status == "sent", result
    assert (result.attempts, result.response_status, result.response_excerpt) == (1, 200, "ok")
    assert slack.problems == []
    message = slack.received[0].json()
    assert message["blocks"][0] == {
        "type": "header",
        "text": {"type": "plain_text", "text": "checkout p95 latency above 800 ms", "emoji": True},
    }
    attachment = message["attachments"][0]
    assert attachment["color"] == "#D92D20"
    fields = next(block["fields"] for block in attachment["blocks"] if "fields" in block)
    assert {"type": "mrkdwn", "text": "*p95_ms*\n1240"} in fields
    buttons = attachment["blocks"][-1]["elements"]
    assert [button["text"]["text"] for button in buttons] == [
        "View incident",
        "Chart",
        "Traces",
        "Runbook",
        "Acknowledge",
    ]
    assert buttons[-1]["url"] == "https://vigil.example.com/ack/42/sig-abc123/"


def test_slack_resolve_and_limits(slack: HttpReceiver) -> None:
    long_title = "x" * 400 + " <b>&"
    many_details = {f"label_{index}": "<v>" * 1000 for index in range(25)}
    note = notification(event="resolve", title=long_title, details=many_details, summary="s" * 5000)
    result = send("slack", slack_config(slack), note)

    assert result.status == "sent", (result, slack.problems)
    assert slack.problems == []
    message = slack.received[0].json()
    assert len(message["blocks"][0]["text"]["text"]) <= 150
    assert message["attachments"][0]["color"] == "#12B76A"
    labels = [button["text"]["text"] for button in message["attachments"][0]["blocks"][-1]["elements"]]
    assert "Acknowledge" not in labels  # nothing to acknowledge once resolved
    assert "&lt;v&gt;" in json.dumps(message)  # mrkdwn control characters escaped


@pytest.mark.parametrize(
    ("status", "code", "permanent"),
    [
        (400, "invalid_payload", True),
        (403, "action_prohibited", True),
        (404, "no_service", True),
        (410, "channel_is_archived", True),
        (429, "rate_limited", False),
        (500, "rollup_error", False),
    ],
)
def test_slack_errors(slack: HttpReceiver, status: int, code: str, permanent: bool) -> None:
    slack.script(text_answer(status, code))
    error = send_error("slack", slack_config(slack))
    assert (error.permanent, error.response_status) == (permanent, status)
    assert code in error.message
    assert "XXXXXXXX" not in error.message  # the webhook URL is the credential: never in the log


# --- PagerDuty -----------------------------------------------------------------------------------------------------


def test_pagerduty_trigger_acknowledge_resolve_share_the_dedup_key(pagerduty: HttpReceiver) -> None:
    config = pagerduty_config(pagerduty)
    results = [send("pagerduty", config, notification(event=event)) for event in ("trigger", "acknowledge", "resolve")]

    assert pagerduty.problems == []
    assert [result.status for result in results] == ["sent"] * 3
    assert {result.remote_id for result in results} == {"org-1:rule-7:incident-42"}
    assert [result.response_status for result in results] == [202] * 3
    trigger, acknowledge, resolve = (request.json() for request in pagerduty.received)
    assert trigger["event_action"] == "trigger"
    assert trigger["payload"]["severity"] == "critical"
    assert trigger["payload"]["component"] == "checkout"
    assert trigger["payload"]["custom_details"]["p95_ms"] == 1240.0
    assert trigger["payload"]["timestamp"] == "2026-11-29T08:00:00+00:00"
    assert trigger["client"] == "Vigil"
    assert trigger["client_url"] == "https://vigil.example.com/o/acme/incidents/42/"
    assert {"href": "https://wiki.example.com/runbooks/checkout-latency", "text": "Runbook"} in trigger["links"]
    assert acknowledge == {"routing_key": ROUTING_KEY, "event_action": "acknowledge", "dedup_key": trigger["dedup_key"]}
    assert resolve == {"routing_key": ROUTING_KEY, "event_action": "resolve", "dedup_key": trigger["dedup_key"]}


def test_pagerduty_test_event_resolves_itself_and_summary_is_capped(pagerduty: HttpReceiver) -> None:
    result = send("pagerduty", pagerduty_config(pagerduty), notification(event="test", summary="y" * 3000))
    assert result.status == "sent"
    assert pagerduty.problems == []
    assert [request.json()["event_action"] for request in pagerduty.received] == ["trigger", "resolve"]
    assert len(pagerduty.received[0].json()["payload"]["summary"]) <= 1024


@pytest.mark.parametrize(("status", "permanent"), [(400, True), (429, False), (500, False), (503, False)])
def test_pagerduty_errors(pagerduty: HttpReceiver, status: int, permanent: bool) -> None:
    answer = {"status": "invalid event", "message": "Event object is invalid", "errors": ["'routing_key' invalid"]}
    pagerduty.script(json_answer(status, answer if status == 400 else {"status": "throttled"}))
    error = send_error("pagerduty", pagerduty_config(pagerduty))
    assert (error.permanent, error.response_status) == (permanent, status)
    if status == 400:
        assert "'routing_key' invalid" in error.message


# --- Email (aiosmtpd) -----------------------------------------------------------------------------------------------


def test_email_has_plain_and_html_parts_subject_and_threading(smtp: SmtpReceiver) -> None:
    config = {"recipients": ["oncall@example.com", "sre@example.com"]}
    note = notification(title="<script>alert(1)</script> checkout", details={"path": "/a?b=<c>&d"})
    trigger = send("email", config, note)
    resolve = send("email", config, notification(event="resolve", title=note.title))

    assert (trigger.status, resolve.status) == ("sent", "sent")
    assert smtp.envelopes[0] == ("alerts@vigil.example.com", ["oncall@example.com", "sre@example.com"])
    first, second = smtp.messages
    assert first["Subject"] == "[critical] <script>alert(1)</script> checkout"
    assert first["Subject"] == second["Subject"]  # clients thread on the subject too
    assert first.get_content_type() == "multipart/alternative"
    plain = first.get_body(("plain",)).get_content()
    html = first.get_body(("html",)).get_content()
    assert "<script>alert(1)</script> checkout" in plain
    assert "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; checkout" in html
    assert "/a?b=&lt;c&gt;&amp;d" in html
    assert 'href="https://vigil.example.com/ack/42/sig-abc123/"' in html
    # Threading: own Message-IDs, one root per dedup_key.
    assert first["Message-ID"] != second["Message-ID"]
    assert first["Message-ID"].strip() == trigger.remote_id  # a long header may be folded
    assert first["In-Reply-To"] == second["In-Reply-To"] == first["References"] == second["References"]
    assert first["In-Reply-To"].endswith("@vigil.example.com>")
    other = send("email", config, notification(dedup_key="another-incident"))
    assert other.status == "sent"
    assert smtp.messages[2]["References"] != first["References"]
    assert first["Auto-Submitted"] == "auto-generated"


@pytest.mark.parametrize(("reply", "permanent"), [("550 5.1.1 no such user", True), ("451 4.3.0 try later", False)])
def test_email_smtp_refusals(smtp: SmtpReceiver, reply: str, permanent: bool) -> None:
    smtp.refuse_rcpt = reply
    error = send_error("email", {"recipients": ["oncall@example.com"]})
    assert error.permanent is permanent
    assert smtp.messages == []


def test_email_server_down_is_transient(settings: Any) -> None:
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", free_port()
    assert send_error("email", {"recipients": ["oncall@example.com"]}).permanent is False


def test_digest_renders_every_item_into_one_email(smtp: SmtpReceiver) -> None:
    items = [
        notification(severity="info", title=f"disk {index} <80%>", dedup_key=f"k{index}", details={"used": index})
        for index in range(5)
    ] + [notification(severity="warning", title="queue depth", dedup_key="kq")]
    rendered = render_digest("acme", items)

    assert rendered.subject == "[digest] 6 notifications from Vigil (acme)"
    assert rendered.text.index("queue depth") < rendered.text.index("disk 0")  # most severe first
    assert rendered.html.count("<li>") == 6
    assert "disk 3 &lt;80%&gt;" in rendered.html
    delivery = send_email(["oncall@example.com"], rendered)
    assert delivery.remote_id.startswith("<digest.")
    assert len(smtp.messages) == 1
    message = smtp.messages[0]
    assert message.get_body(("plain",)).get_content().count("https://vigil.example.com/o/acme/incidents/42/") == 6
    with pytest.raises(ValueError, match="at least one"):
        render_digest("acme", [])


# --- SMS (Twilio) -----------------------------------------------------------------------------------------------------


def test_sms_trigger_is_a_valid_twilio_message(twilio: HttpReceiver) -> None:
    result = send("sms", sms_config(twilio), notification())

    assert result.status == "sent", (result, twilio.problems)
    assert twilio.problems == []
    assert result.response_status == 201
    assert result.remote_id.startswith("SM")
    request = twilio.received[0]
    form = dict(item.split("=", 1) for item in request.body.decode().split("&"))
    assert form["To"] == "%2B15005550006"
    assert form["From"] == "%2B15005550001"


def test_sms_long_title_fits_one_segment_and_keeps_the_link(twilio: HttpReceiver) -> None:
    title = "checkout — “p95” latency above 800 ms on every single pod in the cluster … " * 6
    note = notification(title=title)
    body = build_body(note)
    assert len(body) <= 160
    assert body.endswith(" https://vigil.example.com/ack/42/sig-abc123/")
    assert "..." in body
    assert body.startswith('Vigil CRITICAL: checkout - "p95" latency')

    result = send("sms", {**sms_config(twilio), "messaging_service_sid": "MG" + "a" * 32, "from_number": None}, note)
    assert result.status == "sent"
    assert twilio.problems == []
    resolved = build_body(notification(event="resolve"))
    assert (
        resolved == "Vigil RESOLVED: checkout p95 latency above 800 ms https://vigil.example.com/o/acme/incidents/42/"
    )


@pytest.mark.parametrize(
    ("status", "code", "permanent"),
    [(400, 21211, True), (401, 20003, True), (404, 20404, True), (429, 20429, False), (500, 20500, False)],
)
def test_sms_errors(twilio: HttpReceiver, status: int, code: int, permanent: bool) -> None:
    twilio.script(json_answer(status, {"code": code, "message": "The 'To' number is not valid.", "status": status}))
    error = send_error("sms", sms_config(twilio))
    assert (error.permanent, error.response_status) == (permanent, status)
    assert str(code) in error.message


def test_sms_wrong_credentials_are_refused_by_the_receiver(twilio: HttpReceiver) -> None:
    error = send_error("sms", {**sms_config(twilio), "auth_token": "0" * 32})
    assert (error.permanent, error.response_status) == (True, 401)
    assert "0" * 32 not in error.message + error.response_excerpt


# --- Generic webhook -------------------------------------------------------------------------------------------------


def test_webhook_signature_verifies_as_documented(webhook: HttpReceiver) -> None:
    result = send("webhook", {"url": webhook.url + "/hooks/vigil", "secret": WEBHOOK_SECRET}, notification())

    assert result.status == "sent", (result, webhook.problems)
    assert webhook.problems == []
    request = webhook.received[0]
    # The recipe of docs/notifications.md, step by step.
    timestamp = request.headers["x-vigil-timestamp"]
    assert abs(time.time() - int(timestamp)) < 300
    signed = timestamp.encode() + b"." + request.body
    expected = "sha256=" + hmac.new(WEBHOOK_SECRET.encode(), signed, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(request.headers["x-vigil-signature"], expected)
    body = request.json()
    assert body == {
        "version": 1,
        "event": "trigger",
        "dedup_key": "org-1:rule-7:incident-42",
        "title": "checkout p95 latency above 800 ms",
        "severity": "critical",
        "summary": "p95 was 1240 ms over the last 5 minutes (threshold 800 ms)",
        "details": {"p95_ms": 1240.0, "threshold_ms": 800, "service": "checkout", "env": "prod"},
        "links": notification().links,
        "timestamp": "2026-11-29T08:00:00+00:00",
        "organization": "acme",
    }
    assert request.headers["x-vigil-event"] == "trigger"
    assert request.headers["user-agent"] == "Vigil-Webhook/1"


def test_webhook_wrong_secret_is_refused_and_nan_details_stay_json(webhook: HttpReceiver) -> None:
    config = {"url": webhook.url + "/hooks/vigil", "secret": "another-secret-0123456789abcdef"}
    error = send_error("webhook", config)
    assert (error.permanent, error.response_status) == (True, 401)
    assert "another-secret" not in error.message

    sent = send("webhook", {**config, "secret": WEBHOOK_SECRET}, notification(details={"ratio": float("nan")}))
    assert sent.status == "sent"
    assert webhook.received[-1].json()["details"] == {"ratio": "nan"}


@pytest.mark.parametrize(("status", "permanent"), [(302, True), (404, True), (408, False), (410, True), (502, False)])
def test_webhook_errors(webhook: HttpReceiver, status: int, permanent: bool) -> None:
    headers = {"Location": "http://127.0.0.1:1/elsewhere"} if status == 302 else {}
    webhook.script((status, headers, b"nope"))
    error = send_error("webhook", {"url": webhook.url + "/hooks/vigil", "secret": WEBHOOK_SECRET})
    assert error.permanent is permanent
    assert len(webhook.received) == 1  # a redirect is not followed


# --- Microsoft Teams ----------------------------------------------------------------------------------------------


def test_teams_posts_a_valid_adaptive_card(teams: HttpReceiver) -> None:
    result = send("teams", {"webhook_url": teams.url + "/workflows/abc/triggers/manual/run?sig=s3cr3t"}, notification())

    assert result.status == "sent", (result, teams.problems)
    assert teams.problems == []
    assert result.response_status == 202
    card = teams.received[0].json()["attachments"][0]["content"]
    assert card["body"][0]["text"] == "checkout p95 latency above 800 ms"
    assert card["body"][0]["color"] == "Attention"
    assert {"title": "service", "value": "checkout"} in card["body"][2]["facts"]
    assert [action["title"] for action in card["actions"]][-1] == "Acknowledge"

    teams.script(json_answer(400, {"error": {"code": "InvalidCard"}}))
    error = send_error("teams", {"webhook_url": teams.url + "/workflows/abc/triggers/manual/run?sig=s3cr3t"})
    assert error.permanent is True
    assert "s3cr3t" not in error.message


# --- deliver: retries, backoff, SSRF ---------------------------------------------------------------------------------


def test_deliver_retries_transient_errors_with_backoff(slack: HttpReceiver) -> None:
    slack.script(text_answer(503, "service_unavailable"), text_answer(503, "service_unavailable"))
    sleeps = Sleeps()
    result = send("slack", slack_config(slack), notification(), sleeps)

    assert (result.status, result.attempts, result.response_status) == ("sent", 3, 200)
    assert sleeps == [1, 4]
    assert len(slack.received) == 3
    assert slack.problems == []


def test_deliver_gives_up_after_the_last_attempt_and_honours_retry_after(pagerduty: HttpReceiver) -> None:
    pagerduty.script(*[(429, {"Retry-After": "7", "Content-Type": "application/json"}, b"{}")] * 4)
    sleeps = Sleeps()
    result = send("pagerduty", pagerduty_config(pagerduty), notification(), sleeps)

    assert (result.status, result.permanent, result.attempts, result.response_status) == ("failed", False, 4, 429)
    assert sleeps == [7, 7, 16]  # the longer of our backoff and the service's Retry-After
    assert result.latency_ms > 0
    json.dumps(result.as_log_fields())  # a log row stores it as is


def test_deliver_does_not_retry_permanent_errors(twilio: HttpReceiver) -> None:
    twilio.script(json_answer(400, {"code": 21211, "message": "The 'To' number is not a valid phone number."}))
    sleeps = Sleeps()
    result = send("sms", sms_config(twilio), notification(), sleeps)

    assert (result.status, result.permanent, result.attempts) == ("failed", True, 1)
    assert sleeps == []
    assert "21211" in result.error
    assert result.response_excerpt.startswith('{"code": 21211')


def test_deliver_refuses_a_private_url_without_retrying(settings: Any, connections: Any) -> None:
    settings.VIGIL_OUTBOUND_ALLOWLIST = []
    with HttpReceiver(validate_slack).running() as receiver:
        sleeps = Sleeps()
        result = send("slack", slack_config(receiver), notification(), sleeps)
        webhook_result = send("webhook", {"url": "http://10.0.0.5/hook", "secret": WEBHOOK_SECRET}, notification())

    assert (result.status, result.permanent, result.attempts) == ("failed", True, 1)
    assert sleeps == []
    assert receiver.received == []
    assert "XXXXXXXX" not in result.error
    assert (webhook_result.status, webhook_result.permanent) == ("failed", True)
    assert connections.attempts == []  # refused before any connection


def test_deliver_connection_refused_is_transient(allow_loopback: None) -> None:
    sleeps = Sleeps()
    result = send(
        "webhook", {"url": f"http://127.0.0.1:{free_port()}/", "secret": WEBHOOK_SECRET}, notification(), sleeps
    )
    assert (result.status, result.permanent, result.attempts) == ("failed", False, 4)
    assert sleeps == [1, 4, 16]


def test_deliver_unknown_kind_and_transport_bugs() -> None:
    unknown = deliver("carrier-pigeon", {}, notification())
    assert (unknown.status, unknown.permanent, unknown.attempts) == ("failed", True, 0)
    broken = deliver("slack", {}, notification())  # a config without its field: a bug, not the service
    assert (broken.status, broken.permanent, broken.attempts) == ("failed", False, 1)
    assert broken.error == "internal error: KeyError"


# --- The receivers refuse what the real services refuse (so a passing test means something) --------------------


def test_receivers_refuse_malformed_requests() -> None:
    from tests.notifications.receivers import Received

    def post(body: Any, content_type: str = "application/json", path: str = "/", **headers: str) -> Received:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        return Received("POST", path, {"content-type": content_type, **headers}, raw)

    header = {"type": "header", "text": {"type": "mrkdwn", "text": "x" * 151}}
    problems, answer = validate_slack(post({"text": "t", "blocks": [header]}, path=SLACK_PATH))
    assert answer[0] == 400
    assert any("plain_text" in problem for problem in problems)
    assert any("longer than 150" in problem for problem in problems)
    button = {"type": "button", "text": {"type": "plain_text", "text": "go"}, "url": "/relative"}
    message = {"blocks": [{"type": "actions", "elements": [button]}], "attachments": [{"color": "red"}]}
    problems, _ = validate_slack(post(message, path=SLACK_PATH))
    assert len(problems) == 3  # no text fallback, relative url, colour not #RRGGBB

    resolve_with_payload = {"routing_key": ROUTING_KEY, "event_action": "resolve", "dedup_key": "k", "payload": {}}
    assert validate_pagerduty(post(resolve_with_payload, path="/v2/enqueue"))[1][0] == 400
    bad_trigger = {"routing_key": "short", "event_action": "trigger", "payload": {"summary": "", "severity": "high"}}
    problems, answer = validate_pagerduty(post(bad_trigger, path="/v2/enqueue"))
    assert answer[0] == 400
    assert len(problems) == 4  # routing_key, summary, source, severity

    validate_twilio = twilio_validator(ACCOUNT_SID, AUTH_TOKEN)
    path = f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
    auth = "Basic " + base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()
    form = "application/x-www-form-urlencoded"
    long_body = b"To=%2B15005550006&From=%2B15005550001&Body=" + b"x" * 161
    problems, answer = validate_twilio(post(long_body, form, path, authorization=auth))
    assert answer[0] == 400
    assert problems == ["Body is 161 septets: more than one segment"]
    em_dash = b"To=%2B15005550006&From=%2B15005550001&Body=a%E2%80%94b"
    assert validate_twilio(post(em_dash, form, path, authorization=auth))[0][0].startswith("Body has characters")
    assert validate_twilio(post(long_body, form, path))[1][0] == 401

    stale = str(int(time.time()) - 301)
    problems, answer = webhook_validator(WEBHOOK_SECRET)(post({}, **{"x-vigil-timestamp": stale}))
    assert answer[0] == 401
