"""Where the room and its record are reached from: the working area, the bidder's lot page, the portal (EB 32)."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from opening import room_services

pytestmark = pytest.mark.django_db


def client_for(user) -> Client:
    client = Client()
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    return client


def close(ceremony) -> None:
    ceremony.open()
    for name in ("bob", "carol", "dave"):
        ceremony.decrypt(name)
    ceremony.read_all()
    for name in ("bob", "carol", "dave"):
        room_services.room_confirm(
            actor=ceremony.people[name], lot=ceremony.lot, signature=ceremony.sign_confirmation(name)
        )
    room_services.room_close(actor=ceremony.people["alice"], lot=ceremony.lot)


def test_the_host_and_the_supervisor_reach_the_room_from_the_tender_page(ceremony):
    room_url = reverse("opening:room", args=[ceremony.lot.pk])
    for name in ("alice", "sam"):
        page = client_for(ceremony.people[name]).get(
            reverse("tendering:tender_detail", args=[ceremony.lot.tender_id])
        )
        assert room_url in page.content.decode()


def test_a_bidder_reaches_the_room_from_its_lot_page(ceremony):
    page = client_for(ceremony.people["bob"]).get(reverse("bidding:lot", args=[ceremony.lot.pk]))
    assert reverse("opening:room", args=[ceremony.lot.pk]) in page.content.decode()


def test_the_portal_publishes_the_record_once_the_room_is_closed(ceremony):
    announcement = reverse("portal:announcement", args=[ceremony.lot.tender_id])
    record_url = reverse("opening:record_pdf", args=[ceremony.lot.pk])
    assert record_url not in Client().get(announcement).content.decode()
    close(ceremony)
    ceremony.stop()
    page = Client().get(announcement).content.decode()
    assert record_url in page
    assert reverse("opening:record_json", args=[ceremony.lot.pk]) in page
    download = Client().get(record_url)
    assert download.status_code == 200 and download.content.startswith(b"%PDF")
