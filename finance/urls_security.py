"""Bid security (投标保证金) pages, included in ``finance.urls`` under the ``finance`` namespace."""

from __future__ import annotations

from django.urls import path

from finance import views_security as views

urlpatterns = [
    path("security/", views.security_queue, name="security_queue"),
    path("security/batches/new/", views.security_batch_create, name="security_batch_create"),
    path("security/batches/<int:pk>/", views.security_batch, name="security_batch"),
    path("security/batches/<int:pk>/file.<str:fmt>", views.security_batch_file, name="security_batch_file"),
    path("security/batches/<int:pk>/paid/", views.security_batch_paid, name="security_batch_paid"),
    path("security/batches/<int:pk>/release/", views.security_batch_release, name="security_batch_release"),
    path("security/payments/new/", views.security_payment_create, name="security_payment_create"),
    path("security/payments/<int:pk>/refund/", views.security_refund_paid, name="security_refund_paid"),
    path("security/import/", views.security_import, name="security_import"),
    path("security/import/template.csv", views.security_import_template, name="security_import_template"),
    path("security/lots/<int:lot_id>/", views.security_lot, name="security_lot"),
    path("security/lots/<int:lot_id>/contract/", views.security_contract, name="security_contract"),
    path("security/securities/<int:pk>/forfeit/", views.security_forfeit, name="security_forfeit"),
]
