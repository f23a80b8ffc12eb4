"""Independent scoring: secrecy until everyone has submitted, the sheet's rules, rejections, the summary and ranks."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse

from audit.models import AuditEvent
from core.errors import DomainError, NotPermitted
from evaluation import selectors, services
from evaluation.models import Evaluation, EvaluationStatus, ItemScore
from tendering.models import EvaluationMethod, Lot


def test_nobody_not_even_the_chair_sees_another_members_scores_before_submitting(world):
    world.elect(chair=1)
    chair, other = world.member(1), world.member(2)
    # Member 2 submits distinctive scores; the chair has saved a draft only.
    world.submit(2, world.sheet({"bob": Decimal("3.33")}))
    services.scores_save(actor=world.users[1], lot=world.lot, sheet=world.sheet({"bob": Decimal("1.11")}), submit=False)
    chair.refresh_from_db()
    assert list(selectors.sheets_for(member=chair)) == [1]
    assert list(selectors.sheets_for(member=other)) == [2]  # submitted, and still alone
    client = Client()
    client.force_login(world.users[1])
    for name in ("evaluation:workspace", "evaluation:sheet"):
        page = client.get(reverse(name, args=[world.lot.pk])).content.decode()
        assert "3.33" not in page, name
        assert 'id="summary' not in page
    assert 'value="1.11"' in client.get(reverse("evaluation:sheet", args=[world.lot.pk])).content.decode()
    # The summary cannot be read until everyone has submitted.
    assert not selectors.scores_open(world.evaluation)


def test_after_everyone_submits_everyone_sees_the_summary_table(world):
    world.elect(chair=1)
    sheets = {seat: world.sheet() for seat in world.users}
    sheets[5] = world.sheet({"dave": Decimal("2.00")})
    world.submit_all(sheets)
    evaluation = world.evaluation
    assert evaluation.status == EvaluationStatus.REVIEWING
    assert AuditEvent.objects.filter(action="evaluation.scores.submitted").count() == 9
    assert AuditEvent.objects.get(action="evaluation.scores.opened").data == {"members": 9}
    assert len(selectors.sheets_for(member=world.member(9))) == 9
    client = Client()
    client.force_login(world.users[9])
    page = client.get(reverse("evaluation:workspace", args=[world.lot.pk])).content.decode()
    assert 'id="summary-table"' in page and "评分汇总表" in page


def test_the_sheet_checks_ranges_and_completeness(world):
    world.elect(chair=1)
    expert = world.users[1]
    item = world.items()[0]  # 0 – 15
    bob = str(world.bids["bob"].pk)
    with pytest.raises(DomainError) as over:
        services.scores_save(
            actor=expert,
            lot=world.lot,
            sheet=services.SheetInput(scores={(bob, item["id"]): Decimal("15.01")}, adjustments={}),
            submit=False,
        )
    assert over.value.code == "evaluation.score_out_of_range"
    assert over.value.message == "第1号投标的“施工方案与技术措施”得分应在0.00至15.00之间，最多两位小数。"
    partial = services.SheetInput(scores={(bob, item["id"]): Decimal("12.50")}, adjustments={})
    with pytest.raises(DomainError) as incomplete:
        services.scores_save(actor=expert, lot=world.lot, sheet=partial, submit=True)
    assert incomplete.value.code == "evaluation.sheet_incomplete"
    # A refused submission leaves nothing behind; a draft keeps what it holds.
    assert not ItemScore.objects.filter(member__user=expert).exists()
    services.scores_save(actor=expert, lot=world.lot, sheet=partial, submit=False)
    assert ItemScore.objects.get(member__user=expert).value == Decimal("12.50")
    # Carol's rejected bid needs no scores; every other decrypted bid does.
    world.submit(1)
    assert not ItemScore.objects.filter(member__user=expert, bid=world.bids["carol"]).exists()
    with pytest.raises(DomainError) as again:
        world.submit(1)
    assert again.value.code == "evaluation.already_submitted"


def test_scoring_waits_for_the_chair(world):
    world.sign_in_all()
    with pytest.raises(DomainError) as error:
        world.submit(1)
    assert error.value.code == "evaluation.wrong_stage"


def test_the_sheet_page_puts_a_format_error_on_its_field(world):
    world.elect(chair=1)
    client = Client()
    client.force_login(world.users[2])
    field = services.score_field(str(world.bids["bob"].pk), world.items()[0]["id"])
    response = client.post(reverse("evaluation:sheet", args=[world.lot.pk]), {field: "十分", "action": "save"})
    assert response.status_code == 200 and "请输入数字。" in response.content.decode()
    response = client.post(reverse("evaluation:sheet", args=[world.lot.pk]), {field: "99", "action": "save"})
    assert "得分应在0.00至15.00之间" in response.content.decode()
    response = client.post(reverse("evaluation:sheet", args=[world.lot.pk]), {field: "14.5", "action": "save"})
    assert response.status_code == 302
    assert ItemScore.objects.get(member=world.member(2)).value == Decimal("14.50")


def test_the_system_totals_and_ranks_with_the_mean_benchmark(world):
    world.elect(chair=1)
    world.submit_all()  # every member gives every item its maximum: 60 item points each
    summary = selectors.evaluation_summary(world.evaluation)
    # Valid: bob 10,850,000, dave 11,200,000, erin 10,500,000, frank 11,500,000 (carol rejected).
    # Four bids, fewer than five: nothing dropped; benchmark = 44,050,000 / 4 = 11,012,500.
    assert summary.benchmark == Decimal("11012500")
    rows = {row.view.organisation.name: row for row in summary.rows}
    # bob: (10,850,000 − 11,012,500) / 11,012,500 = −1.475595…% → 40 − 0.737797… = 39.262202… → 99.26
    assert rows["浙江建工集团有限公司"].final_score == Decimal("99.26")
    # dave: +1.702610…% → 40 − 1.702610… = 38.297389… → 98.30
    assert rows["宁波远大建设有限公司"].final_score == Decimal("98.30")
    # erin: −4.653802…% → 40 − 2.326901… = 37.673098… → 97.67
    assert rows["温州华东建设有限公司"].final_score == Decimal("97.67")
    # frank: +4.426787…% → 35.573212… → 95.57
    assert rows["绍兴城建集团有限公司"].final_score == Decimal("95.57")
    assert rows["杭州市政建设有限公司"].rank is None
    assert [row.view.organisation.name for row in summary.ranked] == [
        "浙江建工集团有限公司", "宁波远大建设有限公司", "温州华东建设有限公司", "绍兴城建集团有限公司",
    ]
    assert [row.view.organisation.name for row in summary.candidates] == [
        "浙江建工集团有限公司", "宁波远大建设有限公司", "温州华东建设有限公司",
    ]


def test_only_the_chair_rejects_and_a_rejected_bid_gets_no_rank(world):
    world.elect(chair=1)
    dave = world.bids["dave"]
    with pytest.raises(NotPermitted):
        services.bid_reject(actor=world.users[2], lot=world.lot, bid_id=dave.pk, reason="资格审查不合格")
    services.bid_reject(actor=world.users[1], lot=world.lot, bid_id=dave.pk, reason="项目经理资格证书过期，资格审查不合格")
    world.submit_all()
    summary = selectors.evaluation_summary(world.evaluation)
    rows = {row.view.key: row for row in summary.rows}
    assert rows[str(dave.pk)].rank is None
    assert len(summary.ranked) == 3
    # The benchmark is computed without it: (10,850,000 + 10,500,000 + 11,500,000) / 3 = 10,950,000.
    assert summary.benchmark == Decimal("10950000")
    event = AuditEvent.objects.filter(action="evaluation.bid.rejected").latest("seq")
    assert event.data["automatic"] is False and event.data["chair"] == 1


def test_a_reinstated_bid_must_have_been_scored_by_everyone_who_submitted(world):
    world.elect(chair=1)
    dave = world.bids["dave"]
    services.bid_reject(actor=world.users[1], lot=world.lot, bid_id=dave.pk, reason="待核实")
    # Member 2 submits without scoring dave, whose bid stood rejected.
    sheet = world.sheet()
    world.submit(2, services.SheetInput(
        scores={key: value for key, value in sheet.scores.items() if key[0] != str(dave.pk)}, adjustments={}
    ))
    with pytest.raises(DomainError) as error:
        services.bid_reinstate(actor=world.users[1], lot=world.lot, bid_id=dave.pk)
    assert error.value.code == "evaluation.reinstate_unscored"
    with pytest.raises(DomainError) as automatic:
        services.bid_reinstate(actor=world.users[1], lot=world.lot, bid_id=world.bids["carol"].pk)
    assert automatic.value.code == "evaluation.rejection_automatic"


def test_a_reinstated_bid_is_scored_again_when_nobody_has_submitted(world):
    world.elect(chair=1)
    dave = world.bids["dave"]
    services.bid_reject(actor=world.users[1], lot=world.lot, bid_id=dave.pk, reason="待核实")
    services.bid_reinstate(actor=world.users[1], lot=world.lot, bid_id=dave.pk)
    assert AuditEvent.objects.filter(action="evaluation.bid.reinstated").count() == 1
    world.submit_all()
    assert len(selectors.evaluation_summary(world.evaluation).ranked) == 4


def _lowest_price(world) -> None:
    """The world's lot as a lowest-evaluated-price lot (set on the rows before anyone scores)."""
    Lot.objects.filter(pk=world.lot.pk).update(evaluation_method=EvaluationMethod.LOWEST_PRICE)
    Evaluation.objects.filter(lot=world.lot).update(method=EvaluationMethod.LOWEST_PRICE)


def test_lowest_evaluated_price_ranks_by_price_plus_the_mean_adjustment(world):
    _lowest_price(world)
    world.elect(chair=1)
    erin, bob = str(world.bids["erin"].pk), str(world.bids["bob"].pk)
    adjusted = services.SheetInput(
        scores={}, adjustments={erin: (Decimal("450000.00"), "漏项：室外管网未报价，按最高报价补齐")}
    )
    with pytest.raises(DomainError) as no_reason:
        services.scores_save(
            actor=world.users[1], lot=world.lot,
            sheet=services.SheetInput(scores={}, adjustments={erin: (Decimal("450000.00"), "")}), submit=False,
        )
    assert no_reason.value.code == "evaluation.adjustment_reason"
    # Seats 1 to 5 add 450,000 to erin's price; seats 6 to 9 do not adjust anything.
    sheets = {seat: adjusted for seat in range(1, 6)}
    sheets.update({seat: services.SheetInput(scores={}, adjustments={}) for seat in range(6, 10)})
    world.submit_all(sheets)
    summary = selectors.evaluation_summary(world.evaluation)
    rows = {row.view.key: row for row in summary.rows}
    # erin: 10,500,000 + 5 × 450,000 / 9 = 10,500,000 + 250,000 = 10,750,000.00 — still the lowest.
    assert rows[erin].evaluated_price == Decimal("10750000.00")
    assert rows[bob].evaluated_price == Decimal("10850000.00")
    assert [row.view.organisation.name for row in summary.ranked] == [
        "温州华东建设有限公司", "浙江建工集团有限公司", "宁波远大建设有限公司", "绍兴城建集团有限公司",
    ]
    assert rows[erin].adjustments[0] == (1, Decimal("450000.00"), "漏项：室外管网未报价，按最高报价补齐")
