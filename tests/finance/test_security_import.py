"""Importing a bank statement (交易明细 CSV) of bid security payments: match, report, idempotence, all or nothing."""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal

import pytest

from audit.models import AuditEvent
from bidding import security
from bidding.models import BidSecurity, SecurityPayment, SecurityStatement
from bidding.security import RowOutcome
from bidding.security_selectors import SecurityState, security_views
from core.errors import NotPermitted
from tests.finance.conftest import SECURITY_T0

pytestmark = pytest.mark.django_db

HEADER = "交易日期,交易流水号,付款人户名,付款人账号,付款人开户行,金额,借贷标志,摘要/附言"


def _ref(lot, user) -> str:
    return security.security_reference(lot_id=lot.pk, organisation_id=user.organisation_id)


def _typo(reference: str) -> str:
    """The reference with its last digit miscopied: MOD 97-10 catches every single-digit error."""
    return reference[:-1] + str((int(reference[-1]) + 1) % 10)


def _file(text: str, *, name: str = "交易明细.csv", encoding: str = "utf-8-sig") -> io.BytesIO:
    data = io.BytesIO(text.encode(encoding))
    data.name = name
    return data


def _statement(lot, people) -> str:
    """What the platform's account received on 2 March, as online banking exports it, preamble included."""
    bob, carol, dave = people["bob"], people["carol"], people["dave"]
    bob_org, carol_org = bob.organisation.name, carol.organisation.name
    return "\r\n".join([
        "账号：571909999910101,户名：市公共资源交易中心保证金专户",
        "起止日期：2026-03-01 至 2026-03-02",
        HEADER,
        # bob pays in two parts; the second makes 230,000.00 of 200,000.00 (30,000.00 over)
        f"2026-03-01,SN0001,{bob_org},6222020200011111,中国工商银行杭州分行,\"150,000.00\",贷,投标保证金 {_ref(lot, bob)}",
        f"2026-03-02 10:15:02,SN0002,{bob_org},6222020200011111,中国工商银行杭州分行,80000.00,贷,{_ref(lot, bob)}",
        # carol pays short, from an account that is not hers
        f"2026-03-02,SN0003,张三,6228480011112222,中国农业银行,100000,贷,{_ref(lot, carol)}",
        # no reference; a mistyped reference; dave never bid on the lot but obtained its documents: matched
        "2026-03-02,SN0004,某某公司,6217000011113333,中国建设银行,200000.00,贷,保证金",
        f"2026-03-02,SN0005,{carol_org},6222020200022222,中国工商银行杭州分行,200000.00,贷,{_typo(_ref(lot, carol))}",
        f"2026-03-02,SN0006,{dave.organisation.name},6222020200033333,中国工商银行杭州分行,200000.00,贷,{_ref(lot, dave)}",
        # a refund going out, and the same serial twice
        "2026-03-02,SN0007,,,,-200000.00,借,退保证金",
        f"2026-03-02,SN0006,{dave.organisation.name},6222020200033333,中国工商银行杭州分行,200000.00,贷,{_ref(lot, dave)}",
        "合计,,,,,\"530,000.00\",,",
    ]) + "\r\n"


def _outcomes(report) -> list[tuple[int, str]]:
    return [(row.number, row.outcome) for row in report.rows]


def test_a_statement_is_matched_by_reference_and_reported_row_by_row_and_importing_it_again_records_nothing(
    security_lot, people
):
    fay, bob, carol, dave = people["fay"], people["bob"], people["carol"], people["dave"]
    text = _statement(security_lot, people)
    report = security.statement_import(actor=fay, file=_file(text, encoding="gb18030"))

    assert report.accepted and not report.file_errors
    assert _outcomes(report) == [
        (4, RowOutcome.RECORDED), (5, RowOutcome.RECORDED), (6, RowOutcome.RECORDED),
        (7, RowOutcome.UNMATCHED), (8, RowOutcome.UNMATCHED), (9, RowOutcome.RECORDED),
        (10, RowOutcome.SKIPPED), (11, RowOutcome.DUPLICATE_IN_FILE),
    ]
    rows = {row.number: row for row in report.rows}
    assert "没有付款参考号" in rows[7].message and "校验位不符" in rows[8].message
    assert [code for code, _message in rows[4].notes] == ["short"]
    assert [code for code, _message in rows[5].notes] == ["over"]
    assert "30,000.00" in rows[5].notes[0][1]
    assert [code for code, _message in rows[6].notes] == ["short", "payer_differs"]
    assert (report.recorded, report.recorded_total, report.unmatched) == (4, Decimal("530000.00"), 2)

    views = {view.security.organisation_id: view for view in security_views(BidSecurity.objects.all())}
    assert views[bob.organisation_id].paid == Decimal("230000.00")
    assert views[bob.organisation_id].excess == Decimal("30000.00")
    assert views[carol.organisation_id].state == SecurityState.SHORT
    assert views[dave.organisation_id].state == SecurityState.PAID
    payment = SecurityPayment.objects.get(bank_serial="SN0003")
    assert (payment.payer_name, payment.payer_account, payment.paid_on) == ("张三", "6228480011112222", dt.date(2026, 3, 2))
    statement = SecurityStatement.objects.get()
    assert statement.recorded == 4 and len(statement.report["rows"]) == 8
    assert AuditEvent.objects.filter(action="bidding.security.payment_recorded").count() == 4
    # Before the deadline a payment tells who obtained the documents: its record is sealed (EB 21).
    assert set(
        AuditEvent.objects.filter(action="bidding.security.payment_recorded").values_list("sensitivity", flat=True)
    ) == {"until_bid_deadline"}

    events = AuditEvent.objects.count()
    again = security.statement_import(actor=fay, file=_file(text, encoding="gb18030"))
    assert again.recorded == 0 and again.already_imported == 5 and again.unmatched == 2
    assert SecurityPayment.objects.count() == 4 and SecurityStatement.objects.count() == 1
    assert AuditEvent.objects.count() == events


def test_rows_without_serial_numbers_are_told_apart_by_content_and_occurrence(security_lot, people):
    fay, bob = people["fay"], people["bob"]
    line = f"2026-03-02,{bob.organisation.name},6222020200011111,工行杭州分行,100000.00,{_ref(security_lot, bob)}"
    first = "交易日期,付款人户名,付款人账号,付款人开户行,金额,附言\n" + line + "\n" + line + "\n"
    report = security.statement_import(actor=fay, file=_file(first))
    # Two identical transfers are two payments: a bank never lists one transfer twice.
    assert report.recorded == 2
    # The next statement repeats both and adds a third: only the third is new.
    report = security.statement_import(actor=fay, file=_file(first + line + "\n"))
    assert (report.recorded, report.already_imported) == (1, 2)
    notes = [code for code, _message in report.rows[-1].notes]
    assert notes == ["duplicate_payment"]
    assert SecurityPayment.objects.filter(security__organisation=bob.organisation).count() == 3


def test_a_statement_with_one_malformed_row_writes_nothing_at_all(security_lot, people, security_pay):
    fay, bob, carol = people["fay"], people["bob"], people["carol"]
    security_pay(carol, security_lot)
    before = (SecurityPayment.objects.count(), BidSecurity.objects.count(), AuditEvent.objects.count())
    text = "\n".join([
        HEADER,
        f"2026-03-02,SN1,{bob.organisation.name},6222020200011111,工行,200000.00,贷,{_ref(security_lot, bob)}",
        f"2026-02-30,SN2,{bob.organisation.name},6222020200011111,工行,1.234,贷,{_ref(security_lot, bob)}",
        f"2026-03-01,SN3,{bob.organisation.name},,工行,abc,贷,{_ref(security_lot, bob)}",
    ])
    report = security.statement_import(actor=fay, file=_file(text))

    assert not report.accepted and report.error_code == "security.import.rows_invalid"
    assert [row.number for row in report.failed_rows] == [3, 4]
    assert any("2026-02-30" in error for error in report.rows[1].errors)
    assert any("两位小数" in error for error in report.rows[1].errors)
    assert any("abc" in error for error in report.rows[2].errors)
    assert any("付款人账号为空" in error for error in report.rows[2].errors)
    assert (SecurityPayment.objects.count(), BidSecurity.objects.count(), AuditEvent.objects.count()) == before


@pytest.mark.parametrize(
    ("content", "name", "code"),
    [
        (b"", "a.csv", "security.import.no_header"),
        ("交易日期,金额,附言\n2026-03-02,1.00,x\n".encode(), "a.csv", "security.import.columns"),
        (b"\xff\xfe\x00\xd8 not text", "a.csv", "security.import.encoding"),
        (b"PK\x03\x04 spreadsheet", "statement.xlsx", "security.import.not_csv"),
        (f"{HEADER}\n\n合计,,,,,0,,\n".encode(), "a.csv", "security.import.empty"),
    ],
)
def test_an_unreadable_file_is_refused_with_its_reason_and_changes_nothing(security_lot, people, content, name, code):
    data = io.BytesIO(content)
    data.name = name
    report = security.statement_import(actor=people["fay"], file=data)
    assert report.error_code == code and report.file_errors and not report.rows
    assert not SecurityPayment.objects.exists()


def test_a_payment_recorded_by_hand_is_not_recorded_again_from_the_statement(security_lot, security_pay, people, security_clock):
    fay, bob = people["fay"], people["bob"]
    payment = security_pay(bob, security_lot)
    text = "\n".join([
        HEADER,
        f"{SECURITY_T0.date()},{payment.bank_serial},{bob.organisation.name},{payment.payer_account},工行,200000.00,贷,"
        f"{_ref(security_lot, bob)}",
    ])
    report = security.statement_import(actor=fay, file=_file(text))
    assert report.already_imported == 1 and SecurityPayment.objects.count() == 1
    same_serial = security.PaymentInput(
        reference=_ref(security_lot, bob), amount=Decimal("1.00"), paid_on=SECURITY_T0.date(),
        payer_name="x", payer_account="1", payer_bank="y", bank_serial=payment.bank_serial,
    )
    with pytest.raises(security.DomainError) as again:
        security.payment_record(actor=fay, data=same_serial)
    assert again.value.code == "security.payment_duplicate"


def test_only_the_finance_role_records_payments_and_imports_statements(security_lot, people):
    for name in ("alice", "bob", "pat", "sam"):
        with pytest.raises(NotPermitted):
            security.statement_import(actor=people[name], file=_file(HEADER))
        with pytest.raises(NotPermitted):
            security.payment_record(
                actor=people[name],
                data=security.PaymentInput(
                    reference=_ref(security_lot, people["bob"]), amount=Decimal("1.00"), paid_on=SECURITY_T0.date(),
                    payer_name="x", payer_account="1", payer_bank="y", bank_serial="S",
                ),
            )
    assert not SecurityPayment.objects.exists()


def test_a_payment_for_a_bidder_that_did_not_obtain_the_documents_is_not_matched(security_lot, people, orgs):
    outsider_ref = security.security_reference(lot_id=security_lot.pk, organisation_id=orgs["agency2"].pk)
    with pytest.raises(security.DomainError) as refused:
        security.payment_record(
            actor=people["fay"],
            data=security.PaymentInput(
                reference=f"保证金{outsider_ref}", amount=Decimal("200000.00"), paid_on=SECURITY_T0.date(),
                payer_name="x", payer_account="1", payer_bank="y", bank_serial="S1",
            ),
        )
    assert refused.value.code == "security.unmatched" and refused.value.field == "reference"
    assert "未获取该项目的招标文件" in refused.value.message
