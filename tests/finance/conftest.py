"""Fixtures of the finance tests.

Shared by the finance features: each feature's fixtures carry its prefix
(``security_`` for bid security, tests/finance/test_security*.py).
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from accounts.models import User
from bidding import security
from bidding.models import Bid, BidStatus, SecurityPayment, Upload, UploadStatus
from tendering import services as tendering
from tendering.models import Lot

# --- bid security (投标保证金) ------------------------------------------------------------------------

# The clock of the security tests: the conftest lot's deadline (and opening) is 30 days later.
SECURITY_T0 = dt.datetime(2026, 3, 2, 9, 30, tzinfo=ZoneInfo("Asia/Shanghai"))
SECURITY_DEADLINE = SECURITY_T0 + dt.timedelta(days=30)
_security_serial = itertools.count(1)


@pytest.fixture
def security_clock(time_machine):
    """The server clock frozen at ``SECURITY_T0``; move it with ``security_clock.move_to(...)``."""
    time_machine.move_to(SECURITY_T0, tick=False)
    return time_machine


@pytest.fixture
def security_lot(security_clock, make_draft, people) -> Lot:
    """Alice's published lot (security 200,000.00 yuan, three bidders minimum) whose documents bob, carol and dave obtained."""
    tender = tendering.tender_publish(actor=people["alice"], tender=make_draft())
    for name in ("bob", "carol", "dave"):
        tendering.documents_obtain(actor=people[name], tender=tender)
    return tender.lots.select_related("tender").get()


@pytest.fixture
def security_bid() -> Callable[..., Bid]:
    """A bid row as the bidding services leave it, written directly (no sealing: only its state matters here).

    A current bid replaces the organisation's current one; ``withdrawn_at``
    makes a withdrawn bid.
    """

    def make(user: User, lot: Lot, *, withdrawn_at: dt.datetime | None = None) -> Bid:
        number = next(_security_serial)
        now = timezone.now()
        upload = Upload.objects.create(
            lot=lot, organisation=user.organisation, created_by=user, size=1000, part_size=4096, received=1000,
            status=UploadStatus.COMPLETE, created_at=now, received_at=now, closed_at=now,
        )
        previous = Bid.objects.filter(lot=lot, organisation=user.organisation, status=BidStatus.CURRENT).first()
        if previous is not None:
            previous.status = BidStatus.REPLACED
            previous.save(update_fields=["status"])
        return Bid.objects.create(
            lot=lot, organisation=user.organisation, upload=upload, submitted_by=user, size=1000,
            sha256=f"{number:064x}", header_sha256="0" * 64, payload_sha256="0" * 64,
            bidder_fingerprint="a" * 64, signing_fingerprint="b" * 64, opening_fingerprint="c" * 64,
            received_at=now, status=BidStatus.WITHDRAWN if withdrawn_at else BidStatus.CURRENT,
            replaces=previous, withdrawn_at=withdrawn_at, withdrawn_by=user if withdrawn_at else None,
            receipt_no=f"SECURITY-{number:06d}", receipt="{}", audit_seq=0,
        )

    return make


@pytest.fixture
def security_pay(people) -> Callable[..., SecurityPayment]:
    """A payment recorded by fay for ``user``'s organisation on ``lot`` (its whole security by default)."""

    def pay(
        user: User, lot: Lot, amount: Decimal | str | None = None, *, paid_on: dt.date | None = None,
        account: str | None = None,
    ) -> SecurityPayment:
        number = next(_security_serial)
        return security.payment_record(
            actor=people["fay"],
            data=security.PaymentInput(
                reference=security.security_reference(lot_id=lot.pk, organisation_id=user.organisation_id),
                amount=Decimal(amount) if amount is not None else lot.bid_security,
                paid_on=paid_on or timezone.localdate(),
                payer_name=user.organisation.name,
                payer_account=account or f"62220202{user.organisation_id:011d}",
                payer_bank="中国工商银行杭州分行",
                bank_serial=f"SN{number:010d}",
            ),
        )

    return pay


# --- savings reports (节约率报表) ------------------------------------------------------------------

_savings_serial = itertools.count(1)


@pytest.fixture
def savings_award(people, orgs) -> Callable[..., Lot]:
    """An awarded lot, through ``tendering.services.lot_award`` at ``at`` (the fact is written there).

    The tender and the lot are written straight to the rows, the lot already
    in evaluation (how it got there is not under test); then the agent of the
    tender's agency (alice, or agnes with ``agent="agnes"``) awards it with
    the clock at ``at``. ``status="failed"`` or ``"cancelled"`` leaves a lot in
    that final state instead, with the award fields empty, as those lots are.
    """
    import time_machine

    from tendering.models import EvaluationMethod, LotStatus, Tender, TenderStatus

    def make(
        *, at: dt.datetime, control: str, award: str | None = None, agent: str = "alice",
        category: str = "construction", region: str = "330000", tenderer: str = "tenderer",
        winner: str = "bidder_a", status: str = LotStatus.AWARDED, name: str = "",
    ) -> Lot:
        number = next(_savings_serial)
        agency = people[agent].organisation
        tender = Tender.objects.create(
            code=f"SAVINGS-{number:05d}", title=f"节约率测试项目{number}", project_name=f"节约率测试项目{number}",
            tenderer=orgs[tenderer], agency=agency, supervising_authority=orgs["supervisor"], category=category,
            region=region, description="", contact_name="王工", contact_phone="0571-88880000",
            status=TenderStatus.PUBLISHED, published_at=at - dt.timedelta(days=40), created_by=people[agent],
        )
        lot = Lot.objects.create(
            tender=tender, number=1, name=name or f"测试标段{number}", estimated_price=Decimal(control),
            control_price=Decimal(control), bid_security=Decimal("0"), doc_start=at - dt.timedelta(days=40),
            doc_end=at - dt.timedelta(days=25), bid_deadline=at - dt.timedelta(days=20),
            opening_time=at - dt.timedelta(days=20), evaluation_method=EvaluationMethod.LOWEST_PRICE,
            status=LotStatus.EVALUATING if status == LotStatus.AWARDED else status, status_changed_at=at,
        )
        if status != LotStatus.AWARDED:
            return lot
        with time_machine.travel(at, tick=False):
            return tendering.lot_award(
                actor=people[agent], lot=lot, winner=orgs[winner], award_price=Decimal(award or control)
            )

    return make
