"""Reads of the evaluation, with who may see what applied here.

- The committee's workspace (``member_for``): only a member of the lot's
  committee, and only of that lot — anyone else, experts of other lots
  included, gets the same 404 as for a lot that does not exist.
- Scores (``score_visibility``): a member sees their own sheet; nobody, the
  chair included, sees anyone else's until every member has submitted.
- Those managing the tender (``lot_for_manage``: the agency's agents, the
  tenderer's representatives, supervisors, platform administrators) follow
  the evaluation by seats and counts; expert names are read only for
  supervisors and platform administrators, and for everyone once the
  lot's draw is revealed with the result (ER 8, ``names_visible``).
- The award step reads the result with ``report_final_for_lot``.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import Role, User
from bidding.models import Bid, BidFile
from core.errors import DomainError, NotFound, NotPermitted
from evaluation import scoring
from evaluation.models import (
    ChairVote,
    Evaluation,
    EvaluationReport,
    EvaluationScheme,
    EvaluationStatus,
    ExtensionRequest,
    ItemScore,
    Member,
    PriceAdjustment,
    Rejection,
    ReportStatus,
    SigningKey,
    SigningKeyStatus,
)
from opening.models import BidOutcome, Room, RoomBid, RoomStage
from tendering.models import EvaluationMethod, Lot, LotStatus, TenderStatus
from tendering.selectors import tender_for_manage

# Who sees the committee's names before the result is published (ER 8).
NAME_READERS = (Role.SUPERVISOR, Role.PLATFORM_ADMIN)


def _not_found() -> NotFound:
    return NotFound("evaluation.not_found", _("评标不存在，或您不是该标段评标委员会的成员。"))


# --- the scheme -----------------------------------------------------------------------------------


def scheme_of(lot: Lot) -> EvaluationScheme | None:
    return EvaluationScheme.objects.filter(lot=lot).prefetch_related("items").first()


def scheme_frozen(lot: Lot, *, now: dt.datetime | None = None) -> bool:
    """Frozen from the bid deadline on (by the server clock), and in any state past bidding."""
    now = now or timezone.now()
    if lot.status == LotStatus.DRAFT:
        return False
    return lot.status != LotStatus.PUBLISHED or now >= lot.bid_deadline


def lot_for_scheme_public(*, lot_id: int) -> Lot:
    """A lot of a published tender: its scheme is public like its announcement (bidders bid against it)."""
    lot = (
        Lot.objects.select_related("tender")
        .filter(pk=lot_id, tender__status__in=(TenderStatus.PUBLISHED, TenderStatus.CANCELLED))
        .exclude(status=LotStatus.DRAFT)
        .first()
    )
    if lot is None:
        raise NotFound("lot.not_found", _("标段不存在。"))
    return lot


# --- who follows the evaluation -------------------------------------------------------------------


def lot_for_manage(*, user: User, lot_id: int) -> Lot:
    """A lot whose evaluation the user may follow: whoever manages its tender; 404 for anyone else."""
    lot = Lot.objects.select_related("tender", "tender__agency", "tender__tenderer").filter(pk=lot_id).first()
    if lot is None:
        raise NotFound("lot.not_found", _("标段不存在。"))
    tender_for_manage(user=user, tender_id=lot.tender_id)
    return lot


def is_agent_of(user: User, lot: Lot) -> bool:
    return user.has_role(Role.AGENT) and user.organisation_id == lot.tender.agency_id


def evaluation_of(lot: Lot) -> Evaluation | None:
    return Evaluation.objects.filter(lot=lot).select_related("lot__tender", "chair").first()


def closed_room(lot: Lot) -> Room | None:
    return Room.objects.filter(lot=lot, stage=RoomStage.CLOSED).first()


def names_visible(*, user: User, evaluation: Evaluation) -> bool:
    """Whether ``user`` may read the members' names: supervisors and the platform, or anyone once revealed (ER 8)."""
    if user.has_role(*NAME_READERS):
        return True
    return evaluation.draw_request.revealed_at is not None


def member_for(*, user: User, lot_id: int) -> Member:
    """The user's own seat on the committee of ``lot_id``; 404 for anyone who has none there."""
    if not user.is_authenticated or not user.has_role(Role.EXPERT):
        raise _not_found()
    member = (
        Member.objects.select_related("evaluation__lot__tender", "evaluation__chair", "evaluation__draw_request")
        .filter(evaluation__lot_id=lot_id, user=user)
        .first()
    )
    if member is None:
        raise _not_found()
    return member


def evaluations_for_expert(*, user: User) -> QuerySet[Member]:
    """The user's own seats, newest evaluation first."""
    if not user.has_role(Role.EXPERT):
        raise NotPermitted("permission.role", _("只有评标专家可以进入评标工作区。"))
    return (
        Member.objects.filter(user=user)
        .select_related("evaluation__lot__tender", "evaluation__chair")
        .order_by("-evaluation__started_at", "-evaluation_id")
    )


def lots_for_evaluation_manage(*, user: User) -> QuerySet[Lot]:
    """Lots the user manages that have or will have an evaluation: from the opening on, newest first."""
    from tendering.selectors import tenders_for_manage

    return (
        Lot.objects.filter(tender__in=tenders_for_manage(user=user))
        .filter(status__in=(LotStatus.OPENING, LotStatus.OPENED, LotStatus.EVALUATING, LotStatus.AWARDED))
        .select_related("tender", "evaluation")
        .order_by("-opening_time", "-id")
    )


def lots_for_scheme(*, user: User) -> QuerySet[Lot]:
    """The agent's lots whose scheme may still be edited (before the bid deadline)."""
    if not user.has_role(Role.AGENT):
        return Lot.objects.none()
    return (
        Lot.objects.filter(
            tender__agency_id=user.organisation_id,
            status__in=(LotStatus.DRAFT, LotStatus.PUBLISHED),
        )
        .select_related("tender")
        .order_by("bid_deadline", "id")
    )


# --- the bids as the committee sees them -------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class BidView:
    """One bid of the opening, as read out in the room, with its standing in the evaluation."""

    entry: RoomBid
    bid: Bid
    fields: dict[str, Any]
    rejection: Rejection | None

    @property
    def position(self) -> int:
        return self.entry.position

    @property
    def key(self) -> str:
        return str(self.bid.pk)

    @property
    def organisation(self) -> Any:
        return self.entry.organisation

    @property
    def decrypted(self) -> bool:
        return self.entry.outcome == BidOutcome.DECRYPTED

    @property
    def is_valid(self) -> bool:
        """Evaluated and ranked: decrypted at the opening and not rejected."""
        return self.decrypted and self.rejection is None

    @property
    def price(self) -> Decimal | None:
        return self.bid.price if self.decrypted else None


def committee_bids(evaluation: Evaluation) -> list[BidView]:
    """Every bid of the lot's opening in reading order, with its summary as read and any standing rejection."""
    labels = {item["key"]: item["label"] for item in (evaluation.lot.bid_fields or [])}
    entries = (
        RoomBid.objects.filter(room__lot_id=evaluation.lot_id)
        .select_related("bid", "organisation")
        .order_by("position")
    )
    rejections = {
        rejection.bid_id: rejection
        for rejection in Rejection.objects.filter(evaluation=evaluation, reinstated_at__isnull=True).select_related(
            "rejected_by"
        )
    }
    views = []
    for entry in entries:
        decrypted = entry.outcome == BidOutcome.DECRYPTED
        views.append(
            BidView(
                entry=entry,
                bid=entry.bid,
                fields=(
                    {labels.get(key, key): value for key, value in (entry.bid.summary_fields or {}).items()}
                    if decrypted
                    else {}
                ),
                rejection=rejections.get(entry.bid_id),
            )
        )
    return views


def bid_for_member(*, member: Member, bid_id: Any) -> BidView:
    """A decrypted bid of the member's own lot; 404 for any other bid (another lot's, or not opened)."""
    for view in committee_bids(member.evaluation):
        if view.key == str(bid_id) and view.decrypted:
            return view
    raise NotFound("evaluation.bid_not_found", _("该投标文件不存在或未在开标时解密。"))


def bid_files(*, bid: Bid) -> QuerySet[BidFile]:
    return BidFile.objects.filter(bid=bid).order_by("index")


def bid_file_for_member(*, member: Member, bid_id: Any, index: int) -> BidFile:
    view = bid_for_member(member=member, bid_id=bid_id)
    bid_file = BidFile.objects.select_related("bid").filter(bid=view.bid, index=index).first()
    if bid_file is None:
        raise NotFound("evaluation.file_not_found", _("文件不存在。"))
    return bid_file


# --- the frozen scheme ----------------------------------------------------------------------------------


def frozen_items(evaluation: Evaluation) -> list[dict[str, Any]]:
    """The scored items of the scheme as frozen at the start, in order (``id``, ``position``, ``name``, …)."""
    return list(evaluation.scheme()["items"])


def price_rule(evaluation: Evaluation) -> scoring.PriceRule:
    price = evaluation.scheme()["price"]
    return scoring.PriceRule(
        benchmark=price["benchmark"],
        drop_extremes=price["drop_extremes"],
        drop_min_bids=price["drop_min_bids"],
        full_points=Decimal(price["full_points"]),
        deduct_above=Decimal(price["deduct_above"]),
        deduct_below=Decimal(price["deduct_below"]),
    )


# --- score sheets ---------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Sheet:
    """One member's sheet: item scores ``{(bid key, item id): value}`` and adjustments ``{bid key: (amount, reason)}``."""

    scores: dict[tuple[str, int], Decimal]
    adjustments: dict[str, tuple[Decimal, str]]


def sheet_of(member: Member) -> Sheet:
    """The member's own sheet — the only one a member may read before everyone has submitted."""
    return _sheets([member])[member.pk]


def _sheets(members: list[Member]) -> dict[int, Sheet]:
    scores: dict[int, dict[tuple[str, int], Decimal]] = defaultdict(dict)
    adjustments: dict[int, dict[str, tuple[Decimal, str]]] = defaultdict(dict)
    ids = [member.pk for member in members]
    for member_id, bid_id, item_id, value in ItemScore.objects.filter(member_id__in=ids).values_list(
        "member_id", "bid_id", "item_id", "value"
    ):
        scores[member_id][(str(bid_id), item_id)] = value
    for member_id, bid_id, amount, reason in PriceAdjustment.objects.filter(member_id__in=ids).values_list(
        "member_id", "bid_id", "amount", "reason"
    ):
        adjustments[member_id][str(bid_id)] = (amount, reason)
    return {member.pk: Sheet(scores=scores[member.pk], adjustments=adjustments[member.pk]) for member in members}


def scores_open(evaluation: Evaluation) -> bool:
    """Every member has submitted: from now on every member sees every sheet and the summary."""
    return evaluation.all_submitted_at is not None


def sheets_for(*, member: Member) -> dict[int, Sheet]:
    """The sheets ``member`` may read, by seat: their own, or everyone's once every member has submitted.

    The chair is a member like any other here: before everyone has submitted
    they read their own sheet and nothing else.
    """
    evaluation = member.evaluation
    if not scores_open(evaluation):
        return {member.seat: sheet_of(member)}
    members = list(evaluation.members.order_by("seat"))
    sheets = _sheets(members)
    return {m.seat: sheets[m.pk] for m in members}


def missing_scores(evaluation: Evaluation, sheet: Sheet, bids: list[BidView]) -> tuple[BidView, dict[str, Any]] | None:
    """The first (bid, item) of a valid bid that ``sheet`` does not score, or None when complete."""
    if evaluation.method != EvaluationMethod.COMPREHENSIVE:
        return None
    items = frozen_items(evaluation)
    for view in bids:
        if not view.is_valid:
            continue
        for item in items:
            if (view.key, item["id"]) not in sheet.scores:
                return view, item
    return None


# --- the summary -------------------------------------------------------------------------------------------


@dataclass(kw_only=True)
class SummaryRow:
    """One bid in the summary table (汇总表); the figures are None for a bid that is not ranked."""

    view: BidView
    rank: int | None = None
    price_score: Decimal | None = None  # exact
    price_score_shown: Decimal | None = None
    item_totals: list[tuple[int, Decimal]] = field(default_factory=list)  # (seat, exact)
    member_totals: list[tuple[int, Decimal]] = field(default_factory=list)  # (seat, exact)
    final_score: Decimal | None = None
    adjustments: list[tuple[int, Decimal, str]] = field(default_factory=list)  # (seat, amount, reason)
    mean_adjustment: Decimal | None = None
    evaluated_price: Decimal | None = None


@dataclass(frozen=True, kw_only=True)
class Summary:
    method: str
    seats: list[int]
    benchmark: Decimal | None
    rows: list[SummaryRow]  # in reading order
    candidates_limit: int

    @property
    def ranked(self) -> list[SummaryRow]:
        return sorted((row for row in self.rows if row.rank is not None), key=lambda row: row.rank or 0)

    @property
    def candidates(self) -> list[SummaryRow]:
        return self.ranked[: self.candidates_limit]


def evaluation_summary(evaluation: Evaluation) -> Summary:
    """Score and rank the valid bids from every member's sheet (``evaluation.scoring``).

    Caller: only once every member has submitted (``scores_open``), or a
    member would learn the others' scores. A valid bid some member's sheet
    does not score — possible only for a bid reinstated after that member
    submitted, which ``bid_reinstate`` refuses — raises
    ``evaluation.sheet_incomplete``.
    """
    members = list(evaluation.members.order_by("seat"))
    seats = [member.seat for member in members]
    sheets = _sheets(members)
    views = committee_bids(evaluation)
    rows = [SummaryRow(view=view) for view in views]
    by_key = {row.view.key: row for row in rows}
    valid = [view for view in views if view.is_valid]
    entries = [
        scoring.BidEntry(key=view.key, price=view.bid.price, received_at=view.bid.received_at) for view in valid
    ]
    limit = int(evaluation.scheme()["candidates"])
    benchmark: Decimal | None = None
    if not entries:
        return Summary(method=evaluation.method, seats=seats, benchmark=None, rows=rows, candidates_limit=limit)
    if evaluation.method == EvaluationMethod.COMPREHENSIVE:
        items = [item["id"] for item in frozen_items(evaluation)]
        totals: list[dict[str, Decimal]] = []
        for member in members:
            sheet = sheets[member.pk]
            missing = missing_scores(evaluation, sheet, valid)
            if missing is not None:
                raise DomainError(
                    "evaluation.sheet_incomplete",
                    _("专家%(seat)s号尚未对第%(position)s号投标的“%(item)s”评分。"),
                    status=409,
                    seat=member.seat,
                    position=missing[0].position,
                    item=missing[1]["name"],
                )
            totals.append(
                {view.key: sum((sheet.scores[(view.key, item)] for item in items), Decimal(0)) for view in valid}
            )
        result = scoring.score_comprehensive(entries, totals, price_rule(evaluation))
        benchmark = result.benchmark
        for scored in result.rows:
            row = by_key[scored.key]
            row.rank = scored.rank
            row.price_score = scored.price_score
            row.price_score_shown = scored.price_score_shown
            row.item_totals = list(zip(seats, scored.item_totals, strict=True))
            row.member_totals = list(zip(seats, scored.member_totals, strict=True))
            row.final_score = scored.final_score
    else:
        adjustments = [
            {key: amount for key, (amount, _reason) in sheets[member.pk].adjustments.items()} for member in members
        ]
        for scored in scoring.score_lowest_price(entries, adjustments):
            row = by_key[scored.key]
            row.rank = scored.rank
            row.adjustments = [
                (member.seat, *sheets[member.pk].adjustments.get(scored.key, (Decimal("0.00"), "")))
                for member in members
            ]
            row.mean_adjustment = scored.mean_adjustment
            row.evaluated_price = scored.evaluated_price
    return Summary(method=evaluation.method, seats=seats, benchmark=benchmark, rows=rows, candidates_limit=limit)


# --- the election and the clock ----------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Election:
    round: int
    voted: int  # how many voted in the current round
    my_vote: int | None  # the seat the member voted for in the current round
    past_rounds: list[dict[str, Any]]  # closed rounds: {"round", "counts": {seat: votes}}


def election_for(*, member: Member) -> Election:
    """The election as a member sees it: how many voted in the open round (not for whom), closed rounds in full."""
    evaluation = member.evaluation
    votes = list(ChairVote.objects.filter(evaluation=evaluation).select_related("voter", "candidate"))
    current = [vote for vote in votes if vote.round == evaluation.election_round]
    mine = next((vote.candidate.seat for vote in current if vote.voter_id == member.pk), None)
    closed_upto = evaluation.election_round if evaluation.chair_id is not None else evaluation.election_round - 1
    past: dict[int, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    for vote in votes:
        if vote.round <= closed_upto:
            past[vote.round][vote.candidate.seat] += 1
    return Election(
        round=evaluation.election_round,
        voted=len(current),
        my_vote=mine,
        past_rounds=[
            {"round": number, "counts": sorted(counts.items())} for number, counts in sorted(past.items())
        ],
    )


def extension_requests_open(evaluation: Evaluation) -> list[ExtensionRequest]:
    return list(
        ExtensionRequest.objects.filter(evaluation=evaluation, round=evaluation.extension_round).select_related(
            "member"
        )
    )


# --- the report --------------------------------------------------------------------------------------------


def current_report(evaluation: Evaluation) -> EvaluationReport | None:
    """The report waiting for signatures or final; None before it is drafted (or after it was withdrawn)."""
    return (
        EvaluationReport.objects.filter(evaluation=evaluation)
        .exclude(status=ReportStatus.DISCARDED)
        .select_related("evaluation__lot__tender")
        .first()
    )


def report_final_for_lot(lot: Lot) -> EvaluationReport | None:
    """The lot's final evaluation report — signed by every member — or None.

    The entry point of the publicity and award step: ``report.candidates()``
    gives the ranked candidates (at most three, TR 53), each with rank, bid,
    organisation, price, score and evaluated price; ``report.data()`` the
    whole signed document; ``report.sha256`` its digest; ``report.pdf`` the
    rendered report. No permission is applied here: the caller decides who
    may read it.
    """
    return (
        EvaluationReport.objects.filter(evaluation__lot=lot, status=ReportStatus.FINAL)
        .select_related("evaluation__lot__tender")
        .first()
    )


def report_for_reader(*, user: User, lot_id: int) -> tuple[EvaluationReport, Member | None]:
    """The report ``user`` may read, with their seat if they sit on the committee.

    Members read the current report (to sign it) and the final one; those
    managing the tender read it once final. Anyone else, and everyone
    before there is a report they may read, gets 404.
    """
    member: Member | None = None
    evaluation: Evaluation | None = None
    try:
        member = member_for(user=user, lot_id=lot_id)
        evaluation = member.evaluation
    except NotFound:
        lot = lot_for_manage(user=user, lot_id=lot_id)
        evaluation = evaluation_of(lot)
    report = current_report(evaluation) if evaluation is not None else None
    if report is None or (member is None and not report.is_final):
        raise NotFound("evaluation.report_not_found", _("评标报告尚未生成或尚未生效。"))
    return report, member


def signatures_by_seat(report: EvaluationReport) -> dict[int, Any]:
    return {sig.member.seat: sig for sig in report.signatures.select_related("member", "key")}


def active_signing_key(user: User) -> SigningKey | None:
    return SigningKey.objects.filter(user=user, status=SigningKeyStatus.ACTIVE).first()


# --- progress, for those managing the tender -----------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class SeatProgress:
    seat: int
    name: str | None  # only where names are visible (ER 8)
    signed_in: bool
    submitted: bool
    signed: bool


def progress(*, user: User, evaluation: Evaluation) -> list[SeatProgress]:
    """Each seat's progress; names only for supervisors, the platform, or everyone once revealed (ER 8)."""
    show = names_visible(user=user, evaluation=evaluation)
    report = current_report(evaluation)
    signed = set(report.signatures.values_list("member_id", flat=True)) if report is not None else set()
    return [
        SeatProgress(
            seat=member.seat,
            name=member.expert.name if show else None,
            signed_in=member.signed_in_at is not None,
            submitted=member.submitted_at is not None,
            signed=member.pk in signed,
        )
        for member in evaluation.members.select_related("expert").order_by("seat")
    ]


def in_progress_statuses() -> tuple[str, ...]:
    return (EvaluationStatus.ELECTING, EvaluationStatus.SCORING, EvaluationStatus.REVIEWING, EvaluationStatus.SIGNING)
