"""ASGI entry: OTLP/HTTP ingest, HTTP through Django, WebSocket through Channels (session-authenticated)."""

import os
from typing import Any

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
# Django must be set up before the consumers (and their models) are imported.
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from apps.ingest.http import is_ingest_path, otlp_http_app  # noqa: E402
from apps.ingest.pipeline import tune_garbage_collector  # noqa: E402
from config.websocket_urls import websocket_urlpatterns  # noqa: E402


async def http_app(scope: Any, receive: Any, send: Any) -> None:
    """OTLP's standard paths go to the ingest app, which needs none of Django's request machinery."""
    if is_ingest_path(scope["path"]):
        await otlp_http_app(scope, receive, send)
    else:
        await django_asgi_app(scope, receive, send)


application = ProtocolTypeRouter(
    {
        "http": http_app,
        "websocket": AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
    }
)
tune_garbage_collector()  # last: freezes what start-up loaded
