"""Reads of the expert pool and the draw, with who may see what applied here.

The first part is the draw's own reading: who the parties of a lot are, and
which experts of the requested specialties may be drawn (the avoidance rules
of ER 12, docs/draw.md §2). It runs inside ``experts.services.draw_run`` and
is written as a handful of set-based queries, never one query per expert:
the pool is large (benchmarked at 100,000 experts, bench/draw.py) and the
draw must stay fast while it holds the request's row lock.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import connection, models
from django.db.models import Case, Count, Q, QuerySet, Value, When
from django.utils import timezone

from experts.models import (
    DrawRequest,
    DrawSelection,
    ExclusionReason,
    Expert,
    ExpertConflict,
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


def lot_party_credit_codes(lot: Lot) -> frozenset[str]:
    """The credit codes of everyone with a stake in the lot: tenderer, agency and bidders.

    The bidding app does not exist yet, so "bidders" are the organisations
    that obtained the tender documents (a superset of the bidders, which can
    only exclude more experts). Read directly rather than through
    ``tendering.selectors``: this is the platform's own avoidance check, not a
    disclosure to a user, and draws happen only after bidding has closed
    (EB 21 no longer applies then). The bidding issue switches this one
    function to the actual bidders.
    """
    tenderer, agency = (
        Tender.objects.filter(pk=lot.tender_id)
        .values_list("tenderer__credit_code", "agency__credit_code")
        .get()
    )
    obtainers = DocumentObtain.objects.filter(tender_id=lot.tender_id).values_list(
        "organisation__credit_code", flat=True
    )
    return frozenset({tenderer, agency, *obtainers})


def _month_bounds(moment: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """The calendar month (platform time zone) holding ``moment``, as [start, end)."""
    local = timezone.localtime(moment)
    start = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    # Aware arithmetic on a zoneinfo time is wall-clock arithmetic: midnight stays midnight.
    return start, (start + dt.timedelta(days=32)).replace(day=1)


def _table(model: type[models.Model]) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def _caught_by_other_tables(
    request: DrawRequest, tender: Tender, parties: list[str], now: dt.datetime
) -> dict[str, set[int]]:
    """The ids of the experts caught by each rule that needs another table: one query for all four.

    Each part is driven by an index (credit code, date, the requests of the
    tenderer or of the month) and returns only the experts its rule catches,
    a few hundred of a pool of 100,000, never one row per candidate. Plain
    SQL, one round trip: built through the ORM, the four queries cost the
    draw more to compile than to run. (As subqueries or a join of the
    candidate query they are tested once per candidate, and fetching codes
    instead of ids means another join: both slower on both databases.)
    """
    config = settings.EXPERT_DRAW
    ops = connection.ops
    quote = ops.quote_name
    evaluation_day = ops.adapt_datefield_value(timezone.localdate(request.evaluation_start))
    month_start, month_end = (
        ops.adapt_datetimefield_value(moment) for moment in _month_bounds(request.evaluation_start)
    )
    selections, requests = _table(DrawSelection), _table(DrawRequest)
    # The reasons are the enumeration's own values: literals, not user input.
    parts = [
        f"SELECT '{ExclusionReason.DECLARED_CONFLICT.value}', c.expert_id "
        f"FROM {_table(ExpertConflict)} c "
        f"WHERE c.credit_code IN ({', '.join(['%s'] * len(parties)) or 'NULL'})",
        f"SELECT '{ExclusionReason.UNAVAILABLE.value}', u.expert_id "
        f"FROM {_table(ExpertUnavailability)} u "
        f"WHERE u.{quote('start')} <= %s AND u.{quote('end')} >= %s",
        f"SELECT '{ExclusionReason.MONTHLY_LIMIT.value}', s.expert_id FROM {selections} s "
        "WHERE s.request_id <> %s AND s.status = %s AND s.request_id IN ("
        f"SELECT r.id FROM {requests} r "
        "WHERE r.evaluation_start >= %s AND r.evaluation_start < %s"
        ") GROUP BY s.expert_id HAVING COUNT(*) >= %s",
    ]
    params: list[object] = [
        *parties,
        evaluation_day,
        evaluation_day,
        request.pk,
        SelectionStatus.CONFIRMED.value,
        month_start,
        month_end,
        config["MONTHLY_LIMIT"],
    ]
    if config["RECENT_SAME_TENDERER_DAYS"] > 0:
        since = now - dt.timedelta(days=config["RECENT_SAME_TENDERER_DAYS"])
        parts.append(
            f"SELECT '{ExclusionReason.RECENT_SAME_TENDERER.value}', s.expert_id "
            f"FROM {selections} s "
            "WHERE s.request_id <> %s AND s.status IN (%s, %s) AND s.notified_at >= %s "
            f"AND s.request_id IN (SELECT r.id FROM {requests} r "
            f"INNER JOIN {_table(Lot)} l ON l.id = r.lot_id "
            f"INNER JOIN {_table(Tender)} t ON t.id = l.tender_id WHERE t.tenderer_id = %s)"
        )
        params += [
            request.pk,
            *(status.value for status in _ENGAGED),
            ops.adapt_datetimefield_value(since),
            tender.tenderer_id,
        ]
    caught: dict[str, set[int]] = {}
    with connection.cursor() as cursor:
        cursor.execute(" UNION ALL ".join(parts), params)
        for reason, expert_id in cursor.fetchall():
            caught.setdefault(reason, set()).add(expert_id)
    return caught


_CANDIDATE_INDEX = "expert_draw_candidate"  # experts.models.Expert.Meta.indexes


def _candidate_rows(
    specialty_ids: list[int], parties: list[str], locality: str, region: str
) -> list[tuple[int, int, str, str | None]]:
    """(specialty id, expert id, expert code, reason or None) for every candidate, in one query.

    The reason is a CASE over the rules on the expert's own record —
    employer (1), status (3), region (7) — in ``AVOIDANCE_ORDER``. Written as
    SQL rather than through the ORM: the query returns one row per candidate
    (about 22,000 in bench/draw.py) and the ORM's row machinery cost more
    than the query itself. Its indexes (specialty → expert, and the expert's
    key with the columns read here) are in migration 0004.
    """
    rules: list[str] = []
    params: list[object] = []
    if parties:
        rules.append(f"WHEN e.employer_credit_code IN ({', '.join(['%s'] * len(parties))}) THEN %s")
        params += [*parties, ExclusionReason.EMPLOYER_PARTY.value]
    rules.append("WHEN e.status <> %s THEN %s")
    params += [ExpertStatus.ACTIVE.value, ExclusionReason.NOT_ACTIVE.value]
    if locality == Locality.LOCAL:
        rules.append("WHEN e.region <> %s THEN %s")
        params += [region, ExclusionReason.LOCALITY.value]
    elif locality == Locality.REMOTE:
        rules.append("WHEN e.region = %s THEN %s")
        params += [region, ExclusionReason.LOCALITY.value]
    # SQLite's planner, without statistics, reads the table row by its key
    # rather than the covering index: name the index (PostgreSQL hash-joins).
    hint = f" INDEXED BY {_CANDIDATE_INDEX}" if connection.vendor == "sqlite" else ""
    sql = (
        f"SELECT l.specialty_id, l.expert_id, e.code, CASE {' '.join(rules)} ELSE NULL END "
        f"FROM {_table(Expert.specialties.through)} l "
        f"INNER JOIN {_table(Expert)} e{hint} ON e.id = l.expert_id "
        f"WHERE l.specialty_id IN ({', '.join(['%s'] * len(specialty_ids))})"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, *specialty_ids])
        return cursor.fetchall()


# The rules answered by ``_caught_by_other_tables``, in AVOIDANCE_ORDER, and every rule's rank.
_SET_RULES: tuple[ExclusionReason, ...] = (
    ExclusionReason.DECLARED_CONFLICT,
    ExclusionReason.UNAVAILABLE,
    ExclusionReason.RECENT_SAME_TENDERER,
    ExclusionReason.MONTHLY_LIMIT,
)
_RANK = {reason.value: rank for rank, reason in enumerate(AVOIDANCE_ORDER)}


def eligible_pool(
    request: DrawRequest, *, now: dt.datetime | None = None
) -> tuple[dict[str, list[str]], dict[str, str]]:
    """The experts who may be drawn for ``request``, and why every other candidate may not.

    Candidates are the experts holding at least one of the request's
    specialties (the exact specialty, not its children). Returns

    - the pool: ``{specialty code: sorted expert codes}`` for every requested
      specialty (an empty list when nobody is left), ready to freeze;
    - the exclusions: ``{expert code: reason}``, one reason per candidate
      that was left out, the first of ``AVOIDANCE_ORDER`` that applies.

    Set-based, two queries: the rules on the expert's own record are a CASE
    in the one that reads the candidates (``_candidate_rows``); the rules
    that need other tables return the ids they catch in the other
    (``_caught_by_other_tables``). Nothing is read per expert. ``now``
    anchors the "recently drawn for the same tenderer" window (default: the
    server clock).
    """
    now = now or timezone.now()
    tender = request.lot.tender
    parties = sorted(lot_party_credit_codes(request.lot))
    specialty_codes = dict(request.items.values_list("specialty_id", "specialty__code"))
    caught = _caught_by_other_tables(request, tender, parties, now)
    # An expert caught by several of these rules: the first in AVOIDANCE_ORDER is kept.
    by_rule: dict[int, str] = {}
    for reason in reversed(_SET_RULES):
        by_rule.update(dict.fromkeys(caught.get(reason, ()), reason.value))
    candidates = _candidate_rows(sorted(specialty_codes), parties, request.locality, tender.region)

    lists: dict[int, list[str]] = {specialty_id: [] for specialty_id in specialty_codes}
    exclusions: dict[str, str] = {}
    rule_of = by_rule.get
    for specialty_id, expert_id, code, own in candidates:
        rule = rule_of(expert_id)
        if rule is not None and (own is None or _RANK[rule] < _RANK[own]):
            exclusions[code] = rule
        elif own is not None:
            exclusions[code] = own
        else:
            lists[specialty_id].append(code)
    pool: dict[str, list[str]] = {}
    for specialty_id, codes in lists.items():
        codes.sort()
        pool[specialty_codes[specialty_id]] = codes
    return pool, exclusions


# --- the draw pages: who may see which draw, and how much (ER 8) ----------------------
# Written for the views of experts/views_draw.py. Agents and tenderer
# representatives get counts and statuses only; names, codes and contacts
# are read here only for supervisors and platform administrators, for the
# expert's own invitation, and for everyone once the draw is revealed.

from dataclasses import dataclass as _dataclass  # noqa: E402

from django.db.models import IntegerField, Prefetch  # noqa: E402
from django.utils.translation import gettext_lazy as _  # noqa: E402

from accounts.models import Role, User  # noqa: E402
from core.errors import NotFound, NotPermitted  # noqa: E402
from experts.models import (  # noqa: E402
    DrawItem,
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
