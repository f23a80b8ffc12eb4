"""The set of bids is final and honest: a withdrawal is not undone, the deadline finishes what was received, retries race safely."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.core.files.storage import default_storage

from accounts.models import Notification
from audit.models import AuditEvent
from bidding import services, storage
from bidding.models import Bid, BidStatus, Upload, UploadPart, UploadStatus
from core.errors import DomainError
from tendering import services as tendering
from tendering.models import LotStatus
from tests.bidding.support import (
    bidder_keys,
    bidding_settings,  # noqa: F401
    obtain,
    parts_of,
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


def received_but_unchecked(user, lot, data: bytes, monkeypatch) -> tuple[Upload, int, bytes]:
    """Store every part, the last one too, but let the whole-file check never finish (a crash)."""
    upload, last_index, last = submit_all_but_last(user, lot, data)
    complete = services._complete

    def crash(*args, **kwargs):
        raise ConnectionResetError("the process went away after storing the last part")

    monkeypatch.setattr(services, "_complete", crash)
    with pytest.raises(ConnectionResetError):
        put_part(user, upload, last_index, last)
    monkeypatch.setattr(services, "_complete", complete)
    upload.refresh_from_db()
    assert upload.status == UploadStatus.OPEN and upload.received_at is not None
    return upload, last_index, last


def stored_files(upload: Upload) -> list[str]:
    prefix = f"bids/{upload.lot_id}/{upload.pk}"
    if not default_storage.exists(prefix):
        return []
    return default_storage.listdir(prefix)[1]


# --- a withdrawal is final (EB 27) --------------------------------------------------------------------


def test_a_replacement_still_being_checked_cannot_undo_a_withdrawal(
    bob, bob_keys, lot, monkeypatch
):
    first = submit(bob, lot, seal(lot, bob_keys))
    replacement, last_index, last = received_but_unchecked(
        bob, lot, seal(lot, bob_keys), monkeypatch
    )
    services.bid_withdraw(actor=bob, lot=lot)
    replacement.refresh_from_db()
    assert replacement.status == UploadStatus.DISCARDED
    with pytest.raises(DomainError) as refused:
        put_part(bob, replacement, last_index, last)  # the client re-sends to finish it
    assert refused.value.code == "upload.not_open"
    first.refresh_from_db()
    assert first.status == BidStatus.WITHDRAWN
    assert not Bid.objects.filter(lot=lot, status=BidStatus.CURRENT).exists()


def test_a_check_that_was_already_running_when_the_bidder_withdrew_gives_no_bid(
    bob, bob_keys, lot, monkeypatch
):
    first = submit(bob, lot, seal(lot, bob_keys))
    replacement, last_index, last = submit_all_but_last(bob, lot, seal(lot, bob_keys))
    real_inspect = services.sealing.inspect

    def withdraw_during_the_check(*args, **kwargs):
        result = real_inspect(*args, **kwargs)
        services.bid_withdraw(actor=bob, lot=lot)  # the bidder withdraws while the check runs
        return result

    monkeypatch.setattr(services.sealing, "inspect", withdraw_during_the_check)
    with pytest.raises(DomainError) as refused:
        put_part(bob, replacement, last_index, last)
    assert refused.value.code == "upload.not_open"
    first.refresh_from_db()
    assert first.status == BidStatus.WITHDRAWN
    assert not Bid.objects.filter(lot=lot, status=BidStatus.CURRENT).exists()


def test_withdrawing_without_a_bid_still_discards_an_upload_in_progress(
    bob, bob_keys, lot, monkeypatch
):
    upload, last_index, last = received_but_unchecked(bob, lot, seal(lot, bob_keys), monkeypatch)
    with pytest.raises(DomainError) as refused:
        services.bid_withdraw(actor=bob, lot=lot)
    assert refused.value.code == "bid.not_found"
    upload.refresh_from_db()
    assert upload.status == UploadStatus.DISCARDED
    assert upload.error_code == "bid.withdrawn"
    with pytest.raises(DomainError):
        put_part(bob, upload, last_index, last)
    assert not Bid.objects.exists()


def test_an_upload_received_before_the_latest_withdrawal_never_becomes_the_bid(
    bob, bob_keys, lot, monkeypatch
):
    # Belt and braces: even an upload the withdrawal did not see (here reopened by hand) is refused.
    submit(bob, lot, seal(lot, bob_keys))
    upload, last_index, last = received_but_unchecked(bob, lot, seal(lot, bob_keys), monkeypatch)
    services.bid_withdraw(actor=bob, lot=lot)
    Upload.objects.filter(pk=upload.pk).update(status=UploadStatus.OPEN)
    with pytest.raises(DomainError) as refused:
        put_part(bob, upload, last_index, last)
    assert refused.value.code == "bid.withdrawn"
    assert Upload.objects.get(pk=upload.pk).status == UploadStatus.DISCARDED
    assert not Bid.objects.filter(lot=lot, status=BidStatus.CURRENT).exists()


def test_a_bid_sent_after_a_withdrawal_still_counts(bob, bob_keys, lot):
    submit(bob, lot, seal(lot, bob_keys))
    services.bid_withdraw(actor=bob, lot=lot)
    again = submit(bob, lot, seal(lot, bob_keys))
    assert again.status == BidStatus.CURRENT


# --- the deadline settles every upload received in time --------------------------------------------------


def test_the_deadline_sweep_finishes_an_upload_received_in_time_and_issues_its_receipt(
    bob, bob_keys, lot, monkeypatch, django_capture_on_commit_callbacks
):
    with time_machine.travel(lot.bid_deadline - dt.timedelta(seconds=5), tick=False):
        upload, _index, _last = received_but_unchecked(bob, lot, seal(lot, bob_keys), monkeypatch)
    with (
        time_machine.travel(lot.bid_deadline, tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        tendering.lots_advance_due()
    upload.refresh_from_db()
    assert upload.status == UploadStatus.COMPLETE
    bid = Bid.objects.get(upload=upload)
    assert bid.status == BidStatus.CURRENT
    assert bid.received_at == lot.bid_deadline - dt.timedelta(seconds=5)
    assert bid.submitted_by == bob
    assert '"receipt_no"' in bid.receipt
    note = Notification.objects.get(recipient=bob)
    assert bid.receipt_no in note.body


def test_the_deadline_sweep_fails_an_invalid_upload_received_in_time_and_tells_the_bidder(
    bob, bob_keys, lot, monkeypatch
):
    tampered = bytearray(seal(lot, bob_keys))
    tampered[-1] ^= 0x01  # the signature no longer verifies
    upload, _index, _last = received_but_unchecked(bob, lot, bytes(tampered), monkeypatch)
    with time_machine.travel(lot.bid_deadline, tick=False):
        tendering.lots_advance_due()
    upload.refresh_from_db()
    assert upload.status == UploadStatus.FAILED
    assert upload.error_code == "seal.signature_invalid"
    assert not Bid.objects.exists()
    assert Notification.objects.filter(recipient=bob).count() == 1


def test_a_received_upload_whose_stored_parts_are_lost_fails_as_the_platforms_fault_and_the_lot_still_closes(
    bob, bob_keys, lot, monkeypatch, caplog
):
    upload, _index, _last = received_but_unchecked(bob, lot, seal(lot, bob_keys), monkeypatch)
    default_storage.delete(upload.parts.order_by("index").first().storage_name)
    with time_machine.travel(lot.bid_deadline, tick=False):
        tendering.lots_advance_due()
    lot.refresh_from_db()
    upload.refresh_from_db()
    # Bidding closed, then the opening (at the deadline here) found no bid and failed the lot (TR 44).
    assert lot.status == LotStatus.FAILED
    assert AuditEvent.objects.filter(action="tendering.lot.bidding_closed", lot_id=lot.pk).exists()
    assert upload.status == UploadStatus.FAILED
    assert upload.error_code == "upload.storage_unreadable"
    assert not Bid.objects.exists()
    assert Notification.objects.filter(recipient=bob).count() == 1
    assert "stored parts unreadable at the deadline" in caplog.text


def test_a_replacement_received_in_time_replaces_the_bid_at_the_deadline(
    bob, bob_keys, lot, monkeypatch
):
    first = submit(bob, lot, seal(lot, bob_keys))
    replacement, _index, _last = received_but_unchecked(bob, lot, seal(lot, bob_keys), monkeypatch)
    with time_machine.travel(lot.bid_deadline, tick=False):
        tendering.lots_advance_due()
    first.refresh_from_db()
    assert first.status == BidStatus.REPLACED
    assert Bid.objects.get(upload=replacement).status == BidStatus.CURRENT


def test_no_upload_is_left_open_when_the_lot_reaches_the_opening(bob, bob_keys, lot, monkeypatch):
    received_but_unchecked(bob, lot, seal(lot, bob_keys), monkeypatch)
    submit_all_but_last(bob, lot, seal(lot, bob_keys))
    with time_machine.travel(lot.bid_deadline, tick=False):
        tendering.lots_advance_due()
    lot.refresh_from_db()
    # The opening came (one bid for a minimum of three: the lot failed there, TR 44).
    assert lot.status == LotStatus.FAILED
    assert not Upload.objects.filter(lot=lot, status=UploadStatus.OPEN).exists()
    assert Bid.objects.filter(lot=lot, status=BidStatus.CURRENT).count() == 1


def test_the_client_finishing_after_the_sweep_gets_the_bid_the_sweep_made(
    bob, bob_keys, lot, monkeypatch
):
    upload, last_index, last = received_but_unchecked(bob, lot, seal(lot, bob_keys), monkeypatch)
    with time_machine.travel(lot.bid_deadline + dt.timedelta(seconds=1), tick=False):
        tendering.lots_advance_due()
        outcome = put_part(bob, upload, last_index, last)
    assert outcome.bid == Bid.objects.get(upload=upload)


# --- a retried part racing its first copy ---------------------------------------------------------------


def _race(monkeypatch, first_copy) -> None:
    """Make the next part PUT store its body only after ``first_copy`` has run to the end."""
    real_save = storage.spooled_save

    def racing(spooled, name, **kwargs):
        monkeypatch.setattr(storage, "spooled_save", real_save)
        first_copy()
        return real_save(spooled, name, **kwargs)

    monkeypatch.setattr(storage, "spooled_save", racing)


def test_two_copies_of_the_same_part_racing_store_it_once_and_both_succeed(
    bob, bob_keys, lot, monkeypatch
):
    data = seal(lot, bob_keys)
    upload = services.upload_create(actor=bob, lot=lot, size=len(data))
    parts = list(parts_of(data))
    first: list[services.PartOutcome] = []
    _race(monkeypatch, lambda: first.append(put_part(bob, upload, *parts[0])))
    second = put_part(bob, upload, *parts[0])
    assert first[0].stored is True
    assert second.stored is False
    assert UploadPart.objects.filter(upload=upload).count() == 1
    assert stored_files(upload) == ["part-000000"]  # the second copy was dropped
    assert Upload.objects.get(pk=upload.pk).received == len(parts[0][1])


def test_two_copies_of_the_last_part_racing_both_answer_with_the_bid(
    bob, bob_keys, lot, monkeypatch
):
    upload, last_index, last = submit_all_but_last(bob, lot, seal(lot, bob_keys))
    first: list[services.PartOutcome] = []
    _race(monkeypatch, lambda: first.append(put_part(bob, upload, last_index, last)))
    second = put_part(bob, upload, last_index, last)
    assert first[0].bid is not None
    assert second.bid == first[0].bid


def test_a_racing_part_with_other_content_is_still_a_conflict(bob, bob_keys, lot, monkeypatch):
    data = seal(lot, bob_keys)
    upload = services.upload_create(actor=bob, lot=lot, size=len(data))
    parts = list(parts_of(data))
    _race(monkeypatch, lambda: put_part(bob, upload, *parts[0]))
    with pytest.raises(DomainError) as refused:
        put_part(bob, upload, 0, b"x" * len(parts[0][1]))
    assert refused.value.code == "upload.part_conflict"
    assert refused.value.status == 409
    assert stored_files(upload) == ["part-000000"]
