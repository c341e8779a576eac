"""``publish``: tell an organization's browsers that something changed, after the commit (``send``: now)."""

from __future__ import annotations

import logging
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

from apps.core.consumers import organization_group

logger = logging.getLogger("vigil.live")

EVENT_TYPE = "live.event"


def publish(organization_id: int, topic: str, payload: dict[str, Any]) -> None:
    """Send ``payload`` to the organization's subscribers of ``topic`` once the transaction commits.

    Outside a transaction it sends at once. A rolled-back transaction sends
    nothing, so browsers never see data that does not exist.
    """
    transaction.on_commit(lambda: send(organization_id, topic, payload))


def send(organization_id: int, topic: str, payload: dict[str, Any]) -> None:
    """Send now, whatever the transaction: for callers that already run after the commit (and for threads
    without a database connection, which ``on_commit`` would open only to learn there is no transaction).
    Delivery is best effort: a Redis hiccup is logged, never raised into the writer."""
    layer = get_channel_layer()
    if layer is None:
        return
    group = organization_group(organization_id, topic)
    try:
        async_to_sync(layer.group_send)(group, {"type": EVENT_TYPE, "topic": topic, "payload": payload})
    except Exception:  # the channel layer's errors vary by backend; never fail the writer
        logger.exception("live publish to %s failed", group)
