"""Slack incoming webhook with a Block Kit message.

Layout: the title as a header block (top level, so the ``text`` fallback is only used for the
push notification), then one legacy attachment whose ``color`` draws the severity bar: Block Kit
itself has no colour, attachments still do. Inside it: severity and summary, the detail values as
fields, source/organization/time as context, and the links as buttons.

Limits are Slack's documented ones; going over any makes Slack answer 400 ``invalid_blocks``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from apps.notifications.message import Notification, display_value
from apps.notifications.transports.base import (
    ConfigField,
    Delivery,
    FieldsConfigured,
    delivered,
    event_prefix,
    links_of,
    post,
    truncate,
    url_value,
)

HEADER_MAX = 150
SECTION_TEXT_MAX = 3000
FIELD_TEXT_MAX = 2000
FIELDS_MAX = 10
BUTTON_TEXT_MAX = 75
COLORS = {"critical": "#D92D20", "warning": "#F79009", "info": "#2E90FA"}
RESOLVED_COLOR = "#12B76A"
SEVERITY_EMOJI = {"critical": ":red_circle:", "warning": ":large_orange_circle:", "info": ":large_blue_circle:"}


def escape(text: str) -> str:
    """Slack's mrkdwn escaping: only these three characters are control characters."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _mrkdwn(text: str, limit: int = SECTION_TEXT_MAX) -> dict[str, str]:
    return {"type": "mrkdwn", "text": truncate(text, limit)}


def _detail_fields(details: Mapping[str, Any]) -> list[dict[str, str]]:
    items = list(details.items())
    shown = items if len(items) <= FIELDS_MAX else items[: FIELDS_MAX - 1]
    fields = [
        _mrkdwn(f"*{escape(str(name))}*\n{escape(display_value(value))}", FIELD_TEXT_MAX) for name, value in shown
    ]
    if len(shown) < len(items):
        fields.append(_mrkdwn(f"_and {len(items) - len(shown)} more_"))
    return fields


def build_payload(notification: Notification) -> dict[str, Any]:
    title = truncate(event_prefix(notification) + notification.title, HEADER_MAX)
    severity = notification.severity
    color = RESOLVED_COLOR if notification.event == "resolve" else COLORS[severity]
    state = {"trigger": "", "acknowledge": " · acknowledged", "resolve": " · resolved", "test": " · test"}
    blocks: list[dict[str, Any]] = [
        {
            "type": "section",
            "text": _mrkdwn(
                f"{SEVERITY_EMOJI[severity]} *{severity.upper()}*{state[notification.event]}\n"
                f"{escape(notification.summary)}"
            ),
        }
    ]
    if notification.details:
        blocks.append({"type": "section", "fields": _detail_fields(notification.details)})
    unix = int(notification.timestamp.timestamp())
    blocks.append(
        {
            "type": "context",
            "elements": [
                # Slack renders <!date^…> in each reader's time zone; the text after | is the fallback.
                _mrkdwn(
                    f"{escape(notification.source)} · {escape(notification.organization)} · "
                    f"<!date^{unix}^{{date_short_pretty}} {{time}}|{notification.timestamp.isoformat()}>"
                )
            ],
        }
    )
    buttons = []
    for name, label, url in links_of(notification):
        button: dict[str, Any] = {
            "type": "button",
            "text": {"type": "plain_text", "text": truncate(label, BUTTON_TEXT_MAX), "emoji": True},
            "url": url,
            "action_id": f"vigil-{name}",  # unique within the message, as Slack requires
        }
        if name == "acknowledge":
            button["style"] = "primary"
        buttons.append(button)
    if buttons:
        blocks.append({"type": "actions", "elements": buttons})
    return {
        # The push-notification and screen-reader fallback once `blocks` are present.
        "text": truncate(f"[{severity}] {title}: {notification.summary}", SECTION_TEXT_MAX),
        "blocks": [{"type": "header", "text": {"type": "plain_text", "text": title, "emoji": True}}],
        "attachments": [{"color": color, "blocks": blocks}],
    }


class SlackTransport(FieldsConfigured):
    kind = "slack"
    label = "Slack"
    config_fields = (
        ConfigField(
            "webhook_url",
            "Webhook URL",
            url_value,
            secret=True,  # the URL is the credential
            help="The incoming webhook URL from Slack (https://hooks.slack.com/services/…).",
        ),
    )

    def send(self, config: Mapping[str, Any], notification: Notification) -> Delivery:
        url = config["webhook_url"]
        response = post(
            "Slack",
            url,
            body=json.dumps(build_payload(notification), ensure_ascii=False).encode(),
            headers={"Content-Type": "application/json"},
            # Slack answers 200 "ok"; its errors are plain-text codes (invalid_payload, no_service, …)
            # with 400/403/404/410 (permanent) or 429/5xx (transient), mapped by `post`.
            ok_statuses={200},
            describe=lambda response: response.body.decode("utf-8", "replace").strip()[:200],
        )
        return delivered(response, secrets=(url,))


TRANSPORT = SlackTransport()
