"""``TenantConsumer``: the one place WebSocket connections scope to a tenant."""

from __future__ import annotations

import re
from typing import Any, ClassVar

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from apps.core.access import MissingScope, TenantAccess, TenantNotFound, resolve_access

# Close codes in the application range (4000-4999), mirroring HTTP statuses.
CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_NOT_FOUND = 4404

_TOPIC = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,79}$")


def organization_group(organization_id: int, topic: str) -> str:
    """The Channels group of one organization's topic; the only way group names are made."""
    if not _TOPIC.match(topic):
        raise ValueError(f"invalid topic {topic!r}: use lowercase letters, digits, '.', '_' or '-'")
    return f"org.{int(organization_id)}.{topic}"


class TenantConsumer(AsyncJsonWebsocketConsumer):  # type: ignore[misc]  # channels ships no types
    """A WebSocket under ``/ws/o/<organization_slug>/...``.

    ``connect`` authenticates the session user and resolves the membership
    before anything else; only then is the socket accepted and may it join
    groups, and only groups of its own organization (``join``). Refusals
    accept and then close with 4401/4403/4404 and a reason, so a browser can
    tell the person what is wrong.
    """

    required_scope: ClassVar[str] = "telemetry:read"
    access: TenantAccess | None = None

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self._refuse(CLOSE_UNAUTHENTICATED, "Sign in to Vigil first.")
            return
        slug = self.scope["url_route"]["kwargs"].get("organization_slug", "")
        try:
            access: TenantAccess = await database_sync_to_async(resolve_access)(user, slug)
            access.require(self.required_scope)
        except TenantNotFound:
            await self._refuse(CLOSE_NOT_FOUND, "No such organization, or you are not a member.")
            return
        except MissingScope as exc:
            await self._refuse(CLOSE_FORBIDDEN, str(exc))
            return
        self.access = access
        self.joined: set[str] = set()
        await self.accept()
        await self.on_authorized()

    async def _refuse(self, code: int, reason: str) -> None:
        await self.accept()
        await self.send_json({"error": {"code": code, "message": reason}})
        await self.close(code=code, reason=reason)

    async def on_authorized(self) -> None:
        """Hook for subclasses: runs once the connection is accepted for a member."""

    async def join(self, topic: str) -> str:
        if self.access is None:
            raise TenantNotFound("connection is not authorized")
        group = organization_group(self.access.organization_id, topic)
        await self.channel_layer.group_add(group, self.channel_name)
        self.joined.add(group)
        return group

    async def leave(self, topic: str) -> None:
        if self.access is None:
            return
        group = organization_group(self.access.organization_id, topic)
        await self.channel_layer.group_discard(group, self.channel_name)
        self.joined.discard(group)

    async def disconnect(self, code: int) -> None:
        for group in getattr(self, "joined", set()):
            await self.channel_layer.group_discard(group, self.channel_name)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        """Subclasses handle messages; the base ignores them."""
