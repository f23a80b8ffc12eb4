"""Reads behind the 工作台 (dashboard) and the message list.

One typed function per role, each returning what needs that role's
attention, with the visibility rules applied here: an agent sees only their
own agency's tenders, a tenderer representative only their own
organisation's published ones, a bidder only what its organisation obtained
(through ``tendering.selectors``). Every function runs a fixed number of
queries, whatever the number of rows.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Case, Count, Q, QuerySet, Value, When
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import (
    ApiToken,
    Notification,
    Organisation,
    OrganisationKey,
    OrganisationKeyStatus,
    OrganisationKind,
    Role,
    RoleGrant,
    User,
)
from audit.models import AuditEvent
from audit.selectors import chain_head
from core.errors import NotFound, NotPermitted
from finance.periods import Period
from finance.selectors import Figure, savings_slice, with_details
from tendering.models import Lot, LotStatus, Tender, TenderStatus
from tendering.selectors import obtained_by

UPCOMING_DAYS = 7
LIST_LIMIT = 20
LATEST_NOTIFICATIONS = 5
CENT = Decimal("0.01")


def _require_role(user: User, role: str) -> None:
    if not user.has_role(role) or user.organisation_id is None:
        raise NotPermitted("permission.role", _("您没有查看此内容的权限。"))


def _day_start(day: dt.date) -> dt.datetime:
    """Local midnight at the start of ``day``, timezone-aware."""
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


# --- agent -------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class AgentDashboard:
    drafts: list[Tender]
    """Draft announcements of the agency, with ``lot_count`` and ``document_count`` annotated."""
    closing_soon: list[Lot]
    """Lots in bidding whose deadline is within ``UPCOMING_DAYS``."""
    opening_today: list[Lot]
    """Lots whose opening is today, or under way now."""
    awaiting_action: list[Lot]
    """Lots after the deadline (closed, opened, in evaluation) that are not in ``opening_today``."""


def dashboard_agent(*, user: User, now: dt.datetime | None = None) -> AgentDashboard:
    """What an agent's agency has on: drafts, deadlines, openings and lots waiting for a step."""
    _require_role(user, Role.AGENT)
    now = now or timezone.now()
    today = _day_start(timezone.localdate(now))
    tomorrow = _day_start(timezone.localdate(now) + dt.timedelta(days=1))
    lots = Lot.objects.filter(tender__agency_id=user.organisation_id).select_related("tender")

    drafts = list(
        Tender.objects.filter(agency_id=user.organisation_id, status=TenderStatus.DRAFT)
        .select_related("tenderer")
        .annotate(
            lot_count=Count("lots", distinct=True),
            document_count=Count("documents", filter=Q(documents__amendment__isnull=True), distinct=True),
        )
        .order_by("-updated_at", "-id")[:LIST_LIMIT]
    )
    closing_soon = list(
        lots.filter(
            status=LotStatus.PUBLISHED,
            bid_deadline__gt=now,
            bid_deadline__lte=now + dt.timedelta(days=UPCOMING_DAYS),
        ).order_by("bid_deadline", "id")[:LIST_LIMIT]
    )
    opening_today = list(
        lots.filter(
            Q(status=LotStatus.OPENING)
            | Q(
                status__in=[LotStatus.PUBLISHED, LotStatus.BIDDING_CLOSED],
                opening_time__gte=today,
                opening_time__lt=tomorrow,
            )
        ).order_by("opening_time", "id")[:LIST_LIMIT]
    )
    awaiting_action = list(
        lots.filter(status__in=[LotStatus.BIDDING_CLOSED, LotStatus.OPENED, LotStatus.EVALUATING])
        .exclude(pk__in=[lot.pk for lot in opening_today])
        .order_by("status_changed_at", "id")[:LIST_LIMIT]
    )
    return AgentDashboard(
        drafts=drafts,
        closing_soon=closing_soon,
        opening_today=opening_today,
        awaiting_action=awaiting_action,
    )


# --- tenderer representative ---------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class StatusCount:
    status: str
    label: str
    count: int


@dataclass(frozen=True, kw_only=True)
class TendererDashboard:
    tenders: list[Tender]
    """The organisation's published tenders, newest first, lots prefetched."""
    lot_statuses: list[StatusCount]
    """How many of its lots are in each state."""


def dashboard_tenderer(*, user: User) -> TendererDashboard:
    """A tenderer representative's own organisation's published tenders and where their lots stand."""
    _require_role(user, Role.TENDERER_REP)
    visible = Tender.objects.filter(tenderer_id=user.organisation_id, published_at__isnull=False)
    tenders = list(
        visible.select_related("agency")
        .prefetch_related("lots")
        .order_by("-published_at", "-id")[:LIST_LIMIT]
    )
    counts = dict(
        Lot.objects.filter(tender__in=visible).values_list("status").annotate(n=Count("id")).order_by()
    )
    lot_statuses = [
        StatusCount(status=status.value, label=str(status.label), count=counts[status.value])
        for status in LotStatus
        if counts.get(status.value)
    ]
    return TendererDashboard(tenders=tenders, lot_statuses=lot_statuses)


# --- bidder ---------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class BidderDashboard:
    upcoming: list[Lot]
    """Lots still in bidding, of tenders the organisation obtained, soonest deadline first."""
    obtained_count: int
    unread: list[Notification]
    unread_count: int


def dashboard_bidder(*, user: User, now: dt.datetime | None = None) -> BidderDashboard:
    """A bidder's obtained tenders with deadlines ahead, and their latest unread messages."""
    _require_role(user, Role.BIDDER)
    now = now or timezone.now()
    obtained = obtained_by(user=user)
    with_open_lots = obtained.filter(
        lots__status=LotStatus.PUBLISHED, lots__bid_deadline__gt=now
    ).distinct()
    upcoming = sorted(
        (
            lot
            for tender in with_open_lots
            for lot in tender.lots.all()
            if lot.status == LotStatus.PUBLISHED and lot.bid_deadline > now
        ),
        key=lambda lot: (lot.bid_deadline, lot.pk),
    )
    unread = _unread(user)
    return BidderDashboard(
        upcoming=upcoming[:LIST_LIMIT],
        obtained_count=obtained.order_by().count(),
        unread=list(unread[:LATEST_NOTIFICATIONS]),
        unread_count=unread.count(),
    )


# --- supervisor -------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class ChainHead:
    seq: int
    hash: str
    created_at: dt.datetime


@dataclass(frozen=True, kw_only=True)
class SupervisorDashboard:
    openings_today: list[Lot]
    openings_coming: list[Lot]
    """Openings after today and within ``UPCOMING_DAYS``."""
    recent_announcements: list[Tender]
    chain_head: ChainHead | None


def _chain_head() -> ChainHead | None:
    head: AuditEvent | None = chain_head()
    if head is None:
        return None
    return ChainHead(seq=head.seq, hash=head.hash, created_at=head.created_at)


def dashboard_supervisor(*, user: User, now: dt.datetime | None = None) -> SupervisorDashboard:
    """Openings today and in the coming week, the latest announcements and the audit chain head."""
    _require_role(user, Role.SUPERVISOR)
    now = now or timezone.now()
    today = timezone.localdate(now)
    start = _day_start(today)
    tomorrow = _day_start(today + dt.timedelta(days=1))
    horizon = _day_start(today + dt.timedelta(days=UPCOMING_DAYS + 1))
    openings = list(
        Lot.objects.filter(
            tender__published_at__isnull=False,
            opening_time__gte=start,
            opening_time__lt=horizon,
        )
        .exclude(status__in=[LotStatus.DRAFT, LotStatus.CANCELLED])
        .select_related("tender", "tender__agency")
        .order_by("opening_time", "id")
    )
    recent = list(
        Tender.objects.filter(published_at__isnull=False)
        .select_related("tenderer", "agency")
        .prefetch_related("lots")
        .order_by("-published_at", "-id")[:10]
    )
    return SupervisorDashboard(
        openings_today=[lot for lot in openings if lot.opening_time < tomorrow],
        openings_coming=[lot for lot in openings if lot.opening_time >= tomorrow],
        recent_announcements=recent,
        chain_head=_chain_head(),
    )


# --- finance ------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class AwardRow:
    lot: Lot
    control_price: Decimal
    award_price: Decimal
    savings: Decimal
    savings_rate: Decimal
    """Per cent, two decimals."""


@dataclass(frozen=True, kw_only=True)
class SavingsTotals:
    lots: int
    control_price: Decimal
    award_price: Decimal
    savings: Decimal
    savings_rate: Decimal
    """Total savings over total control price, per cent, two decimals."""


@dataclass(frozen=True, kw_only=True)
class FinanceDashboard:
    start: dt.date
    end: dt.date
    rows: list[AwardRow]
    totals: SavingsTotals


def dashboard_finance(*, user: User, start: dt.date, end: dt.date) -> FinanceDashboard:
    """The savings of the lots awarded from ``start`` to ``end`` (award dates in Asia/Shanghai, inclusive).

    Read through the savings reports' selectors (``finance.selectors``), the
    one definition of the figures (docs/finance-savings.md): failed and
    cancelled lots are left out and every amount is exact to the fen.
    ``totals`` cover every lot of the period; ``rows`` are its latest
    ``LIST_LIMIT`` awards, oldest first (the report's drill-down lists all).
    """
    _require_role(user, Role.FINANCE)
    lots = savings_slice(user=user, period=Period.between(start, end))
    latest = with_details(list(lots.facts.reverse()[:LIST_LIMIT]))[::-1]
    rows = []
    for fact in latest:
        figure = Figure.of_fact(fact)
        rows.append(
            AwardRow(
                lot=fact.lot,
                control_price=figure.control_price,
                award_price=figure.award_price,
                savings=figure.savings,
                savings_rate=figure.rate or Decimal("0.00"),
            )
        )
    total = lots.figure
    totals = SavingsTotals(
        lots=total.lots,
        control_price=total.control_price,
        award_price=total.award_price,
        savings=total.savings,
        savings_rate=total.rate or Decimal("0.00"),
    )
    return FinanceDashboard(start=start, end=end, rows=rows, totals=totals)


# --- expert ----------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class ExpertDashboard:
    notifications: list[Notification]
    unread_count: int


def dashboard_expert(*, user: User) -> ExpertDashboard:
    """An expert's messages: where the invitation of a draw will arrive."""
    _require_role(user, Role.EXPERT)
    return ExpertDashboard(
        notifications=list(notifications_for(user=user)[:LIST_LIMIT]),
        unread_count=_unread(user).count(),
    )


# --- platform administrator -------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class LabelCount:
    key: str
    label: str
    count: int


@dataclass(frozen=True, kw_only=True)
class AdminDashboard:
    organisations_by_kind: list[LabelCount]
    organisations_total: int
    users_by_role: list[LabelCount]
    users_total: int
    users_inactive: int
    chain_head: ChainHead | None


def dashboard_platform_admin(*, user: User) -> AdminDashboard:
    """Counts of organisations by kind and users by role, and the audit chain head."""
    _require_role(user, Role.PLATFORM_ADMIN)
    org_counts = Counter(
        dict(Organisation.objects.values_list("kind").annotate(n=Count("id")).order_by())
    )
    role_counts = Counter(
        dict(
            RoleGrant.objects.filter(user__is_active=True)
            .values_list("role")
            .annotate(n=Count("id"))
            .order_by()
        )
    )
    users = User.objects.aggregate(total=Count("id"), inactive=Count("id", filter=Q(is_active=False)))
    return AdminDashboard(
        organisations_by_kind=[
            LabelCount(key=kind.value, label=str(kind.label), count=org_counts[kind.value])
            for kind in OrganisationKind
        ],
        organisations_total=sum(org_counts.values()),
        users_by_role=[
            LabelCount(key=role.value, label=str(role.label), count=role_counts[role.value]) for role in Role
        ],
        users_total=users["total"],
        users_inactive=users["inactive"],
        chain_head=_chain_head(),
    )


# --- notifications -----------------------------------------------------------------------


def _unread(user: User) -> QuerySet[Notification]:
    return Notification.objects.filter(recipient=user, read_at__isnull=True).order_by("-created_at", "-id")


def notifications_for(*, user: User) -> QuerySet[Notification]:
    """The user's own messages, unread first, newest first within each group."""
    return (
        Notification.objects.filter(recipient=user)
        .annotate(is_read=Case(When(read_at__isnull=True, then=Value(0)), default=Value(1)))
        .order_by("is_read", "-created_at", "-id")
    )


def notification_for(*, user: User, notification_id: int) -> Notification:
    """One of the user's own messages; anyone else's is ``NotFound``, like a missing one."""
    notification = Notification.objects.filter(pk=notification_id, recipient=user).first()
    if notification is None:
        raise NotFound("notification.not_found", _("消息不存在。"))
    return notification


# --- organisation keys -----------------------------------------------------------------------

# Roles whose organisations seal (bidders) or hold a share of an opening key
# (agency, tenderer, supervising authority): their users register and hold the
# organisation's keys. ``ROLE_ORGANISATION_KINDS`` ties each role to its kind.
KEY_ROLES: tuple[str, ...] = (Role.BIDDER, Role.AGENT, Role.TENDERER_REP, Role.SUPERVISOR)


def may_hold_keys(user: User) -> bool:
    """Whether ``user`` may see and register their organisation's keys."""
    return (
        user.is_authenticated
        and user.organisation_id is not None
        and user.has_role(*KEY_ROLES)
        and user.organisation.is_active
    )


def organisation_key_active(organisation: Organisation | int) -> OrganisationKey | None:
    """The organisation's key set in use now (at most one), or None if it registered none."""
    organisation_id = organisation if isinstance(organisation, int) else organisation.pk
    return (
        OrganisationKey.objects.filter(organisation_id=organisation_id, status=OrganisationKeyStatus.ACTIVE)
        .select_related("organisation")
        .first()
    )


def organisation_key_by_fingerprint(fingerprint: str) -> OrganisationKey | None:
    """The key set, active or retired, whose encryption or signing fingerprint is ``fingerprint``.

    Fingerprints are lowercase hex; anything else matches nothing. Retired
    key sets are found too: a bid sealed before a rotation still names them.
    """
    if not isinstance(fingerprint, str) or len(fingerprint) != 64:
        return None
    return (
        OrganisationKey.objects.filter(Q(encryption_fingerprint=fingerprint) | Q(signing_fingerprint=fingerprint))
        .select_related("organisation")
        .first()
    )


def organisation_keys_for(*, user: User) -> list[OrganisationKey]:
    """Every key set the user's organisation ever registered, newest first (the key page).

    ``NotPermitted`` for a user whose roles do not hold keys.
    """
    if not may_hold_keys(user):
        raise NotPermitted("key.not_permitted", _("您的角色不能管理本单位的密钥。"))
    return list(
        OrganisationKey.objects.filter(organisation_id=user.organisation_id)
        .select_related("registered_by")
        .order_by("-registered_at", "-id")
    )


# --- API tokens ------------------------------------------------------------------------------


def api_tokens_for(*, user: User) -> list[ApiToken]:
    """The user's own tokens, newest first, revoked ones included (never the secrets: none are stored)."""
    return list(ApiToken.objects.filter(user=user).order_by("-created_at", "-id"))


def api_token_for(*, user: User, token_id: int) -> ApiToken:
    """One of the user's own tokens; anyone else's is ``NotFound``, like a missing one."""
    token = ApiToken.objects.filter(pk=token_id, user=user).first()
    if token is None:
        raise NotFound("token.not_found", _("令牌不存在。"))
    return token
