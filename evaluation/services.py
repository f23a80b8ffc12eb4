"""Writes of the evaluation: the scheme, the start, the committee's work, the signed report.

Guard first, then change: every service checks the actor's part (the lot's
agent, a member, the chair), locks the evaluation's row
(``select_for_update``) — so the committee's actions on one lot happen one
after the other — re-checks the stage under the lock, and only then writes.
Every change is audited in its transaction (``audit.services.record``).

Audit payloads name members by seat, never by name or expert code: the
chain is read by supervisors and platform administrators, who may know the
committee (ER 8), but a payload is copied into exports and replays, so it
carries no more than the report itself does — as ``experts.services`` does
for the draw. The acting expert's account is the record's actor, as for an
expert's answer to the draw.

Rules (docs/evaluation.md): the scheme is frozen from the bid deadline on;
the chair is elected by a majority of the members, a round without one is
voted again; scores are independent and secret until every member has
submitted; the chair records the committee's rejections; TR 48 extends the
deadline when more than a third of the members ask; TR 53 at most three
candidates; the report is final when every member has signed it.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Max
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext, override
from django.utils.translation import gettext_lazy as _

from accounts.keys import check_signing_public
from accounts.models import Role, User
from accounts.services import notify_users
from audit.services import record
from core.errors import DomainError, NotFound, NotPermitted
from evaluation import committee, scoring
from evaluation import selectors as sel
from evaluation.models import (
    BenchmarkMethod,
    ChairVote,
    Evaluation,
    EvaluationReport,
    EvaluationScheme,
    EvaluationStatus,
    Extension,
    ExtensionRequest,
    ItemKind,
    ItemScore,
    Member,
    PriceAdjustment,
    Rejection,
    ReportSignature,
    ReportStatus,
    SchemeItem,
    SigningKey,
    SigningKeyStatus,
)
from evaluation.report import (
    REPORT_FORMAT,
    REPORT_VERSION,
    SCHEME_FORMAT,
    SCHEME_VERSION,
    canonical,
    digest,
    signature_message,
    verify_signature,
)
from experts.models import DrawRequest, DrawStatus, SelectionStatus
from opening.events import iso
from opening.models import BidOutcome, RoomBid
from tendering import services as tendering
from tendering.models import EvaluationMethod, Lot, LotStatus
from tendering.selectors import lot_for_agent

MAX_ITEMS = 30
MAX_REASON = 2000
MAX_SHORT_REASON = 500
MIN_DURATION_MINUTES = 60
MAX_DURATION_MINUTES = 7 * 24 * 60
MIN_EXTENSION_MINUTES = 30
MAX_EXTENSION_MINUTES = 48 * 60
MAX_POINTS = Decimal("100.00")
TOTAL_POINTS = Decimal("100.00")
# The automatic rejection of a bid the price reading found above the maximum price.
ABOVE_CONTROL_REASON = "投标报价超过最高投标限价，唱标时已标记为无效（《招标投标法实施条例》第五十一条第五项）。"


# --- the scheme ----------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class ItemInput:
    kind: str
    name: str
    description: str
    min_score: Decimal
    max_score: Decimal


@dataclass(frozen=True, kw_only=True)
class SchemeInput:
    benchmark_method: str
    drop_extremes: bool
    drop_extremes_min_bids: int
    price_points: Decimal
    deduct_above: Decimal
    deduct_below: Decimal
    candidates: int
    duration_minutes: int
    extension_minutes: int
    items: tuple[ItemInput, ...]


def default_scheme_input() -> SchemeInput:
    """The scheme of a lot whose agent configured none: a common construction scheme, 100 points.

    Price 40 points at the mean of the valid prices (the highest and the
    lowest left out from five bids on), 1 point per percent above, 0.5 per
    percent below; technical 40 and business 20 points over eight items;
    three candidates; eight hours, extended by four at a time (TR 48).
    """

    def item(kind: str, name: str, description: str, maximum: str) -> ItemInput:
        return ItemInput(
            kind=kind, name=name, description=description, min_score=Decimal("0.00"), max_score=Decimal(maximum)
        )

    return SchemeInput(
        benchmark_method=BenchmarkMethod.MEAN,
        drop_extremes=True,
        drop_extremes_min_bids=5,
        price_points=Decimal("40.00"),
        deduct_above=Decimal("1.00"),
        deduct_below=Decimal("0.50"),
        candidates=3,
        duration_minutes=480,
        extension_minutes=240,
        items=(
            item(ItemKind.TECHNICAL, "施工方案与技术措施", "方案完整、针对性强、技术措施可行", "15.00"),
            item(ItemKind.TECHNICAL, "质量管理体系与措施", "质量目标明确，保证措施可靠", "8.00"),
            item(ItemKind.TECHNICAL, "安全文明施工措施", "安全管理体系健全，文明施工措施到位", "7.00"),
            item(ItemKind.TECHNICAL, "工期保证措施", "进度计划合理，保证措施有效", "5.00"),
            item(ItemKind.TECHNICAL, "项目管理机构", "项目经理及主要人员资格、经验满足要求", "5.00"),
            item(ItemKind.BUSINESS, "类似工程业绩", "近五年类似工程业绩", "10.00"),
            item(ItemKind.BUSINESS, "企业信誉", "获奖、信用评价等情况", "5.00"),
            item(ItemKind.BUSINESS, "财务状况", "近三年财务状况良好", "5.00"),
        ),
    )


def scheme_as_input(scheme: EvaluationScheme | None) -> SchemeInput:
    """A saved scheme as the input that would save it again (the default scheme for None)."""
    if scheme is None:
        return default_scheme_input()
    return SchemeInput(
        benchmark_method=scheme.benchmark_method,
        drop_extremes=scheme.drop_extremes,
        drop_extremes_min_bids=scheme.drop_extremes_min_bids,
        price_points=scheme.price_points,
        deduct_above=scheme.deduct_above,
        deduct_below=scheme.deduct_below,
        candidates=scheme.candidates,
        duration_minutes=scheme.duration_minutes,
        extension_minutes=scheme.extension_minutes,
        items=tuple(
            ItemInput(
                kind=item.kind,
                name=item.name,
                description=item.description,
                min_score=item.min_score,
                max_score=item.max_score,
            )
            for item in scheme.items.order_by("position")
        ),
    )


def _points(value: Any, *, field: str, label: Any, minimum: Decimal, maximum: Decimal) -> Decimal:
    if not isinstance(value, Decimal) or not value.is_finite():
        raise DomainError("scheme.number", _("%(label)s应为数字。"), field=field, label=label)
    try:
        scoring.check_amount(value)
    except scoring.ScoringError:
        raise DomainError(
            "scheme.decimals", _("%(label)s最多保留两位小数。"), field=field, label=label
        ) from None
    if not minimum <= value <= maximum:
        raise DomainError(
            "scheme.range",
            _("%(label)s应在%(min)s至%(max)s之间。"),
            field=field,
            label=label,
            min=minimum,
            max=maximum,
        )
    return value


def scheme_validate(data: SchemeInput, *, method: str) -> None:
    """The rules a scheme must meet; Chinese messages naming the field at fault.

    Always: candidates 1 to 3 (TR 53); time limits within bounds. For
    comprehensive scoring also: the benchmark method, the deductions, each
    item (kind, name, two-decimal range 0 ≤ min ≤ max ≤ 100, max > 0), at
    least one item, at most 30, and price points plus the items' maxima
    exactly 100 — the weights of price, technical and business.
    """
    if not 1 <= data.candidates <= scoring.MAX_CANDIDATES:
        raise DomainError(
            "scheme.candidates",
            _("推荐的中标候选人应为1至3名（《招标投标法实施条例》第五十三条）。"),
            field="candidates",
        )
    if not MIN_DURATION_MINUTES <= data.duration_minutes <= MAX_DURATION_MINUTES:
        raise DomainError(
            "scheme.duration",
            _("评标时限应在%(min)d至%(max)d分钟之间。"),
            field="duration_minutes",
            min=MIN_DURATION_MINUTES,
            max=MAX_DURATION_MINUTES,
        )
    if not MIN_EXTENSION_MINUTES <= data.extension_minutes <= MAX_EXTENSION_MINUTES:
        raise DomainError(
            "scheme.extension",
            _("每次延长的评标时间应在%(min)d至%(max)d分钟之间。"),
            field="extension_minutes",
            min=MIN_EXTENSION_MINUTES,
            max=MAX_EXTENSION_MINUTES,
        )
    if method != EvaluationMethod.COMPREHENSIVE:
        return
    if data.benchmark_method not in BenchmarkMethod.values:
        raise DomainError("scheme.benchmark_method", _("请选择评标基准价的计算方法。"), field="benchmark_method")
    if not 3 <= data.drop_extremes_min_bids <= 99:
        raise DomainError(
            "scheme.drop_min_bids",
            _("去掉最高最低报价所需的最少有效投标数应在3至99之间。"),
            field="drop_extremes_min_bids",
        )
    zero = Decimal("0.00")
    _points(data.price_points, field="price_points", label=_("价格分满分"), minimum=zero, maximum=MAX_POINTS)
    _points(data.deduct_above, field="deduct_above", label=_("高于基准价每1%扣分"), minimum=zero, maximum=MAX_POINTS)
    _points(data.deduct_below, field="deduct_below", label=_("低于基准价每1%扣分"), minimum=zero, maximum=MAX_POINTS)
    if not data.items:
        raise DomainError("scheme.no_items", _("综合评估法至少需要一个技术或商务评分因素。"), field="items")
    if len(data.items) > MAX_ITEMS:
        raise DomainError("scheme.too_many_items", _("评分因素最多%(max)d项。"), field="items", max=MAX_ITEMS)
    for position, item in enumerate(data.items, start=1):
        if item.kind not in ItemKind.values:
            raise DomainError(
                "scheme.item_kind", _("第%(n)d项评分因素的类别无效。"), field="items", n=position
            )
        name = (item.name or "").strip()
        if not 1 <= len(name) <= 100:
            raise DomainError(
                "scheme.item_name", _("请填写第%(n)d项评分因素的名称（不超过100个字符）。"), field="items", n=position
            )
        if len(item.description or "") > 500:
            raise DomainError(
                "scheme.item_description", _("第%(n)d项评分因素的评分标准不能超过500个字符。"), field="items", n=position
            )
        label = _("第%(n)d项评分因素“%(name)s”的分值") % {"n": position, "name": name}
        _points(item.min_score, field="items", label=label, minimum=zero, maximum=MAX_POINTS)
        _points(item.max_score, field="items", label=label, minimum=zero, maximum=MAX_POINTS)
        if item.max_score <= 0 or item.min_score > item.max_score:
            raise DomainError(
                "scheme.item_range",
                _("第%(n)d项评分因素“%(name)s”的最高分应大于0且不低于最低分。"),
                field="items",
                n=position,
                name=name,
            )
    total = data.price_points + sum((item.max_score for item in data.items), Decimal(0))
    if total != TOTAL_POINTS:
        raise DomainError(
            "scheme.total_not_100",
            _("价格分满分与各评分因素最高分之和应为100分（当前为%(total)s分）。"),
            field="price_points",
            total=total,
        )


def scheme_document(scheme: EvaluationScheme, method: str) -> dict[str, Any]:
    """The scheme as a JSON document: what is frozen, hashed, audited and quoted in the report."""
    return {
        "format": SCHEME_FORMAT,
        "version": SCHEME_VERSION,
        "lot": scheme.lot_id,
        "method": method,
        "price": {
            "benchmark": scheme.benchmark_method,
            "drop_extremes": scheme.drop_extremes,
            "drop_min_bids": scheme.drop_extremes_min_bids,
            "full_points": str(scheme.price_points),
            "deduct_above": str(scheme.deduct_above),
            "deduct_below": str(scheme.deduct_below),
        },
        "items": [
            {
                "id": item.pk,
                "position": item.position,
                "kind": item.kind,
                "name": item.name,
                "description": item.description,
                "min": str(item.min_score),
                "max": str(item.max_score),
            }
            for item in scheme.items.order_by("position")
        ],
        "candidates": scheme.candidates,
        "duration_minutes": scheme.duration_minutes,
        "extension_minutes": scheme.extension_minutes,
    }


def _write_scheme(scheme: EvaluationScheme, data: SchemeInput, *, replace_scoring: bool) -> None:
    scheme.candidates = data.candidates
    scheme.duration_minutes = data.duration_minutes
    scheme.extension_minutes = data.extension_minutes
    if replace_scoring:
        scheme.benchmark_method = data.benchmark_method
        scheme.drop_extremes = data.drop_extremes
        scheme.drop_extremes_min_bids = data.drop_extremes_min_bids
        scheme.price_points = data.price_points
        scheme.deduct_above = data.deduct_above
        scheme.deduct_below = data.deduct_below
    scheme.save()
    if replace_scoring:
        scheme.items.all().delete()
        SchemeItem.objects.bulk_create(
            [
                SchemeItem(
                    scheme=scheme,
                    position=position,
                    kind=item.kind,
                    name=item.name.strip(),
                    description=(item.description or "").strip(),
                    min_score=item.min_score,
                    max_score=item.max_score,
                )
                for position, item in enumerate(data.items, start=1)
            ]
        )


def _create_default_scheme(lot: Lot, *, actor: User | None, now: dt.datetime) -> EvaluationScheme:
    data = default_scheme_input()
    scheme = EvaluationScheme(lot=lot, created_at=now, updated_at=now, updated_by=actor)
    _write_scheme(scheme, data, replace_scoring=True)
    return scheme


def scheme_save(*, actor: User, lot: Lot, data: SchemeInput) -> EvaluationScheme:
    """The lot's agent saves its evaluation scheme; refused from the bid deadline on.

    The bidders bid against the published scheme, so it is frozen once
    bidding has closed (``scheme.frozen``, by the server clock, under the
    lot's row lock). For a lowest-evaluated-price lot only the candidates
    and the time limits are taken: the price formula and the items apply to
    comprehensive scoring and keep their values. Audited with the whole
    scheme document and its SHA-256.
    """
    lot_for_agent(user=actor, lot_id=lot.pk)
    with transaction.atomic():
        lot = Lot.objects.select_for_update().select_related("tender").get(pk=lot.pk)
        now = timezone.now()
        if sel.scheme_frozen(lot, now=now):
            raise DomainError(
                "scheme.frozen",
                _("投标截止后评标办法不得修改：投标人依据已公布的评标办法编制投标文件。"),
                status=409,
            )
        scheme_validate(data, method=lot.evaluation_method)
        scheme = EvaluationScheme.objects.filter(lot=lot).first()
        created = scheme is None
        if scheme is None:
            scheme = _create_default_scheme(lot, actor=actor, now=now)
        scheme.updated_at = now
        scheme.updated_by = actor
        _write_scheme(scheme, data, replace_scoring=lot.evaluation_method == EvaluationMethod.COMPREHENSIVE)
        document = scheme_document(scheme, lot.evaluation_method)
        record(
            "evaluation.scheme.saved",
            actor=actor,
            obj=scheme,
            data={"created": created, "scheme": document, "sha256": digest(canonical(document))},
        )
    return scheme


# --- guards ----------------------------------------------------------------------------------------


def _locked_evaluation(lot: Lot) -> Evaluation:
    evaluation = (
        Evaluation.objects.select_for_update(of=("self",))
        .select_related("lot__tender", "chair", "draw_request")
        .filter(lot_id=lot.pk)
        .first()
    )
    if evaluation is None:
        raise NotFound("evaluation.not_found", _("评标不存在，或您不是该标段评标委员会的成员。"))
    return evaluation


def _seat(actor: User, evaluation: Evaluation) -> Member:
    member = Member.objects.filter(evaluation=evaluation, user=actor).first()
    if member is None or not actor.has_role(Role.EXPERT):
        raise NotFound("evaluation.not_found", _("评标不存在，或您不是该标段评标委员会的成员。"))
    member.evaluation = evaluation
    return member


def _require_open(evaluation: Evaluation) -> None:
    if evaluation.lot.status != LotStatus.EVALUATING:
        raise DomainError("evaluation.lot_closed", _("该标段已不在评标阶段。"), status=409)
    if evaluation.status == EvaluationStatus.FINAL:
        raise DomainError("evaluation.final", _("评标报告已生效，评标已结束。"), status=409)


def _require_stage(evaluation: Evaluation, *stages: str) -> None:
    _require_open(evaluation)
    if evaluation.status not in stages:
        raise DomainError(
            "evaluation.wrong_stage",
            _("当前阶段（%(stage)s）不能进行此操作。"),
            status=409,
            stage=evaluation.get_status_display(),
        )


def _require_signed_in(member: Member) -> None:
    if member.signed_in_at is None:
        raise DomainError("evaluation.not_signed_in", _("请先签到并作出回避承诺。"), status=409)


def _require_chair(member: Member) -> None:
    if member.evaluation.chair_id != member.pk:
        raise NotPermitted("evaluation.chair_only", _("只有评标委员会组长可以进行此操作。"))


def _text(value: Any, *, field: str, label: Any, limit: int) -> str:
    text = (value or "").strip() if isinstance(value, str) else ""
    if not text:
        raise DomainError("field.required", _("请填写%(label)s。"), field=field, label=label)
    if len(text) > limit:
        raise DomainError(
            "field.too_long", _("%(label)s不能超过%(max)d个字符。"), field=field, label=label, max=limit
        )
    return text


def _members_users(evaluation: Evaluation) -> list[User]:
    return list(User.objects.filter(pk__in=evaluation.members.values("user_id"), is_active=True))


def _notify(users: Sequence[User], *, title: str, body: str, url: str) -> None:
    """In-app now, e-mail after commit; written in the platform's language whoever acted."""
    if users:
        notify_users(users, title=title, body=body, url=url)


# --- starting -----------------------------------------------------------------------------------------


def evaluation_start(*, actor: User, lot: Lot) -> Evaluation:
    """The lot's agent starts the evaluation: the committee gets its workspace.

    Allowed once the opening room is closed (the lot *opened*) and the lot's
    expert draw is complete. Moves the lot to *evaluating* through
    ``tendering.services.lot_start_evaluation`` (the one transition), freezes
    the scheme (the lot's, or the default one, saved now), seats the
    confirmed experts in draw order (each needs a platform account), rejects
    every bid the price reading found above the maximum price (TR 51(5)),
    sets the deadline (start + the scheme's time limit) and tells the members.
    """
    lot_for_agent(user=actor, lot_id=lot.pk)
    with transaction.atomic():
        lot = Lot.objects.select_for_update().select_related("tender").get(pk=lot.pk)
        if Evaluation.objects.filter(lot=lot).exists():
            raise DomainError("evaluation.already_started", _("该标段的评标已经开始。"), status=409)
        if lot.status != LotStatus.OPENED or sel.closed_room(lot) is None:
            raise DomainError(
                "evaluation.opening_not_closed", _("开标结束（开标记录生成）后才能开始评标。"), status=409
            )
        draw = (
            DrawRequest.objects.filter(lot=lot, status=DrawStatus.COMPLETE).order_by("-created_at", "-id").first()
        )
        if draw is None:
            raise DomainError(
                "evaluation.no_committee", _("评标委员会尚未组建完成（专家抽取未完成），不能开始评标。"), status=409
            )
        selections = list(
            draw.selections.filter(status=SelectionStatus.CONFIRMED).select_related("expert__user").order_by("position")
        )
        without_account = [
            s for s in selections if s.expert.user is None or not s.expert.user.is_active
            or not s.expert.user.has_role(Role.EXPERT)
        ]
        if without_account:
            raise DomainError(
                "evaluation.member_without_account",
                _("有%(count)d名评标专家尚未开通平台账户，无法进行远程评标；请联系平台管理员为其开通账户。"),
                status=409,
                count=len(without_account),
            )
        now = timezone.now()
        scheme = EvaluationScheme.objects.filter(lot=lot).first()
        if scheme is None:
            scheme = _create_default_scheme(lot, actor=actor, now=now)
            document = scheme_document(scheme, lot.evaluation_method)
            record(
                "evaluation.scheme.saved",
                actor=actor,
                obj=scheme,
                data={"created": True, "default": True, "scheme": document, "sha256": digest(canonical(document))},
            )
        document = scheme_document(scheme, lot.evaluation_method)
        text = canonical(document)
        tendering.lot_start_evaluation(actor=actor, lot=lot)
        lot.refresh_from_db()
        evaluation = Evaluation.objects.create(
            lot=lot,
            draw_request=draw,
            method=lot.evaluation_method,
            scheme_json=text,
            scheme_sha256=digest(text),
            started_at=now,
            started_by=actor,
            deadline=now + dt.timedelta(minutes=scheme.duration_minutes),
        )
        Member.objects.bulk_create(
            [
                Member(evaluation=evaluation, seat=seat, selection=s, expert=s.expert, user=s.expert.user)
                for seat, s in enumerate(selections, start=1)
            ]
        )
        invalid = list(
            RoomBid.objects.filter(room__lot=lot, outcome=BidOutcome.DECRYPTED, invalid=True).order_by("position")
        )
        record(
            "evaluation.started",
            actor=actor,
            obj=evaluation,
            data={
                "draw_request": draw.pk,
                "method": evaluation.method,
                "members": len(selections),
                "scheme_sha256": evaluation.scheme_sha256,
                "deadline": evaluation.deadline,
            },
        )
        for entry in invalid:
            Rejection.objects.create(
                evaluation=evaluation, bid_id=entry.bid_id, reason=ABOVE_CONTROL_REASON, automatic=True, rejected_at=now
            )
            record(
                "evaluation.bid.rejected",
                actor=None,
                obj=evaluation,
                data={"bid": str(entry.bid_id), "position": entry.position, "automatic": True, "reason": ABOVE_CONTROL_REASON},
            )
        with override(settings.LANGUAGE_CODE):
            _notify(
                _members_users(evaluation),
                title=gettext("评标已开始：%(lot)s") % {"lot": str(lot)},
                body=gettext("请进入评标工作区签到，推选组长后独立评审。评标截止时间：%(deadline)s。")
                % {"deadline": timezone.localtime(evaluation.deadline).strftime("%Y-%m-%d %H:%M")},
                url=reverse("evaluation:workspace", args=[lot.pk]),
            )
    return evaluation


# --- sign-in and the chair ------------------------------------------------------------------------------


def member_sign_in(*, actor: User, lot: Lot, no_conflict: bool) -> Member:
    """A member signs in (签到) to the workspace, declaring no conflict of interest (ER 12, TR 46).

    Idempotent: signing in again changes nothing. Without the declaration
    the sign-in is refused (``evaluation.declaration_required``): a member
    with a conflict must recuse and tell the agent instead.
    """
    with transaction.atomic():
        evaluation = _locked_evaluation(lot)
        member = _seat(actor, evaluation)
        _require_open(evaluation)
        if member.signed_in_at is not None:
            return member
        if not no_conflict:
            raise DomainError(
                "evaluation.declaration_required",
                _("请确认您与本标段的投标人不存在利害关系；如存在，请立即告知代理机构并申请回避。"),
                field="no_conflict",
            )
        member.signed_in_at = timezone.now()
        member.save(update_fields=["signed_in_at"])
        record(
            "evaluation.member.signed_in",
            actor=actor,
            obj=evaluation,
            data={"seat": member.seat, "declared_no_conflict": True},
        )
    return member


def chair_vote(*, actor: User, lot: Lot, candidate_seat: int) -> Evaluation:
    """A member votes for the chair (组长) in the current round: once per round.

    More than half of all members' votes for one member elects them at once;
    when every member has voted and nobody has that majority (a tie, or
    votes spread too thin), the round closes and the next one opens
    (``evaluation.committee.election_tally``). Electing the chair opens the
    independent scoring.
    """
    with transaction.atomic():
        evaluation = _locked_evaluation(lot)
        member = _seat(actor, evaluation)
        _require_stage(evaluation, EvaluationStatus.ELECTING)
        _require_signed_in(member)
        candidate = Member.objects.filter(evaluation=evaluation, seat=candidate_seat).first()
        if candidate is None:
            raise DomainError("evaluation.candidate_invalid", _("请选择评标委员会的一名成员。"), field="candidate")
        round_ = evaluation.election_round
        if ChairVote.objects.filter(evaluation=evaluation, round=round_, voter=member).exists():
            raise DomainError("evaluation.already_voted", _("您已在本轮投票。"), status=409)
        now = timezone.now()
        ChairVote.objects.create(evaluation=evaluation, round=round_, voter=member, candidate=candidate, cast_at=now)
        record(
            "evaluation.chair.voted",
            actor=actor,
            obj=evaluation,
            data={"round": round_, "voter": member.seat, "candidate": candidate.seat},
        )
        votes = dict(
            ChairVote.objects.filter(evaluation=evaluation, round=round_).values_list("voter__seat", "candidate__seat")
        )
        members = evaluation.members.count()
        tally = committee.election_tally(votes, members=members)
        counts = {str(seat): n for seat, n in sorted(tally.counts.items())}
        if tally.outcome == committee.ELECTED:
            chair = Member.objects.get(evaluation=evaluation, seat=tally.chair)
            evaluation.chair = chair
            evaluation.chair_elected_at = now
            evaluation.status = EvaluationStatus.SCORING
            evaluation.save(update_fields=["chair", "chair_elected_at", "status"])
            record(
                "evaluation.chair.elected",
                actor=actor,
                obj=evaluation,
                data={"round": round_, "chair": chair.seat, "counts": counts, "members": members},
            )
        elif tally.outcome == committee.REVOTE:
            evaluation.election_round = round_ + 1
            evaluation.save(update_fields=["election_round"])
            record(
                "evaluation.chair.revote",
                actor=actor,
                obj=evaluation,
                data={"round": round_, "counts": counts, "members": members, "next_round": round_ + 1},
            )
    return evaluation


# --- scoring ----------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class SheetInput:
    """What a member's score sheet form carries.

    ``scores``: {(bid id, item id): value or None (cleared)} for comprehensive
    scoring; ``adjustments``: {bid id: (amount or None, reason)} for the
    lowest evaluated price method. Keys the evaluation does not know are refused.
    """

    scores: Mapping[tuple[str, int], Decimal | None]
    adjustments: Mapping[str, tuple[Decimal | None, str]]


def score_field(bid_id: str, item_id: int) -> str:
    """The form field of one score (the views use the same names)."""
    return f"s-{bid_id}-{item_id}"


def adjustment_field(bid_id: str) -> str:
    return f"a-{bid_id}"


def adjustment_reason_field(bid_id: str) -> str:
    return f"r-{bid_id}"


def _sheet_digest(member: Member) -> tuple[dict[str, Any], str]:
    sheet = sel.sheet_of(member)
    document = {
        "scores": {f"{bid}/{item}": str(value) for (bid, item), value in sorted(sheet.scores.items())},
        "adjustments": {
            bid: {"amount": str(amount), "reason": reason} for bid, (amount, reason) in sorted(sheet.adjustments.items())
        },
    }
    return document, digest(canonical(document))


def scores_save(*, actor: User, lot: Lot, sheet: SheetInput, submit: bool) -> Member:
    """A member saves their score sheet, and with ``submit`` hands it in (final for them).

    Only in the scoring stage, after signing in, before the member has
    submitted. Each score is checked against its item's range (two decimals
    at most); an adjustment needs a reason and must leave the evaluated
    price above zero. Submitting requires every valid bid (not rejected) to
    be scored on every item (``evaluation.sheet_incomplete``). When the last
    member submits, the scores are opened to every member and the
    evaluation moves to review. The sheet itself is audited on submission;
    a saved draft only by its digest.
    """
    with transaction.atomic():
        evaluation = _locked_evaluation(lot)
        member = _seat(actor, evaluation)
        _require_stage(evaluation, EvaluationStatus.SCORING)
        _require_signed_in(member)
        if member.submitted_at is not None:
            raise DomainError("evaluation.already_submitted", _("您已提交评审意见，不能再修改。"), status=409)
        views = {view.key: view for view in sel.committee_bids(evaluation) if view.decrypted}
        now = timezone.now()
        if evaluation.method == EvaluationMethod.COMPREHENSIVE:
            _save_scores(member, evaluation, views, sheet.scores, now)
        else:
            _save_adjustments(member, views, sheet.adjustments, now)
        sheet_document, sheet_sha256 = _sheet_digest(member)
        if not submit:
            record(
                "evaluation.scores.saved",
                actor=actor,
                obj=evaluation,
                data={"seat": member.seat, "sha256": sheet_sha256},
            )
            return member
        missing = sel.missing_scores(evaluation, sel.sheet_of(member), list(views.values()))
        if missing is not None:
            view, item = missing
            raise DomainError(
                "evaluation.sheet_incomplete",
                _("第%(position)s号投标（%(bidder)s）的“%(item)s”尚未评分。"),
                field=score_field(view.key, item["id"]),
                position=view.position,
                bidder=view.organisation.name,
                item=item["name"],
            )
        member.submitted_at = now
        member.save(update_fields=["submitted_at"])
        record(
            "evaluation.scores.submitted",
            actor=actor,
            obj=evaluation,
            data={"seat": member.seat, "sheet": sheet_document, "sha256": sheet_sha256},
        )
        if not evaluation.members.filter(submitted_at__isnull=True).exists():
            evaluation.status = EvaluationStatus.REVIEWING
            evaluation.all_submitted_at = now
            evaluation.save(update_fields=["status", "all_submitted_at"])
            record(
                "evaluation.scores.opened",
                actor=actor,
                obj=evaluation,
                data={"members": evaluation.members.count()},
            )
    return member


def _save_scores(
    member: Member,
    evaluation: Evaluation,
    views: Mapping[str, sel.BidView],
    scores: Mapping[tuple[str, int], Decimal | None],
    now: dt.datetime,
) -> None:
    items = {item["id"]: item for item in sel.frozen_items(evaluation)}
    existing = {(str(score.bid_id), score.item_id): score for score in ItemScore.objects.filter(member=member)}
    created: list[ItemScore] = []
    changed: list[ItemScore] = []
    cleared: list[int] = []
    for (bid_id, item_id), value in scores.items():
        field = score_field(bid_id, item_id)
        view = views.get(bid_id)
        item = items.get(item_id)
        if view is None or item is None:
            raise DomainError("evaluation.sheet_invalid", _("评分表与本次评标不符，请刷新页面。"), field=field)
        current = existing.get((bid_id, item_id))
        if value is None:
            if current is not None:
                cleared.append(current.pk)
            continue
        try:
            scoring.check_item_score(value, minimum=Decimal(item["min"]), maximum=Decimal(item["max"]))
        except scoring.ScoringError:
            raise DomainError(
                "evaluation.score_out_of_range",
                _("第%(position)s号投标的“%(item)s”得分应在%(min)s至%(max)s之间，最多两位小数。"),
                field=field,
                position=view.position,
                item=item["name"],
                min=item["min"],
                max=item["max"],
            ) from None
        if current is None:
            created.append(ItemScore(member=member, bid_id=bid_id, item_id=item_id, value=value, updated_at=now))
        elif current.value != value:
            current.value = value
            current.updated_at = now
            changed.append(current)
    # Checked in full before anything is written: a refused sheet changes nothing.
    ItemScore.objects.filter(pk__in=cleared).delete()
    ItemScore.objects.bulk_create(created)
    ItemScore.objects.bulk_update(changed, ["value", "updated_at"])


def _save_adjustments(
    member: Member,
    views: Mapping[str, sel.BidView],
    adjustments: Mapping[str, tuple[Decimal | None, str]],
    now: dt.datetime,
) -> None:
    for bid_id, (amount, reason) in adjustments.items():
        field = adjustment_field(bid_id)
        view = views.get(bid_id)
        if view is None:
            raise DomainError("evaluation.sheet_invalid", _("评分表与本次评标不符，请刷新页面。"), field=field)
        reason = (reason or "").strip()
        if amount is None or amount == 0:
            if amount is None and not reason:
                PriceAdjustment.objects.filter(member=member, bid_id=bid_id).delete()
                continue
            amount = Decimal("0.00")
        try:
            scoring.check_amount(amount)
        except scoring.ScoringError:
            raise DomainError(
                "evaluation.adjustment_invalid", _("调整金额以元为单位，最多两位小数。"), field=field
            ) from None
        if amount != 0 and not reason:
            raise DomainError(
                "evaluation.adjustment_reason",
                _("请说明第%(position)s号投标价格调整的理由。"),
                field=adjustment_reason_field(bid_id),
                position=view.position,
            )
        if len(reason) > MAX_SHORT_REASON:
            raise DomainError(
                "field.too_long",
                _("%(label)s不能超过%(max)d个字符。"),
                field=adjustment_reason_field(bid_id),
                label=_("调整理由"),
                max=MAX_SHORT_REASON,
            )
        if view.bid.price is None or view.bid.price + amount <= 0:
            raise DomainError(
                "evaluation.adjustment_too_low", _("调整后的评标价必须大于零。"), field=field
            )
        PriceAdjustment.objects.update_or_create(
            member=member, bid_id=bid_id, defaults={"amount": amount, "reason": reason, "updated_at": now}
        )


# --- rejections (否决投标) -------------------------------------------------------------------------------


def _committee_bid(evaluation: Evaluation, bid_id: Any) -> sel.BidView:
    for view in sel.committee_bids(evaluation):
        if view.key == str(bid_id) and view.decrypted:
            return view
    raise NotFound("evaluation.bid_not_found", _("该投标文件不存在或未在开标时解密。"))


def bid_reject(*, actor: User, lot: Lot, bid_id: Any, reason: str) -> Rejection:
    """The chair records the committee's rejection of a bid (否决投标), with its reason.

    While scoring or reviewing (before the report is drafted). A rejected bid
    is not scored and gets no rank; the benchmark price is computed without it.
    """
    reason = _text(reason, field="reason", label=_("否决理由"), limit=MAX_REASON)
    with transaction.atomic():
        evaluation = _locked_evaluation(lot)
        member = _seat(actor, evaluation)
        _require_chair(member)
        _require_stage(evaluation, EvaluationStatus.SCORING, EvaluationStatus.REVIEWING)
        view = _committee_bid(evaluation, bid_id)
        if view.rejection is not None:
            raise DomainError("evaluation.already_rejected", _("该投标已被否决。"), status=409)
        rejection = Rejection.objects.create(
            evaluation=evaluation, bid=view.bid, reason=reason, rejected_by=member, rejected_at=timezone.now()
        )
        record(
            "evaluation.bid.rejected",
            actor=actor,
            obj=evaluation,
            data={"bid": view.key, "position": view.position, "automatic": False, "reason": reason, "chair": member.seat},
        )
    return rejection


def bid_reinstate(*, actor: User, lot: Lot, bid_id: Any) -> Rejection:
    """The chair withdraws a rejection the committee recorded.

    An automatic rejection (above the maximum price, TR 51(5)) stands. A bid
    may come back only if every member who has already submitted scored it
    (``evaluation.reinstate_unscored``): nobody may score after submitting.
    """
    with transaction.atomic():
        evaluation = _locked_evaluation(lot)
        member = _seat(actor, evaluation)
        _require_chair(member)
        _require_stage(evaluation, EvaluationStatus.SCORING, EvaluationStatus.REVIEWING)
        view = _committee_bid(evaluation, bid_id)
        rejection = view.rejection
        if rejection is None:
            raise DomainError("evaluation.not_rejected", _("该投标未被否决。"), status=409)
        if rejection.automatic:
            raise DomainError(
                "evaluation.rejection_automatic",
                _("投标报价超过最高投标限价的投标依法无效，不能恢复。"),
                status=409,
            )
        if evaluation.method == EvaluationMethod.COMPREHENSIVE:
            items = {item["id"] for item in sel.frozen_items(evaluation)}
            for submitted in evaluation.members.filter(submitted_at__isnull=False):
                scored = set(
                    ItemScore.objects.filter(member=submitted, bid=view.bid).values_list("item_id", flat=True)
                )
                if not items <= scored:
                    raise DomainError(
                        "evaluation.reinstate_unscored",
                        _("已有专家提交了评审意见且未对该投标评分，不能恢复该投标。"),
                        status=409,
                    )
        rejection.reinstated_at = timezone.now()
        rejection.reinstated_by = member
        rejection.save(update_fields=["reinstated_at", "reinstated_by"])
        record(
            "evaluation.bid.reinstated",
            actor=actor,
            obj=evaluation,
            data={"bid": view.key, "position": view.position, "chair": member.seat},
        )
    return rejection


# --- TR 48: more time --------------------------------------------------------------------------------------


def extension_request(*, actor: User, lot: Lot, reason: str) -> Evaluation:
    """A member finds the time too short (TR 48); more than a third of the members extends the deadline.

    One request per member per round. When the requests of the round exceed
    a third of the members (``committee.extension_granted``: 3 × requests >
    members, so exactly a third does not), the deadline moves by the
    scheme's extension — from the current deadline, or from now if it has
    passed — the extension is recorded, the members are told, and a new
    round of requests begins.
    """
    reason = _text(reason, field="reason", label=_("申请延长的理由"), limit=MAX_SHORT_REASON)
    with transaction.atomic():
        evaluation = _locked_evaluation(lot)
        member = _seat(actor, evaluation)
        _require_open(evaluation)
        _require_signed_in(member)
        round_ = evaluation.extension_round
        if ExtensionRequest.objects.filter(evaluation=evaluation, round=round_, member=member).exists():
            raise DomainError("evaluation.already_requested", _("您已申请延长评标时间，请等待其他成员。"), status=409)
        now = timezone.now()
        ExtensionRequest.objects.create(evaluation=evaluation, round=round_, member=member, reason=reason, requested_at=now)
        requests = ExtensionRequest.objects.filter(evaluation=evaluation, round=round_).count()
        members = evaluation.members.count()
        record(
            "evaluation.extension.requested",
            actor=actor,
            obj=evaluation,
            data={"seat": member.seat, "round": round_, "reason": reason, "requests": requests, "members": members},
        )
        if committee.extension_granted(requests, members=members):
            minutes = int(evaluation.scheme()["extension_minutes"])
            old = evaluation.deadline
            new = max(old, now) + dt.timedelta(minutes=minutes)
            Extension.objects.create(
                evaluation=evaluation,
                round=round_,
                granted_at=now,
                old_deadline=old,
                new_deadline=new,
                requests=requests,
                members=members,
            )
            evaluation.deadline = new
            evaluation.extension_round = round_ + 1
            evaluation.save(update_fields=["deadline", "extension_round"])
            record(
                "evaluation.deadline.extended",
                actor=actor,
                obj=evaluation,
                data={"round": round_, "requests": requests, "members": members, "old_deadline": old, "new_deadline": new},
            )
            with override(settings.LANGUAGE_CODE):
                _notify(
                    _members_users(evaluation),
                    title=gettext("评标时间已延长：%(lot)s") % {"lot": str(evaluation.lot)},
                    body=gettext("超过三分之一的评标委员会成员认为评标时间不够，评标截止时间延长至 %(deadline)s。")
                    % {"deadline": timezone.localtime(new).strftime("%Y-%m-%d %H:%M")},
                    url=reverse("evaluation:workspace", args=[evaluation.lot_id]),
                )
    return evaluation


# --- the report -----------------------------------------------------------------------------------------------


def _time(value: dt.datetime | None) -> str | None:
    """A time in the report: ISO 8601 in the platform's zone, with its offset, to the millisecond."""
    return None if value is None else iso(timezone.localtime(value))


def _amount(value: Decimal | None) -> str | None:
    return None if value is None else str(value.quantize(scoring.CENT))


def report_document(evaluation: Evaluation, *, version: int, drafted_by: Member, now: dt.datetime) -> dict[str, Any]:
    """The report as a JSON document (docs/evaluation.md §report), from the summary of every sheet."""
    lot = evaluation.lot
    summary = sel.evaluation_summary(evaluation)
    members = list(evaluation.members.order_by("seat"))
    sheets = sel.sheets_for(member=drafted_by) if sel.scores_open(evaluation) else {}
    room = sel.closed_room(lot)
    comprehensive = evaluation.method == EvaluationMethod.COMPREHENSIVE
    bids = []
    for row in summary.rows:
        view = row.view
        status = "valid" if view.is_valid else ("rejected" if view.decrypted else view.entry.outcome)
        entry: dict[str, Any] = {
            "position": view.position,
            "bid": view.key,
            "receipt_no": view.bid.receipt_no,
            "organisation": view.organisation.pk,
            "organisation_name": view.organisation.name,
            "credit_code": view.organisation.credit_code,
            "received_at": timezone.localtime(view.bid.received_at).isoformat(timespec="microseconds"),
            "price": _amount(view.price),
            "status": status,
            "rejection": None
            if view.rejection is None
            else {
                "reason": view.rejection.reason,
                "automatic": view.rejection.automatic,
                "by_seat": view.rejection.rejected_by.seat if view.rejection.rejected_by else None,
                "at": _time(view.rejection.rejected_at),
            },
            "rank": row.rank,
        }
        if comprehensive:
            entry.update(
                {
                    "price_score": _amount(row.price_score_shown),
                    "price_score_exact": None if row.price_score is None else scoring.exact_text(row.price_score),
                    "item_totals": {str(seat): scoring.exact_text(value) for seat, value in row.item_totals},
                    "member_totals": {str(seat): scoring.exact_text(value) for seat, value in row.member_totals},
                    "final_score": _amount(row.final_score),
                }
            )
        else:
            entry.update(
                {
                    "adjustments": {
                        str(seat): {"amount": _amount(amount), "reason": reason} for seat, amount, reason in row.adjustments
                    },
                    "mean_adjustment": None
                    if row.mean_adjustment is None
                    else scoring.exact_text(row.mean_adjustment),
                    "evaluated_price": _amount(row.evaluated_price),
                }
            )
        bids.append(entry)
    candidates = [
        {
            "rank": row.rank,
            "bid": row.view.key,
            "organisation": row.view.organisation.pk,
            "organisation_name": row.view.organisation.name,
            "credit_code": row.view.organisation.credit_code,
            "price": _amount(row.view.price),
            "score": _amount(row.final_score) if comprehensive else None,
            "evaluated_price": _amount(row.evaluated_price) if not comprehensive else _amount(row.view.price),
        }
        for row in summary.candidates
    ]
    scores: dict[str, Any] = {}
    if comprehensive:
        for seat, sheet in sheets.items():
            per_bid: dict[str, dict[str, str]] = {}
            for (bid, item), value in sheet.scores.items():
                per_bid.setdefault(bid, {})[str(item)] = str(value)
            scores[str(seat)] = per_bid
    election = sel.election_for(member=drafted_by)
    return {
        "format": REPORT_FORMAT,
        "version": REPORT_VERSION,
        "report_version": version,
        "lot": {
            "id": lot.pk,
            "tender_code": lot.tender.code,
            "tender_title": lot.tender.title,
            "number": lot.number,
            "name": lot.name,
            "control_price": _amount(lot.control_price),
            "evaluation_method": evaluation.method,
        },
        "opening_record_sha256": room.record_sha256 if room is not None else None,
        "scheme": evaluation.scheme(),
        "scheme_sha256": evaluation.scheme_sha256,
        "evaluation": {
            "started_at": _time(evaluation.started_at),
            "deadline": _time(evaluation.deadline),
            "all_submitted_at": _time(evaluation.all_submitted_at),
            "extensions": [
                {
                    "round": ext.round,
                    "granted_at": _time(ext.granted_at),
                    "old_deadline": _time(ext.old_deadline),
                    "new_deadline": _time(ext.new_deadline),
                    "requests": ext.requests,
                    "members": ext.members,
                }
                for ext in evaluation.extensions.order_by("round")
            ],
        },
        "committee": {
            "members": len(members),
            "seats": [member.seat for member in members],
            "chair": evaluation.chair.seat if evaluation.chair else None,
            "election": [
                {"round": past["round"], "counts": {str(seat): n for seat, n in past["counts"]}}
                for past in election.past_rounds
            ],
        },
        "benchmark_price": None if summary.benchmark is None else scoring.exact_text(summary.benchmark),
        "bids": bids,
        "scores": scores,
        "ranking": [{"rank": row.rank, "bid": row.view.key} for row in summary.ranked],
        "candidates": candidates,
        "tie_rule": "final_score desc, price_score desc, price asc, received_at asc"
        if comprehensive
        else "evaluated_price asc, price asc, received_at asc",
        "drafted_at": _time(now),
        "drafted_by_seat": drafted_by.seat,
    }


def report_draft(*, actor: User, lot: Lot) -> EvaluationReport:
    """The chair drafts the report once every member has submitted: the system totals and ranks.

    The document (canonical JSON) quotes the frozen scheme, every bid with
    its status, rejection, figures and rank, every sheet, the candidates (at
    most the scheme's number, at most three — TR 53) and the election. The
    evaluation then waits for every member's signature.
    """
    with transaction.atomic():
        evaluation = _locked_evaluation(lot)
        member = _seat(actor, evaluation)
        _require_chair(member)
        _require_stage(evaluation, EvaluationStatus.REVIEWING)
        now = timezone.now()
        version = (EvaluationReport.objects.filter(evaluation=evaluation).aggregate(v=Max("version"))["v"] or 0) + 1
        document = report_document(evaluation, version=version, drafted_by=member, now=now)
        text = canonical(document)
        report = EvaluationReport.objects.create(
            evaluation=evaluation, version=version, document=text, sha256=digest(text), drafted_at=now, drafted_by=member
        )
        evaluation.status = EvaluationStatus.SIGNING
        evaluation.save(update_fields=["status"])
        record(
            "evaluation.report.drafted",
            actor=actor,
            obj=evaluation,
            data={
                "version": version,
                "sha256": report.sha256,
                "chair": member.seat,
                "candidates": [{"rank": c["rank"], "bid": c["bid"]} for c in document["candidates"]],
            },
        )
        with override(settings.LANGUAGE_CODE):
            _notify(
                _members_users(evaluation),
                title=gettext("评标报告待签署：%(lot)s") % {"lot": str(evaluation.lot)},
                body=gettext("组长已生成评标报告，请核对后用您的签名密钥签署。"),
                url=reverse("evaluation:report", args=[evaluation.lot_id]),
            )
    return report


def report_discard(*, actor: User, lot: Lot, reason: str) -> EvaluationReport:
    """The chair withdraws the draft waiting for signatures (its signatures lapse); the committee reviews again."""
    reason = _text(reason, field="reason", label=_("撤回理由"), limit=MAX_SHORT_REASON)
    with transaction.atomic():
        evaluation = _locked_evaluation(lot)
        member = _seat(actor, evaluation)
        _require_chair(member)
        _require_stage(evaluation, EvaluationStatus.SIGNING)
        report = sel.current_report(evaluation)
        assert report is not None and report.status == ReportStatus.SIGNING
        report.status = ReportStatus.DISCARDED
        report.discarded_at = timezone.now()
        report.discard_reason = reason
        report.save(update_fields=["status", "discarded_at", "discard_reason"])
        evaluation.status = EvaluationStatus.REVIEWING
        evaluation.save(update_fields=["status"])
        record(
            "evaluation.report.discarded",
            actor=actor,
            obj=evaluation,
            data={"version": report.version, "sha256": report.sha256, "reason": reason, "chair": member.seat},
        )
    return report


def signing_key_register(*, actor: User, public_key: bytes) -> SigningKey:
    """An expert registers an ECDSA P-256 signing key (SPKI DER), retiring the one in use.

    The key is checked as the organisations' signing keys are
    (``accounts.keys.check_signing_public``: canonical DER, P-256).
    """
    if not actor.has_role(Role.EXPERT):
        raise NotPermitted("permission.role", _("只有评标专家可以登记评标签名密钥。"))
    fingerprint = check_signing_public(public_key)
    with transaction.atomic():
        User.objects.select_for_update().filter(pk=actor.pk).first()
        if SigningKey.objects.filter(fingerprint=fingerprint).exists():
            raise DomainError("evaluation.key_in_use", _("该签名公钥已登记过，请生成新的密钥。"), status=409)
        now = timezone.now()
        SigningKey.objects.filter(user=actor, status=SigningKeyStatus.ACTIVE).update(
            status=SigningKeyStatus.RETIRED, retired_at=now
        )
        key = SigningKey.objects.create(user=actor, public_key=bytes(public_key), fingerprint=fingerprint, registered_at=now)
        record("evaluation.signing_key.registered", actor=actor, obj=key, data={"fingerprint": fingerprint})
    return key


def _signature_bytes(value: Any) -> bytes:
    try:
        raw = base64.b64decode(value, validate=True) if isinstance(value, str) else b""
    except (binascii.Error, ValueError):
        raw = b""
    if not raw:
        raise DomainError("evaluation.signature_invalid", _("签名无效。"), field="signature")
    return raw


def report_sign(*, actor: User, lot: Lot, report_sha256: str, signature: str) -> ReportSignature:
    """A member signs the report: their ECDSA P-256 signature over the report's digest (evaluation.report).

    ``report_sha256`` is the digest the member's browser computed from the
    document it fetched; it must be the current report's
    (``evaluation.report_changed`` otherwise). The signature must verify with
    the member's registered key (``evaluation.signature_invalid``: tampered,
    made by another key, not low-s DER). When every member has signed, the
    report is final: the PDF is rendered with the signatures, the lot has its
    ranked candidates, and the agency's agents are told.
    """
    raw = _signature_bytes(signature)
    with transaction.atomic():
        evaluation = _locked_evaluation(lot)
        member = _seat(actor, evaluation)
        _require_stage(evaluation, EvaluationStatus.SIGNING)
        _require_signed_in(member)
        report = sel.current_report(evaluation)
        assert report is not None
        if report_sha256 != report.sha256:
            raise DomainError("evaluation.report_changed", _("评标报告已更新，请刷新页面后重新核对并签署。"), status=409)
        if ReportSignature.objects.filter(report=report, member=member).exists():
            raise DomainError("evaluation.already_signed", _("您已签署本评标报告。"), status=409)
        key = sel.active_signing_key(actor)
        if key is None:
            raise DomainError("evaluation.no_signing_key", _("请先生成并登记您的签名密钥。"), status=409)
        message = signature_message(lot_id=lot.pk, report_sha256=report.sha256, seat=member.seat)
        if not verify_signature(public_key_der=bytes(key.public_key), signature=raw, message=message):
            raise DomainError("evaluation.signature_invalid", _("签名无效。"), field="signature")
        now = timezone.now()
        signed = ReportSignature.objects.create(report=report, member=member, key=key, signature=raw, signed_at=now)
        record(
            "evaluation.report.signed",
            actor=actor,
            obj=evaluation,
            data={
                "version": report.version,
                "sha256": report.sha256,
                "seat": member.seat,
                "key_fingerprint": key.fingerprint,
                "signature": base64.b64encode(raw).decode("ascii"),
            },
        )
        if ReportSignature.objects.filter(report=report).count() == evaluation.members.count():
            _finalise(evaluation, report, actor, now)
    return signed


def _finalise(evaluation: Evaluation, report: EvaluationReport, actor: User, now: dt.datetime) -> None:
    from evaluation.report_pdf import report_pdf

    report.status = ReportStatus.FINAL
    report.final_at = now
    report.pdf = report_pdf(report, sel.signatures_by_seat(report))
    report.save(update_fields=["status", "final_at", "pdf"])
    evaluation.status = EvaluationStatus.FINAL
    evaluation.final_at = now
    evaluation.save(update_fields=["status", "final_at"])
    candidates = report.data()["candidates"]
    record(
        "evaluation.report.final",
        actor=actor,
        obj=evaluation,
        data={
            "version": report.version,
            "sha256": report.sha256,
            "candidates": [
                {key: c[key] for key in ("rank", "bid", "organisation_name", "price", "score", "evaluated_price")}
                for c in candidates
            ],
        },
    )
    lot = evaluation.lot
    agents = User.objects.filter(
        organisation_id=lot.tender.agency_id, role_grants__role=Role.AGENT, is_active=True
    ).distinct()
    with override(settings.LANGUAGE_CODE):
        _notify(
            list(agents),
            title=gettext("评标报告已生效：%(lot)s") % {"lot": str(lot)},
            body=gettext("评标委员会全体成员已签署评标报告，推荐中标候选人%(count)d名。") % {"count": len(candidates)},
            url=reverse("evaluation:lot", args=[lot.pk]),
        )


# --- for the views ------------------------------------------------------------------------------------


def parse_decimal(value: Any) -> Decimal | None:
    """A form value as a Decimal (None when blank); ``InvalidOperation`` for anything that is no number."""
    text = (value or "").strip() if isinstance(value, str) else ""
    if not text:
        return None
    number = Decimal(text)
    if not number.is_finite():
        raise InvalidOperation(text)
    return number
