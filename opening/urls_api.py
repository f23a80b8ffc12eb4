"""The opening's JSON API, under /api/opening/ (session + CSRF from the browser, or an API token):
the custodians' shares and the room's heavy steps (the bidder's decryption, the custodians' fallback)."""

from __future__ import annotations

from django.urls import path

from opening import views, views_room

app_name = "opening_api"
urlpatterns = [
    path("lots/<int:lot_id>/share/", views.api_share, name="share"),
    path("lots/<int:lot_id>/wrapped-key/", views_room.api_wrapped_key, name="wrapped_key"),
    path("lots/<int:lot_id>/decrypt/", views_room.api_decrypt, name="decrypt"),
    path(
        "lots/<int:lot_id>/bids/<str:bid_id>/open-with-custody/",
        views_room.api_open_with_custody,
        name="open_with_custody",
    ),
]
