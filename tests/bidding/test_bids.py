"""Bids: one current per lot and bidder, replaced or withdrawn before the deadline, the server clock decides (EB 27)."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.core.files.storage import default_storage
from django.urls import reverse

from audit.models import AuditEvent, Sensitivity
from bidding import services
from bidding.models import Bid, BidStatus, Upload, UploadStatus
from core.errors import DomainError
from tendering import services as tendering
from tendering.models import LotStatus
from tests.bidding.support import (
    api_for,
    bidder_keys,
    bidding_settings,  # noqa: F401
    obtain,
    put_part,
    seal,
    submit,
    submit_all_but_last,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("bidding_settings")]

MICROSECOND = dt.timedelta(microseconds=1)


@pytest.fixture
def bob(people, lot):
    obtain(people["bob"], lot)
    return people["bob"]


@pytest.fixture
def bob_keys(bob):
    return bidder_keys(bob)


def parts_exist(upload: Upload) -> list[bool]:
    return [
        default_storage.exists(name) for name in upload.parts.values_list("storage_name", flat=True)
    ]


# --- the deadline, to the microsecond ------------------------------------------------------------------


def test_a_bid_whose_last_part_is_stored_one_microsecond_before_the_deadline_is_accepted(
    bob, bob_keys, lot
):
    upload, last_index, last = submit_all_but_last(bob, lot, seal(lot, bob_keys))
    with time_machine.travel(lot.bid_deadline - MICROSECOND, tick=False):
        outcome = put_part(bob, upload, last_index, last)
    assert outcome.bid is not None
    assert outcome.bid.received_at == lot.bid_deadline - MICROSECOND
    assert outcome.bid.status == BidStatus.CURRENT


def test_a_bid_whose_last_part_arrives_exactly_at_the_deadline_is_refused_and_discarded(
    bob, bob_keys, lot
):
    upload, last_index, last = submit_all_but_last(bob, lot, seal(lot, bob_keys))
    with time_machine.travel(lot.bid_deadline, tick=False), pytest.raises(DomainError) as refused:
        put_part(bob, upload, last_index, last)
    assert refused.value.code == "bid.deadline_passed"
    upload.refresh_from_db()
    assert upload.status == UploadStatus.DISCARDED
    assert upload.received_at is None
    assert not Bid.objects.exists()


def test_an_upload_cannot_begin_at_the_deadline(bob, lot):
    with time_machine.travel(lot.bid_deadline, tick=False), pytest.raises(DomainError) as refused:
        services.upload_create(actor=bob, lot=lot, size=5000)
    assert refused.value.code == "bid.deadline_passed"
    assert refused.value.status == 409


def test_a_late_part_is_refused_through_the_api_with_the_deadline_in_the_message(
    bob, bob_keys, lot
):
    upload, last_index, last = submit_all_but_last(bob, lot, seal(lot, bob_keys))
    with time_machine.travel(lot.bid_deadline + dt.timedelta(seconds=3), tick=False):
        response = api_for(bob).put(
            reverse("bidding_api:upload_part", args=[upload.pk, last_index]), last
        )
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "bid.deadline_passed"
    assert "投标已截止" in error["message"]


# --- the deadline sweep -----------------------------------------------------------------------------


def test_uploads_not_complete_at_the_deadline_are_discarded_with_their_parts(
    bob, bob_keys, lot, django_capture_on_commit_callbacks
):
    upload, _index, _last = submit_all_but_last(bob, lot, seal(lot, bob_keys))
    assert all(parts_exist(upload))
    with (
        time_machine.travel(lot.bid_deadline, tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        tendering.lots_advance_due()
    upload.refresh_from_db()
    lot.refresh_from_db()
    # The fixture opens at the deadline: both steps ran, and the opening, with no bid, failed the lot (TR 44).
    assert lot.status == LotStatus.FAILED
    assert upload.status == UploadStatus.DISCARDED
    assert upload.error_code == "bid.deadline_passed"
    assert not any(parts_exist(upload))
    event = AuditEvent.objects.get(action="bidding.upload.discarded")
    assert event.sensitivity == Sensitivity.BIDS_UNTIL_DEADLINE
    assert event.lot_id == lot.pk


def test_a_replacement_not_complete_at_the_deadline_leaves_the_previous_bid_standing(
    bob, bob_keys, lot
):
    first = submit(bob, lot, seal(lot, bob_keys))
    replacement, _index, _last = submit_all_but_last(
        bob,
        lot,
        seal(
            lot,
            bob_keys,
            summary={"price": "9990000.00", "duration_days": 300, "quality": "优良", "fields": {}},
        ),
    )
    with time_machine.travel(lot.bid_deadline, tick=False):
        tendering.lots_advance_due()
    first.refresh_from_db()
    replacement.refresh_from_db()
    assert replacement.status == UploadStatus.DISCARDED
    assert first.status == BidStatus.CURRENT
    assert all(parts_exist(first.upload))


def test_a_bid_received_before_the_deadline_but_checked_after_the_sweep_still_counts(
    bob, bob_keys, lot, monkeypatch
):
    upload, last_index, last = submit_all_but_last(bob, lot, seal(lot, bob_keys))
    complete = services._complete

    def interrupted(*args, **kwargs):
        raise ConnectionResetError("checking was cut short")

    monkeypatch.setattr(services, "_complete", interrupted)
    with (
        time_machine.travel(lot.bid_deadline - MICROSECOND, tick=False),
        pytest.raises(ConnectionResetError),
    ):
        put_part(bob, upload, last_index, last)
    monkeypatch.setattr(services, "_complete", complete)
    with time_machine.travel(lot.bid_deadline + dt.timedelta(seconds=1), tick=False):
        tendering.lots_advance_due()
        upload.refresh_from_db()
        # Received in time: not discarded but finished by the sweep itself (EB 27).
        assert upload.status == UploadStatus.COMPLETE
        outcome = put_part(bob, upload, last_index, last)
    assert outcome.bid is not None
    assert outcome.bid.received_at == lot.bid_deadline - MICROSECOND


# --- replacing and withdrawing ------------------------------------------------------------------------------


def test_a_new_complete_bid_replaces_the_current_one_and_both_are_audited(
    bob, bob_keys, lot, django_capture_on_commit_callbacks
):
    first = submit(bob, lot, seal(lot, bob_keys))
    with django_capture_on_commit_callbacks(execute=True):
        second = submit(bob, lot, seal(lot, bob_keys))
    first.refresh_from_db()
    assert first.status == BidStatus.REPLACED
    assert second.status == BidStatus.CURRENT
    assert second.replaces == first
    assert second.sha256 != first.sha256
    # The replaced bid can never be opened: its ciphertext is gone, its receipt and record remain.
    assert not any(parts_exist(first.upload))
    assert first.ciphertext_deleted_at is not None
    assert (
        Bid.objects.filter(lot=lot, organisation=bob.organisation, status=BidStatus.CURRENT).count()
        == 1
    )
    submitted = AuditEvent.objects.get(action="bidding.bid.submitted")
    replaced = AuditEvent.objects.get(action="bidding.bid.replaced")
    assert submitted.data["bid"] == str(first.pk)
    assert replaced.data["bid"] == str(second.pk)
    assert replaced.data["replaces"] == str(first.pk)
    assert {submitted.sensitivity, replaced.sensitivity} == {Sensitivity.BIDS_UNTIL_DEADLINE}
    assert second.audit_seq == replaced.seq


def test_a_bid_withdrawn_before_the_deadline_is_ended_and_audited(
    bob, bob_keys, lot, django_capture_on_commit_callbacks
):
    bid = submit(bob, lot, seal(lot, bob_keys))
    with django_capture_on_commit_callbacks(execute=True):
        response = api_for(bob).post(reverse("bidding_api:bid_withdraw", args=[lot.pk]))
    assert response.status_code == 200
    assert response.json()["status"] == "withdrawn"
    bid.refresh_from_db()
    assert bid.status == BidStatus.WITHDRAWN
    assert bid.withdrawn_by == bob
    assert not any(parts_exist(bid.upload))
    event = AuditEvent.objects.get(action="bidding.bid.withdrawn")
    assert event.data["bid"] == str(bid.pk)
    assert event.actor_name == "bob"
    assert event.sensitivity == Sensitivity.BIDS_UNTIL_DEADLINE
    assert api_for(bob).get(reverse("bidding_api:lot_bid", args=[lot.pk])).json()["bid"] is None
    # The receipt of the withdrawn bid stays the bidder's proof of what it sent.
    assert api_for(bob).get(reverse("bidding_api:receipt_json", args=[bid.pk])).status_code == 200


def test_withdrawing_without_a_bid_is_not_found(bob, lot):
    with pytest.raises(DomainError) as refused:
        services.bid_withdraw(actor=bob, lot=lot)
    assert refused.value.code == "bid.not_found"
    assert refused.value.status == 404


def test_a_bid_cannot_be_withdrawn_at_the_deadline(bob, bob_keys, lot):
    bid = submit(bob, lot, seal(lot, bob_keys))
    with time_machine.travel(lot.bid_deadline, tick=False), pytest.raises(DomainError) as refused:
        services.bid_withdraw(actor=bob, lot=lot)
    assert refused.value.code == "bid.deadline_passed"
    bid.refresh_from_db()
    assert bid.status == BidStatus.CURRENT


def test_a_bidder_may_bid_again_after_withdrawing(bob, bob_keys, lot):
    first = submit(bob, lot, seal(lot, bob_keys))
    services.bid_withdraw(actor=bob, lot=lot)
    second = submit(bob, lot, seal(lot, bob_keys))
    assert second.status == BidStatus.CURRENT
    assert second.replaces is None
    first.refresh_from_db()
    assert first.status == BidStatus.WITHDRAWN


def test_of_two_uploads_the_one_received_later_is_the_bid(bob, bob_keys, lot, monkeypatch):
    earlier, earlier_index, earlier_last = submit_all_but_last(bob, lot, seal(lot, bob_keys))
    complete = services._complete

    def interrupted(*args, **kwargs):
        raise ConnectionResetError("checking was cut short")

    monkeypatch.setattr(services, "_complete", interrupted)
    with pytest.raises(ConnectionResetError):
        put_part(bob, earlier, earlier_index, earlier_last)
    monkeypatch.setattr(services, "_complete", complete)
    later = submit(bob, lot, seal(lot, bob_keys))
    with pytest.raises(DomainError) as refused:
        put_part(bob, earlier, earlier_index, earlier_last)
    assert refused.value.code == "bid.superseded"
    later.refresh_from_db()
    assert later.status == BidStatus.CURRENT
    assert Upload.objects.get(pk=earlier.pk).status == UploadStatus.DISCARDED


def test_a_cancelled_lot_takes_no_bid(bob, people, lot):
    tendering.lot_cancel(actor=people["alice"], lot=lot, reason="项目调整，终止本标段。")
    with pytest.raises(DomainError) as refused:
        services.upload_create(actor=bob, lot=lot, size=5000)
    assert refused.value.code == "bid.lot_not_accepting"


# --- the bidder's pages -------------------------------------------------------------------------------------


def test_the_lot_page_shows_the_current_bid_its_receipts_and_the_withdrawal_form(
    bob, bob_keys, lot
):
    bid = submit(bob, lot, seal(lot, bob_keys))
    page = api_for(bob).client.get(reverse("bidding:lot", args=[lot.pk]))
    assert page.status_code == 200
    html = page.content.decode()
    assert bid.receipt_no in html
    assert bid.sha256 in html
    assert reverse("bidding_api:receipt_pdf", args=[bid.pk]) in html
    assert reverse("bidding:withdraw", args=[lot.pk]) in html
    assert reverse("bidding:seal", args=[lot.pk]) in html


def test_withdrawing_from_the_page_needs_the_confirmation(bob, bob_keys, lot):
    bid = submit(bob, lot, seal(lot, bob_keys))
    client = api_for(bob).client
    refused = client.post(reverse("bidding:withdraw", args=[lot.pk]))
    assert refused.status_code == 400
    assert "请勾选确认" in refused.content.decode()
    bid.refresh_from_db()
    assert bid.status == BidStatus.CURRENT
    done = client.post(reverse("bidding:withdraw", args=[lot.pk]), {"confirm": "yes"})
    assert done.status_code == 302
    bid.refresh_from_db()
    assert bid.status == BidStatus.WITHDRAWN


def test_my_bids_lists_the_lots_of_obtained_tenders_with_the_current_bid(bob, bob_keys, lot):
    client = api_for(bob).client
    before = client.get(reverse("bidding:my_bids")).content.decode()
    assert lot.name in before
    assert "未递交" in before
    submit(bob, lot, seal(lot, bob_keys))
    after = client.get(reverse("bidding:my_bids")).content.decode()
    assert "已递交" in after


def test_the_portal_and_the_dashboard_lead_a_bidder_that_obtained_the_documents_to_the_sealing_page(
    bob, people, lot
):
    seal_url = reverse("bidding:seal", args=[lot.pk])
    announcement = reverse("portal:announcement", args=[lot.tender_id])
    assert seal_url in api_for(bob).client.get(announcement).content.decode()
    dashboard = api_for(bob).client.get(reverse("accounts:dashboard")).content.decode()
    assert seal_url in dashboard
    assert reverse("bidding:my_bids") in dashboard
    # Without the documents there is nothing to submit: no link.
    assert seal_url not in api_for(people["dave"]).client.get(announcement).content.decode()
