"""Reads of the audit chain, with who may read what applied here.

Supervisors and platform administrators browse the chain. Events marked
``until_bid_deadline`` (who obtained the tender documents, EB 21) are hidden
entirely from everyone but platform administrators until bidding has closed
for their tender: not listed, not counted, not found. Events marked
``bids_until_deadline`` (who submitted, replaced or withdrew a bid, EB 27) are
hidden the same way from platform administrators too.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from django.db import connection
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import Role, User
from audit.chain import ROW_FIELDS, ChainReport, verify_rows
from audit.models import AuditEvent, Sensitivity
from core.errors import NotFound, NotPermitted
from tendering.models import Lot, Tender
from tendering.selectors import sealed_tender_ids


def chain_verify(*, chunk_size: int = 5000, jobs: int = 1) -> ChainReport:
    """Walk every strand in position order: the report of ``verify_rows`` over all of them.

    On PostgreSQL the rows are streamed with COPY and checked by the fast walk,
    which hands anything it cannot certify back to ``verify_rows``
    (``audit.verify_db``; ``jobs`` worker processes). Elsewhere the rows are
    read ``chunk_size`` at a time, in constant memory.
    """
    if connection.vendor == "postgresql":
        from audit.verify_db import chain_verify_postgresql

        return chain_verify_postgresql(jobs=jobs, chunk_size=chunk_size)
    rows = AuditEvent.objects.order_by("strand", "strand_seq").values(*ROW_FIELDS).iterator(chunk_size=chunk_size)
    return verify_rows(rows)


def chain_head() -> AuditEvent | None:
    return AuditEvent.objects.order_by("-seq").first()


def events_for_lot(*, lot_id: int, tender_id: int) -> QuerySet[AuditEvent]:
    """Events about the lot itself and about its tender as a whole."""
    return AuditEvent.objects.filter(Q(lot_id=lot_id) | Q(tender_id=tender_id, lot_id__isnull=True))


# --- browsing (supervisors and platform administrators) --------------------------------

AUDITOR_ROLES = (Role.SUPERVISOR, Role.PLATFORM_ADMIN)

# Chinese labels for the actions the code records; anything else shows its dotted name.
ACTION_LABELS: dict[str, str] = {
    "accounts.organisation.created": _("登记组织"),
    "accounts.user.created": _("创建用户"),
    "accounts.login.succeeded": _("登录成功"),
    "accounts.login.failed": _("登录失败"),
    "accounts.login.locked_out": _("登录失败次数过多，已锁定"),
    "accounts.logout": _("退出登录"),
    "tendering.tender.created": _("创建招标公告"),
    "tendering.tender.updated": _("修改招标公告"),
    "tendering.tender.published": _("发布招标公告"),
    "tendering.tender.cancelled": _("终止招标"),
    "tendering.lot.created": _("新增标段"),
    "tendering.lot.updated": _("修改标段"),
    "tendering.lot.deleted": _("删除标段"),
    "tendering.lot.published": _("标段发布"),
    "tendering.lot.cancelled": _("终止标段"),
    "tendering.lot.deadline_moved": _("变更投标截止时间"),
    "tendering.lot.bidding_closed": _("投标截止"),
    "tendering.lot.opening_started": _("开标开始"),
    "tendering.lot.opened": _("开标结束"),
    "tendering.lot.evaluation_started": _("评标开始"),
    "tendering.lot.failed": _("流标"),
    "tendering.lot.awarded": _("定标"),
    "tendering.document.uploaded": _("上传招标文件"),
    "tendering.amendment.published": _("发布澄清或修改"),
    "tendering.documents.obtained": _("获取招标文件"),
    "experts.draw_request.created": _("申请抽取评标专家"),
    "experts.draw_request.approved": _("批准专家抽取申请"),
    "experts.draw_request.rejected": _("驳回专家抽取申请"),
    "experts.draw.committed": _("提交随机秘密承诺值"),
    "experts.draw.run": _("抽取评标专家"),
    "experts.draw.exhausted": _("符合条件的专家不足"),
    "experts.draw.complete": _("评标委员会组建完成"),
    "experts.draw.revealed": _("公布专家抽取结果"),
    "experts.selection.confirmed": _("专家确认参加"),
    "experts.selection.declined": _("专家拒绝参加"),
    "experts.selection.no_answer": _("专家超时未答复"),
    "experts.selection.replaced": _("递补评标专家"),
}


def action_label(action: str) -> str:
    label = ACTION_LABELS.get(action)
    return str(label) if label is not None else action


def can_browse_audit(user: User) -> bool:
    return user.is_authenticated and user.has_role(*AUDITOR_ROLES)


def require_auditor(user: User) -> None:
    if not can_browse_audit(user):
        raise NotPermitted("permission.role", _("只有监督人员和平台管理员可以查看审计链。"))


@dataclass(frozen=True, kw_only=True)
class EventFilter:
    """What the supervisor narrowed the chain to; every field optional."""

    tender_id: int | None = None
    # The lot's own events and the events of its tender as a whole (events_for_lot).
    lot_id: int | None = None
    actor: str = ""  # username as recorded, exact
    action: str = ""  # dotted prefix: "tendering.lot" matches "tendering.lot.published"
    time_from: dt.datetime | None = None
    time_to: dt.datetime | None = None  # inclusive


def _expert_user_ids(username: str) -> list[int]:
    from experts.models import Expert

    return list(Expert.objects.filter(user__username=username, user__isnull=False).values_list("user_id", flat=True))


def _lots_publishing(user_ids: list[int]) -> list[int]:
    """Lots whose revealed draw has these experts on its panel (experts.selectors.revealed_panel)."""
    from experts.models import DrawSelection, SelectionStatus

    return list(
        DrawSelection.objects.filter(
            expert__user_id__in=user_ids,
            status=SelectionStatus.CONFIRMED,
            request__revealed_at__isnull=False,
        ).values_list("request__lot_id", flat=True)
    )


def _apply_filter(qs: QuerySet[AuditEvent], f: EventFilter) -> QuerySet[AuditEvent]:
    if f.tender_id is not None:
        qs = qs.filter(tender_id=f.tender_id)
    if f.lot_id is not None:
        tender_id = Lot.objects.filter(pk=f.lot_id).values_list("tender_id", flat=True).first()
        if tender_id is None:  # a deleted draft lot: its own events are all there is
            qs = qs.filter(lot_id=f.lot_id)
        else:
            qs = qs.filter(pk__in=events_for_lot(lot_id=f.lot_id, tender_id=tender_id).values("pk"))
    if f.actor:
        qs = qs.filter(actor_name=f.actor)
        # Searching for an expert by account name must not list the lots they sit on before the
        # reveal (ER 8): only the events of lots whose revealed panel names them are found.
        expert_user_ids = _expert_user_ids(f.actor)
        if expert_user_ids:
            qs = qs.exclude(
                Q(actor_id__in=expert_user_ids)
                & ~Q(lot_id__in=_lots_publishing(expert_user_ids))
            )
    if f.action:
        qs = qs.filter(action__startswith=f.action)
    if f.time_from is not None:
        qs = qs.filter(created_at__gte=f.time_from)
    if f.time_to is not None:
        qs = qs.filter(created_at__lte=f.time_to)
    return qs


def _without_sealed(
    qs: QuerySet[AuditEvent], now: dt.datetime, *, levels: tuple[str, ...]
) -> QuerySet[AuditEvent]:
    """``qs`` without the events of sensitivity in ``levels`` whose tender is still sealed."""
    confidential = Q(sensitivity__in=levels)
    referenced = qs.filter(confidential, tender_id__isnull=False).values("tender_id")
    sealed = sealed_tender_ids(tender_ids=referenced, now=now)
    return (
        # A sensitivity this code does not know stays hidden (fail closed).
        qs.filter(sensitivity__in=Sensitivity.values)
        .exclude(confidential & Q(tender_id__isnull=True))
        .exclude(confidential & Q(tender_id__in=sealed))
        # A tender that no longer exists cannot say its bidding closed.
        .exclude(confidential & ~Q(tender_id__in=Tender.objects.values("pk")))
    )


def events_visible_to(
    *, user: User, filters: EventFilter | None = None, now: dt.datetime | None = None
) -> QuerySet[AuditEvent]:
    """The chain as ``user`` may browse it, newest first.

    Supervisors and platform administrators only (``NotPermitted`` otherwise).
    Confidential events of tenders still open for bidding are left out of the
    queryset itself, so they are neither listed nor counted: obtain events for
    everyone but platform administrators, bid events for everyone.
    """
    require_auditor(user)
    qs = _apply_filter(AuditEvent.objects.all(), filters or EventFilter())
    if user.has_role(Role.PLATFORM_ADMIN):
        # Who obtained the documents is the platform's own audit (EB 21); who bid is nobody's (EB 27).
        qs = _without_sealed(qs, now or timezone.now(), levels=(Sensitivity.BIDS_UNTIL_DEADLINE,))
    else:
        qs = _without_sealed(
            qs,
            now or timezone.now(),
            levels=(Sensitivity.UNTIL_BID_DEADLINE, Sensitivity.BIDS_UNTIL_DEADLINE),
        )
    return qs.order_by("-seq")


@dataclass(frozen=True, slots=True)
class EventDetail:
    event: AuditEvent
    previous_seq: int | None  # the nearest earlier record the user may see
    next_seq: int | None  # the nearest later record the user may see


def event_detail_for(*, user: User, seq: int, now: dt.datetime | None = None) -> EventDetail:
    """One record with its visible neighbours; ``NotFound`` if hidden or absent."""
    visible = events_visible_to(user=user, now=now)
    event = visible.filter(seq=seq).first()
    if event is None:
        raise NotFound("audit.event_not_found", _("审计记录不存在。"))
    return EventDetail(
        event=event,
        previous_seq=visible.filter(seq__lt=seq).order_by("-seq").values_list("seq", flat=True).first(),
        next_seq=visible.filter(seq__gt=seq).order_by("seq").values_list("seq", flat=True).first(),
    )


def experts_unpublished(*, lot_ids: Iterable[int], actor_ids: set[int]) -> set[int]:
    """The actors among ``actor_ids`` who are experts not published for these lots (ER 8).

    An expert who answers an invitation signed in is the actor of the answer
    (and of what follows from it: the replacement, the panel's completion),
    and of everything they do in the evaluation workspace. Published means on
    the panel of a revealed draw of these lots, the very people
    ``experts.selectors.revealed_panel`` names; every other expert (one who
    declined, or any expert of a draw not revealed) stays unnamed.
    """
    from experts.models import DrawRequest, Expert
    from experts.selectors import revealed_panel

    if not actor_ids:
        return set()
    experts = set(Expert.objects.filter(user_id__in=actor_ids).values_list("user_id", flat=True))
    if not experts:
        return set()
    published: set[int] = set()
    for request in DrawRequest.objects.filter(lot_id__in=list(lot_ids), revealed_at__isnull=False):
        published |= {
            selection.expert.user_id
            for selection in revealed_panel(request=request)
            if selection.expert.user_id is not None
        }
    return experts - published


def masked_event_seqs(events: Iterable[AuditEvent]) -> set[int]:
    """The events among ``events`` whose actor is an expert not yet published for the event's lot (ER 8).

    The audit browser shows such an event's operator as "评标专家（结果公布前保密）"
    instead of the account: who sits on a panel stays confidential until the
    draw is revealed with the result, even from those who browse the chain.
    An expert's event outside any lot is masked too (no reveal names them).
    """
    by_lot: dict[int | None, list[AuditEvent]] = {}
    for event in events:
        if event.actor_id is not None:
            by_lot.setdefault(event.lot_id, []).append(event)
    masked: set[int] = set()
    for lot_id, group in by_lot.items():
        actors = {event.actor_id for event in group if event.actor_id is not None}
        hidden = experts_unpublished(lot_ids=[lot_id] if lot_id is not None else [], actor_ids=actors)
        masked |= {event.seq for event in group if event.actor_id in hidden}
    return masked


def event_is_visible(*, user: User, seq: int) -> bool:
    return events_visible_to(user=user).filter(seq=seq).exists()


def chain_verify_for(*, user: User) -> ChainReport:
    """Verify the whole chain on behalf of a supervisor or platform administrator."""
    require_auditor(user)
    return chain_verify()


def tender_id_for_code(*, code: str) -> int | None:
    """The tender a project code (SB2026000123) names, for the filter form."""
    return Tender.objects.filter(code=code.strip()).values_list("pk", flat=True).first()


def lots_of_tender(*, tender_id: int) -> QuerySet[Lot]:
    """The lots to offer in the filter once a tender is chosen."""
    return Lot.objects.filter(tender_id=tender_id).order_by("number")
