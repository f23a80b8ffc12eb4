"""The public portal (公共资源交易平台门户): announcements, results and the feed, no login needed.

Everything is read through ``tendering.selectors``; drafts do not exist here,
and nothing on these pages says who obtained the tender documents, nor how
many did (EB 21).
"""

from __future__ import annotations

from typing import Any

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from accounts.models import Role
from opening import room_selectors
from tendering import selectors
from tendering.forms_portal import PortalSearchForm
from tendering.models import Category, TenderStatus

PAGE_SIZE = 20
# One glyph per category tile: the character the trading centres use as its mark.
_CATEGORY_GLYPHS = {
    Category.CONSTRUCTION: "工",
    Category.GOVERNMENT: "采",
    Category.PROPERTY: "产",
    Category.LAND: "土",
    Category.MEDICAL: "药",
    Category.OTHER: "他",
}


@require_GET
def index(request: HttpRequest) -> HttpResponse:
    figures = selectors.portal_figures()
    categories = [
        {
            "value": value,
            "label": label,
            "glyph": _CATEGORY_GLYPHS.get(value, label[:1]),
            "bidding": figures.bidding_by_category.get(value, 0),
        }
        for value, label in Category.choices
    ]
    return render(
        request,
        "portal/index.html",
        {
            "form": PortalSearchForm(),
            "figures": figures,
            "categories": categories,
            "recent": selectors.portal_recent(limit=10),
            "closing_soon": selectors.portal_closing_soon()[:8],
            "results": selectors.portal_results()[:8],
        },
    )


@require_GET
def announcements(request: HttpRequest) -> HttpResponse:
    form = PortalSearchForm(request.GET)
    form.is_valid()  # invalid fields are shown as messages and left out of the filter
    tenders = selectors.portal_tenders(filters=form.to_filter())
    page = Paginator(tenders, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "portal/announcements.html", {"form": form, "page": page})


@require_GET
def announcement(request: HttpRequest, pk: int) -> HttpResponse:
    tender = selectors.portal_tender(tender_id=pk)
    user = request.user
    is_bidder = user.is_authenticated and user.has_role(Role.BIDDER)
    obtained = is_bidder and selectors.has_obtained(user=user, tender=tender)
    window_start, window_end = selectors.documents_window(tender=tender)
    now = timezone.now()
    window_open = (
        tender.status == TenderStatus.PUBLISHED
        and window_start is not None
        and window_end is not None
        and window_start <= now < window_end
    )
    lots = list(tender.lots.all())
    context: dict[str, Any] = {
        "tender": tender,
        "lots": lots,
        # EB 32: each lot's opening record, published once its room closed.
        "records": room_selectors.lots_with_published_record(lot_ids=[lot.pk for lot in lots]),
        "amendments": list(selectors.portal_amendments(tender=tender)),
        "documents": list(selectors.portal_documents(tender=tender)),
        "window_start": window_start,
        "window_end": window_end,
        "window_open": window_open,
        "window_not_yet": window_start is not None and now < window_start,
        "is_bidder": is_bidder,
        "obtained": obtained,
        "can_obtain": is_bidder and not obtained and window_open,
    }
    return render(request, "portal/announcement.html", context)


@require_GET
def results(request: HttpRequest) -> HttpResponse:
    page = Paginator(selectors.portal_results(), PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "portal/results.html", {"page": page})
