"""The draw pages, under /experts/draws/ (names in the "experts:" namespace)."""

from __future__ import annotations

from django.urls import URLPattern, path

from experts import views_draw as views

urlpatterns: list[URLPattern] = [
    path("", views.draw_requests, name="draw_requests"),
    path("lots/<int:lot_id>/", views.draw_lot, name="draw_lot"),
    path("lots/<int:lot_id>/request/", views.draw_request_create, name="draw_request_create"),
    path("<int:pk>/", views.draw_status, name="draw_status"),
    path("<int:pk>/review/", views.draw_review, name="draw_review"),
    path("<int:pk>/run/", views.draw_run, name="draw_run"),
    path("<int:pk>/watch/", views.draw_watch, name="draw_watch"),
    path("<int:pk>/reveal/", views.draw_reveal, name="draw_reveal"),
    path("<int:pk>/record.json", views.draw_record_download, name="draw_record"),
    path("invitations/", views.my_invitations, name="my_invitations"),
    path("answer/<str:token>/", views.answer, name="answer"),
    path("gateway/inbound/", views.gateway_inbound, name="gateway_inbound"),
]
