"""The audit browser, under /audit/."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, include, path

from audit import views, views_tree

app_name = "audit"
urlpatterns: list[URLPattern | URLResolver] = [
    path("", views.events, name="events"),
    path("<int:seq>/", views.event, name="event"),
    path("verify/", views.verify, name="verify"),
    path("checkpoints/", views_tree.checkpoints, name="checkpoints"),
    path("checkpoints/subscription/", views_tree.checkpoint_subscription, name="checkpoint_subscription"),
    path("checkpoints/latest.note", views_tree.checkpoint_latest_note, name="checkpoint_latest"),
    path("checkpoints/<int:size>.note", views_tree.checkpoint_note, name="checkpoint_note"),
    path("", include("audit.urls_replay")),
    path("", include("audit.urls_collusion")),
]
