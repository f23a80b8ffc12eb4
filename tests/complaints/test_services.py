"""Filing (TR 60), acceptance and decision (TR 61), suspension, statements and withdrawal: the rules and their refusals."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core import mail

from audit.models import AuditEvent
from complaints import selectors, services
from complaints.models import Complaint, ComplaintStatus, Outcome, Subject
from core.errors import DomainError, NotFound, NotPermitted
from tendering import services as tendering
from tests.complaints.conftest import SH, at, evidence

pytestmark = pytest.mark.django_db


def refused(code: str, call) -> DomainError:
    with pytest.raises(DomainError) as caught:
        call()
    assert caught.value.code == code, caught.value
    return caught.value


def actions(complaint: Complaint) -> list[str]:
    return list(
        AuditEvent.objects.filter(action__startswith="complaints.", tender_id=complaint.tender_id)
        .order_by("seq")
        .values_list("action", flat=True)
    )


# --- filing (TR 60) -----------------------------------------------------------------------------


def test_a_bidder_that_obtained_the_documents_files_a_complaint_to_the_tenders_authority(
    file_complaint, people, tender, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        complaint = file_complaint(lot_id=tender.lots.get(number=2).pk, subject=Subject.DOCUMENTS)
    assert complaint.status == ComplaintStatus.SUBMITTED
    assert complaint.authority == tender.supervising_authority
    assert complaint.complainant == people["bob"].organisation
    assert complaint.number == f"TS2026{complaint.pk:06d}"
    assert complaint.lot.number == 2
    [attachment] = complaint.attachments.all()
    assert attachment.file.read() == b"%PDF-1.4 evidence" and len(attachment.sha256) == 64
    event = AuditEvent.objects.get(action="complaints.complaint.filed")
    assert event.lot_id == complaint.lot_id and event.actor_id == people["bob"].pk
    assert '"filing_deadline":"2026-03-12"' in event.payload
    assert people["sam"].notifications.filter(title__contains=complaint.number).exists()
    assert [m.to for m in mail.outbox] == [["sam@example.cn"]]
    assert "2026-03-05" in mail.outbox[0].body  # accept or not by Thursday (TR 61)


def test_a_complaint_on_the_tenth_day_is_accepted_and_on_the_eleventh_refused_as_late(
    file_complaint, clock
):
    clock.move_to(at("2026-03-12", 23))
    file_complaint(known_on=dt.date(2026, 3, 2))
    clock.move_to(at("2026-03-13", 0))
    error = refused("complaint.late", lambda: file_complaint(known_on=dt.date(2026, 3, 2)))
    assert error.field == "known_on" and "2026-03-12" in error.message and "10日" in error.message
    assert Complaint.objects.count() == 1


def test_a_period_ending_on_a_weekend_runs_to_the_monday(file_complaint, clock):
    clock.move_to(at("2026-03-16"))
    file_complaint(known_on=dt.date(2026, 3, 4))  # the tenth day is Saturday 14 March
    refused("complaint.late", lambda: file_complaint(known_on=dt.date(2026, 3, 3)))


def test_the_objections_answer_period_extends_the_filing_period(file_complaint, clock):
    clock.move_to(at("2026-03-16"))
    refused(
        "complaint.late",
        lambda: file_complaint(known_on=dt.date(2026, 3, 2), subject=Subject.DOCUMENTS),
    )
    complaint = file_complaint(
        known_on=dt.date(2026, 3, 2),
        subject=Subject.DOCUMENTS,
        objection_raised=True,
        objected_on=dt.date(2026, 3, 3),
        objection_answered_on=dt.date(2026, 3, 6),
    )
    assert complaint.objection_raised and complaint.objected_on == dt.date(2026, 3, 3)


def test_a_complaint_without_an_objection_where_one_was_due_is_filed_and_flagged_for_the_authority(
    file_complaint, people
):
    complaint = file_complaint(subject=Subject.CANDIDATES)
    detail = selectors.complaint_detail(user=people["sam"], complaint_id=complaint.pk)
    assert detail.objection_missing
    other = file_complaint(subject=Subject.RESULT)
    assert not selectors.complaint_detail(
        user=people["sam"], complaint_id=other.pk
    ).objection_missing


def test_filing_refuses_bad_input_with_a_code_and_the_field(file_complaint, tender):
    assert (
        refused(
            "complaint.known_on_future", lambda: file_complaint(known_on=dt.date(2026, 3, 3))
        ).field
        == "known_on"
    )
    assert (
        refused("complaint.evidence_required", lambda: file_complaint(files=[])).field
        == "attachments"
    )
    assert refused("field.required", lambda: file_complaint(claims="  ")).field == "claims"
    assert (
        refused("complaint.subject", lambda: file_complaint(subject="bribery")).field == "subject"
    )
    refused("complaint.objected_on_required", lambda: file_complaint(objection_raised=True))
    refused(
        "complaint.answered_on",
        lambda: file_complaint(
            objection_raised=True,
            objected_on=dt.date(2026, 3, 1),
            objection_answered_on=dt.date(2026, 2, 28),
        ),
    )
    refused("attachment.empty", lambda: file_complaint(files=[evidence(content=b"")]))
    other = tendering.tender_create(actor=tender.created_by, data=_other_tender_input(tender))
    tendering.lot_save(actor=tender.created_by, tender=other, data=_lot_of(tender))
    refused("complaint.lot", lambda: file_complaint(lot_id=other.lots.get().pk))
    assert Complaint.objects.count() == 0


def _other_tender_input(tender):
    from tests.conftest import tender_input

    return tender_input({"tenderer": tender.tenderer, "supervisor": tender.supervising_authority})


def _lot_of(tender):
    from tests.conftest import lot_input

    return lot_input()


def test_only_an_interested_bidder_may_file(file_complaint, people):
    with pytest.raises(NotFound):
        file_complaint(people["dave"])  # never obtained the documents
    for name in ("sam", "alice", "terry"):
        with pytest.raises(NotPermitted):
            file_complaint(people[name])


def test_a_bidder_that_bid_counts_as_interested_even_without_an_obtain_record(
    people, tender, security_bid
):
    from tendering.models import DocumentObtain

    DocumentObtain.objects.filter(organisation=people["carol"].organisation).delete()
    assert not selectors.interested_organisation(user=people["carol"], tender=tender)
    security_bid(people["carol"], tender.lots.get(number=1))
    assert selectors.interested_organisation(user=people["carol"], tender=tender)
    assert list(selectors.tenders_to_complain_about(user=people["carol"])) == [tender]


# --- acceptance (TR 61) -------------------------------------------------------------------------


def test_acceptance_is_due_three_working_days_after_receipt(file_complaint, clock, people):
    clock.move_to(at("2026-03-06"))  # a Friday
    complaint = file_complaint(known_on=dt.date(2026, 3, 2))
    clock_ = selectors.complaint_clock(complaint)
    assert clock_.awaiting == "acceptance" and clock_.due.on == dt.date(2026, 3, 11)
    assert not selectors.complaint_clock(complaint, today=dt.date(2026, 3, 11)).overdue
    late = selectors.complaint_clock(complaint, today=dt.date(2026, 3, 12))
    assert late.overdue and late.days_overdue == 1


def test_acceptance_across_the_spring_festival(file_complaint, clock):
    clock.move_to(at("2026-02-13"))
    complaint = file_complaint(known_on=dt.date(2026, 2, 10))
    assert selectors.complaint_clock(complaint).acceptance_due.on == dt.date(2026, 2, 25)


def test_the_supervisor_accepts_and_the_decision_becomes_due_in_thirty_working_days(
    file_complaint, people, django_capture_on_commit_callbacks
):
    complaint = file_complaint()
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        complaint = services.complaint_accept(actor=people["sam"], complaint=complaint)
    assert complaint.status == ComplaintStatus.ACCEPTED and complaint.reviewed_by == people["sam"]
    clock_ = selectors.complaint_clock(complaint)
    assert clock_.awaiting == "decision" and clock_.due.on == dt.date(2026, 4, 14)
    event = AuditEvent.objects.get(action="complaints.complaint.accepted")
    assert '"on_time":true' in event.payload and '"decision_due":"2026-04-14"' in event.payload
    assert sorted(m.to[0] for m in mail.outbox) == [
        "alice@example.cn",
        "bob@example.cn",
        "terry@example.cn",
    ]


def test_acceptance_after_the_three_working_days_is_recorded_as_late(file_complaint, people, clock):
    complaint = file_complaint()
    clock.move_to(at("2026-03-06"))
    services.complaint_accept(actor=people["sam"], complaint=complaint)
    assert (
        '"on_time":false' in AuditEvent.objects.get(action="complaints.complaint.accepted").payload
    )


def test_not_accepting_needs_a_reason_and_closes_the_complaint(file_complaint, people):
    complaint = file_complaint()
    refused(
        "field.required",
        lambda: services.complaint_not_accept(actor=people["sam"], complaint=complaint, reason=""),
    )
    complaint = services.complaint_not_accept(
        actor=people["sam"], complaint=complaint, reason="应先提出异议而未提出。"
    )
    assert complaint.status == ComplaintStatus.NOT_ACCEPTED and complaint.not_accepted_reason
    assert people["bob"].notifications.filter(body__contains="应先提出异议").exists()
    refused(
        "complaint.already_reviewed",
        lambda: services.complaint_accept(actor=people["sam"], complaint=complaint),
    )
    refused(
        "complaint.closed",
        lambda: services.complaint_withdraw(actor=people["bob"], complaint=complaint, reason="x"),
    )
    refused(
        "complaint.closed",
        lambda: services.complaint_suspend(actor=people["sam"], complaint=complaint, reason="x"),
    )


def test_only_the_tenders_authority_handles_the_complaint(file_complaint, people, sven):
    complaint = file_complaint()
    with pytest.raises(NotFound):
        services.complaint_accept(actor=sven, complaint=complaint)
    for name in ("alice", "terry", "carol", "fay"):
        with pytest.raises(NotFound):
            services.complaint_accept(actor=people[name], complaint=complaint)
    with pytest.raises(NotPermitted):
        services.complaint_accept(actor=people["bob"], complaint=complaint)
    assert not actions(complaint)[1:]


# --- suspension ---------------------------------------------------------------------------------


def test_lot_suspended_only_while_an_order_is_in_force(file_complaint, people, tender):
    lot1, lot2 = tender.lots.get(number=1), tender.lots.get(number=2)
    complaint = services.complaint_accept(
        actor=people["sam"], complaint=file_complaint(lot_id=lot1.pk)
    )
    assert not selectors.lot_suspended(lot1)
    services.complaint_suspend(actor=people["sam"], complaint=complaint, reason="核查评标过程")
    assert selectors.lot_suspended(lot1) and not selectors.lot_suspended(lot2)
    assert selectors.lot_suspension(lot1).reason == "核查评标过程"
    services.complaint_lift_suspension(actor=people["sam"], complaint=complaint, reason="核查完毕")
    assert not selectors.lot_suspended(lot1) and selectors.lot_suspension(lot1) is None
    services.complaint_suspend(actor=people["sam"], complaint=complaint, reason="再次核查")
    assert selectors.lot_suspended(lot1)
    services.complaint_decide(
        actor=people["sam"],
        complaint=complaint,
        outcome=Outcome.DISMISSED,
        decision="投诉缺乏事实依据。",
    )
    assert not selectors.lot_suspended(lot1)
    assert actions(complaint) == [
        "complaints.complaint.filed",
        "complaints.complaint.accepted",
        "complaints.suspension.ordered",
        "complaints.suspension.lifted",
        "complaints.suspension.ordered",
        "complaints.complaint.decided",
        "complaints.suspension.lifted",
    ]


def test_a_suspension_on_a_complaint_about_the_whole_tender_covers_every_lot(
    accepted, people, tender
):
    services.complaint_suspend(actor=people["sam"], complaint=accepted, reason="招标文件存在问题")
    assert all(selectors.lot_suspended(lot) for lot in tender.lots.all())


def test_withdrawing_lifts_the_suspension(
    accepted, people, tender, django_capture_on_commit_callbacks
):
    services.complaint_suspend(actor=people["sam"], complaint=accepted, reason="核查")
    assert people["carol"].notifications.filter(title__startswith="暂停招标投标活动").exists()
    with django_capture_on_commit_callbacks(execute=True):
        complaint = services.complaint_withdraw(
            actor=people["bob"], complaint=accepted, reason="双方已协商解决"
        )
    assert complaint.status == ComplaintStatus.WITHDRAWN
    assert not selectors.lot_suspended(tender.lots.first())
    assert people["carol"].notifications.filter(title__startswith="恢复招标投标活动").exists()
    assert {m.to[0] for m in mail.outbox} >= {"sam@example.cn", "alice@example.cn"}


def test_suspension_rules(file_complaint, accepted, people, tender):
    pending = file_complaint()
    refused(
        "complaint.not_accepted",
        lambda: services.complaint_suspend(actor=people["sam"], complaint=pending, reason="x"),
    )
    refused(
        "complaint.not_suspended",
        lambda: services.complaint_lift_suspension(
            actor=people["sam"], complaint=accepted, reason="x"
        ),
    )
    services.complaint_suspend(actor=people["sam"], complaint=accepted, reason="核查")
    refused(
        "complaint.already_suspended",
        lambda: services.complaint_suspend(actor=people["sam"], complaint=accepted, reason="x"),
    )
    with pytest.raises(NotPermitted):
        services.complaint_lift_suspension(actor=people["alice"], complaint=accepted, reason="x")


def test_nothing_to_suspend_when_every_lot_concerned_has_ended(file_complaint, people, tender):
    lot = tender.lots.get(number=1)
    complaint = services.complaint_accept(
        actor=people["sam"], complaint=file_complaint(lot_id=lot.pk)
    )
    tendering.lot_cancel(actor=people["alice"], lot=lot, reason="项目调整")
    refused(
        "complaint.nothing_to_suspend",
        lambda: services.complaint_suspend(actor=people["sam"], complaint=complaint, reason="x"),
    )


# --- statements ---------------------------------------------------------------------------------


def test_the_agent_answers_a_statement_request_once(accepted, people):
    statement = services.statement_request(
        actor=people["sam"],
        complaint=accepted,
        questions="请说明资质条件的设置依据。",
        due_on=dt.date(2026, 3, 9),
    )
    assert people["alice"].notifications.filter(body__contains="资质条件").exists()
    with pytest.raises(NotFound):
        services.statement_answer(actor=people["agnes"], statement=statement, answer="x")
    with pytest.raises(NotFound):
        services.statement_answer(actor=people["bob"], statement=statement, answer="x")
    statement = services.statement_answer(
        actor=people["alice"],
        statement=statement,
        answer="依据行业标准设置。",
        files=[evidence("说明.pdf")],
    )
    assert statement.answered_by == people["alice"] and statement.attachments.count() == 1
    refused(
        "statement.already_answered",
        lambda: services.statement_answer(actor=people["alice"], statement=statement, answer="y"),
    )
    assert people["sam"].notifications.filter(title__startswith="被投诉人已提交书面说明").exists()
    assert actions(accepted)[-2:] == [
        "complaints.statement.requested",
        "complaints.statement.answered",
    ]


def test_statement_requests_need_a_future_due_date_and_an_accepted_complaint(
    file_complaint, accepted, people
):
    refused(
        "statement.due_past",
        lambda: services.statement_request(
            actor=people["sam"], complaint=accepted, questions="q", due_on=dt.date(2026, 3, 1)
        ),
    )
    refused(
        "complaint.not_accepted",
        lambda: services.statement_request(
            actor=people["sam"],
            complaint=file_complaint(),
            questions="q",
            due_on=dt.date(2026, 3, 9),
        ),
    )


def test_a_statement_cannot_be_answered_after_the_decision(accepted, people):
    statement = services.statement_request(
        actor=people["sam"], complaint=accepted, questions="q", due_on=dt.date(2026, 3, 9)
    )
    services.complaint_decide(
        actor=people["sam"], complaint=accepted, outcome=Outcome.UPHELD, decision="责令改正。"
    )
    refused(
        "complaint.closed",
        lambda: services.statement_answer(actor=people["alice"], statement=statement, answer="a"),
    )


# --- the decision and withdrawal ----------------------------------------------------------------


def test_the_decision_is_recorded_with_its_remedy_and_told_to_the_parties(
    accepted, people, clock, django_capture_on_commit_callbacks
):
    refused(
        "complaint.outcome",
        lambda: services.complaint_decide(
            actor=people["sam"], complaint=accepted, outcome="maybe", decision="x"
        ),
    )
    refused(
        "field.required",
        lambda: services.complaint_decide(
            actor=people["sam"], complaint=accepted, outcome=Outcome.UPHELD, decision=""
        ),
    )
    clock.move_to(at("2026-04-15"))
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        complaint = services.complaint_decide(
            actor=people["sam"],
            complaint=accepted,
            outcome=Outcome.UPHELD,
            decision="责令招标人修改招标文件并重新发布。",
        )
    assert complaint.status == ComplaintStatus.DECIDED and complaint.outcome == Outcome.UPHELD
    assert selectors.complaint_clock(complaint).decided_on_time is False  # due 14 April
    assert (
        '"on_time":false' in AuditEvent.objects.get(action="complaints.complaint.decided").payload
    )
    assert any("投诉成立" in m.body and m.to == ["bob@example.cn"] for m in mail.outbox)
    refused(
        "complaint.closed",
        lambda: services.complaint_decide(
            actor=people["sam"], complaint=complaint, outcome=Outcome.UPHELD, decision="x"
        ),
    )
    refused(
        "complaint.closed",
        lambda: services.complaint_withdraw(actor=people["bob"], complaint=complaint, reason="x"),
    )


def test_only_the_complainant_withdraws_before_acceptance_too(file_complaint, people):
    complaint = file_complaint()
    with pytest.raises(NotFound):
        services.complaint_withdraw(actor=people["carol"], complaint=complaint, reason="x")
    with pytest.raises(NotPermitted):
        services.complaint_withdraw(actor=people["sam"], complaint=complaint, reason="x")
    complaint = services.complaint_withdraw(actor=people["bob"], complaint=complaint, reason="误投")
    assert complaint.status == ComplaintStatus.WITHDRAWN
    refused(
        "complaint.closed",
        lambda: services.complaint_accept(actor=people["sam"], complaint=complaint),
    )
    # Never accepted: the agency never sees it.
    assert not selectors.complaints_for(user=people["alice"]).exists()


def test_the_time_of_filing_is_the_server_clock_in_shanghai(file_complaint, clock):
    # 00:30 on New Year's Day in Shanghai is still 31 December in UTC.
    new_year = dt.datetime(2027, 1, 1, 0, 30, tzinfo=SH)
    clock.move_to(new_year)

    complaint = file_complaint(known_on=dt.date(2027, 1, 1))

    assert complaint.received_at == new_year
    assert complaint.number.startswith("TS2027")


def test_the_holiday_table_is_kept_by_platform_administrators_and_audited(people):
    from complaints.models import CalendarDay

    day = CalendarDay(date=dt.date(2027, 1, 1), is_workday=False, name="元旦")
    with pytest.raises(NotPermitted):
        services.calendar_day_save(actor=people["sam"], day=day)
    services.calendar_day_save(actor=people["pat"], day=day)
    services.calendar_day_delete(actor=people["pat"], day=day)
    assert not CalendarDay.objects.exists()
    assert list(
        AuditEvent.objects.filter(action__startswith="complaints.calendar_day.").values_list(
            "action", flat=True
        )
    ) == ["complaints.calendar_day.saved", "complaints.calendar_day.deleted"]


def test_the_demo_files_a_pending_and_a_suspended_complaint_once(tender, clock):
    from complaints.demo import complaints_demo

    pending, suspended = complaints_demo()
    assert pending.status == ComplaintStatus.SUBMITTED and pending.attachments.count() == 1
    assert suspended.status == ComplaintStatus.ACCEPTED
    assert selectors.lot_suspended(tender.lots.get(number=1))
    assert complaints_demo() == []


def test_who_complained_is_sealed_in_the_audit_chain_until_bidding_closes(file_complaint, people, tender):
    complaint = file_complaint()
    services.complaint_withdraw(actor=people["bob"], complaint=complaint, reason="已与招标人沟通解决。")

    from audit.models import Sensitivity
    from audit.selectors import events_visible_to

    sealed = AuditEvent.objects.filter(action__in=["complaints.complaint.filed", "complaints.complaint.withdrawn"])
    assert {event.sensitivity for event in sealed} == {Sensitivity.UNTIL_BID_DEADLINE}
    assert not events_visible_to(user=people["sam"]).filter(action__startswith="complaints.complaint.").exists()


def test_a_file_with_a_long_chinese_name_is_stored_under_a_short_name_and_keeps_its_own(file_complaint):
    long_name = "证" * 100 + ".pdf"

    complaint = file_complaint(files=[evidence(long_name)])

    [attachment] = complaint.attachments.all()
    assert attachment.original_name == long_name
    assert len(attachment.file.name.encode("utf-8")) < 120 and attachment.file.name.endswith(".pdf")
