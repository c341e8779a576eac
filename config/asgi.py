"""ASGI entry: OTLP/HTTP ingest, HTTP through Django, WebSocket through Channels (session-authenticated)."""

import gc
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
from config.websocket_urls import websocket_urlpatterns  # noqa: E402


async def http_app(scope: Any, receive: Any, send: Any) -> None:
    """OTLP's standard paths go to the ingest app, which needs none of Django's request machinery."""
    if is_ingest_path(scope["path"]):
        await otlp_http_app(scope, receive, send)
    else:
        await django_asgi_app(scope, receive, send)


# The cyclic garbage collector, tuned for ingest: a 512-span request allocates ~20,000 objects (spans, attribute
# dicts, rows) and none of them form cycles, yet at the default gen-0 threshold (700) the collector ran ~30 times
# per request, and its older generations rescanned everything Django had loaded. Freezing what start-up loaded
# and collecting every 50,000 allocations cut decoding and row building by a third (docs/benchmarks.md, "Ingest");
# cycles are still collected, only less often.
gc.freeze()
gc.set_threshold(50_000, 20, 20)

application = ProtocolTypeRouter(
    {
        "http": http_app,
        "websocket": AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
    }
)
