"""The opening ceremony, step by step, through the services (EB 29–32, 39, 40; TR 44, 51)."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from audit.models import AuditEvent
from audit.selectors import chain_verify
from bidding.models import BidStatus
from bidding.receipts import receipt_key
from core.errors import DomainError
from opening import room_services
from opening.models import BidOutcome, Objection, Room, RoomBid, RoomEvent, RoomStage
from opening.record import record_verify
from tendering import services as tendering
from tendering.models import LotStatus
from tests.opening.room_support import build_ceremony

pytestmark = pytest.mark.django_db


def kinds(room: Room) -> list[str]:
    return list(RoomEvent.objects.filter(room=room).order_by("seq").values_list("kind", flat=True))


def event_data(room: Room, kind: str) -> list[dict]:
    return [
        json.loads(text)["data"]
        for text in RoomEvent.objects.filter(room=room, kind=kind).order_by("seq").values_list("text", flat=True)
    ]


def test_the_room_opens_by_itself_at_the_opening_time_and_announces_every_bid(ceremony):
    room = ceremony.open()

    assert ceremony.lot.status == LotStatus.OPENING
    assert room.stage == RoomStage.DECRYPTING
    assert kinds(room) == ["scheduled", "opened"]
    opened = event_data(room, "opened")[0]
    assert [row["organisation_name"] for row in opened["bidders"]] == [
        ceremony.people[name].organisation.name for name in ("bob", "carol", "dave")
    ]
    assert room.decryption_deadline == room.opened_at + dt.timedelta(minutes=ceremony.lot.decryption_minutes)


def test_a_lot_with_fewer_bids_than_its_minimum_fails_at_the_opening(people, lot, bidding_settings):
    made = build_ceremony(people, lot, bidders=("bob", "carol"))
    try:
        room = made.open()
    finally:
        made.stop()

    assert room.stage == RoomStage.FAILED
    made.lot.refresh_from_db()
    assert made.lot.status == LotStatus.FAILED
    failed = event_data(room, "failed")[0]
    assert failed["count"] == 2 and failed["min_bidders"] == 3
    assert "流标" in made.lot.failed_reason


def test_each_bidder_decrypts_its_own_bid_and_the_reading_starts_when_all_are_decrypted(ceremony):
    ceremony.open()
    for name in ("bob", "carol"):
        ceremony.decrypt(name)
        assert ceremony.room().stage == RoomStage.DECRYPTING
    ceremony.decrypt("dave")

    room = ceremony.room()
    assert room.stage == RoomStage.READING
    assert [d["organisation_name"] for d in event_data(room, "decrypted")] == [
        ceremony.people[name].organisation.name for name in ("bob", "carol", "dave")
    ]
    # Nothing of a bid's content is announced before the reading.
    for text in RoomEvent.objects.filter(room=room).exclude(kind="read").values_list("text", flat=True):
        assert "10850000" not in text


def test_a_bidder_cannot_decrypt_for_another(ceremony):
    ceremony.open()
    with pytest.raises(DomainError) as refused:
        room_services.room_decrypt(
            actor=ceremony.people["bob"], lot=ceremony.lot, file_key=ceremony.file_key("carol")
        )
    # Bob's request decrypts bob's bid: carol's key does not open it.
    assert refused.value.code.startswith("seal.")
    assert RoomBid.objects.get(bid=ceremony.bids["carol"]).outcome == BidOutcome.PENDING
    assert event_data(ceremony.room(), "decryption_failed")[0]["organisation_name"] == ceremony.people["bob"].organisation.name


def test_the_host_cannot_decrypt_and_a_short_key_is_refused(ceremony):
    ceremony.open()
    with pytest.raises(DomainError) as refused:
        room_services.room_decrypt(actor=ceremony.people["alice"], lot=ceremony.lot, file_key=b"\0" * 32)
    assert refused.value.code == "room.not_permitted"
    with pytest.raises(DomainError) as short:
        room_services.room_decrypt(actor=ceremony.people["bob"], lot=ceremony.lot, file_key=b"\0" * 31)
    assert short.value.code == "room.file_key_invalid"


def test_decryption_is_refused_before_the_opening_and_after_the_window(ceremony):
    ceremony.at(ceremony.lot.opening_time - dt.timedelta(minutes=1))
    with pytest.raises(DomainError):
        ceremony.decrypt("bob")
    ceremony.open()
    ceremony.after(minutes=ceremony.lot.decryption_minutes, seconds=1)
    with pytest.raises(DomainError) as late:
        ceremony.decrypt("bob")
    assert late.value.code == "room.decryption_closed"


def test_the_window_ends_by_the_server_clock_and_the_host_settles_each_bid_not_decrypted(ceremony):
    ceremony.open()
    ceremony.decrypt("bob")
    ceremony.after(minutes=ceremony.lot.decryption_minutes, seconds=1)
    assert room_services.rooms_advance_due() == [(ceremony.lot.pk, "decryption_ended")]
    assert room_services.rooms_advance_due() == []  # idempotent
    assert ceremony.room().stage == RoomStage.SETTLING

    alice = ceremony.people["alice"]
    with pytest.raises(DomainError) as refused:
        room_services.room_read_next(actor=alice, lot=ceremony.lot)
    assert refused.value.code == "room.wrong_stage"  # EB 30: no reading before every bid is settled

    room_services.room_record_cause(
        actor=alice, lot=ceremony.lot, bid_id=ceremony.bids["carol"].pk, cause="bidder_fault", note="未带密钥"
    )
    entry = room_services.room_record_cause(
        actor=alice, lot=ceremony.lot, bid_id=ceremony.bids["dave"].pk, cause="other_fault", note="平台故障"
    )
    assert entry.outcome == BidOutcome.WITHDRAWN
    assert RoomBid.objects.get(bid=ceremony.bids["carol"]).outcome == BidOutcome.REVOKED
    assert ceremony.room().stage == RoomStage.READING


def test_the_custodians_open_a_bid_its_bidder_could_not(ceremony, keysets):
    from opening import crypto as opening_crypto
    from opening.models import Custodian
    from opening.services import custodian_share_submit

    ceremony.open()
    ceremony.decrypt("bob")
    ceremony.decrypt("carol")
    ceremony.after(minutes=ceremony.lot.decryption_minutes, seconds=1)
    room_services.rooms_advance_due()
    alice = ceremony.people["alice"]
    room_services.room_record_cause(actor=alice, lot=ceremony.lot, bid_id=ceremony.bids["dave"].pk, cause="custodians")
    with pytest.raises(DomainError) as not_yet:
        room_services.room_open_with_custody(actor=alice, lot=ceremony.lot, bid_id=ceremony.bids["dave"].pk)
    assert not_yet.value.code == "opening.not_rebuilt"
    # Refused before anything was tried: the room is not told of a failure that did not happen.
    assert "decryption_failed" not in kinds(ceremony.room())

    for name in ("alice", "sam"):
        custodian = Custodian.objects.get(
            opening_key__lot=ceremony.lot, organisation=ceremony.people[name].organisation
        )
        share = opening_crypto.unwrap(keysets[name].encryption_private, bytes(custodian.encrypted_share))
        custodian_share_submit(actor=ceremony.people[name], lot=ceremony.lot, share=share)
    assert "custody_rebuilt" in kinds(ceremony.room())

    bid = room_services.room_open_with_custody(actor=alice, lot=ceremony.lot, bid_id=ceremony.bids["dave"].pk)
    assert bid.decrypted_with == "opening"
    assert ceremony.room().stage == RoomStage.READING
    assert event_data(ceremony.room(), "decrypted")[-1]["key"] == "opening"


def test_a_lot_without_the_fallback_cannot_send_a_bid_to_the_custodians(ceremony):
    type(ceremony.lot).objects.filter(pk=ceremony.lot.pk).update(custodian_fallback=False)
    ceremony.open()
    ceremony.after(minutes=ceremony.lot.decryption_minutes, seconds=1)
    room_services.rooms_advance_due()
    with pytest.raises(DomainError) as refused:
        room_services.room_record_cause(
            actor=ceremony.people["alice"], lot=ceremony.lot, bid_id=ceremony.bids["dave"].pk, cause="custodians"
        )
    assert refused.value.code == "room.fallback_not_allowed"


def test_the_reading_announces_each_bid_in_order_and_flags_a_price_above_the_maximum(ceremony):
    ceremony.open()
    for name in ("bob", "carol", "dave"):
        ceremony.decrypt(name)
    alice = ceremony.people["alice"]
    with pytest.raises(DomainError):
        room_services.room_read_next(actor=ceremony.people["bob"], lot=ceremony.lot)
    ceremony.read_all()

    room = ceremony.room()
    readings = event_data(room, "read")
    assert [r["price"] for r in readings] == ["10850000.00", "11900000.00", "11200000.00"]
    assert [r["invalid"] for r in readings] == [False, True, False]  # TR 51(5): carol is above 11,800,000
    assert readings[1]["invalid_reason"] == "above_control_price"
    assert event_data(room, "reading_started")[0]["control_price"] == "11800000.00"
    assert room.stage == RoomStage.CONFIRMING
    assert room.reading_digest == room_services.reading_digest(lot=ceremony.lot, readings=readings)
    with pytest.raises(DomainError) as over:
        room_services.room_read_next(actor=alice, lot=ceremony.lot)
    assert over.value.code == "room.wrong_stage"


def _to_confirming(ceremony) -> None:
    ceremony.open()
    for name in ("bob", "carol", "dave"):
        ceremony.decrypt(name)
    ceremony.read_all()


def test_a_bidder_confirms_with_its_signing_key_and_a_forged_signature_is_refused(ceremony):
    _to_confirming(ceremony)
    with pytest.raises(DomainError) as forged:
        room_services.room_confirm(
            actor=ceremony.people["bob"], lot=ceremony.lot, signature=ceremony.sign_confirmation("carol")
        )
    assert forged.value.code == "room.signature_invalid"
    entry = room_services.room_confirm(
        actor=ceremony.people["bob"], lot=ceremony.lot, signature=ceremony.sign_confirmation("bob")
    )
    assert entry.confirmed_at is not None and not entry.confirmed_silently
    with pytest.raises(DomainError) as twice:
        room_services.room_confirm(
            actor=ceremony.people["bob"], lot=ceremony.lot, signature=ceremony.sign_confirmation("bob")
        )
    assert twice.value.code == "room.already_confirmed"


def test_the_host_cannot_close_while_an_objection_is_unanswered(ceremony):
    _to_confirming(ceremony)
    alice = ceremony.people["alice"]
    objection = room_services.room_object(actor=ceremony.people["carol"], lot=ceremony.lot, text="我方报价唱错")
    for name in ("bob", "carol", "dave"):
        room_services.room_confirm(
            actor=ceremony.people[name], lot=ceremony.lot, signature=ceremony.sign_confirmation(name)
        )
    with pytest.raises(DomainError) as refused:
        room_services.room_close(actor=alice, lot=ceremony.lot)
    assert refused.value.code == "room.objection_unanswered"
    room_services.room_answer(actor=alice, lot=ceremony.lot, objection_id=objection.pk, text="经核对唱标无误")
    assert Objection.objects.get(pk=objection.pk).answer == "经核对唱标无误"


def test_the_host_cannot_close_before_the_window_unless_everyone_confirmed(ceremony):
    _to_confirming(ceremony)
    with pytest.raises(DomainError) as refused:
        room_services.room_close(actor=ceremony.people["alice"], lot=ceremony.lot)
    assert refused.value.code == "room.confirmation_open"


def test_silence_until_the_window_ends_counts_as_confirmation_and_the_record_says_so(ceremony):
    _to_confirming(ceremony)
    room_services.room_confirm(
        actor=ceremony.people["bob"], lot=ceremony.lot, signature=ceremony.sign_confirmation("bob")
    )
    ceremony.after(minutes=16)
    assert room_services.rooms_advance_due() == [(ceremony.lot.pk, "confirmation_ended")]
    silent = [d for d in event_data(ceremony.room(), "confirmed") if d["silent"]]
    assert [d["organisation_name"] for d in silent] == [
        ceremony.people[name].organisation.name for name in ("carol", "dave")
    ]

    room = room_services.room_close(actor=ceremony.people["alice"], lot=ceremony.lot)

    assert room.stage == RoomStage.CLOSED
    ceremony.lot.refresh_from_db()
    assert ceremony.lot.status == LotStatus.OPENED
    record = json.loads(room.record_json)
    record_verify(record, receipt_key().private.public_key())
    assert [bid["confirmation"]["silent"] for bid in record["bids"]] == [False, True, True]
    assert record["audit"]["to_seq"] == room.audit_to
    assert AuditEvent.objects.get(seq=room.audit_to).hash == room.chain_hash
    assert bytes(room.record_pdf).startswith(b"%PDF")
    assert kinds(room)[-1] == "closed"
    assert chain_verify().ok


def test_a_supervisor_pauses_and_the_window_is_extended_by_the_pause(ceremony):
    ceremony.open()
    sam = ceremony.people["sam"]
    deadline = ceremony.room().decryption_deadline
    room_services.room_pause(actor=sam, lot=ceremony.lot, reason="网络故障，暂停开标")
    with pytest.raises(DomainError) as paused:
        ceremony.decrypt("bob")
    assert paused.value.code == "room.paused"
    with pytest.raises(DomainError) as not_host:
        room_services.room_pause(actor=ceremony.people["alice"], lot=ceremony.lot, reason="x")
    assert not_host.value.code == "room.not_permitted"
    ceremony.after(minutes=10)
    room_services.room_unpause(actor=sam, lot=ceremony.lot, reason="网络恢复")
    assert ceremony.room().decryption_deadline == deadline + dt.timedelta(minutes=10)
    ceremony.decrypt("bob")


def test_a_bidders_sign_in_before_the_deadline_is_not_announced(people, make_draft, bidding_settings):
    from django.utils import timezone

    tender = make_draft()
    tender = tendering.tender_publish(actor=people["alice"], tender=tender)
    lot = tender.lots.get()
    made = build_ceremony(people, lot)
    try:
        made.at(lot.bid_deadline - dt.timedelta(minutes=5))
        room_services.room_sign_in(actor=people["bob"], lot=lot)
        room_services.room_sign_in(actor=people["alice"], lot=lot)
        assert kinds(made.room()) == ["scheduled", "signed_in"]
        assert event_data(made.room(), "signed_in")[0]["role"] == "host"
        room = made.open()
        opened = event_data(room, "opened")[0]
        assert [row["signed_in"] for row in opened["bidders"]] == [True, False, False]
        assert timezone.now() >= lot.opening_time
    finally:
        made.stop()


def test_sign_in_opens_half_an_hour_before_the_opening(ceremony):
    ceremony.at(ceremony.lot.opening_time - dt.timedelta(minutes=31))
    with pytest.raises(DomainError) as early:
        room_services.room_sign_in(actor=ceremony.people["alice"], lot=ceremony.lot)
    assert early.value.code == "room.sign_in_not_open"


def test_an_outsider_and_a_bidder_without_a_bid_are_not_in_the_room(ceremony, people):
    from accounts.models import Role
    from accounts.services import user_create

    ceremony.open()
    other_agent = people["agnes"]
    for outsider in (other_agent, people["fay"], people["eve"]):
        with pytest.raises(DomainError) as refused:
            room_services.room_chat(actor=outsider, lot=ceremony.lot, text="你好")
        assert refused.value.code == "room.not_found"
    colleague = user_create(
        actor=None, organisation=people["bob"].organisation, username="bob2", password="x" * 12,
        roles=[Role.BIDDER], full_name="Bob Two", email="bob2@example.cn",
    )
    room_services.room_chat(actor=colleague, lot=ceremony.lot, text="同单位同事可以发言")
    withdrawn = ceremony.bids["bob"]
    assert withdrawn.status == BidStatus.CURRENT


def test_every_room_event_is_in_the_audit_chain_with_its_sequence_number(ceremony):
    _to_confirming(ceremony)
    room = ceremony.room()
    for event in RoomEvent.objects.filter(room=room):
        audit = AuditEvent.objects.get(seq=event.audit_seq)
        assert audit.action == f"opening.room.{event.kind}"
        assert audit.data["seq"] == event.seq
    assert list(RoomEvent.objects.filter(room=room).values_list("seq", flat=True)) == list(
        range(1, room.last_seq + 1)
    )



def test_a_cancelled_lot_stops_its_ceremony(ceremony):
    ceremony.open()
    tendering.lot_cancel(actor=ceremony.people["alice"], lot=ceremony.lot, reason="项目取消")
    with pytest.raises(DomainError) as refused:
        ceremony.decrypt("bob")
    assert refused.value.code == "room.lot_cancelled"


def test_a_decryption_that_died_with_its_process_no_longer_blocks_the_host(ceremony):
    ceremony.open()
    RoomBid.objects.filter(bid=ceremony.bids["dave"]).update(decrypting_since=ceremony.clock)
    ceremony.after(minutes=ceremony.lot.decryption_minutes, seconds=1)
    room_services.rooms_advance_due()
    entry = room_services.room_record_cause(
        actor=ceremony.people["alice"], lot=ceremony.lot, bid_id=ceremony.bids["dave"].pk, cause="other_fault"
    )
    assert entry.outcome == BidOutcome.WITHDRAWN


def test_a_decryption_under_way_holds_off_the_hosts_cause(ceremony):
    ceremony.open()
    ceremony.after(minutes=ceremony.lot.decryption_minutes, seconds=1)
    room_services.rooms_advance_due()
    RoomBid.objects.filter(bid=ceremony.bids["dave"]).update(decrypting_since=ceremony.clock)
    with pytest.raises(DomainError) as refused:
        room_services.room_record_cause(
            actor=ceremony.people["alice"], lot=ceremony.lot, bid_id=ceremony.bids["dave"].pk, cause="other_fault"
        )
    assert refused.value.code == "room.decryption_in_progress"
