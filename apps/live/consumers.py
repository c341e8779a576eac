"""The live WebSocket: browsers subscribe to topics of their organization."""

from __future__ import annotations

from typing import Any

from apps.core.consumers import TenantConsumer


class LiveConsumer(TenantConsumer):
    """``/ws/o/<organization_slug>/live/``.

    Client → server: ``{"subscribe": ["topic", ...]}`` or ``{"unsubscribe": [...]}``.
    Server → client: ``{"topic": ..., "payload": {...}}`` for each publish, and
    ``{"subscribed": [...]}`` acknowledgements. Topics are names within the
    connection's own organization; there is no way to name another's.
    """

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        if not isinstance(content, dict):
            await self.send_json({"error": {"message": 'Send a JSON object such as {"subscribe": ["topic"]}.'}})
            return
        try:
            for topic in _topics(content.get("subscribe")):
                await self.join(topic)
            for topic in _topics(content.get("unsubscribe")):
                await self.leave(topic)
        except ValueError as exc:
            await self.send_json({"error": {"message": str(exc)}})
            return
        await self.send_json({"subscribed": sorted(group.split(".", 2)[2] for group in self.joined)})

    async def live_event(self, event: dict[str, Any]) -> None:
        await self.send_json({"topic": event["topic"], "payload": event["payload"]})


def _topics(value: Any) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ValueError("subscribe and unsubscribe take a list of topic names")
    return value
