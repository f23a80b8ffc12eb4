"""Running the draw and what follows: notification, answers, replacements from reserves and from the stream, exhaustion, completion, and what the audit chain may hold before the reveal."""

from __future__ import annotations

import datetime as dt
import hashlib
import json

import pytest

from accounts.models import Notification
from audit.models import AuditEvent
from core.errors import DomainError, NotPermitted
from experts import draw, services
from experts.models import (
    DrawSelection,
    DrawStatus,
    ExclusionReason,
    Expert,
    ExpertStatus,
    SelectionStatus,
)

from .draw_support import (
    AFTER_DEADLINE,
    T0,
    approved_request,
    award,
    make_experts,
    notified,
    recorded_exclusions,
)


@pytest.fixture(autouse=True)
def clock(time_machine):
    time_machine.move_to(T0, tick=False)
    return time_machine


def replay(request) -> list[tuple[str, str]]:
    """The initial picks recomputed from the stored seed and frozen pool, as the verifier would."""
    items = request.items.select_related("specialty")
    drawing = draw.Drawing(seed=bytes.fromhex(request.seed), pool=request.frozen.pool())
    drawing.replay(draw.initial_order((i.specialty.code, i.members + i.reserves) for i in items))
    return drawing.picks


def stored(request) -> list[tuple[str, str]]:
    return list(
        request.selections.order_by("position").values_list("item__specialty__code", "expert__code")
    )


# --- the run -------------------------------------------------------------------------------------


def test_draw_notifies_each_items_first_picks_and_keeps_the_rest_as_reserves(
    closed_lot, people, building, decoration, sent
):
    make_experts(10, [building])
    make_experts(6, [decoration])
    request = approved_request(people, closed_lot, [(building, 3, 2), (decoration, 2, 1)])

    request = services.draw_run(actor=people["sam"], request=request, supervisor_number="20260402")

    assert request.status == DrawStatus.NOTIFYING
    selections = list(request.selections.select_related("item__specialty").order_by("position"))
    assert [s.position for s in selections] == [1, 2, 3, 4, 5, 6, 7, 8]
    assert [(s.item.specialty.code, s.status) for s in selections] == [
        ("A0101", "notified"), ("A0101", "notified"), ("A0101", "notified"),
        ("A0101", "reserve"), ("A0101", "reserve"),
        ("A0102", "notified"), ("A0102", "notified"),
        ("A0102", "reserve"),
    ]  # fmt: skip
    members = [s for s in selections if s.status == SelectionStatus.NOTIFIED]
    assert all(s.respond_by == AFTER_DEADLINE + dt.timedelta(minutes=30) for s in members)
    assert all(
        s.respond_by is None and s.notified_at is None for s in selections if s.status == "reserve"
    )
    assert sent.notified == [[s.pk for s in members]]
    assert len({s.token for s in selections}) == 8
    assert len({s.reply_code for s in selections}) == 8
    assert all(len(s.reply_code) == 6 and s.reply_code.isdigit() for s in selections)
    assert request.picks_made == 8


def test_the_draw_is_a_function_of_the_seed_and_the_frozen_pool(
    closed_lot, people, building, decoration, sent
):
    make_experts(7, [building])
    both = make_experts(4, [building, decoration])
    decoration_only = make_experts(3, [decoration])  # enough for decoration whoever building takes
    request = approved_request(people, closed_lot, [(building, 3, 1), (decoration, 2, 1)])

    request = services.draw_run(
        actor=people["sam"], request=request, supervisor_number="987654321012"
    )

    codes = set(Expert.objects.values_list("code", flat=True))
    pool = request.frozen.pool()
    # What is stored is what was hashed, byte for byte, and it is the canonical encoding.
    assert request.pool_hash == hashlib.sha256(request.frozen.canonical.encode()).hexdigest()
    assert request.frozen.canonical.encode() == draw.canonical_pool(pool)
    assert set(pool["A0101"]) == codes - {e.code for e in decoration_only}
    assert set(pool["A0102"]) == {e.code for e in both + decoration_only}
    assert pool["A0101"] == sorted(pool["A0101"])
    assert (
        request.seed
        == draw.derive_seed(
            secret=bytes.fromhex(request.secret),
            pool_hash=request.pool_hash,
            chain_head=request.chain_head,
            supervisor_number="987654321012",
        ).hex()
    )
    assert stored(request) == replay(request)
    assert (
        len({code for _s, code in stored(request)}) == 7
    )  # nobody twice, though four hold both specialties


def test_the_secret_is_committed_in_the_chain_before_the_draw_and_the_draw_follows_the_head(
    closed_lot, people, building, sent
):
    make_experts(6, [building])
    request = approved_request(people, closed_lot, [(building, 5, 1)])

    request = services.draw_run(actor=people["sam"], request=request, supervisor_number="5")

    committed = AuditEvent.objects.get(action="experts.draw.committed", object_id=str(request.pk))
    run = AuditEvent.objects.get(action="experts.draw.run", object_id=str(request.pk))
    assert committed.seq < run.seq
    assert json.loads(committed.payload)["secret_commitment"] == draw.commitment(
        bytes.fromhex(request.secret)
    )
    # The head mixed into the seed is the event right before the draw's own: nothing slipped in between.
    assert run.prev_hash == request.chain_head
    assert AuditEvent.objects.get(hash=request.chain_head).seq >= committed.seq
    payload = json.loads(run.payload)
    assert payload["pool_hash"] == request.pool_hash
    assert payload["supervisor_number"] == "5"
    assert payload["pool_sizes"] == {"A0101": 6}


def test_audit_payloads_name_no_expert_and_hold_no_secret_until_the_reveal(
    closed_lot, people, orgs, building, decoration, sent
):
    make_experts(6, [building])
    make_experts(3, [decoration])
    excluded = make_experts(2, [building], employer_credit_code=orgs["tenderer"].credit_code)
    request = approved_request(people, closed_lot, [(building, 3, 1), (decoration, 2, 0)])
    services.draw_run(actor=people["sam"], request=request, supervisor_number="31415")
    first, second = notified(request)[:2]
    services.selection_decline(selection=first, channel="sms")  # the reserve steps in
    decoration_member = next(s for s in notified(request) if s.item.specialty.code == "A0102")
    services.selection_decline(selection=decoration_member, channel="link")  # the stream continues
    for selection in notified(request):
        services.selection_confirm(selection=selection, channel="voice")
    request.refresh_from_db()
    assert request.status == DrawStatus.COMPLETE

    secrets_and_names = [request.secret, request.seed]
    for expert in Expert.objects.all():
        secrets_and_names += [
            expert.name,
            expert.code,
            expert.id_number,
            expert.mobile,
            expert.email,
        ]
    payloads = "\n".join(AuditEvent.objects.values_list("payload", flat=True))
    assert "experts.selection.replaced" in set(AuditEvent.objects.values_list("action", flat=True))
    assert [value for value in secrets_and_names if value in payloads] == []
    assert recorded_exclusions(request) == {
        e.code: ExclusionReason.EMPLOYER_PARTY for e in excluded
    }

    award(people, orgs, request.lot)
    services.draw_reveal(actor=people["sam"], request=request)
    revealed = json.loads(AuditEvent.objects.get(action="experts.draw.revealed").payload)
    assert revealed["secret"] == request.secret and revealed["seed"] == request.seed


# --- answers and replacements --------------------------------------------------------------------


def test_a_decline_notifies_the_next_reserve_of_the_same_specialty(
    closed_lot, people, building, decoration, sent
):
    make_experts(8, [building])
    make_experts(4, [decoration])
    request = approved_request(people, closed_lot, [(building, 3, 2), (decoration, 2, 1)])
    services.draw_run(actor=people["sam"], request=request, supervisor_number="8")
    member = request.selections.get(position=2)

    services.selection_decline(selection=member, channel="link")

    member.refresh_from_db()
    assert member.status == SelectionStatus.DECLINED and member.response_channel == "link"
    promoted = request.selections.get(position=4)  # the lower of the two building reserves
    assert promoted.status == SelectionStatus.NOTIFIED
    assert promoted.respond_by == AFTER_DEADLINE + dt.timedelta(minutes=30)
    assert request.selections.get(position=5).status == SelectionStatus.RESERVE
    assert (
        request.selections.get(position=8).status == SelectionStatus.RESERVE
    )  # the other specialty's reserve
    assert sent.notified[-1] == [promoted.pk]
    replaced = json.loads(AuditEvent.objects.get(action="experts.selection.replaced").payload)
    assert replaced == {
        "position": 4,
        "replaced_position": 2,
        "source": "reserve",
        "specialty": "A0101",
    }


def test_without_reserves_the_stream_continues_exactly_as_replayed(
    closed_lot, people, building, sent
):
    make_experts(9, [building])
    request = approved_request(people, closed_lot, [(building, 5, 0)])
    services.draw_run(actor=people["sam"], request=request, supervisor_number="271828")

    services.selection_decline(selection=request.selections.get(position=3))
    services.selection_decline(selection=request.selections.get(position=6))

    request.refresh_from_db()
    assert request.picks_made == 7
    drawing = draw.Drawing(seed=bytes.fromhex(request.seed), pool=request.frozen.pool())
    expected = drawing.replay(["A0101"] * 7)
    assert [code for _s, code in stored(request)] == expected
    assert [s.position for s in notified(request)] == [1, 2, 4, 5, 7]
    assert sent.notified[1:] == [
        [request.selections.get(position=6).pk],
        [request.selections.get(position=7).pk],
    ]


def test_no_answer_counts_only_once_the_window_has_passed(
    closed_lot, people, building, sent, clock
):
    make_experts(6, [building])
    request = approved_request(people, closed_lot, [(building, 5, 1)], response_minutes=20)
    services.draw_run(actor=people["sam"], request=request, supervisor_number="3")
    silent = request.selections.get(position=1)

    with pytest.raises(DomainError) as refused:
        services.selection_decline(selection=silent, status=SelectionStatus.NO_ANSWER)
    assert refused.value.code == "draw.response_window_open"

    clock.move_to(AFTER_DEADLINE + dt.timedelta(minutes=20), tick=False)
    services.selection_decline(
        selection=silent, status=SelectionStatus.NO_ANSWER, channel="timeout"
    )

    silent.refresh_from_db()
    assert silent.status == SelectionStatus.NO_ANSWER
    assert request.selections.get(position=6).status == SelectionStatus.NOTIFIED
    assert (
        AuditEvent.objects.filter(action="experts.selection.no_answer", actor_id=None).count() == 1
    )


def test_a_confirmation_after_the_window_is_refused(closed_lot, people, building, sent, clock):
    make_experts(5, [building])
    request = approved_request(people, closed_lot, [(building, 5, 0)])
    services.draw_run(actor=people["sam"], request=request, supervisor_number="3")
    clock.move_to(AFTER_DEADLINE + dt.timedelta(minutes=31), tick=False)

    with pytest.raises(DomainError) as refused:
        services.selection_confirm(selection=request.selections.get(position=1), channel="link")
    assert refused.value.code == "draw.response_window_closed"


def test_a_decline_after_the_window_is_refused_and_left_to_the_no_answer_sweep(
    closed_lot, people, building, sent, clock
):
    make_experts(5, [building])
    request = approved_request(people, closed_lot, [(building, 5, 0)])
    services.draw_run(actor=people["sam"], request=request, supervisor_number="3")
    clock.move_to(AFTER_DEADLINE + dt.timedelta(minutes=31), tick=False)
    late = request.selections.get(position=1)

    with pytest.raises(DomainError) as refused:
        services.selection_decline(selection=late, status=SelectionStatus.DECLINED, channel="link")

    assert refused.value.code == "draw.response_window_closed"
    late.refresh_from_db()
    assert late.status == SelectionStatus.NOTIFIED


def test_an_answer_is_final(closed_lot, people, building, sent):
    make_experts(6, [building])
    request = approved_request(people, closed_lot, [(building, 5, 1)])
    services.draw_run(actor=people["sam"], request=request, supervisor_number="3")
    selection = request.selections.get(position=1)
    services.selection_confirm(selection=selection, channel="link")

    for answer in (services.selection_confirm, services.selection_decline):
        with pytest.raises(DomainError) as refused:
            answer(selection=selection, channel="sms")
        assert refused.value.code == "draw.already_answered"
    with pytest.raises(DomainError):
        services.selection_confirm(
            selection=request.selections.get(position=6), channel="link"
        )  # a reserve


def test_only_the_expert_themselves_may_answer_when_signed_in(closed_lot, people, building, sent):
    (own,) = make_experts(1, [building], user=people["eve"])
    make_experts(4, [building])
    request = approved_request(people, closed_lot, [(building, 5, 0)])  # all five are drawn
    services.draw_run(actor=people["sam"], request=request, supervisor_number="3")
    someone_else = request.selections.exclude(expert=own).first()

    with pytest.raises(NotPermitted):
        services.selection_confirm(selection=someone_else, actor=people["eve"])
    with pytest.raises(NotPermitted):
        services.selection_decline(selection=someone_else, actor=people["sam"])
    eves = request.selections.get(expert=own)
    assert (
        services.selection_confirm(selection=eves, actor=people["eve"]).status
        == SelectionStatus.CONFIRMED
    )


# --- exhaustion and completion -------------------------------------------------------------------


def test_a_pool_too_small_for_the_members_exhausts_the_draw_and_tells_nobody_but_the_officials(
    closed_lot, people, orgs, building, decoration, sent
):
    make_experts(5, [building])
    make_experts(1, [decoration])
    make_experts(3, [decoration], status=ExpertStatus.SUSPENDED)
    request = approved_request(people, closed_lot, [(building, 3, 1), (decoration, 2, 0)])

    request = services.draw_run(actor=people["sam"], request=request, supervisor_number="11")

    assert request.status == DrawStatus.EXHAUSTED
    assert not DrawSelection.objects.exists()
    assert sent.notified == []
    assert len(sent.alerts) == 1
    assert sent.alerts[0][0] == request.pk
    assert "建筑装饰装修工程" in sent.alerts[0][1]
    assert list(recorded_exclusions(request).values()) == [ExclusionReason.NOT_ACTIVE] * 3
    assert AuditEvent.objects.filter(action="experts.draw.exhausted").count() == 1


def test_replacements_that_run_out_exhaust_the_draw_and_alert(
    closed_lot, people, building, sent, clock
):
    make_experts(6, [building])
    request = approved_request(people, closed_lot, [(building, 5, 0)])
    services.draw_run(actor=people["sam"], request=request, supervisor_number="99")

    services.selection_decline(
        selection=request.selections.get(position=1)
    )  # the sixth expert is drawn
    assert sent.alerts == []
    services.selection_decline(selection=request.selections.get(position=2))  # nobody is left

    request.refresh_from_db()
    assert request.status == DrawStatus.EXHAUSTED
    assert sent.alerts == [(request.pk, sent.alerts[0][1])]
    assert "建筑工程施工" in sent.alerts[0][1]
    exhausted = json.loads(AuditEvent.objects.get(action="experts.draw.exhausted").payload)
    assert exhausted == {"at": "replacement", "replaced_position": 2, "specialty": "A0101"}
    # The others' answers are no longer needed; a late no-answer is recorded without a replacement.
    with pytest.raises(DomainError) as refused:
        services.selection_confirm(selection=request.selections.get(position=3))
    assert refused.value.code == "draw.not_notifying"
    clock.move_to(AFTER_DEADLINE + dt.timedelta(minutes=30), tick=False)
    services.selection_decline(
        selection=request.selections.get(position=3), status=SelectionStatus.NO_ANSWER
    )
    assert request.selections.get(position=3).status == SelectionStatus.NO_ANSWER
    assert request.selections.count() == 6
    assert len(sent.alerts) == 1


def test_the_panel_is_complete_when_every_member_has_confirmed(
    closed_lot, people, building, decoration, sent
):
    make_experts(6, [building])
    make_experts(3, [decoration])
    request = approved_request(people, closed_lot, [(building, 3, 1), (decoration, 2, 0)])
    services.draw_run(actor=people["sam"], request=request, supervisor_number="1")
    services.selection_decline(selection=request.selections.get(position=1))
    members = notified(request)
    for selection in members[:-1]:
        services.selection_confirm(selection=selection, channel="link")
    request.refresh_from_db()
    assert request.status == DrawStatus.NOTIFYING
    assert not Notification.objects.filter(title__startswith="评标委员会专家已全部确认").exists()

    services.selection_confirm(selection=members[-1], channel="sms")

    request.refresh_from_db()
    assert request.status == DrawStatus.COMPLETE
    assert request.selections.filter(status=SelectionStatus.CONFIRMED).count() == 5
    told = Notification.objects.filter(title__startswith="评标委员会专家已全部确认")
    assert {n.recipient.username for n in told} == {"alice", "sam"}
    names = set(Expert.objects.values_list("name", flat=True))
    assert not any(name in n.body or name in n.title for n in told for name in names)
    assert AuditEvent.objects.filter(action="experts.draw.complete").count() == 1
