"""Email through the SMTP server of Django's ``EMAIL_*`` settings; a channel holds only its recipients.

The SMTP server is the operator's (``VIGIL_SMTP_*``, docs/configuration.md), never a tenant's, so it
does not go through the SSRF-safe outbound client. Messages are multipart/alternative (plain text
and HTML with every value escaped) and thread per incident:

- every message has its own ``Message-ID`` (re-sending the same id makes Gmail drop the copy);
- all messages of one ``dedup_key`` carry ``In-Reply-To``/``References`` to one root id derived from
  it, and the same subject, which is what Gmail, Outlook and Thunderbird thread on.
"""

from __future__ import annotations

import hashlib
import smtplib
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from email.utils import parseaddr
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import EmailMultiAlternatives, get_connection
from django.core.validators import validate_email
from django.utils.html import format_html, format_html_join

from apps.notifications.message import Notification, display_value
from apps.notifications.transports.base import (
    ConfigField,
    Delivery,
    DeliveryError,
    FieldsConfigured,
    event_prefix,
    links_of,
)

MAX_RECIPIENTS = 50
MAX_DIGEST_MINUTES = 24 * 60
SEVERITY_COLORS = {"critical": "#D92D20", "warning": "#F79009", "info": "#2E90FA"}


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    text: str
    html: str
    headers: Mapping[str, str] = field(default_factory=dict)


def recipients_value(value: Any) -> list[str]:
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list | tuple):
        raise ValidationError("enter a list of email addresses")
    addresses = [str(item).strip() for item in items if str(item).strip()]
    if not addresses or len(addresses) > MAX_RECIPIENTS:
        raise ValidationError(f"enter between 1 and {MAX_RECIPIENTS} email addresses")
    for address in addresses:
        validate_email(address)  # its ValidationError names the problem
    return list(dict.fromkeys(addresses))


def minutes_value(value: Any) -> int:
    """Digest period: whole minutes, 0 (off) to a day."""
    text = str(value).strip() if isinstance(value, int | str) and not isinstance(value, bool) else ""
    if not text.isdigit() or int(text) > MAX_DIGEST_MINUTES:
        raise ValidationError(f"enter a whole number of minutes from 0 (off) to {MAX_DIGEST_MINUTES}")
    return int(text)


def _mail_domain() -> str:
    """The domain of the sender address: Message-IDs should be under a domain we send for."""
    domain = parseaddr(settings.DEFAULT_FROM_EMAIL)[1].rpartition("@")[2]
    return domain or "vigil.invalid"


def thread_id(dedup_key: str) -> str:
    """The root id every message of one incident refers to (never itself sent: see the module docstring)."""
    digest = hashlib.sha256(dedup_key.encode()).hexdigest()[:24]
    return f"<incident.{digest}@{_mail_domain()}>"


def threading_headers(dedup_key: str, event: str) -> dict[str, str]:
    root = thread_id(dedup_key)
    return {
        "Message-ID": f"<{event}.{uuid.uuid4().hex[:16]}.{root[1:]}",
        "In-Reply-To": root,
        "References": root,
        # RFC 3834: tells vacation responders and ticket systems not to answer.
        "Auto-Submitted": "auto-generated",
    }


def subject_of(notification: Notification) -> str:
    # The same for every event of an incident: mail clients thread on the subject too.
    return f"[{notification.severity}] {notification.title}"


def render(notification: Notification) -> RenderedEmail:
    heading = event_prefix(notification) + notification.title
    links = links_of(notification)
    details = [(str(name), display_value(value)) for name, value in notification.details.items()]
    when = notification.timestamp.strftime("%Y-%m-%d %H:%M:%S %Z")

    text_lines = [heading, "", f"Severity: {notification.severity}", notification.summary, ""]
    text_lines += [f"{name}: {value}" for name, value in details]
    text_lines += ["", f"{notification.source} · {notification.organization} · {when}", ""]
    text_lines += [f"{label}: {url}" for _, label, url in links]

    color = SEVERITY_COLORS[notification.severity]
    html = format_html(
        '<!doctype html><html><body style="font-family:sans-serif">'
        '<h2 style="border-left:6px solid {};padding-left:8px">{}</h2>'
        "<p><strong>{}</strong> {}</p>"
        "<table>{}</table>"
        '<p style="color:#667085">{} · {} · {}</p>'
        "<p>{}</p>"
        "</body></html>",
        color,
        heading,
        notification.severity.upper(),
        notification.summary,
        format_html_join("", "<tr><th align=left>{}</th><td>{}</td></tr>", details),
        notification.source,
        notification.organization,
        when,
        format_html_join(" · ", '<a href="{}">{}</a>', ((url, label) for _, label, url in links)),
    )
    return RenderedEmail(
        subject=subject_of(notification),
        text="\n".join(text_lines) + "\n",
        html=str(html),
        headers={**threading_headers(notification.dedup_key, notification.event), "X-Vigil-Event": notification.event},
    )


def _smtp_error(exc: Exception) -> DeliveryError:
    """SMTP replies 4xx are "try again later", 5xx are final (RFC 5321 §4.2.1)."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values()]
        permanent = bool(codes) and all(code >= 500 for code in codes)
        return DeliveryError(permanent, f"SMTP refused the recipients: {exc.recipients}")
    if isinstance(exc, smtplib.SMTPResponseException):
        message = exc.smtp_error.decode("utf-8", "replace") if isinstance(exc.smtp_error, bytes) else exc.smtp_error
        return DeliveryError(exc.smtp_code >= 500, f"SMTP answered {exc.smtp_code}: {message}")
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return DeliveryError(True, f"SMTP: {exc}")  # e.g. STARTTLS configured but not offered
    # Disconnects, refused connections, timeouts, TLS handshakes: the server may be back shortly.
    return DeliveryError(False, f"SMTP: {type(exc).__name__}: {exc}")


def send_email(recipients: Sequence[str], rendered: RenderedEmail) -> Delivery:
    message = EmailMultiAlternatives(
        subject=rendered.subject,
        body=rendered.text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=list(recipients),
        headers=dict(rendered.headers),
        # A connection built from the EMAIL_* settings (the console backend when running locally).
        connection=get_connection(fail_silently=False),
    )
    message.attach_alternative(rendered.html, "text/html")
    started = time.perf_counter()
    try:
        sent = message.send(fail_silently=False)
    except (smtplib.SMTPException, OSError) as exc:
        raise _smtp_error(exc) from exc
    latency_ms = (time.perf_counter() - started) * 1000
    if sent != 1:
        raise DeliveryError(False, "the email backend reported nothing sent", latency_ms=latency_ms)
    return Delivery(
        response_status=None,
        response_excerpt=f"accepted for {len(recipients)} recipient(s)",
        latency_ms=latency_ms,
        remote_id=rendered.headers.get("Message-ID", ""),
    )


class EmailTransport(FieldsConfigured):
    kind = "email"
    label = "Email"
    config_fields = (
        ConfigField(
            "recipients",
            "Recipients",
            recipients_value,
            help=f"Up to {MAX_RECIPIENTS} addresses, comma-separated. Sent through the server's SMTP settings.",
        ),
        # Read by the outbox (apps/notifications/services.py), not by ``send``: one digest is one email.
        ConfigField(
            "digest_minutes",
            "Digest every (minutes)",
            minutes_value,
            required=False,
            help="Warning and info notifications wait and go out together in one email every this many minutes; "
            "critical ones are sent at once. Empty or 0: every notification at once.",
        ),
    )

    def send(self, config: Mapping[str, Any], notification: Notification) -> Delivery:
        return send_email(config["recipients"], render(notification))


TRANSPORT = EmailTransport()
