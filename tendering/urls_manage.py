from __future__ import annotations

from django.urls import URLPattern

app_name = "tendering"
urlpatterns: list[URLPattern] = []
