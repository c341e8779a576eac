"""The read API of notifications: channels, contact methods, the delivery log, the disabled-channel banner."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.db.models import Q, QuerySet

from apps.notifications.models import Channel, ContactMethod, Delivery

BANNER_ITEMS = 3


def channels_of(organization_id: int) -> QuerySet[Channel]:
    """The organization's team channels (not people's contact methods), by name."""
    return (
        Channel.objects.for_organization(organization_id)
        .filter(user__isnull=True)
        .select_related("created_by")
        .order_by("name", "id")
    )


def channel(organization_id: int, channel_id: int) -> Channel:
    """One team channel; ``Channel.DoesNotExist`` otherwise (also for a contact method's id)."""
    return channels_of(organization_id).get(pk=channel_id)


def contact_methods_of(organization_id: int, user_id: int | None = None) -> QuerySet[ContactMethod]:
    """People's own contact methods (of ``user_id`` only when given), by person then name."""
    rows = ContactMethod.objects.for_organization(organization_id).filter(user__isnull=False)
    if user_id is not None:
        rows = rows.filter(user_id=user_id)
    return rows.select_related("user").order_by("user__username", "name", "id")


def contact_method(organization_id: int, user_id: int, channel_id: int) -> ContactMethod:
    """One of ``user_id``'s own contact methods; ``ContactMethod.DoesNotExist`` for anyone else's."""
    return contact_methods_of(organization_id, user_id).get(pk=channel_id)


def last_deliveries(organization_id: int, channel_ids: Iterable[int]) -> dict[int, Delivery]:
    """The newest delivery of each channel, in one query (a list page's worth of channels)."""
    rows = (
        Delivery.objects.for_organization(organization_id)
        .filter(channel_id__in=list(channel_ids))
        .order_by("channel_id", "-id")
        .distinct("channel_id")
    )
    return {row.channel_id: row for row in rows}


def deliveries_of(organization_id: int, channel_id: int) -> QuerySet[Delivery]:
    """The channel's delivery log, newest first."""
    return Delivery.objects.for_organization(organization_id).filter(channel_id=channel_id).order_by("-id")


def delivery(organization_id: int, delivery_id: int) -> Delivery | None:
    return Delivery.objects.for_organization(organization_id).filter(pk=delivery_id).first()


@dataclass(frozen=True)
class DisabledChannel:
    id: int
    name: str
    kind: str
    reason: str
    personal: bool  # the viewer's own contact method (fixed on their contact-methods page)


def disabled_for(organization_id: int, user_id: int, *, team: bool) -> tuple[list[DisabledChannel], bool]:
    """What Vigil disabled that this person should fix: the team channels (``team``: they may edit them) and
    their own contact methods. At most ``BANNER_ITEMS``, and whether there are more; one query, on the
    partial index of disabled channels."""
    whose = Q(user_id=user_id) | Q(user__isnull=True) if team else Q(user_id=user_id)
    rows = Channel.objects.for_organization(organization_id).filter(whose, enabled=False, disabled_at__isnull=False)
    found: list[Any] = list(
        rows.order_by("-disabled_at").values("id", "name", "kind", "disabled_reason", "user_id")[: BANNER_ITEMS + 1]
    )
    items = [
        DisabledChannel(row["id"], row["name"], row["kind"], row["disabled_reason"], row["user_id"] is not None)
        for row in found[:BANNER_ITEMS]
    ]
    return items, len(found) > BANNER_ITEMS
