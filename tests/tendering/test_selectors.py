"""Reads of the tender lifecycle: the public portal's list and filters, and the working area per role."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from accounts.credit_code import make as make_code
from accounts.models import OrganisationKind
from accounts.services import organisation_create
from core.errors import NotFound, NotPermitted
from tendering import selectors, services
from tendering.models import Category, LotStatus, Tender
from tendering.selectors import PortalFilter, PublicStage
from tests.conftest import issue_keys, lot_input, tender_input
from tests.tendering.support import force_opening

SHANGHAI = ZoneInfo("Asia/Shanghai")
T0 = dt.datetime(2026, 3, 2, 9, 30, tzinfo=SHANGHAI)


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def clock(time_machine):
    time_machine.move_to(T0, tick=False)
    return time_machine


@pytest.fixture
def build(orgs, people, clock):
    """Make a tender of ``agent``'s agency at ``when`` (default: now), published unless ``publish`` is False."""

    def make(
        *,
        agent: str = "alice",
        when: dt.datetime | None = None,
        publish: bool = True,
        lots: list[dict] | None = None,
        **tender_fields,
    ) -> Tender:
        if when is not None:
            clock.move_to(when, tick=False)
        actor = people[agent]
        tender = services.tender_create(actor=actor, data=tender_input(orgs, **tender_fields))
        for overrides in lots or [{}]:
            services.lot_save(actor=actor, tender=tender, data=lot_input(**overrides))
        services.document_upload(
            actor=actor,
            tender=tender,
            upload=SimpleUploadedFile("招标文件.pdf", b"%PDF-1.4", "application/pdf"),
        )
        if publish:
            tender = services.tender_publish(actor=actor, tender=tender)
        return tender

    return make


def ids(queryset) -> set[int]:
    return {tender.pk for tender in queryset}


# --- the public portal -------------------------------------------------------------------------------


def test_the_portal_never_lists_drafts(build, people):
    published = build()
    draft = build(publish=False)
    cancelled_draft = build(publish=False)
    services.tender_cancel(actor=people["alice"], tender=cancelled_draft, reason="不再招标")

    assert ids(selectors.portal_tenders()) == {published.pk}
    for stage in ("", *(value for value, _label in PublicStage.choices)):
        assert draft.pk not in ids(selectors.portal_tenders(filters=PortalFilter(stage=stage)))
        assert cancelled_draft.pk not in ids(
            selectors.portal_tenders(filters=PortalFilter(stage=stage))
        )
    with pytest.raises(NotFound):
        selectors.portal_tender(tender_id=draft.pk)
    assert selectors.portal_tender(tender_id=published.pk) == published


def test_the_portal_lists_the_newest_first(build):
    first = build(when=T0)
    second = build(when=T0 + dt.timedelta(hours=1))

    assert [t.pk for t in selectors.portal_tenders()] == [second.pk, first.pk]
    assert [t.pk for t in selectors.portal_recent(limit=1)] == [second.pk]


@pytest.fixture
def catalogue(build):
    return {
        "hospital": build(when=T0),
        "school": build(
            when=dt.datetime(2026, 3, 5, 23, 30, tzinfo=SHANGHAI),
            title="市实验学校教学设备采购公告",
            project_name="实验学校信息化设备采购",
            category=Category.GOVERNMENT,
            region="320000",
        ),
        "land": build(
            when=dt.datetime(2026, 3, 6, 0, 30, tzinfo=SHANGHAI),
            title="城东地块国有建设用地使用权挂牌出让公告",
            project_name="城东地块出让",
            category=Category.LAND,
            region="330000",
        ),
        "draft": build(publish=False, title="门诊楼改造工程（草稿）"),
    }


def test_the_category_filter_narrows_to_that_category(catalogue):
    found = selectors.portal_tenders(filters=PortalFilter(category=Category.GOVERNMENT))

    assert ids(found) == {catalogue["school"].pk}
    assert ids(selectors.portal_tenders(filters=PortalFilter(category=Category.MEDICAL))) == set()


def test_the_region_filter_narrows_to_that_region(catalogue):
    found = selectors.portal_tenders(filters=PortalFilter(region="330000"))

    assert ids(found) == {catalogue["hospital"].pk, catalogue["land"].pk}


def test_category_and_region_filters_combine(catalogue):
    found = selectors.portal_tenders(
        filters=PortalFilter(category=Category.CONSTRUCTION, region="330000")
    )

    assert ids(found) == {catalogue["hospital"].pk}


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("门诊楼", {"hospital"}),  # title (the draft's title matches too, and stays hidden)
        ("信息化设备", {"school"}),  # project name only
        ("挂牌", {"land"}),
        ("不存在的项目", set()),
    ],
)
def test_the_search_matches_title_and_project_name(q, expected, catalogue):
    found = selectors.portal_tenders(filters=PortalFilter(q=q))

    assert ids(found) == {catalogue[name].pk for name in expected}


def test_the_search_matches_the_code_in_any_case(catalogue):
    code = catalogue["land"].code

    assert ids(selectors.portal_tenders(filters=PortalFilter(q=code.lower()))) == {
        catalogue["land"].pk
    }


def test_the_date_filters_use_the_local_publication_date(catalogue):
    # The school was published at 23:30 on 5 March and the land at 00:30 on 6 March, Beijing time:
    # both on 5 March by UTC.
    on_the_6th = selectors.portal_tenders(filters=PortalFilter(published_from=dt.date(2026, 3, 6)))
    up_to_the_5th = selectors.portal_tenders(filters=PortalFilter(published_to=dt.date(2026, 3, 5)))
    the_5th = selectors.portal_tenders(
        filters=PortalFilter(published_from=dt.date(2026, 3, 5), published_to=dt.date(2026, 3, 5))
    )

    assert ids(on_the_6th) == {catalogue["land"].pk}
    assert ids(up_to_the_5th) == {catalogue["hospital"].pk, catalogue["school"].pk}
    assert ids(the_5th) == {catalogue["school"].pk}


def test_the_stage_filter_follows_the_lots(build, people, clock):
    alice = people["alice"]
    soon = T0 + dt.timedelta(days=5)
    short = {"doc_end": soon - dt.timedelta(days=1), "bid_deadline": soon, "opening_time": soon}
    bidding = build()
    closed = build(lots=[{**short, "opening_time": soon + dt.timedelta(hours=2)}])
    finished = build(lots=[short])
    partly_failed = build(lots=[{}, short])
    cancelled = build()
    services.tender_cancel(actor=alice, tender=cancelled, reason="项目建设计划调整")
    clock.move_to(soon + dt.timedelta(minutes=1), tick=False)
    services.lots_advance_due()  # nobody bid: the lots opening at ``soon`` fail there (TR 44)
    assert finished.lots.get().status == LotStatus.FAILED
    assert partly_failed.lots.get(number=2).status == LotStatus.FAILED
    assert closed.lots.get().status == LotStatus.BIDDING_CLOSED

    def stage(value: str) -> set[int]:
        return ids(selectors.portal_tenders(filters=PortalFilter(stage=value)))

    assert stage(PublicStage.BIDDING) == {bidding.pk, partly_failed.pk}
    assert stage(PublicStage.CLOSED) == {closed.pk}
    assert stage(PublicStage.FINISHED) == {finished.pk}
    assert stage(PublicStage.CANCELLED) == {cancelled.pk}
    assert stage("") == {bidding.pk, closed.pk, finished.pk, partly_failed.pk, cancelled.pk}
    # One row per tender, however many lots match.
    assert len(selectors.portal_tenders(filters=PortalFilter(stage=PublicStage.BIDDING))) == 2


def test_the_results_list_only_awarded_and_failed_lots(build, people, orgs, clock):
    alice = people["alice"]
    soon = T0 + dt.timedelta(days=5)
    short = {"doc_end": soon - dt.timedelta(days=1), "bid_deadline": soon, "opening_time": soon}
    failed = build(lots=[short])
    awarded = build(lots=[{**short, "opening_time": soon + dt.timedelta(hours=1)}])
    running = build()
    clock.move_to(soon, tick=False)
    services.lots_advance_due()  # nobody bid on the failed lot: it fails at its opening (TR 44)
    assert failed.lots.get().status == LotStatus.FAILED
    # Evaluation and award are under test here, not the opening (tests/tendering/support.py).
    force_opening(awarded.lots.get())
    lot = services.lot_mark_opened(actor=alice, lot=awarded.lots.get())
    lot = services.lot_start_evaluation(actor=alice, lot=lot)
    services.lot_award(
        actor=alice, lot=lot, winner=orgs["bidder_a"], award_price=Decimal("11000000.00")
    )

    results = {lot.tender_id: lot.status for lot in selectors.portal_results()}

    assert results == {failed.pk: "failed", awarded.pk: "awarded"}
    assert running.pk not in results


# --- the working area ------------------------------------------------------------------------------------


@pytest.fixture
def estate(build, people):
    tenderer2 = organisation_create(
        actor=None,
        name="市第二中学",
        code=make_code("91330100MA0000009"),
        kind=OrganisationKind.TENDERER,
    )
    issue_keys(tenderer2)  # it keeps a share of agnes's opening keys
    return {
        "alice_draft": build(publish=False),
        "alice_published": build(),
        "alice_cancelled": build(),
        "agnes_published": build(agent="agnes", tenderer_id=tenderer2.pk),
        # terry's organisation is the tenderer, but a draft is not terry's to see yet.
        "agnes_draft": build(agent="agnes", publish=False),
    }


@pytest.fixture
def after_cancel(estate, people):
    services.tender_cancel(
        actor=people["alice"], tender=estate["alice_cancelled"], reason="项目建设计划调整"
    )
    return estate


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("alice", {"alice_draft", "alice_published", "alice_cancelled"}),
        ("agnes", {"agnes_published", "agnes_draft"}),
        ("terry", {"alice_published", "alice_cancelled"}),
        ("sam", {"alice_published", "alice_cancelled", "agnes_published"}),
        (
            "pat",
            {"alice_draft", "alice_published", "alice_cancelled", "agnes_published", "agnes_draft"},
        ),
        ("bob", set()),
        ("carol", set()),
        ("fay", set()),
        ("eve", set()),
    ],
)
def test_tenders_for_manage_shows_each_role_its_own(name, expected, after_cancel, people):
    visible = selectors.tenders_for_manage(user=people[name])

    assert ids(visible) == {after_cancel[key].pk for key in expected}
    for key, tender in after_cancel.items():
        if key in expected:
            assert selectors.tender_for_manage(user=people[name], tender_id=tender.pk) == tender
        else:
            with pytest.raises(NotFound):
                selectors.tender_for_manage(user=people[name], tender_id=tender.pk)


def test_tender_and_lot_for_agent_are_limited_to_the_agents_agency(estate, people):
    mine = estate["alice_draft"]
    theirs = estate["agnes_draft"]

    assert selectors.tender_for_agent(user=people["alice"], tender_id=mine.pk) == mine
    assert (
        selectors.lot_for_agent(user=people["alice"], lot_id=mine.lots.get().pk) == mine.lots.get()
    )
    with pytest.raises(NotFound):
        selectors.tender_for_agent(user=people["alice"], tender_id=theirs.pk)
    with pytest.raises(NotFound):
        selectors.lot_for_agent(user=people["alice"], lot_id=theirs.lots.get().pk)
    with pytest.raises(NotPermitted):
        selectors.tender_for_agent(user=people["terry"], tender_id=mine.pk)
    with pytest.raises(NotPermitted):
        selectors.lot_for_agent(user=people["sam"], lot_id=mine.lots.get().pk)


def test_obtained_by_lists_the_tenders_whose_documents_the_organisation_obtained(build, people):
    first = build()
    build()
    services.documents_obtain(actor=people["bob"], tender=first)

    assert ids(selectors.obtained_by(user=people["bob"])) == {first.pk}
    assert ids(selectors.obtained_by(user=people["carol"])) == set()
    assert ids(selectors.obtained_by(user=people["alice"])) == set()


def test_bidding_is_closed_for_a_tender_only_after_its_last_deadline(build, clock):
    later = T0 + dt.timedelta(days=40)
    tender = build(lots=[{}, {"bid_deadline": later, "opening_time": later}])

    assert not selectors.bidding_closed_for(tender=tender)
    assert not selectors.bidding_closed_for(tender=tender, now=later - dt.timedelta(seconds=1))
    assert selectors.bidding_closed_for(tender=tender, now=later)


def test_bidding_is_never_closed_for_a_draft(build):
    draft = build(publish=False)

    assert not selectors.bidding_closed_for(tender=draft, now=T0 + dt.timedelta(days=365))
