"""The bid security pages: who gets in, what each one shows, and the actions they post."""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse
from openpyxl import load_workbook

from bidding import security
from bidding.models import BidSecurity, LotContract, RefundBatch, SecurityPayment
from opening.models import BidCause, BidOutcome, RoomBid
from tendering import services as tendering
from tendering.models import Lot
from tests.finance.conftest import SECURITY_DEADLINE, SECURITY_T0

pytestmark = pytest.mark.django_db


def _client(user=None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def _ref(lot, user) -> str:
    return security.security_reference(lot_id=lot.pk, organisation_id=user.organisation_id)


def test_the_finance_pages_are_for_the_finance_role_alone(security_lot, people):
    pages = [
        reverse("finance:security_queue"),
        reverse("finance:security_import"),
        reverse("finance:security_payment_create"),
        reverse("finance:security_import_template"),
    ]
    for url in pages:
        assert _client(people["fay"]).get(url).status_code == 200, url
        for name in ("alice", "bob", "terry", "sam", "pat", "eve"):
            assert _client(people[name]).get(url).status_code == 403, (url, name)
        assert _client().get(url).status_code == 302
    response = _client(people["bob"]).post(reverse("finance:security_batch_create"), {"payment": ["1"]})
    assert response.status_code == 403


def test_overdue_refunds_are_red_in_the_queue_and_counted_on_the_finance_dashboard(
    security_lot, security_clock, security_pay, security_bid, people
):
    fay, bob, carol = people["fay"], people["bob"], people["carol"]
    security_pay(bob, security_lot)
    security_bid(bob, security_lot, withdrawn_at=SECURITY_T0)  # due 7 March
    security_pay(carol, security_lot)
    security_bid(carol, security_lot)
    security_clock.move_to(SECURITY_T0 + dt.timedelta(days=6), tick=False)

    page = _client(fay).get(reverse("finance:security_queue"))
    html = page.content.decode()
    assert page.context["queue"].overdue == 1 and html.count('class="overdue"') == 1
    assert "逾期 1 天" in html and _ref(security_lot, bob) in html and _ref(security_lot, carol) not in html
    held = _client(fay).get(reverse("finance:security_queue"), {"state": "held"}).content.decode()
    assert _ref(security_lot, carol) in held and _ref(security_lot, bob) not in held

    dashboard = _client(fay).get(reverse("accounts:dashboard")).content.decode()
    assert 'id="overdue-refunds"' in dashboard and "stat-red" in dashboard
    assert reverse("finance:security_queue") in dashboard
    assert 'id="overdue-refunds"' not in _client(people["alice"]).get(reverse("accounts:dashboard")).content.decode()


def test_a_batch_is_made_from_the_queue_page_and_its_files_downloaded_with_count_and_total(
    security_lot, security_clock, security_pay, people
):
    fay, bob, carol = people["fay"], people["bob"], people["carol"]
    payments = [security_pay(bob, security_lot), security_pay(carol, security_lot, "150000.00")]
    tendering.lot_cancel(actor=people["alice"], lot=security_lot, reason="项目取消")
    client = _client(fay)
    lot_page = client.get(reverse("finance:security_lot", args=[security_lot.pk])).content.decode()
    assert reverse("finance:security_refund_paid", args=[payments[0].pk]) in lot_page
    response = client.post(reverse("finance:security_batch_create"), {"payment": [str(p.pk) for p in payments]})
    batch = RefundBatch.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("finance:security_batch", args=[batch.pk])
    page = client.get(reverse("finance:security_batch", args=[batch.pk]))
    assert page.context["summary"]["count"] == 2 and page.context["summary"]["total"] == Decimal("350000.00")
    assert "350,000.00" in page.content.decode()

    csv_file = client.get(reverse("finance:security_batch_file", args=[batch.pk, "csv"]))
    assert csv_file["Content-Type"].startswith("text/csv") and "attachment" in csv_file["Content-Disposition"]
    assert csv_file.content.decode("utf-8-sig").splitlines()[1].endswith(f"200000.00,退还投标保证金{_ref(security_lot, bob)}")
    xlsx = client.get(reverse("finance:security_batch_file", args=[batch.pk, "xlsx"]))
    rows = list(load_workbook(io.BytesIO(xlsx.content)).worksheets[0].iter_rows(values_only=True))
    assert len(rows) == 3 and rows[2][0] == carol.organisation.name
    assert client.get(reverse("finance:security_batch_file", args=[batch.pk, "pdf"])).status_code == 404

    # Exporting the same payments again changes nothing and says why.
    again = client.post(reverse("finance:security_batch_create"), {"payment": [str(payments[0].pk)]}, follow=True)
    assert RefundBatch.objects.count() == 1 and "不是待退还状态" in again.content.decode()

    paid = client.post(
        reverse("finance:security_batch_paid", args=[batch.pk]),
        {"paid_on": SECURITY_T0.date().isoformat(), "bank_reference": "PL0001"},
    )
    assert paid.status_code == 302
    assert set(batch.refunds.values_list("status", flat=True)) == {"paid"}


def test_the_agent_sees_the_lots_securities_only_once_bidding_has_closed_and_only_for_its_agency(
    security_lot, security_clock, security_pay, security_bid, people
):
    bob, carol = people["bob"], people["carol"]
    security_pay(bob, security_lot)
    security_bid(bob, security_lot)
    security_bid(carol, security_lot)
    url = reverse("finance:security_lot", args=[security_lot.pk])
    sealed = _client(people["alice"]).get(url)
    assert sealed.status_code == 403 and bob.organisation.name not in sealed.content.decode()
    assert _client(people["fay"]).get(url).status_code == 200

    security_clock.move_to(SECURITY_DEADLINE + dt.timedelta(hours=1), tick=False)
    page = _client(people["alice"]).get(url)
    html = page.content.decode()
    assert page.status_code == 200
    assert _ref(security_lot, bob) in html and _ref(security_lot, carol) in html
    states = {row.organisation_name: (row.view.state if row.view else None) for row in page.context["result"].rows}
    assert states == {bob.organisation.name: "paid", carol.organisation.name: None}
    # The payer's account is for finance: the agent sees states, not bank details.
    assert "6222020200" not in html
    assert _client(people["agnes"]).get(url).status_code == 404
    for name in ("bob", "terry", "sam", "eve"):
        assert _client(people[name]).get(url).status_code == 403, name


def test_a_bidder_sees_its_own_security_on_its_lot_page_and_nobody_elses(security_lot, security_pay, people):
    bob, carol = people["bob"], people["carol"]
    security_pay(carol, security_lot, "150000.00")
    url = reverse("bidding:lot", args=[security_lot.pk])
    bobs = _client(bob).get(url).content.decode()
    assert 'id="bid-security"' in bobs and _ref(security_lot, bob) in bobs
    assert _ref(security_lot, carol) not in bobs and "150,000.00" not in bobs
    carols = _client(carol).get(url).content.decode()
    assert _ref(security_lot, carol) in carols and "150,000.00" in carols and "尚差 50,000.00 元" in carols


def test_the_agent_records_the_contract_and_decides_a_forfeiture_through_the_pages(
    security_lot, security_clock, security_pay, security_bid, people, orgs
):
    alice, bob = people["alice"], people["bob"]
    security_pay(bob, security_lot)
    bob_bid = security_bid(bob, security_lot)
    security_bid(people["carol"], security_lot)
    Lot.objects.filter(pk=security_lot.pk).update(min_bidders=1)
    security_clock.move_to(SECURITY_DEADLINE + dt.timedelta(minutes=1), tick=False)
    tendering.lots_advance_due()
    RoomBid.objects.filter(bid=bob_bid).update(outcome=BidOutcome.REVOKED, cause=BidCause.BIDDER_FAULT)
    security_lot.refresh_from_db()

    bob_security = BidSecurity.objects.get(organisation=bob.organisation)
    forfeit_url = reverse("finance:security_forfeit", args=[bob_security.pk])
    lot_page = _client(alice).get(reverse("finance:security_lot", args=[security_lot.pk])).content.decode()
    assert forfeit_url in lot_page
    assert _client(people["agnes"]).get(forfeit_url).status_code == 404
    assert _client(bob).post(forfeit_url, {"reason": "x"}).status_code == 403
    blank = _client(alice).post(forfeit_url, {"reason": ""})
    assert blank.status_code == 200 and not BidSecurity.objects.get(pk=bob_security.pk).is_forfeited
    done = _client(alice).post(forfeit_url, {"reason": "投标人自身原因未解密"})
    assert done.status_code == 302
    assert BidSecurity.objects.get(pk=bob_security.pk).forfeit_reason == "投标人自身原因未解密"

    contract_url = reverse("finance:security_contract", args=[security_lot.pk])
    assert "尚未定标" in _client(alice).get(contract_url).content.decode()
    lot = tendering.lot_mark_opened(actor=alice, lot=security_lot)
    lot = tendering.lot_start_evaluation(actor=alice, lot=lot)
    tendering.lot_award(actor=alice, lot=lot, winner=orgs["bidder_b"], award_price=Decimal("11000000.00"))
    detail = _client(alice).get(reverse("tendering:tender_detail", args=[lot.tender_id])).content.decode()
    assert contract_url in detail
    assert _client(people["agnes"]).get(contract_url).status_code == 404
    assert _client(people["fay"]).post(contract_url, {"signed_on": "2026-04-01"}).status_code == 403
    future = _client(alice).post(contract_url, {"signed_on": "2026-04-30"})
    assert future.status_code == 200 and "至今天之间" in future.content.decode()
    recorded = _client(alice).post(contract_url, {"signed_on": "2026-04-01"})
    assert recorded.status_code == 302 and LotContract.objects.get(lot=lot).signed_on == dt.date(2026, 4, 1)


def test_a_payment_entered_by_hand_and_a_statement_uploaded_through_the_pages(security_lot, people):
    fay, bob = people["fay"], people["bob"]
    client = _client(fay)
    form = {
        "reference": f"投标保证金{_ref(security_lot, bob)}", "amount": "200000.00", "paid_on": "2026-03-02",
        "payer_name": bob.organisation.name, "payer_account": "6222 0202 0001 1111", "payer_bank": "工行杭州分行",
        "bank_serial": "HD0001",
    }
    response = client.post(reverse("finance:security_payment_create"), form)
    assert response.status_code == 302
    assert SecurityPayment.objects.get().payer_account == "6222020200011111"
    wrong = client.post(reverse("finance:security_payment_create"), {**form, "reference": "BZ123", "bank_serial": "X"})
    assert wrong.status_code == 200 and "没有付款参考号" in wrong.content.decode()

    statement = io.BytesIO(
        (
            "交易日期,付款人户名,付款人账号,付款人开户行,金额,附言\n"
            f"2026-03-02,{people['carol'].organisation.name},6222020200022222,工行,200000.00,{_ref(security_lot, people['carol'])}\n"
            "2026-03-02,某公司,6222,工行,1.00,无参考号\n"
        ).encode()
    )
    statement.name = "mx.csv"
    page = client.post(reverse("finance:security_import"), {"file": statement})
    assert page.status_code == 200 and page.context["report"].recorded == 1
    assert "入账 1 笔" in page.content.decode() and "未匹配 1 笔" in page.content.decode()
    assert SecurityPayment.objects.count() == 2
