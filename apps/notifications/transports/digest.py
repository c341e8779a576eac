"""One email listing several low-severity notifications for one recipient.

Pure rendering: which notifications go into a digest and when it is sent (the batching schedule)
belong to alerting. Send the result with ``email.send_email(recipients, render_digest(...))``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from django.utils.html import format_html, format_html_join

from apps.notifications.message import Notification, display_value
from apps.notifications.transports.base import event_prefix
from apps.notifications.transports.email import RenderedEmail, threading_headers

SEVERITY_ORDER = {"critical": 0, "warning": 1, "info": 2}


def _details_line(notification: Notification) -> str:
    return ", ".join(f"{name}={display_value(value)}" for name, value in notification.details.items())


def render_digest(organization: str, notifications: Sequence[Notification]) -> RenderedEmail:
    if not notifications:
        raise ValueError("a digest needs at least one notification")
    # Most severe first, then oldest first: the order people should read them in.
    items = sorted(notifications, key=lambda n: (SEVERITY_ORDER[n.severity], n.timestamp))
    count = len(items)
    subject = f"[digest] {count} notification{'s' if count != 1 else ''} from Vigil ({organization})"

    text_lines = [subject, ""]
    for index, notification in enumerate(items, 1):
        when = notification.timestamp.strftime("%Y-%m-%d %H:%M UTC")
        text_lines.append(f"{index}. [{notification.severity}] {event_prefix(notification)}{notification.title}")
        text_lines.append(f"   {notification.summary}")
        if notification.details:
            text_lines.append(f"   {_details_line(notification)}")
        text_lines.append(f"   {notification.source} · {when}")
        if notification.links.get("incident"):
            text_lines.append(f"   {notification.links['incident']}")
        text_lines.append("")

    rows = format_html_join(
        "",
        "<li><strong>[{}] {}</strong><br>{}<br><small>{}</small><br><small>{} · {}</small>{}</li>",
        (
            (
                n.severity,
                event_prefix(n) + n.title,
                n.summary,
                _details_line(n),
                n.source,
                n.timestamp.strftime("%Y-%m-%d %H:%M UTC"),
                format_html('<br><a href="{}">View incident</a>', n.links["incident"])
                if n.links.get("incident")
                else "",
            )
            for n in items
        ),
    )
    html = format_html(
        '<!doctype html><html><body style="font-family:sans-serif"><h2>{}</h2><ol>{}</ol></body></html>',
        subject,
        rows,
    )
    # A digest threads with nothing: its own root, from the notifications it carries.
    digest_key = "digest:" + hashlib.sha256("\n".join(n.dedup_key for n in items).encode()).hexdigest()
    headers = {**threading_headers(digest_key, "digest"), "X-Vigil-Event": "digest"}
    del headers["In-Reply-To"], headers["References"]
    return RenderedEmail(subject=subject, text="\n".join(text_lines), html=str(html), headers=headers)
