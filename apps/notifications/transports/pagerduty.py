"""PagerDuty Events API v2 (https://developer.pagerduty.com/docs/events-api-v2/trigger-events/).

One incident in Vigil is one PagerDuty alert: every event carries the notification's
``dedup_key``, so acknowledge and resolve act on the alert the trigger opened.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from apps.notifications import outbound
from apps.notifications.message import Notification, jsonable
from apps.notifications.transports.base import (
    ConfigField,
    Delivery,
    DeliveryError,
    FieldsConfigured,
    delivered,
    links_of,
    post,
    string_value,
    truncate,
    url_value,
)

EVENTS_URL = "https://events.pagerduty.com/v2/enqueue"
SUMMARY_MAX = 1024
DEDUP_KEY_MAX = 255
# Vigil has no "error" level; PagerDuty's four are critical, error, warning, info.
SEVERITIES = {"critical": "critical", "warning": "warning", "info": "info"}


def build_event(routing_key: str, notification: Notification, *, action: str | None = None) -> dict[str, Any]:
    action = action or ("trigger" if notification.event == "test" else notification.event)
    if len(notification.dedup_key) > DEDUP_KEY_MAX:
        raise DeliveryError(True, f"PagerDuty: dedup_key longer than {DEDUP_KEY_MAX} characters")
    event: dict[str, Any] = {"routing_key": routing_key, "event_action": action, "dedup_key": notification.dedup_key}
    if action != "trigger":
        return event  # acknowledge and resolve carry nothing else (PagerDuty ignores a payload there)
    summary = notification.title
    if notification.summary and notification.summary != notification.title:
        summary = f"{notification.title}: {notification.summary}"
    details = notification.details
    payload: dict[str, Any] = {
        "summary": truncate(summary, SUMMARY_MAX),
        "source": notification.source,
        "severity": SEVERITIES[notification.severity],
        "timestamp": notification.timestamp.isoformat(),
        "group": notification.organization,
        "class": str(details.get("metric") or details.get("class") or "alert"),
        "custom_details": jsonable(dict(details)),
    }
    if details.get("service"):
        payload["component"] = str(details["service"])
    event["payload"] = payload
    event["links"] = [{"href": url, "text": label} for _, label, url in links_of(notification)]
    event["client"] = "Vigil"
    if notification.links.get("incident"):
        event["client_url"] = notification.links["incident"]
    return event


def _describe(response: outbound.Response) -> str:
    # {"status": "invalid event", "message": "Event object is invalid", "errors": ["..."]}
    data = json.loads(response.body)
    return "; ".join([str(data.get("message", "")), *map(str, data.get("errors", []))]).strip("; ")


class PagerDutyTransport(FieldsConfigured):
    kind = "pagerduty"
    label = "PagerDuty"
    config_fields = (
        ConfigField(
            "routing_key",
            "Integration key",
            string_value(pattern=r"[A-Za-z0-9]{32}", max_length=32, what="32-character integration key"),
            secret=True,
            help="The Events API v2 integration key of a PagerDuty service.",
        ),
        ConfigField(
            "events_url",
            "Events API URL",
            url_value,
            required=False,
            default=EVENTS_URL,
            help="Only for tests and proxies; leave empty for PagerDuty itself.",
        ),
    )

    def send(self, config: Mapping[str, Any], notification: Notification) -> Delivery:
        delivery = self._send_event(config, build_event(config["routing_key"], notification))
        if notification.event == "test":
            # A test must not leave an open alert paging someone: resolve it at once (same dedup_key).
            delivery = self._send_event(config, build_event(config["routing_key"], notification, action="resolve"))
        return delivery

    def _send_event(self, config: Mapping[str, Any], event: Mapping[str, Any]) -> Delivery:
        routing_key = config["routing_key"]
        response = post(
            "PagerDuty",
            config.get("events_url") or EVENTS_URL,
            body=json.dumps(event, ensure_ascii=False, allow_nan=False).encode(),
            headers={"Content-Type": "application/json"},
            ok_statuses={202},  # 400 invalid event → permanent; 429 and 5xx → transient (by `post`)
            describe=_describe,
            secrets=(routing_key,),
        )
        try:
            answer = json.loads(response.body)
        except ValueError:
            answer = {}
        if not isinstance(answer, dict) or answer.get("status") != "success":
            raise DeliveryError(
                False,
                "PagerDuty answered 202 without status success",
                response_status=response.status,
                latency_ms=response.latency_ms,
            )
        return delivered(response, remote_id=str(answer.get("dedup_key", "")), secrets=(routing_key,))


TRANSPORT = PagerDutyTransport()
