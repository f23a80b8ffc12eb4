"""Obtaining the tender documents (EB 21): who may, when, and who learns about it."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from accounts.models import Role
from accounts.services import user_create
from audit.models import AuditEvent, Sensitivity
from core.errors import DomainError, NotFound, NotPermitted
from tendering import selectors, services
from tendering.models import DocumentObtain, Tender
from tests.conftest import PASSWORD, lot_input

SHANGHAI = ZoneInfo("Asia/Shanghai")
T0 = dt.datetime(2026, 3, 2, 9, 30, tzinfo=SHANGHAI)
DOC_START = T0 + dt.timedelta(days=1)
DOC_END = T0 + dt.timedelta(days=20)
DEADLINE = T0 + dt.timedelta(days=30)


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def clock(time_machine):
    time_machine.move_to(T0, tick=False)
    return time_machine


@pytest.fixture
def tender(make_draft, people) -> Tender:
    """Published at T0; documents obtainable from DOC_START (inclusive) to DOC_END (exclusive)."""
    return services.tender_publish(
        actor=people["alice"], tender=make_draft(doc_start=DOC_START, doc_end=DOC_END)
    )


@pytest.fixture
def window_open(clock):
    clock.move_to(DOC_START + dt.timedelta(days=2), tick=False)


# --- who and when ---------------------------------------------------------------------------------


def test_a_bidder_obtains_the_documents_while_the_window_is_open(tender, people, window_open):
    obtain = services.documents_obtain(actor=people["bob"], tender=tender)

    assert (obtain.tender, obtain.organisation, obtain.user) == (
        tender,
        people["bob"].organisation,
        people["bob"],
    )
    assert selectors.has_obtained(user=people["bob"], tender=tender)
    assert not selectors.has_obtained(user=people["carol"], tender=tender)


@pytest.mark.parametrize("name", ["alice", "agnes", "terry", "sam", "fay", "pat", "eve"])
def test_only_bidders_can_obtain_the_documents(name, tender, people, window_open):
    with pytest.raises(NotPermitted) as error:
        services.documents_obtain(actor=people[name], tender=tender)

    assert error.value.code == "permission.role"
    assert not DocumentObtain.objects.exists()


def test_the_documents_cannot_be_obtained_before_the_window_opens(tender, people, clock):
    clock.move_to(DOC_START - dt.timedelta(seconds=1), tick=False)

    with pytest.raises(DomainError) as error:
        services.documents_obtain(actor=people["bob"], tender=tender)

    assert error.value.code == "documents.window_closed"
    assert not DocumentObtain.objects.exists()


def test_the_documents_can_be_obtained_from_the_first_moment_of_the_window(tender, people, clock):
    clock.move_to(DOC_START, tick=False)

    services.documents_obtain(actor=people["bob"], tender=tender)

    assert DocumentObtain.objects.count() == 1


def test_the_documents_cannot_be_obtained_once_the_window_has_closed(tender, people, clock):
    clock.move_to(DOC_END, tick=False)

    with pytest.raises(DomainError) as error:
        services.documents_obtain(actor=people["bob"], tender=tender)

    assert error.value.code == "documents.window_closed"
    assert not DocumentObtain.objects.exists()


def test_the_window_of_any_lot_is_enough(make_draft, people, clock):
    draft = make_draft(doc_start=DOC_START, doc_end=DOC_END)
    services.lot_save(
        actor=people["alice"],
        tender=draft,
        data=lot_input(doc_start=DOC_START, doc_end=DEADLINE - dt.timedelta(days=1)),
    )
    tender = services.tender_publish(actor=people["alice"], tender=draft)
    clock.move_to(DOC_END + dt.timedelta(days=1), tick=False)

    services.documents_obtain(actor=people["bob"], tender=tender)

    assert DocumentObtain.objects.count() == 1


def test_the_documents_of_a_draft_cannot_be_obtained(make_draft, people):
    draft = make_draft(doc_start=T0 - dt.timedelta(hours=1))

    with pytest.raises(NotFound):
        services.documents_obtain(actor=people["bob"], tender=draft)


def test_the_documents_of_a_cancelled_tender_cannot_be_obtained(tender, people, window_open):
    services.tender_cancel(actor=people["alice"], tender=tender, reason="项目建设计划调整")

    with pytest.raises(NotFound):
        services.documents_obtain(actor=people["bob"], tender=tender)


def test_obtaining_is_idempotent_per_organisation(tender, people, orgs, window_open):
    ben = user_create(
        actor=None,
        organisation=orgs["bidder_a"],
        username="ben",
        password=PASSWORD,
        roles=[Role.BIDDER],
    )

    first = services.documents_obtain(actor=people["bob"], tender=tender)
    again = services.documents_obtain(actor=people["bob"], tender=tender)
    colleague = services.documents_obtain(actor=ben, tender=tender)

    assert first.pk == again.pk == colleague.pk
    assert colleague.user == people["bob"]
    assert DocumentObtain.objects.count() == 1
    assert AuditEvent.objects.filter(action="tendering.documents.obtained").count() == 1


def test_an_organisation_that_obtained_keeps_its_registration_after_the_window(
    tender, people, clock, window_open
):
    first = services.documents_obtain(actor=people["bob"], tender=tender)
    clock.move_to(DOC_END + dt.timedelta(days=1), tick=False)

    assert services.documents_obtain(actor=people["bob"], tender=tender).pk == first.pk


def test_the_obtain_event_stays_confidential_until_the_bid_deadline(tender, people, window_open):
    obtain = services.documents_obtain(actor=people["carol"], tender=tender)

    event = AuditEvent.objects.get(action="tendering.documents.obtained")
    assert event.sensitivity == Sensitivity.UNTIL_BID_DEADLINE
    assert (event.tender_id, event.lot_id) == (tender.pk, None)
    assert (event.object_type, event.object_id) == ("tendering.documentobtain", str(obtain.pk))
    assert event.actor_id == people["carol"].pk
    assert event.data == {
        "organisation": people["carol"].organisation.name,
        "credit_code": people["carol"].organisation.credit_code,
    }


# --- who learns who obtained them ---------------------------------------------------------------------


@pytest.fixture
def obtained(tender, people, window_open) -> Tender:
    services.documents_obtain(actor=people["bob"], tender=tender)
    services.documents_obtain(actor=people["carol"], tender=tender)
    return tender


@pytest.mark.parametrize("name", ["alice", "terry", "sam", "pat"])
def test_nobody_learns_who_obtained_the_documents_before_the_deadline(
    name, obtained, people, clock
):
    clock.move_to(DEADLINE - dt.timedelta(seconds=1), tick=False)

    with pytest.raises(NotPermitted) as error:
        selectors.tender_obtainers(user=people[name], tender=obtained)

    assert error.value.code == "documents.obtainers_sealed"


@pytest.mark.parametrize("name", ["alice", "terry", "sam", "pat"])
def test_those_managing_the_tender_see_the_obtainers_after_the_deadline(
    name, obtained, people, orgs, clock
):
    clock.move_to(DEADLINE, tick=False)

    obtainers = selectors.tender_obtainers(user=people[name], tender=obtained)

    assert [o.organisation for o in obtainers] == [orgs["bidder_a"], orgs["bidder_b"]]


def test_the_obtainers_stay_sealed_until_the_last_lots_deadline(make_draft, people, orgs, clock):
    alice = people["alice"]
    draft = make_draft()
    later = DEADLINE + dt.timedelta(days=5)
    services.lot_save(
        actor=alice, tender=draft, data=lot_input(bid_deadline=later, opening_time=later)
    )
    tender = services.tender_publish(actor=alice, tender=draft)
    services.documents_obtain(actor=people["bob"], tender=tender)
    clock.move_to(DEADLINE + dt.timedelta(days=1), tick=False)
    services.lots_advance_due()

    with pytest.raises(NotPermitted):
        selectors.tender_obtainers(user=alice, tender=tender)

    clock.move_to(later, tick=False)
    assert [o.organisation for o in selectors.tender_obtainers(user=alice, tender=tender)] == [
        orgs["bidder_a"]
    ]


def test_cancelling_the_tender_does_not_unseal_the_obtainers_before_the_deadline(
    obtained, people, orgs, clock
):
    clock.move_to(DEADLINE - dt.timedelta(days=3), tick=False)
    services.tender_cancel(actor=people["alice"], tender=obtained, reason="项目建设计划调整")

    with pytest.raises(NotPermitted):
        selectors.tender_obtainers(user=people["alice"], tender=obtained)

    clock.move_to(DEADLINE, tick=False)
    assert len(selectors.tender_obtainers(user=people["alice"], tender=obtained)) == 2


@pytest.mark.parametrize("name", ["agnes", "bob", "carol", "dave", "fay", "eve"])
def test_others_never_see_the_obtainers(name, obtained, people, clock):
    clock.move_to(DEADLINE + dt.timedelta(days=1), tick=False)

    with pytest.raises(NotFound):
        selectors.tender_obtainers(user=people[name], tender=obtained)


# --- downloading the files -------------------------------------------------------------------------


@pytest.fixture
def document(obtained):
    return obtained.documents.get()


@pytest.mark.parametrize("name", ["bob", "alice", "terry", "sam", "pat"])
def test_the_obtaining_organisation_and_those_managing_the_tender_may_download(
    name, document, people
):
    assert selectors.document_for_download(user=people[name], document_id=document.pk) == document


def test_a_colleague_in_the_obtaining_organisation_may_download(document, people, orgs):
    ben = user_create(
        actor=None,
        organisation=orgs["bidder_a"],
        username="ben",
        password=PASSWORD,
        roles=[Role.BIDDER],
    )

    assert selectors.document_for_download(user=ben, document_id=document.pk) == document


@pytest.mark.parametrize("name", ["dave", "agnes", "fay", "eve"])
def test_everyone_else_gets_not_found(name, document, people):
    with pytest.raises(NotFound):
        selectors.document_for_download(user=people[name], document_id=document.pk)


def test_a_missing_document_is_not_found(people):
    with pytest.raises(NotFound):
        selectors.document_for_download(user=people["alice"], document_id=999_999)


def test_an_amendments_attachment_follows_the_same_rule(obtained, people):
    amendment = services.amendment_publish(
        actor=people["alice"],
        tender=obtained,
        title="第1号补遗",
        body="图纸更正。",
        affects_preparation=False,
        files=[SimpleUploadedFile("图纸更正.pdf", b"%PDF-1.4 drawings", "application/pdf")],
    )
    attachment = amendment.documents.get()

    assert (
        selectors.document_for_download(user=people["carol"], document_id=attachment.pk)
        == attachment
    )
    with pytest.raises(NotFound):
        selectors.document_for_download(user=people["dave"], document_id=attachment.pk)


@pytest.mark.parametrize(
    ("name", "allowed"),
    [
        ("alice", True),
        ("pat", True),
        ("terry", False),
        ("sam", False),
        ("agnes", False),
        ("bob", False),
    ],
)
def test_a_drafts_documents_are_for_its_agency_and_the_platform_only(
    name, allowed, make_draft, people
):
    draft_document = make_draft().documents.get()

    if allowed:
        assert (
            selectors.document_for_download(user=people[name], document_id=draft_document.pk)
            == draft_document
        )
    else:
        with pytest.raises(NotFound):
            selectors.document_for_download(user=people[name], document_id=draft_document.pk)
