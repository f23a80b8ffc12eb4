"""The 工作台: each role sees what needs its attention, and only its own."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts import selectors
from accounts.services import notify_users
from core.errors import NotPermitted
from tendering import services as tendering
from tendering.models import Lot
from tests.conftest import lot_input, tender_input

SHANGHAI = ZoneInfo("Asia/Shanghai")
DASHBOARD = "/accounts/"


def _page(client, user, url=DASHBOARD) -> str:
    client.force_login(user)
    response = client.get(url)
    assert response.status_code == 200
    return response.content.decode()


def _tender(people, orgs, *, title, lots, agent="alice"):
    """A draft with the given lots (LotInput list) and a tender document."""
    tender = tendering.tender_create(actor=people[agent], data=tender_input(orgs, title=title))
    for data in lots:
        tendering.lot_save(actor=people[agent], tender=tender, data=data)
    tendering.document_upload(
        actor=people[agent],
        tender=tender,
        upload=SimpleUploadedFile("招标文件.pdf", b"%PDF-1.4 documents", "application/pdf"),
    )
    return tender


@pytest.mark.parametrize("url", ["/accounts/", "/accounts/notifications/"])
def test_anonymous_visitors_are_sent_to_sign_in(client, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"] == f"/accounts/login/?next={url}"


def test_alice_sees_her_drafts_and_agnes_does_not(client, people, orgs):
    tendering.tender_create(actor=people["alice"], data=tender_input(orgs, title="华信草稿：病房楼维修"))
    tendering.tender_create(actor=people["agnes"], data=tender_input(orgs, title="远景草稿：道路养护"))

    alice_page = _page(client, people["alice"])
    assert "华信草稿：病房楼维修" in alice_page
    assert "远景草稿：道路养护" not in alice_page
    assert "添加标段" in alice_page

    agnes_page = _page(client, people["agnes"])
    assert "远景草稿：道路养护" in agnes_page
    assert "华信草稿：病房楼维修" not in agnes_page


def test_agent_sees_deadlines_within_seven_days_but_not_later_ones(people, orgs):
    now = dt.datetime.now(SHANGHAI)
    soon = now + dt.timedelta(days=3)
    later = now + dt.timedelta(days=30)
    tender = _tender(
        people,
        orgs,
        title="近期截止",
        lots=[
            lot_input(now, name="三天后截止", doc_end=soon - dt.timedelta(hours=1), bid_deadline=soon, opening_time=soon),
            lot_input(now, name="一个月后截止", bid_deadline=later, opening_time=later),
        ],
    )
    tendering.tender_publish(actor=people["alice"], tender=tender)

    board = selectors.dashboard_agent(user=people["alice"])
    assert [lot.name for lot in board.closing_soon] == ["三天后截止"]
    assert selectors.dashboard_agent(user=people["agnes"]).closing_soon == []


def test_openings_today_reach_the_agent_and_the_supervisor(client, people, orgs):
    morning = dt.datetime(2026, 3, 2, 8, 0, tzinfo=SHANGHAI)
    with time_machine.travel(morning, tick=False):
        tender = _tender(
            people,
            orgs,
            title="今日开标项目",
            lots=[
                lot_input(
                    morning,
                    name="下午开标",
                    doc_end=morning + dt.timedelta(hours=2),
                    bid_deadline=morning + dt.timedelta(hours=6),
                    opening_time=morning + dt.timedelta(hours=6),
                ),
                lot_input(
                    morning,
                    name="五天后开标",
                    doc_end=morning + dt.timedelta(days=4),
                    bid_deadline=morning + dt.timedelta(days=5),
                    opening_time=morning + dt.timedelta(days=5),
                ),
            ],
        )
        tendering.tender_publish(actor=people["alice"], tender=tender)

        agent = selectors.dashboard_agent(user=people["alice"])
        assert [lot.name for lot in agent.opening_today] == ["下午开标"]

        supervisor = selectors.dashboard_supervisor(user=people["sam"])
        assert [lot.name for lot in supervisor.openings_today] == ["下午开标"]
        assert [lot.name for lot in supervisor.openings_coming] == ["五天后开标"]
        assert supervisor.recent_announcements[0].title == "今日开标项目"
        assert supervisor.chain_head is not None

        page = _page(client, people["sam"])
        assert "下午开标" in page and "五天后开标" in page
        assert f"#{supervisor.chain_head.seq}" in page
        assert supervisor.chain_head.hash in page

    with time_machine.travel(morning + dt.timedelta(hours=6, minutes=1), tick=False):
        # Nobody bid: its room would fail it at the opening (TR 44). The dashboard is under
        # test here, not the count, so the lot asks for none (straight to the row: lot_save
        # rightly refuses a minimum under three).
        Lot.objects.filter(name="下午开标").update(min_bidders=0)
        tendering.lots_advance_due()
        agent = selectors.dashboard_agent(user=people["alice"])
        assert [(lot.name, lot.status) for lot in agent.opening_today] == [("下午开标", "opening")]


def test_tenderer_sees_own_published_tenders_and_not_drafts_or_other_tenderers(client, people, orgs, published):
    tendering.tender_create(actor=people["alice"], data=tender_input(orgs, title="尚未发布的草稿"))
    page = _page(client, people["terry"])
    assert published.title in page
    assert "尚未发布的草稿" not in page
    assert "投标中" in page

    board = selectors.dashboard_tenderer(user=people["terry"])
    assert [t.pk for t in board.tenders] == [published.pk]
    assert [(s.status, s.count) for s in board.lot_statuses] == [("published", 1)]


def test_bidder_sees_obtained_tenders_with_deadlines_and_unread_messages(client, people, published):
    bob, carol = people["bob"], people["carol"]
    tendering.documents_obtain(actor=bob, tender=published)
    notify_users([bob], title="澄清：开标时间不变", body="", url=f"/announcements/{published.pk}/")

    page = _page(client, bob)
    assert published.code in page
    assert "澄清：开标时间不变" in page

    carol_board = selectors.dashboard_bidder(user=carol)
    assert carol_board.upcoming == []
    assert carol_board.unread == []
    assert "澄清：开标时间不变" not in _page(client, carol)


def test_dashboards_refuse_a_role_the_user_does_not_hold(people):
    with pytest.raises(NotPermitted):
        selectors.dashboard_finance(user=people["alice"], start=dt.date(2026, 1, 1), end=dt.date(2026, 12, 31))
    with pytest.raises(NotPermitted):
        selectors.dashboard_agent(user=people["fay"])


def test_finance_totals_equal_the_hand_computed_savings_of_two_awarded_lots(client, people, orgs):
    alice = people["alice"]
    start = dt.datetime(2026, 3, 2, 9, 0, tzinfo=SHANGHAI)
    deadline = start + dt.timedelta(days=20)
    with time_machine.travel(start, tick=False):
        tender = _tender(
            people,
            orgs,
            title="节约资金测试项目",
            lots=[
                lot_input(start, name="一标段", control_price=Decimal("11800000.00"),
                          bid_deadline=deadline, opening_time=deadline, doc_end=deadline - dt.timedelta(days=1)),
                lot_input(start, name="二标段", estimated_price=Decimal("3500000.00"),
                          control_price=Decimal("3456789.01"), bid_security=Decimal("70000.00"),
                          bid_deadline=deadline, opening_time=deadline, doc_end=deadline - dt.timedelta(days=1)),
                lot_input(start, name="三标段（流标）",
                          bid_deadline=deadline, opening_time=deadline, doc_end=deadline - dt.timedelta(days=1)),
            ],
        )
        tendering.tender_publish(actor=alice, tender=tender)
    first, second, third = tender.lots.order_by("number")

    with time_machine.travel(deadline + dt.timedelta(minutes=1), tick=False):
        # Nobody bid: the third lot's room fails it at the opening (TR 44); the first two, whose
        # figures are under test, ask for no bids (straight to the rows: lot_save refuses it).
        Lot.objects.filter(pk__in=[first.pk, second.pk]).update(min_bidders=0)
        changed = dict(tendering.lots_advance_due())
        assert changed == {first.pk: "opening", second.pk: "opening", third.pk: "failed"}
        for lot, price in ((first, Decimal("10987654.32")), (second, Decimal("3333333.33"))):
            tendering.lot_mark_opened(actor=alice, lot=lot)
            tendering.lot_start_evaluation(actor=alice, lot=lot)
            tendering.lot_award(actor=alice, lot=lot, winner=orgs["bidder_a"], award_price=price)

        board = selectors.dashboard_finance(user=people["fay"], start=dt.date(2026, 1, 1), end=dt.date(2026, 12, 31))
        assert [row.lot.name for row in board.rows] == ["一标段", "二标段"]
        assert [row.savings for row in board.rows] == [Decimal("812345.68"), Decimal("123455.68")]
        assert [row.savings_rate for row in board.rows] == [Decimal("6.88"), Decimal("3.57")]
        assert board.totals.lots == 2
        assert board.totals.control_price == Decimal("15256789.01")
        assert board.totals.award_price == Decimal("14320987.65")
        assert board.totals.savings == Decimal("935801.36")
        assert board.totals.savings_rate == Decimal("6.13")

        page = _page(client, people["fay"], "/accounts/?start=2026-01-01&end=2026-12-31")
        assert "935,801.36" in page and "6.13%" in page and "15,256,789.01" in page
        assert "三标段（流标）" not in page

        outside = selectors.dashboard_finance(user=people["fay"], start=dt.date(2025, 1, 1), end=dt.date(2025, 12, 31))
        assert outside.rows == [] and outside.totals.savings == Decimal("0.00")

        assert "节约资金统计" not in _page(client, alice)


def test_finance_period_with_end_before_start_is_refused_in_chinese(client, people):
    page = _page(client, people["fay"], "/accounts/?start=2026-05-01&end=2026-04-01")
    assert "结束日期不能早于开始日期。" in page


def test_expert_sees_own_messages_and_what_the_draw_will_show(client, people):
    notify_users([people["eve"]], title="专家库信息核对", body="", url="")
    notify_users([people["bob"]], title="只给投标人的消息", body="", url="")
    page = _page(client, people["eve"])
    assert "专家库信息核对" in page
    assert "只给投标人的消息" not in page
    assert "评标时间和地点" in page


def test_platform_admin_sees_counts_and_the_chain_head(client, people):
    board = selectors.dashboard_platform_admin(user=people["pat"])
    assert board.organisations_total == 8
    by_kind = {item.key: item.count for item in board.organisations_by_kind}
    assert by_kind == {"tenderer": 1, "agency": 2, "bidder": 3, "supervisor": 1, "platform": 1}
    by_role = {item.key: item.count for item in board.users_by_role}
    assert by_role["bidder"] == 3 and by_role["agent"] == 2 and by_role["platform_admin"] == 1
    assert board.users_total == 10
    page = _page(client, people["pat"])
    assert "/admin/" in page
    assert f"#{board.chain_head.seq}" in page


def test_dashboard_queries_do_not_grow_with_the_number_of_tenders(people, orgs, make_draft):
    def count_queries() -> int:
        with CaptureQueriesContext(connection) as ctx:
            selectors.dashboard_agent(user=people["alice"])
            selectors.dashboard_supervisor(user=people["sam"])
            selectors.dashboard_tenderer(user=people["terry"])
        return len(ctx.captured_queries)

    tendering.tender_publish(actor=people["alice"], tender=make_draft())
    count_queries()  # the first round also loads each user's roles
    few = count_queries()
    for _ in range(3):
        tendering.tender_publish(actor=people["alice"], tender=make_draft(lots=2))
    assert count_queries() == few
