"""Draw requests: who may ask, for which lots, the committee rules (ER 9), approval with the secret's commitment, rejection, and the guards of the run and the reveal."""

from __future__ import annotations

import datetime as dt

import pytest

from audit.models import AuditEvent
from core.errors import DomainError, NotFound, NotPermitted
from experts import draw, services
from experts.models import DrawRequest, DrawStatus
from tendering import services as tendering
from tendering.models import LotStatus

from .draw_support import (
    AFTER_DEADLINE,
    EVALUATION,
    T0,
    approved_request,
    award,
    make_experts,
    request_input,
)


@pytest.fixture(autouse=True)
def clock(time_machine):
    time_machine.move_to(T0, tick=False)
    return time_machine


# --- ER 9: at least 5, an odd number, experts at least two thirds ------------------------------


@pytest.mark.parametrize(
    ("members", "representatives", "refusal"),
    [
        ((4,), 0, "draw.committee_too_small"),  # 4: one short of the minimum
        ((2, 2), 0, "draw.committee_too_small"),  # the members of all items count together
        ((3,), 1, "draw.committee_too_small"),  # representatives count towards the 5, still 4
        ((5,), 0, None),  # the minimum committee, all experts
        ((6,), 0, "draw.committee_even"),
        ((4,), 2, "draw.committee_even"),
        ((4,), 1, None),  # 4 of 5 are experts
        ((3,), 2, "draw.experts_two_thirds"),  # 3 of 5 is below two thirds
        ((5,), 2, None),  # 5 of 7
        ((4,), 3, "draw.experts_two_thirds"),  # 4 of 7
        ((3, 3), 3, None),  # 6 of 9 is exactly two thirds
        ((5,), 4, "draw.experts_two_thirds"),  # 5 of 9
    ],
)
def test_committee_size_follows_er9_at_each_boundary(
    closed_lot, people, building, decoration, members, representatives, refusal
):
    items = [(building, members[0], 0)] + (
        [(decoration, members[1], 0)] if len(members) > 1 else []
    )
    data = request_input(items, tenderer_representatives=representatives)

    if refusal is None:
        request = services.draw_request_create(actor=people["alice"], lot=closed_lot, data=data)
        assert request.status == DrawStatus.PENDING
        assert sum(item.members for item in request.items.all()) == sum(members)
    else:
        with pytest.raises(DomainError) as refused:
            services.draw_request_create(actor=people["alice"], lot=closed_lot, data=data)
        assert refused.value.code == refusal
        assert not DrawRequest.objects.exists()


def test_request_records_items_and_is_audited_without_any_expert(closed_lot, people, building):
    request = services.draw_request_create(
        actor=people["alice"],
        lot=closed_lot,
        data=request_input([(building, 5, 2)], locality="remote"),
    )

    assert request.requested_by == people["alice"]
    assert request.response_minutes == 30  # settings.EXPERT_DRAW default
    assert request.locality == "remote"
    event = AuditEvent.objects.get(action="experts.draw_request.created")
    assert event.lot_id == closed_lot.pk and event.tender_id == closed_lot.tender_id
    assert '"items":[{"members":5,"reserves":2,"specialty":"A0101"}]' in event.payload


def test_agent_of_another_agency_is_told_the_lot_does_not_exist(closed_lot, people, building):
    with pytest.raises(NotFound):
        services.draw_request_create(
            actor=people["agnes"], lot=closed_lot, data=request_input([(building, 5, 0)])
        )


@pytest.mark.parametrize("name", ["terry", "bob", "sam", "pat"])
def test_only_agents_may_request_a_panel(closed_lot, people, building, name):
    with pytest.raises(NotPermitted):
        services.draw_request_create(
            actor=people[name], lot=closed_lot, data=request_input([(building, 5, 0)])
        )


def test_request_is_refused_while_bidding_is_still_open(lot, people, building):
    assert lot.status == LotStatus.PUBLISHED
    with pytest.raises(DomainError) as refused:
        services.draw_request_create(
            actor=people["alice"], lot=lot, data=request_input([(building, 5, 0)])
        )
    assert refused.value.code == "draw.lot_state"


def test_request_is_refused_for_a_cancelled_lot(closed_lot, people, building):
    tendering.lot_cancel(actor=people["alice"], lot=closed_lot, reason="项目取消")
    with pytest.raises(DomainError) as refused:
        services.draw_request_create(
            actor=people["alice"], lot=closed_lot, data=request_input([(building, 5, 0)])
        )
    assert refused.value.code == "draw.lot_state"


def test_request_is_refused_once_the_lot_is_in_evaluation(closed_lot, people, building):
    tendering.lot_mark_opened(actor=people["alice"], lot=closed_lot)
    tendering.lot_start_evaluation(actor=people["alice"], lot=closed_lot)
    with pytest.raises(DomainError) as refused:
        services.draw_request_create(
            actor=people["alice"], lot=closed_lot, data=request_input([(building, 5, 0)])
        )
    assert refused.value.code == "draw.lot_state"


def test_request_for_an_opened_lot_is_accepted(closed_lot, people, building):
    tendering.lot_mark_opened(actor=people["alice"], lot=closed_lot)
    request = services.draw_request_create(
        actor=people["alice"], lot=closed_lot, data=request_input([(building, 5, 0)])
    )
    assert request.status == DrawStatus.PENDING


def test_evaluation_must_lie_ahead(closed_lot, people, building):
    with pytest.raises(DomainError) as refused:
        services.draw_request_create(
            actor=people["alice"],
            lot=closed_lot,
            data=request_input(
                [(building, 5, 0)], evaluation_start=AFTER_DEADLINE - dt.timedelta(minutes=1)
            ),
        )
    assert refused.value.code == "draw.evaluation_past"
    assert refused.value.field == "evaluation_start"


def test_a_specialty_may_appear_only_once(closed_lot, people, building):
    with pytest.raises(DomainError) as refused:
        services.draw_request_create(
            actor=people["alice"],
            lot=closed_lot,
            data=request_input([(building, 3, 0), (building, 2, 0)]),
        )
    assert refused.value.code == "draw.duplicate_specialty"


def test_response_window_must_be_sensible(closed_lot, people, building):
    with pytest.raises(DomainError) as refused:
        services.draw_request_create(
            actor=people["alice"],
            lot=closed_lot,
            data=request_input([(building, 5, 0)], response_minutes=2),
        )
    assert refused.value.code == "draw.response_minutes"


def test_second_request_waits_until_the_first_is_rejected(closed_lot, people, building):
    first = services.draw_request_create(
        actor=people["alice"], lot=closed_lot, data=request_input([(building, 5, 0)])
    )
    with pytest.raises(DomainError) as refused:
        services.draw_request_create(
            actor=people["alice"], lot=closed_lot, data=request_input([(building, 5, 0)])
        )
    assert refused.value.code == "draw.request_open"

    services.draw_request_reject(
        actor=people["sam"], request=first, reason="专业设置不合理，请补充装饰装修专业"
    )
    second = services.draw_request_create(
        actor=people["alice"], lot=closed_lot, data=request_input([(building, 5, 0)])
    )
    assert second.status == DrawStatus.PENDING


# --- approval commits to the secret --------------------------------------------------------------


def test_approval_commits_to_a_fresh_secret_in_the_audit_chain(closed_lot, people, building):
    request = services.draw_request_create(
        actor=people["alice"], lot=closed_lot, data=request_input([(building, 5, 0)])
    )

    approved = services.draw_request_approve(actor=people["sam"], request=request)

    assert approved.status == DrawStatus.APPROVED
    assert approved.reviewed_by == people["sam"]
    secret = bytes.fromhex(approved.secret)
    assert len(secret) == 32
    assert approved.secret_commitment == draw.commitment(secret)
    committed = AuditEvent.objects.get(action="experts.draw.committed")
    assert committed.object_id == str(request.pk)
    assert approved.secret_commitment in committed.payload
    assert not AuditEvent.objects.filter(payload__contains=approved.secret).exists()


def test_a_new_request_after_an_exhausted_draw_commits_to_a_new_secret(
    closed_lot, people, building, sent
):
    first = approved_request(people, closed_lot, [(building, 5, 0)])
    services.draw_run(
        actor=people["sam"], request=first, supervisor_number="42"
    )  # the pool is empty
    first.refresh_from_db()
    assert first.status == DrawStatus.EXHAUSTED

    second = approved_request(people, closed_lot, [(building, 5, 0)])

    assert second.secret != first.secret
    assert second.secret_commitment != first.secret_commitment


@pytest.mark.parametrize("name", ["alice", "terry", "pat"])
def test_only_supervisors_approve(closed_lot, people, building, name):
    request = services.draw_request_create(
        actor=people["alice"], lot=closed_lot, data=request_input([(building, 5, 0)])
    )
    with pytest.raises(NotPermitted):
        services.draw_request_approve(actor=people[name], request=request)
    request.refresh_from_db()
    assert request.status == DrawStatus.PENDING and request.secret == ""


def test_rejection_needs_a_reason_and_ends_the_request(closed_lot, people, building):
    request = services.draw_request_create(
        actor=people["alice"], lot=closed_lot, data=request_input([(building, 5, 0)])
    )
    with pytest.raises(DomainError) as refused:
        services.draw_request_reject(actor=people["sam"], request=request, reason="  ")
    assert refused.value.field == "reason"

    rejected = services.draw_request_reject(
        actor=people["sam"], request=request, reason="评标时间与开标时间冲突"
    )

    assert rejected.status == DrawStatus.REJECTED
    assert rejected.rejection_reason == "评标时间与开标时间冲突"
    with pytest.raises(DomainError) as refused:
        services.draw_request_approve(actor=people["sam"], request=request)
    assert refused.value.code == "draw.not_pending"


# --- the run's guards ----------------------------------------------------------------------------


def test_a_pending_request_cannot_be_run(closed_lot, people, building, sent):
    request = services.draw_request_create(
        actor=people["alice"], lot=closed_lot, data=request_input([(building, 5, 0)])
    )
    with pytest.raises(DomainError) as refused:
        services.draw_run(actor=people["sam"], request=request, supervisor_number="42")
    assert refused.value.code == "draw.not_approved"


def test_a_draw_runs_only_once(closed_lot, people, building, sent):
    make_experts(8, [building])
    request = approved_request(people, closed_lot, [(building, 5, 1)])
    services.draw_run(actor=people["sam"], request=request, supervisor_number="20260402")

    with pytest.raises(DomainError) as refused:
        services.draw_run(actor=people["sam"], request=request, supervisor_number="7")
    assert refused.value.code == "draw.already_run"
    assert request.selections.count() == 6
    assert len(sent.notified) == 1


@pytest.mark.parametrize("number", ["", "abc", "1234567890123", "12 34", "-5", "３"])
def test_supervisor_number_must_be_one_to_twelve_digits(closed_lot, people, building, sent, number):
    request = approved_request(people, closed_lot, [(building, 5, 0)])
    with pytest.raises(DomainError) as refused:
        services.draw_run(actor=people["sam"], request=request, supervisor_number=number)
    assert refused.value.code == "draw.supervisor_number"
    request.refresh_from_db()
    assert request.drawn_at is None


@pytest.mark.parametrize("name", ["alice", "terry", "pat"])
def test_only_a_supervisor_runs_the_draw(closed_lot, people, building, sent, name):
    request = approved_request(people, closed_lot, [(building, 5, 0)])
    with pytest.raises(NotPermitted):
        services.draw_run(actor=people[name], request=request, supervisor_number="42")


def test_the_draw_is_refused_once_evaluation_time_has_passed(
    closed_lot, people, building, sent, clock
):
    make_experts(6, [building])
    request = approved_request(people, closed_lot, [(building, 5, 0)])
    clock.move_to(EVALUATION + dt.timedelta(minutes=1), tick=False)
    with pytest.raises(DomainError) as refused:
        services.draw_run(actor=people["sam"], request=request, supervisor_number="42")
    assert refused.value.code == "draw.evaluation_past"


# --- the reveal's guards -------------------------------------------------------------------------


def _complete(people, lot, building):
    make_experts(5, [building])
    request = approved_request(people, lot, [(building, 5, 0)])
    services.draw_run(actor=people["sam"], request=request, supervisor_number="1")
    for selection in request.selections.all():
        services.selection_confirm(selection=selection, channel="link")
    request.refresh_from_db()
    assert request.status == DrawStatus.COMPLETE
    return request


def test_reveal_waits_for_the_award(closed_lot, people, building, sent):
    request = _complete(people, closed_lot, building)
    with pytest.raises(DomainError) as refused:
        services.draw_reveal(actor=people["sam"], request=request)
    assert refused.value.code == "draw.not_awarded"


def test_platform_admin_may_reveal_once_and_agents_never(closed_lot, people, orgs, building, sent):
    request = _complete(people, closed_lot, building)
    award(people, orgs, closed_lot)

    with pytest.raises(NotPermitted):
        services.draw_reveal(actor=people["alice"], request=request)
    revealed = services.draw_reveal(actor=people["pat"], request=request)
    assert revealed.revealed_at is not None
    with pytest.raises(DomainError) as refused:
        services.draw_reveal(actor=people["sam"], request=request)
    assert refused.value.code == "draw.already_revealed"
    event = AuditEvent.objects.get(action="experts.draw.revealed")
    assert request.secret in event.payload and revealed.seed in event.payload
