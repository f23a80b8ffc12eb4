"""Reads of the publicity and award step, with who may see what applied here.

- The lot's award page (``lot_for_manage``): those managing its tender — the
  agency's agents, the tenderer's representatives, supervisors, platform
  administrators; everyone else gets the 404 of a lot that does not exist.
- The bidder's page (``lot_for_bidder``): a bidder user whose organisation
  has a current bid on the lot (an interested party, TR 54); 404 otherwise.
- An objection (``objection_for_reader``): its organisation's bidder users
  and those managing the tender; 404 for anyone else, other bidders included.
- A letter (``letter_for_reader``): the users of the organisation it is
  addressed to, the agents of the lot's agency, the tenderer's
  representatives and supervisors; 404 for anyone else.
- The portal (no login): every publicity and every result announcement.

The due dates of TR 54 count days as the Civil Code counts them (第二百零一条、
第二百零三条): the day of the event is not counted, and the last day ends at
24:00 in the platform's time zone (``due_after``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import Role, User
from award.models import AwardLetter, AwardResult, Objection, Publicity
from bidding.models import Bid, BidStatus
from core.errors import NotFound
from evaluation.models import EvaluationReport, ReportStatus
from tendering.models import Lot, LotStatus, TenderStatus
from tendering.selectors import tender_for_manage, tenders_for_manage

# TR 54: published within 3 days of the report, for at least 3 days; objections answered within 3 days.
PUBLICITY_DUE_DAYS = 3
PUBLICITY_MIN_DAYS = 3
ANSWER_DUE_DAYS = 3


def due_after(moment: dt.datetime, days: int) -> dt.datetime:
    """The end (24:00, platform time) of the ``days``-th day after the day of ``moment``.

    The day of the event itself is not counted (民法典第二百零一条) and a
    period's last day ends at 24:00 (第二百零三条): a report final on
    2 March 15:00 must be published by 5 March 24:00, i.e. before 6 March 00:00.
    """
    zone = timezone.get_default_timezone()
    day = timezone.localtime(moment, zone).date() + dt.timedelta(days=days + 1)
    return dt.datetime.combine(day, dt.time.min, tzinfo=zone)


def due_label(due: dt.datetime) -> str:
    """A due time as people write it: the last day, at 24:00 (``2026-03-05 24:00``)."""
    local = timezone.localtime(due, timezone.get_default_timezone())
    if local.time() == dt.time.min:
        return f"{local.date() - dt.timedelta(days=1):%Y-%m-%d} 24:00"
    return local.strftime("%Y-%m-%d %H:%M")


def _not_found() -> NotFound:
    return NotFound("lot.not_found", _("标段不存在。"))


# --- who may see the lot ------------------------------------------------------------------------


def lot_for_manage(*, user: User, lot_id: int) -> Lot:
    """A lot whose award step the user may follow: whoever manages its tender; 404 for anyone else."""
    lot = (
        Lot.objects.select_related("tender", "tender__agency", "tender__tenderer", "winner")
        .filter(pk=lot_id)
        .first()
    )
    if lot is None:
        raise _not_found()
    tender_for_manage(user=user, tender_id=lot.tender_id)
    return lot


def is_agent_of(user: User, lot: Lot) -> bool:
    return user.has_role(Role.AGENT) and user.organisation_id == lot.tender.agency_id


def lot_for_agent(*, user: User, lot_id: int) -> Lot:
    """A lot the user may act on: an agent of its tender's agency; 404 for anyone else."""
    lot = lot_for_manage(user=user, lot_id=lot_id) if user.has_role(Role.AGENT) else None
    if lot is None or not is_agent_of(user, lot):
        raise _not_found()
    return lot


def interested_bid(*, user: User, lot: Lot) -> Bid | None:
    """The current bid of the user's organisation on the lot, if the user is one of its bidder users."""
    if not user.is_authenticated or not user.has_role(Role.BIDDER) or user.organisation_id is None:
        return None
    return Bid.objects.filter(
        lot=lot, organisation_id=user.organisation_id, status=BidStatus.CURRENT
    ).first()


def lot_for_bidder(*, user: User, lot_id: int) -> tuple[Lot, Bid]:
    """A lot on which the user's organisation has a current bid, with that bid; 404 otherwise."""
    lot = (
        Lot.objects.select_related("tender", "tender__agency", "tender__tenderer", "winner")
        .filter(pk=lot_id)
        .first()
    )
    bid = interested_bid(user=user, lot=lot) if lot is not None else None
    if lot is None or bid is None:
        raise _not_found()
    return lot, bid


def bidders_of(lot: Lot) -> QuerySet[Bid]:
    """The lot's current bids, one per bidder organisation, in the order received."""
    return (
        Bid.objects.filter(lot=lot, status=BidStatus.CURRENT)
        .select_related("organisation")
        .order_by("received_at")
    )


def bidder_users(organisation_ids: list[int]) -> QuerySet[User]:
    return User.objects.filter(
        organisation_id__in=organisation_ids, role_grants__role=Role.BIDDER, is_active=True
    ).distinct()


def agency_agents(lot: Lot) -> QuerySet[User]:
    return User.objects.filter(
        organisation_id=lot.tender.agency_id, role_grants__role=Role.AGENT, is_active=True
    ).distinct()


def tenderer_reps(lot: Lot) -> QuerySet[User]:
    return User.objects.filter(
        organisation_id=lot.tender.tenderer_id, role_grants__role=Role.TENDERER_REP, is_active=True
    ).distinct()


# --- the state of one lot -------------------------------------------------------------------------


def report_final(lot: Lot) -> EvaluationReport | None:
    from evaluation.selectors import report_final_for_lot

    return report_final_for_lot(lot)


def publicity_of(lot: Lot) -> Publicity | None:
    return Publicity.objects.filter(lot=lot).select_related("lot__tender", "published_by").first()


def result_of(lot: Lot) -> AwardResult | None:
    return (
        AwardResult.objects.filter(lot=lot)
        .select_related("winner", "announced_by", "publicity")
        .first()
    )


def lot_suspended(lot: Lot) -> bool:
    """Whether a complaint has suspended the lot (the complaints app decides, TR 60–61)."""
    from complaints import selectors as complaint_selectors

    return bool(complaint_selectors.lot_suspended(lot))


class Stage:
    """Where the lot stands in the award step, for the pages."""

    NO_REPORT = "no_report"  # no final evaluation report yet
    WAITING = "waiting"  # report final, candidates not yet publicised
    SCHEDULED = "scheduled"  # published, the window starts later
    OPEN = "open"  # the window is open: objections may be filed
    CLOSED = "closed"  # the window has ended, the result not yet announced
    ANNOUNCED = "announced"  # the result announced, letters issued
    AWARDED_ELSEWHERE = "awarded_elsewhere"  # awarded without this step (data carried over)
    ENDED = "ended"  # failed or cancelled

    labels = {
        NO_REPORT: _("等待评标报告"),
        WAITING: _("等待公示中标候选人"),
        SCHEDULED: _("公示尚未开始"),
        OPEN: _("公示中"),
        CLOSED: _("公示期满，待公告中标结果"),
        ANNOUNCED: _("中标结果已公告"),
        AWARDED_ELSEWHERE: _("已定标"),
        ENDED: _("已结束"),
    }


@dataclass(frozen=True, kw_only=True)
class AwardState:
    lot: Lot
    stage: str
    report: EvaluationReport | None
    publicity: Publicity | None
    result: AwardResult | None
    objections: list[Objection] = field(default_factory=list)
    # When the candidates must be published by (TR 54), while they are not.
    publicity_due: dt.datetime | None = None
    publicity_overdue: bool = False
    suspended: bool = False
    now: dt.datetime = field(default_factory=timezone.now)

    @property
    def stage_label(self) -> Any:
        return Stage.labels[self.stage]

    @property
    def unanswered(self) -> list[Objection]:
        return [objection for objection in self.objections if not objection.is_answered]

    @property
    def overdue_objections(self) -> list[Objection]:
        return [objection for objection in self.unanswered if objection.is_overdue(self.now)]

    @property
    def disqualified_ranks(self) -> set[int]:
        return {
            objection.disqualified_rank
            for objection in self.objections
            if objection.is_answered and objection.disqualified_rank is not None
        }

    @property
    def candidates(self) -> list[dict[str, Any]]:
        """The publicised candidates, each marked if an upheld objection disqualified it."""
        if self.publicity is None:
            return []
        disqualified = self.disqualified_ranks
        return [
            {**row, "disqualified": row["rank"] in disqualified}
            for row in self.publicity.candidates
        ]

    @property
    def default_winner_rank(self) -> int | None:
        """The first-ranked candidate still qualified: the winner unless the agent records a reason."""
        return next((row["rank"] for row in self.candidates if not row["disqualified"]), None)

    @property
    def announce_blockers(self) -> list[str]:
        """Why the result cannot be announced now, in words (empty: it can)."""
        reasons: list[str] = []
        if self.stage != Stage.CLOSED:
            return reasons
        if self.unanswered:
            reasons.append(
                str(
                    _(
                        "尚有异议未答复：作出答复前应当暂停招标投标活动（《招标投标法实施条例》第五十四条）。"
                    )
                )
            )
        if self.suspended:
            reasons.append(str(_("本标段因投诉处理已暂停，暂停解除前不能公告中标结果。")))
        if self.default_winner_rank is None:
            reasons.append(
                str(
                    _(
                        "所有中标候选人均已被取消资格，不能确定中标人；请按规定重新招标或作流标处理。"
                    )
                )
            )
        return reasons


def award_state(lot: Lot, *, now: dt.datetime | None = None) -> AwardState:
    """The lot's award step as the pages show it: stage, due dates, objections, what blocks the result."""
    now = now or timezone.now()
    publicity = publicity_of(lot)
    result = result_of(lot) if publicity is not None else None
    report = publicity.report if publicity is not None else report_final(lot)
    objections = (
        list(publicity.objections.select_related("organisation", "answered_by"))
        if publicity
        else []
    )
    due = None
    if result is not None:
        stage = Stage.ANNOUNCED
    elif lot.status == LotStatus.AWARDED:
        stage = Stage.AWARDED_ELSEWHERE
    elif lot.status in (LotStatus.FAILED, LotStatus.CANCELLED):
        stage = Stage.ENDED
    elif publicity is not None:
        stage = (
            Stage.SCHEDULED
            if now < publicity.starts_at
            else (Stage.OPEN if now < publicity.ends_at else Stage.CLOSED)
        )
    elif report is not None and lot.status == LotStatus.EVALUATING:
        stage = Stage.WAITING
        due = due_after(report.final_at, PUBLICITY_DUE_DAYS)
    else:
        stage = Stage.NO_REPORT
    suspended = (
        lot_suspended(lot)
        if stage in (Stage.OPEN, Stage.CLOSED, Stage.SCHEDULED, Stage.WAITING)
        else False
    )
    return AwardState(
        lot=lot,
        stage=stage,
        report=report,
        publicity=publicity,
        result=result,
        objections=objections,
        publicity_due=due,
        publicity_overdue=due is not None and now >= due,
        suspended=suspended,
        now=now,
    )


# --- objections and letters ------------------------------------------------------------------------


def objection_for_reader(*, user: User, objection_id: int) -> Objection:
    """An objection the user may read: its organisation's bidder users and those managing the tender."""
    objection = (
        Objection.objects.select_related(
            "publicity__lot__tender", "organisation", "submitted_by", "answered_by"
        )
        .filter(pk=objection_id)
        .first()
    )
    if objection is None or not user.is_authenticated:
        raise NotFound("objection.not_found", _("异议不存在。"))
    own = user.has_role(Role.BIDDER) and user.organisation_id == objection.organisation_id
    if (
        not own
        and not tenders_for_manage(user=user).filter(pk=objection.publicity.lot.tender_id).exists()
    ):
        raise NotFound("objection.not_found", _("异议不存在。"))
    return objection


def objection_for_agent(*, user: User, objection_id: int) -> Objection:
    """An objection the user must answer: an agent of its lot's agency; 404 for anyone else."""
    objection = objection_for_reader(user=user, objection_id=objection_id)
    if not is_agent_of(user, objection.publicity.lot):
        raise NotFound("objection.not_found", _("异议不存在。"))
    return objection


def may_read_letters(user: User, lot: Lot) -> bool:
    """Everyone but the recipients who may read every letter of the lot: its agents, its tenderer, supervisors."""
    if not user.is_authenticated:
        return False
    if is_agent_of(user, lot):
        return True
    if user.has_role(Role.TENDERER_REP) and user.organisation_id == lot.tender.tenderer_id:
        return True
    return user.has_role(Role.SUPERVISOR) and lot.tender.published_at is not None


def letter_for_reader(*, user: User, letter_id: int) -> AwardLetter:
    """A letter the user may download: its recipient's users, the lot's agents, its tenderer, supervisors."""
    letter = (
        AwardLetter.objects.select_related("result__lot__tender", "organisation")
        .filter(pk=letter_id)
        .first()
    )
    if letter is None or not user.is_authenticated:
        raise NotFound("letter.not_found", _("通知书不存在。"))
    recipient = user.is_active and user.organisation_id == letter.organisation_id
    if not recipient and not may_read_letters(user, letter.result.lot):
        raise NotFound("letter.not_found", _("通知书不存在。"))
    return letter


def letters_for(*, user: User, result: AwardResult) -> list[AwardLetter]:
    """The letters of the result the user may download (all for the managers who may, else their own)."""
    letters = (
        AwardLetter.objects.filter(result=result)
        .select_related("organisation")
        .defer("pdf", "document")
    )
    if may_read_letters(user, result.lot):
        return list(letters.order_by("kind", "letter_no"))
    if user.is_authenticated and user.organisation_id is not None:
        return list(letters.filter(organisation_id=user.organisation_id))
    return []


# --- the queues of the working area ----------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class WaitingLot:
    lot: Lot
    report: EvaluationReport
    due: dt.datetime
    overdue: bool


@dataclass(frozen=True, kw_only=True)
class AgentQueue:
    waiting: list[WaitingLot]
    publicities: list[Publicity]  # published, not yet announced (scheduled, open or closed)
    objections: list[Objection]  # unanswered, due first
    announced: list[AwardResult]  # the latest results


def agent_queue(*, user: User, now: dt.datetime | None = None) -> AgentQueue:
    """What the agent's agency has to do in the award step, with TR 54's due dates."""
    now = now or timezone.now()
    reports = (
        EvaluationReport.objects.filter(
            status=ReportStatus.FINAL,
            evaluation__lot__tender__agency_id=user.organisation_id,
            evaluation__lot__status=LotStatus.EVALUATING,
            evaluation__lot__publicity__isnull=True,
        )
        .select_related("evaluation__lot__tender")
        .order_by("final_at")
    )
    waiting = []
    for report in reports:
        due = due_after(report.final_at, PUBLICITY_DUE_DAYS)
        waiting.append(
            WaitingLot(lot=report.evaluation.lot, report=report, due=due, overdue=now >= due)
        )
    publicities = list(
        Publicity.objects.filter(lot__tender__agency_id=user.organisation_id, result__isnull=True)
        .exclude(lot__status__in=(LotStatus.FAILED, LotStatus.CANCELLED, LotStatus.AWARDED))
        .select_related("lot__tender")
        .annotate(unanswered=Count("objections", filter=Q(objections__answered_at__isnull=True)))
        .order_by("ends_at")
    )
    objections = list(
        Objection.objects.filter(
            publicity__lot__tender__agency_id=user.organisation_id, answered_at__isnull=True
        )
        .select_related("publicity__lot__tender", "organisation")
        .order_by("answer_due", "id")
    )
    announced = list(
        AwardResult.objects.filter(lot__tender__agency_id=user.organisation_id)
        .select_related("lot__tender", "winner")
        .order_by("-announced_at")[:20]
    )
    return AgentQueue(
        waiting=waiting, publicities=publicities, objections=objections, announced=announced
    )


def publicities_for_manage(*, user: User) -> QuerySet[Publicity]:
    """The publicities of the tenders the user manages, newest first (tenderers, supervisors, the platform)."""
    return (
        Publicity.objects.filter(lot__tender__in=tenders_for_manage(user=user))
        .select_related("lot__tender", "result", "result__winner")
        .annotate(unanswered=Count("objections", filter=Q(objections__answered_at__isnull=True)))
        .order_by("-published_at", "-id")
    )


def publicities_for_bidder(*, user: User) -> QuerySet[Publicity]:
    """The publicities of the lots on which the user's organisation has a current bid."""
    if not user.has_role(Role.BIDDER) or user.organisation_id is None:
        return Publicity.objects.none()
    lot_ids = Bid.objects.filter(
        organisation_id=user.organisation_id, status=BidStatus.CURRENT
    ).values("lot_id")
    return (
        Publicity.objects.filter(lot_id__in=lot_ids)
        .select_related("lot__tender", "result", "result__winner")
        .order_by("-published_at", "-id")
    )


# --- the public portal --------------------------------------------------------------------------------


def _public() -> QuerySet[Publicity]:
    """Publicities that have started: a scheduled one shows nobody its candidates before its start."""
    return Publicity.objects.filter(
        starts_at__lte=timezone.now(),
        lot__tender__published_at__isnull=False,
        lot__tender__status__in=(TenderStatus.PUBLISHED, TenderStatus.CANCELLED),
    ).select_related("lot__tender", "lot__tender__tenderer", "lot__tender__agency")


def portal_publicities(*, current: bool, now: dt.datetime | None = None) -> QuerySet[Publicity]:
    """Publicities for everyone: the current ones (not yet ended), or the past ones, newest first."""
    now = now or timezone.now()
    qs = _public()
    qs = qs.filter(ends_at__gt=now) if current else qs.filter(ends_at__lte=now)
    return qs.order_by("-starts_at", "-id")


def portal_publicity(*, publicity_id: int) -> Publicity:
    publicity = _public().filter(pk=publicity_id).first()
    if publicity is None:
        raise NotFound("publicity.not_found", _("公示不存在。"))
    return publicity


def portal_result(*, lot_id: int) -> AwardResult:
    """The result announcement of a lot, for everyone."""
    result = (
        AwardResult.objects.filter(lot_id=lot_id, lot__tender__published_at__isnull=False)
        .select_related(
            "lot__tender", "lot__tender__tenderer", "lot__tender__agency", "winner", "publicity"
        )
        .first()
    )
    if result is None:
        raise NotFound("result.not_found", _("中标结果公告不存在。"))
    return result
