"""WebSocket routes: the opening room (docs/opening-room.md)."""

from __future__ import annotations

from django.urls import URLPattern, path

from opening.consumers import RoomConsumer

websocket_urlpatterns: list[URLPattern] = [
    path("ws/opening/lots/<int:lot_id>/", RoomConsumer.as_asgi()),
]
