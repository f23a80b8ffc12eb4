"""WebSocket routes. The opening room (issue 5) adds its consumers here."""

from __future__ import annotations

from django.urls import URLPattern

websocket_urlpatterns: list[URLPattern] = []
