"""The write API of notifications: channels (audited), the outbox, digests and test notifications.

The outbox (docs/notifications.md):

- ``enqueue`` writes a pending ``Delivery`` in the caller's transaction and queues its sending after
  commit, so a change that rolls back notifies nobody;
- ``send_delivery`` claims the row with a conditional UPDATE (pending → sending), so of two workers
  given the same row exactly one sends it, then records the ``DeliveryResult`` on it;
- ``recover_deliveries`` (beat) releases claims older than ``VIGIL_NOTIFICATION_CLAIM_TIMEOUT_SECONDS``
  (a killed worker) and queues again the pending rows whose task was lost;
- ``due_digests``/``send_digest`` (beat) send each digest channel's waiting rows as one email.

A permanent failure disables the channel (``disable_channel``: audited, its pending rows skipped); a
transient one never does. Functions taking only ids (``send_delivery``, ``send_digest``) run inside the
tenant scope of the row (``tasks``); the beat functions look across organizations by design.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Min, Q
from django.utils import timezone

from apps.audit.actions import Action
from apps.audit.services import Origin, record
from apps.notifications import configs
from apps.notifications.configs import ChannelInvalid
from apps.notifications.delivery import DeliveryResult, attempt, deliver
from apps.notifications.message import Notification, jsonable
from apps.notifications.models import Channel, Delivery, DeliveryStatus
from apps.notifications.transports.digest import render_digest
from apps.notifications.transports.email import send_email

logger = logging.getLogger(__name__)

# A row whose claim went stale this many times is given up (failed) rather than claimed forever.
MAX_CLAIMS = 3
# One digest email lists at most this many notifications; the rest go out with the next one.
DIGEST_MAX_ITEMS = 100
# "Low-severity" in the sense: everything that does not page someone.
DIGEST_SEVERITIES = ("warning", "info")
# Rows queued again per recovery run; more wait for the next run (a minute later).
REQUEUE_BATCH = 1000
TEST_SUBJECT = "test"
NAME_MAX = 100


# --- The stored notification ----------------------------------------------------------------------------------------


def notification_json(notification: Notification) -> dict[str, Any]:
    """The notification as the JSON stored on its ``Delivery`` (``notification_of`` reads it back)."""
    return {
        "event": notification.event,
        "dedup_key": notification.dedup_key,
        "title": notification.title,
        "severity": notification.severity,
        "summary": notification.summary,
        "details": jsonable(dict(notification.details)),
        "source": notification.source,
        "links": {str(name): str(url) for name, url in notification.links.items()},
        "timestamp": notification.timestamp.isoformat(),
        "organization": notification.organization,
    }


def notification_from_json(data: Any) -> Notification:
    """``ValueError`` when ``data`` is not a stored notification."""
    try:
        return Notification(
            event=data["event"],
            dedup_key=data["dedup_key"],
            title=data["title"],
            severity=data["severity"],
            summary=data["summary"],
            details=dict(data["details"]),
            source=data["source"],
            links=dict(data["links"]),
            timestamp=datetime.fromisoformat(data["timestamp"]),
            organization=data["organization"],
        )
    except (KeyError, TypeError) as exc:
        raise ValueError(f"not a stored notification: {exc}") from exc


def notification_of(delivery: Delivery) -> Notification:
    """The notification a delivery carries (what was enqueued; JSON values come back as JSON gives them)."""
    return notification_from_json(delivery.notification)


# --- Channels -------------------------------------------------------------------------------------------------------


def _clean_name(name: Any) -> str:
    text = name.strip() if isinstance(name, str) else ""
    if not text or len(text) > NAME_MAX:
        raise ChannelInvalid({"name": [f"enter a name of 1 to {NAME_MAX} characters"]})
    return text


def _name_taken(organization_id: int, name: str, user_id: int | None, exclude: int | None = None) -> bool:
    rows = Channel.objects.for_organization(organization_id).filter(name=name, user_id=user_id)  # None: IS NULL
    return rows.exclude(pk=exclude).exists() if exclude else rows.exists()


def _taken(name: str, personal: bool) -> ChannelInvalid:
    where = "one of your contact methods" if personal else "a channel of this organization"
    return ChannelInvalid({"name": [f"{where} is already named {name!r}"]})


def snapshot(channel: Channel) -> dict[str, Any]:
    """What the audit trail keeps of a channel: secrets masked."""
    values: dict[str, Any] = {
        "name": channel.name,
        "kind": channel.kind,
        "config": configs.public(channel.kind, channel.config),
        "enabled": channel.enabled,
    }
    if channel.user_id is not None:
        values["user_id"] = channel.user_id
    return values


def _raw(channel: Channel) -> dict[str, Any]:
    return {"name": channel.name, "config": dict(channel.config), "enabled": channel.enabled}


@transaction.atomic
def create_channel(
    organization_id: int,
    actor: Any,
    *,
    name: Any,
    kind: Any,
    config: Any,
    enabled: bool = True,
    user: Any = None,
    origin: Origin | None = None,
) -> Channel:
    """A team channel, or with ``user`` that person's contact method (email or SMS only). Audited.

    ``ChannelInvalid`` names every bad field; nothing is written then.
    """
    personal = user is not None
    errors: dict[str, list[str]] = {}
    cleaned_name = cleaned_kind = ""
    cleaned_config: dict[str, Any] = {}
    try:
        cleaned_name = _clean_name(name)
    except ChannelInvalid as exc:
        errors.update(exc.errors)
    try:
        cleaned_kind = configs.check_kind(kind, personal=personal)
        cleaned_config = configs.clean(cleaned_kind, config)
    except ChannelInvalid as exc:
        errors.update(exc.errors)
    if errors:
        raise ChannelInvalid(errors)
    user_id = user.pk if personal else None
    if _name_taken(organization_id, cleaned_name, user_id):
        raise _taken(cleaned_name, personal)
    try:
        with transaction.atomic():  # a savepoint: two requests creating the same name at once
            channel = Channel.objects.for_organization(organization_id).create(
                organization_id=organization_id,
                name=cleaned_name,
                kind=cleaned_kind,
                config=cleaned_config,
                enabled=bool(enabled),
                user=user,
                created_by=actor if getattr(actor, "is_authenticated", False) else None,
            )
    except IntegrityError:
        raise _taken(cleaned_name, personal) from None
    record(organization_id, Action.CHANNEL_CREATED, actor=actor, target=channel, after=snapshot(channel),
           origin=origin)  # fmt: skip
    return channel


@transaction.atomic
def update_channel(
    channel: Channel,
    actor: Any,
    *,
    name: Any = None,
    config: Any = None,
    enabled: bool | None = None,
    origin: Origin | None = None,
) -> Channel:
    """Change what is given (``None``: unchanged). ``config`` replaces the stored one, except the secret fields
    it leaves out (or sends as ``configs.MASK``), which are kept. Enabling clears the disabled reason;
    disabling skips the pending deliveries. Audited with the changed fields only."""
    errors: dict[str, list[str]] = {}
    values: dict[str, Any] = {}
    try:
        if name is not None:
            values["name"] = _clean_name(name)
    except ChannelInvalid as exc:
        errors.update(exc.errors)
    try:
        if config is not None:
            values["config"] = configs.clean(channel.kind, config, previous=channel.config)
    except ChannelInvalid as exc:
        errors.update(exc.errors)
    if errors:
        raise ChannelInvalid(errors)
    if "name" in values and _name_taken(channel.organization_id, values["name"], channel.user_id, exclude=channel.pk):
        raise _taken(values["name"], channel.user_id is not None)
    before, raw_before = snapshot(channel), _raw(channel)
    for attribute, value in values.items():
        setattr(channel, attribute, value)
    if enabled is not None and bool(enabled) != channel.enabled:
        # Only Vigil's own disabling carries a reason (and a banner); a person's is their decision.
        channel.enabled, channel.disabled_reason, channel.disabled_at = bool(enabled), "", None
    after, raw_after = snapshot(channel), _raw(channel)
    changed = [key for key in raw_after if raw_before[key] != raw_after[key]]
    if not changed:
        return channel
    try:
        with transaction.atomic():
            channel.save()
    except IntegrityError:
        raise _taken(channel.name, channel.user_id is not None) from None
    if not channel.enabled and before["enabled"]:
        _skip_pending(channel, "the channel was disabled")
    audit_after = {key: after[key] for key in changed}
    secrets = configs.changed_secrets(channel.kind, raw_before["config"], raw_after["config"])
    if secrets:  # masked on both sides, so say which ones changed
        audit_after["secrets_changed"] = secrets
    record(channel.organization_id, Action.CHANNEL_UPDATED, actor=actor, target=channel,
           before={key: before[key] for key in changed}, after=audit_after, origin=origin)  # fmt: skip
    return channel


@transaction.atomic
def delete_channel(channel: Channel, actor: Any, *, origin: Origin | None = None) -> None:
    """Delete it; its pending deliveries are skipped, and its delivery log stays (without the channel)."""
    _skip_pending(channel, "the channel was deleted")
    record(channel.organization_id, Action.CHANNEL_DELETED, actor=actor, target=channel, before=snapshot(channel),
           origin=origin)  # fmt: skip
    channel.delete()


def disable_channel(channel: Channel, reason: str) -> bool:
    """Vigil disables a channel after a permanent failure: audited (actor "system"), its pending rows skipped,
    admins see a banner. False when it was disabled already (by someone else, or a moment ago)."""
    now = timezone.now()
    reason = reason[:1000] or "a permanent delivery failure"
    with transaction.atomic():
        rows = Channel.objects.for_organization(channel.organization_id).filter(pk=channel.pk, enabled=True)
        if not rows.update(enabled=False, disabled_reason=reason, disabled_at=now):
            return False
        channel.enabled, channel.disabled_reason, channel.disabled_at = False, reason, now
        record(channel.organization_id, Action.CHANNEL_DISABLED, target=channel, before={"enabled": True},
               after={"enabled": False, "reason": reason})  # fmt: skip
        _skip_pending(channel, f"the channel was disabled: {reason}")
    logger.warning("channel %s of organization %s disabled: %s", channel.pk, channel.organization_id, reason)
    return True


def _label(actor: Any) -> str:
    return actor.get_username() if getattr(actor, "is_authenticated", False) else "system"


def _skip_pending(channel: Channel, why: str) -> int:
    return (
        Delivery.objects.for_organization(channel.organization_id)
        .filter(channel_id=channel.pk, status=DeliveryStatus.PENDING)
        .update(status=DeliveryStatus.SKIPPED, finished_at=timezone.now(), error=why[:500])
    )


# --- The outbox -----------------------------------------------------------------------------------------------------


def digested(channel: Channel, notification: Notification) -> bool:
    """Whether this notification waits for the channel's digest: a warning or info (not a test) to an email
    channel with a digest period."""
    return (
        channel.kind == "email"
        and configs.digest_minutes(channel.config) > 0
        and notification.severity in DIGEST_SEVERITIES
        and notification.event != "test"
    )


def _row(channel: Channel, notification: Notification, subject: str) -> dict[str, Any]:
    return {
        "organization_id": channel.organization_id,
        "channel": channel,
        "kind": channel.kind,
        "subject": subject[:100],
        "event": notification.event,
        "dedup_key": notification.dedup_key[:255],  # the column is for lookups; the JSON keeps it whole
        "notification": notification_json(notification),
    }


def enqueue(channel: Channel, notification: Notification, *, subject: str) -> Delivery | None:
    """Write a pending ``Delivery`` in the caller's transaction and queue its sending after commit.

    A digest-enabled email channel given a warning or info notification keeps the row pending for its next
    digest instead. A disabled channel gets a ``skipped`` row (so the log and the incident timeline show
    that it was not notified, and why) and ``None`` is returned: nothing will be sent.
    """
    rows = Delivery.objects.for_organization(channel.organization_id)
    if not channel.enabled:
        error = "the channel is disabled" + (f": {channel.disabled_reason}" if channel.disabled_reason else "")
        rows.create(**_row(channel, notification, subject), status=DeliveryStatus.SKIPPED,
                    finished_at=timezone.now(), error=error[:500])  # fmt: skip
        return None
    delivery: Delivery = rows.create(**_row(channel, notification, subject), digest=digested(channel, notification))
    if not delivery.digest:
        # robust: a broker outage must not fail the caller's commit; the recovery task queues the row later.
        transaction.on_commit(partial(queue_sending, channel.organization_id, delivery.pk), robust=True)
    return delivery


def queue_sending(organization_id: int, delivery_id: int) -> None:
    from apps.notifications.tasks import send_delivery_task  # the tasks module imports this one

    send_delivery_task.delay(organization_id, delivery_id)


def send_delivery(delivery_id: int) -> None:
    """Claim, send and record one pending delivery (in the tenant scope of its organization).

    A row that is not pending (claimed by another worker, finished, skipped) or waits for a digest is left
    alone, so running this twice for one row, at once or later, sends it once.
    """
    claimed_at = timezone.now()
    claimed = Delivery.objects.filter(pk=delivery_id, status=DeliveryStatus.PENDING, digest=False).update(
        status=DeliveryStatus.SENDING, claimed_at=claimed_at, claims=F("claims") + 1
    )
    if not claimed:
        return
    delivery = Delivery.objects.select_related("channel").get(pk=delivery_id)
    channel = delivery.channel
    if channel is None or not channel.enabled:
        why = "the channel was deleted" if channel is None else "the channel is disabled"
        _finish(delivery.organization_id, [delivery_id], claimed_at, status=DeliveryStatus.SKIPPED, error=why)
        return
    try:
        notification = notification_of(delivery)
    except ValueError as exc:  # not the channel's fault: fail the row, keep the channel
        _finish(delivery.organization_id, [delivery_id], claimed_at, status=DeliveryStatus.FAILED, error=str(exc))
        return
    result = deliver(channel.kind, channel.config, notification)
    _record(delivery.organization_id, [delivery_id], claimed_at, result)
    if result.permanent:
        disable_channel(channel, result.error)


def _finish(organization_id: int, ids: Sequence[int], claimed_at: datetime, *, status: str, error: str) -> None:
    Delivery.objects.for_organization(organization_id).filter(
        pk__in=ids, status=DeliveryStatus.SENDING, claimed_at=claimed_at
    ).update(status=status, finished_at=timezone.now(), error=error[:500])


def _record(organization_id: int, ids: Sequence[int], claimed_at: datetime, result: DeliveryResult) -> None:
    """The result on the rows this worker claimed (a row whose claim was released and taken again since
    belongs to the other worker now)."""
    rows = Delivery.objects.for_organization(organization_id)
    updated = rows.filter(pk__in=ids, status=DeliveryStatus.SENDING, claimed_at=claimed_at).update(
        status=result.status,
        finished_at=timezone.now(),
        attempts=result.attempts,
        permanent=result.permanent,
        latency_ms=result.latency_ms,
        response_status=result.response_status,
        response_excerpt=result.response_excerpt,
        error=result.error,
        remote_id=result.remote_id[:200],
    )
    if updated != len(ids):
        logger.warning("%d of %d deliveries were claimed again before their result came", len(ids) - updated, len(ids))


@dataclass(frozen=True)
class Recovered:
    abandoned: int  # stale claims given up after MAX_CLAIMS
    released: int  # stale claims made pending again
    requeue: list[tuple[int, int]] = field(default_factory=list)  # (organization id, delivery id) to queue again


def recover_deliveries(*, now: datetime | None = None) -> Recovered:
    """Release stale claims and pick the pending rows whose sending task was lost (worker killed, broker down).

    Across organizations by design (a beat task): each row found is then sent by ``send_delivery`` inside its
    own organization's scope, and its claim there makes a duplicate task harmless. A pending row is queued
    again at most once per claim timeout, so a long queue is not flooded with copies.
    """
    now = now or timezone.now()
    stale = now - timedelta(seconds=settings.VIGIL_NOTIFICATION_CLAIM_TIMEOUT_SECONDS)
    lost = now - timedelta(seconds=settings.VIGIL_NOTIFICATION_REQUEUE_SECONDS)
    rows = Delivery.objects.unscoped()  # across organizations by design: see the docstring
    sending = rows.filter(status=DeliveryStatus.SENDING, claimed_at__lt=stale)
    abandoned = sending.filter(claims__gte=MAX_CLAIMS).update(
        status=DeliveryStatus.FAILED,
        finished_at=now,
        error=f"given up: the worker sending it stopped {MAX_CLAIMS} times before it finished",
    )
    released = sending.update(status=DeliveryStatus.PENDING, requeued_at=None)
    with transaction.atomic():
        found = list(
            rows.select_for_update(skip_locked=True)
            .filter(status=DeliveryStatus.PENDING, digest=False, created_at__lt=lost)
            .filter(Q(requeued_at__isnull=True) | Q(requeued_at__lt=stale))
            .order_by("created_at")
            .values_list("organization_id", "id")[:REQUEUE_BATCH]
        )
        rows.filter(id__in=[delivery_id for _, delivery_id in found]).update(requeued_at=now)
    return Recovered(abandoned=abandoned, released=released, requeue=found)


# --- Digests --------------------------------------------------------------------------------------------------------


def due_digests(*, now: datetime | None = None) -> list[tuple[int, int]]:
    """(organization id, channel id) of each channel whose oldest waiting row has waited its digest period.

    Across organizations by design (a beat task); ``send_digest`` then runs in each one's scope.
    """
    now = now or timezone.now()
    waiting = (
        Delivery.objects.unscoped()  # across organizations by design: see the docstring
        .filter(status=DeliveryStatus.PENDING, digest=True, channel__isnull=False)
        .values("organization_id", "channel_id")
        .annotate(oldest=Min("created_at"))
    )
    oldest = {(row["organization_id"], row["channel_id"]): row["oldest"] for row in waiting}
    if not oldest:
        return []
    # The channels of the rows just found; each is matched to its row by (organization, id) below.
    channels = Channel.objects.unscoped().filter(id__in=[channel_id for _, channel_id in oldest])
    due = []
    for organization_id, channel_id, config in channels.values_list("organization_id", "id", "config"):
        first = oldest.get((organization_id, channel_id))
        if first is not None and first <= now - timedelta(minutes=configs.digest_minutes(config)):
            due.append((organization_id, channel_id))
    return sorted(due)


def send_digest(channel_id: int) -> int:
    """Claim the channel's waiting rows (at most ``DIGEST_MAX_ITEMS``, oldest first) and send them as one email;
    every row gets the email's result. Returns how many rows it claimed. In the channel's tenant scope.

    The claim locks the rows and moves them to ``sending`` in one transaction, skipping rows another worker
    has locked, so a row is never in two digests.
    """
    channel = Channel.objects.filter(pk=channel_id).first()
    if channel is None:
        return 0
    claimed_at = timezone.now()
    with transaction.atomic():
        ids = list(
            Delivery.objects.select_for_update(skip_locked=True)
            .filter(channel_id=channel_id, status=DeliveryStatus.PENDING, digest=True)
            .order_by("id")
            .values_list("id", flat=True)[:DIGEST_MAX_ITEMS]
        )
        Delivery.objects.filter(pk__in=ids, status=DeliveryStatus.PENDING).update(
            status=DeliveryStatus.SENDING, claimed_at=claimed_at, claims=F("claims") + 1
        )
    if not ids:
        return 0
    if not channel.enabled:
        _finish(
            channel.organization_id, ids, claimed_at, status=DeliveryStatus.SKIPPED, error="the channel is disabled"
        )
        return len(ids)
    notifications, readable = [], []
    for delivery_id, data in Delivery.objects.filter(pk__in=ids).order_by("id").values_list("id", "notification"):
        try:
            notifications.append(notification_from_json(data))
            readable.append(delivery_id)
        except ValueError as exc:
            _finish(channel.organization_id, [delivery_id], claimed_at, status=DeliveryStatus.FAILED, error=str(exc))
    if not notifications:
        return len(ids)
    recipients = list(channel.config.get("recipients", []))
    rendered = partial(render_digest, notifications[0].organization, notifications)
    result = attempt("email", lambda: send_email(recipients, rendered()))
    _record(channel.organization_id, readable, claimed_at, result)
    if result.permanent:
        disable_channel(channel, result.error)
    return len(ids)


# --- Test notifications ---------------------------------------------------------------------------------------------


def build_test_notification(channel: Channel, actor: Any) -> Notification:
    organization = channel.organization.slug
    return Notification(
        event="test",
        dedup_key=f"vigil-test:{organization}:channel-{channel.pk}:{uuid.uuid4().hex[:12]}",
        title=f"Test notification to {channel.name}",
        severity="info",
        summary="Vigil sent this to check that the channel works. Nothing needs doing.",
        details={"channel": channel.name, "sent_by": _label(actor)},
        source="vigil: channel test",
        links={},
        timestamp=timezone.now(),
        organization=organization,
    )


def send_test(channel: Channel, actor: Any) -> Delivery:
    """Send a test notification now and log it (subject ``test``); returns the finished row.

    One attempt, no retries: someone is waiting for the answer. Works on a disabled channel (to check a fix
    before enabling it again), and a failure never disables the channel: the person testing sees it.
    """
    notification = build_test_notification(channel, actor)
    claimed_at = timezone.now()
    delivery: Delivery = Delivery.objects.for_organization(channel.organization_id).create(
        **_row(channel, notification, TEST_SUBJECT), status=DeliveryStatus.SENDING, claimed_at=claimed_at, claims=1
    )
    result = deliver(channel.kind, channel.config, notification, attempts=1)
    _record(channel.organization_id, [delivery.pk], claimed_at, result)
    delivery.refresh_from_db()
    return delivery
