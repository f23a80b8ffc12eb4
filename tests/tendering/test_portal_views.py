"""The public portal: announcements, their detail, results and the Atom feed, without login."""

from __future__ import annotations

import datetime as dt
import re
import xml.etree.ElementTree as ET
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from tendering import services as tendering
from tendering.models import LotStatus, Tender
from tests.conftest import lot_input, tender_input
from tests.tendering.support import force_opening

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")
T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=SHANGHAI)
ATOM = "{http://www.w3.org/2005/Atom}"


@pytest.fixture
def clock(time_machine):
    time_machine.move_to(T0, tick=False)
    return time_machine


def as_user(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def publish(orgs, people, *, lot: dict[str, Any] | None = None, **fields: Any) -> Tender:
    """A tender published now by alice, with one lot timed from now."""
    alice = people["alice"]
    if "title" in fields:
        fields.setdefault("project_name", fields["title"].replace("公告", "项目"))
    tender = tendering.tender_create(actor=alice, data=tender_input(orgs, **fields))
    tendering.lot_save(actor=alice, tender=tender, data=lot_input(**(lot or {})))
    tendering.document_upload(
        actor=alice, tender=tender, upload=SimpleUploadedFile("招标文件.pdf", b"%PDF-1.4 documents")
    )
    return tendering.tender_publish(actor=alice, tender=tender)


def listed(response) -> set[str]:
    return {tender.title for tender in response.context["page"].object_list}


def local(moment: dt.datetime) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M")


@pytest.fixture
def market(orgs, people, clock) -> dict[str, Tender]:
    """Five published announcements at every stage, and a draft, seen at T0.

    awarded and failed: published 40 days before T0, both finished — failed
    at its opening for want of bids (TR 44), awarded after an opening an hour
    after its deadline; closed: published 20 days before, its deadline passed
    yesterday, its opening tomorrow; bidding and cancelled: published yesterday.
    """
    alice = people["alice"]
    clock.move_to(T0 - dt.timedelta(days=40))
    deadline = T0 - dt.timedelta(days=10)  # lot_input's deadline: 30 days after publication
    awarded = publish(
        orgs,
        people,
        title="门诊楼改造工程施工招标公告",
        category="construction",
        region="330000",
        lot={"opening_time": deadline + dt.timedelta(hours=1)},
    )
    failed = publish(
        orgs, people, title="郊区土地整理项目招标公告", category="land", region="310000"
    )

    clock.move_to(T0 - dt.timedelta(days=20))
    closed = publish(
        orgs,
        people,
        title="一次性医用耗材集中采购公告",
        category="medical",
        region="440000",
        lot={
            "doc_end": T0 - dt.timedelta(days=3),
            "bid_deadline": T0 - dt.timedelta(days=1),
            "opening_time": T0 + dt.timedelta(days=1),
        },
    )

    # At the deadline bidding closes on both; the failed lot, opening then without a
    # single bid, fails by itself (TR 44). The awarded lot's opening is not what this
    # module is about: it is put in "opening" without its room (tests/tendering/support.py).
    clock.move_to(deadline)
    tendering.lots_advance_due()
    awarded_lot = awarded.lots.get()
    force_opening(awarded_lot)
    clock.move_to(T0 - dt.timedelta(days=9))
    tendering.lot_mark_opened(actor=alice, lot=awarded_lot)
    tendering.lot_start_evaluation(actor=alice, lot=awarded_lot)
    tendering.lot_award(
        actor=alice, lot=awarded_lot, winner=orgs["bidder_c"], award_price=Decimal("10500000.00")
    )

    clock.move_to(T0 - dt.timedelta(days=1))
    bidding = publish(
        orgs, people, title="市政务服务中心办公设备采购公告", category="government", region="110000"
    )
    cancelled = publish(
        orgs, people, title="老旧小区改造监理招标公告", category="other", region="510000"
    )
    tendering.tender_cancel(actor=alice, tender=cancelled, reason="项目资金未落实")

    draft = tendering.tender_create(
        actor=alice, data=tender_input(orgs, title="尚未发布的草稿公告")
    )
    tendering.lot_save(actor=alice, tender=draft, data=lot_input())

    clock.move_to(T0)
    tendering.lots_advance_due()
    return {
        "awarded": awarded,
        "failed": failed,
        "closed": closed,
        "bidding": bidding,
        "cancelled": cancelled,
        "draft": draft,
    }


# --- drafts -----------------------------------------------------------------------------------


def test_drafts_never_appear_on_the_portal_and_their_detail_is_404(market):
    client = Client()
    pages = [
        reverse("portal:index"),
        reverse("portal:announcements"),
        reverse("portal:results"),
        reverse("portal:feed"),
    ]
    for url in pages:
        response = client.get(url)
        assert response.status_code == 200, url
        assert "尚未发布的草稿公告" not in response.content.decode(), url

    assert client.get(reverse("portal:announcement", args=[market["draft"].pk])).status_code == 404
    assert (
        client.get(reverse("portal:announcement", args=[market["bidding"].pk])).status_code == 200
    )
    assert client.get(reverse("portal:announcement", args=[999_999])).status_code == 404


# --- the list and its filters -----------------------------------------------------------------


def test_the_list_shows_every_published_announcement_newest_first(market):
    response = Client().get(reverse("portal:announcements"))

    titles = [tender.title for tender in response.context["page"].object_list]
    assert set(titles) == {
        market[name].title for name in ("awarded", "failed", "closed", "bidding", "cancelled")
    }
    assert titles.index(market["bidding"].title) < titles.index(market["closed"].title)
    assert titles.index(market["closed"].title) < titles.index(market["awarded"].title)


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"q": "办公设备"}, {"bidding"}),
        ({"q": "改造"}, {"awarded", "cancelled"}),
        ({"category": "government"}, {"bidding"}),
        ({"category": "land"}, {"failed"}),
        ({"region": "310000"}, {"failed"}),
        ({"region": "440000"}, {"closed"}),
        ({"stage": "bidding"}, {"bidding"}),
        ({"stage": "closed"}, {"closed"}),
        ({"stage": "finished"}, {"awarded", "failed"}),
        ({"stage": "cancelled"}, {"cancelled"}),
        ({"published_from": "2026-02-28"}, {"bidding", "cancelled"}),
        ({"published_to": "2026-01-31"}, {"awarded", "failed"}),
        ({"published_from": "2026-02-01", "published_to": "2026-02-20"}, {"closed"}),
        ({"category": "construction", "region": "110000"}, set()),
    ],
)
def test_each_filter_narrows_the_list(market, params, expected):
    response = Client().get(reverse("portal:announcements"), params)

    assert response.status_code == 200
    assert listed(response) == {market[name].title for name in expected}
    assert not response.context["form"].errors


def test_the_keyword_also_finds_a_project_code(market):
    response = Client().get(reverse("portal:announcements"), {"q": market["closed"].code})

    assert listed(response) == {market["closed"].title}


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"category": "spaceships"}, "交易类别无效"),
        ({"region": "999999"}, "地区无效"),
        ({"stage": "whenever"}, "项目阶段无效"),
        ({"published_from": "2026-13-45"}, "日期格式不正确"),
        ({"published_to": "yesterday"}, "日期格式不正确"),
        (
            {"published_from": "2026-03-01", "published_to": "2026-02-01"},
            "结束日期不能早于开始日期",
        ),
        ({"q": "招" * 101}, "关键词不能超过100个字符"),
    ],
)
def test_a_bad_filter_value_gives_a_chinese_message_not_an_error(market, params, message):
    response = Client().get(reverse("portal:announcements"), params)

    assert response.status_code == 200
    assert message in response.content.decode()
    # The bad value is ignored, the rest of the portal still works.
    assert market["bidding"].title in listed(response)


def test_a_bad_filter_keeps_the_valid_ones(market):
    response = Client().get(
        reverse("portal:announcements"), {"category": "land", "published_from": "2026-02-30"}
    )

    assert "日期格式不正确" in response.content.decode()
    assert listed(response) == {market["failed"].title}


def test_a_page_number_out_of_range_or_garbled_shows_a_page(market):
    for page in ("abc", "999", "-1"):
        response = Client().get(reverse("portal:announcements"), {"page": page})
        assert response.status_code == 200
        assert listed(response)


def test_pagination_keeps_the_filters(orgs, people, clock):
    for i in range(23):
        publish(orgs, people, title=f"办公设备采购公告（第{i + 1}批）", category="government")
    publish(orgs, people, title="另一类别的工程公告", category="construction")
    client = Client()

    first = client.get(reverse("portal:announcements"), {"category": "government", "q": "办公"})
    html = first.content.decode()
    assert len(first.context["page"].object_list) == 20
    assert "?category=government&amp;q=%E5%8A%9E%E5%85%AC&amp;page=2" in html

    second = client.get(
        reverse("portal:announcements"), {"category": "government", "q": "办公", "page": 2}
    )
    titles = listed(second)
    assert len(titles) == 3
    assert all(title.startswith("办公设备采购公告") for title in titles)
    assert "?category=government&amp;q=%E5%8A%9E%E5%85%AC&amp;page=1" in second.content.decode()


# --- the detail -------------------------------------------------------------------------------


def test_the_detail_shows_the_tender_its_lots_and_its_escaped_body(orgs, people, clock):
    tender = publish(
        orgs,
        people,
        description="第一条 项目概况\n第二条 <script>alert(1)</script>",
        lot={"control_price": Decimal("11800000.00"), "bid_security": Decimal("200000.00")},
    )
    lot = tender.lots.get()

    html = Client().get(reverse("portal:announcement", args=[tender.pk])).content.decode()

    for text in (
        tender.code,
        tender.project_name,
        "市第一人民医院",
        "华信招标代理有限公司",
        "工程建设",
        "浙江省",
        "王工",
        "0571-88880000",
        "11,800,000.00",
        "200,000.00",
        local(lot.bid_deadline),
        local(lot.opening_time),
        "招标文件.pdf",
        "badge-published",
    ):
        assert text in html, text
    assert "第一条 项目概况<br>第二条 &lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script>alert(1)" not in html


def test_the_detail_shows_the_amendment_history_with_deadline_changes(orgs, people, clock):
    tender = publish(orgs, people)
    lot = tender.lots.get()
    old_deadline, old_opening = lot.bid_deadline, lot.opening_time
    clock.shift(dt.timedelta(days=2))
    tendering.amendment_publish(
        actor=people["alice"],
        tender=tender,
        title="关于工程量清单的补遗",
        body="工程量清单第3项更正。\n其余不变。",
        affects_preparation=True,
        new_deadline=old_deadline + dt.timedelta(days=7),
        files=[SimpleUploadedFile("补遗一工程量清单.xlsx", b"sheet")],
    )
    tendering.amendment_publish(
        actor=people["alice"],
        tender=tender,
        title="关于踏勘现场的澄清",
        body="不组织踏勘。",
        affects_preparation=False,
    )

    html = Client().get(reverse("portal:announcement", args=[tender.pk])).content.decode()

    assert "关于工程量清单的补遗" in html and "关于踏勘现场的澄清" in html
    assert "第1号" in html and "第2号" in html
    assert "工程量清单第3项更正。<br>其余不变。" in html
    assert (
        f"<del>{local(old_deadline)}</del> → <ins>{local(old_deadline + dt.timedelta(days=7))}</ins>"
        in html
    )
    assert (
        f"<del>{local(old_opening)}</del> → <ins>{local(old_opening + dt.timedelta(days=7))}</ins>"
        in html
    )
    assert "补遗一工程量清单.xlsx" in html
    assert html.index("关于工程量清单的补遗") < html.index("关于踏勘现场的澄清")


def test_a_cancelled_tender_shows_why(orgs, people, clock):
    tender = publish(orgs, people)
    tendering.tender_cancel(actor=people["alice"], tender=tender, reason="项目资金未落实")

    html = Client().get(reverse("portal:announcement", args=[tender.pk])).content.decode()

    assert "本项目已终止招标" in html and "项目资金未落实" in html
    assert reverse("tendering:obtain", kwargs={"pk": tender.pk}) not in html


def test_a_bidder_gets_the_obtain_button_then_download_links(orgs, people, clock):
    tender = publish(orgs, people)
    document = tender.documents.get()
    url = reverse("portal:announcement", args=[tender.pk])
    obtain_url = reverse("tendering:obtain", kwargs={"pk": tender.pk})
    download_url = reverse("tendering:document_download", kwargs={"pk": document.pk})

    anonymous = Client().get(url).content.decode()
    assert reverse("accounts:login") in anonymous
    assert obtain_url not in anonymous and download_url not in anonymous

    bob = as_user(people["bob"])
    before = bob.get(url).content.decode()
    assert f'action="{obtain_url}"' in before and download_url not in before

    tendering.documents_obtain(actor=people["bob"], tender=tender)
    after = bob.get(url).content.decode()
    assert obtain_url not in after
    assert download_url in after
    assert "贵单位已登记获取本项目招标文件" in after

    terry = as_user(people["terry"]).get(url).content.decode()
    assert obtain_url not in terry and download_url not in terry


def test_no_obtain_button_once_the_document_window_has_closed(orgs, people, clock):
    tender = publish(orgs, people)
    clock.move_to(tender.lots.get().doc_end + dt.timedelta(minutes=1))

    html = (
        as_user(people["bob"])
        .get(reverse("portal:announcement", args=[tender.pk]))
        .content.decode()
    )

    assert reverse("tendering:obtain", kwargs={"pk": tender.pk}) not in html
    assert "招标文件获取期已结束" in html


# --- EB 21: who obtained the documents stays secret ---------------------------------------------


def _portal_pages(tender: Tender) -> list[str]:
    return [
        reverse("portal:index"),
        reverse("portal:announcements"),
        reverse("portal:announcements") + "?stage=bidding",
        reverse("portal:announcement", args=[tender.pk]),
        reverse("portal:results"),
        reverse("portal:feed"),
    ]


def _render(client: Client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, url
    html = response.content.decode()
    return re.sub(r'name="csrfmiddlewaretoken" value="[^"]*"', "", html)


def test_no_portal_page_reveals_who_obtained_the_documents_nor_how_many(orgs, people, clock):
    tender = publish(orgs, people)
    anonymous = Client()
    dave = as_user(people["dave"])
    before = {url: _render(anonymous, url) for url in _portal_pages(tender)}
    before_dave = {url: _render(dave, url) for url in _portal_pages(tender)}

    tendering.documents_obtain(actor=people["bob"], tender=tender)
    tendering.documents_obtain(actor=people["carol"], tender=tender)

    for url in _portal_pages(tender):
        after = _render(anonymous, url)
        after_dave = _render(dave, url)
        # Not one byte changes for the public or for a competitor: neither names nor a count.
        assert after == before[url], url
        assert after_dave == before_dave[url], url
        for name in (orgs["bidder_a"].name, orgs["bidder_b"].name):
            assert name not in after and name not in after_dave, url


# --- results -------------------------------------------------------------------------------------


def test_results_list_awarded_and_failed_lots_only(market):
    response = Client().get(reverse("portal:results"))
    html = response.content.decode()

    lots = list(response.context["page"].object_list)
    assert {lot.status for lot in lots} == {LotStatus.AWARDED, LotStatus.FAILED}
    assert {lot.tender.title for lot in lots} == {market["awarded"].title, market["failed"].title}
    assert "宁波远大建设有限公司" in html
    assert "10,500,000.00" in html
    assert "11,800,000.00" in html
    reason = market["failed"].lots.get().failed_reason
    assert "流标" in reason and reason in html  # the reason the opening gave (TR 44)
    assert "badge-awarded" in html and "badge-failed" in html
    assert market["bidding"].project_name + "</a>" not in html


def test_the_home_page_shows_live_figures_and_recent_announcements(market, orgs, people, clock):
    publish(
        orgs,
        people,
        title="急需的防汛物资采购公告",
        category="government",
        lot={
            "doc_end": T0 + dt.timedelta(days=4),
            "bid_deadline": T0 + dt.timedelta(days=5),
            "opening_time": T0 + dt.timedelta(days=5),
        },
    )

    response = Client().get(reverse("portal:index"))
    html = response.content.decode()

    figures = response.context["figures"]
    assert figures.tenders_bidding == 2
    assert figures.lots_closing_soon == 1
    assert figures.results_published == 2
    assert figures.bidding_by_category == {"government": 2}
    assert "急需的防汛物资采购公告" in html and market["bidding"].title in html
    assert "宁波远大建设有限公司" in html
    assert f'href="{reverse("portal:announcements")}?category=medical"' in html


# --- the Atom feed -------------------------------------------------------------------------------


def test_the_feed_is_valid_atom_with_the_published_announcements_only(market):
    response = Client().get(reverse("portal:feed"))

    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/atom+xml")
    root = ET.fromstring(response.content)
    assert root.tag == f"{ATOM}feed"
    assert root.findtext(f"{ATOM}title") == "阳光开标 · 招标公告"
    assert root.find(f"{ATOM}updated") is not None
    entries = root.findall(f"{ATOM}entry")
    titles = {entry.findtext(f"{ATOM}title") for entry in entries}
    assert titles == {
        market["awarded"].title,
        market["failed"].title,
        market["closed"].title,
        market["bidding"].title,
        "【已终止】" + market["cancelled"].title,
    }
    bidding = next(e for e in entries if e.findtext(f"{ATOM}title") == market["bidding"].title)
    link = bidding.find(f"{ATOM}link").get("href")
    assert link == "http://testserver" + reverse("portal:announcement", args=[market["bidding"].pk])
    assert bidding.findtext(f"{ATOM}id")
    published = dt.datetime.fromisoformat(bidding.findtext(f"{ATOM}published"))
    assert published == market["bidding"].published_at == T0 - dt.timedelta(days=1)
    summary = bidding.findtext(f"{ATOM}summary")
    lot = market["bidding"].lots.get()
    assert "第1标段" in summary
    assert "11,800,000.00" in summary
    assert local(lot.bid_deadline) in summary
