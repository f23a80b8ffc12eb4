"""Reads of the tender lifecycle, with the visibility rules applied here, on the server.

Every view reads through these functions. An object the user may not see is
``NotFound`` (HTTP 404), the same as one that does not exist, so guessing ids
reveals nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.db.models import Count, Max, Min, Prefetch, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import Organisation, Role, User
from core.errors import NotFound, NotPermitted
from tendering.models import (
    Amendment,
    DocumentObtain,
    Lot,
    LotStatus,
    Tender,
    TenderDocument,
    TenderStatus,
)

# --- public portal (no login) ----------------------------------------------------------


class PublicStage:
    """What the portal filter calls a tender's stage, from its lots' states."""

    BIDDING = "bidding"
    CLOSED = "closed"
    FINISHED = "finished"
    CANCELLED = "cancelled"

    choices = [
        (BIDDING, _("正在投标")),
        (CLOSED, _("已截止/开评标中")),
        (FINISHED, _("已结束")),
        (CANCELLED, _("已终止")),
    ]


def _with_lots(qs: QuerySet[Tender]) -> QuerySet[Tender]:
    return qs.select_related("tenderer", "agency").prefetch_related(
        Prefetch("lots", queryset=Lot.objects.order_by("number"))
    )


@dataclass(frozen=True, kw_only=True)
class PortalFilter:
    q: str = ""
    category: str = ""
    region: str = ""
    stage: str = ""
    published_from: dt.date | None = None
    published_to: dt.date | None = None


def portal_tenders(*, filters: PortalFilter | None = None) -> QuerySet[Tender]:
    """Announcements the public may read: every tender ever published."""
    f = filters or PortalFilter()
    qs = Tender.objects.filter(published_at__isnull=False)
    if f.q:
        qs = qs.filter(Q(title__icontains=f.q) | Q(project_name__icontains=f.q) | Q(code__icontains=f.q))
    if f.category:
        qs = qs.filter(category=f.category)
    if f.region:
        qs = qs.filter(region=f.region)
    if f.published_from:
        qs = qs.filter(published_at__date__gte=f.published_from)
    if f.published_to:
        qs = qs.filter(published_at__date__lte=f.published_to)
    if f.stage == PublicStage.BIDDING:
        qs = qs.filter(status=TenderStatus.PUBLISHED, lots__status=LotStatus.PUBLISHED)
    elif f.stage == PublicStage.CLOSED:
        qs = qs.filter(
            status=TenderStatus.PUBLISHED,
            lots__status__in=[LotStatus.BIDDING_CLOSED, LotStatus.OPENING, LotStatus.OPENED, LotStatus.EVALUATING],
        )
    elif f.stage == PublicStage.FINISHED:
        qs = qs.filter(status=TenderStatus.PUBLISHED).exclude(
            lots__status__in=[
                LotStatus.PUBLISHED,
                LotStatus.BIDDING_CLOSED,
                LotStatus.OPENING,
                LotStatus.OPENED,
                LotStatus.EVALUATING,
            ]
        )
    elif f.stage == PublicStage.CANCELLED:
        qs = qs.filter(status=TenderStatus.CANCELLED)
    return _with_lots(qs.distinct()).order_by("-published_at", "-id")


def portal_tender(*, tender_id: int) -> Tender:
    tender = _with_lots(Tender.objects.filter(pk=tender_id, published_at__isnull=False)).first()
    if tender is None:
        raise NotFound("tender.not_found", _("招标公告不存在。"))
    return tender


def portal_amendments(*, tender: Tender) -> QuerySet[Amendment]:
    return tender.amendments.prefetch_related("deadline_changes__lot", "documents").order_by("number")


def portal_results() -> QuerySet[Lot]:
    """Lots with a public outcome: awarded or failed (流标)."""
    return (
        Lot.objects.filter(
            tender__published_at__isnull=False, status__in=[LotStatus.AWARDED, LotStatus.FAILED]
        )
        .select_related("tender", "tender__tenderer", "tender__agency", "winner", "award_result")
        .order_by("-status_changed_at", "-id")
    )


def portal_recent(*, limit: int = 10) -> QuerySet[Tender]:
    return portal_tenders()[:limit]


def portal_documents(*, tender: Tender) -> QuerySet[TenderDocument]:
    """The tender's own documents (not an amendment's attachments): names are public, files are not."""
    return tender.documents.filter(amendment__isnull=True).order_by("uploaded_at", "id")


def portal_closing_soon(*, now: dt.datetime | None = None, days: int = 7) -> QuerySet[Lot]:
    """Lots still open for bids whose deadline falls within ``days``, nearest first."""
    now = now or timezone.now()
    return (
        Lot.objects.filter(
            tender__status=TenderStatus.PUBLISHED,
            status=LotStatus.PUBLISHED,
            bid_deadline__gt=now,
            bid_deadline__lte=now + dt.timedelta(days=days),
        )
        .select_related("tender")
        .order_by("bid_deadline", "id")
    )


@dataclass(frozen=True, kw_only=True)
class PortalFigures:
    tenders_bidding: int
    lots_closing_soon: int
    results_published: int
    bidding_by_category: dict[str, int]


def portal_figures(*, now: dt.datetime | None = None) -> PortalFigures:
    """The live figures of the portal's home page. Nothing about who obtained documents (EB 21)."""
    bidding = Tender.objects.filter(status=TenderStatus.PUBLISHED, lots__status=LotStatus.PUBLISHED)
    by_category = dict(
        bidding.values("category").annotate(n=Count("id", distinct=True)).values_list("category", "n")
    )
    return PortalFigures(
        tenders_bidding=bidding.distinct().count(),
        lots_closing_soon=portal_closing_soon(now=now).count(),
        results_published=portal_results().count(),
        bidding_by_category=by_category,
    )


# --- the working area (login) ----------------------------------------------------------


def tenders_for_manage(*, user: User) -> QuerySet[Tender]:
    """Tenders the user may see in the working area.

    Agents: their agency's, drafts included. Tenderer representatives: their
    organisation's published ones. Supervisors: every published one. Platform
    administrators: all. Everyone else: none.
    """
    qs = Tender.objects.all()
    if user.has_role(Role.PLATFORM_ADMIN):
        visible = qs
    else:
        conditions = Q(pk__in=[])
        if user.has_role(Role.SUPERVISOR):
            conditions |= Q(published_at__isnull=False)
        if user.has_role(Role.AGENT):
            conditions |= Q(agency_id=user.organisation_id)
        if user.has_role(Role.TENDERER_REP):
            conditions |= Q(tenderer_id=user.organisation_id, published_at__isnull=False)
        visible = qs.filter(conditions)
    return _with_lots(visible).order_by("-created_at", "-id")


def tender_for_manage(*, user: User, tender_id: int) -> Tender:
    tender = tenders_for_manage(user=user).filter(pk=tender_id).first()
    if tender is None:
        raise NotFound("tender.not_found", _("招标项目不存在。"))
    return tender


def tender_for_agent(*, user: User, tender_id: int) -> Tender:
    """A tender the user may change: an agent of its agency."""
    if not user.has_role(Role.AGENT):
        raise NotPermitted("permission.role", _("只有招标代理机构经办人可以进行此操作。"))
    tender = Tender.objects.filter(pk=tender_id, agency_id=user.organisation_id).select_related(
        "tenderer", "agency"
    ).first()
    if tender is None:
        raise NotFound("tender.not_found", _("招标项目不存在。"))
    return tender


def lot_for_agent(*, user: User, lot_id: int) -> Lot:
    if not user.has_role(Role.AGENT):
        raise NotPermitted("permission.role", _("只有招标代理机构经办人可以进行此操作。"))
    lot = Lot.objects.filter(pk=lot_id, tender__agency_id=user.organisation_id).select_related("tender").first()
    if lot is None:
        raise NotFound("lot.not_found", _("标段不存在。"))
    return lot


def tenderer_choices() -> QuerySet[Organisation]:
    return Organisation.objects.filter(kind="tenderer", is_active=True).order_by("name")


def supervisor_choices() -> QuerySet[Organisation]:
    return Organisation.objects.filter(kind="supervisor", is_active=True).order_by("name")


# --- who obtained the documents (EB 21) -------------------------------------------------


def sealed_tender_ids(*, tender_ids: Iterable[int] | QuerySet[Any], now: dt.datetime | None = None) -> set[int]:
    """The tenders, among ``tender_ids``, whose obtainers are still sealed (EB 21). One query.

    Sealed until the tender was published and every lot's deadline has passed
    by the server clock. A cancellation does not lift the seal early: a tender
    cancelled before its deadline is often run again, and the list would help
    whoever wants to collude in the new run.
    """
    now = now or timezone.now()
    return set(
        Tender.objects.filter(pk__in=tender_ids)
        .annotate(latest_deadline=Max("lots__bid_deadline"))
        .filter(Q(published_at__isnull=True) | Q(latest_deadline__isnull=True) | Q(latest_deadline__gt=now))
        .values_list("pk", flat=True)
    )


def bidding_closed_for(*, tender: Tender, now: dt.datetime | None = None) -> bool:
    """True once nobody may any longer be kept from learning who obtained the documents."""
    return not sealed_tender_ids(tender_ids=[tender.pk], now=now)


def tender_obtainers(*, user: User, tender: Tender) -> QuerySet[DocumentObtain]:
    """The organisations that obtained the documents, after the deadline, to those managing the tender."""
    tender_for_manage(user=user, tender_id=tender.pk)
    if not bidding_closed_for(tender=tender):
        raise NotPermitted(
            "documents.obtainers_sealed", _("投标截止前，获取招标文件的单位名单和数量均保密。")
        )
    return DocumentObtain.objects.filter(tender=tender).select_related("organisation").order_by("obtained_at")


def obtained_by(*, user: User) -> QuerySet[Tender]:
    """Tenders whose documents the user's bidder organisation obtained."""
    if not user.has_role(Role.BIDDER):
        return Tender.objects.none()
    return _with_lots(Tender.objects.filter(obtains__organisation_id=user.organisation_id)).order_by(
        "-published_at"
    )


def has_obtained(*, user: User, tender: Tender) -> bool:
    return (
        user.is_authenticated
        and user.has_role(Role.BIDDER)
        and DocumentObtain.objects.filter(tender=tender, organisation_id=user.organisation_id).exists()
    )


def documents_window(*, tender: Tender) -> tuple[dt.datetime | None, dt.datetime | None]:
    window = tender.lots.aggregate(start=Min("doc_start"), end=Max("doc_end"))
    return window["start"], window["end"]


def document_for_download(*, user: User, document_id: int) -> TenderDocument:
    """A document file the user may download.

    Those who manage the tender (its agents, its tenderer, supervisors,
    platform administrators) always; a bidder once its organisation has
    obtained the documents of a published tender.
    """
    document = TenderDocument.objects.select_related("tender").filter(pk=document_id).first()
    if document is None:
        raise NotFound("document.not_found", _("文件不存在。"))
    tender = document.tender
    if tenders_for_manage(user=user).filter(pk=tender.pk).exists():
        return document
    if tender.published_at is not None and has_obtained(user=user, tender=tender):
        return document
    raise NotFound("document.not_found", _("文件不存在。"))
