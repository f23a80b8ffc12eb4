"""The custodians' JSON API, under /api/opening/ (session + CSRF from the browser, or an API token)."""

from __future__ import annotations

from django.urls import path

from opening import views

app_name = "opening_api"
urlpatterns = [
    path("lots/<int:lot_id>/share/", views.api_share, name="share"),
]
