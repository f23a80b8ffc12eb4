"""Reads of complaints, with who may see what applied here, on the server.

- The complainant's organisation (its bidder users) sees its own complaints.
- The supervisors of the authority the complaint went to see and handle it.
- The tender's agency (its agents) and the tenderer (its representatives) see
  a complaint about their tender once it has been accepted: that is when the
  authority sends the respondent the complaint (before, it is between the
  complainant and the authority). The agents answer statement requests.
- Nobody else: a complaint they may not see is ``NotFound`` (404), exactly as
  one that does not exist.

``lot_suspended`` is what the award step asks before announcing a result.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import OrganisationKind, Role, User
from bidding.models import Bid
from complaints import rules
from complaints.models import (
    OPEN_STATUSES,
    Complaint,
    ComplaintAttachment,
    ComplaintStatus,
    StatementRequest,
    Suspension,
)
from complaints.workdays import DueDate, WorkCalendar
from core.errors import NotFound, NotPermitted
from tendering.models import DocumentObtain, Lot, LotStatus, Tender

COMPLAINT_ROLES = (Role.BIDDER, Role.SUPERVISOR, Role.AGENT, Role.TENDERER_REP)


# --- the award step's question ------------------------------------------------------------------


def _suspensions_for_lot(lot: Lot) -> QuerySet[Suspension]:
    return Suspension.objects.filter(lifted_at__isnull=True).filter(
        Q(complaint__lot_id=lot.pk)
        | Q(complaint__lot__isnull=True, complaint__tender_id=lot.tender_id)
    )


def lot_suspended(lot: Lot) -> bool:
    """True while a supervising authority's order to suspend the procurement of ``lot`` is in force.

    An order on a complaint about the lot, or about the whole tender (no lot
    named), counts; it ends when lifted, when the complaint is decided, or
    when it is withdrawn.
    """
    return _suspensions_for_lot(lot).exists()


def lot_suspension(lot: Lot) -> Suspension | None:
    """The order in force on ``lot`` (the earliest, should there be several), for a page to explain."""
    return (
        _suspensions_for_lot(lot)
        .select_related("complaint", "complaint__authority")
        .order_by("ordered_at")
        .first()
    )


# --- who is who --------------------------------------------------------------------------------


def is_complainant(user: User, complaint: Complaint) -> bool:
    return bool(
        user.is_authenticated
        and user.has_role(Role.BIDDER)
        and user.organisation_id == complaint.complainant_id
    )


def is_supervisor_of(user: User, complaint: Complaint) -> bool:
    return bool(
        user.is_authenticated
        and user.has_role(Role.SUPERVISOR)
        and user.organisation_id == complaint.authority_id
    )


def is_agent_of(user: User, complaint: Complaint) -> bool:
    return bool(
        user.is_authenticated
        and user.has_role(Role.AGENT)
        and user.organisation_id == complaint.tender.agency_id
        and complaint.was_accepted
    )


def is_tenderer_of(user: User, complaint: Complaint) -> bool:
    return bool(
        user.is_authenticated
        and user.has_role(Role.TENDERER_REP)
        and user.organisation_id == complaint.tender.tenderer_id
        and complaint.was_accepted
    )


def require_complaint_role(user: User) -> None:
    if not user.has_role(*COMPLAINT_ROLES):
        raise NotPermitted(
            "permission.role", _("只有投标人、监督人员、招标代理机构和招标人可以查看投诉。")
        )


# Accepted at some point: being handled, decided, or withdrawn after acceptance.
_SEEN_BY_RESPONDENT = Q(status__in=[ComplaintStatus.ACCEPTED, ComplaintStatus.DECIDED]) | Q(
    status=ComplaintStatus.WITHDRAWN, reviewed_at__isnull=False
)


def complaints_for(*, user: User) -> QuerySet[Complaint]:
    """Every complaint the user may see (see the module's docstring)."""
    if not user.is_authenticated or user.organisation_id is None:
        return Complaint.objects.none()
    org = user.organisation_id
    conditions = Q(pk__in=[])
    if user.has_role(Role.BIDDER):
        conditions |= Q(complainant_id=org)
    if user.has_role(Role.SUPERVISOR):
        conditions |= Q(authority_id=org)
    if user.has_role(Role.AGENT):
        conditions |= Q(tender__agency_id=org) & _SEEN_BY_RESPONDENT
    if user.has_role(Role.TENDERER_REP):
        conditions |= Q(tender__tenderer_id=org) & _SEEN_BY_RESPONDENT
    return Complaint.objects.filter(conditions).select_related(
        "tender",
        "tender__agency",
        "tender__tenderer",
        "lot",
        "authority",
        "complainant",
        "filed_by",
    )


def complaint_for(*, user: User, complaint_id: int) -> Complaint:
    complaint = complaints_for(user=user).filter(pk=complaint_id).first()
    if complaint is None:
        raise NotFound("complaint.not_found", _("投诉不存在。"))
    return complaint


def statement_for_agent(*, user: User, statement_id: int) -> StatementRequest:
    """A statement request the user may answer: an agent of the tender's agency."""
    statement = (
        StatementRequest.objects.select_related("complaint", "complaint__tender")
        .filter(pk=statement_id)
        .first()
    )
    if statement is None or not is_agent_of(user, statement.complaint):
        raise NotFound("statement.not_found", _("书面说明要求不存在。"))
    return statement


def may_see_statements(user: User, complaint: Complaint) -> bool:
    """The statements' contents: the authority and the respondent (agency, tenderer), not the complainant."""
    return (
        is_supervisor_of(user, complaint)
        or is_agent_of(user, complaint)
        or is_tenderer_of(user, complaint)
    )


def attachment_for_download(*, user: User, attachment_id: int) -> ComplaintAttachment:
    """A file the user may download: a complaint's evidence to whoever sees the complaint; a statement's to those who see statements."""
    attachment = (
        ComplaintAttachment.objects.select_related("complaint", "complaint__tender")
        .filter(pk=attachment_id)
        .first()
    )
    if (
        attachment is None
        or not complaints_for(user=user).filter(pk=attachment.complaint_id).exists()
    ):
        raise NotFound("attachment.not_found", _("文件不存在。"))
    if attachment.statement_id is not None and not may_see_statements(user, attachment.complaint):
        raise NotFound("attachment.not_found", _("文件不存在。"))
    return attachment


# --- who may file about what --------------------------------------------------------------------


def interested_organisation(*, user: User, tender: Tender) -> bool:
    """The user's bidder organisation obtained the tender's documents or bid on one of its lots."""
    if not (
        user.is_authenticated
        and user.has_role(Role.BIDDER)
        and user.organisation is not None
        and user.organisation.kind == OrganisationKind.BIDDER
    ):
        return False
    org = user.organisation_id
    return (
        DocumentObtain.objects.filter(tender=tender, organisation_id=org).exists()
        or Bid.objects.filter(lot__tender=tender, organisation_id=org).exists()
    )


def tender_for_complaint(*, user: User, tender_id: int) -> Tender:
    """A published tender the user's organisation may complain about (TR 60: an interested party)."""
    if not user.has_role(Role.BIDDER):
        raise NotPermitted("permission.role", _("只有投标人可以提起投诉。"))
    tender = (
        Tender.objects.select_related("supervising_authority", "agency", "tenderer")
        .filter(pk=tender_id, published_at__isnull=False)
        .first()
    )
    if tender is None or not interested_organisation(user=user, tender=tender):
        raise NotFound("tender.not_found", _("招标项目不存在，或贵单位未参与该项目。"))
    return tender


def complaint_lots(tender: Tender) -> QuerySet[Lot]:
    return tender.lots.exclude(status=LotStatus.DRAFT).order_by("number")


def tenders_to_complain_about(*, user: User) -> QuerySet[Tender]:
    """Published tenders the user's bidder organisation took part in, newest first."""
    if not user.has_role(Role.BIDDER) or user.organisation_id is None:
        return Tender.objects.none()
    org = user.organisation_id
    return (
        Tender.objects.filter(published_at__isnull=False)
        .filter(Q(obtains__organisation_id=org) | Q(lots__bids__organisation_id=org))
        .select_related("supervising_authority")
        .distinct()
        .order_by("-published_at", "-id")
    )


# --- due dates ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Clock:
    """Where a complaint stands against TR 61: what is awaited, by when, and whether that day has passed."""

    awaiting: str  # "acceptance", "decision" or "" (nothing: not accepted, decided, withdrawn)
    due: DueDate | None
    overdue: bool
    days_overdue: int
    acceptance_due: DueDate
    decision_due: DueDate | None
    # For a complaint already reviewed or decided: whether that came within its period.
    reviewed_on_time: bool | None = None
    decided_on_time: bool | None = None


def _local(moment: dt.datetime) -> dt.date:
    return timezone.localdate(moment)


def complaint_clock(
    complaint: Complaint, *, calendar: WorkCalendar | None = None, today: dt.date | None = None
) -> Clock:
    """The complaint's TR 61 due dates, computed now from its dates and the calendar."""
    calendar = calendar or WorkCalendar()
    today = today or timezone.localdate()
    acceptance = rules.acceptance_due(received_on=_local(complaint.received_at), calendar=calendar)
    decision = None
    if complaint.was_accepted and complaint.reviewed_at is not None:
        decision = rules.decision_due(accepted_on=_local(complaint.reviewed_at), calendar=calendar)
    reviewed_on_time = (
        _local(complaint.reviewed_at) <= acceptance.on
        if complaint.reviewed_at is not None
        else None
    )
    decided_on_time = (
        _local(complaint.decided_at) <= decision.on
        if complaint.decided_at is not None and decision is not None
        else None
    )
    if complaint.status == ComplaintStatus.SUBMITTED:
        awaiting, due = "acceptance", acceptance
    elif complaint.status == ComplaintStatus.ACCEPTED:
        awaiting, due = "decision", decision
    else:
        awaiting, due = "", None
    overdue = due is not None and today > due.on
    return Clock(
        awaiting=awaiting,
        due=due,
        overdue=overdue,
        days_overdue=(today - due.on).days if overdue and due is not None else 0,
        acceptance_due=acceptance,
        decision_due=decision,
        reviewed_on_time=reviewed_on_time,
        decided_on_time=decided_on_time,
    )


@dataclass(frozen=True)
class Row:
    complaint: Complaint
    clock: Clock
    suspended: bool


def _rows(complaints: QuerySet[Complaint], *, calendar: WorkCalendar, today: dt.date) -> list[Row]:
    items = list(complaints)
    in_force = set(
        Suspension.objects.filter(
            complaint__in=[c.pk for c in items], lifted_at__isnull=True
        ).values_list("complaint_id", flat=True)
    )
    return [
        Row(
            complaint=c,
            clock=complaint_clock(c, calendar=calendar, today=today),
            suspended=c.pk in in_force,
        )
        for c in items
    ]


@dataclass(frozen=True)
class Queue:
    """The supervisor's queue: pending acceptance, being handled, and recently closed."""

    pending: list[Row]
    handling: list[Row]
    closed: list[Row]

    @property
    def overdue(self) -> int:
        return sum(1 for row in self.pending + self.handling if row.clock.overdue)

    @property
    def assumed_years(self) -> tuple[int, ...]:
        years = {
            year
            for row in self.pending + self.handling
            if row.clock.due is not None
            for year in row.clock.due.assumed_years
        }
        return tuple(sorted(years))


CLOSED_SHOWN = 50


def supervisor_queue(*, user: User, today: dt.date | None = None) -> Queue:
    """The complaints to the user's authority, pending and handled ones with their due dates, earliest due first."""
    if not user.has_role(Role.SUPERVISOR):
        raise NotPermitted("permission.role", _("只有监督人员可以处理投诉。"))
    today = today or timezone.localdate()
    calendar = WorkCalendar()
    mine = complaints_for(user=user).filter(authority_id=user.organisation_id)
    by_due = lambda row: (row.clock.due.on if row.clock.due else today, row.complaint.received_at)  # noqa: E731
    pending = sorted(
        _rows(mine.filter(status=ComplaintStatus.SUBMITTED), calendar=calendar, today=today),
        key=by_due,
    )
    handling = sorted(
        _rows(mine.filter(status=ComplaintStatus.ACCEPTED), calendar=calendar, today=today),
        key=by_due,
    )
    closed = _rows(
        mine.exclude(status__in=OPEN_STATUSES).order_by("-received_at", "-id")[:CLOSED_SHOWN],
        calendar=calendar,
        today=today,
    )
    return Queue(pending=pending, handling=handling, closed=closed)


def complaint_rows(*, user: User, today: dt.date | None = None) -> list[Row]:
    """The complaints the user sees (a bidder's own, or those about an agency's or tenderer's tenders), newest first."""
    today = today or timezone.localdate()
    qs = complaints_for(user=user)
    return _rows(qs.order_by("-received_at", "-id"), calendar=WorkCalendar(), today=today)


@dataclass(frozen=True)
class Summary:
    pending: int
    handling: int
    overdue: int


def supervisor_summary(*, user: User) -> Summary:
    """Counts for the supervisor's dashboard."""
    if not user.is_authenticated or not user.has_role(Role.SUPERVISOR):
        return Summary(pending=0, handling=0, overdue=0)
    queue = supervisor_queue(user=user)
    return Summary(pending=len(queue.pending), handling=len(queue.handling), overdue=queue.overdue)


def complaints_about_tender(*, user: User, tender: Tender) -> QuerySet[Complaint]:
    """The complaints about ``tender`` the user may see (for the tender's page)."""
    return complaints_for(user=user).filter(tender=tender).order_by("-received_at", "-id")


# --- the detail page ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    at: dt.datetime | dt.date
    title: str
    text: str = ""
    who: str = ""
    upcoming: bool = False


@dataclass(frozen=True)
class Detail:
    complaint: Complaint
    clock: Clock
    attachments: list[ComplaintAttachment]
    suspensions: list[Suspension]
    suspension: Suspension | None
    statements: list[StatementRequest]
    show_statements: bool
    timeline: list[Step]
    filing_deadline: DueDate
    objection_missing: bool
    # What the user may do now.
    can_review: bool
    can_suspend: bool
    can_lift: bool
    can_request_statement: bool
    can_decide: bool
    can_withdraw: bool
    can_answer: bool
    is_supervisor: bool
    is_complainant: bool


def complaint_detail(*, user: User, complaint_id: int) -> Detail:
    complaint = complaint_for(user=user, complaint_id=complaint_id)
    calendar = WorkCalendar()
    clock = complaint_clock(complaint, calendar=calendar)
    supervisor = is_supervisor_of(user, complaint)
    complainant = is_complainant(user, complaint)
    agent = is_agent_of(user, complaint)
    show_statements = may_see_statements(user, complaint)
    attachments = [
        a
        for a in complaint.attachments.select_related("uploaded_by").order_by("uploaded_at", "id")
        if a.statement_id is None or show_statements
    ]
    suspensions = list(complaint.suspensions.select_related("ordered_by", "lifted_by"))
    in_force = next((s for s in suspensions if s.in_force), None)
    statements = list(complaint.statements.select_related("requested_by", "answered_by"))
    accepted = complaint.status == ComplaintStatus.ACCEPTED
    deadline = rules.filing_deadline(
        known_on=complaint.known_on,
        objected_on=complaint.objected_on if complaint.objection_raised else None,
        answered_on=complaint.objection_answered_on if complaint.objection_raised else None,
        today=_local(complaint.received_at),
        calendar=calendar,
    )
    return Detail(
        complaint=complaint,
        clock=clock,
        attachments=attachments,
        suspensions=suspensions,
        suspension=in_force,
        statements=statements,
        show_statements=show_statements,
        timeline=_timeline(complaint, clock, suspensions, statements, show_statements),
        filing_deadline=deadline,
        objection_missing=complaint.subject in rules.OBJECTION_FIRST
        and not complaint.objection_raised,
        can_review=supervisor and complaint.status == ComplaintStatus.SUBMITTED,
        can_suspend=supervisor and accepted and in_force is None,
        can_lift=supervisor and accepted and in_force is not None,
        can_request_statement=supervisor and accepted,
        can_decide=supervisor and accepted,
        can_withdraw=complainant and complaint.is_open,
        can_answer=agent and accepted,
        is_supervisor=supervisor,
        is_complainant=complainant,
    )


def _name(user: User | None) -> str:
    return user.display_name if user is not None else ""


def _timeline(
    complaint: Complaint,
    clock: Clock,
    suspensions: list[Suspension],
    statements: list[StatementRequest],
    show_statements: bool,
) -> list[Step]:
    steps = [
        Step(
            at=complaint.received_at,
            title=str(_("提交投诉")),
            text=str(_("监督部门收到投诉书。")),
            who=_name(complaint.filed_by),
        )
    ]
    if complaint.reviewed_at is not None:
        if complaint.status == ComplaintStatus.NOT_ACCEPTED:
            steps.append(
                Step(
                    at=complaint.reviewed_at,
                    title=str(_("不予受理")),
                    text=complaint.not_accepted_reason,
                    who=_name(complaint.reviewed_by),
                )
            )
        else:
            steps.append(
                Step(
                    at=complaint.reviewed_at, title=str(_("受理")), who=_name(complaint.reviewed_by)
                )
            )
    for suspension in suspensions:
        steps.append(
            Step(
                at=suspension.ordered_at,
                title=str(_("责令暂停招标投标活动")),
                text=suspension.reason,
                who=_name(suspension.ordered_by),
            )
        )
        if suspension.lifted_at is not None:
            steps.append(
                Step(
                    at=suspension.lifted_at,
                    title=str(_("恢复招标投标活动")),
                    text=suspension.lift_reason,
                    who=_name(suspension.lifted_by),
                )
            )
    for statement in statements:
        steps.append(
            Step(
                at=statement.requested_at,
                title=str(_("要求被投诉人作出书面说明")),
                text=statement.questions if show_statements else "",
                who=_name(statement.requested_by),
            )
        )
        if statement.answered_at is not None:
            steps.append(
                Step(
                    at=statement.answered_at,
                    title=str(_("被投诉人提交书面说明")),
                    text=statement.answer if show_statements else "",
                    who=_name(statement.answered_by) if show_statements else "",
                )
            )
    if complaint.decided_at is not None:
        steps.append(
            Step(
                at=complaint.decided_at,
                title=str(
                    _("作出处理决定：%(outcome)s") % {"outcome": complaint.get_outcome_display()}
                ),
                text=complaint.decision,
                who=_name(complaint.decided_by),
            )
        )
    if complaint.withdrawn_at is not None:
        steps.append(
            Step(
                at=complaint.withdrawn_at,
                title=str(_("投诉人撤回投诉")),
                text=complaint.withdraw_reason,
                who=_name(complaint.withdrawn_by),
            )
        )
    steps.sort(key=lambda step: step.at)
    if clock.awaiting == "acceptance" and clock.due is not None:
        steps.append(
            Step(at=clock.due.on, title=str(_("受理期限（3个工作日，TR 61）")), upcoming=True)
        )
    elif clock.awaiting == "decision" and clock.due is not None:
        steps.append(
            Step(at=clock.due.on, title=str(_("处理决定期限（30个工作日，TR 61）")), upcoming=True)
        )
    return steps
