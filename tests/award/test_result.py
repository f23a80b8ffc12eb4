"""The result announcement: after the window, with every objection answered, never while suspended; the lot awarded."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from audit.models import AuditEvent
from award import selectors
from award.models import AwardLetter, AwardResult, LetterKind
from core.errors import DomainError, NotFound
from finance.models import SavingsFact
from tendering.models import Lot, LotStatus
from tests.award.conftest import PRICES, announce, answer, object_, publish


def _closed(world, clock, *, objection: bool = False):
    """The candidates published now for three days (with dave's objection if asked), the clock at the window's end."""
    publicity = publish(world)
    filed = object_(world) if objection else None
    clock.move_to(publicity.ends_at)
    return publicity, filed


def test_no_result_while_the_publicity_is_open(world, clock):
    publicity = publish(world)
    clock.move_to(publicity.ends_at - dt.timedelta(seconds=1))
    with pytest.raises(DomainError) as early:
        announce(world)
    assert early.value.code == "award.publicity_open"
    assert "2026-04-05 12:30" in early.value.message
    assert Lot.objects.get(pk=world.lot.pk).status == LotStatus.EVALUATING


def test_no_result_while_an_objection_is_unanswered(world, clock):
    _publicity, objection = _closed(world, clock, objection=True)
    assert selectors.award_state(world.lot).announce_blockers
    with pytest.raises(DomainError) as pending:
        announce(world)
    assert pending.value.code == "award.objections_unanswered"
    assert "1件异议未答复" in pending.value.message
    answer(world, objection)
    assert announce(world).winner_rank == 1


def test_no_result_while_a_complaint_suspends_the_lot(world, clock, monkeypatch):
    _closed(world, clock)
    asked = []

    def suspended(lot):
        asked.append(lot.pk)
        return True

    monkeypatch.setattr("complaints.selectors.lot_suspended", suspended)
    with pytest.raises(DomainError) as refused:
        announce(world)
    assert refused.value.code == "award.suspended"
    assert asked and asked[-1] == world.lot.pk
    assert not AwardResult.objects.exists()
    assert selectors.award_state(world.lot).suspended is True


def test_the_first_candidate_wins_by_default_and_the_lot_is_awarded(world, clock):
    _closed(world, clock)
    result = announce(world)
    lot = Lot.objects.get(pk=world.lot.pk)
    assert (lot.status, lot.winner, lot.award_price) == (
        LotStatus.AWARDED,
        world.orgs["bidder_a"],
        PRICES["bob"],
    )
    assert lot.awarded_at == result.announced_at
    assert (result.winner, result.bid, result.winner_rank, result.award_price, result.reason) == (
        world.orgs["bidder_a"],
        world.bids["bob"],
        1,
        Decimal("10850000.00"),
        "",
    )
    # The savings fact of the award is written with it (tendering.services.lot_award).
    fact = SavingsFact.objects.get(lot=lot)
    assert fact.award_fen == 1_085_000_000
    event = AuditEvent.objects.get(action="award.result.announced")
    assert (event.data["winner"], event.data["winner_rank"], event.data["award_price"]) == (
        "浙江建工集团有限公司",
        1,
        "10850000.00",
    )
    assert AuditEvent.objects.filter(action="tendering.lot.awarded", lot_id=lot.pk).count() == 1
    # Every bidder of the lot gets its letter: the award notice to the winner, result notices to the others.
    letters = {letter.organisation_id: letter.kind for letter in AwardLetter.objects.all()}
    assert letters == {
        world.orgs["bidder_a"].pk: LetterKind.AWARD_NOTICE,
        **{
            world.orgs[org].pk: LetterKind.RESULT_NOTICE
            for org in ("bidder_b", "bidder_c", "bidder_d", "bidder_e")
        },
    }
    assert AuditEvent.objects.filter(action="award.letter.issued").count() == 5
    assert world.people["bob"].notifications.filter(title__startswith="中标通知书").count() == 1
    assert (
        world.people["frank"].notifications.filter(title__startswith="中标结果通知书").count() == 1
    )
    assert world.people["terry"].notifications.filter(title__startswith="中标结果公告").count() == 1
    with pytest.raises(DomainError) as twice:
        announce(world)
    assert twice.value.code == "award.already_announced"


def test_another_candidate_wins_only_with_a_reason(world, clock):
    _closed(world, clock)
    with pytest.raises(DomainError) as bare:
        announce(world, rank=2)
    assert (bare.value.code, bare.value.field) == ("award.reason_required", "reason")
    result = announce(world, rank=2, reason="排名第一的中标候选人书面放弃中标。")
    lot = Lot.objects.get(pk=world.lot.pk)
    assert (lot.winner, lot.award_price) == (world.orgs["bidder_c"], PRICES["dave"])
    assert (result.winner_rank, result.reason) == (2, "排名第一的中标候选人书面放弃中标。")
    event = AuditEvent.objects.get(action="award.result.announced")
    assert event.data["skipped"] == [
        {"rank": 1, "organisation_name": "浙江建工集团有限公司", "disqualified": False}
    ]
    assert (
        AwardLetter.objects.get(kind=LetterKind.AWARD_NOTICE).organisation == world.orgs["bidder_c"]
    )


def test_a_candidate_disqualified_by_an_upheld_objection_cannot_win_and_the_next_needs_no_reason(
    world, clock
):
    _publicity, objection = _closed(world, clock, objection=True)
    answer(world, objection, outcome="upheld", rank=1)
    with pytest.raises(DomainError) as disqualified:
        announce(world, rank=1)
    assert disqualified.value.code == "award.candidate_disqualified"
    with pytest.raises(DomainError) as unknown:
        announce(world, rank=4)
    assert unknown.value.code == "award.candidate"
    result = announce(world, rank=2)
    assert (result.winner, result.reason) == (world.orgs["bidder_c"], "")


def test_only_the_lots_agent_announces(world, clock):
    _closed(world, clock)
    from award import services

    for name in ("agnes", "terry", "sam", "pat", "bob"):
        with pytest.raises(NotFound):
            services.result_announce(actor=world.people[name], lot=world.lot)
    assert Lot.objects.get(pk=world.lot.pk).status == LotStatus.EVALUATING


def test_no_result_without_a_publicity(world, clock):
    with pytest.raises(DomainError) as none:
        announce(world)
    assert none.value.code == "award.no_publicity"
