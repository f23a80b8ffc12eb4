"""Reads of the expert pool and the draw, with who may see what applied here.

The first part is the draw's own reading: who the parties of a lot are, and
which experts of the requested specialties may be drawn (the avoidance rules
of ER 12, docs/draw.md §2). It runs inside ``experts.services.draw_run`` and
is one set-based query, never one query per expert: the pool is large
(benchmarked at 100,000 experts, bench/draw.py) and the draw must stay fast
while it holds the request's row lock.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from django.conf import settings
from django.db import connection, models
from django.db.models import Case, Count, Q, QuerySet, Value, When
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import Organisation
from core.errors import DomainError
from experts import draw_copy
from experts.models import (
    DrawItem,
    DrawRequest,
    DrawSelection,
    ExclusionReason,
    Expert,
    ExpertConflict,
    ExpertSpecialty,
    ExpertStatus,
    ExpertUnavailability,
    Locality,
    SelectionStatus,
)
from tendering.models import DocumentObtain, Lot, Tender

# --- the draw: parties and avoidance (ER 12) -----------------------------------------

# The order in which avoidance rules are tried; an excluded expert is recorded
# with the first rule that applies (docs/draw.md §2).
AVOIDANCE_ORDER: tuple[str, ...] = (
    ExclusionReason.EMPLOYER_PARTY,
    ExclusionReason.DECLARED_CONFLICT,
    ExclusionReason.NOT_ACTIVE,
    ExclusionReason.UNAVAILABLE,
    ExclusionReason.RECENT_SAME_TENDERER,
    ExclusionReason.MONTHLY_LIMIT,
    ExclusionReason.LOCALITY,
)

# A selection that puts the expert on a panel, or may still do so.
_ENGAGED = (SelectionStatus.NOTIFIED, SelectionStatus.CONFIRMED)


def lot_parties(lot: Lot) -> QuerySet[Organisation]:
    """Everyone with a stake in the lot: its tenderer, its agency and its bidders.

    "Bidders" are all the organisations that obtained the tender documents:
    only they may bid (``bidding.services`` refuses anyone else), so they
    include every bidder, and taking them all can only exclude more
    experts — whoever prepared a bid and then withdrew it, or never sent
    one, still knows the lot. Read directly rather than through
    ``tendering.selectors``: this is the platform's own avoidance check (and
    the names no message to an expert may carry), not a disclosure to a
    user, and draws happen only after bidding has closed (EB 21 no longer
    applies then). The one definition of the parties: avoidance and the
    masking of messages both read it.
    """
    tender = Tender.objects.filter(pk=lot.tender_id)
    return Organisation.objects.filter(
        Q(pk__in=tender.values("tenderer_id"))
        | Q(pk__in=tender.values("agency_id"))
        | Q(pk__in=DocumentObtain.objects.filter(tender_id=lot.tender_id).values("organisation_id"))
    )


def lot_party_credit_codes(lot: Lot) -> frozenset[str]:
    """The credit codes of the lot's parties (``lot_parties``), which avoidance compares: one query."""
    return frozenset(lot_parties(lot).values_list("credit_code", flat=True))


def _month_bounds(moment: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """The calendar month (platform time zone) holding ``moment``, as [start, end)."""
    local = timezone.localtime(moment)
    start = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    # Aware arithmetic on a zoneinfo time is wall-clock arithmetic: midnight stays midnight.
    return start, (start + dt.timedelta(days=32)).replace(day=1)


def _table(model: type[models.Model]) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def _in(values: list[object]) -> str:
    """``%s, %s, …`` for ``values``; ``NULL`` for none (``x IN (NULL)`` holds for no row)."""
    return ", ".join(["%s"] * len(values)) or "NULL"


_CANDIDATE_INDEX = "expert_specialty_draw"  # experts.models.ExpertSpecialty.Meta.indexes
# Between the entries of a specialty: a code never holds a space
# (pool.CODE_PATTERN), and the count read with each specialty proves it.
_SEPARATOR = " "
# Each entry is a one-character tag, then the expert's code: "0" eligible,
# "1" to "7" excluded by that rule of AVOIDANCE_ORDER.
_ELIGIBLE = "0"
_TAGS = {str(rank): ExclusionReason(reason).value for rank, reason in enumerate(AVOIDANCE_ORDER, 1)}
_TAG_OF = {reason: tag for tag, reason in _TAGS.items()}


def _avoidance_sql(
    request: DrawRequest,
    tender: Tender,
    parties: list[str],
    specialty_ids: list[int],
    now: dt.datetime,
) -> tuple[str, list[object]]:
    """The one query of ``eligible_pool``: (specialty id, count, tagged codes) per requested specialty.

    Every candidate is a specialty row of a requested specialty, read from
    the one index that holds all the columns used (``ExpertSpecialty``'s
    copy of the expert's code, status, region and employer: an index-only
    scan, never the expert table). Its tag is a CASE over the rules in
    ``AVOIDANCE_ORDER``, so the first rule that applies is the one given;
    the rules that need other tables are ``IN`` sub-selects that do not
    depend on the candidate, computed once by either database (a hashed
    sub-plan on PostgreSQL, a temporary index on SQLite) and then probed,
    each driven by an index and returning the few hundred experts it
    catches. Each specialty's entries (tag and code) come back joined into
    one string: three rows rather than 22,000 (bench/draw.py), which spares
    the database driver and Python a tuple per candidate. Grouped by the
    specialty alone, in the index's order: grouping by reason as well made
    both databases sort every candidate first.
    """
    config = settings.EXPERT_DRAW
    ops = connection.ops
    quote = ops.quote_name
    evaluation_day = ops.adapt_datefield_value(timezone.localdate(request.evaluation_start))
    month_start, month_end = (
        ops.adapt_datetimefield_value(moment) for moment in _month_bounds(request.evaluation_start)
    )
    selections, requests = _table(DrawSelection), _table(DrawRequest)
    tag = _TAG_OF
    # The tags are this module's own one-character literals, not user input.
    rules: list[str] = [
        f"WHEN l.employer_credit_code IN ({_in(parties)}) "
        f"THEN '{tag[ExclusionReason.EMPLOYER_PARTY]}'",
        f"WHEN l.expert_id IN (SELECT c.expert_id FROM {_table(ExpertConflict)} c "
        f"WHERE c.credit_code IN ({_in(parties)})) "
        f"THEN '{tag[ExclusionReason.DECLARED_CONFLICT]}'",
        f"WHEN l.status <> %s THEN '{tag[ExclusionReason.NOT_ACTIVE]}'",
        f"WHEN l.expert_id IN (SELECT u.expert_id FROM {_table(ExpertUnavailability)} u "
        f"WHERE u.{quote('start')} <= %s AND u.{quote('end')} >= %s) "
        f"THEN '{tag[ExclusionReason.UNAVAILABLE]}'",
    ]
    params: list[object] = [
        *parties,
        *parties,
        ExpertStatus.ACTIVE.value,
        evaluation_day,
        evaluation_day,
    ]
    if config["RECENT_SAME_TENDERER_DAYS"] > 0:
        since = now - dt.timedelta(days=config["RECENT_SAME_TENDERER_DAYS"])
        rules.append(
            f"WHEN l.expert_id IN (SELECT s.expert_id FROM {selections} s "
            "WHERE s.request_id <> %s AND s.status IN (%s, %s) AND s.notified_at >= %s "
            f"AND s.request_id IN (SELECT r.id FROM {requests} r "
            f"INNER JOIN {_table(Lot)} lo ON lo.id = r.lot_id "
            f"INNER JOIN {_table(Tender)} t ON t.id = lo.tender_id WHERE t.tenderer_id = %s)) "
            f"THEN '{tag[ExclusionReason.RECENT_SAME_TENDERER]}'"
        )
        params += [
            request.pk,
            *(status.value for status in _ENGAGED),
            ops.adapt_datetimefield_value(since),
            tender.tenderer_id,
        ]
    rules.append(
        f"WHEN l.expert_id IN (SELECT s.expert_id FROM {selections} s "
        "WHERE s.request_id <> %s AND s.status = %s AND s.request_id IN ("
        f"SELECT r.id FROM {requests} r WHERE r.evaluation_start >= %s AND r.evaluation_start < %s"
        ") GROUP BY s.expert_id HAVING COUNT(*) >= %s) "
        f"THEN '{tag[ExclusionReason.MONTHLY_LIMIT]}'"
    )
    params += [
        request.pk,
        SelectionStatus.CONFIRMED.value,
        month_start,
        month_end,
        config["MONTHLY_LIMIT"],
    ]
    if request.locality == Locality.LOCAL:
        rules.append(f"WHEN l.region <> %s THEN '{tag[ExclusionReason.LOCALITY]}'")
        params.append(tender.region)
    elif request.locality == Locality.REMOTE:
        rules.append(f"WHEN l.region = %s THEN '{tag[ExclusionReason.LOCALITY]}'")
        params.append(tender.region)
    entry = f"(CASE {' '.join(rules)} ELSE '{_ELIGIBLE}' END) || l.code"
    # SQLite's planner, without statistics, may take the narrower specialty
    # index and read each row by key: name the covering one.
    hint = f" INDEXED BY {_CANDIDATE_INDEX}" if connection.vendor == "sqlite" else ""
    joined = (
        f"group_concat({entry}, '{_SEPARATOR}')"
        if connection.vendor == "sqlite"
        else f"string_agg({entry}, '{_SEPARATOR}')"
    )
    sql = (
        f"SELECT l.specialty_id, COUNT(*), {joined} "
        f"FROM {_table(ExpertSpecialty)} l{hint} "
        f"WHERE l.specialty_id IN ({_in(specialty_ids)}) GROUP BY l.specialty_id"
    )
    return sql, [*params, *specialty_ids]


def require_draw_copy() -> None:
    """Refuse to draw unless the database keeps the candidates' copy in step (``experts.draw_copy``)."""
    if not draw_copy.installed(connection):
        raise DomainError(
            "draw.pool_copy_missing",
            _("专家库的抽取数据未就绪（需要执行数据库迁移），暂时无法抽取，请联系平台管理员。"),
            status=503,
        )


def eligible_pool(
    request: DrawRequest,
    *,
    now: dt.datetime | None = None,
    items: Sequence[DrawItem] | None = None,
) -> tuple[dict[str, list[str]], dict[str, str]]:
    """The experts who may be drawn for ``request``, and why every other candidate may not.

    Candidates are the experts holding at least one of the request's
    specialties (the exact specialty, not its children). Returns

    - the pool: ``{specialty code: sorted expert codes}`` for every requested
      specialty (an empty list when nobody is left), ready to freeze;
    - the exclusions: ``{expert code: reason}``, one reason per candidate
      that was left out, the first of ``AVOIDANCE_ORDER`` that applies.

    One query answers every rule (``_avoidance_sql``), after a check that
    the copy it reads is kept (``require_draw_copy``, ``DomainError``
    ``draw.pool_copy_missing`` otherwise). ``now`` anchors the "recently
    drawn for the same tenderer" window (default: the server clock);
    ``items``, the request's items with their specialties, spares reading
    them again when the caller has them.
    """
    now = now or timezone.now()
    require_draw_copy()
    tender = request.lot.tender
    parties = sorted(lot_party_credit_codes(request.lot))
    if items is None:
        items = list(request.items.select_related("specialty"))
    specialty_codes = {item.specialty_id: item.specialty.code for item in items}
    sql, params = _avoidance_sql(request, tender, parties, sorted(specialty_codes), now)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()

    pool: dict[str, list[str]] = {code: [] for code in specialty_codes.values()}
    exclusions: dict[str, str] = {}
    for specialty_id, count, joined in rows:
        entries = joined.split(_SEPARATOR)
        if len(entries) != count:
            raise RuntimeError(
                f"draw {request.pk}: an expert code of specialty {specialty_id} holds a space"
            )
        # The scan reads the index in code order: sorting is a pass over a sorted list.
        eligible = sorted(entry[1:] for entry in entries if entry[0] == _ELIGIBLE)
        pool[specialty_codes[specialty_id]] = eligible
        if len(eligible) < count:
            # The rules do not depend on the specialty: an expert has one reason.
            exclusions.update(
                (entry[1:], _TAGS[entry[0]]) for entry in entries if entry[0] != _ELIGIBLE
            )
    return pool, exclusions


# --- the draw pages: who may see which draw, and how much (ER 8) ----------------------
# Written for the views of experts/views_draw.py. Agents and tenderer
# representatives get counts and statuses only; names, codes and contacts
# are read here only for supervisors and platform administrators, for the
# expert's own invitation, and for everyone once the draw is revealed.

from dataclasses import dataclass as _dataclass  # noqa: E402

from django.db.models import IntegerField, Prefetch  # noqa: E402

from accounts.models import Role, User  # noqa: E402
from core.errors import NotFound, NotPermitted  # noqa: E402
from experts.models import (  # noqa: E402
    DrawPool,
    DrawStatus,
    OutboundMessage,
    Specialty,
)
from tendering.models import LotStatus  # noqa: E402
from tendering.selectors import tender_for_manage  # noqa: E402

DRAW_WATCH_ROLES = (Role.SUPERVISOR, Role.PLATFORM_ADMIN)


def leaf_specialties() -> QuerySet[Specialty]:
    """The specialties a draw may ask for: the leaves of the code list."""
    return Specialty.objects.filter(children__isnull=True).order_by("code")


def lot_for_draws(*, user: User, lot_id: int) -> Lot:
    """A lot whose draw requests the user may follow: whoever manages its tender (agent, tenderer, supervisor, platform).

    Anyone else (another agency's agent, bidders, experts, finance) gets 404.
    """
    lot = (
        Lot.objects.select_related("tender", "tender__tenderer", "tender__agency")
        .filter(pk=lot_id)
        .first()
    )
    if lot is None:
        raise NotFound("lot.not_found", _("标段不存在。"))
    tender_for_manage(user=user, tender_id=lot.tender_id)
    return lot


def draw_requests_for_lot(*, lot: Lot) -> QuerySet[DrawRequest]:
    """The lot's requests, newest first (the caller checked the lot with ``lot_for_draws``)."""
    return (
        DrawRequest.objects.filter(lot=lot)
        .select_related("requested_by")
        .prefetch_related(Prefetch("items", queryset=DrawItem.objects.select_related("specialty")))
        .order_by("-created_at", "-id")
    )


def draw_request_for_view(*, user: User, request_id: int) -> DrawRequest:
    """A request the user may follow (its lot per ``lot_for_draws``); 404 otherwise."""
    request = (
        DrawRequest.objects.select_related(
            "lot__tender__tenderer", "lot__tender__agency", "requested_by"
        )
        .filter(pk=request_id)
        .first()
    )
    if request is None:
        raise NotFound("draw.not_found", _("专家抽取申请不存在。"))
    try:
        tender_for_manage(user=user, tender_id=request.lot.tender_id)
    except NotFound:
        raise NotFound("draw.not_found", _("专家抽取申请不存在。")) from None
    return request


def require_draw_watcher(user: User) -> None:
    if not user.has_role(*DRAW_WATCH_ROLES):
        raise NotPermitted(
            "permission.role", _("只有监督人员或平台管理员可以查看抽取过程和专家名单。")
        )


def draw_request_for_supervision(*, user: User, request_id: int) -> DrawRequest:
    """A request for the supervisors' pages (review, draw, watch): supervisors and platform administrators."""
    require_draw_watcher(user)
    return draw_request_for_view(user=user, request_id=request_id)


def draw_requests_for_supervisor(*, user: User, status: str = "") -> QuerySet[DrawRequest]:
    """Every request, those waiting for a supervisor first (pending, then approved), newest first within."""
    require_draw_watcher(user)
    qs = DrawRequest.objects.select_related("lot__tender__agency", "requested_by")
    if status in DrawStatus.values:
        qs = qs.filter(status=status)
    return qs.annotate(
        waiting=Case(
            When(status=DrawStatus.PENDING, then=Value(0)),
            When(status=DrawStatus.APPROVED, then=Value(1)),
            default=Value(2),
            output_field=IntegerField(),
        )
    ).order_by("waiting", "-created_at", "-id")


def pending_draw_request_count() -> int:
    return DrawRequest.objects.filter(status=DrawStatus.PENDING).count()


@_dataclass(frozen=True, kw_only=True)
class ItemCounts:
    """One specialty of a request as agents see it: numbers, never people."""

    specialty: Specialty
    members: int
    reserves: int
    notified: int
    confirmed: int
    declined: int
    no_answer: int


def draw_counts(*, request: DrawRequest) -> list[ItemCounts]:
    """Per specialty: how many are waiting for an answer, confirmed, declined, did not answer. One query."""

    def count(status: str) -> Count:
        return Count("selections", filter=Q(selections__status=status))

    items = (
        request.items.select_related("specialty")
        .annotate(
            n_notified=count(SelectionStatus.NOTIFIED),
            n_confirmed=count(SelectionStatus.CONFIRMED),
            n_declined=count(SelectionStatus.DECLINED),
            n_no_answer=count(SelectionStatus.NO_ANSWER),
        )
        .order_by("specialty__code")
    )
    return [
        ItemCounts(
            specialty=item.specialty,
            members=item.members,
            reserves=item.reserves,
            notified=item.n_notified,
            confirmed=item.n_confirmed,
            declined=item.n_declined,
            no_answer=item.n_no_answer,
        )
        for item in items
    ]


def revealed_panel(*, request: DrawRequest) -> QuerySet[DrawSelection]:
    """The confirmed members, by name, once the draw is revealed (ER 8); nothing before."""
    if request.revealed_at is None:
        return DrawSelection.objects.none()
    return (
        request.selections.filter(status=SelectionStatus.CONFIRMED)
        .select_related("expert", "item__specialty")
        .order_by("position")
    )


@_dataclass(frozen=True, kw_only=True)
class Exclusion:
    """One expert the avoidance rules left out of a draw, with the rule (``ExclusionReason``)."""

    code: str
    reason: str
    # With code, name and employer_name; None only for a code no longer on file.
    expert: Expert | None

    def get_reason_display(self) -> str:
        return str(ExclusionReason(self.reason).label)


# Expert codes per query when reading an exclusion list back: SQLite allows at
# most 32,766 parameters per statement (and 999 before 3.32).
_CODES_PER_QUERY = 900


def draw_exclusions(*, request: DrawRequest) -> list[Exclusion]:
    """Every expert excluded from ``request``'s draw with the reason, by reason then code; [] before the draw.

    For supervisors (the caller checked ``require_draw_watcher``): the list
    names experts. Read from the draw's one ``DrawPool`` row.
    """
    excluded = (
        DrawPool.objects.filter(request_id=request.pk).values_list("excluded", flat=True).first()
    )
    if excluded is None:
        return []
    pairs = [(reason, code) for reason in sorted(excluded) for code in sorted(excluded[reason])]
    codes = [code for _reason, code in pairs]
    experts: dict[str, Expert] = {}
    for start in range(0, len(codes), _CODES_PER_QUERY):
        experts.update(
            (expert.code, expert)
            for expert in Expert.objects.filter(
                code__in=codes[start : start + _CODES_PER_QUERY]
            ).only("code", "name", "employer_name")
        )
    return [Exclusion(code=code, reason=reason, expert=experts.get(code)) for reason, code in pairs]


@_dataclass(frozen=True, kw_only=True)
class DrawWatch:
    """What the witnessing supervisor sees: every pick with its status, every exclusion with its reason."""

    selections: list[DrawSelection]
    """In stream order, with ``expert`` and ``item.specialty``; ``failed_messages`` and ``sent_messages`` annotated."""
    exclusions: list[Exclusion]
    counts: list[ItemCounts]


def draw_watch(*, user: User, request: DrawRequest) -> DrawWatch:
    require_draw_watcher(user)
    selections = list(
        request.selections.select_related("expert", "item__specialty")
        .annotate(
            sent_messages=Count("messages", filter=Q(messages__sent_at__isnull=False)),
            failed_messages=Count(
                "messages", filter=Q(messages__sent_at__isnull=True) & ~Q(messages__error="")
            ),
        )
        .order_by("position")
    )
    return DrawWatch(
        selections=selections,
        exclusions=draw_exclusions(request=request),
        counts=draw_counts(request=request),
    )


def draw_messages(*, user: User, request: DrawRequest) -> QuerySet[OutboundMessage]:
    """Every message sent for the draw, for supervisors: recipient, channel, fate."""
    require_draw_watcher(user)
    return (
        OutboundMessage.objects.filter(selection__request=request)
        .select_related("selection__expert")
        .order_by("created_at", "id")
    )


def draw_request_for_record(*, request_id: int) -> DrawRequest:
    """A revealed draw, for its verification record: public like the lot's result.

    The record is published with the result (the lot is awarded, its tender
    published, the draw revealed); before that it does not exist for anyone.
    """
    request = (
        DrawRequest.objects.select_related("lot__tender")
        .filter(
            pk=request_id,
            revealed_at__isnull=False,
            lot__status=LotStatus.AWARDED,
            lot__tender__published_at__isnull=False,
        )
        .first()
    )
    if request is None:
        raise NotFound("draw.not_found", _("专家抽取记录不存在或尚未公布。"))
    return request


def revealed_draws_for_lot(*, lot: Lot) -> QuerySet[DrawRequest]:
    return DrawRequest.objects.filter(lot=lot, revealed_at__isnull=False).order_by("-revealed_at")


# --- the expert's own invitations ------------------------------------------------------------


def invitations_for_expert(*, user: User) -> QuerySet[DrawSelection]:
    """The user's own invitations (never a reserve they were not told about), newest first."""
    if not user.has_role(Role.EXPERT):
        raise NotPermitted("permission.role", _("只有评标专家可以查看抽取邀请。"))
    return (
        DrawSelection.objects.filter(expert__user=user)
        .exclude(status=SelectionStatus.RESERVE)
        .select_related("request", "item__specialty")
        .order_by("-notified_at", "-id")
    )


def selection_for_answer_link(*, token: str) -> DrawSelection:
    """The invitation a signed answer link names, whatever its state; 404 if the link is not genuine.

    A reserve that was never notified has no link yet and is not found either.
    """
    from experts.notifications import answer_link_unsign

    raw = answer_link_unsign(token)
    selection = None
    if raw:
        selection = (
            DrawSelection.objects.select_related("expert", "item__specialty", "request")
            .exclude(status=SelectionStatus.RESERVE)
            .filter(token=raw)
            .first()
        )
    if selection is None:
        raise NotFound("answer.invalid_link", _("答复链接无效，请核对短信或邮件中的链接。"))
    return selection


class LinkState:
    OPEN = "open"
    USED = "used"
    EXPIRED = "expired"
    CLOSED = "closed"


def answer_link_state(selection: DrawSelection, *, now: dt.datetime | None = None) -> str:
    """Whether the invitation can still be answered (OPEN), was answered (USED) or timed out (EXPIRED).

    CLOSED: the invitation is open but the draw no longer waits for answers.
    """
    now = now or timezone.now()
    if selection.status in (SelectionStatus.CONFIRMED, SelectionStatus.DECLINED):
        return LinkState.USED
    if selection.status == SelectionStatus.NO_ANSWER or (
        selection.respond_by is not None and now > selection.respond_by
    ):
        return LinkState.EXPIRED
    if selection.request.status != DrawStatus.NOTIFYING:
        return LinkState.CLOSED
    return LinkState.OPEN
