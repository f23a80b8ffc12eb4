"""Every role against every view: who is let in, who is refused, and how.

One row per (URL, variant, method) in ``CASES``; each row names, for each of
the people of ``tests/conftest.py`` and an anonymous visitor, the outcome:

- ``OK``: 2xx, or a redirect anywhere but the sign-in page;
- ``LOGIN``: a redirect to the sign-in page (anonymous visitors on login-only views);
- ``DENIED``: 403 or 404, never 200, never 500;
- ``NOT_FOUND``: exactly 404 (someone else's object must look like a missing one);
- ``METHOD``: 405 (a GET on an action that only accepts POST).

Refused requests change nothing in the database and add no audit record; a
GET changes nothing for anyone; an allowed POST that is an action changes
what it says it changes. Object views are also asked for a nonexistent id and
for an id of another agency's or organisation's object (guessing ids).

``test_every_url_of_the_project_is_in_the_matrix`` walks the URL
configuration, so a view added without a row here fails the suite.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
import time_machine
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.http import HttpResponse
from django.shortcuts import resolve_url
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

from accounts.credit_code import make as make_code
from accounts.models import Notification, Organisation, OrganisationKind, RoleGrant, User
from accounts.services import notify_users, organisation_create
from audit.models import AuditEvent
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
from tests.conftest import lot_input, tender_input

pytestmark = pytest.mark.django_db

ANONYMOUS = "anonymous"
EVERYONE = ("anonymous", "alice", "agnes", "terry", "bob", "carol", "dave", "sam", "fay", "pat", "eve")
SIGNED_IN = EVERYONE[1:]
BIDDERS = ("bob", "carol", "dave")
# Those who manage alice's published tender: its agent, its tenderer, the supervisor, the platform.
MANAGERS = ("alice", "terry", "sam", "pat")
AUDITORS = ("sam", "pat")

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
) -> dict[str, Outcome]:
    """The outcome for each person: ``ok`` first, then ``not_found``, then the defaults."""
    result = {}
    for person in EVERYONE:
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


class World:
    """The objects the matrix needs, built on first use so each test builds only its own."""

    def __init__(self, orgs: dict[str, Organisation], people: dict[str, User]) -> None:
        self.orgs = orgs
        self.people = people

    @cached_property
    def tenderer2(self) -> Organisation:
        return organisation_create(
            actor=None, name="市第二人民医院", code=make_code("91330100MA0000009"),
            kind=OrganisationKind.TENDERER,
        )

    def _tender(self, agent: str, title: str, tenderer: Organisation, publish: bool) -> Tender:
        actor = self.people[agent]
        tender = tendering.tender_create(
            actor=actor, data=tender_input(self.orgs, title=title, tenderer_id=tenderer.pk)
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
    def draft(self) -> Tender:
        return self._tender("alice", DRAFT_TITLE, self.orgs["tenderer"], publish=False)

    @cached_property
    def published(self) -> Tender:
        """Alice's published tender, whose documents bob's organisation obtained (and no one else's)."""
        tender = self._tender("alice", PUBLISHED_TITLE, self.orgs["tenderer"], publish=True)
        tendering.documents_obtain(actor=self.people["bob"], tender=tender)
        return tender

    @cached_property
    def agnes_draft(self) -> Tender:
        return self._tender("agnes", AGNES_DRAFT_TITLE, self.tenderer2, publish=False)

    @cached_property
    def agnes_published(self) -> Tender:
        """Another agency's published tender, for another tenderer; nobody obtained its documents."""
        return self._tender("agnes", AGNES_PUBLISHED_TITLE, self.tenderer2, publish=True)

    @cached_property
    def closed_lot(self) -> Lot:
        """The published tender's lot after its deadline, as the timed sweep leaves it."""
        lot = self.published.lots.get()
        tendering.lots_advance_due(now=lot.opening_time + dt.timedelta(minutes=1))
        lot.refresh_from_db()
        assert lot.status == LotStatus.OPENING
        return lot

    @cached_property
    def notifications(self) -> dict[str, Notification]:
        """One unread message for every signed-in person, each with its own title."""
        result = {}
        for name, user in self.people.items():
            (result[name],) = notify_users(
                [user], title=f"{name} 的消息", body="", url=reverse("accounts:notifications")
            )
        return result

    @cached_property
    def confidential_seq(self) -> int:
        """bob's obtaining alice's published tender: hidden from all but the platform (EB 21)."""
        return AuditEvent.objects.get(
            action="tendering.documents.obtained", tender_id=self.published.pk
        ).seq

    @cached_property
    def public_seq(self) -> int:
        """The public record just before the confidential one, so its "next" link would point to it."""
        seq = AuditEvent.objects.filter(seq__lt=self.confidential_seq).order_by("-seq").first().seq
        assert AuditEvent.objects.get(seq=seq).sensitivity == ""
        return seq

    def doc(self, tender: Tender) -> TenderDocument:
        return tender.documents.get()

    def lot(self, tender: Tender) -> Lot:
        return tender.lots.get()


@pytest.fixture
def world(orgs, people) -> World:
    return World(orgs, people)


def fingerprint() -> dict[str, Any]:
    """Everything a request could change that matters here; sign-in and sign-out records left out."""
    return {
        "organisations": list(Organisation.objects.order_by("pk").values_list("pk", "name", "is_active")),
        "users": list(User.objects.order_by("pk").values_list("pk", "is_active", "is_staff", "password")),
        "roles": list(RoleGrant.objects.order_by("pk").values_list("pk", "user_id", "role")),
        "tenders": list(
            Tender.objects.order_by("pk").values_list(
                "pk", "status", "title", "published_at", "cancelled_reason", "updated_at"
            )
        ),
        "lots": list(
            Lot.objects.order_by("pk").values_list(
                "pk", "status", "name", "bid_deadline", "opening_time", "failed_reason"
            )
        ),
        "documents": list(TenderDocument.objects.order_by("pk").values_list("pk", "tender_id", "sha256")),
        "amendments": list(Amendment.objects.order_by("pk").values_list("pk", "tender_id")),
        "obtains": list(DocumentObtain.objects.order_by("pk").values_list("tender_id", "organisation_id")),
        "notifications": list(
            Notification.objects.order_by("pk").values_list("pk", "recipient_id", "read_at")
        ),
        "audit": list(
            AuditEvent.objects.exclude(action__startswith="accounts.login")
            .exclude(action="accounts.logout")
            .order_by("seq")
            .values_list("seq", flat=True)
        ),
    }


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
        assert len(done.after["obtains"]) == len(done.before["obtains"]) + 1
        assert len(done.after["audit"]) == len(done.before["audit"]) + 1


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


def _obtainers_sealed(world: World, person: str, response: HttpResponse) -> None:
    assert not _shows(response, world.orgs["bidder_a"].name)


def _obtainers_listed(world: World, person: str, response: HttpResponse) -> None:
    assert _shows(response, world.orgs["bidder_a"].name)
    assert not _shows(response, world.orgs["bidder_b"].name)


def _confidential_link_only_for_platform(world: World, person: str, response: HttpResponse) -> None:
    link = f'href="{reverse("audit:event", args=[world.confidential_seq])}"'
    assert _shows(response, link) == (person == "pat")


def _draft_document_name_hidden(world: World, person: str, response: HttpResponse) -> None:
    assert not _shows(response, f"{DRAFT_TITLE}.pdf")


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


def _admin_org_post(world: World) -> dict[str, str]:
    return {
        "name": ADMIN_ORG_NAME,
        "credit_code": make_code("91330100MA0000010"),
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


def _all_tenders(world: World) -> dict[str, Any]:
    """Every tender built, for a list page to show or not show."""
    for tender in (world.draft, world.published, world.agnes_draft, world.agnes_published):
        assert tender.pk
    return {}


def _messages_world(world: World) -> dict[str, Any]:
    assert world.notifications
    return {}


def _audit_world(world: World) -> dict[str, Any]:
    assert world.confidential_seq
    return {}


@dataclass(frozen=True)
class Case:
    name: str  # the URL name; for Django's admin, a label (its URLs are not in the coverage check)
    variant: str
    method: str
    expected: Mapping[str, Outcome]
    kwargs: Callable[[World], dict[str, Any]] = lambda world: {}
    path: Callable[[World], str] | None = None  # for the admin, instead of reversing ``name``
    data: Callable[[World], dict[str, Any]] | None = None
    effect: Callable[[Done], None] | None = None  # what an allowed POST changed; None: nothing
    audited: bool = False  # an allowed POST adds an audit record
    content: Callable[[World, str, HttpResponse], None] | None = None  # checked on allowed responses
    secret: Callable[[World], str] | None = None  # never in a refusal's body
    # Per person allowed on the case's own object: the id of someone else's object, which must be a 404.
    foreign: Mapping[str, Callable[[World], dict[str, Any]]] = field(default_factory=dict)
    after_deadline: bool = False  # requested once bidding has closed for alice's published tender
    follow: bool = False

    @property
    def id(self) -> str:
        return f"{self.name}[{self.variant}]-{self.method}"

    @property
    def has_object(self) -> bool:
        return self.path is None and "<" in _route_of(self.name)


def _secret_title(title: str) -> Callable[[World], str]:
    return lambda world: title


ALICE_DRAFT_ELSEWHERE = {"alice": AGNES_DRAFT}
ALICE_PUBLISHED_ELSEWHERE = {"alice": AGNES_PUBLISHED}
MANAGERS_ELSEWHERE = {"alice": AGNES_PUBLISHED, "terry": AGNES_PUBLISHED}

CASES: list[Case] = [
    # --- accounts -------------------------------------------------------------------------------
    Case("accounts:dashboard", "", "get", outcomes(ok=SIGNED_IN), kwargs=_all_tenders,
         content=_drafts_only_for_their_agency),
    Case("accounts:login", "", "get", outcomes(ok=EVERYONE)),
    Case("accounts:logout", "", "post", outcomes(ok=EVERYONE), effect=_signed_out),
    Case("accounts:logout", "", "get", outcomes(anonymous=Outcome.METHOD, rest=Outcome.METHOD)),
    Case("accounts:notifications", "", "get", outcomes(ok=SIGNED_IN), kwargs=_messages_world,
         content=_own_messages_only),
    Case("accounts:notification_read", "bob's message", "post",
         outcomes(ok=("bob",), not_found=SIGNED_IN),
         kwargs=lambda w: {"pk": w.notifications["bob"].pk}, data=lambda w: {"open": "1"},
         effect=_one_message_read, secret=lambda w: w.notifications["bob"].title,
         foreign={"bob": lambda w: {"pk": w.notifications["carol"].pk}}),
    Case("accounts:notification_read", "bob's message", "get", post_only(),
         kwargs=lambda w: {"pk": w.notifications["bob"].pk}),
    Case("accounts:notifications_read_all", "", "post", outcomes(ok=SIGNED_IN),
         kwargs=_messages_world, effect=_own_messages_read),
    Case("accounts:notifications_read_all", "", "get", post_only(), kwargs=_messages_world),
    # --- the public portal ----------------------------------------------------------------------
    Case("portal:index", "", "get", outcomes(ok=EVERYONE), kwargs=_all_tenders,
         content=_portal_lists_published_not_drafts),
    Case("portal:announcements", "", "get", outcomes(ok=EVERYONE), kwargs=_all_tenders,
         content=_portal_lists_published_not_drafts),
    Case("portal:announcement", "published", "get", outcomes(ok=EVERYONE), kwargs=PUBLISHED,
         content=_published_shown),
    Case("portal:announcement", "draft", "get", outcomes(not_found=EVERYONE), kwargs=DRAFT,
         secret=_secret_title(DRAFT_TITLE)),
    Case("portal:announcement", "agnes's draft", "get", outcomes(not_found=EVERYONE),
         kwargs=AGNES_DRAFT, secret=_secret_title(AGNES_DRAFT_TITLE)),
    Case("portal:results", "", "get", outcomes(ok=EVERYONE), kwargs=_all_tenders,
         content=_no_drafts),
    Case("portal:feed", "", "get", outcomes(ok=EVERYONE), kwargs=_all_tenders,
         content=_portal_lists_published_not_drafts),
    # --- the working area: tenders --------------------------------------------------------------
    Case("tendering:tender_list", "", "get", outcomes(ok=("alice", "agnes", "terry", "sam", "pat")),
         kwargs=_all_tenders, content=_tender_list_content),
    Case("tendering:tender_create", "", "get", outcomes(ok=("alice", "agnes"))),
    Case("tendering:tender_create", "", "post", outcomes(ok=("alice", "agnes")),
         data=lambda w: _tender_post(w, CREATED_TITLE), effect=_tender_created, audited=True),
    Case("tendering:tender_detail", "draft", "get",
         outcomes(ok=("alice", "pat"), not_found=SIGNED_IN), kwargs=DRAFT,
         secret=_secret_title(DRAFT_TITLE), foreign=ALICE_DRAFT_ELSEWHERE),
    Case("tendering:tender_detail", "published", "get",
         outcomes(ok=MANAGERS, not_found=SIGNED_IN), kwargs=PUBLISHED,
         foreign=MANAGERS_ELSEWHERE),
    Case("tendering:tender_edit", "draft", "get", agent_only(), kwargs=DRAFT,
         secret=_secret_title(DRAFT_TITLE), foreign=ALICE_DRAFT_ELSEWHERE),
    Case("tendering:tender_edit", "draft", "post", agent_only(), kwargs=DRAFT,
         data=lambda w: _tender_post(w, EDITED_TITLE), effect=_draft_edited, audited=True,
         secret=_secret_title(DRAFT_TITLE), foreign=ALICE_DRAFT_ELSEWHERE),
    Case("tendering:tender_edit", "published", "get", agent_only(), kwargs=PUBLISHED,
         foreign=ALICE_PUBLISHED_ELSEWHERE),
    Case("tendering:tender_preview", "draft", "get", agent_only(), kwargs=DRAFT,
         secret=_secret_title(DRAFT_TITLE), foreign=ALICE_DRAFT_ELSEWHERE),
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
         secret=_secret_title(DRAFT_TITLE), foreign=ALICE_DRAFT_ELSEWHERE),
    Case("tendering:lot_create", "draft", "post", agent_only(), kwargs=DRAFT, data=_lot_post,
         effect=_lot_added, audited=True, foreign=ALICE_DRAFT_ELSEWHERE),
    Case("tendering:document_upload", "draft", "get", agent_only(), kwargs=DRAFT,
         secret=_secret_title(DRAFT_TITLE), foreign=ALICE_DRAFT_ELSEWHERE),
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
         secret=lambda w: w.orgs["bidder_a"].name),
    Case("tendering:obtainers", "after the deadline", "get",
         outcomes(ok=MANAGERS, not_found=SIGNED_IN), kwargs=PUBLISHED, after_deadline=True,
         content=_obtainers_listed, secret=lambda w: w.orgs["bidder_a"].name,
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
    Case("tendering:my_obtained", "", "get", outcomes(ok=BIDDERS), kwargs=_all_tenders,
         content=_obtained_content),
    # --- the audit browser ----------------------------------------------------------------------
    Case("audit:events", "", "get", outcomes(ok=AUDITORS), kwargs=_audit_world,
         content=_confidential_link_only_for_platform),
    Case("audit:event", "public record", "get", outcomes(ok=AUDITORS),
         kwargs=lambda w: {"seq": w.public_seq}, content=_confidential_link_only_for_platform),
    # Who obtained the documents stays hidden from supervisors until the deadline (EB 21).
    Case("audit:event", "confidential record", "get", outcomes(ok=("pat",), not_found=("sam",)),
         kwargs=lambda w: {"seq": w.confidential_seq}, secret=lambda w: w.orgs["bidder_a"].name),
    Case("audit:verify", "", "get", outcomes(ok=AUDITORS)),
    Case("audit:verify", "", "post", outcomes(ok=AUDITORS)),
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


def _send(case: Case, world: World, person: str, kwargs: dict[str, Any]) -> tuple[Client, HttpResponse]:
    url = case.path(world) if case.path else reverse(case.name, kwargs=kwargs)
    data = case.data(world) if case.data else {}
    client = Client()
    if person != ANONYMOUS:
        client.force_login(world.people[person])
    send = client.post if case.method == "post" else client.get
    return client, send(url, data, follow=case.follow)


def _request(case: Case, world: World, person: str, kwargs: dict[str, Any]) -> tuple[Client, HttpResponse]:
    if not case.after_deadline:
        return _send(case, world, person, kwargs)
    deadline = world.published.lots.get().bid_deadline
    # Signed in at the later time too: the session would have expired in the meantime.
    with time_machine.travel(deadline + dt.timedelta(hours=1), tick=False):
        return _send(case, world, person, kwargs)


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
    before = fingerprint()
    client, response = _request(case, world, person, kwargs)
    after = fingerprint()
    _assert_outcome(expected, response, follow=case.follow)
    if expected is Outcome.OK and case.method == "post":
        if case.effect is None:
            assert after == before, "a read-only POST changed the database"
        else:
            case.effect(Done(world, person, client, kwargs, before, after))
            if case.audited:
                assert len(after["audit"]) > len(before["audit"]), "an allowed action left no audit record"
    else:
        # A GET changes nothing for anyone; a refused POST changes nothing and audits nothing.
        assert after == before, "the database changed"
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
        assert set(case.expected) == set(EVERYONE), case.id
        assert case.method in ("get", "post"), case.id
        assert set(case.foreign) <= {p for p, o in case.expected.items() if o is Outcome.OK}, case.id


MATRIX = [pytest.param(case, person, id=f"{case.id}-{person}") for case in CASES for person in EVERYONE]


@pytest.mark.parametrize(("case", "person"), MATRIX)
def test_permission_matrix(case: Case, person: str, world: World):
    kwargs = case.kwargs(world)
    expected = case.expected[person]
    secrets = (case.secret(world),) if case.secret else ()
    response = _check(case, world, person, kwargs, expected, secrets=secrets)
    if expected is Outcome.OK and case.content is not None:
        case.content(world, person, response)


GUESSES = [
    pytest.param(case, person, id=f"{case.id}-{person}")
    for case in CASES
    if case.has_object and Outcome.METHOD not in case.expected.values()
    for person in EVERYONE
]


@pytest.mark.parametrize(("case", "person"), GUESSES)
def test_guessing_a_nonexistent_id_reveals_nothing(case: Case, person: str, world: World):
    """A missing object is a 404 to whoever could see a real one, and refused as before to the rest."""
    real = case.kwargs(world)  # the real objects exist, so the nonexistent id is the only difference
    missing = dict.fromkeys(real, NONEXISTENT_ID)
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
