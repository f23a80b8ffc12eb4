"""JSON API of accounts, under /api/ (session + CSRF from the browser, or an API token)."""

from __future__ import annotations

from django.urls import path

from accounts import views_keys

app_name = "accounts_api"
urlpatterns = [
    path("keys/", views_keys.api_keys, name="keys"),
]
