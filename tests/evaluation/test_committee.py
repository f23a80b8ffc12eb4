"""Starting the evaluation, signing in, electing the chair (组长), and TR 48's one third."""

from __future__ import annotations

import datetime as dt

import pytest

from audit.models import AuditEvent
from core.errors import DomainError, NotFound
from evaluation import services
from evaluation.models import ChairVote, EvaluationStatus, Extension, Rejection
from experts.models import Expert
from tendering.models import LotStatus
from tests.evaluation.conftest import STARTED, WORKING


def test_the_started_evaluation_seats_the_confirmed_experts_and_moves_the_lot(world):
    evaluation = world.evaluation
    assert world.lot.__class__.objects.get(pk=world.lot.pk).status == LotStatus.EVALUATING
    assert sorted(world.users) == list(range(1, 10))
    assert evaluation.status == EvaluationStatus.ELECTING
    positions = list(evaluation.members.order_by("seat").values_list("selection__position", flat=True))
    assert positions == sorted(positions)
    # The lot moved through the one transition of tendering, audited there.
    assert AuditEvent.objects.filter(action="tendering.lot.evaluation_started", lot_id=world.lot.pk).count() == 1
    # Each member was told, in Chinese.
    assert world.users[1].notifications.filter(title__startswith="评标已开始").exists()


def test_carol_above_the_maximum_price_was_rejected_automatically(world):
    rejection = Rejection.objects.get(evaluation=world.evaluation)
    assert rejection.bid_id == world.bids["carol"].pk and rejection.automatic
    assert "最高投标限价" in rejection.reason and "第五十一条" in rejection.reason
    event = AuditEvent.objects.get(action="evaluation.bid.rejected", lot_id=world.lot.pk)
    assert event.data == {
        "bid": str(world.bids["carol"].pk),
        "position": 2,
        "automatic": True,
        "reason": rejection.reason,
    }


def test_an_evaluation_starts_once_and_only_for_the_lots_agent(world):
    with pytest.raises(NotFound):
        services.evaluation_start(actor=world.people["agnes"], lot=world.lot)
    with pytest.raises(DomainError) as again:
        services.evaluation_start(actor=world.people["alice"], lot=world.lot)
    assert again.value.code == "evaluation.already_started"


def test_signing_in_needs_the_declaration_and_is_audited_by_seat(world):
    eve = world.people["eve"]
    with pytest.raises(DomainError) as error:
        services.member_sign_in(actor=eve, lot=world.lot, no_conflict=False)
    assert error.value.code == "evaluation.declaration_required"
    with pytest.raises(DomainError) as early:
        services.chair_vote(actor=eve, lot=world.lot, candidate_seat=1)
    assert early.value.code == "evaluation.not_signed_in"
    member = services.member_sign_in(actor=eve, lot=world.lot, no_conflict=True)
    assert member.signed_in_at >= WORKING
    services.member_sign_in(actor=eve, lot=world.lot, no_conflict=True)  # again: nothing new
    events = AuditEvent.objects.filter(action="evaluation.member.signed_in")
    assert [event.data for event in events] == [{"seat": member.seat, "declared_no_conflict": True}]
    assert events.get().actor_id == eve.pk


def test_a_majority_of_the_members_elects_the_chair_and_opens_scoring(world):
    world.sign_in_all()
    for seat in (1, 2, 3, 4):
        services.chair_vote(actor=world.users[seat], lot=world.lot, candidate_seat=7)
    assert world.evaluation.status == EvaluationStatus.ELECTING  # 4 of 9 is not a majority
    services.chair_vote(actor=world.users[5], lot=world.lot, candidate_seat=7)
    evaluation = world.evaluation
    assert (evaluation.status, evaluation.chair.seat) == (EvaluationStatus.SCORING, 7)
    elected = AuditEvent.objects.get(action="evaluation.chair.elected")
    assert elected.data == {"round": 1, "chair": 7, "counts": {"7": 5}, "members": 9}
    with pytest.raises(DomainError) as late:
        services.chair_vote(actor=world.users[6], lot=world.lot, candidate_seat=6)
    assert late.value.code == "evaluation.wrong_stage"


def test_each_member_votes_once_a_round_and_a_tie_means_voting_again(world):
    world.sign_in_all()
    services.chair_vote(actor=world.users[1], lot=world.lot, candidate_seat=1)
    with pytest.raises(DomainError) as twice:
        services.chair_vote(actor=world.users[1], lot=world.lot, candidate_seat=2)
    assert twice.value.code == "evaluation.already_voted"
    # 4 for seat 1, 4 for seat 2, 1 for seat 3: everyone voted, nobody has 5 of 9.
    for seat, candidate in ((2, 1), (3, 1), (4, 1), (5, 2), (6, 2), (7, 2), (8, 2), (9, 3)):
        services.chair_vote(actor=world.users[seat], lot=world.lot, candidate_seat=candidate)
    evaluation = world.evaluation
    assert (evaluation.status, evaluation.chair_id, evaluation.election_round) == (EvaluationStatus.ELECTING, None, 2)
    revote = AuditEvent.objects.get(action="evaluation.chair.revote")
    assert revote.data == {"round": 1, "counts": {"1": 4, "2": 4, "3": 1}, "members": 9, "next_round": 2}
    # Round 2: everyone votes again, once more.
    for seat in range(1, 6):
        services.chair_vote(actor=world.users[seat], lot=world.lot, candidate_seat=2)
    evaluation = world.evaluation
    assert evaluation.chair.seat == 2
    assert ChairVote.objects.filter(evaluation=evaluation, round=1).count() == 9
    assert ChairVote.objects.filter(evaluation=evaluation, round=2).count() == 5


def test_a_vote_must_name_a_member(world):
    world.sign_in_all()
    with pytest.raises(DomainError) as error:
        services.chair_vote(actor=world.users[1], lot=world.lot, candidate_seat=10)
    assert error.value.code == "evaluation.candidate_invalid"


def test_exactly_a_third_of_the_members_does_not_extend_the_deadline_more_does(world):
    world.sign_in_all()
    deadline = world.evaluation.deadline
    assert deadline == STARTED + dt.timedelta(minutes=480)
    for seat in (1, 2, 3):
        services.extension_request(actor=world.users[seat], lot=world.lot, reason="投标文件较多，时间不够")
    assert world.evaluation.deadline == deadline  # 3 of 9: exactly a third
    assert not Extension.objects.exists()
    with pytest.raises(DomainError) as twice:
        services.extension_request(actor=world.users[3], lot=world.lot, reason="再次申请")
    assert twice.value.code == "evaluation.already_requested"
    services.extension_request(actor=world.users[4], lot=world.lot, reason="技术标内容多")
    evaluation = world.evaluation
    assert evaluation.deadline == deadline + dt.timedelta(minutes=240)  # 4 of 9: more than a third
    extension = Extension.objects.get()
    assert (extension.requests, extension.members, extension.old_deadline) == (4, 9, deadline)
    extended = AuditEvent.objects.get(action="evaluation.deadline.extended")
    assert (extended.data["requests"], extended.data["members"]) == (4, 9)
    assert AuditEvent.objects.filter(action="evaluation.extension.requested").count() == 4
    assert world.users[9].notifications.filter(title__startswith="评标时间已延长").exists()
    # A new round begins: the earlier requests do not count again.
    assert evaluation.extension_round == 2
    services.extension_request(actor=world.users[1], lot=world.lot, reason="仍然不够")
    assert world.evaluation.deadline == deadline + dt.timedelta(minutes=240)


def test_no_audit_payload_of_the_evaluation_names_an_expert(world):
    world.elect(chair=3)
    world.submit_all()
    from evaluation.services import report_draft

    report_draft(actor=world.users[3], lot=world.lot)
    secrets = []
    for expert in Expert.objects.filter(pk__in=world.evaluation.members.values("expert_id")):
        secrets += [expert.name, expert.code, expert.mobile, expert.id_number]
    for event in AuditEvent.objects.filter(action__startswith="evaluation."):
        for secret in secrets:
            assert secret not in event.payload, (event.action, secret)


def test_every_audited_action_has_a_chinese_label_in_the_audit_browser():
    import re
    from pathlib import Path

    from audit.selectors import ACTION_LABELS, action_label

    source = Path(services.__file__).read_text(encoding="utf-8")
    actions = set(re.findall(r'record\(\s*"(evaluation\.[a-z_.]+)"', source))
    assert len(actions) >= 15
    for action in actions:
        assert action in ACTION_LABELS, action
        assert re.search(r"[\u4e00-\u9fff]", action_label(action)), action
