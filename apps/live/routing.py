from django.urls import path

from apps.live.consumers import LiveConsumer

websocket_urlpatterns = [
    path("ws/o/<slug:organization_slug>/live/", LiveConsumer.as_asgi(), name="live"),
]
