"""The tender lifecycle services: drafting, publishing, the lot state machine, award, failure, cancellation.

Time is frozen at ``T0`` for every test; each test moves the clock itself.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction

from accounts.models import Notification
from audit.models import AuditEvent
from core.errors import DomainError, NotFound, NotPermitted
from opening import room_services
from tendering import selectors, services
from tendering.models import Lot, LotStatus, Tender, TenderDocument, TenderStatus
from tests.bidding.support import bidding_settings  # noqa: F401 - fixture, used by name
from tests.conftest import lot_input, tender_input
from tests.opening.room_support import build_ceremony
from tests.tendering.support import force_opening

SHANGHAI = ZoneInfo("Asia/Shanghai")
T0 = dt.datetime(2026, 3, 2, 9, 30, tzinfo=SHANGHAI)
DEADLINE = T0 + dt.timedelta(days=30)  # lot_input's default deadline, with the clock at T0
OPENING = DEADLINE + dt.timedelta(hours=1)


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def clock(time_machine):
    time_machine.move_to(T0, tick=False)
    return time_machine


def pdf(
    name: str = "招标文件.pdf", content: bytes = b"%PDF-1.4 tender documents"
) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, "application/pdf")


def events(action: str):
    return AuditEvent.objects.filter(action=action).order_by("seq")


# --- drafting, each step audited with its scope ------------------------------------------------


def test_tender_create_makes_a_draft_of_the_agents_agency_and_audits_it(orgs, people):
    tender = services.tender_create(actor=people["alice"], data=tender_input(orgs))

    assert tender.status == TenderStatus.DRAFT
    assert tender.agency == orgs["agency"]
    assert tender.tenderer == orgs["tenderer"]
    assert tender.code == f"SB2026{tender.pk:06d}"
    event = events("tendering.tender.created").get()
    assert (event.tender_id, event.lot_id) == (tender.pk, None)
    assert event.actor_id == people["alice"].pk
    assert event.object_id == str(tender.pk)
    assert event.data["code"] == tender.code


def test_tender_update_changes_a_draft_and_audits_it(orgs, people):
    tender = services.tender_create(actor=people["alice"], data=tender_input(orgs))

    services.tender_update(
        actor=people["alice"],
        tender=tender,
        data=tender_input(orgs, title="  门诊楼改造工程（重新编制）  "),
    )

    tender.refresh_from_db()
    assert tender.title == "门诊楼改造工程（重新编制）"
    event = events("tendering.tender.updated").get()
    assert (event.tender_id, event.lot_id) == (tender.pk, None)


def test_lot_save_numbers_new_lots_and_audits_creation_and_change(orgs, people):
    alice = people["alice"]
    tender = services.tender_create(actor=alice, data=tender_input(orgs))

    first = services.lot_save(actor=alice, tender=tender, data=lot_input())
    second = services.lot_save(
        actor=alice, tender=tender, data=lot_input(name="住院楼改造工程施工")
    )
    services.lot_save(
        actor=alice, tender=tender, lot=first, data=lot_input(name="门诊楼改造工程施工（一期）")
    )

    assert [first.number, second.number] == [1, 2]
    assert Lot.objects.get(pk=first.pk).name == "门诊楼改造工程施工（一期）"
    created = events("tendering.lot.created")
    assert [(e.tender_id, e.lot_id) for e in created] == [
        (tender.pk, first.pk),
        (tender.pk, second.pk),
    ]
    updated = events("tendering.lot.updated").get()
    assert (updated.tender_id, updated.lot_id) == (tender.pk, first.pk)
    assert updated.data["name"] == "门诊楼改造工程施工（一期）"


def test_lot_save_refuses_a_lot_of_another_tender(orgs, people, make_draft):
    alice = people["alice"]
    other = make_draft()
    tender = services.tender_create(actor=alice, data=tender_input(orgs))

    with pytest.raises(NotFound):
        services.lot_save(
            actor=alice, tender=tender, lot=other.lots.get(), data=lot_input(name="挪用")
        )

    assert other.lots.get().name == "门诊楼改造工程施工"


def test_lot_delete_removes_a_draft_lot_and_audits_it(make_draft, people):
    tender = make_draft(lots=2)
    lot = tender.lots.get(number=2)
    lot_id = lot.pk

    services.lot_delete(actor=people["alice"], lot=lot)

    assert list(tender.lots.values_list("number", flat=True)) == [1]
    event = events("tendering.lot.deleted").get()
    assert (event.tender_id, event.lot_id) == (tender.pk, lot_id)
    assert event.data == {"number": 2, "name": "门诊楼改造工程施工"}


def test_document_upload_stores_the_file_with_its_hash_and_audits_it(orgs, people):
    tender = services.tender_create(actor=people["alice"], data=tender_input(orgs))
    content = b"%PDF-1.4 the tender documents themselves"

    document = services.document_upload(
        actor=people["alice"], tender=tender, upload=pdf(content=content)
    )

    assert document.sha256 == hashlib.sha256(content).hexdigest()
    assert document.size == len(content)
    assert document.original_name == "招标文件.pdf"
    with document.file.open("rb") as stored:
        assert stored.read() == content
    event = events("tendering.document.uploaded").get()
    assert (event.tender_id, event.lot_id) == (tender.pk, None)
    assert event.data["sha256"] == document.sha256


def test_an_empty_document_is_refused(orgs, people):
    tender = services.tender_create(actor=people["alice"], data=tender_input(orgs))

    with pytest.raises(DomainError) as error:
        services.document_upload(actor=people["alice"], tender=tender, upload=pdf(content=b""))

    assert error.value.code == "document.empty"
    assert not TenderDocument.objects.exists()


# --- publishing -----------------------------------------------------------------------------------


def test_tender_publish_publishes_the_tender_and_every_lot_and_audits_each(make_draft, people):
    tender = make_draft(lots=2)

    services.tender_publish(actor=people["alice"], tender=tender)

    tender.refresh_from_db()
    assert tender.status == TenderStatus.PUBLISHED
    assert tender.published_at == T0
    assert set(tender.lots.values_list("status", flat=True)) == {LotStatus.PUBLISHED}
    published = events("tendering.tender.published").get()
    assert (published.tender_id, published.lot_id) == (tender.pk, None)
    assert published.data["lots"] == [1, 2]
    lot_events = events("tendering.lot.published")
    assert [(e.tender_id, e.lot_id) for e in lot_events] == [
        (tender.pk, lot.pk) for lot in tender.lots.order_by("number")
    ]
    assert all(e.data["from"] == "draft" and e.data["to"] == "published" for e in lot_events)


def test_a_draft_without_lots_cannot_be_published(orgs, people):
    tender = services.tender_create(actor=people["alice"], data=tender_input(orgs))
    services.document_upload(actor=people["alice"], tender=tender, upload=pdf())

    with pytest.raises(DomainError) as error:
        services.tender_publish(actor=people["alice"], tender=tender)

    assert error.value.code == "tender.no_lots"
    assert Tender.objects.get(pk=tender.pk).status == TenderStatus.DRAFT
    assert not events("tendering.tender.published").exists()


def test_a_draft_without_a_document_cannot_be_published(make_draft, people):
    tender = make_draft(with_document=False)

    with pytest.raises(DomainError) as error:
        services.tender_publish(actor=people["alice"], tender=tender)

    assert error.value.code == "tender.no_documents"
    assert Tender.objects.get(pk=tender.pk).status == TenderStatus.DRAFT


def test_a_lot_whose_bid_deadline_has_passed_cannot_be_published(make_draft, people, clock):
    tender = make_draft()
    clock.move_to(DEADLINE, tick=False)

    with pytest.raises(DomainError) as error:
        services.tender_publish(actor=people["alice"], tender=tender)

    assert error.value.code == "lot.times_in_past"
    assert tender.lots.get().status == LotStatus.DRAFT


def test_a_lot_whose_document_window_has_closed_cannot_be_published(make_draft, people, clock):
    tender = make_draft(doc_end=T0 + dt.timedelta(days=1))
    clock.move_to(T0 + dt.timedelta(days=1), tick=False)

    with pytest.raises(DomainError) as error:
        services.tender_publish(actor=people["alice"], tender=tender)

    assert error.value.code == "lot.times_in_past"
    assert Tender.objects.get(pk=tender.pk).status == TenderStatus.DRAFT


def test_after_publishing_the_tender_and_its_lots_cannot_be_edited(published, orgs, people):
    alice = people["alice"]
    lot = published.lots.get()
    attempts: list[Callable[[], object]] = [
        lambda: services.tender_update(
            actor=alice, tender=published, data=tender_input(orgs, title="改")
        ),
        lambda: services.lot_save(actor=alice, tender=published, data=lot_input()),
        lambda: services.lot_save(
            actor=alice, tender=published, lot=lot, data=lot_input(name="改")
        ),
        lambda: services.lot_delete(actor=alice, lot=lot),
        lambda: services.document_upload(actor=alice, tender=published, upload=pdf("补充.pdf")),
        lambda: services.tender_publish(actor=alice, tender=published),
    ]
    before = AuditEvent.objects.count()

    for attempt in attempts:
        with pytest.raises(DomainError) as error:
            attempt()
        assert error.value.code == "tender.not_draft"

    assert AuditEvent.objects.count() == before
    assert published.lots.get().name == "门诊楼改造工程施工"
    assert published.documents.count() == 1


def test_a_stale_draft_object_does_not_let_a_document_into_a_published_tender(make_draft, people):
    draft = make_draft()
    services.tender_publish(actor=people["alice"], tender=Tender.objects.get(pk=draft.pk))

    assert draft.status == TenderStatus.DRAFT  # the caller's object is stale
    with pytest.raises(DomainError) as error:
        services.document_upload(actor=people["alice"], tender=draft, upload=pdf("补充.pdf"))

    assert error.value.code == "tender.not_draft"
    assert draft.documents.count() == 1


# --- the lot state machine --------------------------------------------------------------------------

ALL_STATES = list(LotStatus)
ILLEGAL_TRANSITIONS = [
    (source, target)
    for source in ALL_STATES
    for target in ALL_STATES
    if target not in services.LOT_TRANSITIONS[source]
]


def _drive(lot: Lot, state: str, *, people, orgs, clock) -> Lot:
    """Bring a draft lot (deadline DEADLINE, opening OPENING) to ``state`` through the services.

    Every state but ``opening`` is reached through the services. The timed sweep opens a
    lot only with at least three sealed bids (fewer fail it, TR 44), and these tests are
    about the state machine, not the opening: ``force_opening`` takes the sweep's audited
    transition without the room (tests/tendering/support.py). The opening itself is
    tested with real bids in test_timed_steps.py and tests/opening/.
    """
    alice = people["alice"]
    if state == LotStatus.DRAFT:
        return lot
    services.tender_publish(actor=alice, tender=lot.tender)
    if state == LotStatus.CANCELLED:
        return services.lot_cancel(actor=alice, lot=lot, reason="项目资金未落实")
    if state == LotStatus.PUBLISHED:
        return Lot.objects.get(pk=lot.pk)
    clock.move_to(DEADLINE, tick=False)
    services.lots_advance_due()
    if state == LotStatus.BIDDING_CLOSED:
        return Lot.objects.get(pk=lot.pk)
    if state == LotStatus.FAILED:
        return services.lot_fail(actor=alice, lot=lot, reason="投标人不足3家")
    clock.move_to(OPENING, tick=False)
    force_opening(lot)
    if state == LotStatus.OPENING:
        return Lot.objects.get(pk=lot.pk)
    lot = services.lot_mark_opened(actor=alice, lot=lot)
    if state == LotStatus.OPENED:
        return lot
    lot = services.lot_start_evaluation(actor=alice, lot=lot)
    if state == LotStatus.EVALUATING:
        return lot
    return services.lot_award(
        actor=alice, lot=lot, winner=orgs["bidder_a"], award_price=Decimal("11000000.00")
    )


def _force(lot: Lot, target: str) -> None:
    """The state machine's own guard, for targets no service asks for from an arbitrary state."""
    with transaction.atomic():
        locked = Lot.objects.select_for_update().get(pk=lot.pk)
        services._transition(locked, target, actor=None, action="tendering.lot.test_transition")


def _attempt(lot: Lot, target: str, *, people, orgs) -> None:
    alice = people["alice"]
    if target == LotStatus.OPENED:
        services.lot_mark_opened(actor=alice, lot=lot)
    elif target == LotStatus.EVALUATING:
        services.lot_start_evaluation(actor=alice, lot=lot)
    elif target == LotStatus.AWARDED:
        services.lot_award(
            actor=alice, lot=lot, winner=orgs["bidder_a"], award_price=Decimal("11000000.00")
        )
    elif target == LotStatus.FAILED:
        services.lot_fail(actor=alice, lot=lot, reason="投标人不足3家")
    elif target == LotStatus.CANCELLED:
        services.lot_cancel(actor=alice, lot=lot, reason="项目资金未落实")
    else:
        # draft, published, bidding_closed and opening are reached only by tender_publish
        # (which refuses non-draft tenders earlier, with tender.not_draft) and by the
        # timed sweep (which selects lots by state): exercise the guard itself.
        _force(lot, target)


@pytest.mark.parametrize(
    ("source", "target"), ILLEGAL_TRANSITIONS, ids=[f"{s}->{t}" for s, t in ILLEGAL_TRANSITIONS]
)
def test_an_illegal_lot_transition_is_refused(source, target, make_draft, people, orgs, clock):
    lot = make_draft(opening_time=OPENING).lots.get()
    lot = _drive(lot, source, people=people, orgs=orgs, clock=clock)
    assert lot.status == source
    before = AuditEvent.objects.count()

    with pytest.raises(DomainError) as error:
        _attempt(lot, target, people=people, orgs=orgs)

    assert error.value.code == "lot.illegal_transition"
    assert error.value.status == 409
    assert Lot.objects.get(pk=lot.pk).status == source
    assert AuditEvent.objects.count() == before


@pytest.mark.parametrize(
    "source", [s for s in ALL_STATES if s not in (LotStatus.PUBLISHED, LotStatus.BIDDING_CLOSED)]
)
def test_the_timed_sweep_leaves_lots_in_other_states_alone(source, make_draft, people, orgs, clock):
    lot = _drive(
        make_draft(opening_time=OPENING).lots.get(), source, people=people, orgs=orgs, clock=clock
    )
    clock.move_to(OPENING + dt.timedelta(days=1), tick=False)

    assert services.lots_advance_due() == []
    assert Lot.objects.get(pk=lot.pk).status == source


def test_a_lot_goes_from_bidding_closed_through_the_opening_and_evaluation_to_award(
    make_draft, people, orgs, clock, bidding_settings  # noqa: F811 - bidding_settings is a fixture
):
    alice = people["alice"]
    tender = services.tender_publish(actor=alice, tender=make_draft(opening_time=OPENING))
    lot = tender.lots.get()
    ceremony = build_ceremony(people, lot)  # bob, carol and dave seal and upload their bids

    clock.move_to(DEADLINE, tick=False)
    assert services.lots_advance_due() == [(lot.pk, LotStatus.BIDDING_CLOSED)]
    clock.move_to(OPENING, tick=False)
    assert services.lots_advance_due() == [(lot.pk, LotStatus.OPENING)]
    # The room runs the opening (EB 29-32): decryption, the reading, confirmation, the record.
    for name in ("bob", "carol", "dave"):
        ceremony.decrypt(name)
    ceremony.read_all()
    for name in ("bob", "carol", "dave"):
        room_services.room_confirm(actor=people[name], lot=lot, signature=ceremony.sign_confirmation(name))
    room_services.room_close(actor=alice, lot=lot)
    lot.refresh_from_db()
    assert lot.status == LotStatus.OPENED
    assert services.lot_start_evaluation(actor=alice, lot=lot).status == LotStatus.EVALUATING
    clock.move_to(OPENING + dt.timedelta(days=5), tick=False)
    lot = services.lot_award(
        actor=alice, lot=lot, winner=orgs["bidder_a"], award_price=Decimal("11650000.50")
    )

    lot.refresh_from_db()
    assert lot.status == LotStatus.AWARDED
    assert lot.winner == orgs["bidder_a"]
    assert lot.award_price == Decimal("11650000.50")
    assert lot.awarded_at == OPENING + dt.timedelta(days=5)
    lot_events = AuditEvent.objects.filter(lot_id=lot.pk).order_by("seq")
    actions = [e.action for e in lot_events]
    assert [a for a in actions if not a.startswith(("bidding.", "opening.room."))] == [
        "tendering.lot.created",
        "opening.key.created",
        "tendering.lot.published",
        "tendering.lot.bidding_closed",
        "tendering.lot.opening_started",
        "tendering.lot.opened",
        "tendering.lot.evaluation_started",
        "tendering.lot.awarded",
    ]
    # The bids arrived before bidding closed; the room opened them, read them and was
    # confirmed between the opening and "opened".
    closed_at = actions.index("tendering.lot.bidding_closed")
    assert actions[:closed_at].count("bidding.bid.submitted") == 3
    ceremony_steps = actions[actions.index("tendering.lot.opening_started") : actions.index("tendering.lot.opened")]
    assert "opening.room.opened" in ceremony_steps
    for step in ("bidding.bid.decrypted", "opening.room.read", "opening.room.confirmed"):
        assert ceremony_steps.count(step) == 3, step
    assert all(e.tender_id == tender.pk for e in lot_events)
    awarded = lot_events.last()
    assert awarded.data["award_price"] == "11650000.50"
    assert awarded.data["winner_credit_code"] == orgs["bidder_a"].credit_code


@pytest.fixture
def evaluating(make_draft, people, orgs, clock) -> Lot:
    lot = make_draft(opening_time=OPENING).lots.get()
    return _drive(lot, LotStatus.EVALUATING, people=people, orgs=orgs, clock=clock)


def test_an_award_above_the_control_price_is_refused(evaluating, people, orgs):
    with pytest.raises(DomainError) as error:
        services.lot_award(
            actor=people["alice"],
            lot=evaluating,
            winner=orgs["bidder_a"],
            award_price=Decimal("11800000.01"),
        )

    assert error.value.code == "award.over_control_price"
    assert "11,800,000.00" in error.value.message
    lot = Lot.objects.get(pk=evaluating.pk)
    assert (lot.status, lot.winner_id, lot.award_price) == (LotStatus.EVALUATING, None, None)


def test_an_award_at_exactly_the_control_price_is_accepted(evaluating, people, orgs):
    lot = services.lot_award(
        actor=people["alice"],
        lot=evaluating,
        winner=orgs["bidder_a"],
        award_price=Decimal("11800000.00"),
    )

    assert lot.status == LotStatus.AWARDED


@pytest.mark.parametrize("org", ["tenderer", "agency", "supervisor"])
def test_an_award_to_an_organisation_that_is_not_a_bidder_is_refused(org, evaluating, people, orgs):
    with pytest.raises(DomainError) as error:
        services.lot_award(
            actor=people["alice"], lot=evaluating, winner=orgs[org], award_price=Decimal("1000.00")
        )

    assert error.value.code == "award.winner"
    assert Lot.objects.get(pk=evaluating.pk).status == LotStatus.EVALUATING


def test_lot_fail_records_the_reason(make_draft, people, orgs, clock):
    lot = _drive(
        make_draft(opening_time=OPENING).lots.get(),
        LotStatus.BIDDING_CLOSED,
        people=people,
        orgs=orgs,
        clock=clock,
    )

    services.lot_fail(actor=people["alice"], lot=lot, reason="  递交投标文件的投标人少于3个  ")

    lot.refresh_from_db()
    assert lot.status == LotStatus.FAILED
    assert lot.failed_reason == "递交投标文件的投标人少于3个"
    event = events("tendering.lot.failed").get()
    assert (event.tender_id, event.lot_id, event.actor_id) == (
        lot.tender_id,
        lot.pk,
        people["alice"].pk,
    )
    assert event.data["reason"] == "递交投标文件的投标人少于3个"


def test_the_platform_can_fail_a_lot_by_itself(make_draft, people, orgs, clock):
    lot = _drive(
        make_draft(opening_time=OPENING).lots.get(), LotStatus.OPENING, people=people, orgs=orgs, clock=clock
    )

    services.lot_fail(actor=None, lot=lot, reason="投标人不足3家，不予开标")

    event = events("tendering.lot.failed").get()
    assert event.actor_id is None
    assert Lot.objects.get(pk=lot.pk).failed_reason == "投标人不足3家，不予开标"


def test_lot_fail_without_a_reason_is_refused(make_draft, people, orgs, clock):
    lot = _drive(
        make_draft(opening_time=OPENING).lots.get(),
        LotStatus.BIDDING_CLOSED,
        people=people,
        orgs=orgs,
        clock=clock,
    )

    with pytest.raises(DomainError) as error:
        services.lot_fail(actor=people["alice"], lot=lot, reason="   ")

    assert error.value.code == "field.required"
    assert Lot.objects.get(pk=lot.pk).status == LotStatus.BIDDING_CLOSED


# --- cancellation ---------------------------------------------------------------------------------


def test_tender_cancel_cancels_every_lot_not_yet_final_and_notifies_the_obtainers(
    make_draft, people, orgs, clock, django_capture_on_commit_callbacks
):
    alice = people["alice"]
    tender = make_draft()
    early = services.lot_save(
        actor=alice,
        tender=tender,
        data=lot_input(
            bid_deadline=T0 + dt.timedelta(days=20),
            opening_time=T0 + dt.timedelta(days=20),
            doc_end=T0 + dt.timedelta(days=19),
        ),
    )
    services.tender_publish(actor=alice, tender=tender)
    services.documents_obtain(actor=people["bob"], tender=tender)
    clock.move_to(T0 + dt.timedelta(days=20), tick=False)
    services.lots_advance_due()  # nobody bid by its opening: the early lot fails there (TR 44)
    assert Lot.objects.get(pk=early.pk).status == LotStatus.FAILED
    running = tender.lots.get(number=1)

    with django_capture_on_commit_callbacks(execute=True):
        services.tender_cancel(actor=alice, tender=tender, reason="项目建设计划调整")

    tender.refresh_from_db()
    assert tender.status == TenderStatus.CANCELLED
    assert tender.cancelled_reason == "项目建设计划调整"
    running.refresh_from_db()
    assert (running.status, running.cancelled_reason) == (LotStatus.CANCELLED, "项目建设计划调整")
    early.refresh_from_db()
    assert (early.status, early.cancelled_reason) == (LotStatus.FAILED, "")
    assert [(e.tender_id, e.lot_id) for e in events("tendering.lot.cancelled")] == [
        (tender.pk, running.pk)
    ]
    event = events("tendering.tender.cancelled").get()
    assert (event.tender_id, event.lot_id, event.data) == (
        tender.pk,
        None,
        {"reason": "项目建设计划调整"},
    )
    assert list(Notification.objects.values_list("recipient__username", flat=True)) == ["bob"]
    assert Notification.objects.get().title == f"招标终止：{tender.title}"
    assert [m.to for m in mail.outbox] == [["bob@example.cn"]]


def test_a_cancelled_tender_cannot_be_cancelled_again(published, people):
    services.tender_cancel(actor=people["alice"], tender=published, reason="项目建设计划调整")

    with pytest.raises(DomainError) as error:
        services.tender_cancel(actor=people["alice"], tender=published, reason="再次终止")

    assert error.value.code == "tender.cancelled"
    assert events("tendering.tender.cancelled").count() == 1


def test_lot_cancel_cancels_one_lot_and_leaves_the_others_running(make_draft, people):
    tender = make_draft(lots=2)
    services.tender_publish(actor=people["alice"], tender=tender)
    second = tender.lots.get(number=2)

    services.lot_cancel(actor=people["alice"], lot=second, reason="该标段取消")

    assert dict(tender.lots.values_list("number", "status")) == {
        1: LotStatus.PUBLISHED,
        2: LotStatus.CANCELLED,
    }
    assert Tender.objects.get(pk=tender.pk).status == TenderStatus.PUBLISHED


# --- who may act ----------------------------------------------------------------------------------


def _services_on(tender: Tender, lot: Lot, orgs) -> dict[str, Callable[..., object]]:
    return {
        "tender_update": lambda actor: services.tender_update(
            actor=actor, tender=tender, data=tender_input(orgs)
        ),
        "lot_save_new": lambda actor: services.lot_save(
            actor=actor, tender=tender, data=lot_input()
        ),
        "lot_save_existing": lambda actor: services.lot_save(
            actor=actor, tender=tender, lot=lot, data=lot_input()
        ),
        "lot_delete": lambda actor: services.lot_delete(actor=actor, lot=lot),
        "document_upload": lambda actor: services.document_upload(
            actor=actor, tender=tender, upload=pdf()
        ),
        "tender_publish": lambda actor: services.tender_publish(actor=actor, tender=tender),
        "tender_cancel": lambda actor: services.tender_cancel(
            actor=actor, tender=tender, reason="终止"
        ),
        "lot_cancel": lambda actor: services.lot_cancel(actor=actor, lot=lot, reason="终止"),
        "amendment_publish": lambda actor: services.amendment_publish(
            actor=actor, tender=tender, title="补遗", body="内容", affects_preparation=False
        ),
        "lot_mark_opened": lambda actor: services.lot_mark_opened(actor=actor, lot=lot),
        "lot_start_evaluation": lambda actor: services.lot_start_evaluation(actor=actor, lot=lot),
        "lot_fail": lambda actor: services.lot_fail(actor=actor, lot=lot, reason="流标"),
        "lot_award": lambda actor: services.lot_award(
            actor=actor, lot=lot, winner=orgs["bidder_a"], award_price=Decimal("1000.00")
        ),
        "tender_for_manage": lambda actor: selectors.tender_for_manage(
            user=actor, tender_id=tender.pk
        ),
        "tender_for_agent": lambda actor: selectors.tender_for_agent(
            user=actor, tender_id=tender.pk
        ),
        "lot_for_agent": lambda actor: selectors.lot_for_agent(user=actor, lot_id=lot.pk),
    }


SERVICE_NAMES = [
    "tender_update",
    "lot_save_new",
    "lot_save_existing",
    "lot_delete",
    "document_upload",
    "tender_publish",
    "tender_cancel",
    "lot_cancel",
    "amendment_publish",
    "lot_mark_opened",
    "lot_start_evaluation",
    "lot_fail",
    "lot_award",
    "tender_for_manage",
    "tender_for_agent",
    "lot_for_agent",
]


@pytest.mark.parametrize("stage", ["draft", "published"])
@pytest.mark.parametrize("name", SERVICE_NAMES)
def test_another_agencys_agent_finds_nothing(name, stage, make_draft, people, orgs):
    tender = make_draft()
    if stage == "published":
        tender = services.tender_publish(actor=people["alice"], tender=tender)
    lot = tender.lots.get()
    before = AuditEvent.objects.count()

    with pytest.raises(NotFound):
        _services_on(tender, lot, orgs)[name](people["agnes"])

    assert AuditEvent.objects.count() == before
    assert Tender.objects.get(pk=tender.pk).status == tender.status
    assert Lot.objects.get(pk=lot.pk).status == lot.status


@pytest.mark.parametrize("name", ["bob", "terry", "sam", "fay", "pat", "eve"])
def test_only_an_agent_can_create_a_tender(name, orgs, people):
    with pytest.raises(NotPermitted) as error:
        services.tender_create(actor=people[name], data=tender_input(orgs))

    assert error.value.code == "permission.role"
    assert not Tender.objects.exists()


@pytest.mark.parametrize("name", SERVICE_NAMES[:13])
def test_a_bidder_cannot_run_the_agents_services(name, make_draft, people, orgs):
    tender = make_draft()

    with pytest.raises(NotPermitted):
        _services_on(tender, tender.lots.get(), orgs)[name](people["bob"])


# --- tender and lot validation -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"category": "weapons"}, "tender.category"),
        ({"region": "999999"}, "tender.region"),
        ({"title": "   "}, "field.required"),
        ({"contact_phone": "1" * 31}, "field.too_long"),
    ],
)
def test_invalid_tender_fields_are_refused(overrides, code, orgs, people):
    with pytest.raises(DomainError) as error:
        services.tender_create(actor=people["alice"], data=tender_input(orgs, **overrides))

    assert error.value.code == code
    assert not Tender.objects.exists()


@pytest.mark.parametrize("org", ["bidder_a", "agency"])
def test_the_tenderer_must_be_a_registered_tenderer(org, orgs, people):
    with pytest.raises(DomainError) as error:
        services.tender_create(
            actor=people["alice"], data=tender_input(orgs, tenderer_id=orgs[org].pk)
        )

    assert error.value.code == "tender.tenderer"


@pytest.fixture
def draft(orgs, people) -> Tender:
    return services.tender_create(actor=people["alice"], data=tender_input(orgs))


def _save(draft: Tender, people, **overrides) -> Lot:
    return services.lot_save(actor=people["alice"], tender=draft, data=lot_input(**overrides))


def test_bid_security_above_two_percent_of_the_estimated_price_is_refused_with_the_ceiling(
    draft, people
):
    with pytest.raises(DomainError) as error:
        _save(
            draft, people, estimated_price=Decimal("12000000.00"), bid_security=Decimal("240000.01")
        )

    assert error.value.code == "lot.bid_security_over_limit"
    assert error.value.field == "bid_security"
    assert "240,000.00" in error.value.message
    assert "2%" in error.value.message
    assert not draft.lots.exists()


def test_bid_security_of_exactly_two_percent_is_accepted(draft, people):
    lot = _save(
        draft, people, estimated_price=Decimal("12000000.00"), bid_security=Decimal("240000.00")
    )

    assert lot.bid_security == Decimal("240000.00")


def test_the_bid_security_ceiling_is_never_rounded_above_two_percent(draft, people):
    # 2% of 1,234,567.89 is 24,691.3578 yuan: 24,691.36 would exceed it, 24,691.35 does not.
    with pytest.raises(DomainError) as error:
        _save(
            draft,
            people,
            estimated_price=Decimal("1234567.89"),
            control_price=Decimal("1200000.00"),
            bid_security=Decimal("24691.36"),
        )
    assert "24,691.35" in error.value.message

    lot = _save(
        draft,
        people,
        estimated_price=Decimal("1234567.89"),
        control_price=Decimal("1200000.00"),
        bid_security=Decimal("24691.35"),
    )
    assert lot.bid_security == Decimal("24691.35")


@pytest.mark.parametrize(
    ("overrides", "code", "field"),
    [
        ({"doc_end": T0 - dt.timedelta(hours=1)}, "lot.doc_window", "doc_end"),
        ({"doc_end": T0 - dt.timedelta(hours=2)}, "lot.doc_window", "doc_end"),
        (
            {
                "doc_end": T0 + dt.timedelta(days=20),
                "bid_deadline": T0 + dt.timedelta(days=19, hours=23),
                "opening_time": T0 + dt.timedelta(days=25),
            },
            "lot.deadline_before_doc_end",
            "bid_deadline",
        ),
        (
            {"opening_time": DEADLINE - dt.timedelta(minutes=1)},
            "lot.opening_before_deadline",
            "opening_time",
        ),
        ({"min_bidders": 2}, "lot.min_bidders", "min_bidders"),
        ({"decryption_minutes": 4}, "lot.decryption_minutes", "decryption_minutes"),
        ({"decryption_minutes": 241}, "lot.decryption_minutes", "decryption_minutes"),
        ({"estimated_price": Decimal("0")}, "lot.estimated_price", "estimated_price"),
        ({"estimated_price": Decimal("-1.00")}, "lot.estimated_price", "estimated_price"),
        ({"control_price": Decimal("0")}, "lot.control_price", "control_price"),
        ({"control_price": Decimal("-100.00")}, "lot.control_price", "control_price"),
        ({"bid_security": Decimal("-0.01")}, "lot.bid_security", "bid_security"),
        ({"evaluation_method": "coin_toss"}, "lot.evaluation_method", "evaluation_method"),
        ({"name": "  "}, "field.required", "name"),
    ],
    ids=[
        "doc_end_equal_to_doc_start",
        "doc_end_before_doc_start",
        "deadline_before_doc_end",
        "opening_before_deadline",
        "two_bidders",
        "decryption_4_minutes",
        "decryption_241_minutes",
        "zero_estimated_price",
        "negative_estimated_price",
        "zero_control_price",
        "negative_control_price",
        "negative_bid_security",
        "unknown_evaluation_method",
        "blank_name",
    ],
)
def test_an_invalid_lot_is_refused(overrides, code, field, draft, people):
    with pytest.raises(DomainError) as error:
        _save(draft, people, **overrides)

    assert (error.value.code, error.value.field) == (code, field)
    assert not draft.lots.exists()


@pytest.mark.parametrize(
    "overrides",
    [
        {"doc_end": DEADLINE},  # doc_end == deadline
        {"opening_time": DEADLINE},  # opening == deadline
        {"min_bidders": 3},
        {"decryption_minutes": 5},
        {"decryption_minutes": 240},
        {"bid_security": Decimal("0")},
    ],
    ids=[
        "doc_end_at_deadline",
        "opening_at_deadline",
        "three_bidders",
        "decryption_5",
        "decryption_240",
        "no_bid_security",
    ],
)
def test_a_lot_at_the_limits_is_accepted(overrides, draft, people):
    lot = _save(draft, people, **overrides)

    for name, value in overrides.items():
        assert getattr(lot, name) == value


@pytest.mark.parametrize("field", ["doc_start", "doc_end", "bid_deadline", "opening_time"])
def test_a_naive_datetime_is_refused(field, draft, people):
    aware = getattr(lot_input(), field)

    with pytest.raises(DomainError) as error:
        _save(draft, people, **{field: aware.astimezone(SHANGHAI).replace(tzinfo=None)})

    assert (error.value.code, error.value.field) == ("lot.naive_time", field)
    assert not draft.lots.exists()


def test_a_draft_lot_is_deleted_not_cancelled(make_draft, people):
    alice = people["alice"]
    tender = make_draft(lots=2)
    draft_lot = tender.lots.get(number=2)

    with pytest.raises(DomainError) as refused:
        services.lot_cancel(actor=alice, lot=draft_lot, reason="该标段取消")

    assert refused.value.code == "lot.cancel_draft"
    assert Lot.objects.get(pk=draft_lot.pk).status == LotStatus.DRAFT
    services.tender_publish(actor=alice, tender=tender)
    assert set(tender.lots.values_list("status", flat=True)) == {LotStatus.PUBLISHED}
