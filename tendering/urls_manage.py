"""The working area for tenders, under /manage/."""

from __future__ import annotations

from django.urls import URLPattern, path

from tendering import views_manage as views

app_name = "tendering"
urlpatterns: list[URLPattern] = [
    path("tenders/", views.tender_list, name="tender_list"),
    path("tenders/new/", views.tender_create, name="tender_create"),
    path("tenders/<int:pk>/", views.tender_detail, name="tender_detail"),
    path("tenders/<int:pk>/edit/", views.tender_edit, name="tender_edit"),
    path("tenders/<int:pk>/preview/", views.tender_preview, name="tender_preview"),
    path("tenders/<int:pk>/publish/", views.tender_publish, name="tender_publish"),
    path("tenders/<int:pk>/cancel/", views.tender_cancel, name="tender_cancel"),
    path("tenders/<int:pk>/lots/new/", views.lot_create, name="lot_create"),
    path("tenders/<int:pk>/documents/new/", views.document_upload, name="document_upload"),
    path("tenders/<int:pk>/amendments/new/", views.amendment_create, name="amendment_create"),
    path("tenders/<int:pk>/obtainers/", views.obtainers, name="obtainers"),
    path("tenders/<int:pk>/obtain/", views.obtain, name="obtain"),
    path("lots/<int:pk>/edit/", views.lot_edit, name="lot_edit"),
    path("lots/<int:pk>/delete/", views.lot_delete, name="lot_delete"),
    path("lots/<int:pk>/cancel/", views.lot_cancel, name="lot_cancel"),
    path("lots/<int:pk>/fail/", views.lot_fail, name="lot_fail"),
    path("documents/<int:pk>/download/", views.document_download, name="document_download"),
    path("obtained/", views.my_obtained, name="my_obtained"),
]
