"""The evaluation pages, under /evaluation/ (names in the "evaluation:" namespace)."""

from __future__ import annotations

from django.urls import URLPattern, path

from evaluation import views, views_api

app_name = "evaluation"

urlpatterns: list[URLPattern] = [
    path("", views.index, name="index"),
    path("keys/", views_api.signing_key, name="signing_key"),
    # The scheme: the agent edits it until the bid deadline; public once the tender is.
    path("lots/<int:lot_id>/scheme/", views.scheme, name="scheme"),
    path("lots/<int:lot_id>/scheme/edit/", views.scheme_edit, name="scheme_edit"),
    # Those managing the tender.
    path("lots/<int:lot_id>/", views.lot, name="lot"),
    path("lots/<int:lot_id>/start/", views.start, name="start"),
    # The committee.
    path("lots/<int:lot_id>/workspace/", views.workspace, name="workspace"),
    path("lots/<int:lot_id>/sign-in/", views.sign_in, name="sign_in"),
    path("lots/<int:lot_id>/vote/", views.vote, name="vote"),
    path("lots/<int:lot_id>/extension/", views.extension, name="extension"),
    path("lots/<int:lot_id>/sheet/", views.sheet, name="sheet"),
    path("lots/<int:lot_id>/bids/<uuid:bid_id>/", views.bid, name="bid"),
    path("lots/<int:lot_id>/bids/<uuid:bid_id>/files/<int:index>/", views.bid_file, name="bid_file"),
    path("lots/<int:lot_id>/bids/<uuid:bid_id>/reject/", views.reject, name="reject"),
    path("lots/<int:lot_id>/bids/<uuid:bid_id>/reinstate/", views.reinstate, name="reinstate"),
    path("lots/<int:lot_id>/report/draft/", views.report_draft, name="report_draft"),
    path("lots/<int:lot_id>/report/discard/", views.report_discard, name="report_discard"),
    path("lots/<int:lot_id>/report/", views.report, name="report"),
    path("lots/<int:lot_id>/report/sign/", views_api.report_sign, name="report_sign"),
    path("lots/<int:lot_id>/report.json", views.report_json, name="report_json"),
    path("lots/<int:lot_id>/report.pdf", views.report_pdf, name="report_pdf"),
]
