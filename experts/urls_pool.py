"""The expert pool (/experts/pool/…) and the expert's own page (/experts/pool/me/…)."""

from __future__ import annotations

from django.urls import URLPattern, path

from experts import views_pool as views

urlpatterns: list[URLPattern] = [
    path("", views.pool_list, name="pool_list"),
    path("import/", views.pool_import, name="pool_import"),
    path("import/template.csv", views.pool_import_template, name="pool_import_template"),
    path("new/", views.pool_create, name="pool_create"),
    path("<int:pk>/", views.pool_detail, name="pool_detail"),
    path("<int:pk>/edit/", views.pool_edit, name="pool_edit"),
    path("<int:pk>/status/", views.pool_status, name="pool_status"),
    path("<int:pk>/account/", views.pool_account, name="pool_account"),
    path("<int:pk>/conflicts/", views.pool_conflict_add, name="pool_conflict_add"),
    path(
        "<int:pk>/conflicts/<int:conflict_pk>/remove/",
        views.pool_conflict_remove,
        name="pool_conflict_remove",
    ),
    path("<int:pk>/unavailable/", views.pool_unavailability_add, name="pool_unavailability_add"),
    path(
        "<int:pk>/unavailable/<int:item_pk>/remove/",
        views.pool_unavailability_remove,
        name="pool_unavailability_remove",
    ),
    path("me/", views.profile, name="profile"),
    path("me/unavailable/", views.profile_unavailability_add, name="profile_unavailability_add"),
    path(
        "me/unavailable/<int:item_pk>/remove/",
        views.profile_unavailability_remove,
        name="profile_unavailability_remove",
    ),
]
