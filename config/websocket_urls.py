"""Every WebSocket route. The isolation tests discover them from this list."""

from apps.live.routing import websocket_urlpatterns

__all__ = ["websocket_urlpatterns"]
