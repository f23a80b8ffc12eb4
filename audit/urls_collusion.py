"""URLs of the supervisors' collusion pages, included in the audit namespace by audit/urls.py."""

from __future__ import annotations

from django.urls import URLPattern, path

from audit import views_collusion

urlpatterns: list[URLPattern] = [
    path("collusion/", views_collusion.lots, name="collusion_lots"),
    path("collusion/lots/<int:lot_id>/", views_collusion.lot, name="collusion"),
]
