"""Writes of the expert draw: requests, approval, the draw itself, answers, replacements, reveal.

Guard first, then change: every service checks the actor's role, locks the
draw request's row (``select_for_update``) and re-checks the state under the
lock before writing. Every change is audited in its transaction, and the
audit payloads never hold an expert's name or code, the secret or the seed
until the result is revealed (ER 8; docs/draw.md §7). Messages to experts are
queued by ``experts.notifications`` in the same transaction and leave on
commit.

The draw is specified in docs/draw.md and computed by the standard-library
module ``experts.draw``, so that ``python -m experts.verify_draw`` can re-run
it from the published record.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

import experts.notifications as notifications
from accounts.models import Role, User
from accounts.services import notify_users
from audit.models import CheckpointReason
from audit.services import chain_head_for_update, record
from audit.tree import checkpoint_request
from core.errors import DomainError, NotFound, NotPermitted
from experts import draw
from experts.models import (
    DrawItem,
    DrawPool,
    DrawRequest,
    DrawSelection,
    DrawStatus,
    Expert,
    Locality,
    SelectionStatus,
    Specialty,
)
from experts.selectors import eligible_pool
from tendering.models import Lot, LotStatus

# Draws happen between the close of bidding and the start of evaluation
# (docs/draw.md §1): the parties are then known, the panel not yet needed.
DRAW_LOT_STATES = frozenset({LotStatus.BIDDING_CLOSED, LotStatus.OPENING, LotStatus.OPENED})

# A request in one of these states holds the lot: no second request until it ends.
_OPEN_STATES = frozenset(
    {DrawStatus.PENDING, DrawStatus.APPROVED, DrawStatus.NOTIFYING, DrawStatus.COMPLETE}
)

# pg_advisory_xact_lock key: "SUNBIDDR" as a 64-bit integer (see _serialise_draws).
_PG_DRAW_LOCK_KEY = int.from_bytes(b"SUNBIDDR", "big") & 0x7FFF_FFFF_FFFF_FFFF

MIN_COMMITTEE = 5
MAX_MEMBERS_PER_ITEM = 50
MAX_RESERVES_PER_ITEM = 20
MIN_RESPONSE_MINUTES = 5
MAX_RESPONSE_MINUTES = 24 * 60
_SUPERVISOR_NUMBER = re.compile(r"[0-9]{1,12}")
_REPLY_CODE_DIGITS = 6


@dataclass(frozen=True, kw_only=True)
class DrawItemInput:
    specialty_id: int
    members: int
    reserves: int = 0


@dataclass(frozen=True, kw_only=True)
class DrawRequestInput:
    items: Sequence[DrawItemInput]
    evaluation_start: dt.datetime
    evaluation_place: str
    locality: str = Locality.ANY
    tenderer_representatives: int = 0
    # None: settings.EXPERT_DRAW["RESPONSE_MINUTES"].
    response_minutes: int | None = None


# --- guards -------------------------------------------------------------------------------


def _require_agent_of_lot(actor: User, lot: Lot) -> None:
    if not actor.has_role(Role.AGENT):
        raise NotPermitted("permission.role", _("只有招标代理机构经办人可以申请抽取评标专家。"))
    if actor.organisation_id != lot.tender.agency_id:
        raise NotFound("lot.not_found", _("标段不存在。"))


def _require_supervisor(actor: User) -> None:
    if not actor.has_role(Role.SUPERVISOR):
        raise NotPermitted("permission.role", _("只有监督人员可以进行此操作。"))


def _require_lot_state(lot: Lot) -> None:
    if lot.status not in DRAW_LOT_STATES:
        raise DomainError(
            "draw.lot_state",
            _("标段当前状态为“%(state)s”，只有投标截止后、评标开始前的标段可以抽取评标专家。"),
            status=409,
            state=LotStatus(lot.status).label,
        )


def _serialise_draws() -> None:
    """One draw at a time, platform-wide, until the caller's transaction ends.

    Two rules look at other draws (recently drawn for the same tenderer, the
    monthly limit): two draws running side by side could each miss the
    other's picks and put one expert on both panels. Draws are minutes apart,
    so a single lock costs nothing. PostgreSQL: a transaction-scoped advisory
    lock; SQLite: every atomic block already holds the write lock (BEGIN
    IMMEDIATE, see settings).
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_PG_DRAW_LOCK_KEY])


def _locked_request(request: DrawRequest) -> DrawRequest:
    """The request re-read under its row lock (only its own row: the lot is not locked)."""
    return (
        DrawRequest.objects.select_for_update(of=("self",))
        .select_related("lot__tender")
        .get(pk=request.pk)
    )


def committee_validate(*, members: int, tenderer_representatives: int) -> None:
    """ER 9: at least 5 members, an odd number, experts at least two thirds."""
    total = members + tenderer_representatives
    if total < MIN_COMMITTEE:
        raise DomainError(
            "draw.committee_too_small",
            _("评标委员会成员应为%(min)d人以上（现为%(total)d人）。"),
            field="items",
            min=MIN_COMMITTEE,
            total=total,
        )
    if total % 2 == 0:
        raise DomainError(
            "draw.committee_even",
            _("评标委员会成员人数应为单数（现为%(total)d人）。"),
            field="items",
            total=total,
        )
    if members * 3 < total * 2:
        raise DomainError(
            "draw.experts_two_thirds",
            _(
                "技术、经济等方面的专家不得少于成员总数的三分之二（%(total)d人中至少%(min)d名专家）。"
            ),
            field="tenderer_representatives",
            total=total,
            min=-(-total * 2 // 3),
        )


def draw_request_validate(data: DrawRequestInput) -> dict[int, Specialty]:
    """The rules a request must meet whatever the lot's state; returns its specialties by id."""
    if not data.items:
        raise DomainError("draw.no_items", _("请至少填写一个评标专业。"), field="items")
    ids = [item.specialty_id for item in data.items]
    if len(set(ids)) != len(ids):
        raise DomainError(
            "draw.duplicate_specialty", _("同一评标专业只能填写一次。"), field="items"
        )
    specialties = Specialty.objects.in_bulk(ids)
    if len(specialties) != len(ids):
        raise DomainError("draw.specialty", _("请选择有效的评标专业。"), field="items")
    for item in data.items:
        if not 1 <= item.members <= MAX_MEMBERS_PER_ITEM:
            raise DomainError(
                "draw.members",
                _("每个专业抽取人数应在1至%(max)d人之间。"),
                field="items",
                max=MAX_MEMBERS_PER_ITEM,
            )
        if not 0 <= item.reserves <= MAX_RESERVES_PER_ITEM:
            raise DomainError(
                "draw.reserves",
                _("每个专业候补人数应在0至%(max)d人之间。"),
                field="items",
                max=MAX_RESERVES_PER_ITEM,
            )
    if data.tenderer_representatives < 0:
        raise DomainError(
            "draw.representatives",
            _("招标人代表人数不能为负数。"),
            field="tenderer_representatives",
        )
    committee_validate(
        members=sum(item.members for item in data.items),
        tenderer_representatives=data.tenderer_representatives,
    )
    if timezone.is_naive(data.evaluation_start):
        raise DomainError("draw.naive_time", _("时间必须带有时区。"), field="evaluation_start")
    place = (data.evaluation_place or "").strip()
    if not place:
        raise DomainError("field.required", _("请填写评标地点。"), field="evaluation_place")
    if len(place) > 200:
        raise DomainError(
            "field.too_long", _("评标地点不能超过200个字符。"), field="evaluation_place"
        )
    if data.locality not in Locality.values:
        raise DomainError("draw.locality", _("请选择专家来源。"), field="locality")
    minutes = _response_minutes(data)
    if not MIN_RESPONSE_MINUTES <= minutes <= MAX_RESPONSE_MINUTES:
        raise DomainError(
            "draw.response_minutes",
            _("答复时限应在%(min)d至%(max)d分钟之间。"),
            field="response_minutes",
            min=MIN_RESPONSE_MINUTES,
            max=MAX_RESPONSE_MINUTES,
        )
    return specialties


def _response_minutes(data: DrawRequestInput) -> int:
    if data.response_minutes is None:
        return int(settings.EXPERT_DRAW["RESPONSE_MINUTES"])
    return data.response_minutes


def _require_evaluation_ahead(lot: Lot, evaluation_start: dt.datetime, now: dt.datetime) -> None:
    if evaluation_start <= now:
        raise DomainError(
            "draw.evaluation_past",
            _("评标开始时间已过，请重新申请。"),
            status=409,
            field="evaluation_start",
        )
    if evaluation_start < lot.opening_time:
        raise DomainError(
            "draw.evaluation_before_opening",
            _("评标开始时间不能早于开标时间。"),
            field="evaluation_start",
        )


# --- request, approval, rejection ---------------------------------------------------------


def draw_request_create(*, actor: User, lot: Lot, data: DrawRequestInput) -> DrawRequest:
    """An agent of the lot's agency requests a panel; it waits for a supervisor's approval.

    Refused unless the lot is between the close of bidding and its opening's
    end (``DRAW_LOT_STATES``), the request meets ER 9, the evaluation is
    ahead, and the lot has no other request pending, approved, running or
    complete.
    """
    _require_agent_of_lot(actor, lot)
    specialties = draw_request_validate(data)
    with transaction.atomic():
        # The lot's row serialises requests for the same lot.
        lot = Lot.objects.select_for_update(of=("self",)).select_related("tender").get(pk=lot.pk)
        now = timezone.now()
        _require_lot_state(lot)
        _require_evaluation_ahead(lot, data.evaluation_start, now)
        if DrawRequest.objects.filter(lot=lot, status__in=_OPEN_STATES).exists():
            raise DomainError(
                "draw.request_open", _("该标段已有进行中的专家抽取申请。"), status=409
            )
        request = DrawRequest.objects.create(
            lot=lot,
            requested_by=actor,
            evaluation_start=data.evaluation_start,
            evaluation_place=data.evaluation_place.strip(),
            locality=data.locality,
            tenderer_representatives=data.tenderer_representatives,
            response_minutes=_response_minutes(data),
            status=DrawStatus.PENDING,
            status_changed_at=now,
        )
        DrawItem.objects.bulk_create(
            [
                DrawItem(
                    request=request,
                    specialty=specialties[item.specialty_id],
                    members=item.members,
                    reserves=item.reserves,
                )
                for item in data.items
            ]
        )
        record(
            "experts.draw_request.created",
            actor=actor,
            obj=request,
            data={
                "items": sorted(
                    (
                        {
                            "specialty": specialties[item.specialty_id].code,
                            "members": item.members,
                            "reserves": item.reserves,
                        }
                        for item in data.items
                    ),
                    key=lambda entry: entry["specialty"],
                ),
                "evaluation_start": request.evaluation_start,
                "evaluation_place": request.evaluation_place,
                "locality": request.locality,
                "tenderer_representatives": request.tenderer_representatives,
                "response_minutes": request.response_minutes,
            },
        )
    return request


def draw_request_approve(*, actor: User, request: DrawRequest) -> DrawRequest:
    """A supervisor approves a pending request, and the platform commits to the draw's secret.

    The 32-byte secret is generated here and only its commitment is recorded
    in the audit chain (``experts.draw.committed``): from now on the secret is
    fixed, before anyone knows the pool at draw time, the chain head or the
    number the supervisor will type, so nobody can choose a secret to steer
    the draw (docs/draw.md §3).
    """
    _require_supervisor(actor)
    with transaction.atomic():
        request = _locked_request(request)
        if request.status != DrawStatus.PENDING:
            raise DomainError("draw.not_pending", _("该申请不在待审核状态。"), status=409)
        _require_lot_state(request.lot)
        now = timezone.now()
        secret = secrets.token_bytes(32)
        request.secret = secret.hex()
        request.secret_commitment = draw.commitment(secret)
        request.status = DrawStatus.APPROVED
        request.status_changed_at = now
        request.reviewed_by = actor
        request.reviewed_at = now
        request.save()
        record("experts.draw_request.approved", actor=actor, obj=request, data={})
        record(
            "experts.draw.committed",
            actor=actor,
            obj=request,
            data={"secret_commitment": request.secret_commitment, "version": draw.VERSION},
        )
    return request


def draw_request_reject(*, actor: User, request: DrawRequest, reason: str) -> DrawRequest:
    """A supervisor sends a pending request back with a reason; the agent may request again."""
    _require_supervisor(actor)
    reason = (reason or "").strip()
    if not reason:
        raise DomainError("field.required", _("请填写驳回理由。"), field="reason")
    if len(reason) > 2000:
        raise DomainError("field.too_long", _("驳回理由不能超过2000个字符。"), field="reason")
    with transaction.atomic():
        request = _locked_request(request)
        if request.status != DrawStatus.PENDING:
            raise DomainError("draw.not_pending", _("该申请不在待审核状态。"), status=409)
        now = timezone.now()
        request.status = DrawStatus.REJECTED
        request.status_changed_at = now
        request.reviewed_by = actor
        request.reviewed_at = now
        request.rejection_reason = reason
        request.save()
        record("experts.draw_request.rejected", actor=actor, obj=request, data={"reason": reason})
    return request


# --- the draw -----------------------------------------------------------------------------


def _new_credentials(count: int, used_codes: set[str]) -> list[tuple[str, str]]:
    """(token, reply code) pairs; reply codes distinct within the request so a reply is unambiguous."""
    pairs = []
    for _index in range(count):
        code = f"{secrets.randbelow(10**_REPLY_CODE_DIGITS):0{_REPLY_CODE_DIGITS}d}"
        while code in used_codes:
            code = f"{secrets.randbelow(10**_REPLY_CODE_DIGITS):0{_REPLY_CODE_DIGITS}d}"
        used_codes.add(code)
        pairs.append((secrets.token_urlsafe(32), code))
    return pairs


def _shortage_reason(item: DrawItem) -> str:
    return gettext(
        "“%(specialty)s”专业符合回避规则的专家不足%(members)d人，无法组成评标委员会。"
    ) % {
        "specialty": item.specialty.name,
        "members": item.members,
    }


def draw_run(*, actor: User, request: DrawRequest, supervisor_number: str) -> DrawRequest:
    """Run an approved draw, witnessed by the supervisor who types ``supervisor_number`` (1–12 digits).

    Under the request's row lock: apply the avoidance rules; freeze the
    eligible pool (canonical bytes and hash) and record it with every
    exclusion and its reason (one ``DrawPool`` row); read the head of the audit strand this transaction appends to (holding off that strand's other appenders); derive the seed
    from the committed secret, pool hash, chain head and number; pick every
    item's members and reserves in ``draw.initial_order``. Each item's first
    ``members`` picks are notified (``notifications.selections_notify``) with
    ``response_minutes`` to answer; the rest wait as reserves. When a
    specialty cannot even fill its members nobody is notified: the request
    becomes EXHAUSTED and the agent and supervisors are alerted
    (``notifications.panel_alert``). A request runs once.
    """
    _require_supervisor(actor)
    number = (supervisor_number or "").strip()
    if not _SUPERVISOR_NUMBER.fullmatch(number):
        raise DomainError(
            "draw.supervisor_number",
            _("请输入1至12位数字作为监督随机数。"),
            field="supervisor_number",
        )
    with transaction.atomic():
        _serialise_draws()
        request = _locked_request(request)
        if request.drawn_at is not None:
            raise DomainError("draw.already_run", _("该申请已完成抽取，不能重复抽取。"), status=409)
        if request.status != DrawStatus.APPROVED:
            raise DomainError(
                "draw.not_approved", _("该申请尚未经监督人员批准，不能抽取。"), status=409
            )
        lot = request.lot
        _require_lot_state(lot)
        now = timezone.now()
        _require_evaluation_ahead(lot, request.evaluation_start, now)
        items = list(request.items.select_related("specialty").order_by("specialty__code"))

        pool, exclusions = eligible_pool(request, now=now, items=items)
        canonical, frozen_hash = draw.freeze(pool)
        _record_pool(request, canonical, exclusions)
        chain_head = chain_head_for_update()
        seed = draw.derive_seed(
            secret=bytes.fromhex(request.secret),
            pool_hash=frozen_hash,
            chain_head=chain_head,
            supervisor_number=number,
        )
        drawing = draw.Drawing(seed=seed, pool=pool)
        drawing.replay(
            draw.initial_order(
                (item.specialty.code, item.members + item.reserves) for item in items
            )
        )
        picked_per_specialty = Counter(specialty for specialty, _code in drawing.picks)
        short = [item for item in items if picked_per_specialty[item.specialty.code] < item.members]

        request.pool_hash = frozen_hash
        request.chain_head = chain_head
        request.supervisor_number = number
        request.seed = seed.hex()
        request.drawn_by = actor
        request.drawn_at = now
        request.status_changed_at = now
        members: list[DrawSelection] = []
        if short:
            # Nobody is told anything: the draw is void and stays on record for the supervisors.
            request.status = DrawStatus.EXHAUSTED
            request.picks_made = 0
        else:
            request.status = DrawStatus.NOTIFYING
            members = _create_initial_selections(request, items, drawing.picks, now)
            request.picks_made = len(drawing.picks)
        request.save(
            update_fields=[
                "pool_hash",
                "chain_head",
                "supervisor_number",
                "seed",
                "drawn_by",
                "drawn_at",
                "status",
                "status_changed_at",
                "picks_made",
            ]
        )
        # A signed checkpoint of the audit tree once the draw is committed (its seed is in the chain).
        checkpoint_request(reason=CheckpointReason.DRAW, tender_id=request.lot.tender_id, lot_id=request.lot_id)
        record(
            "experts.draw.run",
            actor=actor,
            obj=request,
            data={
                "pool_hash": frozen_hash,
                "chain_head": chain_head,
                "supervisor_number": number,
                "secret_commitment": request.secret_commitment,
                "pool_sizes": {specialty: len(codes) for specialty, codes in pool.items()},
                "excluded": dict(sorted(Counter(exclusions.values()).items())),
                "members": len(members),
                "reserves": request.picks_made - len(members),
                "status": request.status,
            },
        )
        if short:
            reason = _shortage_reason(short[0])
            record(
                "experts.draw.exhausted",
                actor=actor,
                obj=request,
                data={"specialty": short[0].specialty.code, "at": "draw"},
            )
            notifications.panel_alert(request, reason=reason)
        else:
            notifications.selections_notify(members)
    return request


def _record_pool(request: DrawRequest, canonical: bytes, exclusions: dict[str, str]) -> None:
    """Store what the draw froze: the pool's canonical bytes, and every exclusion by reason (one row).

    Written even when nobody was excluded, so that the supervisors' page can
    tell "nobody excluded" from "not drawn yet".
    """
    by_reason: dict[str, list[str]] = {}
    for code, reason in exclusions.items():
        by_reason.setdefault(reason, []).append(code)
    DrawPool.objects.create(
        request=request,
        canonical=canonical.decode("utf-8"),
        excluded={reason: sorted(codes) for reason, codes in sorted(by_reason.items())},
    )


def _create_initial_selections(
    request: DrawRequest, items: list[DrawItem], picks: list[tuple[str, str]], now: dt.datetime
) -> list[DrawSelection]:
    """One selection per pick, in pick order; each item's first ``members`` notified. Returns those."""
    item_by_code = {item.specialty.code: item for item in items}
    expert_ids = dict(
        Expert.objects.filter(code__in=[code for _s, code in picks]).values_list("code", "pk")
    )
    respond_by = now + dt.timedelta(minutes=request.response_minutes)
    credentials = _new_credentials(len(picks), set())
    seen: Counter[str] = Counter()
    rows = []
    for position, ((specialty, code), (token, reply_code)) in enumerate(
        zip(picks, credentials, strict=True), 1
    ):
        item = item_by_code[specialty]
        seen[specialty] += 1
        notified = seen[specialty] <= item.members
        rows.append(
            DrawSelection(
                request=request,
                item=item,
                expert_id=expert_ids[code],
                position=position,
                status=SelectionStatus.NOTIFIED if notified else SelectionStatus.RESERVE,
                notified_at=now if notified else None,
                respond_by=respond_by if notified else None,
                token=token,
                reply_code=reply_code,
            )
        )
    # Both databases hand back the new keys (RETURNING), all the caller needs:
    # ``notifications.selections_notify`` reads what it writes from the database.
    DrawSelection.objects.bulk_create(rows)
    return [row for row in rows if row.status == SelectionStatus.NOTIFIED]


# --- answers and replacements -------------------------------------------------------------


def _locked_selection(selection: DrawSelection) -> tuple[DrawRequest, DrawSelection]:
    """The selection's request, then the selection, each under its row lock (always in that order)."""
    request = (
        DrawRequest.objects.select_for_update(of=("self",))
        .select_related("lot__tender")
        .get(pk=selection.request_id)
    )
    locked = (
        DrawSelection.objects.select_for_update(of=("self",))
        .select_related("item__specialty")
        .get(pk=selection.pk)
    )
    return request, locked


def _require_answerer(actor: User | None, selection: DrawSelection) -> None:
    """The caller checked the link or reply code (actor None), or the expert answers signed in."""
    if actor is None:
        return
    owner = Expert.objects.filter(pk=selection.expert_id).values_list("user_id", flat=True).first()
    if owner is None or owner != actor.pk:
        raise NotPermitted("permission.selection", _("只有被抽取的专家本人可以答复。"))


def _require_open_invitation(selection: DrawSelection) -> None:
    if selection.status != SelectionStatus.NOTIFIED:
        raise DomainError("draw.already_answered", _("该抽取通知已答复或已失效。"), status=409)


def _selection_audit(selection: DrawSelection) -> dict[str, object]:
    return {"position": selection.position, "specialty": selection.item.specialty.code}


def selection_confirm(
    *, selection: DrawSelection, channel: str = "", actor: User | None = None
) -> DrawSelection:
    """The expert confirms they will sit on the panel.

    The caller has checked the single-use link or the reply code (``actor``
    None), or ``actor`` is the expert's own account. Refused once answered,
    after ``respond_by`` (no answer counts as a decline), or when the draw no
    longer waits for answers. When every item then has its members
    confirmed, the request is COMPLETE and the agent and supervisors are told.
    """
    _require_answerer(actor, selection)
    with transaction.atomic():
        request, selection = _locked_selection(selection)
        _require_open_invitation(selection)
        if request.status != DrawStatus.NOTIFYING:
            raise DomainError(
                "draw.not_notifying", _("本次专家抽取已结束，无需再答复。"), status=409
            )
        now = timezone.now()
        if selection.respond_by is not None and now > selection.respond_by:
            raise DomainError(
                "draw.response_window_closed", _("答复时限已过，逾期未答复视为不参加。"), status=409
            )
        selection.status = SelectionStatus.CONFIRMED
        selection.responded_at = now
        selection.response_channel = channel[:20]
        selection.save(update_fields=["status", "responded_at", "response_channel"])
        record(
            "experts.selection.confirmed",
            actor=actor,
            obj=selection,
            tender_id=request.lot.tender_id,
            lot_id=request.lot_id,
            data={**_selection_audit(selection), "channel": selection.response_channel},
        )
        _complete_if_full(request, actor, now)
    return selection


def selection_decline(
    *,
    selection: DrawSelection,
    status: str = SelectionStatus.DECLINED,
    channel: str = "",
    actor: User | None = None,
) -> DrawSelection:
    """The expert declines (``DECLINED``), or the answer window passed (``NO_ANSWER``); a replacement follows.

    ``NO_ANSWER`` is recorded by the platform's expiry sweep and only once
    ``respond_by`` has passed. While the draw waits for answers, the item's
    next reserve (lowest position) is notified; with no reserve left the
    draw's stream continues (docs/draw.md §6); when the specialty's pool is
    exhausted the request becomes EXHAUSTED and ``notifications.panel_alert``
    is called. Returns the declined selection.
    """
    if status not in (SelectionStatus.DECLINED, SelectionStatus.NO_ANSWER):
        raise ValueError("selection_decline takes DECLINED or NO_ANSWER")
    _require_answerer(actor, selection)
    with transaction.atomic():
        request, selection = _locked_selection(selection)
        _require_open_invitation(selection)
        now = timezone.now()
        if status == SelectionStatus.NO_ANSWER and (
            selection.respond_by is None or now < selection.respond_by
        ):
            raise DomainError("draw.response_window_open", _("答复时限尚未届满。"), status=409)
        if (
            status == SelectionStatus.DECLINED
            and selection.respond_by is not None
            and now > selection.respond_by
        ):
            # Past the window the expiry sweep records NO_ANSWER; a late reply does not rewrite that.
            raise DomainError(
                "draw.response_window_closed", _("答复时限已过，逾期未答复视为不参加。"), status=409
            )
        selection.status = status
        selection.responded_at = now
        selection.response_channel = channel[:20]
        selection.save(update_fields=["status", "responded_at", "response_channel"])
        record(
            f"experts.selection.{status}",
            actor=actor,
            obj=selection,
            tender_id=request.lot.tender_id,
            lot_id=request.lot_id,
            data={**_selection_audit(selection), "channel": selection.response_channel},
        )
        if request.status == DrawStatus.NOTIFYING:
            _replace(request, selection, actor, now)
    return selection


def _replace(
    request: DrawRequest, declined: DrawSelection, actor: User | None, now: dt.datetime
) -> None:
    """Fill the place ``declined`` left: the next reserve, else the stream, else the panel is exhausted.

    Caller holds the request's row lock.
    """
    item = declined.item
    respond_by = now + dt.timedelta(minutes=request.response_minutes)
    replacement = (
        request.selections.select_for_update(of=("self",))
        .filter(item=item, status=SelectionStatus.RESERVE)
        .order_by("position")
        .first()
    )
    source = "reserve"
    if replacement is not None:
        replacement.status = SelectionStatus.NOTIFIED
        replacement.notified_at = now
        replacement.respond_by = respond_by
        replacement.save(update_fields=["status", "notified_at", "respond_by"])
    else:
        source = "stream"
        code = _continue_stream(request, item)
        if code is None:
            request.status = DrawStatus.EXHAUSTED
            request.status_changed_at = now
            request.save(update_fields=["status", "status_changed_at"])
            record(
                "experts.draw.exhausted",
                actor=actor,
                obj=request,
                data={
                    "specialty": item.specialty.code,
                    "at": "replacement",
                    "replaced_position": declined.position,
                },
            )
            notifications.panel_alert(request, reason=_shortage_reason(item))
            return
        used = set(request.selections.values_list("reply_code", flat=True))
        ((token, reply_code),) = _new_credentials(1, used)
        replacement = DrawSelection.objects.create(
            request=request,
            item=item,
            expert=Expert.objects.get(code=code),
            position=request.picks_made + 1,
            status=SelectionStatus.NOTIFIED,
            notified_at=now,
            respond_by=respond_by,
            token=token,
            reply_code=reply_code,
        )
        request.picks_made += 1
        request.save(update_fields=["picks_made"])
    record(
        "experts.selection.replaced",
        actor=actor,
        obj=request,
        data={
            "specialty": item.specialty.code,
            "replaced_position": declined.position,
            "position": replacement.position,
            "source": source,
        },
    )
    notifications.selections_notify([replacement])


def _continue_stream(request: DrawRequest, item: DrawItem) -> str | None:
    """The stream's next expert for ``item``, exactly as docs/draw.md §6 and the verifier compute it.

    Rebuilds the drawing from the frozen pool and the seed, replays the
    initial order and every later pick in position order, checking each
    against the stored selections, then picks once more.
    """
    drawing = draw.Drawing(seed=bytes.fromhex(request.seed), pool=request.frozen.pool())
    items = request.items.select_related("specialty")
    drawing.replay(draw.initial_order((i.specialty.code, i.members + i.reserves) for i in items))
    stored = list(
        request.selections.order_by("position").values_list(
            "position", "item__specialty__code", "expert__code"
        )
    )
    initial = len(drawing.picks)
    if [(specialty, code) for _p, specialty, code in stored[:initial]] != drawing.picks:
        raise RuntimeError(f"draw {request.pk}: stored selections differ from the replayed draw")
    for position, specialty, code in stored[initial:]:
        if drawing.pick(specialty) != code:
            raise RuntimeError(
                f"draw {request.pk}: stored pick {position} differs from the replayed stream"
            )
    return drawing.pick(item.specialty.code)


def _complete_if_full(request: DrawRequest, actor: User | None, now: dt.datetime) -> None:
    """COMPLETE once every item has its members confirmed. Caller holds the request's row lock."""
    confirmed = dict(
        request.selections.filter(status=SelectionStatus.CONFIRMED)
        .values("item_id")
        .annotate(n=Count("id"))
        .values_list("item_id", "n")
    )
    items = list(request.items.all())
    if any(confirmed.get(item.pk, 0) < item.members for item in items):
        return
    request.status = DrawStatus.COMPLETE
    request.status_changed_at = now
    request.save(update_fields=["status", "status_changed_at"])
    record(
        "experts.draw.complete",
        actor=actor,
        obj=request,
        data={"members": sum(item.members for item in items)},
    )
    title = gettext("评标委员会专家已全部确认：%(lot)s") % {"lot": str(request.lot)}
    body = gettext("评标时间：%(start)s。专家名单在中标结果公布前保密。") % {
        "start": timezone.localtime(request.evaluation_start).strftime("%Y-%m-%d %H:%M")
    }
    notify_users(
        [request.requested_by],
        title=title,
        body=body,
        url=reverse("experts:draw_status", args=[request.pk]),
    )
    supervisors = User.objects.filter(pk__in={request.reviewed_by_id, request.drawn_by_id} - {None})
    notify_users(
        supervisors, title=title, body=body, url=reverse("experts:draw_watch", args=[request.pk])
    )


# --- publication --------------------------------------------------------------------------


def draw_reveal(*, actor: User, request: DrawRequest) -> DrawRequest:
    """Publish a complete draw once the lot is awarded: the secret and seed become public.

    Supervisors and platform administrators only. From then on the panel's
    names are visible (ER 8) and ``experts.verification.draw_record`` gives the
    record that ``python -m experts.verify_draw`` checks. The reveal event
    carries the secret, the seed and the record's SHA-256, so the chain
    itself holds what is needed to verify.
    """
    from experts.verification import draw_record, record_digest

    if not actor.has_role(Role.SUPERVISOR, Role.PLATFORM_ADMIN):
        raise NotPermitted("permission.role", _("只有监督人员或平台管理员可以公布抽取结果。"))
    with transaction.atomic():
        request = _locked_request(request)
        if request.lot.status != LotStatus.AWARDED:
            raise DomainError(
                "draw.not_awarded", _("中标结果确定后才能公布评标专家抽取结果。"), status=409
            )
        if request.status != DrawStatus.COMPLETE:
            raise DomainError(
                "draw.not_complete", _("只有已组建评标委员会的抽取才能公布。"), status=409
            )
        if request.revealed_at is not None:
            raise DomainError("draw.already_revealed", _("抽取结果已公布。"), status=409)
        request.revealed_at = timezone.now()
        request.save(update_fields=["revealed_at"])
        record(
            "experts.draw.revealed",
            actor=actor,
            obj=request,
            data={
                "secret": request.secret,
                "seed": request.seed,
                "pool_hash": request.pool_hash,
                "record_sha256": record_digest(draw_record(request)),
            },
        )
    return request
