"""SMS through Twilio's Messages API (https://www.twilio.com/docs/messaging/api/message-resource#create-a-message-resource).

One channel is one phone number, so a retry never texts someone twice because another recipient
failed. The body is one GSM-7 segment (160 septets): a single character outside GSM-7 (an em dash,
"…", an emoji) would switch the whole message to UCS-2 and 70 characters per segment, so text is
transliterated first, and a long title is cut, keeping the link, which is what the reader acts on.
"""

from __future__ import annotations

import base64
import json
import unicodedata
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from django.core.exceptions import ValidationError

from apps.notifications import outbound
from apps.notifications.message import Notification
from apps.notifications.transports.base import (
    ConfigField,
    Delivery,
    DeliveryError,
    FieldsConfigured,
    delivered,
    post,
    string_value,
    truncate,
    url_value,
)

API_URL = "https://api.twilio.com"
SEGMENT_SEPTETS = 160
LONGEST_LINK = 100  # a longer link would leave almost no room for the title
# GSM 03.38: the basic set costs one septet per character, the extension set two (escape + character).
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿"
    "abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("^{}\\[~]|€\f")
# Characters people type that GSM-7 lacks, with the nearest ones it has.
REPLACEMENTS = {"—": "-", "–": "-", "‘": "'", "’": "'", "“": '"', "”": '"', "…": "...", "·": "-", "\u00a0": " "}
E164 = r"\+[1-9][0-9]{6,14}"


def to_gsm7(text: str) -> str:
    out = []
    for original in text:
        char = REPLACEMENTS.get(original, original)
        if all(c in GSM7_BASIC or c in GSM7_EXTENSION for c in char):
            out.append(char)
            continue
        # "ć" → "c": drop the accents GSM-7 does not have; anything else becomes "?".
        base = "".join(c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c))
        out.append(base if base and all(c in GSM7_BASIC for c in base) else "?")
    return "".join(out)


def septets(text: str) -> int:
    return sum(2 if char in GSM7_EXTENSION else 1 for char in text)


def _fit(text: str, room: int) -> str:
    """``text`` cut (with "...", since "…" is not GSM-7) until it fits ``room`` septets."""
    limit = room
    while limit > 0:
        cut = truncate(text, limit, ellipsis="...")
        if septets(cut) <= room:
            return cut
        limit -= septets(cut) - room  # extension characters count twice: cut further
    return ""


def _link(notification: Notification) -> str:
    # On a trigger the acknowledge link is what an on-call person needs from a phone.
    names = ("acknowledge", "incident") if notification.event == "trigger" else ("incident",)
    for name in names:
        url = notification.links.get(name, "")
        if url and septets(to_gsm7(url)) <= LONGEST_LINK and to_gsm7(url) == url:
            return url
    return ""


def build_body(notification: Notification) -> str:
    label = {
        "trigger": notification.severity.upper(),
        "acknowledge": "ACK",
        "resolve": "RESOLVED",
        "test": "TEST",
    }[notification.event]
    text = f"Vigil {label}: {notification.title}"
    if notification.event == "trigger" and notification.summary:
        text += f" - {notification.summary}"
    text = " ".join(to_gsm7(text).split())  # one line: newlines cost septets and read badly
    link = _link(notification)
    if not link:
        return _fit(text, SEGMENT_SEPTETS)
    return f"{_fit(text, SEGMENT_SEPTETS - septets(link) - 1)} {link}"


def _describe(response: outbound.Response) -> str:
    # {"code": 21211, "message": "The 'To' number … is not a valid phone number.", "more_info": …, "status": 400}
    data = json.loads(response.body)
    return f"error {data['code']}: {data['message']}"


class SmsTransport(FieldsConfigured):
    kind = "sms"
    label = "SMS (Twilio)"
    config_fields = (
        ConfigField(
            "account_sid",
            "Account SID",
            string_value(pattern=r"AC[0-9a-fA-F]{32}", max_length=34, what="Twilio Account SID (AC…)"),
        ),
        ConfigField(
            "auth_token",
            "Auth token",
            string_value(pattern=r"[0-9A-Za-z]{32}", max_length=32, what="Twilio auth token"),
            secret=True,
        ),
        ConfigField("to", "To", string_value(pattern=E164, max_length=16, what="phone number in E.164 (+…)")),
        ConfigField(
            "from_number",
            "From",
            string_value(pattern=E164, max_length=16, what="phone number in E.164 (+…)"),
            required=False,
            help="A Twilio number; or give a messaging service instead.",
        ),
        ConfigField(
            "messaging_service_sid",
            "Messaging service SID",
            string_value(pattern=r"MG[0-9a-fA-F]{32}", max_length=34, what="messaging service SID (MG…)"),
            required=False,
        ),
        ConfigField(
            "api_url", "API URL", url_value, required=False, default=API_URL, help="Only for tests and proxies."
        ),
    )

    def validate_config(self, raw: Mapping[str, Any]) -> dict[str, Any]:
        config = super().validate_config(raw)
        # Twilio takes exactly one of From and MessagingServiceSid.
        if ("from_number" in config) == ("messaging_service_sid" in config):
            raise ValidationError({"from_number": ["give either a From number or a messaging service SID"]})
        return config

    def send(self, config: Mapping[str, Any], notification: Notification) -> Delivery:
        sid, token = config["account_sid"], config["auth_token"]
        fields = {"To": config["to"], "Body": build_body(notification)}
        if config.get("messaging_service_sid"):
            fields["MessagingServiceSid"] = config["messaging_service_sid"]
        else:
            fields["From"] = config["from_number"]
        credentials = base64.b64encode(f"{sid}:{token}".encode()).decode()
        base = (config.get("api_url") or API_URL).rstrip("/")
        response = post(
            "Twilio",
            f"{base}/2010-04-01/Accounts/{sid}/Messages.json",
            body=urlencode(fields).encode(),
            headers={"Content-Type": "application/x-www-form-urlencoded", "Authorization": f"Basic {credentials}"},
            # 400 (e.g. 21211 invalid To), 401, 404 → permanent; 429 and 5xx → transient (by `post`).
            ok_statuses={201},
            describe=_describe,
            secrets=(token, credentials),
        )
        try:
            message_sid = str(json.loads(response.body).get("sid", ""))
        except (ValueError, AttributeError):
            raise DeliveryError(False, "Twilio answered 201 without a message resource") from None
        return delivered(response, remote_id=message_sid, secrets=(token, credentials))


TRANSPORT = SmsTransport()
