"""Channels, contact methods and deliveries as the API shows them. Secret config values never leave: they
read as ``"********"`` (``configs.MASK``)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.notifications import configs
from apps.notifications.models import Channel, Delivery


class DeliverySerializer(serializers.ModelSerializer[Delivery]):
    """One line of the delivery log: the ``DeliveryResult`` fields plus what it was about."""

    # A plain string in the schema: an enum here would collide with the other "status" enums of the API.
    status = serializers.CharField(read_only=True, help_text="pending, sending, sent, failed or skipped")
    title = serializers.SerializerMethodField()
    severity = serializers.SerializerMethodField()

    class Meta:
        model = Delivery
        fields = [
            "id",
            "channel",
            "kind",
            "subject",
            "event",
            "title",
            "severity",
            "dedup_key",
            "status",
            "digest",
            "created_at",
            "finished_at",
            "attempts",
            "permanent",
            "latency_ms",
            "response_status",
            "response_excerpt",
            "error",
            "remote_id",
        ]
        read_only_fields = fields

    def get_title(self, delivery: Delivery) -> str:
        return str((delivery.notification or {}).get("title", ""))

    def get_severity(self, delivery: Delivery) -> str:
        return str((delivery.notification or {}).get("severity", ""))


class LastDeliverySerializer(serializers.ModelSerializer[Delivery]):
    status = serializers.CharField(read_only=True, help_text="pending, sending, sent, failed or skipped")

    class Meta:
        model = Delivery
        fields = ["id", "status", "event", "created_at", "finished_at", "error"]
        read_only_fields = fields


class ChannelSerializer(serializers.ModelSerializer[Channel]):
    """Input: ``name``, ``kind`` (a transport; fixed once created), ``config`` (the transport's fields),
    ``enabled``. The services validate them; this only checks their JSON types."""

    name = serializers.CharField(max_length=200)
    kind = serializers.CharField(max_length=50)
    config = serializers.JSONField(required=False)
    enabled = serializers.BooleanField(required=False)
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    last_delivery = serializers.SerializerMethodField()

    class Meta:
        model = Channel
        fields = [
            "id",
            "name",
            "kind",
            "config",
            "enabled",
            "disabled_reason",
            "disabled_at",
            "created_by",
            "created_at",
            "last_delivery",
        ]
        read_only_fields = ["id", "disabled_reason", "disabled_at", "created_by", "created_at", "last_delivery"]

    def to_representation(self, instance: Channel) -> dict[str, Any]:
        data = super().to_representation(instance)
        data["config"] = configs.public(instance.kind, instance.config)
        return data

    @extend_schema_field(LastDeliverySerializer(allow_null=True))
    def get_last_delivery(self, channel: Channel) -> Any:
        """The newest delivery, from the batch the list fetched (``context["last"]``); one query otherwise."""
        last = self.context.get("last")
        found = channel.deliveries.order_by("-id").first() if last is None else last.get(channel.pk)
        return LastDeliverySerializer(found).data if found is not None else None


class ContactMethodSerializer(ChannelSerializer):
    """A person's own channel; ``user`` is who it belongs to (admins list everyone's)."""

    user = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta(ChannelSerializer.Meta):
        fields = [*ChannelSerializer.Meta.fields, "user"]
        read_only_fields = [*ChannelSerializer.Meta.read_only_fields, "user"]
