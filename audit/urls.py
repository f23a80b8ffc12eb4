"""The audit browser, under /audit/."""

from __future__ import annotations

from django.urls import URLPattern, path

from audit import views

app_name = "audit"
urlpatterns: list[URLPattern] = [
    path("", views.events, name="events"),
    path("<int:seq>/", views.event, name="event"),
    path("verify/", views.verify, name="verify"),
]
