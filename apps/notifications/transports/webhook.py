"""Generic webhook: a documented JSON body, signed with the channel's secret (docs/notifications.md).

The signature covers ``"<timestamp>.<body>"`` so a receiver can refuse replays (old timestamps)
as well as forgeries; the timestamp travels in its own header so the body stays exactly the
documented object.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from typing import Any

from apps.notifications.message import Notification, jsonable
from apps.notifications.transports.base import (
    ConfigField,
    Delivery,
    FieldsConfigured,
    delivered,
    post,
    string_value,
    url_value,
)

VERSION = 1
USER_AGENT = "Vigil-Webhook/1"


def build_body(notification: Notification) -> bytes:
    payload = {
        "version": VERSION,
        "event": notification.event,
        "dedup_key": notification.dedup_key,
        "title": notification.title,
        "severity": notification.severity,
        "summary": notification.summary,
        "details": jsonable(dict(notification.details)),
        "links": dict(notification.links),
        "timestamp": notification.timestamp.isoformat(),
        "organization": notification.organization,
    }
    return json.dumps(payload, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()


def signature(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


def signed_headers(secret: str, notification: Notification, body: bytes, *, now: float | None = None) -> dict[str, str]:
    timestamp = int(time.time() if now is None else now)
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-Vigil-Event": notification.event,
        "X-Vigil-Timestamp": str(timestamp),
        "X-Vigil-Signature": signature(secret, timestamp, body),
    }


class WebhookTransport(FieldsConfigured):
    kind = "webhook"
    label = "Webhook"
    config_fields = (
        ConfigField("url", "URL", url_value, help="Receives a signed JSON POST (docs/notifications.md)."),
        ConfigField(
            "secret",
            "Signing secret",
            # Long enough that the HMAC cannot be brute-forced; the channel form generates one.
            string_value(pattern=r"[\x21-\x7e]{24,128}", max_length=128, what="secret of 24-128 printable characters"),
            secret=True,
        ),
    )

    def send(self, config: Mapping[str, Any], notification: Notification) -> Delivery:
        body = build_body(notification)
        # Signed per attempt: a retry gets a fresh timestamp, so it is not refused as a replay.
        response = post(
            "Webhook",
            config["url"],
            body=body,
            headers=signed_headers(config["secret"], notification, body),
            ok_statuses=range(200, 300),
            secrets=(config["secret"],),
        )
        return delivered(response)


TRANSPORT = WebhookTransport()
