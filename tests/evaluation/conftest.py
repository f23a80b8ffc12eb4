"""One evaluation world for the whole package, built once: a lot opened with five real sealed bids and a nine-member committee.

Built through the services, clock frozen, inside a transaction left open for
the package (each test's own transaction nests in it as a savepoint and is
rolled back), as the permission matrix builds its world:

- alice's tender (comprehensive scoring, control price 11,800,000.00) with
  five bidders: bob 10,850,000; carol 11,900,000 (above the control price:
  flagged at the reading, rejected automatically); dave 11,200,000; erin
  10,500,000; frank 11,500,000 — received in that order;
- the opening room run to its close (every bid decrypted, read, confirmed);
- a complete draw of nine experts (one specialty), each with a platform
  account; eve is one of them, ``world.users[seat]`` gives each seat's user;
- the evaluation started by alice: stage *electing*, nobody signed in;
- oscar, an expert sitting on another lot's committee (agnes's lot), and
  the usual outsiders (agnes, terry, sam, fay, pat).

``world.act`` helpers move the evaluation on (sign in everyone, elect a
chair, submit sheets, draft, sign) for the tests that need a later stage.
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.test import override_settings

from accounts.credit_code import make as make_code
from accounts.models import OrganisationKind, Role, User
from accounts.services import organisation_create, user_create
from bidding import services as bidding
from evaluation import services as evaluation_services
from evaluation.models import Evaluation, Member
from evaluation.report import signature_message
from experts import services as draws
from experts.models import DrawItem, DrawRequest, DrawSelection, DrawStatus, SelectionStatus
from opening import room_services
from tendering import services as tendering
from tendering.models import EvaluationMethod, Lot
from tests.bidding.support import PART_SIZE, obtain, seal, submit
from tests.conftest import PASSWORD, issue_keys, lot_input, tender_input
from tests.experts.draw_support import make_experts, specialty

SHANGHAI = ZoneInfo("Asia/Shanghai")
T0 = dt.datetime(2026, 3, 2, 9, 30, tzinfo=SHANGHAI)
DEADLINE = T0 + dt.timedelta(days=30)
STARTED = DEADLINE + dt.timedelta(days=1)
# Tests run on this clock: an hour into the evaluation (deadline STARTED + 8 h).
WORKING = STARTED + dt.timedelta(hours=1)
MEMBERS = 9
CONTROL_PRICE = Decimal("11800000.00")
BIDDERS = {
    "bob": ("bidder_a", "10850000.00"),
    "carol": ("bidder_b", "11900000.00"),
    "dave": ("bidder_c", "11200000.00"),
    "erin": ("bidder_d", "10500000.00"),
    "frank": ("bidder_e", "11500000.00"),
}
ORGANISATIONS = {
    "agency": ("华信招标代理有限公司", OrganisationKind.AGENCY),
    "agency2": ("远景工程咨询有限公司", OrganisationKind.AGENCY),
    "tenderer": ("市第一人民医院", OrganisationKind.TENDERER),
    "bidder_a": ("浙江建工集团有限公司", OrganisationKind.BIDDER),
    "bidder_b": ("杭州市政建设有限公司", OrganisationKind.BIDDER),
    "bidder_c": ("宁波远大建设有限公司", OrganisationKind.BIDDER),
    "bidder_d": ("温州华东建设有限公司", OrganisationKind.BIDDER),
    "bidder_e": ("绍兴城建集团有限公司", OrganisationKind.BIDDER),
    "supervisor": ("市公共资源交易监督管理局", OrganisationKind.SUPERVISOR),
    "platform": ("市公共资源交易中心", OrganisationKind.PLATFORM),
}
PEOPLE = {
    "alice": ("agency", Role.AGENT),
    "agnes": ("agency2", Role.AGENT),
    "terry": ("tenderer", Role.TENDERER_REP),
    "bob": ("bidder_a", Role.BIDDER),
    "carol": ("bidder_b", Role.BIDDER),
    "dave": ("bidder_c", Role.BIDDER),
    "erin": ("bidder_d", Role.BIDDER),
    "frank": ("bidder_e", Role.BIDDER),
    "sam": ("supervisor", Role.SUPERVISOR),
    "fay": ("platform", Role.FINANCE),
    "pat": ("platform", Role.PLATFORM_ADMIN),
    "eve": ("platform", Role.EXPERT),
    "oscar": ("platform", Role.EXPERT),
}


def _user(orgs: dict[str, Any], name: str, org: str, role: str) -> User:
    return user_create(
        actor=None,
        organisation=orgs[org],
        username=name,
        password=PASSWORD,
        roles=[role],
        full_name=name.title(),
        email=f"{name}@example.cn",
    )


@dataclass
class World:
    orgs: dict[str, Any]
    people: dict[str, User]
    lot: Lot
    bids: dict[str, Any]  # bidder name → Bid
    users: dict[int, User]  # seat → expert user
    other_lot: Lot
    signing_keys: dict[int, ec.EllipticCurvePrivateKey] = field(default_factory=dict)

    @property
    def evaluation(self) -> Evaluation:
        return Evaluation.objects.select_related("lot__tender", "chair").get(lot=self.lot)

    def member(self, seat: int) -> Member:
        return Member.objects.get(evaluation__lot=self.lot, seat=seat)

    def seat_of(self, name: str) -> int:
        return next(seat for seat, user in self.users.items() if user.username == name)

    # --- moving the evaluation on, through the services ------------------------------------------

    def sign_in_all(self) -> None:
        for user in self.users.values():
            evaluation_services.member_sign_in(actor=user, lot=self.lot, no_conflict=True)

    def elect(self, chair: int = 1) -> None:
        """Everyone signed in, everyone votes for ``chair`` until a majority elects them."""
        self.sign_in_all()
        for seat in sorted(self.users):
            if self.evaluation.chair_id is not None:
                return
            evaluation_services.chair_vote(actor=self.users[seat], lot=self.lot, candidate_seat=chair)

    def items(self) -> list[dict[str, Any]]:
        return list(self.evaluation.scheme()["items"])

    def sheet(self, fill: dict[str, Decimal] | None = None) -> evaluation_services.SheetInput:
        """Every valid bid (not carol's) scored on every item: ``fill`` per bidder name, else each item's maximum."""
        scores = {}
        for name, bid in self.bids.items():
            if name == "carol":
                continue
            for item in self.items():
                value = (fill or {}).get(name)
                scores[(str(bid.pk), item["id"])] = min(value, Decimal(item["max"])) if value is not None else Decimal(item["max"])
        return evaluation_services.SheetInput(scores=scores, adjustments={})

    def submit(self, seat: int, sheet: evaluation_services.SheetInput | None = None) -> None:
        evaluation_services.scores_save(actor=self.users[seat], lot=self.lot, sheet=sheet or self.sheet(), submit=True)

    def submit_all(self, sheets: dict[int, evaluation_services.SheetInput] | None = None) -> None:
        for seat in sorted(self.users):
            self.submit(seat, (sheets or {}).get(seat))

    def register_key(self, seat: int) -> ec.EllipticCurvePrivateKey:
        """A signing key for the seat's expert, registered as the browser registers its public half."""
        private = ec.generate_private_key(ec.SECP256R1())
        der = private.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        evaluation_services.signing_key_register(actor=self.users[seat], public_key=der)
        self.signing_keys[seat] = private
        return private

    def signature(self, seat: int, report_sha256: str, *, key: ec.EllipticCurvePrivateKey | None = None) -> str:
        """The seat's signature of the report exactly as the browser makes it: DER, low-s, base64."""
        return browser_signature(
            key or self.signing_keys[seat],
            signature_message(lot_id=self.lot.pk, report_sha256=report_sha256, seat=seat),
        )

    def sign(self, seat: int, report: Any) -> None:
        if seat not in self.signing_keys:
            self.register_key(seat)
        evaluation_services.report_sign(
            actor=self.users[seat], lot=self.lot, report_sha256=report.sha256, signature=self.signature(seat, report.sha256)
        )


P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def browser_signature(private: ec.EllipticCurvePrivateKey, message: bytes) -> str:
    """What static/js/evaluation-keys.js sends: WebCrypto's r‖s made low-s (sealing.js lowS), as DER (p1363ToDer)."""
    from cryptography.hazmat.primitives.asymmetric.utils import (
        decode_dss_signature,
        encode_dss_signature,
    )

    r, s = decode_dss_signature(private.sign(message, ec.ECDSA(hashes.SHA256())))
    if s > P256_ORDER // 2:
        s = P256_ORDER - s
    return base64.b64encode(encode_dss_signature(r, s)).decode("ascii")


def _build(media: Any) -> World:
    orgs = {
        key: organisation_create(actor=None, name=name, code=make_code(f"91330100MA{serial:07d}"), kind=kind)
        for serial, (key, (name, kind)) in enumerate(ORGANISATIONS.items(), start=1)
    }
    people = {name: _user(orgs, name, org, role) for name, (org, role) in PEOPLE.items()}
    for name in ("alice", "agnes", "terry", "sam"):
        issue_keys(people[name].organisation, actor=people[name])
    traveller = time_machine.travel(T0, tick=False)
    clock = traveller.start()
    try:
        tender = tendering.tender_create(actor=people["alice"], data=tender_input(orgs))
        tendering.lot_save(
            actor=people["alice"],
            tender=tender,
            data=lot_input(T0, control_price=CONTROL_PRICE, evaluation_method=EvaluationMethod.COMPREHENSIVE),
        )
        tendering.document_upload(
            actor=people["alice"], tender=tender, upload=SimpleUploadedFile("招标文件.pdf", b"%PDF-1.4 t", "application/pdf")
        )
        tender = tendering.tender_publish(actor=people["alice"], tender=tender)
        lot = tender.lots.get()
        bids, keys = {}, {}
        for n, (name, (_org, price)) in enumerate(BIDDERS.items()):
            clock.move_to(T0 + dt.timedelta(minutes=n + 1))
            user = people[name]
            obtain(user, lot)
            keys[name] = issue_keys(user.organisation, actor=user)
            summary = {"price": price, "duration_days": 365, "quality": "合格", "fields": {}}
            bids[name] = submit(user, lot, seal(lot, keys[name], summary=summary, contents={"技术标.pdf": f"{name} 技术标".encode() * 20}))
        # The opening: every bid decrypted, read, confirmed; the host closes.
        clock.move_to(lot.opening_time + dt.timedelta(seconds=1))
        tendering.lots_advance_due()
        for name in BIDDERS:
            key = bidding.file_key_from_private_key(bid=bids[name], role="bidder", private_key=keys[name].encryption_private)
            room_services.room_decrypt(actor=people[name], lot=lot, file_key=key)
        while room_services.room_read_next(actor=people["alice"], lot=lot) is not None:
            lot.room.refresh_from_db()
            if lot.room.stage != "reading":
                break
        room = lot.room
        room.refresh_from_db()
        for name in BIDDERS:
            message = room_services.confirmation_text(
                lot_id=lot.pk, digest=room.reading_digest, credit_code=people[name].organisation.credit_code
            )
            signature = keys[name].signing_private.sign(message, ec.ECDSA(hashes.SHA256()))
            room_services.room_confirm(actor=people[name], lot=lot, signature=base64.b64encode(signature).decode())
        room_services.room_close(actor=people["alice"], lot=lot)
        lot.refresh_from_db()
        assert lot.status == "opened"
        # The draw: nine members of one specialty, all confirmed, each with an account.
        experts = make_experts(MEMBERS, [specialty("A0101")])
        request = draws.draw_request_create(
            actor=people["alice"],
            lot=lot,
            data=draws.DrawRequestInput(
                items=[draws.DrawItemInput(specialty_id=specialty("A0101").pk, members=MEMBERS, reserves=0)],
                evaluation_start=STARTED,
                evaluation_place="远程异地评标",
            ),
        )
        request = draws.draw_request_approve(actor=people["sam"], request=request)
        request = draws.draw_run(actor=people["sam"], request=request, supervisor_number="20260402")
        accounts = [people["eve"]] + [
            _user(orgs, f"expert{n}", "platform", Role.EXPERT) for n in range(2, MEMBERS + 1)
        ]
        by_expert = {expert.pk: account for expert, account in zip(experts, accounts, strict=True)}
        for expert in experts:
            expert.user = by_expert[expert.pk]
            expert.save(update_fields=["user"])
        for selection in request.selections.filter(status=SelectionStatus.NOTIFIED):
            draws.selection_confirm(selection=selection, channel="link")
        request.refresh_from_db()
        assert request.status == DrawStatus.COMPLETE
        clock.move_to(STARTED)
        evaluation = evaluation_services.evaluation_start(actor=people["alice"], lot=lot)
        users = {member.seat: member.user for member in evaluation.members.select_related("user")}
        other_lot = _other_lot(orgs, people, request)
    finally:
        traveller.stop()
    return World(orgs=orgs, people=people, lot=lot, bids=bids, users=users, other_lot=other_lot)


def _other_lot(orgs: dict[str, Any], people: dict[str, User], template: DrawRequest) -> Lot:
    """Agnes's lot with an evaluation where oscar sits: rows written directly, only to have another committee."""
    tender = tendering.tender_create(actor=people["agnes"], data=tender_input(orgs))
    tendering.lot_save(actor=people["agnes"], tender=tender, data=lot_input(T0))
    lot = tender.lots.get()
    Lot.objects.filter(pk=lot.pk).update(status="evaluating")
    request = DrawRequest.objects.create(
        lot=lot,
        requested_by=people["agnes"],
        evaluation_start=STARTED,
        evaluation_place="远程",
        status=DrawStatus.COMPLETE,
    )
    item = DrawItem.objects.create(request=request, specialty=specialty("A0101"), members=1)
    expert = make_experts(1, [specialty("A0101")])[0]
    expert.user = people["oscar"]
    expert.save(update_fields=["user"])
    selection = DrawSelection.objects.create(
        request=request, item=item, expert=expert, position=1, status=SelectionStatus.CONFIRMED,
        token="other-lot-token", reply_code="999999",
    )
    evaluation = Evaluation.objects.create(
        lot=lot, draw_request=request, method=lot.evaluation_method, scheme_json="{}", scheme_sha256="0" * 64,
        started_at=STARTED, started_by=people["agnes"], deadline=STARTED + dt.timedelta(hours=8),
    )
    Member.objects.create(evaluation=evaluation, seat=1, selection=selection, expert=expert, user=people["oscar"])
    return lot


def _settings(media: Any, receipt_key: Any) -> dict[str, Any]:
    return {
        "MEDIA_ROOT": media,
        "BID_UPLOAD_PART_SIZE": PART_SIZE,
        "BID_MAX_SIZE": 1024 * 1024,
        "RECEIPT_SIGNING_KEY": str(receipt_key),
        "RECEIPT_SIGNING_KEY_CREATE": False,
    }


@pytest.fixture(scope="package")
def base_world(django_db_setup, django_db_blocker, tmp_path_factory):
    media = tmp_path_factory.mktemp("evaluation-media")
    receipt_key = tmp_path_factory.mktemp("evaluation-receipts") / "receipt-key.pem"
    receipt_key.write_bytes(
        Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    fast = override_settings(
        PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"], **_settings(media, receipt_key)
    )
    with django_db_blocker.unblock():
        outer = transaction.atomic()
        outer.__enter__()
        try:
            with fast:
                built = _build(media)
        except BaseException:
            transaction.set_rollback(True)
            outer.__exit__(None, None, None)
            raise
    yield built, media, receipt_key
    with django_db_blocker.unblock():
        transaction.set_rollback(True)
        outer.__exit__(None, None, None)


@pytest.fixture
def world(base_world, db, settings) -> World:
    built, media, receipt_key = base_world
    for name, value in _settings(media, receipt_key).items():
        setattr(settings, name, value)
    copied = copy.copy(built)
    copied.signing_keys = {}
    return copied


@pytest.fixture(autouse=True)
def clock():
    """The tests' clock: an hour into the evaluation, ticking."""
    with time_machine.travel(WORKING, tick=True) as traveller:
        yield traveller
