"""Complaints (投诉) to the supervising authority, mounted at /complaints/ (docs/complaints.md)."""

from __future__ import annotations

from django.urls import path

from complaints import views

app_name = "complaints"
urlpatterns = [
    path("", views.index, name="index"),
    path("tenders/<int:tender_id>/new/", views.complaint_new, name="new"),
    path("<int:pk>/", views.detail, name="detail"),
    path("<int:pk>/accept/", views.accept, name="accept"),
    path("<int:pk>/not-accept/", views.not_accept, name="not_accept"),
    path("<int:pk>/suspend/", views.suspend, name="suspend"),
    path("<int:pk>/lift/", views.lift, name="lift"),
    path("<int:pk>/statements/", views.statement_request, name="statement_request"),
    path("<int:pk>/decide/", views.decide, name="decide"),
    path("<int:pk>/withdraw/", views.withdraw, name="withdraw"),
    path("statements/<int:pk>/answer/", views.statement_answer, name="statement_answer"),
    path("attachments/<int:pk>/", views.attachment, name="attachment"),
]
