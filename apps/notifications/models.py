"""Channels (where notifications go) and deliveries (each notification to one channel: outbox and log).

A ``Delivery`` row is written in the same transaction as whatever caused it (an incident's state change),
with status ``pending``; a worker claims it with a conditional UPDATE (pending → sending), sends it through
the channel's transport and records the outcome on the same row. So a notification is never sent for a
change that rolled back, and two workers never send the same row.

Rows with ``digest`` set wait (pending) for their channel's next digest email instead of being sent one by
one; the digest claims all of a channel's waiting rows at once (docs/notifications.md).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from apps.core.models import TenantForeignKey, TenantModel


class Channel(TenantModel):
    """A configured destination: a Slack webhook, a PagerDuty service, an email list, a phone number...

    With ``user`` set it is one person's contact method (their email address, their phone for SMS): what
    escalation steps and on-call schedules notify when they name people rather than channels.
    """

    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=20, help_text="A transport kind (apps/notifications/transports/registry.py)")
    config = models.JSONField(default=dict, help_text="The transport's config fields; secret ones are write-only")
    enabled = models.BooleanField(default=True)
    disabled_reason = models.TextField(blank=True, help_text="Why Vigil disabled it (the permanent error)")
    disabled_at = models.DateTimeField(null=True, blank=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE,
                             related_name="+", help_text="Set for a person's own contact method")  # fmt: skip
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")  # fmt: skip
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            # Team channels are named uniquely in the organization; a person's contact methods among their own.
            models.UniqueConstraint(
                fields=["organization", "name"], condition=Q(user__isnull=True), name="notifications_channel_name"
            ),
            models.UniqueConstraint(
                fields=["organization", "user", "name"],
                condition=Q(user__isnull=False),
                name="notifications_contact_method_name",
            ),
        ]
        indexes = [
            # The banner of disabled channels runs on every page: it reads only this (normally empty) index.
            models.Index(fields=["organization"], condition=Q(enabled=False), name="notifications_channel_disabled")
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.kind})"

    @property
    def is_contact_method(self) -> bool:
        return self.user_id is not None


class ContactMethod(Channel):
    """A person's own contact method (a ``Channel`` with ``user`` set), as the API and pages address it."""

    class Meta:
        proxy = True


class DeliveryStatus(models.TextChoices):
    PENDING = "pending"  # written with its cause, not claimed yet
    SENDING = "sending"  # claimed by a worker (claimed_at says when; a stale claim is retried)
    SENT = "sent"
    FAILED = "failed"
    SKIPPED = "skipped"  # the channel was disabled or deleted before it was sent


class Delivery(TenantModel):
    """One notification to one channel: the outbox entry while pending, then its line in the delivery log."""

    channel = TenantForeignKey(Channel, null=True, on_delete=models.SET_NULL, related_name="deliveries")
    kind = models.CharField(max_length=20, help_text="The channel's kind when it was written")
    subject = models.CharField(max_length=100, blank=True, help_text='What it is about, e.g. "incident:12"')
    event = models.CharField(max_length=12)
    dedup_key = models.CharField(max_length=255)
    notification = models.JSONField(help_text="The Notification, so it can be sent (again) without its cause")
    status = models.CharField(max_length=8, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    digest = models.BooleanField(default=False, help_text="Waits for the channel's next digest email")
    created_at = models.DateTimeField(auto_now_add=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    claims = models.PositiveSmallIntegerField(default=0, help_text="Times a worker claimed it")
    requeued_at = models.DateTimeField(null=True, blank=True, help_text="When the recovery task last queued it")
    finished_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    permanent = models.BooleanField(default=False)
    latency_ms = models.FloatField(null=True, blank=True)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_excerpt = models.TextField(blank=True)
    error = models.TextField(blank=True)
    remote_id = models.CharField(max_length=200, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["organization", "status", "created_at"], name="notifications_delivery_status"),
            models.Index(fields=["organization", "subject"], name="notifications_delivery_subject"),
            models.Index(fields=["organization", "channel", "-id"], name="notifications_delivery_log"),
            # The recovery and digest tasks look across organizations at the few rows not finished yet.
            models.Index(
                fields=["created_at"],
                condition=Q(status__in=["pending", "sending"]),
                name="notifications_delivery_open",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event} to {self.kind} ({self.status})"
