"""Collusion signals (围标串标) after the opening: each pattern built with real sealed bids, and flagged.

One world is built once for the module (sealing, uploading, opening, decrypting
and reading out 19 real bids takes a while) inside a transaction rolled back at
the end; each test runs in a savepoint of its own, at the world's clock.

Bob's, carol's and dave's organisations bid in six lots:

- L1 (collusive): bob and carol upload from 10.0.0.7; carol and dave send the
  same device id; bob's and carol's keys were registered from 10.0.0.50; bob
  and carol each enclose the same technical file (under different names), bob
  and dave an empty file each; bob's and carol's prices differ by 0.018 %.
  Dave uploads twice from his own 10.0.0.9 (a replacement): no signal.
- L2 (in a tender whose other lot, L6, still takes bids): bob and dave bid
  0.8 times their L1 prices, carol does not — the same bob/dave price ratio.
- L3 and L4: the three rank in the same order with equal gaps (100,000 and 50,000 yuan).
- L5 (clean): different addresses, devices, keys, files and unrelated prices.
- L7: opened but nobody decrypted (the room waits in decryption); L6: still taking bids.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field
from decimal import Decimal

import pytest
import time_machine
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.test import Client, override_settings
from django.urls import reverse
from django.utils import timezone

from accounts.models import OrganisationKind, User
from audit import collusion
from audit.collusion import SignalKind
from audit.context import AuditContext, bind
from audit.models import AuditEvent
from bidding import services as bidding
from bidding.models import Bid, BidStatus
from opening import room_services
from opening.models import Room, RoomStage
from tendering import services as tendering
from tendering.models import Lot, LotStatus
from tests.bidding.support import PART_SIZE, Api, seal
from tests.conftest import (
    KEY_HOLDERS,
    _org,
    _people,
    issue_keys,
    lot_input,
    tender_input,
)
from tests.conftest import (
    TestKeySet as IssuedKeys,
)

pytestmark = pytest.mark.django_db

BIDDERS = ("bob", "carol", "dave")
TECHNICAL = b"%PDF-1.7 technical proposal, prepared once and copied " * 120
DEVICE_BOB = "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f1"
DEVICE_SHARED = "7a6b5c4d-3e2f-4a1b-9c8d-7e6f5a4b3c2d"
DEVICE_DAVE_LATER = "11112222-3333-4444-8555-666677778888"
PRICES = {
    "L1": {"bob": "10850000.00", "carol": "10852000.00", "dave": "11200000.00"},
    "L2": {"bob": "8680000.00", "carol": "9300000.00", "dave": "8960000.00"},
    "L3": {"bob": "9000000.00", "carol": "9100000.00", "dave": "9200000.00"},
    "L4": {"bob": "6000000.00", "carol": "6050000.00", "dave": "6100000.00"},
    "L5": {"bob": "12300000.00", "carol": "11650000.00", "dave": "12980000.00"},
    "L7": {"bob": "10000000.00", "carol": "10100000.00", "dave": "10200000.00"},
}


@dataclass
class World:
    people: dict[str, User]
    lots: dict[str, Lot]
    bids: dict[tuple[str, str], Bid] = field(default_factory=dict)
    keys: dict[tuple[str, str], IssuedKeys] = field(default_factory=dict)
    clock: dt.datetime | None = None

    def org(self, name: str) -> int:
        return self.people[name].organisation_id

    def orgs(self, *names: str) -> set[int]:
        return {self.org(name) for name in names}


def _contents(lot: str, name: str) -> dict[str, bytes]:
    own = f"{lot} {name}: commercial part, our own work ".encode() * 60
    if lot == "L1" and name == "bob":
        return {"商务标.pdf": own, "技术标.pdf": TECHNICAL, "空白.txt": b""}
    if lot == "L1" and name == "carol":
        return {"商务标.pdf": own, "技术方案.pdf": TECHNICAL}
    if lot == "L1" and name == "dave":
        return {"商务标.pdf": own, "空白.txt": b""}
    return {"商务标.pdf": own}


def _upload(world: World, lot_key: str, name: str, *, ip: str, device: str, price: str) -> Bid:
    """Seal ``name``'s bid for the lot and send it over the JSON API from ``ip`` with ``device``."""
    user, lot = world.people[name], world.lots[lot_key]
    data = seal(
        lot,
        world.keys[(lot_key, name)],
        contents=_contents(lot_key, name),
        summary={"price": price, "duration_days": 365, "quality": "合格", "fields": {}},
    )
    client = Client(REMOTE_ADDR=ip, HTTP_X_SUNBID_DEVICE=device)
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    response = Api(client).upload(lot, data)
    assert response.status_code == 201, response.content
    return Bid.objects.get(lot=lot, organisation_id=user.organisation_id, status=BidStatus.CURRENT)


def _register_keys(world: World, lot_key: str, name: str, ip: str | None) -> None:
    with bind(AuditContext(ip=ip, user_agent="Mozilla/5.0 keys page")):
        world.keys[(lot_key, name)] = issue_keys(
            world.people[name].organisation, actor=world.people[name]
        )


def _tender(people: dict[str, User], orgs, lots: list[dict]) -> list[Lot]:
    tender = tendering.tender_create(actor=people["alice"], data=tender_input(orgs))
    for overrides in lots:
        tendering.lot_save(actor=people["alice"], tender=tender, data=lot_input(**overrides))
    tendering.document_upload(
        actor=people["alice"],
        tender=tender,
        upload=SimpleUploadedFile("招标文件.pdf", b"%PDF-1.4 tender documents", "application/pdf"),
    )
    tender = tendering.tender_publish(actor=people["alice"], tender=tender)
    for name in BIDDERS:
        tendering.documents_obtain(actor=people[name], tender=tender)
    return list(tender.lots.order_by("number"))


def _build() -> World:
    orgs = {
        "agency": _org("华信招标代理有限公司", OrganisationKind.AGENCY, 1),
        "agency2": _org("远景工程咨询有限公司", OrganisationKind.AGENCY, 2),
        "tenderer": _org("市第一人民医院", OrganisationKind.TENDERER, 3),
        "bidder_a": _org("浙江建工集团有限公司", OrganisationKind.BIDDER, 4),
        "bidder_b": _org("杭州市政建设有限公司", OrganisationKind.BIDDER, 5),
        "bidder_c": _org("宁波远大建设有限公司", OrganisationKind.BIDDER, 6),
        "supervisor": _org("市公共资源交易监督管理局", OrganisationKind.SUPERVISOR, 7),
        "platform": _org("市公共资源交易中心", OrganisationKind.PLATFORM, 8),
    }
    people = _people(orgs)
    for name in KEY_HOLDERS:
        issue_keys(people[name].organisation, actor=people[name])
    now = timezone.now()
    later = now + dt.timedelta(days=60)
    (l1,) = _tender(people, orgs, [{}])
    l2, l6 = _tender(people, orgs, [{}, {"bid_deadline": later, "opening_time": later}])
    l3, l4 = _tender(people, orgs, [{}, {}])
    l5, l7 = _tender(people, orgs, [{}, {}])
    world = World(
        people=people, lots={"L1": l1, "L2": l2, "L3": l3, "L4": l4, "L5": l5, "L6": l6, "L7": l7}
    )

    # L1: the collusive lot.
    _register_keys(world, "L1", "bob", "10.0.0.50")
    _register_keys(world, "L1", "carol", "10.0.0.50")
    _register_keys(world, "L1", "dave", "10.0.0.51")
    prices = PRICES["L1"]
    world.bids[("L1", "bob")] = _upload(
        world, "L1", "bob", ip="10.0.0.7", device=DEVICE_BOB, price=prices["bob"]
    )
    world.bids[("L1", "carol")] = _upload(
        world, "L1", "carol", ip="10.0.0.7", device=DEVICE_SHARED, price=prices["carol"]
    )
    _upload(world, "L1", "dave", ip="10.0.0.9", device=DEVICE_SHARED, price="11300000.00")
    world.bids[("L1", "dave")] = _upload(
        world, "L1", "dave", ip="10.0.0.9", device=DEVICE_DAVE_LATER, price=prices["dave"]
    )
    # The other lots: fresh keys registered without a network address, addresses and devices of their own.
    for lot_key, offset in (("L2", 20), ("L3", 30), ("L4", 40), ("L5", 50), ("L7", 70)):
        for index, name in enumerate(BIDDERS):
            _register_keys(world, lot_key, name, None)
            world.bids[(lot_key, name)] = _upload(
                world,
                lot_key,
                name,
                ip=f"10.1.{offset}.{index + 1}",
                device=f"{offset:08x}-0000-4000-8000-{index + 1:012x}",
                price=PRICES[lot_key][name],
            )

    # Just after the last of the lots' openings (L6's excepted): each lot took its times from the
    # clock when it was made (30 days on), so on a slow machine they lie seconds apart.
    due = [lot for key, lot in world.lots.items() if key != "L6"]
    world.clock = max(max(lot.bid_deadline, lot.opening_time) for lot in due) + dt.timedelta(seconds=1)
    assert world.clock < later
    with time_machine.travel(world.clock, tick=False):
        tendering.lots_advance_due()
        for lot_key in ("L1", "L2", "L3", "L4", "L5"):
            lot = world.lots[lot_key]
            for name in BIDDERS:
                bid = world.bids[(lot_key, name)]
                file_key = bidding.file_key_from_private_key(
                    bid=bid,
                    role="bidder",
                    private_key=world.keys[(lot_key, name)].encryption_private,
                )
                room_services.room_decrypt(actor=people[name], lot=lot, file_key=file_key)
            while Room.objects.get(lot=lot).stage == RoomStage.READING:
                room_services.room_read_next(actor=people["alice"], lot=lot)
    for lot in world.lots.values():
        lot.refresh_from_db()
    return world


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker, tmp_path_factory):
    base = tmp_path_factory.mktemp("collusion")
    key_path = base / "receipt-key.pem"
    key_path.write_bytes(
        Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    overrides = override_settings(
        MEDIA_ROOT=base / "media",
        VAR_DIR=base / "var",
        PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"],
        EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend",
        RECEIPT_SIGNING_KEY=str(key_path),
        RECEIPT_SIGNING_KEY_CREATE=False,
        BID_UPLOAD_PART_SIZE=PART_SIZE,
        BID_MAX_SIZE=1024 * 1024,
    )
    with django_db_blocker.unblock(), overrides:
        outer = transaction.atomic()
        outer.__enter__()
        try:
            yield _build()
        finally:
            transaction.set_rollback(True)
            outer.__exit__(None, None, None)


@pytest.fixture(autouse=True)
def _at_world_clock(world):
    """Every test looks at the world just after its openings (the lots' deadline has passed)."""
    with time_machine.travel(world.clock + dt.timedelta(minutes=5), tick=False):
        yield


def signals_of(world: World, lot_key: str, **options) -> list[collusion.Signal]:
    return collusion.lot_collusion_for(
        user=world.people["sam"], lot_id=world.lots[lot_key].pk, **options
    ).signals


def only(signals: list[collusion.Signal], kind: str) -> collusion.Signal:
    found = [signal for signal in signals if signal.kind == kind]
    assert len(found) == 1, [(s.kind, s.value) for s in signals]
    return found[0]


def parties(signal: collusion.Signal) -> set[int]:
    return {party.organisation_id for party in signal.parties}


def evidence_by_org(signal: collusion.Signal) -> dict[int, set[int]]:
    found: dict[int, set[int]] = {}
    for row in signal.rows:
        found.setdefault(row.party.organisation_id, set()).update(item.seq for item in row.evidence)
    return found


def bidding_events(world: World, lot_key: str, name: str, **filters) -> set[int]:
    """The seqs of ``name``'s own bidding events on the lot, narrowed by ``filters``."""
    return set(
        AuditEvent.objects.filter(
            lot_id=world.lots[lot_key].pk,
            organisation_id=world.org(name),
            action__in=collusion.UPLOAD_ACTIONS,
        )
        .filter(**filters)
        .values_list("seq", flat=True)
    )


def reading_event(world: World, lot_key: str, name: str) -> int:
    for event in AuditEvent.objects.filter(
        action="opening.room.read", lot_id=world.lots[lot_key].pk
    ):
        if event.data.get("organisation") == world.org(name):
            return event.seq
    raise AssertionError(f"no reading event for {name} in {lot_key}")


# --- what each pattern raises ---------------------------------------------------------------


def test_the_collusive_lot_raises_exactly_its_signals(world):
    kinds = sorted(signal.kind for signal in signals_of(world, "L1"))
    assert kinds == sorted(
        [
            SignalKind.SAME_ADDRESS,
            SignalKind.SAME_DEVICE,
            SignalKind.KEYS_SAME_ADDRESS,
            SignalKind.IDENTICAL_FILE,
            SignalKind.CLOSE_PRICES,
            SignalKind.PRICE_RATIO,
        ]
    )


def test_bids_uploaded_from_one_address_by_two_organisations_are_flagged_with_every_upload_event(
    world,
):
    signal = only(signals_of(world, "L1"), SignalKind.SAME_ADDRESS)
    assert signal.value == "10.0.0.7"
    assert parties(signal) == world.orgs("bob", "carol")
    assert evidence_by_org(signal) == {
        world.org("bob"): bidding_events(world, "L1", "bob", ip="10.0.0.7"),
        world.org("carol"): bidding_events(world, "L1", "carol", ip="10.0.0.7"),
    }
    actions = {item.action for row in signal.rows for item in row.evidence}
    assert actions == {"bidding.upload.started", "bidding.bid.submitted"}


def test_one_organisations_own_uploads_from_one_address_are_not_a_signal(world):
    # Dave sent a bid and its replacement from 10.0.0.9: four events, one organisation.
    assert len(bidding_events(world, "L1", "dave", ip="10.0.0.9")) == 4
    addresses = [s.value for s in signals_of(world, "L1") if s.kind == SignalKind.SAME_ADDRESS]
    assert addresses == ["10.0.0.7"]


def test_bids_sent_from_one_device_by_two_organisations_are_flagged(world):
    signal = only(signals_of(world, "L1"), SignalKind.SAME_DEVICE)
    assert signal.value == DEVICE_SHARED
    assert parties(signal) == world.orgs("carol", "dave")
    dave_first = bidding_events(world, "L1", "dave", payload__contains=DEVICE_SHARED)
    assert {AuditEvent.objects.get(seq=seq).action for seq in dave_first} == {
        "bidding.upload.started",
        "bidding.bid.submitted",
    }
    # Only dave's first upload came from the shared device; the replacement came from another.
    assert evidence_by_org(signal)[world.org("dave")] == dave_first
    assert all(item.device == DEVICE_SHARED for row in signal.rows for item in row.evidence)
    replaced = AuditEvent.objects.get(lot_id=world.lots["L1"].pk, action="bidding.bid.replaced")
    assert replaced.data["device"] == DEVICE_DAVE_LATER


def test_keys_registered_from_one_address_by_two_organisations_are_flagged(world):
    signal = only(signals_of(world, "L1"), SignalKind.KEYS_SAME_ADDRESS)
    assert signal.value == "10.0.0.50"
    assert parties(signal) == world.orgs("bob", "carol")
    for name in ("bob", "carol"):
        key = world.keys[("L1", name)].key
        registered = AuditEvent.objects.get(action="accounts.key.registered", object_id=str(key.pk))
        assert evidence_by_org(signal)[world.org(name)] == {registered.seq}


def test_one_signing_key_in_the_bids_of_two_organisations_is_flagged(world):
    # Registration refuses a key registered before, so only rows written around the
    # services can do this (an import, an altered database): carol's bid now names bob's key.
    bob_bid, carol_bid = world.bids[("L1", "bob")], world.bids[("L1", "carol")]
    Bid.objects.filter(pk=carol_bid.pk).update(signing_fingerprint=bob_bid.signing_fingerprint)

    signal = only(signals_of(world, "L1"), SignalKind.SAME_SIGNING_KEY)
    assert signal.value == bob_bid.signing_fingerprint
    assert parties(signal) == world.orgs("bob", "carol")
    bob_key = world.keys[("L1", "bob")].key
    registered = AuditEvent.objects.get(action="accounts.key.registered", object_id=str(bob_key.pk))
    assert evidence_by_org(signal) == {
        world.org("bob"): {
            bob_bid.audit_seq,
            registered.seq,
            *bidding_events(world, "L1", "bob", action="bidding.upload.started"),
        },
        world.org("carol"): {carol_bid.audit_seq},
    }
    # The chain still says which key really signed carol's bid.
    submitted = AuditEvent.objects.get(seq=carol_bid.audit_seq)
    assert (
        submitted.data["signing_fingerprint"] == world.keys[("L1", "carol")].key.signing_fingerprint
    )


def test_identical_files_in_two_bids_are_flagged_and_empty_files_are_not(world):
    signal = only(signals_of(world, "L1"), SignalKind.IDENTICAL_FILE)
    assert signal.value == hashlib.sha256(TECHNICAL).hexdigest()
    assert parties(signal) == world.orgs("bob", "carol")
    texts = {row.party.organisation_id: row.text for row in signal.rows}
    assert texts == {world.org("bob"): "技术标.pdf", world.org("carol"): "技术方案.pdf"}
    decrypted = {
        name: AuditEvent.objects.get(
            action="bidding.bid.decrypted", object_id=str(world.bids[("L1", name)].pk)
        )
        for name in ("bob", "carol")
    }
    assert evidence_by_org(signal) == {
        world.org(name): {event.seq} for name, event in decrypted.items()
    }
    # The decryption event itself records the digest the signal names.
    assert signal.value in {entry["sha256"] for entry in decrypted["carol"].data["files"]}


def test_near_identical_prices_are_flagged_with_their_reading_events(world):
    signal = only(signals_of(world, "L1"), SignalKind.CLOSE_PRICES)
    assert parties(signal) == world.orgs("bob", "carol")
    assert {row.party.organisation_id: row.price for row in signal.rows} == {
        world.org("bob"): Decimal("10850000.00"),
        world.org("carol"): Decimal("10852000.00"),
    }
    assert signal.spread_percent == "0.0184"
    assert evidence_by_org(signal) == {
        world.org(name): {reading_event(world, "L1", name)} for name in ("bob", "carol")
    }


def test_the_price_tolerance_decides_what_is_near(world):
    assert not [
        s
        for s in signals_of(world, "L1", price_tolerance=Decimal(0))
        if s.kind == SignalKind.CLOSE_PRICES
    ]
    wide = [
        s
        for s in signals_of(world, "L1", price_tolerance=Decimal("0.04"))
        if s.kind == SignalKind.CLOSE_PRICES
    ]
    # At 4 % dave's 11,200,000 is within reach of carol's 10,852,000 (3.1 %): one group of three.
    assert [parties(s) for s in wide] == [world.orgs("bob", "carol", "dave")]


def test_the_same_price_ratio_in_two_lots_is_flagged_in_both(world):
    for here, there in (("L1", "L2"), ("L2", "L1")):
        signal = only(signals_of(world, here), SignalKind.PRICE_RATIO)
        assert parties(signal) == world.orgs("bob", "dave")
        assert [lot.lot_id for lot in signal.lots] == [world.lots[here].pk, world.lots[there].pk]
        ratios = {(row.lot.lot_id, row.party.organisation_id): row.ratio for row in signal.rows}
        dave_over_bob = Decimal("11200000.00") / Decimal("10850000.00")
        for lot_key in (here, there):
            assert ratios[(world.lots[lot_key].pk, world.org("bob"))] == 1
            assert ratios[(world.lots[lot_key].pk, world.org("dave"))] == dave_over_bob.quantize(
                Decimal("0.000001")
            )
        assert evidence_by_org(signal) == {
            world.org(name): {reading_event(world, "L1", name), reading_event(world, "L2", name)}
            for name in ("bob", "dave")
        }


def test_the_same_ranking_with_equal_gaps_in_two_lots_is_flagged(world):
    signals = signals_of(world, "L3")
    assert [signal.kind for signal in signals] == [SignalKind.PRICE_STEPS]
    signal = signals[0]
    assert parties(signal) == world.orgs("bob", "carol", "dave")
    assert [(step.lot.lot_id, step.gap) for step in signal.steps] == [
        (world.lots["L3"].pk, Decimal("100000.00")),
        (world.lots["L4"].pk, Decimal("50000.00")),
    ]
    assert [
        row.party.organisation_id for row in signal.rows if row.lot.lot_id == world.lots["L4"].pk
    ] == [world.org(name) for name in ("bob", "carol", "dave")]
    assert evidence_by_org(signal)[world.org("carol")] == {
        reading_event(world, "L3", "carol"),
        reading_event(world, "L4", "carol"),
    }


def test_a_clean_lot_stays_clean_although_every_check_had_material(world):
    report = collusion.lot_collusion_for(user=world.people["sam"], lot_id=world.lots["L5"].pk)
    assert report.signals == []
    coverage = report.coverage
    assert coverage.bidding_events == 6
    assert coverage.with_address == 6 and coverage.with_device == 6
    assert coverage.files == coverage.files_with_digest == 3
    assert coverage.prices_read == 3
    # Compared with L1–L4, where the same three bid: no price pattern matched.
    assert coverage.lots_compared == 4


def test_the_upload_events_of_a_tender_still_taking_bids_stay_out(world):
    # L2's tender has L6, whose deadline is a month away: who bid on the tender stays sealed (EB 27),
    # in the signals as in the audit browser; the prices read out at L2's opening are public.
    report = collusion.lot_collusion_for(user=world.people["sam"], lot_id=world.lots["L2"].pk)
    assert report.bidding_events_sealed
    assert report.coverage.bidding_events == 0
    assert [signal.kind for signal in report.signals] == [SignalKind.PRICE_RATIO]


# --- who may look, and when -------------------------------------------------------------------


def test_the_page_shows_each_signal_with_links_to_its_evidence_and_every_link_opens(world):
    client = Client()
    client.force_login(world.people["sam"])
    response = client.get(reverse("audit:collusion", args=[world.lots["L1"].pk]))
    assert response.status_code == 200
    page = response.content.decode()
    signals = signals_of(world, "L1")
    for signal in signals:
        assert str(signal.label) in page
        for seq in signal.evidence_seqs:
            url = reverse("audit:event", args=[seq])
            assert f'href="{url}"' in page
            assert client.get(url).status_code == 200
    for name in ("bob", "carol", "dave"):
        assert world.people[name].organisation.name in page
    assert "10.0.0.7" in page and DEVICE_SHARED in page


def test_a_platform_administrator_sees_the_signals_too(world):
    client = Client()
    client.force_login(world.people["pat"])
    response = client.get(
        reverse("audit:collusion", args=[world.lots["L1"].pk]), {"tolerance": "0"}
    )
    assert response.status_code == 200
    assert response.context["report"].tolerance == 0
    assert SignalKind.CLOSE_PRICES not in {
        signal.kind for signal in response.context["report"].signals
    }


@pytest.mark.parametrize("value", ["9", "-1", "abc"])
def test_a_tolerance_out_of_range_is_refused_on_the_form_and_the_default_applies(world, value):
    client = Client()
    client.force_login(world.people["sam"])
    response = client.get(
        reverse("audit:collusion", args=[world.lots["L1"].pk]), {"tolerance": value}
    )
    assert response.status_code == 200
    assert response.context["form"].errors["tolerance"]
    assert response.context["report"].tolerance == collusion.DEFAULT_PRICE_TOLERANCE


@pytest.mark.parametrize("name", ["bob", "alice", "terry", "fay", "eve"])
def test_bidders_agents_and_outsiders_are_refused(world, name):
    client = Client()
    client.force_login(world.people[name])
    assert client.get(reverse("audit:collusion", args=[world.lots["L1"].pk])).status_code == 403
    assert client.get(reverse("audit:collusion_lots")).status_code == 403


def test_an_anonymous_visitor_is_sent_to_sign_in(world):
    response = Client().get(reverse("audit:collusion", args=[world.lots["L1"].pk]))
    assert response.status_code == 302
    assert reverse("accounts:login") in response["Location"]


@pytest.mark.parametrize(
    ("lot_key", "status"), [("L6", LotStatus.PUBLISHED), ("L7", LotStatus.OPENING)]
)
def test_signals_are_refused_before_the_prices_are_read_out(world, lot_key, status):
    # L6 still takes bids; L7's room opened but waits for decryption: who bid and what they bid
    # are secret until the reading (EB 21, EB 27, EB 30).
    lot = world.lots[lot_key]
    assert lot.status == status
    client = Client()
    client.force_login(world.people["sam"])
    response = client.get(reverse("audit:collusion", args=[lot.pk]))
    assert response.status_code == 403
    assert "本标段尚未开标唱标" in response.content.decode()
    for name in BIDDERS:
        assert world.people[name].organisation.name not in response.content.decode()


def test_an_unknown_lot_is_not_found(world):
    client = Client()
    client.force_login(world.people["sam"])
    assert client.get(reverse("audit:collusion", args=[999_999])).status_code == 404


def test_the_list_offers_the_opened_lots_only(world):
    client = Client()
    client.force_login(world.people["sam"])
    response = client.get(reverse("audit:collusion_lots"))
    assert response.status_code == 200
    listed = {lot.pk for lot in response.context["page"].object_list}
    assert listed == {world.lots[key].pk for key in ("L1", "L2", "L3", "L4", "L5")}
    for key in ("L1", "L5"):
        assert reverse("audit:collusion", args=[world.lots[key].pk]) in response.content.decode()
