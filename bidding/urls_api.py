"""The JSON API of sealed bidding, under /api/ (docs/sealing.md "Upload protocol")."""

from __future__ import annotations

from django.urls import path

from bidding import views_api

app_name = "bidding_api"
urlpatterns = [
    path("lots/<int:lot_id>/", views_api.lot, name="lot"),
    path("lots/<int:lot_id>/uploads/", views_api.upload_create, name="upload_create"),
    path("lots/<int:lot_id>/bid", views_api.lot_bid, name="lot_bid"),
    path("lots/<int:lot_id>/bid/withdraw", views_api.bid_withdraw, name="bid_withdraw"),
    path("uploads/<uuid:upload_id>/", views_api.upload, name="upload"),
    path("uploads/<uuid:upload_id>/parts/<int:index>", views_api.upload_part, name="upload_part"),
    path("bids/<uuid:bid_id>/receipt.json", views_api.receipt_json, name="receipt_json"),
    path("bids/<uuid:bid_id>/receipt.pdf", views_api.receipt_pdf, name="receipt_pdf"),
    path("receipt-key", views_api.receipt_key, name="receipt_key"),
]
