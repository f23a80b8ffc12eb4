"""URLs of the supervisors' replay pages, included in the audit namespace by audit/urls.py."""

from __future__ import annotations

from django.urls import URLPattern, path

from audit import views_replay as views

urlpatterns: list[URLPattern] = [
    path("replay/", views.index, name="replay_index"),
    path("replay/lots/<int:lot_id>/opening/", views.opening, name="replay_opening"),
    path("replay/lots/<int:lot_id>/opening.json", views.opening_json, name="replay_opening_json"),
    path("replay/lots/<int:lot_id>/draw/", views.draw, name="replay_draw"),
    path("replay/lots/<int:lot_id>/draw.json", views.draw_json, name="replay_draw_json"),
    path("replay/tenders/<int:tender_id>/", views.tender, name="replay_tender"),
    path("replay/tenders/<int:tender_id>.json", views.tender_json, name="replay_tender_json"),
]
