"""The award pages, under /award/ (names in the "award:" namespace): docs/award.md §URLs."""

from __future__ import annotations

from django.urls import URLPattern, path

from award import views

app_name = "award"

urlpatterns: list[URLPattern] = [
    # The working area: those managing the tender, the lot's agents for the forms.
    path("", views.index, name="index"),
    path("lots/<int:lot_id>/", views.lot, name="lot"),
    path("lots/<int:lot_id>/publish/", views.publish, name="publish"),
    path("lots/<int:lot_id>/announce/", views.announce, name="announce"),
    path("objections/<int:pk>/", views.objection, name="objection"),
    path("objections/<int:pk>/attachment/", views.objection_file, name="objection_file"),
    path("objections/<int:pk>/answer/", views.answer, name="answer"),
    # The bidders of the lot (interested parties, TR 54).
    path("lots/<int:lot_id>/mine/", views.bidder_lot, name="bidder_lot"),
    path("lots/<int:lot_id>/object/", views.object_, name="object"),
    # Letters (EB 40): the recipient, the lot's agents, its tenderer, supervisors.
    path("letters/<int:pk>.pdf", views.letter_pdf, name="letter_pdf"),
    path("letters/<int:pk>.json", views.letter_json, name="letter_json"),
    # The public portal, no login.
    path("publicity/", views.portal_publicities, name="portal_publicities"),
    path("publicity/<int:pk>/", views.portal_publicity, name="portal_publicity"),
    path("results/<int:lot_id>/", views.portal_result, name="portal_result"),
]
