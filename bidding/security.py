"""Writes of bid security (投标保证金): payments, statements, the contract, forfeiture, refunds.

The rules are in ``bidding.security_selectors`` (what is due back and by
when) and docs/bid-security.md. Here every change is guarded, then made in
one transaction with its audit record:

- payments are recorded by the finance role, one by one (``payment_record``)
  or from a bank statement (``statement_import``), and matched to a security
  by the payment reference in the transfer's 附言; the security row appears
  with its first payment;
- a statement is checked whole before anything is written, and written whole
  in one transaction; importing it again records nothing new (row keys);
- the agent records the contract's signing date (``contract_record``), which
  starts TR 57's five days;
- the agent or the finance role may decide to keep (没收) the security of a
  bid revoked at the opening through its bidder's fault (``security_forfeit``);
- refunds leave in batches for online banking (``refund_batch_create``): a
  payment in a batch is not offered again, and is recorded as paid with the
  bank's reference (``refund_batch_mark_paid``, ``refund_mark_paid``), or
  taken out of the batch if the bank refused it (``refund_batch_release``).
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import re
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, BinaryIO

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from accounts.models import OrganisationKind, Role, User
from audit.models import Sensitivity
from audit.services import record
from bidding.models import (
    BidSecurity,
    LotContract,
    PaymentSource,
    RefundBatch,
    RefundStatus,
    SecurityPayment,
    SecurityRefund,
    SecurityStatement,
)
from bidding.security_selectors import (
    LineState,
    ParsedReference,
    is_agent_of,
    is_finance,
    references_in,
    require_finance,
    security_reference,
    security_views,
)
from core.errors import DomainError, NotFound, NotPermitted
from tendering.models import DocumentObtain, Lot, LotStatus
from tendering.selectors import bidding_closed_for

CENT = Decimal("0.01")
MAX_AMOUNT = Decimal("999999999999.99")
MAX_STATEMENT_BYTES = 2 * 1024 * 1024
MAX_STATEMENT_ROWS = 5000
# Bank exports put a few lines about the account before the header row.
MAX_PREAMBLE_LINES = 30

# Chinese labels of the audit events recorded here (for the audit browser's ACTION_LABELS).
SECURITY_ACTION_LABELS = {
    "bidding.security.payment_recorded": _("登记投标保证金缴款"),
    "bidding.security.statement_imported": _("导入保证金银行流水"),
    "bidding.security.forfeited": _("没收投标保证金"),
    "bidding.security.refund_batched": _("投标保证金退款列入退付批次"),
    "bidding.security.batch_exported": _("生成保证金退付批次"),
    "bidding.security.refund_paid": _("投标保证金已退还"),
    "bidding.security.refund_released": _("投标保证金退款撤出批次"),
    "bidding.security.batch_released": _("撤回保证金退付批次"),
    "bidding.contract.recorded": _("登记合同签订日期"),
}


def _sensitivity(lot: Lot) -> str:
    """A payment before the deadline tells who obtained the documents: sealed like that (EB 21)."""
    return Sensitivity.PUBLIC if bidding_closed_for(tender=lot.tender) else Sensitivity.UNTIL_BID_DEADLINE


def _text(value: Any, *, field: str, label: Any, limit: int, required: bool = True) -> str:
    text = " ".join(str(value or "").split())
    if required and not text:
        raise DomainError("security.required", _("请填写%(label)s。"), field=field, label=label)
    if len(text) > limit:
        raise DomainError(
            "security.too_long", _("%(label)s不能超过%(limit)s个字符。"), field=field, label=label, limit=limit
        )
    return text


def _amount(value: Decimal, *, field: str = "amount") -> Decimal:
    if not value.is_finite() or value <= 0 or value > MAX_AMOUNT:
        raise DomainError("security.amount_invalid", _("金额必须大于零。"), field=field)
    if value != value.quantize(CENT):
        raise DomainError("security.amount_precision", _("金额最多两位小数（精确到分）。"), field=field)
    return value.quantize(CENT)


def _not_future(day: dt.date, *, field: str, label: Any) -> dt.date:
    if day > timezone.localdate():
        raise DomainError("security.date_in_future", _("%(label)s不能晚于今天。"), field=field, label=label)
    return day


# --- matching a payment to a security ---------------------------------------------------------------


@dataclass(frozen=True)
class Match:
    """A reference found in a memo and what it points to, or why it points to nothing."""

    reference: str
    lot: Lot | None = None
    organisation_id: int | None = None
    code: str = ""  # why it did not match
    message: str = ""

    @property
    def matched(self) -> bool:
        return self.lot is not None and not self.code


_UNMATCHED = {
    "no_reference": _("摘要/附言中没有付款参考号（以 BZ 开头的18位编号），无法确定是哪一家投标人、哪一个标段的保证金。"),
    "several_references": _("摘要/附言中有多个不同的付款参考号（%(references)s），无法确定归属。"),
    "check_failed": _("付款参考号 %(reference)s 的校验位不符，可能抄写有误。"),
    "unknown_lot": _("付款参考号 %(reference)s 对应的标段不存在或尚未发布。"),
    "no_security_required": _("付款参考号 %(reference)s 对应的标段不收取投标保证金。"),
    "unknown_bidder": _("付款参考号 %(reference)s 对应的投标人不存在，或未获取该项目的招标文件。"),
}


def _unmatched(code: str, reference: str = "", **params: Any) -> Match:
    values = {"reference": reference, **params}
    return Match(reference=reference, code=code, message=str(_UNMATCHED[code]) % values)


class _Matcher:
    """Resolves references to lots and bidders, loading what it needs once per statement."""

    def __init__(self) -> None:
        self._lots: dict[int, Lot | None] = {}
        self._obtained: set[tuple[int, int]] = set()
        self._checked: set[tuple[int, int]] = set()

    def match(self, memo: str) -> Match:
        references = references_in(memo)
        if not references:
            return _unmatched("no_reference")
        if len(references) > 1:
            return _unmatched(
                "several_references", references[0].text, references="、".join(item.text for item in references)
            )
        return self.resolve(references[0])

    def resolve(self, reference: ParsedReference) -> Match:
        if not reference.valid:
            return _unmatched("check_failed", reference.text)
        lot = self._lot(reference.lot_id)
        if lot is None:
            return _unmatched("unknown_lot", reference.text)
        if lot.bid_security <= 0:
            return _unmatched("no_security_required", reference.text)
        if not self._has_obtained(lot, reference.organisation_id):
            return _unmatched("unknown_bidder", reference.text)
        return Match(reference=reference.text, lot=lot, organisation_id=reference.organisation_id)

    def _lot(self, lot_id: int) -> Lot | None:
        if lot_id not in self._lots:
            self._lots[lot_id] = (
                Lot.objects.select_related("tender")
                .filter(pk=lot_id, tender__published_at__isnull=False)
                .exclude(status=LotStatus.DRAFT)
                .first()
            )
        return self._lots[lot_id]

    def _has_obtained(self, lot: Lot, organisation_id: int) -> bool:
        key = (lot.tender_id, organisation_id)
        if key not in self._checked:
            self._checked.add(key)
            if DocumentObtain.objects.filter(
                tender_id=lot.tender_id,
                organisation_id=organisation_id,
                organisation__kind=OrganisationKind.BIDDER,
            ).exists():
                self._obtained.add(key)
        return key in self._obtained


def _security_locked(lot: Lot, organisation_id: int, *, now: dt.datetime) -> BidSecurity:
    """The security of the organisation on the lot, locked; made with the lot's amount if it is the first payment.

    ``get_or_create`` survives two first payments racing (the unique
    constraint decides, the loser reads the winner's row).
    """
    security, _created = BidSecurity.objects.get_or_create(
        lot=lot,
        organisation_id=organisation_id,
        defaults={
            "reference": security_reference(lot_id=lot.pk, organisation_id=organisation_id),
            "amount_due": lot.bid_security,
            "created_at": now,
        },
    )
    security = BidSecurity.objects.select_for_update(of=("self",)).select_related("organisation").get(pk=security.pk)
    security.lot = lot
    return security


def _serial_key(serial: str) -> str:
    return hashlib.sha256(f"serial\x1f{serial}".encode()).hexdigest()


def _content_key(*, paid_on: dt.date, account: str, amount: Decimal, memo: str, occurrence: int) -> str:
    text = "\x1f".join(("row", paid_on.isoformat(), account, f"{amount:.2f}", memo, str(occurrence)))
    return hashlib.sha256(text.encode()).hexdigest()


def _paid_total(security: BidSecurity) -> Decimal:
    return sum((payment.amount for payment in security.payments.all()), Decimal("0.00"))


def _payment_audit(payment: SecurityPayment, security: BidSecurity, *, actor: User, extra: dict[str, Any]) -> None:
    lot = security.lot
    record(
        "bidding.security.payment_recorded",
        actor=actor,
        obj=payment,
        data={
            "payment": payment.pk,
            "reference": security.reference,
            "organisation": security.organisation_id,
            "amount": payment.amount,
            "amount_due": security.amount_due,
            "paid_on": payment.paid_on,
            "payer_name": payment.payer_name,
            "payer_account": payment.payer_account,
            "payer_bank": payment.payer_bank,
            "bank_serial": payment.bank_serial,
            "source": payment.source,
            **extra,
        },
        sensitivity=_sensitivity(lot),
    )


# --- payments recorded by hand ------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class PaymentInput:
    reference: str  # the payment reference (付款参考号) the transfer carried, or the whole 附言
    amount: Decimal
    paid_on: dt.date
    payer_name: str
    payer_account: str
    payer_bank: str
    bank_serial: str  # the bank's serial number of the transfer (交易流水号)


def payment_record(*, actor: User, data: PaymentInput) -> SecurityPayment:
    """Record one payment received for a security (finance only), matched by its payment reference.

    Refused: a reference that matches no security (``security.unmatched``, the
    reason in the message); an amount not above zero or finer than a fen; a
    date in the future; a bank serial number already recorded, by hand or
    from a statement (``security.payment_duplicate``), so that the same
    transfer is never counted twice. A short, excess or second payment is
    recorded (it is money received) and shows on the security's state.
    """
    require_finance(actor)
    amount = _amount(data.amount)
    paid_on = _not_future(data.paid_on, field="paid_on", label=_("到账日期"))
    payer_name = _text(data.payer_name, field="payer_name", label=_("付款人户名"), limit=200)
    payer_account = _text(data.payer_account, field="payer_account", label=_("付款人账号"), limit=40).replace(" ", "")
    payer_bank = _text(data.payer_bank, field="payer_bank", label=_("付款人开户行"), limit=200)
    serial = _text(data.bank_serial, field="bank_serial", label=_("交易流水号"), limit=64)
    memo = _text(data.reference, field="reference", label=_("付款参考号"), limit=300)
    match = _Matcher().match(memo)
    if not match.matched:
        raise DomainError("security.unmatched", match.message, field="reference")
    assert match.lot is not None and match.organisation_id is not None
    with transaction.atomic():
        now = timezone.now()
        key = _serial_key(serial)
        if SecurityPayment.objects.filter(row_key=key).exists():
            raise DomainError(
                "security.payment_duplicate",
                _("交易流水号为 %(serial)s 的款项已经登记，不能重复登记。"),
                field="bank_serial",
                serial=serial,
            )
        security = _security_locked(match.lot, match.organisation_id, now=now)
        payment = SecurityPayment.objects.create(
            security=security,
            amount=amount,
            paid_on=paid_on,
            payer_name=payer_name,
            payer_account=payer_account,
            payer_bank=payer_bank,
            memo=memo,
            bank_serial=serial,
            source=PaymentSource.MANUAL,
            row_key=key,
            recorded_by=actor,
            recorded_at=now,
        )
        _payment_audit(payment, security, actor=actor, extra={"paid_total": _paid_total(security)})
    return payment


# --- bank statements (交易明细) ----------------------------------------------------------------------

# The statement's columns (docs/bid-security.md): the bank's own headers, not interface text.
COL_DATE = "交易日期"
COL_NAME = "付款人户名"
COL_ACCOUNT = "付款人账号"
COL_BANK = "付款人开户行"
COL_AMOUNT = "金额"
COL_MEMO = ("摘要/附言", "附言", "摘要", "用途")
COL_SERIAL = "交易流水号"
COL_DIRECTION = "借贷标志"
COL_CURRENCY = "币种"
REQUIRED_COLUMNS = (COL_DATE, COL_NAME, COL_ACCOUNT, COL_BANK, COL_AMOUNT)
KNOWN_COLUMNS = frozenset((*REQUIRED_COLUMNS, *COL_MEMO, COL_SERIAL, COL_DIRECTION, COL_CURRENCY))
# 借贷标志 values meaning money out of the account: those rows are not payments received.
_DEBIT = frozenset({"借", "借方", "支出", "付", "d", "debit", "dr"})
_CREDIT = frozenset({"贷", "贷方", "收入", "收", "c", "credit", "cr"})
_DATE_FORMATS = ("%Y-%m-%d", "%Y/%m/%d", "%Y%m%d", "%Y.%m.%d", "%Y年%m月%d日")
_AMOUNT_NOISE = re.compile(r"[,\s¥￥元]|^RMB|^CNY", re.IGNORECASE)


class RowOutcome:
    RECORDED = "recorded"
    ALREADY_IMPORTED = "already_imported"
    DUPLICATE_IN_FILE = "duplicate_in_file"
    UNMATCHED = "unmatched"
    SKIPPED = "skipped"

    LABELS = {
        RECORDED: _("已入账"),
        ALREADY_IMPORTED: _("已导入过，跳过"),
        DUPLICATE_IN_FILE: _("文件内重复，跳过"),
        UNMATCHED: _("未匹配，未入账"),
        SKIPPED: _("非缴款记录，跳过"),
    }


@dataclass
class StatementRow:
    """One data row of a statement and what became of it; ``number`` is its line in the file."""

    number: int
    paid_on: dt.date | None = None
    payer_name: str = ""
    payer_account: str = ""
    payer_bank: str = ""
    amount: Decimal | None = None
    memo: str = ""
    serial: str = ""
    errors: list[str] = field(default_factory=list)
    outcome: str = ""
    message: str = ""
    notes: list[tuple[str, str]] = field(default_factory=list)  # (code, message)
    reference: str = ""
    lot_label: str = ""
    debit: bool = False

    @property
    def outcome_label(self) -> str:
        return str(RowOutcome.LABELS[self.outcome]) if self.outcome else ""

    def as_json(self) -> dict[str, Any]:
        return {
            "line": self.number,
            "paid_on": self.paid_on.isoformat() if self.paid_on else None,
            "payer_name": self.payer_name,
            "payer_account": self.payer_account,
            "amount": f"{self.amount:.2f}" if self.amount is not None else None,
            "memo": self.memo,
            "serial": self.serial,
            "outcome": self.outcome,
            "message": self.message,
            "notes": [{"code": code, "message": message} for code, message in self.notes],
            "reference": self.reference,
        }


@dataclass
class StatementReport:
    file_name: str
    sha256: str = ""
    rows: list[StatementRow] = field(default_factory=list)
    file_errors: list[str] = field(default_factory=list)
    error_code: str = ""
    statement: SecurityStatement | None = None

    @property
    def failed_rows(self) -> list[StatementRow]:
        return [row for row in self.rows if row.errors]

    @property
    def accepted(self) -> bool:
        """The file was read and checked: rows were recorded or skipped, none refused."""
        return not self.file_errors and not self.failed_rows and bool(self.rows)

    def _count(self, outcome: str) -> int:
        return sum(1 for row in self.rows if row.outcome == outcome)

    @property
    def recorded(self) -> int:
        return self._count(RowOutcome.RECORDED)

    @property
    def already_imported(self) -> int:
        return self._count(RowOutcome.ALREADY_IMPORTED) + self._count(RowOutcome.DUPLICATE_IN_FILE)

    @property
    def unmatched(self) -> int:
        return self._count(RowOutcome.UNMATCHED)

    @property
    def skipped(self) -> int:
        return self._count(RowOutcome.SKIPPED)

    @property
    def flagged(self) -> int:
        return sum(1 for row in self.rows if row.notes)

    @property
    def recorded_total(self) -> Decimal:
        return sum(
            (row.amount for row in self.rows if row.outcome == RowOutcome.RECORDED and row.amount is not None),
            Decimal("0.00"),
        )


class _FileProblem(Exception):
    def __init__(self, code: str, message: str) -> None:
        self.code = code
        self.message = message
        super().__init__(message)


def _decode(raw: bytes) -> str:
    """UTF-8 (with or without BOM), else GB18030: what Chinese online banking exports."""
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    for encoding in ("utf-8", "gb18030"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise _FileProblem(
        "security.import.encoding", gettext("无法识别文件的字符编码，请导出为 UTF-8 或 GBK（GB18030）编码的 CSV 文件。")
    )


def _cell(value: str) -> str:
    text = value.replace("\ufeff", "").strip()
    # Banks and spreadsheets write ="6222..." or '6222... to keep long numbers as text.
    if text.startswith('="') and text.endswith('"'):
        text = text[2:-1]
    return text[1:].strip() if text.startswith("'") else text.strip().strip("\t")


def _read_lines(text: str) -> list[list[str]]:
    try:
        return [[_cell(cell) for cell in row] for row in csv.reader(io.StringIO(text, newline=""))]
    except csv.Error:
        raise _FileProblem("security.import.csv", gettext("CSV 文件格式错误，请检查引号是否成对。")) from None


def _header(lines: list[list[str]]) -> tuple[int, dict[str, int]]:
    """The header's index and the columns it names; the lines before it are the bank's preamble."""
    for index, cells in enumerate(lines[:MAX_PREAMBLE_LINES]):
        names = [cell.rstrip("*＊").strip() for cell in cells]
        if COL_DATE in names and COL_AMOUNT in names:
            positions: dict[str, int] = {}
            for position, name in enumerate(names):
                if not name or name not in KNOWN_COLUMNS:
                    continue
                if name in positions:
                    raise _FileProblem(
                        "security.import.columns", gettext("列标题“%(name)s”重复。") % {"name": name}
                    )
                positions[name] = position
            missing = [name for name in REQUIRED_COLUMNS if name not in positions]
            if not any(name in positions for name in COL_MEMO):
                missing.append(COL_MEMO[0])
            if missing:
                raise _FileProblem(
                    "security.import.columns",
                    gettext("缺少必需的列：%(columns)s。") % {"columns": "、".join(missing)},
                )
            return index, positions
    raise _FileProblem(
        "security.import.no_header",
        gettext("找不到列标题行（应含“交易日期”“付款人户名”“付款人账号”“付款人开户行”“金额”“摘要/附言”）。"),
    )


def _parse_date(text: str) -> dt.date | None:
    text = text.strip().split(" ")[0].split("T")[0]
    for pattern in _DATE_FORMATS:
        try:
            return dt.datetime.strptime(text, pattern).date()
        except ValueError:
            continue
    return None


def _parse_amount(text: str) -> Decimal | None:
    cleaned = _AMOUNT_NOISE.sub("", text.strip())
    if not cleaned:
        return None
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        return None
    return value if value.is_finite() else None


def _is_summary(cells: list[str]) -> bool:
    first = next((cell for cell in cells if cell), "")
    return first.startswith(("合计", "总计", "本页合计", "共"))


def _parse_statement(lines: list[list[str]]) -> list[StatementRow]:
    """Every data row, each checked on its own: a row with errors makes the whole file refused."""
    start, positions = _header(lines)
    today = timezone.localdate()

    def value(cells: list[str], name: str) -> str:
        index = positions.get(name)
        return cells[index] if index is not None and index < len(cells) else ""

    rows: list[StatementRow] = []
    for offset, cells in enumerate(lines[start + 1 :], start=start + 2):
        if not any(cells) or _is_summary(cells):
            continue
        row = StatementRow(number=offset)
        rows.append(row)
        if len(rows) > MAX_STATEMENT_ROWS:
            raise _FileProblem(
                "security.import.too_many_rows",
                gettext("一次最多导入%(max)s行流水，请按日期拆分后分批导入。") % {"max": MAX_STATEMENT_ROWS},
            )
        row.memo = " ".join(value(cells, name) for name in COL_MEMO if value(cells, name)).strip()[:300]
        row.serial = value(cells, COL_SERIAL)[:64]
        row.payer_name = " ".join(value(cells, COL_NAME).split())[:200]
        row.payer_account = value(cells, COL_ACCOUNT).replace(" ", "")[:40]
        row.payer_bank = " ".join(value(cells, COL_BANK).split())[:200]
        direction = value(cells, COL_DIRECTION).strip().lower()
        if direction and direction not in _DEBIT | _CREDIT:
            row.errors.append(gettext("借贷标志“%(value)s”无法识别，应为“贷”（收入）或“借”（支出）。") % {"value": direction})
        currency = value(cells, COL_CURRENCY).strip().upper()
        if currency and currency not in ("CNY", "RMB", "人民币", "156"):
            row.errors.append(gettext("币种为“%(value)s”：只能导入人民币流水。") % {"value": currency})
        raw_date = value(cells, COL_DATE)
        row.paid_on = _parse_date(raw_date)
        if row.paid_on is None:
            row.errors.append(gettext("交易日期“%(value)s”无法识别，应为如 2026-03-02 的日期。") % {"value": raw_date})
        elif row.paid_on > today:
            row.errors.append(gettext("交易日期 %(value)s 晚于今天。") % {"value": row.paid_on.isoformat()})
        raw_amount = value(cells, COL_AMOUNT)
        row.amount = _parse_amount(raw_amount)
        if row.amount is None:
            row.errors.append(gettext("金额“%(value)s”不是有效的数字。") % {"value": raw_amount})
        row.debit = direction in _DEBIT or (row.amount is not None and row.amount < 0)
        if row.amount is None:
            pass
        elif row.amount == 0:
            row.errors.append(gettext("金额为零。"))
        elif row.amount != row.amount.quantize(CENT):
            row.errors.append(gettext("金额“%(value)s”超过两位小数。") % {"value": raw_amount})
        elif abs(row.amount) > MAX_AMOUNT:
            row.errors.append(gettext("金额“%(value)s”过大。") % {"value": raw_amount})
        if row.debit:
            continue  # money out of the account: reported, never recorded, so its details may be missing
        if not row.payer_name:
            row.errors.append(gettext("付款人户名为空。"))
        if not row.payer_account:
            row.errors.append(gettext("付款人账号为空（退还保证金时须原路退回该账户）。"))
        if not row.payer_bank:
            row.errors.append(gettext("付款人开户行为空（退还保证金时须填写收款人开户行）。"))
    if not rows:
        raise _FileProblem("security.import.empty", gettext("文件中没有流水记录。"))
    return rows


def _row_keys(rows: list[StatementRow]) -> dict[int, str]:
    """Each credit row's key: its bank serial number if it has one, else its content and occurrence.

    Two identical rows without serial numbers are two transfers (a bank never
    lists one transfer twice), so the n-th of them gets occurrence n; the same
    statement imported again gives the same keys.
    """
    seen: dict[tuple[Any, ...], int] = defaultdict(int)
    keys: dict[int, str] = {}
    for row in rows:
        if row.debit:
            continue
        assert row.paid_on is not None and row.amount is not None
        if row.serial:
            keys[row.number] = _serial_key(row.serial)
            continue
        content = (row.paid_on, row.payer_account, row.amount, row.memo)
        seen[content] += 1
        keys[row.number] = _content_key(
            paid_on=row.paid_on, account=row.payer_account, amount=row.amount, memo=row.memo, occurrence=seen[content]
        )
    return keys


def _notes(
    row: StatementRow, security: BidSecurity, *, paid_before: Decimal, lot: Lot, organisation_name: str
) -> list[tuple[str, str]]:
    """What finance should look at on a recorded payment: short, excess, repeated, late, another payer."""
    assert row.amount is not None and row.paid_on is not None
    due = security.amount_due
    total = paid_before + row.amount
    notes: list[tuple[str, str]] = []
    if paid_before >= due:
        notes.append((
            "duplicate_payment",
            gettext("该保证金此前已足额缴纳（%(paid)s 元），本笔为重复缴纳，将原路全额退还。")
            % {"paid": f"{paid_before:,.2f}"},
        ))
    elif total > due:
        notes.append((
            "over",
            gettext("超额缴纳：应缴 %(due)s 元，累计 %(total)s 元，多出 %(excess)s 元将随保证金原路退还。")
            % {"due": f"{due:,.2f}", "total": f"{total:,.2f}", "excess": f"{total - due:,.2f}"},
        ))
    elif total < due:
        notes.append((
            "short",
            gettext("未足额缴纳：应缴 %(due)s 元，累计 %(total)s 元，尚差 %(short)s 元。")
            % {"due": f"{due:,.2f}", "total": f"{total:,.2f}", "short": f"{due - total:,.2f}"},
        ))
    deadline = timezone.localdate(lot.bid_deadline)
    if row.paid_on > deadline:
        notes.append((
            "late",
            gettext("到账日期 %(paid_on)s 晚于投标截止日 %(deadline)s，请核实保证金是否按时缴纳。")
            % {"paid_on": row.paid_on.isoformat(), "deadline": deadline.isoformat()},
        ))
    if row.payer_name != organisation_name:
        # TR 26: the security must come from the bidder's own basic account.
        notes.append((
            "payer_differs",
            gettext("付款人户名“%(payer)s”与投标人名称“%(bidder)s”不一致（TR 26：保证金应从投标人基本账户转出）。")
            % {"payer": row.payer_name, "bidder": organisation_name},
        ))
    return notes


def statement_import(*, actor: User, file: BinaryIO | Any) -> StatementReport:
    """Import a bank statement (交易明细 CSV) of payments received: check it all, then write it all.

    The format is in docs/bid-security.md. If the file cannot be read or any
    row is malformed (a date, an amount, a payer's details), nothing at all
    is written and the report says, per line, what is wrong. Otherwise, in
    one transaction, each credit row is:

    - skipped if already recorded (same bank serial number, or the same
      content and occurrence) — importing a statement twice records nothing new;
    - skipped if it repeats a serial number earlier in the file;
    - left out, and reported, if its 附言 carries no reference that matches a
      security (``_UNMATCHED``);
    - recorded otherwise, with notes for a short, excess or repeated payment,
      one arriving after the deadline, or a payer other than the bidder.

    Rows of money leaving the account (借, or a negative amount) and summary
    lines are skipped. One audit record per payment and one for the
    statement; the statement row keeps the report. Nothing is written when
    nothing is recorded.
    """
    require_finance(actor)
    file_name = str(getattr(file, "name", "") or "").rsplit("/", 1)[-1][:255]
    report = StatementReport(file_name=file_name)
    raw = file.read(MAX_STATEMENT_BYTES + 1)
    report.sha256 = hashlib.sha256(raw).hexdigest()
    try:
        if len(raw) > MAX_STATEMENT_BYTES:
            raise _FileProblem(
                "security.import.too_large",
                gettext("文件不能超过%(mb)s MB，请按日期拆分后分批导入。") % {"mb": MAX_STATEMENT_BYTES // (1024 * 1024)},
            )
        if file_name.lower().endswith((".xls", ".xlsx")) or raw.startswith((b"PK\x03\x04", b"\xd0\xcf\x11\xe0")):
            raise _FileProblem(
                "security.import.not_csv", gettext("请上传 CSV 文件：在网银中导出交易明细时选择 CSV 格式，或在 Excel 中另存为 CSV。")
            )
        report.rows = _parse_statement(_read_lines(_decode(raw)))
    except _FileProblem as problem:
        report.file_errors.append(problem.message)
        report.error_code = problem.code
        return report
    if report.failed_rows:
        report.error_code = "security.import.rows_invalid"
        return report

    matcher = _Matcher()
    keys = _row_keys(report.rows)
    with transaction.atomic():
        now = timezone.now()
        existing = set(
            SecurityPayment.objects.filter(row_key__in=list(keys.values())).values_list("row_key", flat=True)
        )
        seen_keys: dict[str, int] = {}
        securities: dict[tuple[int, int], BidSecurity] = {}
        paid: dict[int, Decimal] = {}
        names: dict[int, str] = {}
        to_record: list[tuple[StatementRow, BidSecurity, str]] = []
        for row in report.rows:
            if row.debit:
                row.outcome = RowOutcome.SKIPPED
                row.message = gettext("支出记录（借方或负数金额），不是保证金缴款。")
                continue
            key = keys[row.number]
            if key in existing:
                row.outcome = RowOutcome.ALREADY_IMPORTED
                row.message = gettext("该笔款项此前已经登记（同一流水号或同一笔流水），未重复入账。")
                continue
            if key in seen_keys:
                row.outcome = RowOutcome.DUPLICATE_IN_FILE
                row.message = gettext("与第%(line)s行的交易流水号相同，按同一笔款项处理，未重复入账。") % {
                    "line": seen_keys[key]
                }
                continue
            seen_keys[key] = row.number
            match = matcher.match(row.memo)
            row.reference = match.reference
            if not match.matched:
                row.outcome = RowOutcome.UNMATCHED
                row.message = match.message
                continue
            assert match.lot is not None and match.organisation_id is not None
            pair = (match.lot.pk, match.organisation_id)
            if pair not in securities:
                security = _security_locked(match.lot, match.organisation_id, now=now)
                securities[pair] = security
                paid[security.pk] = _paid_total(security)
                names[security.pk] = security.organisation.name
            security = securities[pair]
            assert row.amount is not None
            row.notes = _notes(
                row, security, paid_before=paid[security.pk], lot=match.lot, organisation_name=names[security.pk]
            )
            paid[security.pk] += row.amount
            row.outcome = RowOutcome.RECORDED
            row.message = gettext("已入账：%(lot)s，%(bidder)s。") % {
                "lot": str(match.lot),
                "bidder": names[security.pk],
            }
            row.lot_label = str(match.lot)
            to_record.append((row, security, key))
        if not to_record:
            return report
        statement = SecurityStatement.objects.create(
            file_name=report.file_name,
            sha256=report.sha256,
            imported_by=actor,
            imported_at=now,
            rows=len(report.rows),
            recorded=len(to_record),
            report={},
        )
        for row, security, key in to_record:
            assert row.amount is not None and row.paid_on is not None
            payment = SecurityPayment.objects.create(
                security=security,
                amount=row.amount,
                paid_on=row.paid_on,
                payer_name=row.payer_name,
                payer_account=row.payer_account,
                payer_bank=row.payer_bank,
                memo=row.memo,
                bank_serial=row.serial,
                source=PaymentSource.STATEMENT,
                statement=statement,
                row_key=key,
                recorded_by=actor,
                recorded_at=now,
            )
            _payment_audit(
                payment,
                security,
                actor=actor,
                extra={"statement": statement.pk, "line": row.number, "notes": [code for code, _m in row.notes]},
            )
        statement.report = {"rows": [row.as_json() for row in report.rows]}
        statement.save(update_fields=["report"])
        record(
            "bidding.security.statement_imported",
            actor=actor,
            data={
                "statement": statement.pk,
                "file_name": report.file_name,
                "sha256": report.sha256,
                "rows": len(report.rows),
                "recorded": report.recorded,
                "recorded_total": report.recorded_total,
                "already_imported": report.already_imported,
                "unmatched": report.unmatched,
                "skipped": report.skipped,
            },
        )
        report.statement = statement
    return report


def statement_template_csv() -> bytes:
    """A statement with the header row and one example line (UTF-8 with BOM, so that Excel reads Chinese)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([COL_DATE, COL_NAME, COL_ACCOUNT, COL_BANK, COL_AMOUNT, COL_MEMO[0], COL_SERIAL])
    writer.writerow(
        ["2026-03-02", "浙江建工集团有限公司", "6222020200012345678", "中国工商银行杭州分行", "200000.00",
         security_reference(lot_id=1, organisation_id=1) + " 投标保证金", "20260302000123"]
    )
    return b"\xef\xbb\xbf" + buffer.getvalue().encode("utf-8")


# --- the contract (TR 57) ------------------------------------------------------------------------------


def contract_record(*, actor: User, lot: Lot, signed_on: dt.date) -> LotContract:
    """Record the date the contract of an awarded lot was signed (an agent of the lot's agency).

    The date starts the five days of TR 57 for every bidder's security.
    Refused: a lot not awarded (``contract.not_awarded``), a date before the
    award or after today (``contract.date_invalid``), a contract already
    recorded (``contract.already_recorded``): the date is what the refunds'
    due dates were computed from, so it is not changed afterwards.
    """
    if not actor.has_role(Role.AGENT):
        raise NotPermitted("permission.role", _("只有招标代理机构经办人可以进行此操作。"))
    with transaction.atomic():
        lot = Lot.objects.select_for_update(of=("self",)).select_related("tender", "winner").get(pk=lot.pk)
        if not is_agent_of(actor, lot):
            raise NotFound("lot.not_found", _("标段不存在。"))
        if lot.status != LotStatus.AWARDED or lot.awarded_at is None:
            raise DomainError(
                "contract.not_awarded", _("标段尚未定标，不能登记合同签订。"), status=409, field="signed_on"
            )
        if LotContract.objects.filter(lot=lot).exists():
            raise DomainError("contract.already_recorded", _("该标段的合同签订日期已经登记。"), status=409)
        awarded_on = timezone.localdate(lot.awarded_at)
        if signed_on < awarded_on or signed_on > timezone.localdate():
            raise DomainError(
                "contract.date_invalid",
                _("合同签订日期应在定标日期（%(awarded)s）至今天之间。"),
                field="signed_on",
                awarded=awarded_on.isoformat(),
            )
        contract = LotContract.objects.create(
            lot=lot, signed_on=signed_on, recorded_by=actor, recorded_at=timezone.now()
        )
        record(
            "bidding.contract.recorded",
            actor=actor,
            obj=contract,
            data={
                "lot": lot.pk,
                "signed_on": signed_on,
                "winner": lot.winner.name if lot.winner else "",
                "refunds_due_by": signed_on + dt.timedelta(days=5),
            },
        )
    return contract


# --- forfeiture (EB 31, TR 35) --------------------------------------------------------------------------


def security_forfeit(*, actor: User, security: BidSecurity, reason: str) -> BidSecurity:
    """Decide to keep (没收) the security of a bid revoked at the opening through its bidder's fault.

    The finance role, or an agent of the lot's agency (once bidding has closed
    for the tender). The amount due is kept, taken from the payments in
    order; anything paid beyond it still goes back. Refused: a bid not revoked
    (``security.not_revoked``), nothing paid (``security.nothing_paid``),
    already decided (``security.already_forfeited``), money already in a
    refund batch or refunded (``security.refund_started``). Final.
    """
    reason = _text(reason, field="reason", label=_("没收理由"), limit=2000)
    with transaction.atomic():
        locked = (
            BidSecurity.objects.select_for_update(of=("self",))
            .select_related("lot", "lot__tender", "organisation")
            .get(pk=security.pk)
        )
        lot = locked.lot
        if not (is_finance(actor) or is_agent_of(actor, lot)):
            raise NotPermitted("permission.role", _("只有财务人员和本项目的代理机构经办人可以作出没收决定。"))
        if not is_finance(actor) and not bidding_closed_for(tender=lot.tender):
            raise NotPermitted("security.sealed", _("投标截止前，保证金缴纳情况保密：它会透露哪些单位获取了招标文件（EB 21）。"))
        list(SecurityPayment.objects.select_for_update().filter(security=locked))
        view = security_views([locked])[0]
        if locked.is_forfeited:
            raise DomainError("security.already_forfeited", _("已经作出没收决定。"), status=409)
        if not view.revoked:
            raise DomainError(
                "security.not_revoked",
                _("只有开标时因投标人自身原因解密失败而被撤销的投标，其保证金才可以没收（EB 31、TR 35）。"),
                status=409,
            )
        if view.paid <= 0:
            raise DomainError("security.nothing_paid", _("该投标人尚未缴纳保证金，无可没收。"), status=409)
        if view.has_live_refund:
            raise DomainError(
                "security.refund_started", _("该保证金已有款项列入退付批次或已退还，不能再没收。"), status=409
            )
        locked.forfeited_at = timezone.now()
        locked.forfeited_by = actor
        locked.forfeit_reason = reason
        locked.save(update_fields=["forfeited_at", "forfeited_by", "forfeit_reason"])
        kept = min(locked.amount_due, view.paid)
        record(
            "bidding.security.forfeited",
            actor=actor,
            obj=locked,
            data={
                "reference": locked.reference,
                "organisation": locked.organisation.name,
                "credit_code": locked.organisation.credit_code,
                "amount_forfeited": kept,
                "paid": view.paid,
                "reason": reason,
            },
        )
    return locked


# --- refunds ----------------------------------------------------------------------------------------------


def _purpose(security: BidSecurity) -> str:
    return f"退还投标保证金{security.reference}"


def _lock_lines(payment_ids: list[int]) -> dict[int, Any]:
    """Lock the securities, then the payments, in id order; return each payment's refund line, freshly computed."""
    security_ids = sorted(
        set(SecurityPayment.objects.filter(pk__in=payment_ids).values_list("security_id", flat=True))
    )
    securities = list(
        BidSecurity.objects.select_for_update(of=("self",))
        .select_related("lot", "lot__tender", "organisation")
        .filter(pk__in=security_ids)
        .order_by("pk")
    )
    list(SecurityPayment.objects.select_for_update().filter(security_id__in=security_ids).order_by("pk"))
    return {line.payment.pk: line for view in security_views(securities) for line in view.lines}


def refund_batch_create(*, actor: User, payment_ids: list[int]) -> RefundBatch:
    """Put the refunds of the given payments in a new batch for online banking (finance only).

    Each payment must be due back now (``security.refund_not_due`` names the
    first that is not: never due, forfeited, already in a batch or refunded
    — another user may have exported it a moment ago). The payee is the
    account the payment came from. The batch, with its count and total, and
    each refund are audited; from then on those payments are "in batch" and
    offered to no other batch (a database constraint holds that too).
    """
    require_finance(actor)
    ids = sorted({int(pk) for pk in payment_ids})
    if not ids:
        raise DomainError("security.batch_empty", _("请至少选择一笔待退还的保证金。"))
    with transaction.atomic():
        now = timezone.now()
        lines = _lock_lines(ids)
        for pk in ids:
            line = lines.get(pk)
            if line is None or line.state != LineState.DUE:
                raise DomainError(
                    "security.refund_not_due",
                    _("所选第 %(payment)s 号缴款当前不是待退还状态（可能已被他人列入批次、已退还或已没收），请刷新后重新选择。"),
                    status=409,
                    payment=pk,
                )
        chosen = [lines[pk] for pk in ids]
        total = sum((line.amount for line in chosen), Decimal("0.00"))
        batch = RefundBatch.objects.create(
            number=f"tmp-{uuid.uuid4().hex[:20]}", created_by=actor, created_at=now, count=len(chosen), total=total
        )
        batch.number = f"TF{timezone.localdate(now):%Y%m%d}-{batch.pk:05d}"
        batch.save(update_fields=["number"])
        for line in chosen:
            payment = line.payment
            security = line.security.security
            refund = SecurityRefund.objects.create(
                payment=payment,
                batch=batch,
                status=RefundStatus.IN_BATCH,
                amount=line.amount,
                payee_name=payment.payer_name,
                payee_account=payment.payer_account,
                payee_bank=payment.payer_bank,
                purpose=_purpose(security),
                rule=line.rule,
                due_on=line.due_on,
                created_by=actor,
                created_at=now,
            )
            record(
                "bidding.security.refund_batched",
                actor=actor,
                obj=refund,
                data={
                    "batch": batch.number,
                    "payment": payment.pk,
                    "reference": security.reference,
                    "amount": refund.amount,
                    "payee_name": refund.payee_name,
                    "payee_account": refund.payee_account,
                    "rule": refund.rule,
                    "due_on": refund.due_on,
                },
            )
        record(
            "bidding.security.batch_exported",
            actor=actor,
            data={"batch": batch.number, "count": batch.count, "total": batch.total, "payments": ids},
        )
    return batch


def _paid_fields(paid_on: dt.date, bank_reference: str, earliest: dt.date) -> tuple[dt.date, str]:
    paid_on = _not_future(paid_on, field="paid_on", label=_("退付日期"))
    if paid_on < earliest:
        raise DomainError(
            "security.refund_date_invalid",
            _("退付日期不能早于 %(date)s。"),
            field="paid_on",
            date=earliest.isoformat(),
        )
    bank_reference = _text(bank_reference, field="bank_reference", label=_("银行交易参考号"), limit=64)
    return paid_on, bank_reference


def _mark_paid(refund: SecurityRefund, *, actor: User, paid_on: dt.date, bank_reference: str, now: dt.datetime) -> None:
    refund.status = RefundStatus.PAID
    refund.paid_on = paid_on
    refund.bank_reference = bank_reference
    refund.paid_by = actor
    refund.paid_recorded_at = now
    refund.save(update_fields=["status", "paid_on", "bank_reference", "paid_by", "paid_recorded_at"])
    record(
        "bidding.security.refund_paid",
        actor=actor,
        obj=refund,
        data={
            "payment": refund.payment_id,
            "batch": refund.batch.number if refund.batch else None,
            "amount": refund.amount,
            "payee_account": refund.payee_account,
            "paid_on": paid_on,
            "bank_reference": bank_reference,
            "due_on": refund.due_on,
            "late": paid_on > refund.due_on,
        },
    )


def refund_mark_paid(
    *, actor: User, payment: SecurityPayment, paid_on: dt.date, bank_reference: str
) -> SecurityRefund:
    """Record the refund of one payment as paid, with the bank's date and reference (finance only).

    A payment in a batch is marked paid; a payment due back and in no batch
    (paid over the counter, say) gets its refund recorded as paid directly.
    Refused for anything else (``security.refund_not_due``,
    ``security.refund_already_paid``).
    """
    require_finance(actor)
    with transaction.atomic():
        now = timezone.now()
        line = _lock_lines([payment.pk]).get(payment.pk)
        assert line is not None
        paid_on, bank_reference = _paid_fields(paid_on, bank_reference, line.payment.paid_on)
        if line.state == LineState.PAID:
            raise DomainError("security.refund_already_paid", _("该笔保证金已经退还。"), status=409)
        if line.state == LineState.IN_BATCH:
            refund = SecurityRefund.objects.select_for_update(of=("self",)).select_related("batch").get(pk=line.refund.pk)
        elif line.state == LineState.DUE:
            security = line.security.security
            refund = SecurityRefund.objects.create(
                payment=line.payment,
                status=RefundStatus.IN_BATCH,
                amount=line.amount,
                payee_name=line.payment.payer_name,
                payee_account=line.payment.payer_account,
                payee_bank=line.payment.payer_bank,
                purpose=_purpose(security),
                rule=line.rule,
                due_on=line.due_on,
                created_by=actor,
                created_at=now,
            )
        else:
            raise DomainError(
                "security.refund_not_due", _("该笔保证金当前不是待退还状态（未到退还条件或已没收）。"), status=409
            )
        _mark_paid(refund, actor=actor, paid_on=paid_on, bank_reference=bank_reference, now=now)
    return refund


def refund_batch_mark_paid(*, actor: User, batch: RefundBatch, paid_on: dt.date, bank_reference: str) -> int:
    """Record every refund still in the batch as paid on ``paid_on`` with the bank's reference. Returns how many."""
    require_finance(actor)
    with transaction.atomic():
        now = timezone.now()
        batch = RefundBatch.objects.select_for_update().get(pk=batch.pk)
        refunds = list(
            SecurityRefund.objects.select_for_update(of=("self",))
            .select_related("batch", "payment", "payment__security", "payment__security__lot")
            .filter(batch=batch, status=RefundStatus.IN_BATCH)
            .order_by("pk")
        )
        if not refunds:
            raise DomainError("security.batch_nothing_open", _("该批次中没有待确认退付的款项。"), status=409)
        earliest = max(refund.payment.paid_on for refund in refunds)
        paid_on, bank_reference = _paid_fields(paid_on, bank_reference, max(earliest, timezone.localdate(batch.created_at)))
        for refund in refunds:
            _mark_paid(refund, actor=actor, paid_on=paid_on, bank_reference=bank_reference, now=now)
    return len(refunds)


def refund_batch_release(*, actor: User, batch: RefundBatch, reason: str) -> int:
    """Take the unpaid refunds out of a batch the bank did not pay (finance only); they are due again.

    The batch file read afterwards no longer lists them. Returns how many.
    """
    require_finance(actor)
    reason = _text(reason, field="reason", label=_("撤回原因"), limit=500)
    with transaction.atomic():
        now = timezone.now()
        batch = RefundBatch.objects.select_for_update().get(pk=batch.pk)
        refunds = list(
            SecurityRefund.objects.select_for_update(of=("self",))
            .select_related("payment", "payment__security", "payment__security__lot")
            .filter(batch=batch, status=RefundStatus.IN_BATCH)
            .order_by("pk")
        )
        if not refunds:
            raise DomainError("security.batch_nothing_open", _("该批次中没有待确认退付的款项。"), status=409)
        for refund in refunds:
            refund.status = RefundStatus.RELEASED
            refund.released_at = now
            refund.save(update_fields=["status", "released_at"])
            record(
                "bidding.security.refund_released",
                actor=actor,
                obj=refund,
                data={"batch": batch.number, "payment": refund.payment_id, "amount": refund.amount, "reason": reason},
            )
        record(
            "bidding.security.batch_released",
            actor=actor,
            data={"batch": batch.number, "released": len(refunds), "reason": reason},
        )
    return len(refunds)


# --- the demo ---------------------------------------------------------------------------------------------


def security_demo(*, finance: User) -> int:
    """Demo data (tendering/demo.py): every bid in so far has its security paid, recorded by ``finance``.

    Each payment arrives the day its bid did, from the bidder's own (made-up)
    account. The first awarded lot gets its contract recorded by its agent
    today, so its refunds are due (TR 57) and the finance queue has work;
    the failed lot's are due too. Returns the number of payments recorded.
    """
    from bidding.models import Bid

    count = 0
    pairs = (
        Bid.objects.filter(lot__bid_security__gt=0)
        .values_list("lot_id", "organisation_id")
        .distinct()
        .order_by("lot_id", "organisation_id")
    )
    lots = {lot.pk: lot for lot in Lot.objects.select_related("tender").filter(pk__in={pair[0] for pair in pairs})}
    for lot_id, organisation_id in pairs:
        lot = lots[lot_id]
        first = Bid.objects.filter(lot_id=lot_id, organisation_id=organisation_id).order_by("received_at").first()
        assert first is not None
        organisation = first.organisation
        payment_record(
            actor=finance,
            data=PaymentInput(
                reference=security_reference(lot_id=lot_id, organisation_id=organisation_id),
                amount=lot.bid_security,
                paid_on=timezone.localdate(first.received_at),
                payer_name=organisation.name,
                payer_account=f"62220202{organisation_id:06d}{lot_id:05d}",
                payer_bank="中国工商银行杭州分行",
                bank_serial=f"DEMO{lot_id:06d}{organisation_id:06d}",
            ),
        )
        count += 1
    awarded = Lot.objects.filter(pk__in=lots, status=LotStatus.AWARDED).select_related("tender").order_by("pk").first()
    if awarded is not None:
        agent = User.objects.filter(organisation_id=awarded.tender.agency_id, role_grants__role=Role.AGENT).first()
        if agent is not None:
            contract_record(actor=agent, lot=awarded, signed_on=timezone.localdate())
    return count
