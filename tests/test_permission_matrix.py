"""Every role against every view: who is let in, who is refused, and how.

One row per (URL, variant, method) in ``CASES``; each row names, for each of
the named people of ``tests/conftest.py`` (built here once per module, see
``World``) and an anonymous visitor, the outcome (the complaint rows name
sven too, a supervisor of another authority: see ``OTHER_SUPERVISOR``):

- ``OK``: 2xx, or a redirect anywhere but the sign-in page;
- ``LOGIN``: a redirect to the sign-in page (anonymous visitors on login-only views);
- ``DENIED``: 403 or 404, never 200, never 500;
- ``NOT_FOUND``: exactly 404 (someone else's object must look like a missing one);
- ``METHOD``: 405 (a GET on an action that only accepts POST, PUT or DELETE).

Refused requests change nothing in the database and add no audit record; a
GET changes nothing for anyone; an allowed POST that is an action changes
what it says it changes. Object views are also asked for a nonexistent id and
for an id of another agency's or organisation's object (guessing ids).

``test_every_url_of_the_project_is_in_the_matrix`` walks the URL
configuration, so a view added without a row here fails the suite.

A row states the rule, never what a view happens to do: where a view breaks
it, the row names the person in ``bugs`` with the finding, and that request
is a strict xfail until the view is fixed (then it fails as an XPASS, and the
entry goes).
"""

from __future__ import annotations

import base64
import contextlib
import copy
import datetime as dt
import enum
import functools
import json
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlparse

import pytest
import time_machine
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.apps import apps
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection, transaction
from django.http import HttpResponse
from django.shortcuts import resolve_url
from django.test import Client, override_settings
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

from accounts import tokens
from accounts.credit_code import make as make_code
from accounts.keys import fingerprint_groups
from accounts.models import (
    ApiToken,
    Notification,
    Organisation,
    OrganisationKey,
    OrganisationKind,
    Role,
)
from accounts.services import api_token_create, notify_users, organisation_create, user_create
from audit.models import AuditCheckpoint, AuditEvent, CheckpointReason
from audit.tree import checkpoint_make
from bidding import receipts
from bidding import security as bid_security
from bidding import services as bidding
from bidding.models import (
    Bid,
    BidSecurity,
    BidStatus,
    LotContract,
    RefundBatch,
    SecurityPayment,
    SecurityRefund,
    Upload,
    UploadPart,
    UploadStatus,
)
from complaints import services as complaint_services
from complaints.models import (
    Complaint,
    ComplaintAttachment,
    ComplaintStatus,
    StatementRequest,
    Subject,
    Suspension,
)
from experts import gateway, id_number
from experts import notifications as expert_notifications
from experts import pool as expert_pool
from experts import services as draws
from experts.models import (
    DrawRequest,
    DrawSelection,
    DrawStatus,
    Expert,
    ExpertConflict,
    ExpertStatus,
    ExpertUnavailability,
    SelectionStatus,
)
from opening import crypto as opening_crypto
from opening.models import BidOutcome, Custodian, RoomBid
from tendering import services as tendering
from tendering.models import (
    Amendment,
    DocumentObtain,
    Lot,
    LotStatus,
    Tender,
    TenderDocument,
    TenderStatus,
)
from tests.bidding.support import PART_SIZE, parts_of, put_part, seal, sha, submit
from tests.conftest import PASSWORD, issue_keys, lot_input, tender_input
from tests.experts.draw_support import award, make_experts, specialty
from tests.opening.keypool import POOL
from tests.opening.keypool import fingerprint as rsa_fingerprint

if TYPE_CHECKING:
    # Imported for the annotation only: pytest would try to collect a class named Test* found in the module.
    from tests.conftest import TestKeySet

pytestmark = pytest.mark.django_db

ANONYMOUS = "anonymous"
EVERYONE = ("anonymous", "alice", "agnes", "terry", "bob", "carol", "dave", "sam", "fay", "pat", "eve")
SIGNED_IN = EVERYONE[1:]
BIDDERS = ("bob", "carol", "dave")
# Those who manage alice's published tender: its agent, its tenderer, the supervisor, the platform.
MANAGERS = ("alice", "terry", "sam", "pat")
AUDITORS = ("sam", "pat")
# Whose roles hold their organisation's keys: bidders seal with them, the others keep opening-key shares.
KEY_ROLES = ("alice", "agnes", "terry", "bob", "carol", "dave", "sam")
# The users of the published lot's custodians: its agency, its tenderer and its supervising authority.
CUSTODIANS = ("alice", "terry", "sam")
# A supervisor of another supervising authority than the one every tender of the world names (sam's). The
# other views treat the supervisor role as platform-wide, so he is asked only on the rows that tell the
# authorities apart — the complaints, handled by the authority they went to (TR 60–61): those rows are
# written with ``outcomes(..., people=WITH_OTHER_AUTHORITY)``, and every other row names ``EVERYONE``.
OTHER_SUPERVISOR = "sven"
WITH_OTHER_AUTHORITY = (*EVERYONE, OTHER_SUPERVISOR)

# Short titles, each with a marker no other title contains, so that presence
# and absence on a page can be told apart even if a template shortens them.
DRAFT_TITLE = "甲草稿住院楼改造工程"
PUBLISHED_TITLE = "乙公告门诊楼改造工程"
AGNES_DRAFT_TITLE = "丙草稿体育馆新建工程"
AGNES_PUBLISHED_TITLE = "丁公告图书馆新建工程"
CREATED_TITLE = "戊新建公告实验楼工程"
EDITED_TITLE = "己修改后的住院楼工程"
EDITED_LOT_NAME = "庚修改后的标段"
ADMIN_ORG_NAME = "辛平台新登记的投标单位"
NONEXISTENT_ID = 987_654_321
NONEXISTENT_UUID = uuid.UUID(int=NONEXISTENT_ID)
CREATED_TOKEN_NAME = "子自动化递交令牌"

# Admin URLs are Django's own site, tested below as paths; set_language is
# Django's own i18n view (a POST that only sets the language cookie, no data).
EXCLUDED_URL_NAMES = frozenset({"set_language"})
EXCLUDED_URL_NAMESPACES = frozenset({"admin"})


class Outcome(enum.Enum):
    OK = "allowed"
    LOGIN = "sent to sign in"
    DENIED = "refused (403 or 404)"
    NOT_FOUND = "refused as not found (404)"
    METHOD = "method not allowed (405)"


def outcomes(
    *,
    ok: tuple[str, ...] | frozenset[str] = (),
    not_found: tuple[str, ...] | frozenset[str] = (),
    anonymous: Outcome = Outcome.LOGIN,
    rest: Outcome = Outcome.DENIED,
    people: tuple[str, ...] = EVERYONE,
) -> dict[str, Outcome]:
    """The outcome for each of ``people``: ``ok`` first, then ``not_found``, then the defaults."""
    result = {}
    for person in people:
        if person in ok:
            result[person] = Outcome.OK
        elif person in not_found:
            result[person] = Outcome.NOT_FOUND
        elif person == ANONYMOUS:
            result[person] = anonymous
        else:
            result[person] = rest
    return result


def agent_only() -> dict[str, Outcome]:
    """Views on alice's tenders that only an agent of its agency may use; agnes sees no such tender."""
    return outcomes(ok=("alice",), not_found=("agnes",))


def post_only() -> dict[str, Outcome]:
    return outcomes(rest=Outcome.METHOD)


# --- the world the requests act on -----------------------------------------------------------


# The named people of tests/conftest.py, with the same organisations and roles. Built here once
# per module rather than per test: ~2,700 requests each building ten accounts would take minutes.
ORGANISATIONS = {
    "agency": ("华信招标代理有限公司", OrganisationKind.AGENCY),
    "agency2": ("远景工程咨询有限公司", OrganisationKind.AGENCY),
    "tenderer": ("市第一人民医院", OrganisationKind.TENDERER),
    "tenderer2": ("市第二人民医院", OrganisationKind.TENDERER),
    "bidder_a": ("浙江建工集团有限公司", OrganisationKind.BIDDER),
    "bidder_b": ("杭州市政建设有限公司", OrganisationKind.BIDDER),
    "bidder_c": ("宁波远大建设有限公司", OrganisationKind.BIDDER),
    "supervisor": ("市公共资源交易监督管理局", OrganisationKind.SUPERVISOR),
    "platform": ("市公共资源交易中心", OrganisationKind.PLATFORM),
    # Sven's authority: no tender of the world names it (see OTHER_SUPERVISOR).
    "supervisor2": ("县公共资源交易监督管理办公室", OrganisationKind.SUPERVISOR),
}
PEOPLE = {
    "alice": ("agency", Role.AGENT),
    "agnes": ("agency2", Role.AGENT),
    "terry": ("tenderer", Role.TENDERER_REP),
    "bob": ("bidder_a", Role.BIDDER),
    "carol": ("bidder_b", Role.BIDDER),
    "dave": ("bidder_c", Role.BIDDER),
    "sam": ("supervisor", Role.SUPERVISOR),
    "sven": ("supervisor2", Role.SUPERVISOR),
    "fay": ("platform", Role.FINANCE),
    "pat": ("platform", Role.PLATFORM_ADMIN),
    "eve": ("platform", Role.EXPERT),
}


# Bob's replacement bid, larger than the first (tests/bidding/support.py), so that it travels in three parts.
REPLACEMENT_CONTENTS = {"商务标（修订）.pdf": b"%PDF-1.7 revised business part " * 300}


class World:
    """The objects the matrix acts on: built once per module, copied for each test.

    Each test runs in a savepoint that is rolled back, so what a request
    changes is gone for the next one. The ``cached_property`` parts (a lot
    moved past its deadline, the expert pool, the draw of experts in each of
    its states, another organisation's bid) are built in the test that
    asks for them, on that test's copy, and rolled back with it: never read
    them while the module's world is being built, or every later test would
    hold objects that no longer exist.
    """

    def __init__(self) -> None:
        self.orgs = {
            key: organisation_create(
                actor=None, name=name, code=make_code(f"91330100MA{serial:07d}"), kind=kind
            )
            for serial, (key, (name, kind)) in enumerate(ORGANISATIONS.items(), start=1)
        }
        self.people = {
            name: user_create(
                actor=None,
                organisation=self.orgs[org],
                username=name,
                password=PASSWORD,
                roles=[role],
                full_name=name.title(),
                email=f"{name}@example.cn",
            )
            for name, (org, role) in PEOPLE.items()
        }
        # Every lot's opening key is split among its agency, tenderer and supervising authority when it is
        # published, so they registered keys first (agnes's tenderer has no user here); so did bob's
        # organisation, to seal its bid. Carol's and dave's organisations have none.
        self.keys: dict[str, TestKeySet] = {
            name: issue_keys(self.people[name].organisation, actor=self.people[name])
            for name in ("alice", "agnes", "terry", "sam", "bob")
        }
        issue_keys(self.orgs["tenderer2"])
        self.draft = self._tender("alice", DRAFT_TITLE, "tenderer", publish=False)
        # Bob's organisation obtained the documents of alice's published tender, nobody else did.
        self.published = self._tender("alice", PUBLISHED_TITLE, "tenderer", publish=True)
        tendering.documents_obtain(actor=self.people["bob"], tender=self.published)
        # It has a bid in on the lot, and has begun replacing it: the first part of three is uploaded.
        bob, lot = self.people["bob"], self.lot(self.published)
        self.bid = submit(bob, lot, seal(lot, self.keys["bob"]))
        self.replacement = seal(lot, self.keys["bob"], contents=REPLACEMENT_CONTENTS)
        self.upload = bidding.upload_create(actor=bob, lot=lot, size=len(self.replacement))
        self.parts = dict(parts_of(self.replacement, self.upload.part_size))
        assert len(self.parts) >= 3, "the next part must not be the last"
        put_part(bob, self.upload, 0, self.parts[0])
        # The record of that bid, sealed from everyone (the platform too) until bidding closes (EB 27).
        self.bid_seq = AuditEvent.objects.get(action="bidding.bid.submitted", tender_id=self.published.pk).seq
        self.confidential_seq = AuditEvent.objects.get(
            action="tendering.documents.obtained", tender_id=self.published.pk
        ).seq
        # The public record just before the confidential one: its "next" link would point to it.
        self.public_seq = AuditEvent.objects.filter(seq__lt=self.confidential_seq).latest("seq").seq
        # Another agency's tenders, for another tenderer than terry's; nobody obtained their documents.
        self.agnes_draft = self._tender("agnes", AGNES_DRAFT_TITLE, "tenderer2", publish=False)
        self.agnes_published = self._tender("agnes", AGNES_PUBLISHED_TITLE, "tenderer2", publish=True)
        # One unread message for every signed-in person, each with its own title.
        self.notifications = {
            name: notify_users(
                [user], title=f"{name} 的消息", body="", url=reverse("accounts:notifications")
            )[0]
            for name, user in self.people.items()
        }
        # An API token each for bob and carol, each with its own name.
        self.tokens = {
            name: api_token_create(actor=self.people[name], name=f"{name} 的令牌")[0] for name in ("bob", "carol")
        }

    def _tender(self, agent: str, title: str, tenderer: str, publish: bool) -> Tender:
        actor = self.people[agent]
        tender = tendering.tender_create(
            actor=actor, data=tender_input(self.orgs, title=title, tenderer_id=self.orgs[tenderer].pk)
        )
        tendering.lot_save(actor=actor, tender=tender, data=lot_input())
        tendering.document_upload(
            actor=actor,
            tender=tender,
            upload=SimpleUploadedFile(f"{title}.pdf", b"%PDF-1.4 " + title.encode(), "application/pdf"),
        )
        if publish:
            tender = tendering.tender_publish(actor=actor, tender=tender)
        return tender

    @cached_property
    def checkpoint(self) -> AuditCheckpoint:
        """A signed checkpoint of everything so far."""
        return checkpoint_make(reason=CheckpointReason.MANUAL)

    @cached_property
    def checkpointed_seq(self) -> int:
        """A public record (the published tender's publication) inside a checkpoint."""
        seq = AuditEvent.objects.filter(action="tendering.tender.published", tender_id=self.published.pk).values_list(
            "seq", flat=True
        ).first()
        checkpoint_make(reason=CheckpointReason.MANUAL)
        return seq

    @cached_property
    def closed_lot(self) -> Lot:
        """The published tender's lot after its deadline, as the timed sweep leaves it: its room open.

        Only bob bid, and a room with fewer bids than the lot's minimum fails the
        lot (TR 44); here the lot asks for one, and its decryption window is long
        enough for the requests made an hour after the deadline — written straight
        to the row, as ``lot_save`` rightly refuses a minimum under three.
        """
        _open_with_one_bid(self.published.lots.get())
        lot = self.published.lots.get()
        assert lot.status == LotStatus.OPENING
        return lot

    def doc(self, tender: Tender) -> TenderDocument:
        return tender.documents.get()

    def lot(self, tender: Tender) -> Lot:
        return tender.lots.get()

    @cached_property
    def carol_bidding(self) -> dict[str, Any]:
        """Another organisation's bid and upload: carol's, on agnes's published tender, with keys of its own."""
        carol, lot = self.people["carol"], self.lot(self.agnes_published)
        tendering.documents_obtain(actor=carol, tender=self.agnes_published)
        data = seal(lot, issue_keys(carol.organisation, actor=carol))
        bid = submit(carol, lot, data)
        return {"bid": bid, "upload": bidding.upload_create(actor=carol, lot=lot, size=len(data))}

    def custodian(self, person: str) -> Custodian:
        """The share of the published lot's opening key that the person's organisation keeps."""
        return Custodian.objects.get(
            opening_key__lot=self.lot(self.published), organisation=self.people[person].organisation
        )

    def share(self, person: str) -> bytes:
        """The person's organisation's share, decrypted as its browser would with the key store's private key."""
        encrypted = bytes(self.custodian(person).encrypted_share)
        return opening_crypto.unwrap(self.keys[person].encryption_private, encrypted)

    @cached_property
    def pool(self) -> dict[str, Any]:
        """Eve's pool record (linked to her account) with a conflict and a day off; another expert's with one too."""
        pat = self.people["pat"]
        day = timezone.localdate() + dt.timedelta(days=10)
        eve = expert_pool.expert_create(actor=pat, data=_pool_input(), user=self.people["eve"])
        other = expert_pool.expert_create(
            actor=pat, data=_pool_input(code="ZJ900002", name="顾晓燕", id_number=POOL_OTHER_ID_NUMBER)
        )
        return {
            "eve": eve,
            "conflict": expert_pool.expert_conflict_declare(
                actor=pat, expert=eve, credit_code=self.orgs["bidder_a"].credit_code, organisation_name="",
                kind="relative",
            ),
            "period": expert_pool.expert_unavailability_add(actor=pat, expert=eve, start=day, end=day),
            "other": other,
            "other_period": expert_pool.expert_unavailability_add(actor=pat, expert=other, start=day, end=day),
        }

    # The draw of experts for the closed lot, one state per part, each built from the one before.

    @cached_property
    def pending_draw(self) -> DrawRequest:
        """Alice's request for a panel for the closed lot (five members, one reserve), waiting for a supervisor."""
        return draws.draw_request_create(
            actor=self.people["alice"], lot=self.closed_lot, data=_draw_input(self.closed_lot)
        )

    @cached_property
    def approved_draw(self) -> DrawRequest:
        """The pending request approved by sam, with exactly six eligible experts in the pool."""
        make_experts(DRAW_POOL_SIZE, [specialty(DRAW_SPECIALTY)])
        return draws.draw_request_approve(actor=self.people["sam"], request=self.pending_draw)

    @cached_property
    def drawn(self) -> DrawRequest:
        """The approved request drawn by sam: five members notified, one reserve; the first member is eve."""
        drawn = draws.draw_run(actor=self.people["sam"], request=self.approved_draw, supervisor_number="31415")
        assert drawn.status == DrawStatus.NOTIFYING
        member = drawn.selections.filter(status=SelectionStatus.NOTIFIED).order_by("position").first()
        Expert.objects.filter(pk=member.expert_id).update(user=self.people["eve"])
        return drawn

    def member(self) -> DrawSelection:
        """Eve's invitation in the drawn panel."""
        return self.drawn.selections.select_related("expert").get(expert__user=self.people["eve"])

    def reserve(self) -> DrawSelection:
        return self.drawn.selections.get(status=SelectionStatus.RESERVE)

    @cached_property
    def full_panel(self) -> DrawRequest:
        """Every member of the drawn panel confirmed; the lot not awarded yet."""
        for selection in self.drawn.selections.filter(status=SelectionStatus.NOTIFIED):
            draws.selection_confirm(selection=selection, channel="link")
        self.drawn.refresh_from_db()
        assert self.drawn.status == DrawStatus.COMPLETE
        return self.drawn

    @cached_property
    def awarded_draw(self) -> DrawRequest:
        """The complete panel, its lot awarded to bob's organisation: the draw may now be revealed."""
        award(self.people, self.orgs, self.full_panel.lot)
        self.full_panel.refresh_from_db()
        return self.full_panel

    @cached_property
    def revealed_draw(self) -> DrawRequest:
        return draws.draw_reveal(actor=self.people["sam"], request=self.awarded_draw)

    @cached_property
    def agnes_pending_draw(self) -> DrawRequest:
        """Agnes's request for her own published tender's lot, after its deadline: another agency's draw."""
        lot = self.agnes_published.lots.get()
        _open_with_one_bid(lot)
        lot.refresh_from_db()
        return draws.draw_request_create(actor=self.people["agnes"], lot=lot, data=_draw_input(lot))

    # Complaints (投诉, TR 60–61), through the services (a few milliseconds each): bob's complaint about alice's
    # published tender, to its supervising authority (sam's), one state per part, each built from the one before.

    @cached_property
    def complaint(self) -> Complaint:
        """Bob's complaint about the whole of alice's published tender, with one file of evidence: not yet accepted."""
        return complaint_services.complaint_file(
            actor=self.people["bob"], tender=self.published, data=_complaint_input(), files=[_complaint_evidence()]
        )

    def complaint_evidence(self) -> ComplaintAttachment:
        return self.complaint.attachments.get()

    @cached_property
    def accepted_complaint(self) -> Complaint:
        """Bob's complaint accepted by sam: from now on alice's agency and terry's tenderer see it."""
        return complaint_services.complaint_accept(actor=self.people["sam"], complaint=self.complaint)

    @cached_property
    def suspended_complaint(self) -> Complaint:
        """The accepted complaint, sam having ordered the procurement suspended."""
        complaint_services.complaint_suspend(
            actor=self.people["sam"], complaint=self.accepted_complaint, reason="处理投诉期间暂停"
        )
        return self.accepted_complaint

    @cached_property
    def complaint_statement(self) -> StatementRequest:
        """Sam's request to alice's agency for a written statement on the accepted complaint, not answered yet."""
        return complaint_services.statement_request(
            actor=self.people["sam"], complaint=self.accepted_complaint, questions=COMPLAINT_QUESTIONS,
            due_on=timezone.localdate() + dt.timedelta(days=5),
        )

    @cached_property
    def answered_statement(self) -> StatementRequest:
        """Alice's answer to the statement request, with a file of its own."""
        return complaint_services.statement_answer(
            actor=self.people["alice"], statement=self.complaint_statement, answer=COMPLAINT_ANSWER,
            files=[SimpleUploadedFile("书面说明.pdf", COMPLAINT_STATEMENT_FILE, "application/pdf")],
        )

    def statement_attachment(self) -> ComplaintAttachment:
        return self.answered_statement.attachments.get()

    @cached_property
    def complaint_elsewhere(self) -> Complaint:
        """Another party's complaint, for guessing ids: carol's, about agnes's tender, to sven's authority.

        Agnes's tender names sven's authority (written to the row: the world's tenders all name sam's), carol's
        organisation obtains its documents and complains; sven accepts and asks agnes's agency for a statement.
        """
        Tender.objects.filter(pk=self.agnes_published.pk).update(supervising_authority=self.orgs["supervisor2"])
        tendering.documents_obtain(actor=self.people["carol"], tender=self.agnes_published)
        complaint = complaint_services.complaint_file(
            actor=self.people["carol"], tender=self.agnes_published, data=_complaint_input(),
            files=[_complaint_evidence()],
        )
        complaint = complaint_services.complaint_accept(actor=self.people["sven"], complaint=complaint)
        complaint_services.statement_request(
            actor=self.people["sven"], complaint=complaint, questions=COMPLAINT_QUESTIONS,
            due_on=timezone.localdate() + dt.timedelta(days=5),
        )
        return complaint


def _open_with_one_bid(lot: Lot) -> None:
    """Run the timed sweep past the lot's opening time, minimums lowered so that the rooms it opens open.

    The sweep opens every lot due, so every published lot of the world is lowered, not only ``lot``.
    """
    Lot.objects.filter(status=LotStatus.PUBLISHED).update(min_bidders=0, decryption_minutes=240)
    tendering.lots_advance_due(now=lot.opening_time + dt.timedelta(minutes=1))


def _bidding_settings(receipt_key: Path) -> dict[str, Any]:
    """Small upload parts, so that a bid of a few kilobytes travels in several, and the module's receipt key."""
    return {
        "BID_UPLOAD_PART_SIZE": PART_SIZE,
        "RECEIPT_SIGNING_KEY": str(receipt_key),
        "RECEIPT_SIGNING_KEY_CREATE": False,
    }


@pytest.fixture(scope="module")
def base_world(django_db_setup, django_db_blocker, tmp_path_factory):
    """The world, in a transaction left open for the module; each test's own atomic nests in it."""
    media = tmp_path_factory.mktemp("media")
    receipt_key = tmp_path_factory.mktemp("receipts") / "receipt-key.pem"
    receipt_key.write_bytes(
        Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    fast = override_settings(
        MEDIA_ROOT=media,
        PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"],
        **_bidding_settings(receipt_key),
    )
    with django_db_blocker.unblock():
        outer = transaction.atomic()
        outer.__enter__()
        try:
            with fast:
                world = World()
        except BaseException:
            transaction.set_rollback(True)
            outer.__exit__(None, None, None)
            raise
    yield world, media, receipt_key
    with django_db_blocker.unblock():
        transaction.set_rollback(True)
        outer.__exit__(None, None, None)


@pytest.fixture
def world(base_world, db, settings) -> World:
    built, media, receipt_key = base_world
    # The documents and the bids were stored under the module's media root, not this test's.
    settings.MEDIA_ROOT = media
    for name, value in _bidding_settings(receipt_key).items():
        setattr(settings, name, value)
    # The gateway's replies are signed with this; unset, no signature at all would be valid.
    settings.EXPERT_GATEWAY_INBOUND_SECRET = GATEWAY_SECRET
    return copy.copy(built)


# What signing in itself writes: sessions, django-axes' access log, the user's last_login and the
# sign-in and sign-out audit records. Everything else in the database is in the fingerprint.
SIGN_IN_APPS = frozenset({"sessions", "axes"})
SIGN_IN_FIELDS = frozenset({("accounts.User", "last_login")})
AUDIT = AuditEvent._meta.label
OBTAINS = DocumentObtain._meta.label


def fingerprint() -> dict[str, list[Any]]:
    """Every row of every table, bar what signing in writes, keyed by model label."""
    state: dict[str, list[Any]] = {}
    for model in apps.get_models():
        label = model._meta.label
        if model._meta.app_label in SIGN_IN_APPS:
            continue
        fields = [
            f.attname for f in model._meta.concrete_fields if (label, f.name) not in SIGN_IN_FIELDS
        ]
        rows = model._default_manager.order_by("pk")
        if model is AuditEvent:
            rows = rows.exclude(action__startswith="accounts.login").exclude(action="accounts.logout")
        state[label] = list(rows.values_list(*fields))
    return state


# --- effects of allowed actions ------------------------------------------------------------------


@dataclass(frozen=True)
class Done:
    """What an allowed request left behind, for a case's effect check."""

    world: World
    person: str
    client: Client
    kwargs: dict[str, Any]
    before: dict[str, Any]
    after: dict[str, Any]


def _tender_created(done: Done) -> None:
    user = done.world.people[done.person]
    tender = Tender.objects.get(title=CREATED_TITLE)
    assert (tender.status, tender.agency_id, tender.created_by) == (
        TenderStatus.DRAFT, user.organisation_id, user,
    )


def _draft_edited(done: Done) -> None:
    assert Tender.objects.get(pk=done.kwargs["pk"]).title == EDITED_TITLE


def _draft_published(done: Done) -> None:
    assert Tender.objects.get(pk=done.kwargs["pk"]).status == TenderStatus.PUBLISHED


def _tender_cancelled(done: Done) -> None:
    tender = Tender.objects.get(pk=done.kwargs["pk"])
    assert (tender.status, tender.cancelled_reason) == (TenderStatus.CANCELLED, "项目取消")


def _lot_added(done: Done) -> None:
    assert Lot.objects.filter(tender_id=done.kwargs["pk"]).count() == 2


def _lot_edited(done: Done) -> None:
    assert Lot.objects.get(pk=done.kwargs["pk"]).name == EDITED_LOT_NAME


def _lot_deleted(done: Done) -> None:
    assert not Lot.objects.filter(pk=done.kwargs["pk"]).exists()


def _lot_cancelled(done: Done) -> None:
    assert Lot.objects.get(pk=done.kwargs["pk"]).status == LotStatus.CANCELLED


def _lot_failed(done: Done) -> None:
    assert Lot.objects.get(pk=done.kwargs["pk"]).status == LotStatus.FAILED


def _document_added(done: Done) -> None:
    assert TenderDocument.objects.filter(tender_id=done.kwargs["pk"]).count() == 2


def _amendment_published(done: Done) -> None:
    assert Amendment.objects.filter(tender_id=done.kwargs["pk"]).count() == 1


def _documents_obtained(done: Done) -> None:
    organisation = done.world.people[done.person].organisation
    assert DocumentObtain.objects.filter(tender_id=done.kwargs["pk"], organisation=organisation).count() == 1
    if done.person == "bob":
        # Obtained already: registering again is harmless and changes nothing.
        assert done.after == done.before
    else:
        assert len(done.after[OBTAINS]) == len(done.before[OBTAINS]) + 1
        assert len(done.after[AUDIT]) == len(done.before[AUDIT]) + 1


def _one_message_read(done: Done) -> None:
    read = Notification.objects.filter(read_at__isnull=False)
    assert list(read.values_list("pk", flat=True)) == [done.kwargs["pk"]]


def _own_messages_read(done: Done) -> None:
    read = Notification.objects.filter(read_at__isnull=False)
    assert list(read.values_list("recipient__username", flat=True)) == [done.person]


def _signed_out(done: Done) -> None:
    assert "_auth_user_id" not in done.client.session
    assert done.after == done.before


def _organisation_registered(done: Done) -> None:
    assert Organisation.objects.filter(name=ADMIN_ORG_NAME, kind=OrganisationKind.BIDDER).exists()


def _expert_registered(done: Done) -> None:
    assert Expert.objects.get(name=POOL_NEW_NAME).code == "ZJ000001"


def _experts_imported(done: Done) -> None:
    assert Expert.objects.get(code="ZJ900003").name == POOL_NEW_NAME


def _expert_edited(done: Done) -> None:
    assert Expert.objects.get(pk=done.kwargs["pk"]).name == POOL_EDITED_NAME


def _expert_suspended(done: Done) -> None:
    assert Expert.objects.get(pk=done.kwargs["pk"]).status == ExpertStatus.SUSPENDED


def _conflict_declared(done: Done) -> None:
    assert ExpertConflict.objects.filter(expert_id=done.kwargs["pk"]).count() == 2


def _conflict_removed(done: Done) -> None:
    assert not ExpertConflict.objects.filter(pk=done.kwargs["conflict_pk"]).exists()


def _day_off_added(done: Done) -> None:
    assert ExpertUnavailability.objects.filter(expert=done.world.pool["eve"]).count() == 2


def _day_off_removed(done: Done) -> None:
    assert not ExpertUnavailability.objects.filter(pk=done.kwargs["item_pk"]).exists()


def _contact_changed(done: Done) -> None:
    assert Expert.objects.get(pk=done.world.pool["eve"].pk).mobile == "13900001111"


def _draw_requested(done: Done) -> None:
    request = DrawRequest.objects.get(lot_id=done.kwargs["lot_id"])
    assert (request.status, request.requested_by) == (DrawStatus.PENDING, done.world.people[done.person])
    assert sorted(request.items.values_list("specialty__code", "members", "reserves")) == [
        (DRAW_SPECIALTY, 5, 1)
    ]


def _draw_approved(done: Done) -> None:
    request = DrawRequest.objects.get(pk=done.kwargs["pk"])
    assert request.status == DrawStatus.APPROVED and request.secret_commitment


def _draw_rejected(done: Done) -> None:
    request = DrawRequest.objects.get(pk=done.kwargs["pk"])
    assert (request.status, request.rejection_reason) == (DrawStatus.REJECTED, DRAW_REJECTION)


def _draw_run(done: Done) -> None:
    request = DrawRequest.objects.get(pk=done.kwargs["pk"])
    assert (request.status, request.supervisor_number) == (DrawStatus.NOTIFYING, DRAW_NUMBER)
    assert sorted(request.selections.values_list("status", flat=True)) == sorted(
        [SelectionStatus.NOTIFIED] * 5 + [SelectionStatus.RESERVE]
    )


def _draw_revealed(done: Done) -> None:
    assert DrawRequest.objects.get(pk=done.kwargs["pk"]).revealed_at is not None


def _confirmed_through(channel: str) -> Callable[[Done], None]:
    def effect(done: Done) -> None:
        selection = DrawSelection.objects.get(pk=done.world.member().pk)
        assert (selection.status, selection.response_channel) == (SelectionStatus.CONFIRMED, channel)

    return effect


def _key_registered(done: Done) -> None:
    keys = OrganisationKey.objects.filter(organisation=done.world.people[done.person].organisation)
    assert keys.get(status="active").encryption_fingerprint == rsa_fingerprint(_new_key_set()[0].public_key())
    # The key in use before is retired, never deleted: bids sealed to it must still open.
    assert keys.count() == (2 if done.person in done.world.keys else 1)


def _token_created(done: Done) -> None:
    created = ApiToken.objects.filter(name=CREATED_TOKEN_NAME)
    assert list(created.values_list("user__username", flat=True)) == [done.person]


def _token_revoked(done: Done) -> None:
    revoked = ApiToken.objects.filter(revoked_at__isnull=False)
    assert list(revoked.values_list("pk", flat=True)) == [done.kwargs["pk"]]


def _share_submitted(done: Done) -> None:
    submitted = Custodian.objects.filter(submitted_at__isnull=False)
    assert list(submitted.values_list("pk", flat=True)) == [done.world.custodian(done.person).pk]


def _bid_withdrawn(done: Done) -> None:
    bid = Bid.objects.get(pk=done.world.bid.pk)
    assert (bid.status, bid.withdrawn_by) == (BidStatus.WITHDRAWN, done.world.people[done.person])


def _upload_started(done: Done) -> None:
    started = Upload.objects.exclude(pk=done.world.upload.pk).filter(status=UploadStatus.OPEN)
    assert list(started.values_list("organisation", "size")) == [(done.world.orgs["bidder_a"].pk, UPLOAD_SIZE)]


def _upload_abandoned(done: Done) -> None:
    assert Upload.objects.get(pk=done.world.upload.pk).status == UploadStatus.DISCARDED


def _part_stored(done: Done) -> None:
    parts = UploadPart.objects.filter(upload=done.world.upload).order_by("index")
    assert list(parts.values_list("index", "sha256")) == [
        (index, sha(done.world.parts[index])) for index in (0, 1)
    ]
    assert Bid.objects.get(pk=done.world.bid.pk).status == BidStatus.CURRENT, "a part replaced the bid"


# --- what the pages must and must not show ------------------------------------------------------


def _shows(response: HttpResponse, text: str) -> bool:
    return text in response.content.decode()


def _portal_lists_published_not_drafts(world: World, person: str, response: HttpResponse) -> None:
    assert _shows(response, PUBLISHED_TITLE)
    assert _shows(response, AGNES_PUBLISHED_TITLE)
    _no_drafts(world, person, response)


def _tender_list_content(world: World, person: str, response: HttpResponse) -> None:
    assert _shows(response, DRAFT_TITLE) == (person in ("alice", "pat"))
    assert _shows(response, PUBLISHED_TITLE) == (person in MANAGERS)
    assert _shows(response, AGNES_DRAFT_TITLE) == (person in ("agnes", "pat"))
    # Agnes's tender is for another tenderer than terry's.
    assert _shows(response, AGNES_PUBLISHED_TITLE) == (person in ("agnes", "sam", "pat"))


def _drafts_only_for_their_agency(world: World, person: str, response: HttpResponse) -> None:
    """A draft is seen by its own agency's agents and the platform administrator, nobody else."""
    if person not in ("alice", "pat"):
        assert not _shows(response, DRAFT_TITLE)
    if person not in ("agnes", "pat"):
        assert not _shows(response, AGNES_DRAFT_TITLE)


def _published_shown(world: World, person: str, response: HttpResponse) -> None:
    assert _shows(response, PUBLISHED_TITLE)


def _no_drafts(world: World, person: str, response: HttpResponse) -> None:
    assert not _shows(response, DRAFT_TITLE)
    assert not _shows(response, AGNES_DRAFT_TITLE)


def _own_messages_only(world: World, person: str, response: HttpResponse) -> None:
    for name, notification in world.notifications.items():
        assert _shows(response, notification.title) == (name == person)


def _obtained_content(world: World, person: str, response: HttpResponse) -> None:
    assert _shows(response, PUBLISHED_TITLE) == (person == "bob")
    assert not _shows(response, AGNES_PUBLISHED_TITLE)


def _obtainers_listed(world: World, person: str, response: HttpResponse) -> None:
    assert _shows(response, world.orgs["bidder_a"].name)
    assert not _shows(response, world.orgs["bidder_b"].name)


def _confidential_link_only_for_platform(world: World, person: str, response: HttpResponse) -> None:
    link = f'href="{reverse("audit:event", args=[world.confidential_seq])}"'
    assert _shows(response, link) == (person == "pat")


def _sealed_links(world: World, person: str, response: HttpResponse) -> None:
    """Who obtained the documents: only the platform sees it before the deadline; who bid: nobody (EB 21, 27)."""
    _confidential_link_only_for_platform(world, person, response)
    assert not _shows(response, f'href="{reverse("audit:event", args=[world.bid_seq])}"')


def _pool_listed(world: World, person: str, response: HttpResponse) -> None:
    assert _shows(response, "沈立群") and _shows(response, "顾晓燕")


def _identity_number_shown(world: World, person: str, response: HttpResponse) -> None:
    assert _shows(response, POOL_ID_NUMBER)


def _own_record_masked(world: World, person: str, response: HttpResponse) -> None:
    assert _shows(response, "沈立群") and not _shows(response, "顾晓燕")
    assert _shows(response, id_number.mask(POOL_ID_NUMBER)) and not _shows(response, POOL_ID_NUMBER)


def _panel_secrets(world: World, person: str) -> tuple[str, ...]:
    """Who was drawn (members and the reserve): kept from everyone but supervisors until the reveal (ER 8)."""
    values: list[str] = []
    for selection in world.drawn.selections.select_related("expert"):
        values += [selection.expert.name, selection.expert.code, selection.expert.mobile]
    return tuple(values)


def _request_offered_to_the_lots_agent(world: World, person: str, response: HttpResponse) -> None:
    link = f'href="{reverse("experts:draw_request_create", args=[world.closed_lot.pk])}"'
    assert _shows(response, link) == (person == "alice")


def _counts_without_names(world: World, person: str, response: HttpResponse) -> None:
    """The agency and the tenderer follow the draw by numbers only."""
    counts = response.context["counts"]
    assert [(row.members, row.notified, row.confirmed) for row in counts] == [(5, 5, 0)]
    if person in ("alice", "terry"):
        for secret in _panel_secrets(world, person):
            assert not _shows(response, secret), f"{person} sees {secret} before the reveal"


def _confirmed_names(world: World) -> list[str]:
    confirmed = world.drawn.selections.filter(status=SelectionStatus.CONFIRMED).select_related("expert")
    return [selection.expert.name for selection in confirmed]


def _panel_published(world: World, person: str, response: HttpResponse) -> None:
    names = _confirmed_names(world)
    assert len(names) == 5 and all(_shows(response, name) for name in names)


def _panel_named_to_watchers(world: World, person: str, response: HttpResponse) -> None:
    names = [selection.expert.name for selection in world.drawn.selections.select_related("expert")]
    assert len(names) == DRAW_POOL_SIZE and all(_shows(response, name) for name in names)


def _pending_draw_listed(world: World, person: str, response: HttpResponse) -> None:
    assert _shows(response, f'href="{reverse("experts:draw_review", args=[world.pending_draw.pk])}"')


def _reveal_waits_for_award(world: World, person: str, response: HttpResponse) -> None:
    assert _shows(response, "中标结果确定后才能公布")


def _record_downloaded(world: World, person: str, response: HttpResponse) -> None:
    record = json.loads(response.content)
    assert (record["request_id"], record["seed"]) == (world.revealed_draw.pk, world.revealed_draw.seed)


def _own_invitation_only(world: World, person: str, response: HttpResponse) -> None:
    member = world.member()
    assert _shows(response, member.reply_code)
    assert _shows(response, expert_notifications.answer_link_token(member))
    for selection in world.drawn.selections.exclude(pk=member.pk).select_related("expert"):
        assert not _shows(response, selection.expert.name)
        assert not _shows(response, expert_notifications.answer_link_token(selection))


def _invitation_without_parties(world: World, person: str, response: HttpResponse) -> None:
    """The invitation (to whoever holds the link) names no party to the lot (ER 8, TR 46)."""
    assert _shows(response, world.member().expert.name) and _shows(response, 'value="confirm"')
    # The page's header names the signed-in person's own organisation.
    own = world.people[person].organisation.name if person != ANONYMOUS else None
    parties = [world.orgs[key].name for key in ("tenderer", "agency", "bidder_a")]
    for name in (PUBLISHED_TITLE, world.closed_lot.name, *parties):
        if name != own:
            assert not _shows(response, name), f"the invitation names {name}"


def _own_keys_only(world: World, person: str, response: HttpResponse) -> None:
    organisation = world.people[person].organisation_id
    for owner, keys in world.keys.items():
        shown = _shows(response, fingerprint_groups(keys.key.encryption_fingerprint))
        assert shown == (world.people[owner].organisation_id == organisation), owner


def _own_key_history(world: World, person: str, response: HttpResponse) -> None:
    body = json.loads(response.content)
    own = world.keys.get(person)
    assert body["organisation"] == world.people[person].organisation.credit_code
    assert [key["encryption_fingerprint"] for key in body["keys"]] == ([own.key.encryption_fingerprint] if own else [])


def _own_tokens_only(world: World, person: str, response: HttpResponse) -> None:
    for owner, token in world.tokens.items():
        assert _shows(response, token.name) == (owner == person), owner


def _secret_shown_once(world: World, person: str, response: HttpResponse) -> None:
    """The new token's secret is on the page that created it, and it is the token's."""
    found = re.findall(r"sbt_[A-Za-z0-9_-]{43}", response.content.decode())
    assert found and set(found) == {found[0]}
    assert ApiToken.objects.get(name=CREATED_TOKEN_NAME).token_hash == tokens.secret_hash(found[0])


def _opening_key_downloaded(world: World, person: str, response: HttpResponse) -> None:
    key = serialization.load_pem_public_key(response.content)
    assert rsa_fingerprint(key) == world.lot(world.published).opening_key.fingerprint


def _shares(world: World, person: str) -> tuple[str, ...]:
    """Every custodian's share of the published lot's opening key, encrypted and decrypted: never on a page."""
    values: list[str] = []
    for name in CUSTODIANS:
        values += [
            base64.b64encode(bytes(world.custodian(name).encrypted_share)).decode(),
            base64.b64encode(world.share(name)).decode(),
        ]
    return tuple(values)


def _custody_without_shares(world: World, person: str, response: HttpResponse) -> None:
    opening_key = world.lot(world.published).opening_key
    assert _shows(response, world.people[person].organisation.name)
    assert _shows(response, fingerprint_groups(opening_key.fingerprint))
    for secret in _shares(world, person):
        assert not _shows(response, secret), "a share is on the custody page"


def _share_withheld(world: World, person: str, response: HttpResponse) -> None:
    """Before the opening time a share is of no use: the API does not hand it out, not even to its keeper."""
    body = json.loads(response.content)
    assert (body["organisation"], body["encrypted_share"]) == (world.people[person].organisation.credit_code, None)


def _own_share_handed_out(world: World, person: str, response: HttpResponse) -> None:
    body = json.loads(response.content)
    assert body["encrypted_share"] == base64.b64encode(bytes(world.custodian(person).encrypted_share)).decode()


def _bid_secrets(world: World, person: str) -> tuple[str, ...]:
    """What tells that bob's organisation has bid: its receipt number and the ciphertext's hash (EB 27)."""
    return (world.bid.receipt_no, world.bid.sha256)


def _no_bid_shown(world: World, person: str, response: HttpResponse) -> None:
    for secret in _bid_secrets(world, person):
        assert not _shows(response, secret), f"{person} sees that bob's organisation has bid"


def _own_lots_listed(world: World, person: str, response: HttpResponse) -> None:
    assert _shows(response, world.published.code) == (person == "bob")
    assert not _shows(response, world.agnes_published.code)
    assert not _shows(response, world.draft.code)


def _own_bid_shown(world: World, person: str, response: HttpResponse) -> None:
    assert _shows(response, world.bid.receipt_no) and _shows(response, world.bid.sha256)


def _bids_received(world: World, person: str, response: HttpResponse) -> None:
    """After the deadline of the tender's only lot: how many bids, and from whom."""
    assert response.context["result"].count == 1
    assert _shows(response, world.orgs["bidder_a"].name) and _shows(response, world.bid.sha256)


def _sealing_page(world: World, person: str, response: HttpResponse) -> None:
    assert _shows(response, reverse("bidding_api:lot", args=[world.lot(world.published).pk]))


def _lot_for_sealing(world: World, person: str, response: HttpResponse) -> None:
    body = json.loads(response.content)
    assert body["bidder"] == world.orgs["bidder_a"].credit_code
    assert body["opening_key"]["fingerprint"] == world.lot(world.published).opening_key.fingerprint
    assert body["your_key"]["encryption_fingerprint"] == world.keys["bob"].key.encryption_fingerprint


def _own_bid_json(world: World, person: str, response: HttpResponse) -> None:
    body = json.loads(response.content)
    assert body["bid"]["bid"] == str(world.bid.pk)
    assert [upload["upload"] for upload in body["uploads"]] == [str(world.upload.pk)]


def _upload_progress(world: World, person: str, response: HttpResponse) -> None:
    body = json.loads(response.content)
    assert (body["upload"], body["received"]) == (str(world.upload.pk), len(world.parts[0]))
    assert [part["sha256"] for part in body["parts"]] == [sha(world.parts[0])]


def _receipt_issued(world: World, person: str, response: HttpResponse) -> None:
    receipt = json.loads(response.content)
    assert (receipt["bid"], receipt["receipt_no"]) == (str(world.bid.pk), world.bid.receipt_no)
    receipts.receipt_verify(receipt, receipts.receipt_key().public_pem)


def _receipt_pdf(world: World, person: str, response: HttpResponse) -> None:
    assert response["Content-Type"] == "application/pdf" and response.content.startswith(b"%PDF")


def _receipt_key_published(world: World, person: str, response: HttpResponse) -> None:
    assert json.loads(response.content)["fingerprint"] == receipts.receipt_key().fingerprint


# --- the matrix ------------------------------------------------------------------------------------


def _pk(getter: Callable[[World], Any]) -> Callable[[World], dict[str, Any]]:
    return lambda world: {"pk": getter(world).pk}


def _tender_post(world: World, title: str) -> dict[str, str]:
    data = vars(tender_input(world.orgs, title=title)).copy()
    data["tenderer"] = data.pop("tenderer_id")
    return {name: str(value) for name, value in data.items()}


def _lot_post(world: World) -> dict[str, str]:
    data = lot_input(name=EDITED_LOT_NAME)
    return {
        name: timezone.localtime(value).strftime("%Y-%m-%dT%H:%M") if isinstance(value, dt.datetime) else str(value)
        for name, value in vars(data).items()
    }


POOL_ID_NUMBER = id_number.make("33010619720315241")
POOL_OTHER_ID_NUMBER = id_number.make("32050819850706162")
POOL_NEW_ID_NUMBER = id_number.make("34010319680922053")
POOL_NEW_NAME = "壬新登记的专家"
POOL_EDITED_NAME = "癸修改后的专家"
POOL_VIEWERS = ("sam", "pat")


def _pool_input(**overrides: Any) -> expert_pool.ExpertInput:
    values: dict[str, Any] = {
        "code": "ZJ900001", "name": "沈立群", "id_number": POOL_ID_NUMBER, "mobile": "13857100001",
        "title": "senior", "region": "330000", "specialty_codes": ("A0101",),
    }
    values.update(overrides)
    return expert_pool.ExpertInput(**values)


def _pool_world(world: World) -> dict[str, Any]:
    assert world.pool
    return {}


def _expert_post(world: World, name: str, number: str) -> dict[str, Any]:
    return {
        "code": "", "name": name, "id_number": number, "mobile": "13813800004", "email": "",
        "employer_name": "", "employer_credit_code": "", "title": "senior_full", "region": "320000",
        "specialties": ["A0201"],
    }


def _pool_import_post(world: World) -> dict[str, Any]:
    content = (
        "专家编号,姓名,身份证号码,手机号,职称,所在地区,专业代码\r\n"
        f"ZJ900003,{POOL_NEW_NAME},{POOL_NEW_ID_NUMBER},15955100003,中级,安徽省,C0502\r\n"
    ).encode("utf-8-sig")
    return {"file": SimpleUploadedFile("专家名单.csv", content, "text/csv")}


def _pool_secrets(world: World, person: str) -> tuple[str, ...]:
    return (POOL_ID_NUMBER, "沈立群")


EXPERT = _pk(lambda w: w.pool["eve"])
OTHER_EXPERT = _pk(lambda w: w.pool["other"])

DRAW_SPECIALTY = "A0101"
DRAW_POOL_SIZE = 6  # five members and one reserve: every eligible expert is picked
DRAW_NUMBER = "271828"
DRAW_REJECTION = "专业设置不当"
DRAW_WATCHERS = ("sam", "pat")
GATEWAY_SECRET = "matrix-gateway-inbound-secret"


def _draw_input(lot: Lot) -> draws.DrawRequestInput:
    return draws.DrawRequestInput(
        items=[draws.DrawItemInput(specialty_id=specialty(DRAW_SPECIALTY).pk, members=5, reserves=1)],
        evaluation_start=lot.opening_time + dt.timedelta(days=1),
        evaluation_place="市公共资源交易中心第3评标室",
    )


def _draw_request_post(world: World) -> dict[str, str]:
    # The opening time is the published lot's whether or not its bidding has closed: read it without
    # building the closed lot, which must not happen while the request is being fingerprinted.
    start = timezone.localtime(world.lot(world.published).opening_time + dt.timedelta(days=1))
    return {
        "evaluation_start": start.strftime("%Y-%m-%dT%H:%M"),
        "evaluation_place": "市公共资源交易中心第3评标室",
        "locality": "any",
        "tenderer_representatives": "0",
        "response_minutes": "30",
        "items-TOTAL_FORMS": "1",
        "items-INITIAL_FORMS": "0",
        "items-MIN_NUM_FORMS": "0",
        "items-MAX_NUM_FORMS": "10",
        "items-0-specialty": str(specialty(DRAW_SPECIALTY).pk),
        "items-0-members": "5",
        "items-0-reserves": "1",
    }


def _lot_id(getter: Callable[[World], Lot]) -> Callable[[World], dict[str, Any]]:
    return lambda world: {"lot_id": getter(world).pk}


def _pending_world(world: World) -> dict[str, Any]:
    assert world.pending_draw
    return {}


def _drawn_world(world: World) -> dict[str, Any]:
    assert world.drawn
    return {}


def _link(getter: Callable[[World], DrawSelection]) -> Callable[[World], dict[str, Any]]:
    return lambda world: {"token": expert_notifications.answer_link_token(getter(world))}


def _forged_link(world: World) -> dict[str, Any]:
    value, signature = expert_notifications.answer_link_token(world.member()).rsplit(":", 1)
    return {"token": f"{value}:{'A' * len(signature)}"}


@dataclass(frozen=True)
class RawBody:
    """A request body sent as it is, with its headers: for webhooks that read ``request.body``."""

    content: bytes
    headers: dict[str, str]
    content_type: str = "application/json"


def _gateway_reply(secret: str) -> Callable[[World, str], RawBody]:
    """Eve's SMS reply confirming her invitation, as the gateway posts it, signed with ``secret``."""

    def body(world: World, person: str) -> RawBody:
        member = world.member()
        content = json.dumps({"from": member.expert.mobile, "text": f"1 {member.reply_code}"}).encode()
        return RawBody(content, {gateway.SIGNATURE_HEADER: gateway.inbound_signature(content, secret=secret)})

    return body


def _wrapped_key_for_bob(world: World, person: str, response: HttpResponse) -> None:
    body = response.json()
    assert body["bid"] == str(world.bid.pk)
    assert body["bidder_fingerprint"] == world.bid.bidder_fingerprint


def _bob_file_key(world: World, person: str) -> RawBody:
    """Bob's bid's file key, unwrapped as his browser would; any other sender sends the same bytes."""
    key = bidding.file_key_from_private_key(
        bid=world.bid, role="bidder", private_key=world.keys["bob"].encryption_private
    )
    return RawBody(json.dumps({"file_key": base64.b64encode(key).decode()}).encode(), {})


def _bob_bid_decrypted(done: Done) -> None:
    done.world.bid.refresh_from_db()
    assert done.world.bid.decryption_status == "decrypted"


def _json(data: dict[str, Any]) -> Callable[[World, str], RawBody]:
    return lambda world, person: RawBody(json.dumps(data).encode(), {})


@functools.cache
def _new_key_set() -> tuple[Any, ec.EllipticCurvePrivateKey]:
    """A key set registered by nobody yet: every test registering it is rolled back."""
    return POOL.next_key(), ec.generate_private_key(ec.SECP256R1())


def _spki_b64(public_key: Any) -> str:
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(der).decode()


def _key_registration(world: World, person: str) -> RawBody:
    """The two public keys of a new key set, as the key page posts them after generating it in the browser."""
    encryption, signing = _new_key_set()
    data = {"encryption_public": _spki_b64(encryption.public_key()), "signing_public": _spki_b64(signing.public_key())}
    return RawBody(json.dumps(data).encode(), {})


def _share_submission(world: World, person: str) -> RawBody:
    """The person's organisation's share, decrypted; anyone else sends sam's (a real share, not theirs to use)."""
    share = world.share(person if person in CUSTODIANS else "sam")
    return RawBody(json.dumps({"share": base64.b64encode(share).decode()}).encode(), {})


def _next_part(world: World, person: str) -> RawBody:
    """The second part of bob's replacement bid, with its checksum."""
    part = world.parts[1]
    return RawBody(part, {"X-Part-SHA256": sha(part)}, content_type="application/octet-stream")


def _upload_id(getter: Callable[[World], Upload], **extra: Any) -> Callable[[World], dict[str, Any]]:
    return lambda world: {"upload_id": getter(world).pk, **extra}


def _bid_id(getter: Callable[[World], Bid]) -> Callable[[World], dict[str, Any]]:
    return lambda world: {"bid_id": getter(world).pk}


UPLOAD_SIZE = 20_000
BOB_UPLOAD = _upload_id(lambda w: w.upload)
CAROL_UPLOAD = _upload_id(lambda w: w.carol_bidding["upload"])
BOB_NEXT_PART = _upload_id(lambda w: w.upload, index=1)
CAROL_FIRST_PART = _upload_id(lambda w: w.carol_bidding["upload"], index=0)
BOB_BID = _bid_id(lambda w: w.bid)
CAROL_BID = _bid_id(lambda w: w.carol_bidding["bid"])
LOT = _lot_id(lambda w: w.lot(w.published))
DRAFT_LOT_ID = _lot_id(lambda w: w.lot(w.draft))
AGNES_LOT = _lot_id(lambda w: w.lot(w.agnes_published))
# The lot of agnes's published tender: custody of another agency and tenderer, documents bob never obtained.
CUSTODIANS_ELSEWHERE = {"alice": AGNES_LOT, "terry": AGNES_LOT}
BOB_ELSEWHERE = {"bob": AGNES_LOT}
DRAW_LOT = _lot_id(lambda w: w.closed_lot)
ROOM_LOT = DRAW_LOT
ROOM_BOB_BID = lambda w: {"lot_id": w.lot(w.published).pk, "bid_id": str(w.bid.pk)}  # noqa: E731
# Who takes part in the room of alice's published lot: the host, the only bidder, the supervisor,
# the tenderer's representative and the platform's administrator as observer.
ROOM_PARTICIPANTS = ("alice", "bob", "sam", "terry", "pat")
NOT_IN_ROOM = tuple(p for p in SIGNED_IN if p not in ROOM_PARTICIPANTS)
# Another lot's room, where bob has no bid and alice's agency does not host.
ROOM_ELSEWHERE = {"bob": AGNES_LOT, "alice": AGNES_LOT}
AGNES_DRAW_LOT = AGNES_LOT
PENDING_DRAW = _pk(lambda w: w.pending_draw)
APPROVED_DRAW = _pk(lambda w: w.approved_draw)
DRAWN = _pk(lambda w: w.drawn)
FULL_PANEL = _pk(lambda w: w.full_panel)
AWARDED_DRAW = _pk(lambda w: w.awarded_draw)
REVEALED_DRAW = _pk(lambda w: w.revealed_draw)
AGNES_DRAW = _pk(lambda w: w.agnes_pending_draw)
MEMBER_LINK = _link(lambda w: w.member())
RESERVE_LINK = _link(lambda w: w.reserve())


def _admin_org_post(world: World) -> dict[str, str]:
    return {
        "name": ADMIN_ORG_NAME,
        # The serial after the world's organisations' (``World.__init__`` numbers them from 1).
        "credit_code": make_code(f"91330100MA{len(ORGANISATIONS) + 1:07d}"),
        "kind": OrganisationKind.BIDDER,
        "region": "",
        "address": "",
        "contact_name": "",
        "contact_phone": "",
        "is_active": "on",
        "_save": "1",
    }


DRAFT = _pk(lambda w: w.draft)
PUBLISHED = _pk(lambda w: w.published)
DRAFT_LOT = _pk(lambda w: w.lot(w.draft))
PUBLISHED_LOT = _pk(lambda w: w.lot(w.published))
CLOSED_LOT = _pk(lambda w: w.closed_lot)
AGNES_DRAFT = _pk(lambda w: w.agnes_draft)
AGNES_PUBLISHED = _pk(lambda w: w.agnes_published)
AGNES_DRAFT_LOT = _pk(lambda w: w.lot(w.agnes_draft))
AGNES_PUBLISHED_LOT = _pk(lambda w: w.lot(w.agnes_published))


@dataclass(frozen=True)
class Case:
    name: str  # the URL name; for Django's admin, a label (its URLs are not in the coverage check)
    variant: str
    method: str
    expected: Mapping[str, Outcome]
    kwargs: Callable[[World], dict[str, Any]] = lambda world: {}
    path: Callable[[World], str] | None = None  # for the admin, instead of reversing ``name``
    data: Callable[[World], dict[str, Any]] | None = None
    # For a POST or a PUT, sent as it is instead of form ``data``; it may depend on who sends it.
    body: Callable[[World, str], RawBody] | None = None
    effect: Callable[[Done], None] | None = None  # what an allowed POST, PUT or DELETE changed; None: nothing
    audited: bool = False  # an allowed POST, PUT or DELETE adds an audit record
    content: Callable[[World, str, HttpResponse], None] | None = None  # checked on allowed responses
    # Never in the body of a refusal to that person.
    secrets: Callable[[World, str], tuple[str, ...]] = lambda world, person: ()
    # Per person allowed on the case's own object: the id of someone else's object, which must be a 404.
    foreign: Mapping[str, Callable[[World], dict[str, Any]]] = field(default_factory=dict)
    after_deadline: bool = False  # requested once bidding has closed for alice's published tender
    follow: bool = False
    # Per person: a permission bug found in the view, expected to fail (strictly) until it is fixed.
    bugs: Mapping[str, str] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return f"{self.name}[{self.variant}]-{self.method}"

    @property
    def has_object(self) -> bool:
        return self.path is None and "<" in _route_of(self.name)


def _secret_title(title: str) -> Callable[[World, str], tuple[str, ...]]:
    return lambda world, person: (title,)


def _who_obtained(world: World, person: str) -> tuple[str, ...]:
    """Bob's organisation, the one that obtained the documents (bob sees his own name on every page)."""
    return () if person == "bob" else (world.orgs["bidder_a"].name,)


ALICE_DRAFT_ELSEWHERE = {"alice": AGNES_DRAFT}
ALICE_PUBLISHED_ELSEWHERE = {"alice": AGNES_PUBLISHED}
MANAGERS_ELSEWHERE = {"alice": AGNES_PUBLISHED, "terry": AGNES_PUBLISHED}
MANAGERS_ELSEWHERE_LOT = {"alice": AGNES_LOT, "terry": AGNES_LOT}


# --- bid security (投标保证金): the world of its rows (the "bid security" block of CASES) -------------

SECURITY_SERIAL = "MATRIX-SECURITY-0001"
SECURITY_ACCOUNT = "6222020200011111"
SECURITY_IMPORTED_ACCOUNT = "6222020200099999"
SECURITY_BANK_REFERENCE = "MATRIX-REFUND-0001"


def _security_reference(world: World, person: str = "bob", lot: Lot | None = None) -> str:
    lot = lot or world.lot(world.published)
    return bid_security.security_reference(lot_id=lot.pk, organisation_id=world.people[person].organisation_id)


def _security_pay(world: World, person: str = "bob", lot: Lot | None = None) -> SecurityPayment:
    """The person's organisation's whole security on the lot (alice's published one by default), recorded by fay."""
    lot = lot or world.lot(world.published)
    return bid_security.payment_record(
        actor=world.people["fay"],
        data=bid_security.PaymentInput(
            reference=_security_reference(world, person, lot), amount=lot.bid_security,
            paid_on=timezone.localdate(), payer_name=world.people[person].organisation.name,
            payer_account=SECURITY_ACCOUNT, payer_bank="中国工商银行杭州分行",
            bank_serial=f"{SECURITY_SERIAL}-{person}-{lot.pk}",
        ),
    )


def _security_due(world: World) -> SecurityPayment:
    """Bob paid, then alice cancelled the lot: his security is due back (within 5 days)."""
    payment = _security_pay(world)
    tendering.lot_cancel(actor=world.people["alice"], lot=world.lot(world.published), reason="项目取消")
    return payment


def _security_due_world(world: World) -> dict[str, Any]:
    _security_due(world)
    return {}


def _security_batch(world: World) -> RefundBatch:
    return bid_security.refund_batch_create(actor=world.people["fay"], payment_ids=[_security_due(world).pk])


def _security_revoked(world: World) -> BidSecurity:
    """Bob paid; his bid was revoked at the opening of the closed lot through his own fault (EB 31)."""
    payment = _security_pay(world, lot=world.closed_lot)
    RoomBid.objects.filter(bid=world.bid).update(outcome=BidOutcome.REVOKED, cause="bidder_fault")
    return payment.security


def _security_elsewhere(world: World) -> dict[str, Any]:
    """Carol's security on agnes's lot, another agency's; written directly, as that lot has closed by now too."""
    lot = world.lot(world.agnes_published)
    security = BidSecurity.objects.create(
        lot=lot, organisation=world.orgs["bidder_b"], reference=_security_reference(world, "carol", lot),
        amount_due=lot.bid_security, created_at=timezone.now(),
    )
    return {"pk": security.pk}


def _security_awarded_lot(world: World) -> dict[str, Any]:
    lot = world.closed_lot
    award(world.people, world.orgs, lot)
    return {"lot_id": lot.pk}


def _security_payment_post(world: World) -> dict[str, str]:
    return {
        "reference": _security_reference(world), "amount": "200000.00", "paid_on": str(timezone.localdate()),
        "payer_name": world.orgs["bidder_a"].name, "payer_account": SECURITY_ACCOUNT, "payer_bank": "工行",
        "bank_serial": SECURITY_SERIAL,
    }


def _security_statement_post(world: World) -> dict[str, Any]:
    content = (
        "交易日期,付款人户名,付款人账号,付款人开户行,金额,摘要/附言\r\n"
        f"{timezone.localdate()},{world.orgs['bidder_a'].name},{SECURITY_IMPORTED_ACCOUNT},工行,200000.00,"
        f"{_security_reference(world)}\r\n"
    ).encode("utf-8-sig")
    return {"file": SimpleUploadedFile("交易明细.csv", content, "text/csv")}


def _security_paid_post(world: World) -> dict[str, str]:
    return {"paid_on": str(timezone.localdate()), "bank_reference": SECURITY_BANK_REFERENCE}


def _security_payment_recorded(account: str) -> Callable[[Done], None]:
    def effect(done: Done) -> None:
        payment = SecurityPayment.objects.get(payer_account=account)
        assert (payment.security.organisation, payment.amount) == (done.world.orgs["bidder_a"], Decimal("200000.00"))

    return effect


def _security_batched(done: Done) -> None:
    batch = RefundBatch.objects.get()
    assert (batch.count, batch.total, batch.created_by) == (1, Decimal("200000.00"), done.world.people["fay"])


def _security_refunds(status: str) -> Callable[[Done], None]:
    def effect(done: Done) -> None:
        assert list(SecurityRefund.objects.values_list("status", flat=True)) == [status]

    return effect


def _security_contract_recorded(done: Done) -> None:
    assert LotContract.objects.get(lot_id=done.kwargs["lot_id"]).signed_on == timezone.localdate()


def _security_forfeited(done: Done) -> None:
    assert BidSecurity.objects.get(pk=done.kwargs["pk"]).forfeit_reason == "投标人自身原因未能解密"


def _security_due_listed(world: World, person: str, response: HttpResponse) -> None:
    assert _shows(response, _security_reference(world)) and response.context["queue"].due == 1


def _security_of_the_lot(world: World, person: str, response: HttpResponse) -> None:
    assert _shows(response, _security_reference(world))
    # The paying account is for finance: the agent sees the state, not the bank details.
    assert _shows(response, SECURITY_ACCOUNT) == (person == "fay")


def _security_batch_shown(world: World, person: str, response: HttpResponse) -> None:
    assert response.context["summary"]["count"] == 1 and _shows(response, response.context["batch"].number)


def _security_batch_file(world: World, person: str, response: HttpResponse) -> None:
    lines = response.content.decode("utf-8-sig").splitlines()
    assert lines[0] == "收款人户名,收款人账号,收款人开户行,金额,用途" and SECURITY_ACCOUNT in lines[1]


def _security_secrets(world: World, person: str) -> tuple[str, ...]:
    """Who paid, and from which account: never in a refusal."""
    return (SECURITY_ACCOUNT,)


SECURITY_DUE_PAYMENT = _pk(_security_due)
SECURITY_BATCH = _pk(_security_batch)
SECURITY_REVOKED = _pk(_security_revoked)
SECURITY_FINANCE = ("fay",)
# Those who read a lot's securities once bidding has closed: finance, and the agent of the lot's agency.
SECURITY_READERS = ("alice", "fay")


# --- savings reports (节约率报表): what their rows check (the "savings reports" block of CASES) ------

# Finance staff and the platform administrator see every agency's lots; agents their own agency's.
SAVINGS_VIEWERS = ("alice", "agnes", "fay", "pat")


def _savings_query(world: World) -> dict[str, str]:
    return {"period": "year", "year": str(timezone.localdate().year), "by": "category"}


def _savings_scope_shown(world: World, person: str, response: HttpResponse) -> None:
    """Each viewer is told whose lots the figures cover: every agency's, or their own agency's only."""
    if person in ("fay", "pat"):
        assert _shows(response, "全部代理机构")
    else:
        assert _shows(response, f"本机构（{world.people[person].organisation.name}）")


def _savings_file(signature: bytes) -> Callable[[World, str, HttpResponse], None]:
    def check(world: World, person: str, response: HttpResponse) -> None:
        assert response["Content-Disposition"].startswith("attachment;")
        assert response.content.startswith(signature)

    return check


# --- remote evaluation (远程异地评标): the world of its rows (the "evaluation" block of CASES) ----------
# Built on the closed lot's complete panel (eve and four other experts confirmed): the opening room run
# to its close, accounts for the four, then each stage of the evaluation from the one before, through the
# services. Kept on the test's own copy of the world (``world.__dict__``), rolled back with it.

EVALUATION_MEMBERS = ("eve",)  # the only named person on the committee
EVALUATION_SCHEME_MAX = "15.00"  # the default scheme's first item


def _evaluation_stage(name: str) -> Callable[[Callable[[World], Any]], Callable[[World], Any]]:
    def decorate(build: Callable[[World], Any]) -> Callable[[World], Any]:
        @functools.wraps(build)
        def cached(world: World) -> Any:
            key = f"_evaluation_{name}"
            if key not in world.__dict__:
                world.__dict__[key] = build(world)
            return world.__dict__[key]

        return cached

    return decorate


@_evaluation_stage("ready")
def _evaluation_ready(world: World) -> Lot:
    """The closed lot opened (bob's bid decrypted, read, confirmed; the room closed) and its panel complete."""
    from cryptography.hazmat.primitives import hashes

    from opening import room_services

    panel = world.full_panel
    lot = Lot.objects.get(pk=panel.lot_id)
    bob = world.people["bob"]
    with time_machine.travel(lot.opening_time + dt.timedelta(minutes=2), tick=False):
        key = bidding.file_key_from_private_key(bid=world.bid, role="bidder", private_key=world.keys["bob"].encryption_private)
        room_services.room_decrypt(actor=bob, lot=lot, file_key=key)
        room_services.room_read_next(actor=world.people["alice"], lot=lot)
        room = lot.room
        room.refresh_from_db()
        message = room_services.confirmation_text(
            lot_id=lot.pk, digest=room.reading_digest, credit_code=bob.organisation.credit_code
        )
        signature = world.keys["bob"].signing_private.sign(message, ec.ECDSA(hashes.SHA256()))
        room_services.room_confirm(actor=bob, lot=lot, signature=base64.b64encode(signature).decode())
        room_services.room_close(actor=world.people["alice"], lot=lot)
    for n, selection in enumerate(panel.selections.filter(status=SelectionStatus.CONFIRMED).select_related("expert")):
        if selection.expert.user_id is None:
            account = user_create(
                actor=None, organisation=world.orgs["platform"], username=f"matrix-expert-{n}", password=None,
                roles=[Role.EXPERT],
            )
            Expert.objects.filter(pk=selection.expert_id).update(user=account)
    lot.refresh_from_db()
    return lot


@_evaluation_stage("started")
def _evaluation_started(world: World) -> Any:
    """Alice started the evaluation: five seats, nobody signed in."""
    from evaluation import services as evaluation

    lot = _evaluation_ready(world)
    with time_machine.travel(lot.opening_time + dt.timedelta(minutes=3), tick=False):
        return evaluation.evaluation_start(actor=world.people["alice"], lot=lot)


def _evaluation_users(world: World) -> dict[int, Any]:
    from evaluation.models import Member

    evaluation = _evaluation_started(world)
    return {member.seat: member.user for member in Member.objects.filter(evaluation=evaluation).select_related("user")}


def _evaluation_eve_seat(world: World) -> int:
    return next(seat for seat, user in _evaluation_users(world).items() if user == world.people["eve"])


@_evaluation_stage("signed_in")
def _evaluation_signed_in(world: World) -> Any:
    from evaluation import services as evaluation

    lot = _evaluation_ready(world)
    _evaluation_started(world)
    for user in _evaluation_users(world).values():
        evaluation.member_sign_in(actor=user, lot=lot, no_conflict=True)
    return lot


@_evaluation_stage("elected")
def _evaluation_elected(world: World) -> Any:
    """Everyone signed in and voted for eve: she chairs the committee, scoring is open."""
    from evaluation import services as evaluation
    from evaluation.selectors import evaluation_of

    lot = _evaluation_signed_in(world)
    for user in _evaluation_users(world).values():
        evaluation.chair_vote(actor=user, lot=lot, candidate_seat=_evaluation_eve_seat(world))
        if evaluation_of(lot).chair_id is not None:
            break
    return lot


def _evaluation_full_sheet(world: World) -> Any:
    from evaluation import services as evaluation
    from evaluation.models import Evaluation

    items = Evaluation.objects.get(lot=_evaluation_ready(world)).scheme()["items"]
    return evaluation.SheetInput(
        scores={(str(world.bid.pk), item["id"]): Decimal(item["max"]) for item in items}, adjustments={}
    )


@_evaluation_stage("reviewing")
def _evaluation_reviewing(world: World) -> Any:
    """Every member submitted: the summary is open."""
    from evaluation import services as evaluation

    lot = _evaluation_elected(world)
    for user in _evaluation_users(world).values():
        evaluation.scores_save(actor=user, lot=lot, sheet=_evaluation_full_sheet(world), submit=True)
    return lot


@functools.cache
def _evaluation_key(seat: int) -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _evaluation_spki(private: ec.EllipticCurvePrivateKey) -> bytes:
    return private.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


@_evaluation_stage("signing")
def _evaluation_signing(world: World) -> Any:
    """Eve drafted the report; every member has registered a signing key."""
    from evaluation import services as evaluation

    lot = _evaluation_reviewing(world)
    report = evaluation.report_draft(actor=world.people["eve"], lot=lot)
    for seat, user in _evaluation_users(world).items():
        evaluation.signing_key_register(actor=user, public_key=_evaluation_spki(_evaluation_key(seat)))
    return report


def _evaluation_signature(world: World, seat: int, report: Any) -> str:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric.utils import (
        decode_dss_signature,
        encode_dss_signature,
    )

    from evaluation.report import P256_ORDER, signature_message

    message = signature_message(lot_id=report.evaluation.lot_id, report_sha256=report.sha256, seat=seat)
    r, s = decode_dss_signature(_evaluation_key(seat).sign(message, ec.ECDSA(hashes.SHA256())))
    return base64.b64encode(encode_dss_signature(r, min(s, P256_ORDER - s))).decode()


@_evaluation_stage("final")
def _evaluation_final(world: World) -> Any:
    """Every member signed: the report is final."""
    from evaluation import services as evaluation

    report = _evaluation_signing(world)
    for seat, user in _evaluation_users(world).items():
        evaluation.report_sign(
            actor=user, lot=report.evaluation.lot, report_sha256=report.sha256,
            signature=_evaluation_signature(world, seat, report),
        )
    return report


def _evaluation_lot(stage: Callable[[World], Any]) -> Callable[[World], dict[str, Any]]:
    def kwargs(world: World) -> dict[str, Any]:
        stage(world)
        return {"lot_id": _evaluation_ready(world).pk}

    return kwargs


def _evaluation_bid(
    stage: Callable[[World], Any], *, foreign: bool = False, **extra: Any
) -> Callable[[World], dict[str, Any]]:
    def kwargs(world: World) -> dict[str, Any]:
        if foreign:
            # Carol's bid on agnes's lot, made while that lot still takes bids (the stage closes bidding).
            assert world.carol_bidding
        stage(world)
        return {"lot_id": _evaluation_ready(world).pk, "bid_id": world.bid.pk, **extra}

    return kwargs


def _evaluation_carol_bid(world: World) -> dict[str, Any]:
    """Carol's bid on agnes's lot, asked for under the evaluated lot: not one of its bids."""
    return {"lot_id": _evaluation_ready(world).pk, "bid_id": world.carol_bidding["bid"].pk}


def _evaluation_names(world: World, person: str) -> tuple[str, ...]:
    """The committee's names (ER 8): never in a refusal."""
    names = Expert.objects.filter(
        selections__request=world.full_panel, selections__status=SelectionStatus.CONFIRMED
    ).values_list("name", flat=True)
    return tuple(names)


def _evaluation_names_only_for_watchers(world: World, person: str, response: HttpResponse) -> None:
    names = _evaluation_names(world, person)
    assert len(names) == 5
    for name in names:
        assert _shows(response, name) == (person in ("sam", "pat")), (person, name)


def _evaluation_bids_shown(world: World, person: str, response: HttpResponse) -> None:
    assert _shows(response, world.orgs["bidder_a"].name) and _shows(response, "10,850,000.00")


def _evaluation_file(world: World, person: str, response: HttpResponse) -> None:
    assert b"".join(response.streaming_content).startswith(b"%PDF-1.7 business part")


def _evaluation_report_shown(world: World, person: str, response: HttpResponse) -> None:
    assert _shows(response, world.orgs["bidder_a"].name) and _shows(response, "推荐的中标候选人")
    for name in _evaluation_names(world, person):
        assert not _shows(response, name)


def _evaluation_report_json(world: World, person: str, response: HttpResponse) -> None:
    import hashlib

    assert hashlib.sha256(response.content).hexdigest() == _evaluation_signing(world).sha256


def _evaluation_scheme_post(world: World) -> dict[str, str]:
    from evaluation.services import default_scheme_input

    data = default_scheme_input()
    post = {
        "benchmark_method": "lowest", "drop_extremes": "", "drop_extremes_min_bids": "5",
        "price_points": str(data.price_points), "deduct_above": "2.00", "deduct_below": "0.50", "candidates": "3",
        "duration_minutes": "600", "extension_minutes": "120", "items-TOTAL_FORMS": str(len(data.items)),
        "items-INITIAL_FORMS": str(len(data.items)), "items-MIN_NUM_FORMS": "0", "items-MAX_NUM_FORMS": "30",
    }
    for n, item in enumerate(data.items):
        post.update({
            f"items-{n}-kind": item.kind, f"items-{n}-name": item.name, f"items-{n}-description": item.description,
            f"items-{n}-min_score": str(item.min_score), f"items-{n}-max_score": str(item.max_score),
        })
    return post


def _evaluation_scheme_saved(done: Done) -> None:
    from evaluation.models import EvaluationScheme

    scheme = EvaluationScheme.objects.get(lot_id=done.kwargs["lot_id"])
    assert (scheme.benchmark_method, scheme.deduct_above, scheme.duration_minutes) == ("lowest", Decimal("2.00"), 600)


def _evaluation_was_started(done: Done) -> None:
    from evaluation.models import Evaluation

    evaluation = Evaluation.objects.get(lot_id=done.kwargs["lot_id"])
    assert (evaluation.members.count(), evaluation.lot.status) == (5, LotStatus.EVALUATING)


def _evaluation_member(done: Done) -> Any:
    from evaluation.models import Member

    return Member.objects.get(evaluation__lot_id=done.kwargs["lot_id"], user=done.world.people["eve"])


def _evaluation_eve_signed_in(done: Done) -> None:
    assert _evaluation_member(done).signed_in_at is not None


def _evaluation_eve_voted(done: Done) -> None:
    from evaluation.models import ChairVote

    assert ChairVote.objects.filter(voter=_evaluation_member(done)).count() == 1


def _evaluation_eve_asked_for_time(done: Done) -> None:
    from evaluation.models import ExtensionRequest

    assert ExtensionRequest.objects.filter(member=_evaluation_member(done)).count() == 1


def _evaluation_eve_scored(done: Done) -> None:
    from evaluation.models import ItemScore

    assert list(ItemScore.objects.filter(member=_evaluation_member(done)).values_list("value", flat=True)) == [
        Decimal("12.50")
    ]


def _evaluation_score_post(world: World) -> dict[str, str]:
    from evaluation.models import Evaluation
    from evaluation.services import score_field

    # Asked for only once the case's stage is built (a guessed lot id has none: any sheet will do).
    lot = world.__dict__.get("_evaluation_ready")
    evaluation = Evaluation.objects.filter(lot=lot).first() if lot is not None else None
    item_id = evaluation.scheme()["items"][0]["id"] if evaluation is not None else 1
    return {score_field(str(world.bid.pk), item_id): "12.50", "action": "save"}


def _evaluation_bob_rejected(done: Done) -> None:
    from evaluation.models import Rejection

    rejection = Rejection.objects.get(bid=done.world.bid, reinstated_at__isnull=True)
    assert (rejection.reason, rejection.automatic) == ("投标文件未按招标文件要求签章", False)


def _evaluation_rejected_world(world: World) -> dict[str, Any]:
    from evaluation import services as evaluation

    kwargs = _evaluation_bid(_evaluation_elected)(world)
    evaluation.bid_reject(actor=world.people["eve"], lot=_evaluation_ready(world), bid_id=world.bid.pk, reason="待核实")
    return kwargs


def _evaluation_bob_reinstated(done: Done) -> None:
    from evaluation.models import Rejection

    assert not Rejection.objects.filter(bid=done.world.bid, reinstated_at__isnull=True).exists()


def _evaluation_drafted(done: Done) -> None:
    from evaluation.models import EvaluationReport

    report = EvaluationReport.objects.get(evaluation__lot_id=done.kwargs["lot_id"])
    assert [c["bid"] for c in report.data()["candidates"]] == [str(done.world.bid.pk)]


def _evaluation_discarded(done: Done) -> None:
    from evaluation.models import EvaluationReport

    assert EvaluationReport.objects.get(evaluation__lot_id=done.kwargs["lot_id"]).status == "discarded"


def _evaluation_key_body(world: World, person: str) -> RawBody:
    """A new signing key's public half, as the report page posts it after generating the key in the browser."""
    spki = _evaluation_spki(_evaluation_key(99))
    return RawBody(json.dumps({"signing_public": base64.b64encode(spki).decode()}).encode(), {})


def _evaluation_key_registered(done: Done) -> None:
    from evaluation.models import SigningKey

    key = SigningKey.objects.get(user=done.world.people[done.person], status="active")
    assert bytes(key.public_key) == _evaluation_spki(_evaluation_key(99))


def _evaluation_sign_body(world: World, person: str) -> RawBody:
    """Eve's signature of the current report, made as her browser makes it; anyone else sends the same bytes."""
    report = world.__dict__.get("_evaluation_signing")
    if report is None:  # a guessed lot id: the stage was never built, any signature will do
        return RawBody(json.dumps({"report_sha256": "0" * 64, "signature": "AAAA"}).encode(), {})
    seat = _evaluation_eve_seat(world)
    payload = {"report_sha256": report.sha256, "signature": _evaluation_signature(world, seat, report)}
    return RawBody(json.dumps(payload).encode(), {})


def _evaluation_eve_signed(done: Done) -> None:
    from evaluation.models import ReportSignature

    assert ReportSignature.objects.filter(member=_evaluation_member(done)).count() == 1


EVALUATION_READERS = (*MANAGERS, "eve")  # the final report: those managing the tender and the committee
EVALUATION_EVE_ELSEWHERE = {"eve": AGNES_LOT}
EVALUATION_BID_ELSEWHERE = {"eve": _evaluation_carol_bid}
EVALUATION_STARTED = _evaluation_lot(_evaluation_started)
EVALUATION_SIGNED_IN = _evaluation_lot(_evaluation_signed_in)
EVALUATION_ELECTED = _evaluation_lot(_evaluation_elected)


# --- candidate publicity and award (中标候选人公示与定标): the world of its rows (the "award" block of CASES) ----
# Built on alice's published lot, where bob's organisation has the only current bid. Reaching a final evaluation
# report through the services takes about a second (the opening room, the draw, nine signatures), paid by each
# of the eleven requests of every row; here the lot is moved to evaluating and a final report naming bob's bid
# is written as rows (as tests/evaluation/conftest.py writes another lot's committee), then the publicity, the
# objection and the result go through ``award.services``, the clock set where a stage needs the past.

AWARD_PRICE = "10850000.00"
AWARD_OBJECTION = "第一中标候选人的项目经理有在建工程"
AWARD_LETTER_READERS = ("bob", "alice", "terry", "sam")  # the recipient, the agent, the tenderer, the supervisor


def _award_stage(name: str) -> Callable[[Callable[[World], Any]], Callable[[World], Any]]:
    def decorate(build: Callable[[World], Any]) -> Callable[[World], Any]:
        @functools.wraps(build)
        def cached(world: World) -> Any:
            key = f"_award_{name}"
            if key not in world.__dict__:
                world.__dict__[key] = build(world)
            return world.__dict__[key]

        return cached

    return decorate


@_award_stage("final")
def _award_final(world: World) -> Lot:
    """The published lot evaluating, with a final report (written as rows) whose only candidate is bob's bid."""
    import hashlib

    from evaluation.models import Evaluation, EvaluationReport, Member
    from evaluation.report import canonical
    from experts.models import DrawItem

    lot = world.lot(world.published)
    alice, now = world.people["alice"], timezone.now()
    Lot.objects.filter(pk=lot.pk).update(status=LotStatus.EVALUATING)
    request = DrawRequest.objects.create(
        lot=lot, requested_by=alice, evaluation_start=now, evaluation_place="远程", status=DrawStatus.COMPLETE
    )
    item = DrawItem.objects.create(request=request, specialty=specialty(DRAW_SPECIALTY), members=1)
    expert = make_experts(1, [specialty(DRAW_SPECIALTY)])[0]
    selection = DrawSelection.objects.create(
        request=request, item=item, expert=expert, position=1, status=SelectionStatus.CONFIRMED,
        token="award-matrix-token", reply_code="424242",
    )
    evaluation = Evaluation.objects.create(
        lot=lot, draw_request=request, method=lot.evaluation_method, scheme_json="{}", scheme_sha256="0" * 64,
        started_at=now - dt.timedelta(days=6), started_by=alice, deadline=now - dt.timedelta(days=5),
        status="final", final_at=now - dt.timedelta(days=5),
    )
    member = Member.objects.create(evaluation=evaluation, seat=1, selection=selection, expert=expert, user=world.people["eve"])
    bidder = world.orgs["bidder_a"]
    row = {"rank": 1, "bid": str(world.bid.pk), "organisation": bidder.pk, "organisation_name": bidder.name,
           "credit_code": bidder.credit_code, "price": AWARD_PRICE, "score": "90.00", "evaluated_price": AWARD_PRICE}
    document = canonical({"candidates": [row], "bids": [{"bid": str(world.bid.pk), "price": AWARD_PRICE, "rank": 1}]})
    EvaluationReport.objects.create(
        evaluation=evaluation, version=1, status="final", document=document,
        sha256=hashlib.sha256(document.encode()).hexdigest(), drafted_at=now - dt.timedelta(days=5), drafted_by=member,
        final_at=now - dt.timedelta(days=5),
    )
    lot.refresh_from_db()
    return lot


@_award_stage("open")
def _award_open(world: World) -> Any:
    """Alice published the candidates now, for three days and an hour."""
    from award import services as award

    lot = _award_final(world)
    return award.publicity_publish(
        actor=world.people["alice"], lot=lot, ends_at=timezone.now() + dt.timedelta(days=3, hours=1)
    )


@_award_stage("objected")
def _award_objected(world: World) -> Any:
    """Bob objected to the open publicity, with a file."""
    from award import services as award

    _award_open(world)
    return award.objection_file(
        actor=world.people["bob"], lot=_award_final(world), text=AWARD_OBJECTION,
        attachment=SimpleUploadedFile("证明材料.pdf", b"%PDF-1.4 evidence", "application/pdf"),
    )


@_award_stage("closed")
def _award_closed(world: World) -> Any:
    """The candidates were published four days ago for three days: the window has closed, nobody objected."""
    from award import services as award

    lot = _award_final(world)
    start = timezone.now() - dt.timedelta(days=4)
    with time_machine.travel(start, tick=False):
        return award.publicity_publish(actor=world.people["alice"], lot=lot, ends_at=start + dt.timedelta(days=3))


@_award_stage("announced")
def _award_announced(world: World) -> Any:
    """Alice announced bob's organisation as the winner: the lot is awarded, bob's award notice signed."""
    from award import services as award

    _award_closed(world)
    return award.result_announce(actor=world.people["alice"], lot=_award_final(world))


def _award_lot(stage: Callable[[World], Any]) -> Callable[[World], dict[str, Any]]:
    def kwargs(world: World) -> dict[str, Any]:
        stage(world)
        return {"lot_id": world.lot(world.published).pk}

    return kwargs


def _award_objection(world: World) -> dict[str, Any]:
    return {"pk": _award_objected(world).pk}


def _award_letter(world: World) -> dict[str, Any]:
    return {"pk": _award_announced(world).letters.get().pk}


def _award_publicity(world: World) -> dict[str, Any]:
    return {"pk": _award_open(world).pk}


def _award_candidate_shown(world: World, person: str, response: HttpResponse) -> None:
    assert _shows(response, world.orgs["bidder_a"].name) and _shows(response, "10,850,000.00")


def _award_objection_shown(world: World, person: str, response: HttpResponse) -> None:
    assert _shows(response, AWARD_OBJECTION)


def _award_objection_secret(world: World, person: str) -> tuple[str, ...]:
    return (AWARD_OBJECTION,)


def _award_attachment(world: World, person: str, response: HttpResponse) -> None:
    assert b"".join(response.streaming_content) == b"%PDF-1.4 evidence"


def _award_letter_json(world: World, person: str, response: HttpResponse) -> None:
    from award.letters import letter_verify

    letter = json.loads(response.content)
    letter_verify(letter, receipts.receipt_key().public_pem)
    assert (letter["kind"], letter["result"]["award_price"]) == ("award_notice", AWARD_PRICE)


def _award_publish_post(world: World) -> dict[str, str]:
    ends = timezone.localtime(timezone.now() + dt.timedelta(days=4))
    return {"starts_at": "", "ends_at": ends.strftime("%Y-%m-%dT%H:%M"), "note": "异议请在公示期内提出"}


def _award_published(done: Done) -> None:
    from award.models import Publicity

    publicity = Publicity.objects.get(lot_id=done.kwargs["lot_id"])
    assert (publicity.published_by, publicity.note, publicity.late) == (done.world.people["alice"], "异议请在公示期内提出", True)


def _award_objection_filed(done: Done) -> None:
    from award.models import Objection

    objection = Objection.objects.get(publicity__lot_id=done.kwargs["lot_id"])
    assert (objection.organisation, objection.text) == (done.world.orgs["bidder_a"], "评标结果有误")


def _award_answered(done: Done) -> None:
    from award.models import Objection

    objection = Objection.objects.get(pk=done.kwargs["pk"])
    assert (objection.outcome, objection.answered_by) == ("maintained", done.world.people["alice"])


def _award_result_announced(done: Done) -> None:
    from award.models import AwardResult

    result = AwardResult.objects.get(lot_id=done.kwargs["lot_id"])
    lot = Lot.objects.get(pk=done.kwargs["lot_id"])
    assert (lot.status, lot.winner, str(lot.award_price)) == (LotStatus.AWARDED, done.world.orgs["bidder_a"], AWARD_PRICE)
    assert result.letters.get().kind == "award_notice"


AWARD_MANAGERS_ELSEWHERE = {"alice": AGNES_LOT, "terry": AGNES_LOT}
AWARD_AGENT_ELSEWHERE = {"alice": AGNES_LOT}
AWARD_BOB_ELSEWHERE = {"bob": AGNES_LOT}
AWARD_BIDDER_ROLES = ("alice", "agnes", "terry", "bob", "carol", "dave", "sam", "pat")  # every role with an award page


# --- complaints (投诉): what their rows check (the "complaints" block of CASES; the objects are ``World``'s) ----
# A complaint is the business of its complainant (bob's organisation) and of the authority it went to (sam's);
# of the tender's agency and tenderer once accepted. Anyone else — sven, a supervisor of another authority,
# included — finds nothing (404); who sees it but may not take a step is refused (403).

COMPLAINT_FACTS = "丑招标文件设置了排斥潜在投标人的资质条件"
COMPLAINT_NEW_FACTS = "寅评标委员会未按招标文件规定的标准评审"
COMPLAINT_QUESTIONS = "卯请说明资质条件的设置依据"
COMPLAINT_NEW_QUESTIONS = "辰请说明评标标准的适用情况"
COMPLAINT_ANSWER = "巳资质条件依据行业主管部门的规定设置"
COMPLAINT_NEW_ANSWER = "午评标标准已在招标文件第三章载明"
COMPLAINT_REASON = "酉依法需要核实的事项"
COMPLAINT_DECISION = "申经查投诉事项缺乏事实根据，驳回投诉"
COMPLAINT_EVIDENCE = b"%PDF-1.4 complaint evidence"
COMPLAINT_STATEMENT_FILE = b"%PDF-1.4 written statement"
COMPLAINT_SIGNED_IN = (*SIGNED_IN, OTHER_SUPERVISOR)
# Those with a complaints page: bidders, agents, tenderers' representatives and supervisors (any authority).
COMPLAINT_ROLES = ("alice", "agnes", "terry", "bob", "carol", "dave", "sam", OTHER_SUPERVISOR)
# An accepted complaint's readers: the complainant, the authority, the tender's agency and tenderer.
COMPLAINT_PARTIES = ("bob", "sam", "alice", "terry")


def _complaint_input(facts: str = COMPLAINT_FACTS) -> complaint_services.ComplaintInput:
    return complaint_services.ComplaintInput(
        subject=Subject.OTHER, facts=facts, claims="请求责令招标人修改招标文件", known_on=timezone.localdate()
    )


def _complaint_evidence() -> SimpleUploadedFile:
    return SimpleUploadedFile("证明材料.pdf", COMPLAINT_EVIDENCE, "application/pdf")


def _complaint_outcomes(*, ok: tuple[str, ...], denied: tuple[str, ...] = ()) -> dict[str, Outcome]:
    """``ok`` allowed; ``denied`` (who sees the complaint, but may not take the step) refused; everyone else 404."""
    not_found = tuple(p for p in COMPLAINT_SIGNED_IN if p not in denied)
    return outcomes(ok=ok, not_found=not_found, people=WITH_OTHER_AUTHORITY)


def _complaint_post_only() -> dict[str, Outcome]:
    return outcomes(rest=Outcome.METHOD, people=WITH_OTHER_AUTHORITY)


def _complaint_world(world: World) -> dict[str, Any]:
    assert world.complaint
    return {}


def _complaint_new_post(world: World) -> dict[str, Any]:
    return {
        "lot": "", "subject": Subject.EVALUATION, "known_on": str(timezone.localdate()), "facts": COMPLAINT_NEW_FACTS,
        "claims": "请求责令重新评标", "attachments": _complaint_evidence(),
    }


def _complaint_listed(world: World, person: str, response: HttpResponse) -> None:
    """Not yet accepted: on the complainant's list and the authority's queue, nobody else's."""
    assert _shows(response, world.complaint.number) == (person in ("bob", "sam"))


def _complaint_form(world: World, person: str, response: HttpResponse) -> None:
    assert _shows(response, PUBLISHED_TITLE) and _shows(response, 'name="facts"')


def _complaint_shown(world: World, person: str, response: HttpResponse) -> None:
    assert _shows(response, COMPLAINT_FACTS)


def _statement_for_the_parties(world: World, person: str, response: HttpResponse) -> None:
    """The statement's questions and answer: the authority and the respondent, not the complainant."""
    _complaint_shown(world, person, response)
    assert _shows(response, COMPLAINT_ANSWER) == (person != "bob")
    assert _shows(response, COMPLAINT_QUESTIONS) == (person != "bob")


def _complaint_secrets(world: World, person: str) -> tuple[str, ...]:
    return (COMPLAINT_FACTS,)


def _statement_secrets(world: World, person: str) -> tuple[str, ...]:
    return (COMPLAINT_QUESTIONS,)


def _complaint_file(content: bytes) -> Callable[[World, str, HttpResponse], None]:
    def check(world: World, person: str, response: HttpResponse) -> None:
        assert response["Content-Disposition"].startswith("attachment;")
        assert b"".join(response.streaming_content) == content

    return check


def _complaint_filed(done: Done) -> None:
    complaint = Complaint.objects.get(facts=COMPLAINT_NEW_FACTS)
    assert (complaint.status, complaint.filed_by, complaint.complainant, complaint.authority) == (
        ComplaintStatus.SUBMITTED, done.world.people["bob"], done.world.orgs["bidder_a"], done.world.orgs["supervisor"],
    )
    assert list(complaint.attachments.values_list("original_name", flat=True)) == ["证明材料.pdf"]


def _complaint_now(status: str, **fields: Any) -> Callable[[Done], None]:
    """The complaint is in ``status``, its ``fields`` so (a person's name for a user)."""

    def effect(done: Done) -> None:
        complaint = Complaint.objects.get(pk=done.kwargs["pk"])
        assert complaint.status == status
        for name, value in fields.items():
            expected = done.world.people[value] if name.endswith("_by") else value
            assert getattr(complaint, name) == expected, name

    return effect


def _complaint_suspended(done: Done) -> None:
    suspension = Suspension.objects.get(complaint_id=done.kwargs["pk"])
    assert (suspension.in_force, suspension.reason, suspension.ordered_by) == (
        True, COMPLAINT_REASON, done.world.people["sam"],
    )


def _complaint_lifted(done: Done) -> None:
    suspension = Suspension.objects.get(complaint_id=done.kwargs["pk"])
    assert (suspension.in_force, suspension.lift_reason, suspension.lifted_by) == (
        False, COMPLAINT_REASON, done.world.people["sam"],
    )


def _statement_requested(done: Done) -> None:
    statement = StatementRequest.objects.get(complaint_id=done.kwargs["pk"])
    assert (statement.questions, statement.requested_by) == (COMPLAINT_NEW_QUESTIONS, done.world.people["sam"])


def _statement_answered(done: Done) -> None:
    statement = StatementRequest.objects.get(pk=done.kwargs["pk"])
    assert (statement.answer, statement.answered_by) == (COMPLAINT_NEW_ANSWER, done.world.people["alice"])


PENDING_COMPLAINT = _pk(lambda w: w.complaint)
ACCEPTED_COMPLAINT = _pk(lambda w: w.accepted_complaint)
SUSPENDED_COMPLAINT = _pk(lambda w: w.suspended_complaint)
ANSWERED_COMPLAINT = _pk(lambda w: (w.answered_statement, w.accepted_complaint)[1])
COMPLAINT_STATEMENT = _pk(lambda w: w.complaint_statement)
PENDING_EVIDENCE = _pk(lambda w: w.complaint_evidence())
ACCEPTED_EVIDENCE = _pk(lambda w: (w.accepted_complaint, w.complaint_evidence())[1])
STATEMENT_ATTACHMENT = _pk(lambda w: w.statement_attachment())
# Carol's complaint about agnes's tender, to sven's authority, accepted, with a statement request to agnes's agency.
COMPLAINT_ELSEWHERE = _pk(lambda w: w.complaint_elsewhere)
EVIDENCE_ELSEWHERE = _pk(lambda w: w.complaint_elsewhere.attachments.get())
STATEMENT_ELSEWHERE = _pk(lambda w: w.complaint_elsewhere.statements.get())


def _complaint_elsewhere_for(*people: str, getter: Callable[[World], dict[str, Any]] = COMPLAINT_ELSEWHERE) -> dict[
    str, Callable[[World], dict[str, Any]]
]:
    return dict.fromkeys(people, getter)


CASES: list[Case] = [
    # --- accounts -------------------------------------------------------------------------------
    Case("accounts:dashboard", "", "get", outcomes(ok=SIGNED_IN),
         content=_drafts_only_for_their_agency),
    Case("accounts:login", "", "get", outcomes(ok=EVERYONE)),
    Case("accounts:logout", "", "post", outcomes(ok=EVERYONE), effect=_signed_out),
    Case("accounts:logout", "", "get", outcomes(anonymous=Outcome.METHOD, rest=Outcome.METHOD)),
    Case("accounts:notifications", "", "get", outcomes(ok=SIGNED_IN),
         content=_own_messages_only),
    Case("accounts:notification_read", "bob's message", "post",
         outcomes(ok=("bob",), not_found=SIGNED_IN),
         kwargs=lambda w: {"pk": w.notifications["bob"].pk}, data=lambda w: {"open": "1"},
         effect=_one_message_read, secrets=lambda w, p: (w.notifications["bob"].title,),
         foreign={"bob": lambda w: {"pk": w.notifications["carol"].pk}}),
    Case("accounts:notification_read", "bob's message", "get", post_only(),
         kwargs=lambda w: {"pk": w.notifications["bob"].pk}),
    Case("accounts:notifications_read_all", "", "post", outcomes(ok=SIGNED_IN),
         effect=_own_messages_read),
    Case("accounts:notifications_read_all", "", "get", post_only()),
    # The organisation's keys: those who seal bids or keep opening-key shares; finance, the platform
    # administrator and experts hold none (403).
    Case("accounts:keys", "", "get", outcomes(ok=KEY_ROLES), content=_own_keys_only),
    Case("accounts:tokens", "", "get", outcomes(ok=SIGNED_IN), content=_own_tokens_only),
    Case("accounts:tokens", "", "post", outcomes(ok=SIGNED_IN), data=lambda w: {"name": CREATED_TOKEN_NAME},
         effect=_token_created, audited=True, content=_secret_shown_once),
    Case("accounts:token_revoke", "bob's token", "post", outcomes(ok=("bob",), not_found=SIGNED_IN),
         kwargs=_pk(lambda w: w.tokens["bob"]), effect=_token_revoked, audited=True,
         secrets=lambda w, p: (w.tokens["bob"].name,),
         foreign={"bob": _pk(lambda w: w.tokens["carol"])}),
    Case("accounts:token_revoke", "bob's token", "get", post_only(), kwargs=_pk(lambda w: w.tokens["bob"])),
    # The JSON API answers a visitor who is not signed in with 403 auth.required, never the sign-in page.
    Case("accounts_api:keys", "", "get", outcomes(ok=KEY_ROLES, anonymous=Outcome.DENIED),
         content=_own_key_history),
    Case("accounts_api:keys", "", "post", outcomes(ok=KEY_ROLES, anonymous=Outcome.DENIED),
         body=_key_registration, effect=_key_registered, audited=True),
    # --- the public portal ----------------------------------------------------------------------
    Case("portal:index", "", "get", outcomes(ok=EVERYONE),
         content=_portal_lists_published_not_drafts),
    Case("portal:announcements", "", "get", outcomes(ok=EVERYONE),
         content=_portal_lists_published_not_drafts),
    Case("portal:announcement", "published", "get", outcomes(ok=EVERYONE), kwargs=PUBLISHED,
         content=_published_shown),
    Case("portal:announcement", "draft", "get", outcomes(not_found=EVERYONE), kwargs=DRAFT,
         secrets=_secret_title(DRAFT_TITLE)),
    Case("portal:announcement", "agnes's draft", "get", outcomes(not_found=EVERYONE),
         kwargs=AGNES_DRAFT, secrets=_secret_title(AGNES_DRAFT_TITLE)),
    Case("portal:results", "", "get", outcomes(ok=EVERYONE),
         content=_no_drafts),
    Case("portal:feed", "", "get", outcomes(ok=EVERYONE),
         content=_portal_lists_published_not_drafts),
    # --- the working area: tenders --------------------------------------------------------------
    Case("tendering:tender_list", "", "get", outcomes(ok=("alice", "agnes", "terry", "sam", "pat")),
         content=_tender_list_content),
    Case("tendering:tender_create", "", "get", outcomes(ok=("alice", "agnes"))),
    Case("tendering:tender_create", "", "post", outcomes(ok=("alice", "agnes")),
         data=lambda w: _tender_post(w, CREATED_TITLE), effect=_tender_created, audited=True),
    Case("tendering:tender_detail", "draft", "get",
         outcomes(ok=("alice", "pat"), not_found=SIGNED_IN), kwargs=DRAFT,
         secrets=_secret_title(DRAFT_TITLE), foreign=ALICE_DRAFT_ELSEWHERE),
    Case("tendering:tender_detail", "published", "get",
         outcomes(ok=MANAGERS, not_found=SIGNED_IN), kwargs=PUBLISHED, content=_no_bid_shown,
         foreign=MANAGERS_ELSEWHERE),
    Case("tendering:tender_edit", "draft", "get", agent_only(), kwargs=DRAFT,
         secrets=_secret_title(DRAFT_TITLE), foreign=ALICE_DRAFT_ELSEWHERE),
    Case("tendering:tender_edit", "draft", "post", agent_only(), kwargs=DRAFT,
         data=lambda w: _tender_post(w, EDITED_TITLE), effect=_draft_edited, audited=True,
         secrets=_secret_title(DRAFT_TITLE), foreign=ALICE_DRAFT_ELSEWHERE),
    Case("tendering:tender_edit", "published", "get", agent_only(), kwargs=PUBLISHED,
         foreign=ALICE_PUBLISHED_ELSEWHERE),
    Case("tendering:tender_preview", "draft", "get", agent_only(), kwargs=DRAFT,
         secrets=_secret_title(DRAFT_TITLE), foreign=ALICE_DRAFT_ELSEWHERE),
    Case("tendering:tender_preview", "published", "get", agent_only(), kwargs=PUBLISHED,
         foreign=ALICE_PUBLISHED_ELSEWHERE),
    Case("tendering:tender_publish", "draft", "post", agent_only(), kwargs=DRAFT,
         effect=_draft_published, audited=True, foreign=ALICE_DRAFT_ELSEWHERE),
    Case("tendering:tender_publish", "draft", "get", post_only(), kwargs=DRAFT),
    Case("tendering:tender_cancel", "published", "get", agent_only(), kwargs=PUBLISHED,
         foreign=ALICE_PUBLISHED_ELSEWHERE),
    Case("tendering:tender_cancel", "published", "post", agent_only(), kwargs=PUBLISHED,
         data=lambda w: {"reason": "项目取消"}, effect=_tender_cancelled, audited=True,
         foreign=ALICE_PUBLISHED_ELSEWHERE),
    Case("tendering:lot_create", "draft", "get", agent_only(), kwargs=DRAFT,
         secrets=_secret_title(DRAFT_TITLE), foreign=ALICE_DRAFT_ELSEWHERE),
    Case("tendering:lot_create", "draft", "post", agent_only(), kwargs=DRAFT, data=_lot_post,
         effect=_lot_added, audited=True, foreign=ALICE_DRAFT_ELSEWHERE),
    Case("tendering:document_upload", "draft", "get", agent_only(), kwargs=DRAFT,
         secrets=_secret_title(DRAFT_TITLE), foreign=ALICE_DRAFT_ELSEWHERE),
    Case("tendering:document_upload", "draft", "post", agent_only(), kwargs=DRAFT,
         data=lambda w: {"file": SimpleUploadedFile("补充文件.pdf", b"%PDF-1.4 more", "application/pdf")},
         effect=_document_added, audited=True, foreign=ALICE_DRAFT_ELSEWHERE),
    Case("tendering:amendment_create", "published", "get", agent_only(), kwargs=PUBLISHED,
         foreign=ALICE_PUBLISHED_ELSEWHERE),
    Case("tendering:amendment_create", "published", "post", agent_only(), kwargs=PUBLISHED,
         data=lambda w: {"title": "第1号澄清", "body": "招标文件第三章第2条更正如下。"},
         effect=_amendment_published, audited=True, foreign=ALICE_PUBLISHED_ELSEWHERE),
    # Before the deadline even those managing the tender are refused the list (EB 21).
    Case("tendering:obtainers", "before the deadline", "get",
         outcomes(not_found=tuple(p for p in SIGNED_IN if p not in MANAGERS)), kwargs=PUBLISHED,
         secrets=_who_obtained),
    Case("tendering:obtainers", "after the deadline", "get",
         outcomes(ok=MANAGERS, not_found=SIGNED_IN), kwargs=PUBLISHED, after_deadline=True,
         content=_obtainers_listed, secrets=_who_obtained,
         foreign=MANAGERS_ELSEWHERE),
    Case("tendering:obtain", "published", "post", outcomes(ok=BIDDERS), kwargs=PUBLISHED,
         effect=_documents_obtained, audited=False),
    Case("tendering:obtain", "draft", "post", outcomes(not_found=SIGNED_IN), kwargs=DRAFT),
    Case("tendering:obtain", "published", "get", post_only(), kwargs=PUBLISHED),
    # --- the working area: lots -----------------------------------------------------------------
    Case("tendering:lot_edit", "draft", "get", agent_only(), kwargs=DRAFT_LOT,
         foreign={"alice": AGNES_DRAFT_LOT}),
    Case("tendering:lot_edit", "draft", "post", agent_only(), kwargs=DRAFT_LOT, data=_lot_post,
         effect=_lot_edited, audited=True, foreign={"alice": AGNES_DRAFT_LOT}),
    Case("tendering:lot_edit", "published", "get", agent_only(), kwargs=PUBLISHED_LOT,
         foreign={"alice": AGNES_PUBLISHED_LOT}),
    Case("tendering:lot_delete", "draft", "post", agent_only(), kwargs=DRAFT_LOT,
         effect=_lot_deleted, audited=True, foreign={"alice": AGNES_DRAFT_LOT}),
    Case("tendering:lot_delete", "draft", "get", post_only(), kwargs=DRAFT_LOT),
    Case("tendering:lot_cancel", "published", "get", agent_only(), kwargs=PUBLISHED_LOT,
         foreign={"alice": AGNES_PUBLISHED_LOT}),
    Case("tendering:lot_cancel", "published", "post", agent_only(), kwargs=PUBLISHED_LOT,
         data=lambda w: {"reason": "该标段需求变更"}, effect=_lot_cancelled, audited=True,
         foreign={"alice": AGNES_PUBLISHED_LOT}),
    Case("tendering:lot_fail", "after the deadline", "get", agent_only(), kwargs=CLOSED_LOT,
         foreign={"alice": AGNES_PUBLISHED_LOT}),
    Case("tendering:lot_fail", "after the deadline", "post", agent_only(), kwargs=CLOSED_LOT,
         data=lambda w: {"reason": "投标人不足3家"}, effect=_lot_failed, audited=True,
         foreign={"alice": AGNES_PUBLISHED_LOT}),
    # --- the working area: documents ------------------------------------------------------------
    Case("tendering:document_download", "published, obtained by bob's organisation", "get",
         outcomes(ok=(*MANAGERS, "bob"), not_found=SIGNED_IN),
         kwargs=_pk(lambda w: w.doc(w.published)),
         foreign={name: _pk(lambda w: w.doc(w.agnes_published)) for name in ("alice", "terry", "bob")}),
    Case("tendering:document_download", "draft", "get",
         outcomes(ok=("alice", "pat"), not_found=SIGNED_IN),
         kwargs=_pk(lambda w: w.doc(w.draft)),
         foreign={"alice": _pk(lambda w: w.doc(w.agnes_draft))}),
    Case("tendering:my_obtained", "", "get", outcomes(ok=BIDDERS),
         content=_obtained_content),
    # --- the audit browser ----------------------------------------------------------------------
    Case("audit:events", "", "get", outcomes(ok=AUDITORS), content=_sealed_links),
    Case("audit:event", "public record", "get", outcomes(ok=AUDITORS),
         kwargs=lambda w: {"seq": w.public_seq}, content=_sealed_links),
    # Who obtained the documents stays hidden from supervisors until the deadline (EB 21).
    Case("audit:event", "confidential record", "get", outcomes(ok=("pat",), not_found=("sam",)),
         kwargs=lambda w: {"seq": w.confidential_seq}, secrets=_who_obtained),
    # Who bid stays hidden from everyone, platform administrators included, until the deadline (EB 27).
    Case("audit:event", "bid record", "get", outcomes(not_found=AUDITORS),
         kwargs=lambda w: {"seq": w.bid_seq}, secrets=_bid_secrets),
    Case("audit:event", "bid record, after the deadline", "get", outcomes(ok=AUDITORS),
         kwargs=lambda w: {"seq": w.bid_seq}, after_deadline=True),
    Case("audit:verify", "", "get", outcomes(ok=AUDITORS)),
    Case("audit:verify", "", "post", outcomes(ok=AUDITORS)),
    # Checkpoints page and subscription: supervisors; signed notes and the proof API: public
    # (sizes and roots only); an inclusion proof names an event: entitled parties only.
    Case("audit:checkpoints", "", "get", outcomes(ok=AUDITORS)),
    Case("audit:checkpoint_subscription", "", "post", outcomes(ok=AUDITORS),
         data=lambda w: {"subscribed": "0"}),
    Case("audit:checkpoint_subscription", "", "get", post_only()),
    Case("audit:checkpoint_latest", "", "get", outcomes(ok=EVERYONE), kwargs=lambda w: (w.checkpoint, {})[1]),
    Case("audit:checkpoint_note", "", "get", outcomes(ok=EVERYONE), kwargs=lambda w: {"size": w.checkpoint.size}),
    Case("audit_api:key", "", "get", outcomes(ok=EVERYONE)),
    Case("audit_api:consistency_proof", "", "get", outcomes(ok=EVERYONE),
         kwargs=lambda w: (w.checkpoint, {})[1], data=lambda w: {"from": w.checkpoint.size, "to": w.checkpoint.size}),
    Case("audit_api:inclusion_proof", "public record", "get",
         outcomes(ok=AUDITORS, not_found=SIGNED_IN, anonymous=Outcome.NOT_FOUND),
         kwargs=lambda w: {"seq": w.checkpointed_seq}),
    # Collusion signals: supervisors, once the lot's prices have been read (EB 21, 27).
    Case("audit:collusion_lots", "", "get", outcomes(ok=AUDITORS)),
    Case("audit:collusion", "lot before its reading", "get", outcomes(), kwargs=LOT),
    # Replays: supervisors; a lot without a room or a draw is a 404 for them.
    Case("audit:replay_index", "", "get", outcomes(ok=AUDITORS)),
    Case("audit:replay_opening", "room open", "get", outcomes(ok=AUDITORS), kwargs=ROOM_LOT, after_deadline=True),
    Case("audit:replay_opening_json", "room open", "get", outcomes(ok=AUDITORS), kwargs=ROOM_LOT,
         after_deadline=True),
    Case("audit:replay_draw", "awarded draw", "get", outcomes(ok=AUDITORS),
         kwargs=lambda w: {"lot_id": w.awarded_draw.lot_id}),
    Case("audit:replay_draw_json", "awarded draw", "get", outcomes(ok=AUDITORS),
         kwargs=lambda w: {"lot_id": w.awarded_draw.lot_id}),
    Case("audit:replay_draw", "no draw", "get", outcomes(not_found=AUDITORS), kwargs=DRAFT_LOT_ID),
    Case("audit:replay_tender", "published", "get", outcomes(ok=AUDITORS), kwargs=lambda w: {"tender_id": w.published.pk}),
    Case("audit:replay_tender_json", "published", "get", outcomes(ok=AUDITORS),
         kwargs=lambda w: {"tender_id": w.published.pk}),
    # --- the expert pool: platform administrators maintain, supervisors read, nobody else --------
    Case("experts:pool_list", "", "get", outcomes(ok=POOL_VIEWERS), kwargs=_pool_world, content=_pool_listed,
         secrets=_pool_secrets),
    Case("experts:pool_import", "", "get", outcomes(ok=("pat",))),
    Case("experts:pool_import", "", "post", outcomes(ok=("pat",)), data=_pool_import_post,
         effect=_experts_imported, audited=True),
    Case("experts:pool_import_template", "", "get", outcomes(ok=("pat",))),
    Case("experts:pool_create", "", "get", outcomes(ok=("pat",))),
    Case("experts:pool_create", "", "post", outcomes(ok=("pat",)),
         data=lambda w: _expert_post(w, POOL_NEW_NAME, POOL_NEW_ID_NUMBER), effect=_expert_registered,
         audited=True),
    Case("experts:pool_detail", "", "get", outcomes(ok=POOL_VIEWERS), kwargs=EXPERT,
         content=_identity_number_shown, secrets=_pool_secrets),
    Case("experts:pool_edit", "", "get", outcomes(ok=("pat",)), kwargs=EXPERT, secrets=_pool_secrets),
    Case("experts:pool_edit", "", "post", outcomes(ok=("pat",)), kwargs=EXPERT,
         data=lambda w: _expert_post(w, POOL_EDITED_NAME, POOL_ID_NUMBER), effect=_expert_edited,
         audited=True, secrets=_pool_secrets),
    Case("experts:pool_status", "", "post", outcomes(ok=("pat",)), kwargs=EXPERT,
         data=lambda w: {"status": "suspended", "reason": "年度考核不合格"}, effect=_expert_suspended,
         audited=True),
    Case("experts:pool_status", "", "get", post_only(), kwargs=EXPERT),
    Case("experts:pool_account", "", "post", outcomes(ok=("pat",)), kwargs=EXPERT,
         data=lambda w: {"username": "eve"}),
    Case("experts:pool_conflict_add", "", "post", outcomes(ok=("pat",)), kwargs=EXPERT,
         data=lambda w: {"credit_code": w.orgs["bidder_b"].credit_code, "organisation_name": "",
                         "kind": "interest"},
         effect=_conflict_declared, audited=True),
    Case("experts:pool_conflict_remove", "", "post", outcomes(ok=("pat",)),
         kwargs=lambda w: {"pk": w.pool["eve"].pk, "conflict_pk": w.pool["conflict"].pk},
         effect=_conflict_removed, audited=True,
         foreign={"pat": lambda w: {"pk": w.pool["other"].pk, "conflict_pk": w.pool["conflict"].pk}}),
    Case("experts:pool_unavailability_add", "", "post", outcomes(ok=("pat",)), kwargs=EXPERT,
         data=lambda w: {"start": str(timezone.localdate() + dt.timedelta(days=20)),
                         "end": str(timezone.localdate() + dt.timedelta(days=21))},
         effect=_day_off_added, audited=True),
    Case("experts:pool_unavailability_remove", "", "post", outcomes(ok=("pat",)),
         kwargs=lambda w: {"pk": w.pool["eve"].pk, "item_pk": w.pool["period"].pk},
         effect=_day_off_removed, audited=True,
         foreign={"pat": lambda w: {"pk": w.pool["other"].pk, "item_pk": w.pool["period"].pk}}),
    # --- the expert's own record: only the expert ---------------------------------------------------
    Case("experts:profile", "", "get", outcomes(ok=("eve",)), kwargs=_pool_world, content=_own_record_masked),
    Case("experts:profile", "", "post", outcomes(ok=("eve",)), kwargs=_pool_world,
         data=lambda w: {"mobile": "13900001111", "email": ""}, effect=_contact_changed, audited=True),
    Case("experts:profile_unavailability_add", "", "post", outcomes(ok=("eve",)), kwargs=_pool_world,
         data=lambda w: {"start": str(timezone.localdate() + dt.timedelta(days=20)),
                         "end": str(timezone.localdate() + dt.timedelta(days=21))},
         effect=_day_off_added, audited=True),
    Case("experts:profile_unavailability_remove", "", "post", outcomes(ok=("eve",)),
         kwargs=lambda w: {"item_pk": w.pool["period"].pk}, effect=_day_off_removed, audited=True,
         foreign={"eve": lambda w: {"item_pk": w.pool["other_period"].pk}}),
    Case("experts:profile_unavailability_remove", "", "get", post_only(),
         kwargs=lambda w: {"item_pk": w.pool["period"].pk}),
    # --- the expert draw: the lot's agent requests, supervisors approve, run and watch (ER 8) ------
    Case("experts:draw_lot", "after the deadline", "get", outcomes(ok=MANAGERS, not_found=SIGNED_IN),
         kwargs=DRAW_LOT, content=_request_offered_to_the_lots_agent,
         foreign={"alice": AGNES_DRAW_LOT, "terry": AGNES_DRAW_LOT}),
    Case("experts:draw_request_create", "after the deadline", "get", agent_only(), kwargs=DRAW_LOT,
         foreign={"alice": AGNES_DRAW_LOT}),
    Case("experts:draw_request_create", "after the deadline", "post", agent_only(), kwargs=DRAW_LOT,
         data=_draw_request_post, effect=_draw_requested, audited=True, foreign={"alice": AGNES_DRAW_LOT}),
    # Those managing the tender follow the draw; the agency and the tenderer by counts only.
    Case("experts:draw_status", "drawn", "get", outcomes(ok=MANAGERS, not_found=SIGNED_IN), kwargs=DRAWN,
         content=_counts_without_names, secrets=_panel_secrets,
         foreign={"alice": AGNES_DRAW, "terry": AGNES_DRAW}),
    Case("experts:draw_status", "revealed", "get", outcomes(ok=MANAGERS, not_found=SIGNED_IN),
         kwargs=REVEALED_DRAW, content=_panel_published),
    Case("experts:draw_requests", "", "get", outcomes(ok=DRAW_WATCHERS), kwargs=_pending_world,
         content=_pending_draw_listed),
    # The platform administrator watches but does not review or run a draw: that is the supervisor's.
    Case("experts:draw_review", "pending", "get", outcomes(ok=("sam",)), kwargs=PENDING_DRAW),
    Case("experts:draw_review", "pending, approved", "post", outcomes(ok=("sam",)), kwargs=PENDING_DRAW,
         data=lambda w: {"decision": "approve"}, effect=_draw_approved, audited=True),
    Case("experts:draw_review", "pending, rejected", "post", outcomes(ok=("sam",)), kwargs=PENDING_DRAW,
         data=lambda w: {"decision": "reject", "reason": DRAW_REJECTION}, effect=_draw_rejected,
         audited=True),
    Case("experts:draw_run", "approved", "get", outcomes(ok=("sam",)), kwargs=APPROVED_DRAW),
    Case("experts:draw_run", "approved", "post", outcomes(ok=("sam",)), kwargs=APPROVED_DRAW,
         data=lambda w: {"supervisor_number": DRAW_NUMBER}, effect=_draw_run, audited=True),
    Case("experts:draw_watch", "drawn", "get", outcomes(ok=DRAW_WATCHERS), kwargs=DRAWN,
         content=_panel_named_to_watchers, secrets=_panel_secrets),
    Case("experts:draw_reveal", "awarded", "post", outcomes(ok=DRAW_WATCHERS), kwargs=AWARDED_DRAW,
         effect=_draw_revealed, audited=True),
    # Before the award the service refuses: the watcher is sent back with the reason and nothing changes.
    Case("experts:draw_reveal", "complete, not awarded", "post", outcomes(ok=DRAW_WATCHERS),
         kwargs=FULL_PANEL, follow=True, content=_reveal_waits_for_award),
    Case("experts:draw_reveal", "pending", "get", post_only(), kwargs=PENDING_DRAW),
    # The record is published with the result, to everyone; before the reveal it exists for nobody.
    Case("experts:draw_record", "revealed", "get", outcomes(ok=EVERYONE), kwargs=REVEALED_DRAW,
         content=_record_downloaded),
    Case("experts:draw_record", "drawn", "get", outcomes(not_found=EVERYONE), kwargs=DRAWN,
         secrets=_panel_secrets),
    Case("experts:my_invitations", "", "get", outcomes(ok=("eve",)), kwargs=_drawn_world,
         content=_own_invitation_only),
    # The signed link is the credential: no sign-in, whoever holds it may answer, and nothing else opens it.
    Case("experts:answer", "member's link", "get", outcomes(ok=EVERYONE), kwargs=MEMBER_LINK,
         content=_invitation_without_parties),
    Case("experts:answer", "member's link", "post", outcomes(ok=EVERYONE), kwargs=MEMBER_LINK,
         data=lambda w: {"answer": "confirm"}, effect=_confirmed_through("link"), audited=True),
    Case("experts:answer", "forged signature", "get", outcomes(not_found=EVERYONE), kwargs=_forged_link,
         secrets=_panel_secrets),
    # The raw token as a copy of the database holds it: without the signature it opens nothing.
    Case("experts:answer", "unsigned token", "get", outcomes(not_found=EVERYONE),
         kwargs=lambda w: {"token": w.member().token}, secrets=_panel_secrets),
    # A reserve has not been told anything: its link does not exist yet.
    Case("experts:answer", "reserve's link", "get", outcomes(not_found=EVERYONE), kwargs=RESERVE_LINK,
         secrets=_panel_secrets),
    # The gateway's signature is the credential, whoever else is signed in on the client.
    Case("experts:gateway_inbound", "signed reply", "post", outcomes(ok=EVERYONE), kwargs=_drawn_world,
         body=_gateway_reply(GATEWAY_SECRET), effect=_confirmed_through("sms"), audited=True),
    Case("experts:gateway_inbound", "reply signed with another secret", "post",
         outcomes(anonymous=Outcome.DENIED), kwargs=_drawn_world, body=_gateway_reply("not-the-gateway-secret")),
    Case("experts:gateway_inbound", "", "get", outcomes(anonymous=Outcome.METHOD, rest=Outcome.METHOD)),
    # --- opening keys: the public key for anyone, the custody for the lot's custodians only ------------
    Case("opening:public_key", "published", "get", outcomes(ok=EVERYONE), kwargs=LOT,
         content=_opening_key_downloaded),
    Case("opening:public_key", "draft", "get", outcomes(not_found=EVERYONE), kwargs=DRAFT_LOT_ID),
    Case("opening:custody", "published", "get", outcomes(ok=CUSTODIANS, not_found=SIGNED_IN), kwargs=LOT,
         content=_custody_without_shares, secrets=_shares, foreign=CUSTODIANS_ELSEWHERE),
    Case("opening:custody", "after the opening time", "get", outcomes(ok=CUSTODIANS, not_found=SIGNED_IN),
         kwargs=LOT, after_deadline=True, content=_custody_without_shares, secrets=_shares,
         foreign=CUSTODIANS_ELSEWHERE),
    Case("opening:custody", "draft", "get", outcomes(not_found=SIGNED_IN), kwargs=DRAFT_LOT_ID),
    Case("opening_api:share", "before the opening time", "get",
         outcomes(ok=CUSTODIANS, not_found=SIGNED_IN, anonymous=Outcome.DENIED), kwargs=LOT,
         content=_share_withheld, secrets=_shares, foreign=CUSTODIANS_ELSEWHERE),
    Case("opening_api:share", "after the opening time", "get",
         outcomes(ok=CUSTODIANS, not_found=SIGNED_IN, anonymous=Outcome.DENIED), kwargs=LOT,
         after_deadline=True, content=_own_share_handed_out, secrets=_shares, foreign=CUSTODIANS_ELSEWHERE),
    # Holding a real share is not enough: only a user of its custodian organisation may submit it.
    Case("opening_api:share", "after the opening time", "post",
         outcomes(ok=CUSTODIANS, not_found=SIGNED_IN, anonymous=Outcome.DENIED), kwargs=LOT,
         after_deadline=True, body=_share_submission, effect=_share_submitted, audited=True,
         foreign=CUSTODIANS_ELSEWHERE),
    # --- the opening room: its participants only; the record public once closed (EB 32) --------------
    Case("opening:room", "published", "get",
         outcomes(ok=ROOM_PARTICIPANTS, not_found=SIGNED_IN), kwargs=LOT, foreign=ROOM_ELSEWHERE),
    Case("opening:room", "draft", "get", outcomes(not_found=SIGNED_IN), kwargs=DRAFT_LOT_ID),
    Case("opening:record_pdf", "not closed", "get", outcomes(not_found=EVERYONE), kwargs=LOT),
    Case("opening:record_json", "not closed", "get", outcomes(not_found=EVERYONE), kwargs=LOT),
    Case("opening:record_proof", "not closed", "get", outcomes(not_found=EVERYONE), kwargs=LOT),
    Case("opening_api:wrapped_key", "after the opening time", "get",
         outcomes(ok=("bob",), not_found=SIGNED_IN, anonymous=Outcome.DENIED), kwargs=LOT,
         after_deadline=True, content=_wrapped_key_for_bob, foreign=BOB_ELSEWHERE),
    Case("opening_api:decrypt", "room open", "post",
         outcomes(ok=("bob",), not_found=NOT_IN_ROOM, anonymous=Outcome.DENIED), kwargs=ROOM_LOT,
         after_deadline=True, body=_bob_file_key, effect=_bob_bid_decrypted, audited=True),
    Case("opening_api:decrypt", "", "get", outcomes(anonymous=Outcome.METHOD, rest=Outcome.METHOD), kwargs=LOT),
    # Before the opening nobody may open a bid with the custodians' key, the host included.
    Case("opening_api:open_with_custody", "before the opening", "post",
         outcomes(not_found=NOT_IN_ROOM, anonymous=Outcome.DENIED), kwargs=ROOM_BOB_BID, body=_json({})),
    Case("opening_api:open_with_custody", "", "get",
         outcomes(anonymous=Outcome.METHOD, rest=Outcome.METHOD), kwargs=ROOM_BOB_BID),
    # --- sealed bids: only the bidder's own organisation, and nobody sees a bid before the deadline ---
    Case("bidding:my_bids", "", "get", outcomes(ok=BIDDERS), content=_own_lots_listed, secrets=_bid_secrets),
    Case("bidding:lot", "published", "get", outcomes(ok=("bob",), not_found=SIGNED_IN), kwargs=LOT,
         content=_own_bid_shown, secrets=_bid_secrets, foreign=BOB_ELSEWHERE),
    Case("bidding:lot", "draft", "get", outcomes(not_found=SIGNED_IN), kwargs=DRAFT_LOT_ID),
    Case("bidding:seal", "published", "get", outcomes(ok=("bob",), not_found=SIGNED_IN), kwargs=LOT,
         content=_sealing_page, secrets=_bid_secrets, foreign=BOB_ELSEWHERE),
    # Once the deadline has passed there is nothing to seal, for the bidder too.
    Case("bidding:seal", "after the deadline", "get", outcomes(not_found=SIGNED_IN), kwargs=LOT,
         after_deadline=True),
    Case("bidding:withdraw", "published", "post", outcomes(ok=("bob",), not_found=SIGNED_IN), kwargs=LOT,
         data=lambda w: {"confirm": "yes"}, effect=_bid_withdrawn, audited=True, secrets=_bid_secrets,
         foreign=BOB_ELSEWHERE),
    Case("bidding:withdraw", "published", "get", post_only(), kwargs=LOT),
    # Before the deadline even those managing the tender are refused how many bids came in (EB 27).
    Case("bidding:received", "before the deadline", "get",
         outcomes(not_found=tuple(p for p in SIGNED_IN if p not in MANAGERS)), kwargs=LOT,
         secrets=_bid_secrets),
    Case("bidding:received", "after the deadline", "get", outcomes(ok=MANAGERS, not_found=SIGNED_IN),
         kwargs=LOT, after_deadline=True, content=_bids_received, secrets=_bid_secrets,
         foreign=MANAGERS_ELSEWHERE_LOT),
    Case("bidding_api:lot", "published", "get",
         outcomes(ok=("bob",), not_found=SIGNED_IN, anonymous=Outcome.DENIED), kwargs=LOT,
         content=_lot_for_sealing, foreign=BOB_ELSEWHERE),
    Case("bidding_api:upload_create", "published", "post",
         outcomes(ok=("bob",), not_found=SIGNED_IN, anonymous=Outcome.DENIED), kwargs=LOT,
         body=_json({"size": UPLOAD_SIZE}), effect=_upload_started, audited=True, foreign=BOB_ELSEWHERE),
    Case("bidding_api:upload_create", "published", "get",
         outcomes(anonymous=Outcome.METHOD, rest=Outcome.METHOD), kwargs=LOT),
    Case("bidding_api:lot_bid", "published", "get",
         outcomes(ok=("bob",), not_found=SIGNED_IN, anonymous=Outcome.DENIED), kwargs=LOT,
         content=_own_bid_json, secrets=_bid_secrets, foreign=BOB_ELSEWHERE),
    Case("bidding_api:bid_withdraw", "published", "post",
         outcomes(ok=("bob",), not_found=SIGNED_IN, anonymous=Outcome.DENIED), kwargs=LOT,
         effect=_bid_withdrawn, audited=True, secrets=_bid_secrets, foreign=BOB_ELSEWHERE),
    Case("bidding_api:bid_withdraw", "published", "get",
         outcomes(anonymous=Outcome.METHOD, rest=Outcome.METHOD), kwargs=LOT),
    Case("bidding_api:upload", "in progress", "get",
         outcomes(ok=("bob",), not_found=SIGNED_IN, anonymous=Outcome.DENIED), kwargs=BOB_UPLOAD,
         content=_upload_progress, foreign={"bob": CAROL_UPLOAD}),
    Case("bidding_api:upload", "in progress", "delete",
         outcomes(ok=("bob",), not_found=SIGNED_IN, anonymous=Outcome.DENIED), kwargs=BOB_UPLOAD,
         effect=_upload_abandoned, audited=True, foreign={"bob": CAROL_UPLOAD}),
    Case("bidding_api:upload_part", "in progress, the next part", "put",
         outcomes(ok=("bob",), not_found=SIGNED_IN, anonymous=Outcome.DENIED), kwargs=BOB_NEXT_PART,
         body=_next_part, effect=_part_stored, foreign={"bob": CAROL_FIRST_PART}),
    Case("bidding_api:upload_part", "in progress, the next part", "get",
         outcomes(anonymous=Outcome.METHOD, rest=Outcome.METHOD), kwargs=BOB_NEXT_PART),
    Case("bidding_api:receipt_json", "bob's bid", "get",
         outcomes(ok=("bob",), not_found=SIGNED_IN, anonymous=Outcome.DENIED), kwargs=BOB_BID,
         content=_receipt_issued, secrets=_bid_secrets, foreign={"bob": CAROL_BID}),
    Case("bidding_api:receipt_pdf", "bob's bid", "get",
         outcomes(ok=("bob",), not_found=SIGNED_IN, anonymous=Outcome.DENIED), kwargs=BOB_BID,
         content=_receipt_pdf, secrets=_bid_secrets, foreign={"bob": CAROL_BID}),
    # Anyone may verify a receipt: the platform's receipt public key needs no sign-in.
    Case("bidding_api:receipt_key", "", "get", outcomes(ok=EVERYONE), content=_receipt_key_published),
    # --- bid security (投标保证金): finance all; the lot's agent its agency's lots once unsealed; bidders their own ---
    Case("finance:security_queue", "a refund due", "get", outcomes(ok=SECURITY_FINANCE), kwargs=_security_due_world,
         content=_security_due_listed, secrets=_security_secrets),
    Case("finance:security_batch_create", "a refund due", "post", outcomes(ok=SECURITY_FINANCE),
         kwargs=_security_due_world,
         data=lambda w: {"payment": [str(SecurityPayment.objects.get(payer_account=SECURITY_ACCOUNT).pk)]},
         effect=_security_batched, audited=True),
    Case("finance:security_batch_create", "", "get", post_only()),
    Case("finance:security_batch", "in batch", "get", outcomes(ok=SECURITY_FINANCE), kwargs=SECURITY_BATCH,
         content=_security_batch_shown, secrets=_security_secrets),
    Case("finance:security_batch_file", "csv", "get", outcomes(ok=SECURITY_FINANCE),
         kwargs=lambda w: {"pk": _security_batch(w).pk, "fmt": "csv"}, content=_security_batch_file,
         secrets=_security_secrets),
    Case("finance:security_batch_file", "xlsx", "get", outcomes(ok=SECURITY_FINANCE),
         kwargs=lambda w: {"pk": _security_batch(w).pk, "fmt": "xlsx"}, secrets=_security_secrets),
    Case("finance:security_batch_paid", "in batch", "post", outcomes(ok=SECURITY_FINANCE), kwargs=SECURITY_BATCH,
         data=_security_paid_post, effect=_security_refunds("paid"), audited=True),
    Case("finance:security_batch_paid", "in batch", "get", post_only(), kwargs=SECURITY_BATCH),
    Case("finance:security_batch_release", "in batch", "post", outcomes(ok=SECURITY_FINANCE),
         kwargs=SECURITY_BATCH, data=lambda w: {"reason": "银行退回批量文件"}, effect=_security_refunds("released"),
         audited=True),
    Case("finance:security_batch_release", "in batch", "get", post_only(), kwargs=SECURITY_BATCH),
    Case("finance:security_refund_paid", "a refund due", "post", outcomes(ok=SECURITY_FINANCE),
         kwargs=SECURITY_DUE_PAYMENT, data=_security_paid_post, effect=_security_refunds("paid"), audited=True),
    Case("finance:security_refund_paid", "a refund due", "get", post_only(), kwargs=SECURITY_DUE_PAYMENT),
    Case("finance:security_payment_create", "", "get", outcomes(ok=SECURITY_FINANCE)),
    Case("finance:security_payment_create", "", "post", outcomes(ok=SECURITY_FINANCE), data=_security_payment_post,
         effect=_security_payment_recorded(SECURITY_ACCOUNT), audited=True),
    Case("finance:security_import", "", "get", outcomes(ok=SECURITY_FINANCE)),
    Case("finance:security_import", "", "post", outcomes(ok=SECURITY_FINANCE), data=_security_statement_post,
         effect=_security_payment_recorded(SECURITY_IMPORTED_ACCOUNT), audited=True),
    Case("finance:security_import_template", "", "get", outcomes(ok=SECURITY_FINANCE)),
    # Before bidding closes a payment would tell the agent who obtained the documents (EB 21).
    Case("finance:security_lot", "paid, before the deadline", "get", outcomes(ok=SECURITY_FINANCE, not_found=("agnes",)),
         kwargs=lambda w: {"lot_id": _security_pay(w).security.lot_id}, content=_security_of_the_lot,
         secrets=_security_secrets),
    Case("finance:security_lot", "paid, after the deadline", "get",
         outcomes(ok=SECURITY_READERS, not_found=("agnes",)), kwargs=lambda w: {"lot_id": _security_pay(w).security.lot_id},
         after_deadline=True, content=_security_of_the_lot, secrets=_security_secrets, foreign={"alice": AGNES_LOT}),
    Case("finance:security_contract", "awarded", "get", agent_only(), kwargs=_security_awarded_lot,
         foreign={"alice": AGNES_LOT}),
    Case("finance:security_contract", "awarded", "post", agent_only(), kwargs=_security_awarded_lot,
         data=lambda w: {"signed_on": str(timezone.localdate())}, effect=_security_contract_recorded, audited=True,
         foreign={"alice": AGNES_LOT}),
    Case("finance:security_forfeit", "revoked at the opening", "get",
         outcomes(ok=SECURITY_READERS, not_found=("agnes",)), kwargs=SECURITY_REVOKED, after_deadline=True,
         secrets=_security_secrets, foreign={"alice": _security_elsewhere}),
    Case("finance:security_forfeit", "revoked at the opening", "post",
         outcomes(ok=SECURITY_READERS, not_found=("agnes",)), kwargs=SECURITY_REVOKED, after_deadline=True,
         data=lambda w: {"reason": "投标人自身原因未能解密"}, effect=_security_forfeited, audited=True,
         foreign={"alice": _security_elsewhere}),
    # --- savings reports (节约率报表): finance and the platform administrator all lots, agents their own ---
    Case("finance:savings", "this year by category", "get", outcomes(ok=SAVINGS_VIEWERS), data=_savings_query,
         content=_savings_scope_shown),
    Case("finance:savings_lots", "this year's total", "get", outcomes(ok=SAVINGS_VIEWERS), data=_savings_query,
         content=_savings_scope_shown),
    Case("finance:savings_export", "csv", "get", outcomes(ok=SAVINGS_VIEWERS), kwargs=lambda w: {"fmt": "csv"},
         data=_savings_query, content=_savings_file(b"\xef\xbb\xbf")),
    Case("finance:savings_export", "xlsx", "get", outcomes(ok=SAVINGS_VIEWERS), kwargs=lambda w: {"fmt": "xlsx"},
         data=_savings_query, content=_savings_file(b"PK")),
    Case("finance:savings_export", "pdf", "get", outcomes(ok=SAVINGS_VIEWERS), kwargs=lambda w: {"fmt": "pdf"},
         data=_savings_query, content=_savings_file(b"%PDF")),
    Case("finance:savings_lots_export", "csv", "get", outcomes(ok=SAVINGS_VIEWERS),
         kwargs=lambda w: {"fmt": "csv"}, data=_savings_query, content=_savings_file(b"\xef\xbb\xbf")),
    Case("finance:savings_lots_export", "xlsx", "get", outcomes(ok=SAVINGS_VIEWERS),
         kwargs=lambda w: {"fmt": "xlsx"}, data=_savings_query, content=_savings_file(b"PK")),
    # --- remote evaluation (远程异地评标): the committee in its workspace only; the agent edits the scheme
    # until the deadline and starts; those managing the tender follow by seat, names for supervisors (ER 8) ---
    Case("evaluation:index", "", "get", outcomes(ok=("alice", "agnes", "terry", "sam", "pat", "eve"))),
    Case("evaluation:scheme", "published", "get", outcomes(ok=EVERYONE), kwargs=LOT),
    Case("evaluation:scheme", "draft", "get", outcomes(not_found=EVERYONE), kwargs=DRAFT_LOT_ID),
    Case("evaluation:scheme_edit", "published, before the deadline", "get", agent_only(), kwargs=LOT,
         foreign={"alice": AGNES_LOT}),
    Case("evaluation:scheme_edit", "published, before the deadline", "post", agent_only(), kwargs=LOT,
         data=_evaluation_scheme_post, effect=_evaluation_scheme_saved, audited=True, foreign={"alice": AGNES_LOT}),
    Case("evaluation:start", "opened, panel complete", "post", outcomes(ok=("alice",), not_found=SIGNED_IN),
         kwargs=_evaluation_lot(_evaluation_ready), effect=_evaluation_was_started, audited=True,
         foreign={"alice": AGNES_LOT}),
    Case("evaluation:start", "", "get", post_only(), kwargs=LOT),
    Case("evaluation:lot", "started", "get", outcomes(ok=MANAGERS, not_found=SIGNED_IN), kwargs=EVALUATION_STARTED,
         content=_evaluation_names_only_for_watchers, secrets=_evaluation_names, foreign=MANAGERS_ELSEWHERE_LOT),
    Case("evaluation:workspace", "started", "get", outcomes(ok=EVALUATION_MEMBERS, not_found=SIGNED_IN),
         kwargs=EVALUATION_STARTED, content=_evaluation_bids_shown, secrets=_evaluation_names,
         foreign=EVALUATION_EVE_ELSEWHERE),
    Case("evaluation:sign_in", "started", "post", outcomes(ok=EVALUATION_MEMBERS, not_found=SIGNED_IN),
         kwargs=EVALUATION_STARTED, data=lambda w: {"no_conflict": "on"}, effect=_evaluation_eve_signed_in,
         audited=True, foreign=EVALUATION_EVE_ELSEWHERE),
    Case("evaluation:sign_in", "", "get", post_only(), kwargs=LOT),
    Case("evaluation:vote", "signed in", "post", outcomes(ok=EVALUATION_MEMBERS, not_found=SIGNED_IN),
         kwargs=EVALUATION_SIGNED_IN, data=lambda w: {"candidate": "1"}, effect=_evaluation_eve_voted, audited=True),
    Case("evaluation:extension", "signed in", "post", outcomes(ok=EVALUATION_MEMBERS, not_found=SIGNED_IN),
         kwargs=EVALUATION_SIGNED_IN, data=lambda w: {"reason": "技术标内容较多，时间不够"},
         effect=_evaluation_eve_asked_for_time, audited=True),
    Case("evaluation:sheet", "scoring", "get", outcomes(ok=EVALUATION_MEMBERS, not_found=SIGNED_IN),
         kwargs=EVALUATION_ELECTED, foreign=EVALUATION_EVE_ELSEWHERE),
    Case("evaluation:sheet", "scoring", "post", outcomes(ok=EVALUATION_MEMBERS, not_found=SIGNED_IN),
         kwargs=EVALUATION_ELECTED, data=_evaluation_score_post, effect=_evaluation_eve_scored, audited=True),
    Case("evaluation:bid", "started", "get", outcomes(ok=EVALUATION_MEMBERS, not_found=SIGNED_IN),
         kwargs=_evaluation_bid(_evaluation_started, foreign=True), content=_evaluation_bids_shown,
         foreign=EVALUATION_BID_ELSEWHERE),
    Case("evaluation:bid_file", "started", "get", outcomes(ok=EVALUATION_MEMBERS, not_found=SIGNED_IN),
         kwargs=_evaluation_bid(_evaluation_started, index=0), content=_evaluation_file),
    # The chair (eve) records the committee's rejections; the other members and everyone else cannot.
    Case("evaluation:reject", "scoring, eve chairs", "post", outcomes(ok=EVALUATION_MEMBERS, not_found=SIGNED_IN),
         kwargs=_evaluation_bid(_evaluation_elected, foreign=True),
         data=lambda w: {"reason": "投标文件未按招标文件要求签章"},
         effect=_evaluation_bob_rejected, audited=True, foreign=EVALUATION_BID_ELSEWHERE),
    Case("evaluation:reinstate", "scoring, rejected", "post", outcomes(ok=EVALUATION_MEMBERS, not_found=SIGNED_IN),
         kwargs=_evaluation_rejected_world, effect=_evaluation_bob_reinstated, audited=True),
    Case("evaluation:report_draft", "reviewing", "post", outcomes(ok=EVALUATION_MEMBERS, not_found=SIGNED_IN),
         kwargs=_evaluation_lot(_evaluation_reviewing), effect=_evaluation_drafted, audited=True),
    Case("evaluation:report_discard", "signing", "post", outcomes(ok=EVALUATION_MEMBERS, not_found=SIGNED_IN),
         kwargs=_evaluation_lot(_evaluation_signing), data=lambda w: {"reason": "需复核"},
         effect=_evaluation_discarded, audited=True),
    # The report: the committee while it is signed; once final, those managing the tender too — never a bidder.
    Case("evaluation:report", "final", "get", outcomes(ok=EVALUATION_READERS, not_found=SIGNED_IN),
         kwargs=_evaluation_lot(_evaluation_final), content=_evaluation_report_shown, secrets=_evaluation_names),
    # Its files while it is signed (the final report's readers are the row above's; tests/evaluation checks them).
    Case("evaluation:report_json", "signing", "get", outcomes(ok=EVALUATION_MEMBERS, not_found=SIGNED_IN),
         kwargs=_evaluation_lot(_evaluation_signing), content=_evaluation_report_json, secrets=_evaluation_names),
    Case("evaluation:report_pdf", "signing", "get", outcomes(ok=EVALUATION_MEMBERS, not_found=SIGNED_IN),
         kwargs=_evaluation_lot(_evaluation_signing), content=_receipt_pdf),
    Case("evaluation:report_sign", "signing", "post",
         outcomes(ok=EVALUATION_MEMBERS, not_found=SIGNED_IN, anonymous=Outcome.DENIED),
         kwargs=_evaluation_lot(_evaluation_signing), body=_evaluation_sign_body, effect=_evaluation_eve_signed,
         audited=True),
    Case("evaluation:report_sign", "", "get", outcomes(anonymous=Outcome.METHOD, rest=Outcome.METHOD), kwargs=LOT),
    # Experts register their signing keys; nobody else has one.
    Case("evaluation:signing_key", "", "post", outcomes(ok=EVALUATION_MEMBERS, anonymous=Outcome.DENIED),
         body=_evaluation_key_body, effect=_evaluation_key_registered, audited=True),
    Case("evaluation:signing_key", "", "get", outcomes(anonymous=Outcome.METHOD, rest=Outcome.METHOD)),
    # --- candidate publicity and award (中标候选人公示与定标): the lot's agent publishes, answers and announces;
    # those managing the tender follow; bob's organisation (the only bidder) objects and gets its letter ---
    Case("award:index", "", "get", outcomes(ok=AWARD_BIDDER_ROLES)),
    Case("award:lot", "publicity open", "get", outcomes(ok=MANAGERS, not_found=SIGNED_IN),
         kwargs=_award_lot(_award_open), content=_award_candidate_shown, foreign=AWARD_MANAGERS_ELSEWHERE),
    Case("award:publish", "report final", "get", agent_only(), kwargs=_award_lot(_award_final),
         content=_award_candidate_shown, foreign=AWARD_AGENT_ELSEWHERE),
    Case("award:publish", "report final", "post", agent_only(), kwargs=_award_lot(_award_final),
         data=_award_publish_post, effect=_award_published, audited=True, foreign=AWARD_AGENT_ELSEWHERE),
    Case("award:announce", "window closed", "get", agent_only(), kwargs=_award_lot(_award_closed),
         content=_award_candidate_shown, foreign=AWARD_AGENT_ELSEWHERE),
    Case("award:announce", "window closed", "post", agent_only(), kwargs=_award_lot(_award_closed),
         data=lambda w: {"winner_rank": "1", "reason": "", "note": ""}, effect=_award_result_announced, audited=True,
         foreign=AWARD_AGENT_ELSEWHERE),
    Case("award:objection", "bob's objection", "get", outcomes(ok=(*MANAGERS, "bob"), not_found=SIGNED_IN),
         kwargs=_award_objection, content=_award_objection_shown, secrets=_award_objection_secret),
    Case("award:objection_file", "bob's objection", "get", outcomes(ok=(*MANAGERS, "bob"), not_found=SIGNED_IN),
         kwargs=_award_objection, content=_award_attachment),
    Case("award:answer", "bob's objection", "get", outcomes(ok=("alice",), not_found=SIGNED_IN),
         kwargs=_award_objection, content=_award_objection_shown, secrets=_award_objection_secret),
    Case("award:answer", "bob's objection", "post", outcomes(ok=("alice",), not_found=SIGNED_IN),
         kwargs=_award_objection, data=lambda w: {"outcome": "maintained", "disqualified_rank": "", "answer": "异议不成立"},
         effect=_award_answered, audited=True),
    Case("award:bidder_lot", "publicity open", "get", outcomes(ok=("bob",), not_found=SIGNED_IN),
         kwargs=_award_lot(_award_open), content=_award_candidate_shown, foreign=AWARD_BOB_ELSEWHERE),
    Case("award:object", "publicity open", "get", outcomes(ok=("bob",), not_found=SIGNED_IN),
         kwargs=_award_lot(_award_open), foreign=AWARD_BOB_ELSEWHERE),
    Case("award:object", "publicity open", "post", outcomes(ok=("bob",), not_found=SIGNED_IN),
         kwargs=_award_lot(_award_open), data=lambda w: {"text": "评标结果有误"}, effect=_award_objection_filed,
         audited=True, foreign=AWARD_BOB_ELSEWHERE),
    # The letters: the recipient, the lot's agents, its tenderer and supervisors (not the platform's administrators).
    Case("award:letter_pdf", "bob's award notice", "get", outcomes(ok=AWARD_LETTER_READERS, not_found=SIGNED_IN),
         kwargs=_award_letter, content=_receipt_pdf),
    Case("award:letter_json", "bob's award notice", "get", outcomes(ok=AWARD_LETTER_READERS, not_found=SIGNED_IN),
         kwargs=_award_letter, content=_award_letter_json),
    # The portal: public.
    Case("award:portal_publicities", "", "get", outcomes(ok=EVERYONE)),
    Case("award:portal_publicity", "open", "get", outcomes(ok=EVERYONE), kwargs=_award_publicity,
         content=_award_candidate_shown),
    Case("award:portal_result", "announced", "get", outcomes(ok=EVERYONE), kwargs=_award_lot(_award_announced),
         content=_award_candidate_shown),
    # --- complaints (投诉, TR 60–61): bob's organisation files and withdraws; sam's authority, the one the
    # complaint went to, handles it; alice's agency and terry's tenderer read it once accepted, and alice's agency
    # answers statement requests. Sven, a supervisor of another authority, is asked on these rows too ---
    Case("complaints:index", "bob's complaint, not accepted", "get",
         outcomes(ok=COMPLAINT_ROLES, people=WITH_OTHER_AUTHORITY), kwargs=_complaint_world,
         content=_complaint_listed),
    Case("complaints:index", "", "post", _complaint_post_only()),
    # Only a bidder whose organisation obtained the documents or bid may complain (TR 60); other bidders find no
    # such tender, the other roles are refused.
    Case("complaints:new", "published, obtained by bob's organisation", "get",
         outcomes(ok=("bob",), not_found=("carol", "dave"), people=WITH_OTHER_AUTHORITY),
         kwargs=lambda w: {"tender_id": w.published.pk}, content=_complaint_form,
         foreign={"bob": lambda w: {"tender_id": w.agnes_published.pk}}),
    Case("complaints:new", "published, obtained by bob's organisation", "post",
         outcomes(ok=("bob",), not_found=("carol", "dave"), people=WITH_OTHER_AUTHORITY),
         kwargs=lambda w: {"tender_id": w.published.pk}, data=_complaint_new_post, effect=_complaint_filed,
         audited=True, foreign={"bob": lambda w: {"tender_id": w.agnes_published.pk}}),
    Case("complaints:detail", "not accepted", "get", _complaint_outcomes(ok=("bob", "sam")), kwargs=PENDING_COMPLAINT,
         content=_complaint_shown, secrets=_complaint_secrets, foreign=_complaint_elsewhere_for("bob", "sam")),
    Case("complaints:detail", "accepted, a statement answered", "get", _complaint_outcomes(ok=COMPLAINT_PARTIES),
         kwargs=ANSWERED_COMPLAINT, content=_statement_for_the_parties, secrets=_complaint_secrets,
         foreign=_complaint_elsewhere_for(*COMPLAINT_PARTIES)),
    Case("complaints:detail", "not accepted", "post", _complaint_post_only(), kwargs=PENDING_COMPLAINT),
    # The authority's steps: its supervisors; the complainant sees the complaint but may not take them.
    Case("complaints:accept", "not accepted", "post", _complaint_outcomes(ok=("sam",), denied=("bob",)),
         kwargs=PENDING_COMPLAINT, effect=_complaint_now(ComplaintStatus.ACCEPTED, reviewed_by="sam"), audited=True,
         secrets=_complaint_secrets, foreign=_complaint_elsewhere_for("sam")),
    Case("complaints:accept", "not accepted", "get", _complaint_post_only(), kwargs=PENDING_COMPLAINT),
    Case("complaints:not_accept", "not accepted", "post", _complaint_outcomes(ok=("sam",), denied=("bob",)),
         kwargs=PENDING_COMPLAINT, data=lambda w: {"reason": COMPLAINT_REASON},
         effect=_complaint_now(ComplaintStatus.NOT_ACCEPTED, not_accepted_reason=COMPLAINT_REASON, reviewed_by="sam"),
         audited=True, secrets=_complaint_secrets, foreign=_complaint_elsewhere_for("sam")),
    Case("complaints:not_accept", "not accepted", "get", _complaint_post_only(), kwargs=PENDING_COMPLAINT),
    # Once accepted the agency and the tenderer see the complaint too, and are refused the authority's steps.
    Case("complaints:suspend", "accepted", "post", _complaint_outcomes(ok=("sam",), denied=COMPLAINT_PARTIES),
         kwargs=ACCEPTED_COMPLAINT, data=lambda w: {"reason": COMPLAINT_REASON}, effect=_complaint_suspended,
         audited=True, secrets=_complaint_secrets, foreign=_complaint_elsewhere_for("sam")),
    Case("complaints:suspend", "accepted", "get", _complaint_post_only(), kwargs=ACCEPTED_COMPLAINT),
    Case("complaints:lift", "accepted, suspended", "post", _complaint_outcomes(ok=("sam",), denied=COMPLAINT_PARTIES),
         kwargs=SUSPENDED_COMPLAINT, data=lambda w: {"reason": COMPLAINT_REASON}, effect=_complaint_lifted,
         audited=True, secrets=_complaint_secrets, foreign=_complaint_elsewhere_for("sam")),
    Case("complaints:lift", "accepted, suspended", "get", _complaint_post_only(), kwargs=SUSPENDED_COMPLAINT),
    Case("complaints:statement_request", "accepted", "post",
         _complaint_outcomes(ok=("sam",), denied=COMPLAINT_PARTIES), kwargs=ACCEPTED_COMPLAINT,
         data=lambda w: {"questions": COMPLAINT_NEW_QUESTIONS, "due_on": str(timezone.localdate() + dt.timedelta(days=5))},
         effect=_statement_requested, audited=True, secrets=_complaint_secrets, foreign=_complaint_elsewhere_for("sam")),
    Case("complaints:statement_request", "accepted", "get", _complaint_post_only(), kwargs=ACCEPTED_COMPLAINT),
    Case("complaints:decide", "accepted", "post", _complaint_outcomes(ok=("sam",), denied=COMPLAINT_PARTIES),
         kwargs=ACCEPTED_COMPLAINT, data=lambda w: {"outcome": "dismissed", "decision": COMPLAINT_DECISION},
         effect=_complaint_now(ComplaintStatus.DECIDED, outcome="dismissed", decision=COMPLAINT_DECISION,
                               decided_by="sam"),
         audited=True, secrets=_complaint_secrets, foreign=_complaint_elsewhere_for("sam")),
    Case("complaints:decide", "accepted", "get", _complaint_post_only(), kwargs=ACCEPTED_COMPLAINT),
    # The complainant withdraws; whoever else sees the complaint is refused.
    Case("complaints:withdraw", "not accepted", "post", _complaint_outcomes(ok=("bob",), denied=("sam",)),
         kwargs=PENDING_COMPLAINT, data=lambda w: {"reason": COMPLAINT_REASON},
         effect=_complaint_now(ComplaintStatus.WITHDRAWN, withdraw_reason=COMPLAINT_REASON, withdrawn_by="bob"),
         audited=True, secrets=_complaint_secrets, foreign=_complaint_elsewhere_for("bob")),
    Case("complaints:withdraw", "accepted", "post", _complaint_outcomes(ok=("bob",), denied=COMPLAINT_PARTIES),
         kwargs=ACCEPTED_COMPLAINT, data=lambda w: {"reason": COMPLAINT_REASON},
         effect=_complaint_now(ComplaintStatus.WITHDRAWN, withdraw_reason=COMPLAINT_REASON, withdrawn_by="bob"),
         audited=True, secrets=_complaint_secrets, foreign=_complaint_elsewhere_for("bob")),
    Case("complaints:withdraw", "not accepted", "get", _complaint_post_only(), kwargs=PENDING_COMPLAINT),
    # A statement request is answered by the tender's agency: to anyone else (the authority, the tenderer,
    # the complainant included) there is no request to answer.
    Case("complaints:statement_answer", "requested", "post", _complaint_outcomes(ok=("alice",)),
         kwargs=COMPLAINT_STATEMENT, data=lambda w: {"answer": COMPLAINT_NEW_ANSWER}, effect=_statement_answered,
         audited=True, secrets=_statement_secrets, foreign={"alice": STATEMENT_ELSEWHERE}),
    Case("complaints:statement_answer", "requested", "get", _complaint_post_only(), kwargs=COMPLAINT_STATEMENT),
    # Files: the evidence to whoever sees the complaint; a statement's file to the authority and the respondent.
    Case("complaints:attachment", "bob's evidence, not accepted", "get", _complaint_outcomes(ok=("bob", "sam")),
         kwargs=PENDING_EVIDENCE, content=_complaint_file(COMPLAINT_EVIDENCE),
         foreign=_complaint_elsewhere_for("bob", "sam", getter=EVIDENCE_ELSEWHERE)),
    Case("complaints:attachment", "bob's evidence, accepted", "get", _complaint_outcomes(ok=COMPLAINT_PARTIES),
         kwargs=ACCEPTED_EVIDENCE, content=_complaint_file(COMPLAINT_EVIDENCE),
         foreign=_complaint_elsewhere_for(*COMPLAINT_PARTIES, getter=EVIDENCE_ELSEWHERE)),
    Case("complaints:attachment", "alice's statement file", "get", _complaint_outcomes(ok=("sam", "alice", "terry")),
         kwargs=STATEMENT_ATTACHMENT, content=_complaint_file(COMPLAINT_STATEMENT_FILE),
         foreign=_complaint_elsewhere_for("sam", "alice", "terry", getter=EVIDENCE_ELSEWHERE)),
    Case("complaints:attachment", "bob's evidence, not accepted", "post", _complaint_post_only(),
         kwargs=PENDING_EVIDENCE),
    # --- Django's admin site: platform administrators only ---------------------------------------
    Case("admin", "index", "get", outcomes(ok=("pat",)), path=lambda w: reverse("admin:index"),
         follow=True),
    Case("admin", "user list", "get", outcomes(ok=("pat",)),
         path=lambda w: reverse("admin:accounts_user_changelist"), follow=True),
    Case("admin", "bidder's user page", "get", outcomes(ok=("pat",)),
         path=lambda w: reverse("admin:accounts_user_change", args=[w.people["bob"].pk]),
         follow=True),
    Case("admin", "register an organisation", "post", outcomes(ok=("pat",)),
         path=lambda w: reverse("admin:accounts_organisation_add"), data=_admin_org_post,
         effect=_organisation_registered, audited=True, follow=True),
]


def _route_keys(name: str) -> dict[str, str]:
    """The route's parameters, each with its converter (``str``, Django's default, where the route names none)."""
    return {key: converter or "str" for converter, key in re.findall(r"<(?:(\w+):)?(\w+)>", _route_of(name))}


def _route_of(name: str) -> str:
    # A name no longer in the URL conf is reported by the coverage test, not here.
    return _url_names().get(name, "")


def _url_names() -> dict[str, str]:
    """Every named URL of the project as ``namespace:name`` → route, minus the exclusions."""
    found: dict[str, str] = {}
    unnamed: list[str] = []

    def walk(patterns: list[Any], namespace: str, prefix: str) -> None:
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                inner = namespace
                if pattern.namespace:
                    inner = f"{namespace}:{pattern.namespace}" if namespace else pattern.namespace
                if inner.split(":")[0] in EXCLUDED_URL_NAMESPACES:
                    continue
                walk(pattern.url_patterns, inner, prefix + str(pattern.pattern))
            elif isinstance(pattern, URLPattern):
                route = prefix + str(pattern.pattern)
                if not pattern.name:
                    unnamed.append(route)
                    continue
                full = f"{namespace}:{pattern.name}" if namespace else pattern.name
                if full not in EXCLUDED_URL_NAMES:
                    found[full] = route

    walk(get_resolver().url_patterns, "", "/")
    assert not unnamed, f"URL patterns without a name cannot be in the matrix: {unnamed}"
    return found


# --- running one request --------------------------------------------------------------------------


def _login_path() -> str:
    return resolve_url(settings.LOGIN_URL)


def _is_login_redirect(response: HttpResponse) -> bool:
    if response.status_code not in (301, 302, 303, 307, 308):
        return False
    return urlparse(response["Location"]).path == _login_path()


class WriteRecorder:
    """The SQL writes a request issues, bar what signing in writes (sessions, lockouts).

    A request that issues no INSERT, UPDATE or DELETE cannot have changed the
    database: for GETs and refusals (most of the matrix) this replaces reading
    every table before and after, which cost most of the suite's time. It is
    stricter, too: a write later rolled back is caught as well.
    """

    STATEMENT = re.compile(
        r'^\s*(?:INSERT\s+(?:OR\s+\w+\s+)?INTO|REPLACE\s+INTO|UPDATE|DELETE\s+FROM)\s+"?(\w+)"?', re.IGNORECASE
    )

    def __init__(self) -> None:
        self.writes: list[str] = []
        self.ignored = {
            model._meta.db_table for model in apps.get_models() if model._meta.app_label in SIGN_IN_APPS
        }

    # On PostgreSQL the audit chain is appended by a function (audit migration 0005).
    FUNCTIONS = re.compile(r"\bFROM\s+sunbid_audit_(?:append|claim)\(", re.IGNORECASE)

    def __call__(self, execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any) -> Any:
        match = self.STATEMENT.match(sql)
        if (match and match.group(1) not in self.ignored) or self.FUNCTIONS.search(sql):
            self.writes.append(sql)
        return execute(sql, params, many, context)


def _send(
    case: Case, world: World, person: str, kwargs: dict[str, Any], recorder: WriteRecorder | None = None
) -> tuple[Client, HttpResponse]:
    url = case.path(world) if case.path else reverse(case.name, kwargs=kwargs)
    data = case.data(world) if case.data else {}
    client = Client()
    if person != ANONYMOUS:
        client.force_login(world.people[person])
    watching = connection.execute_wrapper(recorder) if recorder is not None else contextlib.nullcontext()
    with watching:
        return client, _issue(case, world, person, client, url, data)


def _issue(
    case: Case, world: World, person: str, client: Client, url: str, data: Any
) -> HttpResponse:
    if case.body is not None:
        raw = case.body(world, person)
        send_raw = client.put if case.method == "put" else client.post
        return send_raw(url, raw.content, content_type=raw.content_type, headers=raw.headers, follow=case.follow)
    if case.method == "delete":
        return client.delete(url, follow=case.follow)
    send = client.post if case.method == "post" else client.get
    return send(url, data, follow=case.follow)


def _request(
    case: Case, world: World, person: str, kwargs: dict[str, Any], at: dt.datetime | None,
    recorder: WriteRecorder | None = None,
) -> tuple[Client, HttpResponse]:
    if at is None:
        return _send(case, world, person, kwargs, recorder)
    # Signed in at the later time too: a session from now would have expired by then.
    with time_machine.travel(at, tick=False):
        return _send(case, world, person, kwargs, recorder)


def _assert_outcome(expected: Outcome, response: HttpResponse, *, follow: bool) -> None:
    status = response.status_code
    if follow:
        chain = [urlparse(url).path for url, _ in response.redirect_chain]
        sent_to_login = _login_path() in chain
    else:
        sent_to_login = _is_login_redirect(response)
    if expected is Outcome.OK:
        assert 200 <= status < 400 and not sent_to_login, f"expected allowed, got {status}"
    elif expected is Outcome.LOGIN:
        assert sent_to_login, f"expected a redirect to sign in, got {status}"
        if not follow:
            assert parse_qs(urlparse(response["Location"]).query).get("next"), "sign-in without next"
    elif expected is Outcome.DENIED:
        assert status in (403, 404), f"expected 403 or 404, got {status}"
    elif expected is Outcome.NOT_FOUND:
        assert status == 404, f"expected 404, got {status}"
    else:
        assert status == 405, f"expected 405, got {status}"


def _check(
    case: Case, world: World, person: str, kwargs: dict[str, Any], expected: Outcome,
    *, secrets: tuple[str, ...] = (),
) -> HttpResponse:
    at = world.published.lots.get().bid_deadline + dt.timedelta(hours=1) if case.after_deadline else None
    if expected is Outcome.OK and case.method != "get":
        # An allowed action: its effect is read off every table before and after.
        before = fingerprint()
        client, response = _request(case, world, person, kwargs, at)
        after = fingerprint()
        _assert_outcome(expected, response, follow=case.follow)
        if case.effect is None:
            assert after == before, "a read-only POST changed the database"
        else:
            case.effect(Done(world, person, client, kwargs, before, after))
            if case.audited:
                assert len(after[AUDIT]) > len(before[AUDIT]), "an allowed action left no audit record"
    else:
        # A GET changes nothing for anyone; a refused POST changes nothing and audits nothing.
        recorder = WriteRecorder()
        client, response = _request(case, world, person, kwargs, at, recorder)
        _assert_outcome(expected, response, follow=case.follow)
        assert not recorder.writes, f"the request wrote to the database: {recorder.writes}"
    if expected is not Outcome.OK:
        body = response.content.decode()
        for secret in secrets:
            assert secret not in body, f"a refusal showed what it refused: {secret}"
    return response


# --- the tests ---------------------------------------------------------------------------------------


def test_every_url_of_the_project_is_in_the_matrix():
    urls = _url_names()
    covered = {case.name for case in CASES if case.path is None}
    assert not set(urls) - covered, f"views without a permission matrix entry: {sorted(set(urls) - covered)}"
    assert not covered - set(urls), f"matrix entries for URLs that no longer exist: {sorted(covered - set(urls))}"


def test_every_case_names_every_person_once():
    ids = [case.id for case in CASES]
    assert len(ids) == len(set(ids)), "two matrix rows with the same id"
    for case in CASES:
        assert set(case.expected) in ({*EVERYONE}, {*WITH_OTHER_AUTHORITY}), case.id
        assert case.method in ("get", "post", "put", "delete"), case.id
        assert case.body is None or (case.method in ("post", "put") and case.data is None), case.id
        assert case.method != "put" or case.body is not None, case.id
        assert set(case.foreign) <= {p for p, o in case.expected.items() if o is Outcome.OK}, case.id
        assert set(case.bugs) <= set(case.expected), case.id


def _param(case: Case, person: str) -> Any:
    """One person's request of one case; a known permission bug in the view fails, strictly, until fixed."""
    bug = case.bugs.get(person)
    marks = [pytest.mark.xfail(strict=True, reason=bug)] if bug else []
    return pytest.param(case, person, id=f"{case.id}-{person}", marks=marks)


MATRIX = [_param(case, person) for case in CASES for person in case.expected]


@pytest.mark.parametrize(("case", "person"), MATRIX)
def test_permission_matrix(case: Case, person: str, world: World):
    kwargs = case.kwargs(world)
    expected = case.expected[person]
    response = _check(case, world, person, kwargs, expected, secrets=case.secrets(world, person))
    if expected is Outcome.OK and case.content is not None:
        case.content(world, person, response)


GUESSES = [
    _param(case, person)
    for case in CASES
    if case.has_object and Outcome.METHOD not in case.expected.values()
    for person in case.expected
]


@pytest.mark.parametrize(("case", "person"), GUESSES)
def test_guessing_a_nonexistent_id_reveals_nothing(case: Case, person: str, world: World):
    """A missing object is a 404 to whoever could see a real one, and refused as before to the rest."""
    missing = {
        key: NONEXISTENT_UUID if converter == "uuid" else NONEXISTENT_ID
        for key, converter in _route_keys(case.name).items()
    }
    expected = case.expected[person]
    if expected is Outcome.OK:
        expected = Outcome.NOT_FOUND
    _check(case, world, person, missing, expected)


FOREIGN = [
    pytest.param(case, person, id=f"{case.id}-{person}")
    for case in CASES
    for person in case.foreign
]


@pytest.mark.parametrize(("case", "person"), FOREIGN)
def test_guessing_another_organisations_id_is_not_found(case: Case, person: str, world: World):
    case.kwargs(world)  # one's own objects exist too
    kwargs = case.foreign[person](world)
    secrets = (AGNES_DRAFT_TITLE, f"{AGNES_DRAFT_TITLE}.pdf", world.notifications["carol"].title)
    _check(case, world, person, kwargs, Outcome.NOT_FOUND, secrets=secrets)
