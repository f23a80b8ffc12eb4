"""manage.py seed_demo: every state, a login for every role, a live ceremony, idempotent, audit chain intact."""

from __future__ import annotations

import datetime as dt
import json
import time
from io import StringIO

import pytest
import time_machine
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from django.core.management import CommandError, call_command
from django.db.models import F
from django.test import RequestFactory
from django.utils import timezone

from accounts.credit_code import make as make_credit_code
from accounts.models import Notification, Organisation, OrganisationKey, Role, User
from accounts.services import organisation_create
from audit.models import AuditEvent
from audit.selectors import chain_verify
from bidding.models import Bid, BidStatus, DecryptionStatus
from bidding.receipts import receipt_key
from bidding.sealing import keys as sealing_keys
from core.errors import DomainError
from opening import room_services
from opening.models import BidOutcome, Objection, Room, RoomBid, RoomStage
from opening.record import record_verify
from opening.room_selectors import wrapped_key_for_bidder
from tendering import demo
from tendering import services as tendering
from tendering.models import (
    Amendment,
    DeadlineChange,
    DocumentObtain,
    Lot,
    LotStatus,
    Tender,
    TenderDocument,
    TenderStatus,
)

pytestmark = pytest.mark.django_db

OAEP = padding.OAEP(mgf=padding.MGF1(algorithm=hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
# The past-state tenders' deadlines are set this many seconds ahead; seeding waits for them
# (in parallel with building the expert pool), and the demo bidders' bids must be in by then.
CLOSING_DELAY = 5.0


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # PBKDF2 at full strength costs ~0.4 s per sign-in; what is tested here is
    # which accounts exist and that their password works, not the hasher.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _receipt_key_of_the_test(settings, tmp_path):
    # The demo's bids get signed receipts: a development key of the test's own, not var/'s.
    settings.RECEIPT_SIGNING_KEY = str(tmp_path / "receipt-signing-key.pem")
    settings.RECEIPT_SIGNING_KEY_CREATE = True


def seed() -> str:
    out = StringIO()
    call_command("seed_demo", closing_delay=CLOSING_DELAY, stdout=out)
    return out.getvalue()


def login_table(output: str) -> str:
    return output[output.index("Demo logins") : output.index("Live opening ceremony")]


def room_event_data(room: Room, kind: str) -> list[dict]:
    return [json.loads(text)["data"] for text in room.events.filter(kind=kind).order_by("seq").values_list("text", flat=True)]


def counts() -> dict[str, int]:
    return {
        model.__name__: model.objects.count()
        for model in (Organisation, User, Tender, Lot, Amendment, TenderDocument, DocumentObtain, Notification,
                      AuditEvent)
    }


def test_seed_demo_creates_tenders_in_every_state():
    seed()
    tenders = Tender.objects.all()
    lots = Lot.objects.all()
    assert tenders.filter(status=TenderStatus.DRAFT).exists()
    assert tenders.filter(status=TenderStatus.CANCELLED).exists()
    for state in (LotStatus.PUBLISHED, LotStatus.BIDDING_CLOSED, LotStatus.FAILED, LotStatus.AWARDED):
        assert lots.filter(status=state).exists(), state
    assert Amendment.objects.filter(tender__status=TenderStatus.PUBLISHED).count() >= 1
    assert DeadlineChange.objects.filter(new_deadline__gt=F("old_deadline")).exists()


def test_the_failed_demo_lot_failed_by_itself_at_its_opening_for_want_of_bids():
    seed()
    failed = Lot.objects.get(status=LotStatus.FAILED)
    assert Bid.objects.filter(lot=failed, status=BidStatus.CURRENT).count() == 2
    room = Room.objects.get(lot=failed)
    assert room.stage == RoomStage.FAILED
    [announced] = room_event_data(room, "failed")
    assert (announced["count"], announced["min_bidders"]) == (2, 3)  # TR 44
    assert failed.failed_reason == announced["reason"] and "流标" in failed.failed_reason
    assert AuditEvent.objects.get(action="tendering.lot.failed", lot_id=failed.pk).actor_id is None


def test_open_demo_tenders_close_in_twenty_to_forty_days_and_some_have_several_lots():
    seed()
    now = timezone.now()
    open_lots = (
        Lot.objects.filter(status=LotStatus.PUBLISHED)
        .exclude(deadline_changes__isnull=False)
        .exclude(pk=demo.ceremony_lot().pk)  # the live ceremony closes in minutes
    )
    assert open_lots.count() >= 5
    for lot in open_lots:
        assert now + dt.timedelta(days=19) < lot.bid_deadline < now + dt.timedelta(days=41), lot
    published = Tender.objects.filter(status=TenderStatus.PUBLISHED, lots__status=LotStatus.PUBLISHED).distinct()
    assert sum(1 for tender in published if tender.lots.count() > 1) >= 2


def test_awarded_demo_lots_save_money_against_the_maximum_price():
    seed()
    awarded = Lot.objects.filter(status=LotStatus.AWARDED)
    assert awarded.count() >= 2
    for lot in awarded:
        assert lot.winner is not None and lot.awarded_at is not None
        assert 0 < lot.award_price < lot.control_price
        # The award price is what the winner bid, as decrypted and read at the opening.
        assert Bid.objects.get(lot=lot, organisation=lot.winner, status=BidStatus.CURRENT).price == lot.award_price


def test_the_awarded_demo_lots_were_opened_in_their_rooms_and_their_records_verify():
    seed()
    awarded = Lot.objects.filter(status=LotStatus.AWARDED)
    platform_key = receipt_key().private.public_key()
    for lot in awarded:
        room = Room.objects.get(lot=lot)
        assert room.stage == RoomStage.CLOSED
        entries = RoomBid.objects.filter(room=room)
        assert entries.count() >= 3
        assert set(entries.values_list("outcome", flat=True)) == {BidOutcome.DECRYPTED}
        assert not entries.filter(confirmed_at__isnull=True).exists()
        assert not entries.filter(confirmed_silently=True).exists()  # each confirmed with its signing key
        record = json.loads(room.record_json)
        record_verify(record, platform_key)
        assert {bid["organisation_name"] for bid in record["bids"]} == set(
            entries.values_list("organisation__name", flat=True)
        )
        signed_in = {row["role"] for row in record["participants"]}
        assert {"host", "bidder", "supervisor", "tenderer"} <= signed_in
    # One objection was raised in a room and answered there (TR 44, EB 39).
    objection = Objection.objects.get()
    assert objection.answered_at is not None and objection.room.lot.status == LotStatus.AWARDED


def test_amendments_reach_the_bidders_who_obtained_the_documents():
    seed()
    amended = Tender.objects.get(amendments__number=2)
    obtainers = DocumentObtain.objects.filter(tender=amended).values_list("organisation_id", flat=True)
    assert len(obtainers) >= 1
    notified = User.objects.filter(notifications__title__contains="澄清/补遗").values_list(
        "organisation_id", flat=True
    )
    assert set(obtainers) <= set(notified)


def test_every_demo_tender_has_a_real_pdf_document():
    seed()
    for tender in Tender.objects.all():
        document = tender.documents.filter(amendment__isnull=True).get()
        with document.file.open("rb") as handle:
            content = handle.read()
        assert content.startswith(b"%PDF-")
        # The Chinese font travels inside the file: readers without one still show the text.
        assert b"/FontFile2" in content
        assert b"STSong" not in content


def test_seed_demo_fills_an_expert_pool_of_at_least_200():
    seed()
    experts = User.objects.filter(role_grants__role=Role.EXPERT)
    assert experts.count() >= 200
    assert experts.exclude(full_name="").count() == experts.count()
    assert len(set(experts.values_list("full_name", flat=True))) == experts.count()
    assert set(experts.values_list("organisation__kind", flat=True)) == {"platform"}


def test_every_role_has_a_demo_login_that_works(client):
    output = seed()
    assert demo.DEMO_PASSWORD in output
    roles_seen = set()
    for login in demo.logins().logins:
        user = User.objects.get(username=login.username)
        assert user.organisation.name == login.organisation
        assert login.username in output
        request = RequestFactory().post("/accounts/login/")
        assert client.login(request=request, username=login.username, password=demo.DEMO_PASSWORD), login
        client.logout()
        roles_seen |= user.roles
    assert roles_seen == set(Role.values)


def test_running_seed_demo_twice_adds_nothing_and_prints_the_same_logins():
    first = seed()
    before = counts()
    second = seed()
    assert counts() == before
    assert "nothing created" in second
    assert login_table(second) == login_table(first)
    ceremony = demo.ceremony_info()
    assert ceremony is not None
    for output in (first, second):
        assert ceremony.room_path in output


# --- the live ceremony ------------------------------------------------------------------------


def test_the_ceremony_lot_opens_a_few_minutes_after_seeding_with_three_sealed_bids():
    before = timezone.now()
    seed()
    after = timezone.now()
    lot = demo.ceremony_lot()
    assert lot.status == LotStatus.PUBLISHED
    minutes = dt.timedelta(minutes=demo.DEFAULT_CEREMONY_MINUTES)
    # Rounded up to a whole minute after the moment it was published, near the end of seeding.
    assert before + minutes < lot.opening_time <= after + minutes + dt.timedelta(minutes=1)
    assert lot.opening_time.second == 0 and lot.bid_deadline == lot.opening_time
    bids = Bid.objects.filter(lot=lot, status=BidStatus.CURRENT).select_related("organisation")
    assert bids.count() >= 3
    assert set(bids.values_list("decryption_status", flat=True)) == {DecryptionStatus.PENDING}
    for bid in bids:
        # Sealed with the organisation's registered keys, whose backup a demo user can restore.
        key = OrganisationKey.objects.get(organisation=bid.organisation, status="active")
        assert (bid.bidder_fingerprint, bid.signing_fingerprint) == (key.encryption_fingerprint, key.signing_fingerprint)
        path = demo.demo_keys_dir() / demo.backup_filename(bid.organisation.credit_code, key.encryption_fingerprint)
        keyset = sealing_keys.backup_load(path.read_bytes(), demo.DEMO_KEY_PASSPHRASE)
        assert (keyset.organisation, keyset.encryption_fingerprint) == (bid.organisation.credit_code, key.encryption_fingerprint)


def test_the_seed_command_names_the_ceremonys_participants_and_their_key_files():
    output = seed()
    ceremony = demo.ceremony_info()
    block = output[output.index("Live opening ceremony") :]
    assert ceremony.upcoming
    assert ceremony.room_path in block
    assert timezone.localtime(ceremony.opening_time).strftime("%Y-%m-%d %H:%M") in block
    parts = {seat.part for seat in ceremony.seats}
    assert {"host", "bidder", "supervisor", "tenderer"} <= parts
    bidders = [seat for seat in ceremony.seats if seat.part == "bidder"]
    assert len(bidders) >= 3
    for seat in ceremony.seats:
        assert seat.username in block
        assert User.objects.get(username=seat.username).check_password(demo.DEMO_PASSWORD)
    for seat in bidders:
        assert seat.key_file is not None and seat.key_file.exists()
        assert seat.key_file.name in block
    assert str(demo.demo_keys_dir()) in block and demo.DEMO_KEY_PASSPHRASE in block


def test_the_ceremony_bids_decrypt_with_the_backed_up_keys_after_the_opening_time():
    seed()
    ceremony = demo.ceremony_info()
    lot = demo.ceremony_lot()
    bidders = [User.objects.get(username=seat.username) for seat in ceremony.seats if seat.part == "bidder"]
    with pytest.raises(DomainError) as early:
        wrapped_key_for_bidder(user=bidders[0], lot_id=lot.pk)
    assert early.value.code == "bid.before_opening"

    with time_machine.travel(lot.opening_time + dt.timedelta(seconds=1), tick=False):
        assert tendering.lots_advance_due() == [(lot.pk, LotStatus.BIDDING_CLOSED), (lot.pk, LotStatus.OPENING)]
        assert Room.objects.get(lot=lot).stage == RoomStage.DECRYPTING
        assert f"the ceremony is under way in the room at {ceremony.room_path}" in seed()
        for user, seat in zip(bidders, [s for s in ceremony.seats if s.part == "bidder"], strict=True):
            keyset = sealing_keys.backup_load(seat.key_file.read_bytes(), demo.DEMO_KEY_PASSPHRASE)
            # What the room page does in the browser with the restored key: fetch the wrapped
            # file key, unwrap it (RSA-OAEP SHA-256) and hand in only the file key.
            wrapped = wrapped_key_for_bidder(user=user, lot_id=lot.pk)
            assert wrapped.bid.bidder_fingerprint == keyset.encryption_fingerprint
            file_key = keyset.encryption_private.decrypt(wrapped.wrapped_key, OAEP)
            decrypted = room_services.room_decrypt(actor=user, lot=lot, file_key=file_key)
            assert decrypted.decryption_status == DecryptionStatus.DECRYPTED
            assert decrypted.price is not None and decrypted.files.count() == 1
        room = Room.objects.get(lot=lot)
        assert room.stage == RoomStage.READING  # every bid decrypted: the reading may begin (EB 30)
    assert chain_verify().ok


def test_a_ceremony_less_than_a_minute_away_is_refused():
    with pytest.raises(CommandError, match="--ceremony-minutes"):
        call_command("seed_demo", closing_delay=CLOSING_DELAY, ceremony_minutes=0, stdout=StringIO())
    assert not Organisation.objects.exists()


def test_a_machine_too_slow_for_the_closing_delay_stops_seeding_and_leaves_nothing_behind(monkeypatch):
    submit = demo._Seeder.submit_bids

    def slow(self, key):
        # As if sealing took longer than the whole delay: the deadline passes before the bids are in.
        time.sleep(self.closing_delay + 0.2)
        return submit(self, key)

    monkeypatch.setattr(demo._Seeder, "submit_bids", slow)
    with pytest.raises(CommandError, match="--closing-delay"):
        call_command("seed_demo", closing_delay=demo.MIN_CLOSING_DELAY, experts=5, stdout=StringIO())
    assert not Organisation.objects.exists()
    assert not demo.is_seeded()


def test_the_audit_chain_holds_the_whole_demo_and_verifies():
    seed()
    report = chain_verify()
    assert report.ok, report.describe()
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {
        "accounts.organisation.created",
        "accounts.user.created",
        "tendering.tender.published",
        "tendering.amendment.published",
        "tendering.lot.bidding_closed",
        "tendering.lot.failed",
        "tendering.lot.awarded",
        "tendering.tender.cancelled",
        "accounts.key.registered",
        "bidding.bid.submitted",
        "bidding.bid.decrypted",
        "opening.room.failed",
        "opening.room.read",
        "opening.room.confirmed",
        "opening.room.closed",
        "tendering.lot.opened",
    } <= actions


def test_a_clashing_organisation_stops_seeding_and_leaves_nothing_behind():
    organisation_create(
        actor=None, name="浙江明诚招标代理有限公司", code=make_credit_code("91330100MA2AAAAA1"), kind="agency"
    )
    with pytest.raises(CommandError, match="organisation.duplicate_name"):
        seed()
    assert Organisation.objects.count() == 1
    assert not demo.is_seeded()
    assert not User.objects.exists()


def test_seed_demo_refuses_a_closing_delay_too_short_to_publish():
    with pytest.raises(CommandError):
        call_command("seed_demo", closing_delay=0.1, stdout=StringIO())
    assert not Organisation.objects.exists()
