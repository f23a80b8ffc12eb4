"""When a bid security is due back (TR 35, TR 57, EB 27, EB 31), overdue flags, the contract and forfeiture.

The clock is frozen (``security_clock``); "5 days" are calendar days: an
event on day D is due by D + 5 and overdue from D + 6.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from audit.models import AuditEvent
from bidding import security
from bidding.models import BidSecurity, LotContract
from bidding.security_selectors import (
    LineState,
    RefundRule,
    SecurityState,
    refund_queue,
    security_for_bidder,
    security_views,
)
from core.errors import DomainError, NotFound, NotPermitted
from opening.models import BidCause, BidOutcome, RoomBid
from tendering import services as tendering
from tendering.models import Lot, LotStatus
from tests.finance.conftest import SECURITY_DEADLINE, SECURITY_T0

pytestmark = pytest.mark.django_db

T0_DAY = SECURITY_T0.date()


def _view(lot: Lot, user):
    return security_views([BidSecurity.objects.select_related("lot", "lot__tender", "organisation").get(
        lot=lot, organisation=user.organisation
    )])[0]


def _open_room(lot: Lot, clock) -> None:
    """The opening, with every bid in: the sweep past the opening time, minimum lowered so that it opens."""
    Lot.objects.filter(pk=lot.pk).update(min_bidders=1)
    clock.move_to(SECURITY_DEADLINE + dt.timedelta(minutes=1), tick=False)
    tendering.lots_advance_due()
    lot.refresh_from_db()


def _award(lot: Lot, people, winner) -> Lot:
    lot = tendering.lot_mark_opened(actor=people["alice"], lot=lot)
    lot = tendering.lot_start_evaluation(actor=people["alice"], lot=lot)
    return tendering.lot_award(actor=people["alice"], lot=lot, winner=winner, award_price=Decimal("11000000.00"))


def test_a_bid_withdrawn_before_the_deadline_is_due_back_five_calendar_days_after_the_withdrawal(
    security_lot, security_clock, security_bid, security_pay, people
):
    bob, fay = people["bob"], people["fay"]
    security_pay(bob, security_lot)
    security_bid(bob, security_lot)
    assert _view(security_lot, bob).state == SecurityState.PAID

    # Withdrawn on Saturday 7 March: due by Thursday 12 March, weekend or not (TR 35 says 5 日).
    withdrawn = SECURITY_T0 + dt.timedelta(days=5)
    security_bid(bob, security_lot, withdrawn_at=withdrawn)
    view = _view(security_lot, bob)
    (line,) = view.lines
    assert (view.state, line.state, line.rule) == (SecurityState.REFUND_DUE, LineState.DUE, RefundRule.WITHDRAWN)
    assert line.due_on == dt.date(2026, 3, 12)

    security_clock.move_to(dt.datetime(2026, 3, 12, 23, 59, tzinfo=SECURITY_T0.tzinfo), tick=False)
    queue = refund_queue(user=fay)
    assert (queue.due, queue.overdue, queue.due_total) == (1, 0, Decimal("200000.00"))
    security_clock.move_to(dt.datetime(2026, 3, 13, 0, 1, tzinfo=SECURITY_T0.tzinfo), tick=False)
    queue = refund_queue(user=fay)
    assert (queue.due, queue.overdue) == (1, 1)
    assert queue.lines[0].overdue and queue.lines[0].days_overdue == 1


def test_a_replaced_bid_keeps_its_security_and_nothing_is_due_while_a_bid_stands(
    security_lot, security_clock, security_bid, security_pay, people
):
    bob = people["bob"]
    security_pay(bob, security_lot)
    first = security_bid(bob, security_lot)
    replacement = security_bid(bob, security_lot)
    view = _view(security_lot, bob)
    assert view.bid == replacement != first
    assert view.state == SecurityState.PAID and view.trigger is None
    # Withdrawn, then bid again before the deadline: the security covers the new bid, nothing is due.
    security_bid(bob, security_lot, withdrawn_at=timezone.now())
    security_bid(bob, security_lot)
    assert _view(security_lot, bob).trigger is None
    assert BidSecurity.objects.filter(lot=security_lot).count() == 1


def test_a_payment_with_no_bid_at_the_deadline_counts_as_withdrawn_and_is_due_five_days_after_it(
    security_lot, security_clock, security_pay, people
):
    carol = people["carol"]
    security_pay(carol, security_lot)
    assert _view(security_lot, carol).trigger is None  # carol may still bid
    security_clock.move_to(SECURITY_DEADLINE + dt.timedelta(hours=2), tick=False)
    (line,) = _view(security_lot, carol).lines
    assert (line.rule, line.due_on) == (RefundRule.NO_BID, SECURITY_DEADLINE.date() + dt.timedelta(days=5))


def test_a_failed_lot_refunds_everyone_within_five_days_of_the_failure_and_a_late_payment_five_days_after_it_came(
    security_lot, security_clock, security_bid, security_pay, people
):
    bob, carol = people["bob"], people["carol"]
    security_pay(bob, security_lot)
    security_bid(bob, security_lot)
    security_bid(carol, security_lot)
    # Two bids for a minimum of three: the opening fails the lot by itself (TR 44).
    security_clock.move_to(SECURITY_DEADLINE + dt.timedelta(minutes=1), tick=False)
    tendering.lots_advance_due()
    security_lot.refresh_from_db()
    assert security_lot.status == LotStatus.FAILED
    (line,) = _view(security_lot, bob).lines
    assert (line.rule, line.due_on) == (RefundRule.FAILED, SECURITY_DEADLINE.date() + dt.timedelta(days=5))
    # Carol's money arrives three days after the failure: due five days after it arrived.
    security_clock.move_to(SECURITY_DEADLINE + dt.timedelta(days=3), tick=False)
    security_pay(carol, security_lot)
    (late,) = _view(security_lot, carol).lines
    assert (late.rule, late.due_on) == (RefundRule.FAILED, SECURITY_DEADLINE.date() + dt.timedelta(days=8))


def test_a_cancelled_lot_refunds_within_five_days_of_the_cancellation(
    security_lot, security_clock, security_bid, security_pay, people
):
    bob = people["bob"]
    security_pay(bob, security_lot)
    security_bid(bob, security_lot)
    security_clock.move_to(SECURITY_T0 + dt.timedelta(days=10), tick=False)
    tendering.lot_cancel(actor=people["alice"], lot=security_lot, reason="项目取消")
    (line,) = _view(security_lot, bob).lines
    assert (line.rule, line.due_on) == (RefundRule.CANCELLED, T0_DAY + dt.timedelta(days=15))


def test_after_the_contract_every_bidder_the_winner_included_is_due_within_five_days(
    security_lot, security_clock, security_bid, security_pay, people, orgs
):
    bob, carol, alice = people["bob"], people["carol"], people["alice"]
    for user in (bob, carol):
        security_pay(user, security_lot)
        security_bid(user, security_lot)
    _open_room(security_lot, security_clock)
    lot = _award(security_lot, people, orgs["bidder_a"])
    # Awarded, no contract yet: the unsuccessful bidder waits too (TR 57).
    assert {line.state for user in (bob, carol) for line in _view(lot, user).lines} == {LineState.HELD}
    with pytest.raises(DomainError) as early:
        security.contract_record(actor=alice, lot=lot, signed_on=SECURITY_DEADLINE.date() - dt.timedelta(days=1))
    assert early.value.code == "contract.date_invalid"

    security_clock.move_to(SECURITY_DEADLINE + dt.timedelta(days=6), tick=False)
    signed = SECURITY_DEADLINE.date() + dt.timedelta(days=4)
    contract = security.contract_record(actor=alice, lot=lot, signed_on=signed)
    assert AuditEvent.objects.filter(action="bidding.contract.recorded", object_id=str(contract.pk)).exists()
    for user in (bob, carol):
        (line,) = _view(lot, user).lines
        assert (line.rule, line.due_on, line.overdue) == (RefundRule.CONTRACT, signed + dt.timedelta(days=5), False)
    with pytest.raises(DomainError) as again:
        security.contract_record(actor=alice, lot=lot, signed_on=signed)
    assert again.value.code == "contract.already_recorded"
    with pytest.raises(NotFound):
        security.contract_record(actor=people["agnes"], lot=lot, signed_on=signed)
    assert LotContract.objects.get(lot=lot).signed_on == signed


def test_the_contract_cannot_be_recorded_before_the_award(security_lot, people):
    with pytest.raises(DomainError) as refused:
        security.contract_record(actor=people["alice"], lot=security_lot, signed_on=timezone.localdate())
    assert refused.value.code == "contract.not_awarded"
    with pytest.raises(NotPermitted):
        security.contract_record(actor=people["fay"], lot=security_lot, signed_on=timezone.localdate())


def test_a_bid_withdrawn_at_the_opening_through_no_fault_of_its_bidder_is_due_five_days_after_the_decision(
    security_lot, security_clock, security_bid, security_pay, people
):
    bob = people["bob"]
    security_pay(bob, security_lot)
    bid = security_bid(bob, security_lot)
    _open_room(security_lot, security_clock)
    settled = SECURITY_DEADLINE + dt.timedelta(minutes=40)
    RoomBid.objects.filter(bid=bid).update(outcome=BidOutcome.WITHDRAWN, cause=BidCause.OTHER_FAULT, settled_at=settled)
    (line,) = _view(security_lot, bob).lines
    assert (line.rule, line.due_on) == (RefundRule.OPENING_WITHDRAWN, settled.date() + dt.timedelta(days=5))


def test_a_revoked_bids_security_may_be_forfeited_with_a_reason_and_only_the_excess_goes_back(
    security_lot, security_clock, security_bid, security_pay, people, orgs
):
    bob, carol, alice, fay = people["bob"], people["carol"], people["alice"], people["fay"]
    security_pay(bob, security_lot, "150000.00")
    security_pay(bob, security_lot, "80000.00")  # 30,000.00 more than the 200,000.00 due
    bob_bid = security_bid(bob, security_lot)
    security_pay(carol, security_lot)
    carol_bid = security_bid(carol, security_lot)
    bob_security = BidSecurity.objects.get(organisation=bob.organisation)
    # Before the deadline the agent may not even know bob paid (EB 21); nothing is revoked anyway.
    with pytest.raises(NotPermitted) as sealed:
        security.security_forfeit(actor=alice, security=bob_security, reason="解密失败")
    assert sealed.value.code == "security.sealed"
    with pytest.raises(DomainError) as before:
        security.security_forfeit(actor=fay, security=bob_security, reason="解密失败")
    assert before.value.code == "security.not_revoked"
    _open_room(security_lot, security_clock)
    RoomBid.objects.filter(bid=bob_bid).update(
        outcome=BidOutcome.REVOKED, cause=BidCause.BIDDER_FAULT, settled_at=timezone.now()
    )
    assert _view(security_lot, bob).forfeitable
    # Another agency's agent does not see the lot; a bidder may not decide.
    with pytest.raises(NotPermitted):
        security.security_forfeit(actor=people["agnes"], security=bob_security, reason="x")
    with pytest.raises(NotPermitted):
        security.security_forfeit(actor=bob, security=bob_security, reason="x")
    with pytest.raises(DomainError) as no_reason:
        security.security_forfeit(actor=alice, security=bob_security, reason="  ")
    assert no_reason.value.field == "reason"

    security.security_forfeit(actor=alice, security=bob_security, reason="投标人未按时使用本单位密钥解密，依招标文件第3.7条不予退还。")
    event = AuditEvent.objects.get(action="bidding.security.forfeited")
    assert event.actor_name == "alice" and '"amount_forfeited":"200000.00"' in event.payload
    with pytest.raises(DomainError) as twice:
        security.security_forfeit(actor=fay, security=bob_security, reason="再次")
    assert twice.value.code == "security.already_forfeited"

    lot = _award(security_lot, people, orgs["bidder_b"])
    security_clock.move_to(SECURITY_DEADLINE + dt.timedelta(days=3), tick=False)
    security.contract_record(actor=alice, lot=lot, signed_on=timezone.localdate())
    view = _view(lot, bob)
    assert [(line.state, line.amount, line.forfeited) for line in view.lines] == [
        (LineState.FORFEITED, Decimal("0.00"), Decimal("150000.00")),
        (LineState.DUE, Decimal("30000.00"), Decimal("50000.00")),
    ]
    assert (view.forfeited_total, view.due_total) == (Decimal("200000.00"), Decimal("30000.00"))
    # Carol's bid was not revoked: refunded in full, and never forfeitable.
    carol_view = _view(lot, carol)
    assert carol_view.due_total == Decimal("200000.00") and not carol_view.forfeitable
    assert carol_view.bid == carol_bid


def test_a_revoked_bids_security_with_no_decision_is_refunded_like_the_others(
    security_lot, security_clock, security_bid, security_pay, people
):
    bob = people["bob"]
    security_pay(bob, security_lot)
    bid = security_bid(bob, security_lot)
    _open_room(security_lot, security_clock)
    RoomBid.objects.filter(bid=bid).update(outcome=BidOutcome.REVOKED, cause=BidCause.BIDDER_FAULT)
    tendering.lot_fail(actor=people["alice"], lot=security_lot, reason="有效投标不足三家")
    view = _view(security_lot, bob)
    assert view.revoked and view.forfeitable and view.due_total == Decimal("200000.00")
    # Once the refund has left in a batch, the decision can no longer be taken.
    security.refund_batch_create(actor=people["fay"], payment_ids=[view.lines[0].payment.pk])
    with pytest.raises(DomainError) as late:
        security.security_forfeit(actor=people["fay"], security=view.security, reason="迟到的决定")
    assert late.value.code == "security.refund_started"


def test_a_bidder_sees_only_its_own_security_and_its_reference_before_paying(security_lot, security_pay, people):
    bob, carol = people["bob"], people["carol"]
    security_pay(carol, security_lot)
    own = security_for_bidder(user=bob, lot=security_lot)
    assert own is not None and own.view is None and own.amount_due == Decimal("200000.00")
    assert own.reference == security.security_reference(lot_id=security_lot.pk, organisation_id=bob.organisation_id)
    carols = security_for_bidder(user=carol, lot=security_lot)
    assert carols.view.state == SecurityState.PAID and carols.reference != own.reference
    assert security_for_bidder(user=people["alice"], lot=security_lot) is None
    assert security_for_bidder(user=people["fay"], lot=security_lot) is None


def test_references_carry_check_digits_that_catch_a_mistyped_digit():
    reference = security.security_reference(lot_id=12, organisation_id=4567)
    assert reference == "BZ" + "0000012" + "0004567" + reference[-2:] and len(reference) == 18
    assert int(reference[2:]) % 97 == 1
    typo = reference[:5] + ("3" if reference[5] != "3" else "4") + reference[6:]
    (found,) = security.references_in(f"投标保证金 {typo} 某公司")
    assert not found.valid
    (spaced,) = security.references_in("ｂｚ 0000012-0004567 " + reference[-2:] + " 保证金")
    assert spaced.valid and (spaced.lot_id, spaced.organisation_id) == (12, 4567)
