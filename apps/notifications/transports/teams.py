"""Microsoft Teams through a Workflows (Power Automate) webhook, posting an Adaptive Card 1.4.

The "Post to a channel when a webhook request is received" workflow takes exactly this message
envelope (``type: message`` with one adaptive-card attachment) and answers 202; the retired
Office 365 connectors took the same envelope and answered 200.
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

CARD_SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
FACTS_MAX = 20
# Adaptive Cards name colours by meaning; the host's theme picks the shade.
COLORS = {"critical": "Attention", "warning": "Warning", "info": "Accent"}


def build_message(notification: Notification) -> dict[str, Any]:
    color = "Good" if notification.event == "resolve" else COLORS[notification.severity]
    body: list[dict[str, Any]] = [
        {
            "type": "TextBlock",
            "text": truncate(event_prefix(notification) + notification.title, 300),
            "size": "Large",
            "weight": "Bolder",
            "color": color,
            "wrap": True,
        },
        {"type": "TextBlock", "text": f"**{notification.severity.upper()}** {notification.summary}", "wrap": True},
    ]
    facts = [{"title": str(name), "value": display_value(value)} for name, value in notification.details.items()]
    if facts:
        body.append({"type": "FactSet", "facts": facts[:FACTS_MAX]})
    body.append(
        {
            "type": "TextBlock",
            "text": f"{notification.source} · {notification.organization} · {notification.timestamp.isoformat()}",
            "isSubtle": True,
            "size": "Small",
            "wrap": True,
        }
    )
    card: dict[str, Any] = {
        "$schema": CARD_SCHEMA,
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": body,
        "actions": [{"type": "Action.OpenUrl", "title": label, "url": url} for _, label, url in links_of(notification)],
        "msteams": {"width": "Full"},
    }
    return {
        "type": "message",
        "attachments": [
            {"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None, "content": card}
        ],
    }


class TeamsTransport(FieldsConfigured):
    kind = "teams"
    label = "Microsoft Teams"
    config_fields = (
        ConfigField(
            "webhook_url",
            "Workflow webhook URL",
            url_value,
            secret=True,  # the URL carries its signature
            help='The URL of a Teams workflow "Post to a channel when a webhook request is received".',
        ),
    )

    def send(self, config: Mapping[str, Any], notification: Notification) -> Delivery:
        url = config["webhook_url"]
        response = post(
            "Teams",
            url,
            body=json.dumps(build_message(notification), ensure_ascii=False).encode(),
            headers={"Content-Type": "application/json"},
            ok_statuses={200, 202},
        )
        return delivered(response, secrets=(url,))


TRANSPORT = TeamsTransport()
