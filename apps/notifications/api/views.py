"""Channels and contact methods under /api/v1/orgs/<org>/. Thin: check JSON types, call ``services``, serialize.

- ``channels/``: the team's channels. Read with ``telemetry:read``, changed with ``alerts:write`` (audited);
  ``channels/<id>/test/`` sends a test notification now, ``channels/<id>/deliveries/`` is its delivery log.
- ``contact-methods/``: people's own channels (their email, their phone for SMS). Every member (``org:read``)
  creates, edits, tests and deletes their own, and only their own; members with ``alerts:write`` list and
  read everyone's.
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from apps.audit.services import Origin
from apps.core.api.viewsets import TenantScopedViewSet
from apps.notifications import queries, services
from apps.notifications.api.serializers import ChannelSerializer, ContactMethodSerializer, DeliverySerializer
from apps.notifications.configs import ChannelInvalid
from apps.notifications.models import Channel, ContactMethod
from apps.tenants.roles import Scope


def _invalid(exc: ChannelInvalid) -> exceptions.ValidationError:
    return exceptions.ValidationError(exc.errors)


class _ChannelEndpoints(TenantScopedViewSet):
    """What team channels and contact methods share; ``personal`` tells them apart."""

    serializer_class = ChannelSerializer
    personal: ClassVar[bool] = False
    noun: ClassVar[str] = "channel"

    def _data(self, channel: Channel, **context: Any) -> Any:
        return self.serializer_class(channel, context=context).data

    def _input(self, *, partial: bool) -> dict[str, Any]:
        serializer = self.serializer_class(data=self.request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        return dict(serializer.validated_data)

    def list(self, request: Request, organization_slug: str) -> Response:
        page = self.paginate_queryset(self.get_queryset()) or []
        last = queries.last_deliveries(self.access.organization_id, [channel.pk for channel in page])
        return self.get_paginated_response(self.serializer_class(page, many=True, context={"last": last}).data)

    def retrieve(self, request: Request, organization_slug: str, pk: str) -> Response:
        return Response(self._data(self.get_object()))

    def create(self, request: Request, organization_slug: str) -> Response:
        data = self._input(partial=False)
        try:
            channel = services.create_channel(
                self.access.organization_id,
                request.user,
                name=data["name"],
                kind=data["kind"],
                config=data.get("config", {}),
                enabled=data.get("enabled", True),
                user=request.user if self.personal else None,
                origin=Origin.from_request(request),
            )
        except ChannelInvalid as exc:
            raise _invalid(exc) from exc
        return self.created(self._data(channel, last={}))

    def partial_update(self, request: Request, organization_slug: str, pk: str) -> Response:
        channel = self.get_object()
        data = self._input(partial=True)
        if "kind" in data and data["kind"] != channel.kind:
            raise exceptions.ValidationError(
                {"kind": [f"a {self.noun}'s kind cannot change (it is {channel.kind!r}); create a new one instead"]}
            )
        try:
            channel = services.update_channel(
                channel,
                request.user,
                name=data.get("name"),
                config=data.get("config"),
                enabled=data.get("enabled"),
                origin=Origin.from_request(request),
            )
        except ChannelInvalid as exc:
            raise _invalid(exc) from exc
        return Response(self._data(channel))

    def destroy(self, request: Request, organization_slug: str, pk: str) -> Response:
        services.delete_channel(self.get_object(), request.user, origin=Origin.from_request(request))
        return Response(status=status.HTTP_204_NO_CONTENT)

    def _test(self, request: Request) -> Response:
        delivery = services.send_test(self.get_object(), request.user)
        return Response(DeliverySerializer(delivery).data)

    def _deliveries(self) -> Response:
        channel = self.get_object()
        page = self.paginate_queryset(queries.deliveries_of(self.access.organization_id, channel.pk)) or []
        return self.get_paginated_response(DeliverySerializer(page, many=True).data)


@extend_schema(tags=["notifications"])
class ChannelViewSet(_ChannelEndpoints):
    """The organization's notification channels (Slack, PagerDuty, email, SMS, webhook, Teams)."""

    model = Channel
    scope_map = {
        "GET": Scope.TELEMETRY_READ,
        "POST": Scope.ALERTS_WRITE,
        "PATCH": Scope.ALERTS_WRITE,
        "DELETE": Scope.ALERTS_WRITE,
    }

    def scope_queryset(self, queryset: QuerySet[Any]) -> QuerySet[Any]:
        return queryset.filter(user__isnull=True).select_related("created_by").order_by("name", "id")

    @extend_schema(operation_id="channels_list")
    def list(self, request: Request, organization_slug: str) -> Response:
        """The team's channels by name, each with its newest delivery."""
        return super().list(request, organization_slug)

    @extend_schema(operation_id="channels_retrieve")
    def retrieve(self, request: Request, organization_slug: str, pk: str) -> Response:
        return super().retrieve(request, organization_slug, pk)

    @extend_schema(operation_id="channels_create", responses={201: ChannelSerializer})
    def create(self, request: Request, organization_slug: str) -> Response:
        """Create a channel; ``config`` is validated by the kind's transport (400 names each bad field). Audited."""
        return super().create(request, organization_slug)

    @extend_schema(operation_id="channels_update")
    def partial_update(self, request: Request, organization_slug: str, pk: str) -> Response:
        """Rename, reconfigure, enable or disable. ``config`` replaces the stored one, except secret fields left
        out or sent as ``"********"``, which are kept. Enabling clears the reason Vigil disabled it. Audited."""
        return super().partial_update(request, organization_slug, pk)

    @extend_schema(operation_id="channels_delete")
    def destroy(self, request: Request, organization_slug: str, pk: str) -> Response:
        """Delete; its pending deliveries are skipped and its delivery log is kept. Audited."""
        return super().destroy(request, organization_slug, pk)

    @extend_schema(operation_id="channels_test", request=None, responses={200: DeliverySerializer})
    @action(detail=True, methods=["post"])
    def test(self, request: Request, organization_slug: str, pk: str) -> Response:
        """Send a test notification now (one attempt) and answer with its result, also logged as a delivery."""
        return self._test(request)

    @extend_schema(operation_id="channels_deliveries", responses={200: DeliverySerializer(many=True)})
    @action(detail=True, methods=["get"])
    def deliveries(self, request: Request, organization_slug: str, pk: str) -> Response:
        """The channel's delivery log, newest first, paginated."""
        return self._deliveries()


@extend_schema(tags=["notifications"])
class ContactMethodViewSet(_ChannelEndpoints):
    """People's own contact methods: an email address or a phone number (SMS)."""

    model = ContactMethod
    serializer_class = ContactMethodSerializer
    personal = True
    noun = "contact method"
    scope_map = {"GET": Scope.ORG_READ, "POST": Scope.ORG_READ, "PATCH": Scope.ORG_READ, "DELETE": Scope.ORG_READ}

    def scope_queryset(self, queryset: QuerySet[Any]) -> QuerySet[Any]:
        queryset = queryset.filter(user__isnull=False).select_related("user", "created_by")
        queryset = queryset.order_by("user__username", "name", "id")
        if self.request.method in ("GET", "HEAD") and Scope.ALERTS_WRITE in self.access.scopes:
            return queryset  # the people who set up escalation see who can be reached how
        return queryset.filter(user_id=self.request.user.pk)

    @extend_schema(operation_id="contact_methods_list")
    def list(self, request: Request, organization_slug: str) -> Response:
        """Your contact methods; everyone's for members with ``alerts:write``."""
        return super().list(request, organization_slug)

    @extend_schema(operation_id="contact_methods_retrieve")
    def retrieve(self, request: Request, organization_slug: str, pk: str) -> Response:
        return super().retrieve(request, organization_slug, pk)

    @extend_schema(operation_id="contact_methods_create", responses={201: ContactMethodSerializer})
    def create(self, request: Request, organization_slug: str) -> Response:
        """Add one of your own: ``kind`` ``email`` (``config.recipients``) or ``sms`` (``config.to`` and the
        Twilio fields). Audited."""
        return super().create(request, organization_slug)

    @extend_schema(operation_id="contact_methods_update")
    def partial_update(self, request: Request, organization_slug: str, pk: str) -> Response:
        return super().partial_update(request, organization_slug, pk)

    @extend_schema(operation_id="contact_methods_delete")
    def destroy(self, request: Request, organization_slug: str, pk: str) -> Response:
        return super().destroy(request, organization_slug, pk)

    @extend_schema(operation_id="contact_methods_test", request=None, responses={200: DeliverySerializer})
    @action(detail=True, methods=["post"])
    def test(self, request: Request, organization_slug: str, pk: str) -> Response:
        """Send a test notification to one of your contact methods now."""
        return self._test(request)

    @extend_schema(operation_id="contact_methods_deliveries", responses={200: DeliverySerializer(many=True)})
    @action(detail=True, methods=["get"])
    def deliveries(self, request: Request, organization_slug: str, pk: str) -> Response:
        """The contact method's delivery log, newest first, paginated."""
        return self._deliveries()
