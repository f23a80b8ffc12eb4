from __future__ import annotations

from django.urls import path

from tendering import views_portal
from tendering.feeds import AnnouncementFeed

app_name = "portal"
urlpatterns = [
    path("", views_portal.index, name="index"),
    path("announcements/", views_portal.announcements, name="announcements"),
    path("announcements/<int:pk>/", views_portal.announcement, name="announcement"),
    path("results/", views_portal.results, name="results"),
    path("feeds/announcements.atom", AnnouncementFeed(), name="feed"),
]
