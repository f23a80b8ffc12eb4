"""Refund batches for online banking (网银批量退付): the file read back, never exported twice, paid, released."""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal

import pytest
from openpyxl import load_workbook

from audit.models import AuditEvent
from bidding import security
from bidding.models import RefundStatus, SecurityRefund
from bidding.security_selectors import (
    BATCH_COLUMNS,
    LineState,
    QueueFilter,
    SecurityState,
    batch_csv,
    batch_xlsx,
    refund_queue,
    security_for_bidder,
)
from core.errors import DomainError, NotPermitted
from tendering import services as tendering
from tests.finance.conftest import SECURITY_T0

pytestmark = pytest.mark.django_db


@pytest.fixture
def due(security_lot, security_clock, security_pay, people):
    """Bob (two payments, from two accounts) and carol paid; the lot was cancelled on day 2: all due on day 7."""
    bob, carol = people["bob"], people["carol"]
    payments = [
        security_pay(bob, security_lot, "120000.00", account="6222020200011111"),
        security_pay(bob, security_lot, "80000.00", account="6217000011119999"),
        security_pay(carol, security_lot, "200000.00", account="6222020200022222"),
    ]
    security_clock.move_to(SECURITY_T0 + dt.timedelta(days=2), tick=False)
    tendering.lot_cancel(actor=people["alice"], lot=security_lot, reason="项目取消")
    return payments


def _read_csv(content: bytes) -> list[list[str]]:
    assert content.startswith(b"\xef\xbb\xbf")
    return list(csv.reader(io.StringIO(content.decode("utf-8-sig"), newline="")))


def _read_xlsx(content: bytes) -> list[list[object]]:
    workbook = load_workbook(io.BytesIO(content), read_only=True)
    return [list(row) for row in workbook.worksheets[0].iter_rows(values_only=True)]


def test_a_batch_file_reads_back_with_each_payment_going_back_to_its_own_account_and_is_never_exported_twice(
    due, security_lot, people
):
    fay = people["fay"]
    queue = refund_queue(user=fay)
    assert [line.payment.pk for line in queue.lines] == [payment.pk for payment in due]
    assert (queue.due, queue.due_total) == (3, Decimal("400000.00"))

    batch = security.refund_batch_create(actor=fay, payment_ids=[payment.pk for payment in due])
    assert (batch.count, batch.total) == (3, Decimal("400000.00"))
    assert batch.number.startswith("TF20260304-")
    reference = due[0].security.reference

    rows = _read_csv(batch_csv(batch))
    assert rows[0] == list(BATCH_COLUMNS) == ["收款人户名", "收款人账号", "收款人开户行", "金额", "用途"]
    assert rows[1:] == [
        [people["bob"].organisation.name, "6222020200011111", "中国工商银行杭州分行", "120000.00", f"退还投标保证金{reference}"],
        [people["bob"].organisation.name, "6217000011119999", "中国工商银行杭州分行", "80000.00", f"退还投标保证金{reference}"],
        [people["carol"].organisation.name, "6222020200022222", "中国工商银行杭州分行", "200000.00",
         f"退还投标保证金{due[2].security.reference}"],
    ]
    sheet = _read_xlsx(batch_xlsx(batch))
    assert sheet[0] == list(BATCH_COLUMNS)
    assert [(row[1], Decimal(str(row[3])).quantize(Decimal("0.01"))) for row in sheet[1:]] == [
        ("6222020200011111", Decimal("120000.00")), ("6217000011119999", Decimal("80000.00")),
        ("6222020200022222", Decimal("200000.00")),
    ]
    assert sum(Decimal(row[3]) for row in rows[1:]) == batch.total == sum(
        Decimal(str(row[3])) for row in sheet[1:]
    )

    # In the batch: no longer due, not offered again, and a second export of any of them is refused.
    queue = refund_queue(user=fay)
    assert (queue.due, queue.lines) == (0, [])
    with pytest.raises(DomainError) as twice:
        security.refund_batch_create(actor=fay, payment_ids=[due[2].pk])
    assert twice.value.code == "security.refund_not_due"
    assert SecurityRefund.objects.count() == 3
    assert AuditEvent.objects.filter(action="bidding.security.refund_batched").count() == 3
    assert AuditEvent.objects.filter(action="bidding.security.batch_exported").count() == 1
    assert security_for_bidder(user=people["bob"], lot=security_lot).view.state == SecurityState.IN_BATCH


def test_a_paid_batch_shows_as_refunded_to_the_bidder_and_cannot_be_paid_again(due, security_lot, security_clock, people):
    fay = people["fay"]
    batch = security.refund_batch_create(actor=fay, payment_ids=[payment.pk for payment in due])
    with pytest.raises(DomainError) as future:
        security.refund_batch_mark_paid(actor=fay, batch=batch, paid_on=dt.date(2026, 3, 5), bank_reference="PL1")
    assert future.value.code == "security.date_in_future"
    security_clock.move_to(SECURITY_T0 + dt.timedelta(days=3), tick=False)
    assert security.refund_batch_mark_paid(actor=fay, batch=batch, paid_on=dt.date(2026, 3, 5), bank_reference="PL20260305") == 3
    assert set(SecurityRefund.objects.values_list("status", "bank_reference")) == {(RefundStatus.PAID, "PL20260305")}
    own = security_for_bidder(user=people["carol"], lot=security_lot)
    assert own.view.state == SecurityState.REFUNDED and own.view.refunded_total == Decimal("200000.00")
    with pytest.raises(DomainError) as again:
        security.refund_batch_mark_paid(actor=fay, batch=batch, paid_on=dt.date(2026, 3, 5), bank_reference="PL2")
    assert again.value.code == "security.batch_nothing_open"
    with pytest.raises(DomainError) as single:
        security.refund_mark_paid(actor=fay, payment=due[0], paid_on=dt.date(2026, 3, 5), bank_reference="X")
    assert single.value.code == "security.refund_already_paid"


def test_a_released_batch_makes_its_refunds_due_again_and_leaves_the_file_without_them(due, security_lot, people):
    fay = people["fay"]
    batch = security.refund_batch_create(actor=fay, payment_ids=[due[0].pk, due[1].pk])
    # One transfer went through over the counter before the bank refused the file.
    security.refund_mark_paid(actor=fay, payment=due[0], paid_on=SECURITY_T0.date() + dt.timedelta(days=2),
                              bank_reference="HT0001")
    assert security.refund_batch_release(actor=fay, batch=batch, reason="银行退回批量文件") == 1
    rows = _read_csv(batch_csv(batch))
    assert [row[1] for row in rows[1:]] == ["6222020200011111"]
    queue = refund_queue(user=fay)
    assert sorted(line.payment.pk for line in queue.lines) == sorted([due[1].pk, due[2].pk])
    again = security.refund_batch_create(actor=fay, payment_ids=[due[1].pk])
    assert again.total == Decimal("80000.00")
    assert list(SecurityRefund.objects.filter(payment=due[1]).values_list("status", flat=True).order_by("id")) == [
        RefundStatus.RELEASED, RefundStatus.IN_BATCH,
    ]


def test_a_refund_not_yet_due_cannot_be_batched_or_paid(security_lot, security_pay, security_bid, people):
    fay, bob = people["fay"], people["bob"]
    payment = security_pay(bob, security_lot)
    security_bid(bob, security_lot)
    with pytest.raises(DomainError) as batched:
        security.refund_batch_create(actor=fay, payment_ids=[payment.pk])
    assert batched.value.code == "security.refund_not_due"
    with pytest.raises(DomainError) as paid:
        security.refund_mark_paid(actor=fay, payment=payment, paid_on=SECURITY_T0.date(), bank_reference="X")
    assert paid.value.code == "security.refund_not_due"
    with pytest.raises(DomainError) as empty:
        security.refund_batch_create(actor=fay, payment_ids=[])
    assert empty.value.code == "security.batch_empty"
    with pytest.raises(NotPermitted):
        security.refund_batch_create(actor=people["alice"], payment_ids=[payment.pk])
    (line,) = refund_queue(user=fay, filters=QueueFilter(state="held")).lines
    assert (line.payment, line.state, line.due_on) == (payment, LineState.HELD, None)
    assert not SecurityRefund.objects.exists()
