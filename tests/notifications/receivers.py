"""Local stand-ins for Slack, PagerDuty, Twilio, Teams, a webhook consumer and an SMTP server.

Each HTTP receiver checks a request field by field against what the real service documents and
answers as that service would: its success answer, or its documented error for a bad request.
Every problem found is kept in ``receiver.problems``, so a test asserts both that the transport's
request was accepted and that nothing about it was off. ``receiver.script(...)`` forces the next
answers (errors, retries) after validation.

Written independently of the transports on purpose: nothing here imports from apps.notifications.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from aiosmtpd.controller import Controller

Answer = tuple[int, dict[str, str], bytes]


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    headers: dict[str, str]  # names lower-cased
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class HttpReceiver:
    """An HTTP server on 127.0.0.1 (free port) answering through ``validate``."""

    validate: Callable[[Received], tuple[list[str], Answer]]
    received: list[Received] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    scripted: deque[Answer] = field(default_factory=deque)
    url: str = ""

    def script(self, *answers: Answer) -> None:
        self.scripted.extend(answers)

    def handle(self, request: Received) -> Answer:
        self.received.append(request)
        problems, answer = self.validate(request)
        self.problems.extend(problems)
        return self.scripted.popleft() if self.scripted else answer

    @contextmanager
    def running(self) -> Iterator[HttpReceiver]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                request = Received(
                    method=self.command,
                    path=self.path,
                    headers={name.lower(): value for name, value in self.headers.items()},
                    body=self.rfile.read(length),
                )
                status, headers, body = receiver.handle(request)
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_POST = do_GET = do_PUT = _answer

            def log_message(self, format: str, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        thread.start()
        self.url = f"http://127.0.0.1:{server.server_address[1]}"
        try:
            yield self
        finally:
            server.shutdown()
            server.server_close()
            thread.join(timeout=5)


def free_port() -> int:
    """A port nothing listens on right now (aiosmtpd refuses port 0, so bind one first)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def json_answer(status: int, data: Any) -> Answer:
    return status, {"Content-Type": "application/json"}, json.dumps(data).encode()


def text_answer(status: int, text: str) -> Answer:
    return status, {"Content-Type": "text/plain"}, text.encode()


def _media_type(request: Received) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


def _absolute_url(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def _is_iso8601(value: Any) -> bool:
    try:
        return isinstance(value, str) and datetime.fromisoformat(value).tzinfo is not None
    except ValueError:
        return False


# --- Slack: https://api.slack.com/messaging/webhooks, https://api.slack.com/reference/block-kit ---------------


def _slack_text_object(where: str, value: Any, limit: int, *, plain_only: bool = False) -> list[str]:
    if not isinstance(value, dict):
        return [f"{where}: not a text object"]
    problems = []
    allowed = ("plain_text",) if plain_only else ("plain_text", "mrkdwn")
    if value.get("type") not in allowed:
        problems.append(f"{where}.type {value.get('type')!r} not in {allowed}")
    text = value.get("text")
    if not isinstance(text, str) or not text:
        problems.append(f"{where}.text missing")
    elif len(text) > limit:
        problems.append(f"{where}.text longer than {limit}")
    if "emoji" in value and value.get("type") != "plain_text":
        problems.append(f"{where}: emoji is only for plain_text")
    if set(value) - {"type", "text", "emoji", "verbatim"}:
        problems.append(f"{where}: unknown keys {set(value) - {'type', 'text', 'emoji', 'verbatim'}}")
    return problems


def _slack_block(where: str, block: Any, action_ids: set[str]) -> list[str]:  # noqa: PLR0912 (one check per documented rule)
    if not isinstance(block, dict):
        return [f"{where}: not an object"]
    problems: list[str] = []
    kind = block.get("type")
    if "block_id" in block and (not isinstance(block["block_id"], str) or len(block["block_id"]) > 255):
        problems.append(f"{where}.block_id invalid")
    if kind == "header":
        problems += _slack_text_object(f"{where}.text", block.get("text"), 150, plain_only=True)
    elif kind == "section":
        if "text" not in block and "fields" not in block:
            problems.append(f"{where}: a section needs text or fields")
        if "text" in block:
            problems += _slack_text_object(f"{where}.text", block["text"], 3000)
        if "fields" in block:
            fields = block["fields"]
            if not isinstance(fields, list) or not 1 <= len(fields) <= 10:
                problems.append(f"{where}.fields must hold 1 to 10 items")
            else:
                for index, item in enumerate(fields):
                    problems += _slack_text_object(f"{where}.fields[{index}]", item, 2000)
    elif kind == "context":
        elements = block.get("elements")
        if not isinstance(elements, list) or not 1 <= len(elements) <= 10:
            problems.append(f"{where}.elements must hold 1 to 10 items")
        else:
            for index, element in enumerate(elements):
                problems += _slack_text_object(f"{where}.elements[{index}]", element, 3000)
    elif kind == "actions":
        elements = block.get("elements")
        if not isinstance(elements, list) or not 1 <= len(elements) <= 25:
            return [*problems, f"{where}.elements must hold 1 to 25 items"]
        for index, button in enumerate(elements):
            at = f"{where}.elements[{index}]"
            if not isinstance(button, dict) or button.get("type") != "button":
                problems.append(f"{at}: not a button")
                continue
            problems += _slack_text_object(f"{at}.text", button.get("text"), 75, plain_only=True)
            if not _absolute_url(button.get("url")) or len(button["url"]) > 3000:
                problems.append(f"{at}.url is not an absolute URL of at most 3000 characters")
            action_id = button.get("action_id")
            if action_id is not None:
                if not isinstance(action_id, str) or len(action_id) > 255 or action_id in action_ids:
                    problems.append(f"{at}.action_id missing, too long or not unique")
                action_ids.add(str(action_id))
            if "style" in button and button["style"] not in ("primary", "danger"):
                problems.append(f"{at}.style must be primary or danger")
    elif kind != "divider":
        problems.append(f"{where}: unexpected block type {kind!r}")
    return problems


def validate_slack(request: Received) -> tuple[list[str], Answer]:  # noqa: PLR0911, PLR0912 (one check per documented rule)
    if request.method != "POST":
        return [f"method {request.method}"], text_answer(405, "invalid_method")
    if not request.path.startswith("/services/"):
        return [f"path {request.path}"], text_answer(404, "no_service")
    problems = []
    if _media_type(request) != "application/json":
        problems.append(f"content type {request.headers.get('content-type')!r}")
    try:
        message = request.json()
    except ValueError:
        return [*problems, "body is not JSON"], text_answer(400, "invalid_payload")
    if not isinstance(message, dict):
        return [*problems, "body is not an object"], text_answer(400, "invalid_payload")
    if not isinstance(message.get("text"), str) or not message["text"]:
        problems.append("no text fallback")
    blocks = message.get("blocks", [])
    attachments = message.get("attachments", [])
    if not isinstance(blocks, list) or not isinstance(attachments, list):
        return [*problems, "blocks/attachments are not lists"], text_answer(400, "invalid_blocks")
    action_ids: set[str] = set()
    count = len(blocks)
    for index, block in enumerate(blocks):
        problems += _slack_block(f"blocks[{index}]", block, action_ids)
    for index, attachment in enumerate(attachments):
        if not isinstance(attachment, dict):
            problems.append(f"attachments[{index}] is not an object")
            continue
        if not re.fullmatch(r"#[0-9A-Fa-f]{6}", str(attachment.get("color", ""))):
            problems.append(f"attachments[{index}].color is not #RRGGBB")
        inner = attachment.get("blocks", [])
        count += len(inner) if isinstance(inner, list) else 0
        for inner_index, block in enumerate(inner if isinstance(inner, list) else []):
            problems += _slack_block(f"attachments[{index}].blocks[{inner_index}]", block, action_ids)
    if count > 50:
        problems.append(f"{count} blocks (at most 50)")
    if problems:
        return problems, text_answer(400, "invalid_blocks")
    return [], text_answer(200, "ok")


# --- PagerDuty Events API v2: https://developer.pagerduty.com/docs/events-api-v2/trigger-events/ -----------------

PAGERDUTY_SEVERITIES = {"critical", "error", "warning", "info"}
PAGERDUTY_TOP_KEYS = {"routing_key", "event_action", "dedup_key", "payload", "images", "links", "client", "client_url"}
PAGERDUTY_PAYLOAD_KEYS = {"summary", "source", "severity", "timestamp", "component", "group", "class", "custom_details"}


def _pagerduty_problems(event: Any) -> list[str]:  # noqa: PLR0912 (one check per documented rule)
    if not isinstance(event, dict):
        return ["event is not an object"]
    problems = []
    if not isinstance(event.get("routing_key"), str) or len(event["routing_key"]) != 32:
        problems.append("routing_key must be 32 characters")
    action = event.get("event_action")
    if action not in ("trigger", "acknowledge", "resolve"):
        return [*problems, f"event_action {action!r}"]
    dedup_key = event.get("dedup_key")
    if (action != "trigger" or dedup_key is not None) and (
        not isinstance(dedup_key, str) or not 1 <= len(dedup_key) <= 255
    ):
        problems.append("dedup_key must be a string of 1 to 255 characters")
    if action != "trigger":
        if set(event) != {"routing_key", "event_action", "dedup_key"}:
            problems.append(f"{action} carries only routing_key, event_action, dedup_key; got {sorted(event)}")
        return problems
    if set(event) - PAGERDUTY_TOP_KEYS:
        problems.append(f"unknown keys {sorted(set(event) - PAGERDUTY_TOP_KEYS)}")
    payload = event.get("payload")
    if not isinstance(payload, dict):
        return [*problems, "trigger without payload"]
    if set(payload) - PAGERDUTY_PAYLOAD_KEYS:
        problems.append(f"unknown payload keys {sorted(set(payload) - PAGERDUTY_PAYLOAD_KEYS)}")
    summary = payload.get("summary")
    if not isinstance(summary, str) or not 1 <= len(summary) <= 1024:
        problems.append("payload.summary must be 1 to 1024 characters")
    if not isinstance(payload.get("source"), str) or not payload["source"]:
        problems.append("payload.source missing")
    if payload.get("severity") not in PAGERDUTY_SEVERITIES:
        problems.append(f"payload.severity {payload.get('severity')!r}")
    if "timestamp" in payload and not _is_iso8601(payload["timestamp"]):
        problems.append("payload.timestamp is not ISO 8601 with an offset")
    for key in ("component", "group", "class"):
        if key in payload and not isinstance(payload[key], str):
            problems.append(f"payload.{key} is not a string")
    if "custom_details" in payload and not isinstance(payload["custom_details"], dict | str):
        problems.append("payload.custom_details is not an object")
    for index, link in enumerate(event.get("links", [])):
        if not isinstance(link, dict) or not _absolute_url(link.get("href")) or not isinstance(link.get("text"), str):
            problems.append(f"links[{index}] must be {{href, text}}")
    if "client" in event and not isinstance(event["client"], str):
        problems.append("client is not a string")
    if "client_url" in event and not _absolute_url(event["client_url"]):
        problems.append("client_url is not a URL")
    return problems


def validate_pagerduty(request: Received) -> tuple[list[str], Answer]:
    problems = []
    if request.method != "POST" or request.path != "/v2/enqueue":
        problems.append(f"{request.method} {request.path}")
    if _media_type(request) != "application/json":
        problems.append(f"content type {request.headers.get('content-type')!r}")
    try:
        event = request.json()
    except ValueError:
        event = None
        problems.append("body is not JSON")
    problems += _pagerduty_problems(event)
    if problems:
        return problems, json_answer(
            400, {"status": "invalid event", "message": "Event object is invalid", "errors": problems}
        )
    dedup_key = event.get("dedup_key") or hashlib.sha256(request.body).hexdigest()
    return [], json_answer(202, {"status": "success", "message": "Event processed", "dedup_key": dedup_key})


# --- Twilio: https://www.twilio.com/docs/messaging/api/message-resource#create-a-message-resource ---------------

GSM7 = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿"
    "abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = set("^{}\\[~]|€\f")
E164 = re.compile(r"\+[1-9][0-9]{6,14}")


def twilio_validator(account_sid: str, auth_token: str) -> Callable[[Received], tuple[list[str], Answer]]:
    def validate(request: Received) -> tuple[list[str], Answer]:  # noqa: PLR0911, PLR0912 (one check per documented rule)
        def error(status: int, code: int, message: str) -> Answer:
            more = f"https://www.twilio.com/docs/errors/{code}"
            return json_answer(status, {"code": code, "message": message, "more_info": more, "status": status})

        expected = "Basic " + base64.b64encode(f"{account_sid}:{auth_token}".encode()).decode()
        if request.headers.get("authorization") != expected:
            return ["wrong or missing Basic credentials"], error(401, 20003, "Authenticate")
        if request.method != "POST" or request.path != f"/2010-04-01/Accounts/{account_sid}/Messages.json":
            return [f"{request.method} {request.path}"], error(404, 20404, "The requested resource was not found")
        problems = []
        if _media_type(request) != "application/x-www-form-urlencoded":
            problems.append(f"content type {request.headers.get('content-type')!r}")
        try:
            form = parse_qs(request.body.decode("ascii"), keep_blank_values=True, strict_parsing=True)
        except (UnicodeDecodeError, ValueError):
            return [*problems, "body is not form-encoded"], error(400, 21602, "Message body is required.")
        if set(form) - {"To", "From", "MessagingServiceSid", "Body"}:
            problems.append(f"unexpected fields {sorted(set(form) - {'To', 'From', 'MessagingServiceSid', 'Body'})}")
        if any(len(values) != 1 for values in form.values()):
            problems.append("a field is repeated")
        value = {name: values[0] for name, values in form.items()}
        if not E164.fullmatch(value.get("To", "")):
            return [*problems, "To is not E.164"], error(400, 21211, f"The 'To' number {value.get('To')} is not valid.")
        if ("From" in value) == ("MessagingServiceSid" in value):
            problems.append("exactly one of From and MessagingServiceSid")
        if "From" in value and not E164.fullmatch(value["From"]):
            problems.append("From is not E.164")
        if "MessagingServiceSid" in value and not re.fullmatch(r"MG[0-9a-fA-F]{32}", value["MessagingServiceSid"]):
            problems.append("MessagingServiceSid is not MG…")
        body = value.get("Body", "")
        if not body:
            return [*problems, "empty Body"], error(400, 21602, "Message body is required.")
        not_gsm = {char for char in body if char not in GSM7 and char not in GSM7_EXTENSION}
        if not_gsm:
            problems.append(f"Body has characters outside GSM-7 (sent as UCS-2): {sorted(not_gsm)}")
        length = sum(2 if char in GSM7_EXTENSION else 1 for char in body)
        if length > 160:
            problems.append(f"Body is {length} septets: more than one segment")
        if problems:
            return problems, error(400, 21604, "Invalid message parameters")
        sid = "SM" + hashlib.md5(request.body, usedforsecurity=False).hexdigest()
        return [], json_answer(201, {"sid": sid, "status": "queued", "to": value["To"], "body": body})

    return validate


# --- Generic webhook: verified exactly as docs/notifications.md tells receivers to -------------------------------

WEBHOOK_KEYS = {
    "version",
    "event",
    "dedup_key",
    "title",
    "severity",
    "summary",
    "details",
    "links",
    "timestamp",
    "organization",
}
REPLAY_WINDOW_SECONDS = 300


def webhook_validator(secret: str) -> Callable[[Received], tuple[list[str], Answer]]:
    def validate(request: Received) -> tuple[list[str], Answer]:  # noqa: PLR0912 (one check per documented rule)
        # 1. timestamp within the replay window; 2. HMAC-SHA256 of "<timestamp>.<raw body>"; 3. constant-time compare.
        timestamp = request.headers.get("x-vigil-timestamp", "")
        if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > REPLAY_WINDOW_SECONDS:
            return ["timestamp missing or outside the replay window"], text_answer(401, "stale")
        expected = "sha256=" + hmac.new(secret.encode(), f"{timestamp}.".encode() + request.body, "sha256").hexdigest()
        if not hmac.compare_digest(expected, request.headers.get("x-vigil-signature", "")):
            return ["bad signature"], text_answer(401, "bad signature")
        problems = []
        if request.method != "POST":
            problems.append(f"method {request.method}")
        if _media_type(request) != "application/json":
            problems.append(f"content type {request.headers.get('content-type')!r}")
        if request.headers.get("user-agent") != "Vigil-Webhook/1":
            problems.append(f"user agent {request.headers.get('user-agent')!r}")
        try:
            body = request.json()
        except ValueError:
            return [*problems, "body is not JSON"], text_answer(400, "bad json")
        if not isinstance(body, dict) or set(body) != WEBHOOK_KEYS:
            return [*problems, f"keys {sorted(body) if isinstance(body, dict) else body}"], text_answer(400, "bad")
        if body["version"] != 1:
            problems.append("version is not 1")
        if body["event"] not in ("trigger", "acknowledge", "resolve", "test"):
            problems.append(f"event {body['event']!r}")
        if request.headers.get("x-vigil-event") != body["event"]:
            problems.append("X-Vigil-Event differs from the body's event")
        if body["severity"] not in ("critical", "warning", "info"):
            problems.append(f"severity {body['severity']!r}")
        for key in ("dedup_key", "title", "summary", "organization"):
            if not isinstance(body[key], str):
                problems.append(f"{key} is not a string")
        if not isinstance(body["details"], dict):
            problems.append("details is not an object")
        if not isinstance(body["links"], dict) or not all(_absolute_url(url) for url in body["links"].values()):
            problems.append("links is not an object of absolute URLs")
        if not _is_iso8601(body["timestamp"]):
            problems.append("timestamp is not ISO 8601 with an offset")
        return problems, text_answer(400 if problems else 200, "bad" if problems else "ok")

    return validate


# --- Microsoft Teams workflow webhook with an Adaptive Card 1.4 -------------------------------------------------

ADAPTIVE_ELEMENTS = {"TextBlock", "FactSet", "ColumnSet", "Container", "Image", "RichTextBlock"}


def validate_teams(request: Received) -> tuple[list[str], Answer]:  # noqa: PLR0912 (one check per documented rule)
    problems = []
    if request.method != "POST":
        problems.append(f"method {request.method}")
    if _media_type(request) != "application/json":
        problems.append(f"content type {request.headers.get('content-type')!r}")
    try:
        message = request.json()
    except ValueError:
        return [*problems, "body is not JSON"], json_answer(400, {"error": {"code": "InvalidRequestContent"}})
    if not isinstance(message, dict) or message.get("type") != "message":
        problems.append("type is not message")
    attachments = message.get("attachments") if isinstance(message, dict) else None
    if not isinstance(attachments, list) or len(attachments) != 1:
        return [*problems, "exactly one attachment expected"], json_answer(400, {"error": {"code": "InvalidCard"}})
    attachment = attachments[0]
    if attachment.get("contentType") != "application/vnd.microsoft.card.adaptive":
        problems.append(f"contentType {attachment.get('contentType')!r}")
    card = attachment.get("content")
    if not isinstance(card, dict):
        return [*problems, "no card content"], json_answer(400, {"error": {"code": "InvalidCard"}})
    if card.get("$schema") != "http://adaptivecards.io/schemas/adaptive-card.json":
        problems.append("$schema")
    if card.get("type") != "AdaptiveCard" or card.get("version") != "1.4":
        problems.append(f"type/version {card.get('type')!r} {card.get('version')!r}")
    body = card.get("body")
    if not isinstance(body, list) or not body:
        problems.append("empty card body")
    for index, element in enumerate(body if isinstance(body, list) else []):
        kind = element.get("type") if isinstance(element, dict) else None
        if kind not in ADAPTIVE_ELEMENTS:
            problems.append(f"body[{index}].type {kind!r}")
        elif kind == "TextBlock" and (not isinstance(element.get("text"), str) or not element["text"]):
            problems.append(f"body[{index}] TextBlock without text")
        elif kind == "FactSet":
            facts = element.get("facts")
            if not isinstance(facts, list) or not all(
                isinstance(fact, dict) and isinstance(fact.get("title"), str) and isinstance(fact.get("value"), str)
                for fact in facts
            ):
                problems.append(f"body[{index}] FactSet facts must be {{title, value}} strings")
    for index, action in enumerate(card.get("actions", [])):
        if not isinstance(action, dict) or action.get("type") != "Action.OpenUrl":
            problems.append(f"actions[{index}] is not Action.OpenUrl")
        elif not isinstance(action.get("title"), str) or not _absolute_url(action.get("url")):
            problems.append(f"actions[{index}] needs title and an absolute url")
    if problems:
        return problems, json_answer(400, {"error": {"code": "InvalidCard", "message": "; ".join(problems)}})
    return [], (202, {}, b"")


# --- SMTP (aiosmtpd) ----------------------------------------------------------------------------------------------


@dataclass
class SmtpReceiver:
    """An in-process SMTP server; ``refuse_rcpt`` makes it answer RCPT TO with that reply (e.g. "550 5.1.1 ...")."""

    host: str = "127.0.0.1"
    port: int = 0
    refuse_rcpt: str | None = None
    messages: list[EmailMessage] = field(default_factory=list)
    envelopes: list[tuple[str, list[str]]] = field(default_factory=list)

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        if self.refuse_rcpt:
            return self.refuse_rcpt
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        self.messages.append(message_from_bytes(envelope.original_content, policy=policy.default))  # type: ignore[arg-type]
        return "250 Message accepted for delivery"

    @contextmanager
    def running(self) -> Iterator[SmtpReceiver]:
        self.port = free_port()
        controller = Controller(self, hostname=self.host, port=self.port)
        controller.start()
        try:
            yield self
        finally:
            controller.stop()
