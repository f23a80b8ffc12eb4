"""Pages of sealed bidding, under /bidding/."""

from __future__ import annotations

from django.urls import path

from bidding import views, views_browser

app_name = "bidding"
urlpatterns = [
    path("", views.my_bids, name="my_bids"),
    path("lots/<int:lot_id>/", views.lot, name="lot"),
    path("lots/<int:lot_id>/withdraw/", views.withdraw, name="withdraw"),
    path("lots/<int:lot_id>/received/", views.received, name="received"),
    path("lots/<int:lot_id>/seal/", views_browser.seal_page, name="seal"),
]
