"""Reads of bid security (投标保证金): what is due back, by when, and who may see it.

Nothing about a refund's due date is stored: it follows from the lot, the
bidder's bids, the opening and the contract, so it is worked out here each
time it is read (``refund_trigger``), and the services check it again under
their locks. The rules (RULES.md; docs/bid-security.md):

- a bid withdrawn before the deadline: within 5 days of the withdrawal (TR 35);
  paid but no bid at the deadline: counts as withdrawn (EB 27), 5 days from the deadline;
- a bid withdrawn (撤回) at the opening through no fault of its bidder (EB 31):
  5 days from that decision;
- the lot failed (流标) or was cancelled (终止): 5 days from that;
- otherwise, every bidder, the winner included: 5 days from the contract's signing (TR 57);
- a bid revoked (撤销) at the opening through its bidder's fault (EB 31, TR 35) follows
  the same rules unless a forfeiture (没收) was decided first.

The earliest rule that applies wins. "5 days" are calendar days (the
regulation says 日, not 工作日): an event on 3 March is due by 8 March and
overdue from 9 March. A payment received after its event is due 5 days after
it arrived. Each payment goes back to the account it came from.

Who sees what: the finance role everything; an agent the lots of its own
agency, once bidding has closed for the whole tender (EB 21: before that a
payment would tell who obtained the documents); a bidder only its own
organisation's security; anybody else nothing.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import Role, User
from bidding.models import (
    Bid,
    BidSecurity,
    BidStatus,
    LotContract,
    RefundBatch,
    RefundStatus,
    SecurityPayment,
    SecurityRefund,
)
from core.errors import NotFound, NotPermitted
from opening.models import BidOutcome, RoomBid
from tendering.models import DocumentObtain, Lot, LotStatus
from tendering.selectors import bidding_closed_for

REFUND_DAYS = 5
ZERO = Decimal("0.00")
LIVE_REFUND = (RefundStatus.IN_BATCH, RefundStatus.PAID)


class RefundRule:
    """Why a security is due back (stored on a refund as ``rule``), with the rule it comes from."""

    WITHDRAWN = "withdrawn"
    NO_BID = "no_bid"
    OPENING_WITHDRAWN = "opening_withdrawn"
    FAILED = "failed"
    CANCELLED = "cancelled"
    CONTRACT = "contract"

    LABELS = {
        WITHDRAWN: _("截止前撤回投标（TR 35）"),
        NO_BID: _("截止时无有效投标，视为撤回（EB 27、TR 35）"),
        OPENING_WITHDRAWN: _("开标时非因投标人原因撤回（EB 31）"),
        FAILED: _("标段流标"),
        CANCELLED: _("标段终止"),
        CONTRACT: _("合同签订（TR 57）"),
    }


class LineState:
    """Where one payment's refund stands."""

    HELD = "held"  # no rule makes it due yet
    DUE = "due"
    IN_BATCH = "in_batch"
    PAID = "paid"
    FORFEITED = "forfeited"

    LABELS = {
        HELD: _("未到退还条件"),
        DUE: _("待退还"),
        IN_BATCH: _("退付中"),
        PAID: _("已退还"),
        FORFEITED: _("已没收"),
    }


class SecurityState:
    """Where a whole security stands, as a bidder and the finance role see it."""

    UNPAID = "unpaid"
    SHORT = "short"
    PAID = "paid"
    REFUND_DUE = "refund_due"
    IN_BATCH = "in_batch"
    REFUNDED = "refunded"
    FORFEITED = "forfeited"

    LABELS = {
        UNPAID: _("待缴纳"),
        SHORT: _("未足额缴纳"),
        PAID: _("已缴纳"),
        REFUND_DUE: _("待退还"),
        IN_BATCH: _("退付中"),
        REFUNDED: _("已退还"),
        FORFEITED: _("已没收"),
    }
    BADGES = {
        UNPAID: "badge-warn",
        SHORT: "badge-warn",
        PAID: "badge-ok",
        REFUND_DUE: "badge-info",
        IN_BATCH: "badge-info",
        REFUNDED: "badge-ok",
        FORFEITED: "badge-danger",
    }


# --- payment references ---------------------------------------------------------------------------

REFERENCE_PREFIX = "BZ"
# BZ, the lot's id in 7 digits, the organisation's in 7, two check digits (ISO 7064 MOD 97-10).
# Spaces and hyphens inside are tolerated: people copy references into bank forms in pieces.
REFERENCE_PATTERN = re.compile(r"BZ[\s-]*(\d{7})[\s-]*(\d{7})[\s-]*(\d{2})(?!\d)", re.IGNORECASE)
_REFERENCE_ID_LIMIT = 10**7


def _check_digits(digits: str) -> str:
    return f"{98 - int(digits + '00') % 97:02d}"


def security_reference(*, lot_id: int, organisation_id: int) -> str:
    """The payment reference (付款参考号) a bidder writes in its transfer's 附言 for its security on a lot.

    Derived, not stored first, so that a bidder sees it before paying; the
    check digits catch a mistyped digit, which would otherwise credit
    somebody else's security.
    """
    if not (0 < lot_id < _REFERENCE_ID_LIMIT and 0 < organisation_id < _REFERENCE_ID_LIMIT):
        raise ValueError("ids beyond the reference format")
    digits = f"{lot_id:07d}{organisation_id:07d}"
    return f"{REFERENCE_PREFIX}{digits}{_check_digits(digits)}"


@dataclass(frozen=True)
class ParsedReference:
    text: str  # as normalised: BZ and 16 digits
    lot_id: int
    organisation_id: int
    valid: bool  # the check digits agree


def references_in(text: str) -> list[ParsedReference]:
    """Every payment reference in a transfer's memo, in order, duplicates removed.

    Full-width characters (ＢＺ１２…) are read as their ASCII forms first.
    """
    found: dict[str, ParsedReference] = {}
    for match in REFERENCE_PATTERN.finditer(unicodedata.normalize("NFKC", text or "")):
        lot_digits, org_digits, check = match.groups()
        digits = lot_digits + org_digits
        normalised = f"{REFERENCE_PREFIX}{digits}{check}"
        found.setdefault(
            normalised,
            ParsedReference(
                text=normalised,
                lot_id=int(lot_digits),
                organisation_id=int(org_digits),
                valid=_check_digits(digits) == check,
            ),
        )
    return list(found.values())


# --- permissions -------------------------------------------------------------------------------


def is_finance(user: User) -> bool:
    return bool(user.is_authenticated and user.has_role(Role.FINANCE))


def require_finance(user: User) -> None:
    if not is_finance(user):
        raise NotPermitted("permission.role", _("只有财务人员可以进行此操作。"))


def is_agent_of(user: User, lot: Lot) -> bool:
    return bool(user.is_authenticated and user.has_role(Role.AGENT) and user.organisation_id == lot.tender.agency_id)


def _published_lot(lot_id: int) -> Lot | None:
    return (
        Lot.objects.select_related("tender", "tender__agency", "tender__tenderer", "winner")
        .filter(pk=lot_id, tender__published_at__isnull=False)
        .exclude(status=LotStatus.DRAFT)
        .first()
    )


def lot_for_security_read(*, user: User, lot_id: int) -> Lot:
    """A lot whose securities the user may read: finance any; an agent its agency's, once unsealed (EB 21)."""
    if not (is_finance(user) or (user.is_authenticated and user.has_role(Role.AGENT))):
        raise NotPermitted("permission.role", _("只有财务人员和本项目的代理机构经办人可以查看投标保证金。"))
    lot = _published_lot(lot_id)
    if lot is None or not (is_finance(user) or is_agent_of(user, lot)):
        raise NotFound("lot.not_found", _("标段不存在。"))
    if not is_finance(user) and not bidding_closed_for(tender=lot.tender):
        raise NotPermitted(
            "security.sealed",
            _("投标截止前，保证金缴纳情况保密：它会透露哪些单位获取了招标文件（EB 21）。"),
        )
    return lot


def lot_for_contract(*, user: User, lot_id: int) -> Lot:
    """A lot whose contract the user may record: an agent of its agency."""
    if not (user.is_authenticated and user.has_role(Role.AGENT)):
        raise NotPermitted("permission.role", _("只有招标代理机构经办人可以进行此操作。"))
    lot = _published_lot(lot_id)
    if lot is None or not is_agent_of(user, lot):
        raise NotFound("lot.not_found", _("标段不存在。"))
    return lot


def security_for_decision(*, user: User, security_id: int) -> BidSecurity:
    """A security whose forfeiture the user may decide: finance any; an agent its agency's lots' (unsealed)."""
    if not (is_finance(user) or (user.is_authenticated and user.has_role(Role.AGENT))):
        raise NotPermitted("permission.role", _("只有财务人员和本项目的代理机构经办人可以作出没收决定。"))
    security = (
        BidSecurity.objects.select_related("lot", "lot__tender", "lot__tender__agency", "organisation")
        .filter(pk=security_id)
        .first()
    )
    if security is None or not (is_finance(user) or is_agent_of(user, security.lot)):
        raise NotFound("security.not_found", _("投标保证金记录不存在。"))
    # The same seal as reading the lot's securities.
    lot_for_security_read(user=user, lot_id=security.lot_id)
    return security


def payment_for_finance(*, user: User, payment_id: int) -> SecurityPayment:
    require_finance(user)
    payment = (
        SecurityPayment.objects.select_related("security", "security__lot", "security__lot__tender")
        .filter(pk=payment_id)
        .first()
    )
    if payment is None:
        raise NotFound("security.payment_not_found", _("缴款记录不存在。"))
    return payment


def batch_for_finance(*, user: User, batch_id: int) -> RefundBatch:
    require_finance(user)
    batch = RefundBatch.objects.select_related("created_by").filter(pk=batch_id).first()
    if batch is None:
        raise NotFound("security.batch_not_found", _("退付批次不存在。"))
    return batch


# --- the rules -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Trigger:
    """The event that makes a security due back: which rule, and the (local) day it happened."""

    rule: str
    event_on: dt.date

    @property
    def label(self) -> str:
        return str(RefundRule.LABELS[self.rule])


def _day(moment: dt.datetime | None, fallback: dt.datetime) -> dt.date:
    return timezone.localdate(moment or fallback)


def refund_trigger(
    *,
    lot: Lot,
    contract: LotContract | None,
    bids: Sequence[Bid],
    room_bid: RoomBid | None,
    now: dt.datetime,
) -> Trigger | None:
    """The earliest rule that makes the organisation's security on ``lot`` due back, or None.

    ``bids`` are all the organisation's bids on the lot (current, replaced,
    withdrawn); ``room_bid`` is the opening's entry for its current bid.
    """
    found: list[Trigger] = []
    if lot.status == LotStatus.CANCELLED:
        found.append(Trigger(RefundRule.CANCELLED, _day(lot.status_changed_at, now)))
    elif lot.status == LotStatus.FAILED:
        found.append(Trigger(RefundRule.FAILED, _day(lot.status_changed_at, now)))
    if contract is not None:
        found.append(Trigger(RefundRule.CONTRACT, contract.signed_on))
    if any(bid.status == BidStatus.CURRENT for bid in bids):
        if room_bid is not None and room_bid.outcome == BidOutcome.WITHDRAWN:
            found.append(Trigger(RefundRule.OPENING_WITHDRAWN, _day(room_bid.settled_at, now)))
    else:
        withdrawn = [bid.withdrawn_at for bid in bids if bid.status == BidStatus.WITHDRAWN and bid.withdrawn_at]
        if withdrawn:
            found.append(Trigger(RefundRule.WITHDRAWN, timezone.localdate(max(withdrawn))))
        elif now >= lot.bid_deadline:
            # EB 27: what was not received at the deadline counts as withdrawn.
            found.append(Trigger(RefundRule.NO_BID, timezone.localdate(lot.bid_deadline)))
    return min(found, key=lambda trigger: trigger.event_on) if found else None


def due_date(*, trigger: Trigger, paid_on: dt.date) -> dt.date:
    """Five calendar days after the event, or after the money arrived if it came later."""
    return max(trigger.event_on, paid_on) + dt.timedelta(days=REFUND_DAYS)


def forfeited_parts(security: BidSecurity, payments: Sequence[SecurityPayment]) -> dict[int, Decimal]:
    """How much of each payment a forfeiture keeps: the amount due, taken from the payments in order.

    What was paid beyond the amount due is not forfeited and goes back.
    """
    if not security.is_forfeited:
        return {}
    left = security.amount_due
    parts: dict[int, Decimal] = {}
    for payment in sorted(payments, key=lambda item: (item.paid_on, item.pk)):
        taken = min(left, payment.amount)
        parts[payment.pk] = taken
        left -= taken
    return parts


# --- views of securities -------------------------------------------------------------------------


@dataclass
class RefundLine:
    """One payment and where its refund stands."""

    payment: SecurityPayment
    state: str
    amount: Decimal  # what goes back (the payment less any forfeited part); 0 when all forfeited
    forfeited: Decimal
    due_on: dt.date | None = None
    rule: str = ""
    refund: SecurityRefund | None = None
    overdue: bool = False
    security: SecurityView | None = None

    @property
    def state_label(self) -> str:
        return str(LineState.LABELS[self.state])

    @property
    def rule_label(self) -> str:
        return str(RefundRule.LABELS[self.rule]) if self.rule else ""

    @property
    def days_overdue(self) -> int:
        if not self.overdue or self.due_on is None:
            return 0
        return (timezone.localdate() - self.due_on).days


@dataclass
class SecurityView:
    security: BidSecurity
    lot: Lot
    bid: Bid | None  # the current bid, else the latest one: the security follows replacements
    room_bid: RoomBid | None
    trigger: Trigger | None
    lines: list[RefundLine] = field(default_factory=list)

    @property
    def amount_due(self) -> Decimal:
        return self.security.amount_due

    @property
    def paid(self) -> Decimal:
        return sum((line.payment.amount for line in self.lines), ZERO)

    @property
    def shortfall(self) -> Decimal:
        return max(self.amount_due - self.paid, ZERO)

    @property
    def excess(self) -> Decimal:
        return max(self.paid - self.amount_due, ZERO)

    def _total(self, state: str) -> Decimal:
        return sum((line.amount for line in self.lines if line.state == state), ZERO)

    @property
    def due_total(self) -> Decimal:
        return self._total(LineState.DUE)

    @property
    def in_batch_total(self) -> Decimal:
        return self._total(LineState.IN_BATCH)

    @property
    def refunded_total(self) -> Decimal:
        return self._total(LineState.PAID)

    @property
    def forfeited_total(self) -> Decimal:
        return sum((line.forfeited for line in self.lines), ZERO)

    @property
    def next_due_on(self) -> dt.date | None:
        dates = [line.due_on for line in self.lines if line.state == LineState.DUE and line.due_on]
        return min(dates) if dates else None

    @property
    def overdue(self) -> bool:
        return any(line.overdue for line in self.lines)

    @property
    def revoked(self) -> bool:
        return self.room_bid is not None and self.room_bid.outcome == BidOutcome.REVOKED

    @property
    def has_live_refund(self) -> bool:
        return any(line.refund is not None for line in self.lines)

    @property
    def forfeitable(self) -> bool:
        """A forfeiture may still be decided: a revoked bid, money paid, none of it on its way back."""
        return self.revoked and not self.security.is_forfeited and self.paid > 0 and not self.has_live_refund

    @property
    def state(self) -> str:
        states = {line.state for line in self.lines}
        if LineState.DUE in states:
            return SecurityState.REFUND_DUE
        if LineState.IN_BATCH in states:
            return SecurityState.IN_BATCH
        if self.security.is_forfeited:
            return SecurityState.FORFEITED
        if self.lines and states == {LineState.PAID}:
            return SecurityState.REFUNDED
        if self.paid == 0:
            return SecurityState.UNPAID
        if self.paid < self.amount_due:
            return SecurityState.SHORT
        return SecurityState.PAID

    @property
    def state_label(self) -> str:
        return str(SecurityState.LABELS[self.state])

    @property
    def state_badge(self) -> str:
        return SecurityState.BADGES[self.state]


def _latest_bid(bids: Sequence[Bid]) -> Bid | None:
    current = [bid for bid in bids if bid.status == BidStatus.CURRENT]
    if current:
        return current[0]
    return max(bids, key=lambda bid: bid.received_at) if bids else None


def security_views(securities: Iterable[BidSecurity], *, now: dt.datetime | None = None) -> list[SecurityView]:
    """Each security with its payments and their refund states. A fixed number of queries, whatever the count.

    ``securities`` should come with ``lot``, ``lot__tender`` and ``organisation`` selected.
    """
    now = now or timezone.now()
    today = timezone.localdate(now)
    securities = list(securities)
    if not securities:
        return []
    ids = [security.pk for security in securities]
    lot_ids = {security.lot_id for security in securities}
    org_ids = {security.organisation_id for security in securities}
    payments: dict[int, list[SecurityPayment]] = defaultdict(list)
    for payment in SecurityPayment.objects.filter(security_id__in=ids).order_by("paid_on", "id"):
        payments[payment.security_id].append(payment)
    refunds = {
        refund.payment_id: refund
        for refund in SecurityRefund.objects.filter(payment__security_id__in=ids, status__in=LIVE_REFUND)
        .select_related("batch")
    }
    contracts = {contract.lot_id: contract for contract in LotContract.objects.filter(lot_id__in=lot_ids)}
    bids: dict[tuple[int, int], list[Bid]] = defaultdict(list)
    for bid in Bid.objects.filter(lot_id__in=lot_ids, organisation_id__in=org_ids).only(
        "id", "lot_id", "organisation_id", "status", "received_at", "withdrawn_at", "receipt_no"
    ):
        bids[(bid.lot_id, bid.organisation_id)].append(bid)
    current_ids = [
        bid.pk for group in bids.values() for bid in group if bid.status == BidStatus.CURRENT
    ]
    room_bids = {entry.bid_id: entry for entry in RoomBid.objects.filter(bid_id__in=current_ids)}

    views = []
    for security in securities:
        own_bids = bids.get((security.lot_id, security.organisation_id), [])
        bid = _latest_bid(own_bids)
        room_bid = room_bids.get(bid.pk) if bid is not None and bid.status == BidStatus.CURRENT else None
        trigger = refund_trigger(
            lot=security.lot, contract=contracts.get(security.lot_id), bids=own_bids, room_bid=room_bid, now=now
        )
        view = SecurityView(security=security, lot=security.lot, bid=bid, room_bid=room_bid, trigger=trigger)
        own_payments = payments.get(security.pk, [])
        kept = forfeited_parts(security, own_payments)
        for payment in own_payments:
            forfeited = kept.get(payment.pk, ZERO)
            line = RefundLine(
                payment=payment, state=LineState.HELD, amount=payment.amount - forfeited, forfeited=forfeited,
                security=view,
            )
            refund = refunds.get(payment.pk)
            if refund is not None:
                line.refund = refund
                line.state = LineState.PAID if refund.status == RefundStatus.PAID else LineState.IN_BATCH
                line.amount, line.due_on, line.rule = refund.amount, refund.due_on, refund.rule
            elif line.amount <= 0:
                line.state = LineState.FORFEITED
            elif trigger is not None:
                line.state = LineState.DUE
                line.rule = trigger.rule
                line.due_on = due_date(trigger=trigger, paid_on=payment.paid_on)
                line.overdue = today > line.due_on
            view.lines.append(line)
        views.append(view)
    return views


def _securities() -> QuerySet[BidSecurity]:
    return BidSecurity.objects.select_related(
        "lot", "lot__tender", "lot__tender__agency", "organisation", "forfeited_by"
    )


# --- the bidder's own -------------------------------------------------------------------------------


@dataclass(frozen=True)
class BidderSecurity:
    """A bidder's own security on a lot: how to pay it, and where it stands."""

    lot: Lot
    reference: str
    amount_due: Decimal
    view: SecurityView | None

    @property
    def required(self) -> bool:
        return self.amount_due > 0 or self.view is not None


def security_for_bidder(*, user: User, lot: Lot) -> BidderSecurity | None:
    """The user's own organisation's security on ``lot``; None for anyone but a bidder that obtained the documents.

    Never another organisation's: the organisation is the user's, not a parameter.
    """
    if not (user.is_authenticated and user.has_role(Role.BIDDER) and user.organisation_id):
        return None
    if not DocumentObtain.objects.filter(tender_id=lot.tender_id, organisation_id=user.organisation_id).exists():
        return None
    security = _securities().filter(lot_id=lot.pk, organisation_id=user.organisation_id).first()
    views = security_views([security]) if security is not None else []
    return BidderSecurity(
        lot=lot,
        reference=security_reference(lot_id=lot.pk, organisation_id=user.organisation_id),
        amount_due=security.amount_due if security is not None else lot.bid_security,
        view=views[0] if views else None,
    )


# --- a lot's securities (finance, the lot's agent) ------------------------------------------------


@dataclass(frozen=True)
class LotSecurityRow:
    organisation_name: str
    credit_code: str
    reference: str
    bid: Bid | None
    view: SecurityView | None


@dataclass(frozen=True)
class LotSecurities:
    lot: Lot
    contract: LotContract | None
    rows: list[LotSecurityRow]


def lot_securities(*, user: User, lot_id: int) -> LotSecurities:
    """Every bidder of the lot (with a bid or a payment) and its security. Finance; the lot's agent once unsealed."""
    lot = lot_for_security_read(user=user, lot_id=lot_id)
    views = {view.security.organisation_id: view for view in security_views(_securities().filter(lot_id=lot.pk))}
    bidders = {
        bid.organisation_id: bid.organisation
        for bid in Bid.objects.filter(lot_id=lot.pk).select_related("organisation")
    }
    for view in views.values():
        bidders.setdefault(view.security.organisation_id, view.security.organisation)
    rows = []
    latest = {
        (bid.organisation_id): bid
        for bid in Bid.objects.filter(lot_id=lot.pk).order_by("received_at")
    }
    current = {
        bid.organisation_id: bid for bid in Bid.objects.filter(lot_id=lot.pk, status=BidStatus.CURRENT)
    }
    for org_id, organisation in sorted(bidders.items(), key=lambda item: item[1].name):
        view = views.get(org_id)
        rows.append(
            LotSecurityRow(
                organisation_name=organisation.name,
                credit_code=organisation.credit_code,
                reference=security_reference(lot_id=lot.pk, organisation_id=org_id),
                bid=current.get(org_id) or latest.get(org_id),
                view=view,
            )
        )
    return LotSecurities(lot=lot, contract=LotContract.objects.filter(lot=lot).first(), rows=rows)


# --- the finance queue --------------------------------------------------------------------------------


QUEUE_STATES = ("due", "overdue", "held", "in_batch", "paid", "forfeited", "all")


@dataclass(frozen=True)
class QueueFilter:
    state: str = "due"
    rule: str = ""
    q: str = ""
    due_before: dt.date | None = None


@dataclass(frozen=True)
class Queue:
    lines: list[RefundLine]
    overdue: int
    due: int
    due_total: Decimal


def _matching(queryset: QuerySet[BidSecurity], q: str) -> QuerySet[BidSecurity]:
    q = q.strip()
    if not q:
        return queryset
    return queryset.filter(
        Q(reference__icontains=q.replace(" ", ""))
        | Q(organisation__name__icontains=q)
        | Q(lot__tender__code__icontains=q)
        | Q(lot__tender__title__icontains=q)
        | Q(payments__payer_name__icontains=q)
        | Q(payments__payer_account__icontains=q)
    ).distinct()


def _open_securities() -> QuerySet[BidSecurity]:
    """Securities with a payment that is neither in a batch nor refunded: the only ones that may be due."""
    live = SecurityRefund.objects.filter(payment=OuterRef("pk"), status__in=LIVE_REFUND)
    open_payments = SecurityPayment.objects.filter(security=OuterRef("pk")).exclude(Exists(live))
    return _securities().filter(Exists(open_payments))


def refund_queue(*, user: User, filters: QueueFilter | None = None) -> Queue:
    """Payments and their refunds for the finance role, by due date; overdue ones counted.

    The counts (overdue, due, due total) are over everything due, whatever the filter.
    """
    require_finance(user)
    filters = filters or QueueFilter()
    today = timezone.localdate()
    everything = filters.state in ("in_batch", "paid", "all")
    open_views = security_views(_open_securities())
    due_lines = [line for view in open_views for line in view.lines if line.state == LineState.DUE]
    if everything or filters.q.strip():
        base = _securities() if everything else _open_securities()
        views = security_views(_matching(base, filters.q))
    else:
        views = open_views
    lines = [line for view in views for line in view.lines]
    if filters.state == "overdue":
        lines = [line for line in lines if line.overdue]
    elif filters.state != "all":
        lines = [line for line in lines if line.state == filters.state]
    if filters.rule:
        lines = [line for line in lines if line.rule == filters.rule]
    if filters.due_before is not None:
        lines = [line for line in lines if line.due_on is not None and line.due_on <= filters.due_before]
    far = dt.date.max
    lines.sort(key=lambda line: (line.due_on or far, line.payment.paid_on, line.payment.pk))
    return Queue(
        lines=lines,
        overdue=sum(1 for line in due_lines if line.due_on is not None and today > line.due_on),
        due=len(due_lines),
        due_total=sum((line.amount for line in due_lines), ZERO),
    )


def overdue_refund_count(*, user: User) -> int | None:
    """How many refunds are past their due date; None for anyone but the finance role."""
    if not is_finance(user):
        return None
    return refund_queue(user=user).overdue


def recent_batches(*, user: User, limit: int = 20) -> list[RefundBatch]:
    require_finance(user)
    return list(RefundBatch.objects.select_related("created_by")[:limit])


# --- batch files (网银批量退付) ------------------------------------------------------------------------

# The columns of the batch file, in order (docs/bid-security.md). Part of the bank's format, not translated.
BATCH_COLUMNS = ("收款人户名", "收款人账号", "收款人开户行", "金额", "用途")


def batch_refunds(batch: RefundBatch) -> list[SecurityRefund]:
    return list(batch.refunds.exclude(status=RefundStatus.RELEASED).order_by("id"))


def batch_rows(batch: RefundBatch) -> list[tuple[str, str, str, Decimal, str]]:
    """The batch's lines as the bank file holds them: released refunds are not in the file."""
    return [
        (refund.payee_name, refund.payee_account, refund.payee_bank, refund.amount, refund.purpose)
        for refund in batch_refunds(batch)
    ]


def batch_csv(batch: RefundBatch) -> bytes:
    """UTF-8 with BOM, CRLF line ends, a header row, amounts with two decimals."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(BATCH_COLUMNS)
    for name, account, bank, amount, purpose in batch_rows(batch):
        writer.writerow([name, account, bank, f"{amount:.2f}", purpose])
    return b"\xef\xbb\xbf" + buffer.getvalue().encode("utf-8")


def batch_xlsx(batch: RefundBatch) -> bytes:
    """One sheet, a header row; accounts as text (never a number Excel would round), amounts as numbers."""
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    sheet.title = batch.number
    sheet.append(list(BATCH_COLUMNS))
    for name, account, bank, amount, purpose in batch_rows(batch):
        sheet.append([name, account, bank, amount, purpose])
        row = sheet.max_row
        sheet.cell(row=row, column=2).number_format = "@"
        sheet.cell(row=row, column=4).number_format = "0.00"
    for column, width in zip("ABCDE", (36, 28, 36, 16, 40), strict=True):
        sheet.column_dimensions[column].width = width
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def batch_summary(batch: RefundBatch) -> dict[str, Any]:
    refunds = batch_refunds(batch)
    return {
        "count": len(refunds),
        "total": sum((refund.amount for refund in refunds), ZERO),
        "in_batch": sum(1 for refund in refunds if refund.status == RefundStatus.IN_BATCH),
        "paid": sum(1 for refund in refunds if refund.status == RefundStatus.PAID),
        "released": batch.refunds.filter(status=RefundStatus.RELEASED).count(),
    }


def batch_detail(*, user: User, batch_id: int) -> tuple[RefundBatch, list[SecurityRefund], dict[str, Any]]:
    batch = batch_for_finance(user=user, batch_id=batch_id)
    refunds = list(
        batch.refunds.select_related(
            "payment", "payment__security", "payment__security__lot", "payment__security__lot__tender",
            "payment__security__organisation",
        ).order_by("id")
    )
    return batch, refunds, batch_summary(batch)


def contract_of(*, lot: Lot) -> LotContract | None:
    return LotContract.objects.select_related("recorded_by").filter(lot=lot).first()
