"""Display helpers shared by every page: money, regions, status badges.

``{% load sunbid %}`` then ``{{ lot.control_price|yuan }}``, ``{{ tender.region|region }}``,
``{{ lot|status_badge }}`` or ``{{ tender|status_badge }}``.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from typing import Any

from django import template
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString

from tendering.models import Lot, LotStatus, Tender, TenderStatus
from tendering.regions import region_name

register = template.Library()

# A tender shows the most pressing state among its lots: bidding first, then
# the steps after the deadline, then the outcomes.
_STATE_PRECEDENCE = [
    LotStatus.PUBLISHED,
    LotStatus.BIDDING_CLOSED,
    LotStatus.OPENING,
    LotStatus.OPENED,
    LotStatus.EVALUATING,
    LotStatus.AWARDED,
    LotStatus.FAILED,
    LotStatus.CANCELLED,
    LotStatus.DRAFT,
]


@register.filter
def yuan(value: Any) -> str:
    """An amount in yuan with thousands separators and two decimals: 11,800,000.00."""
    if value is None or value == "":
        return "—"
    try:
        amount = Decimal(value)
    except (InvalidOperation, TypeError, ValueError):
        return str(value)
    return f"{amount.quantize(Decimal('0.01')):,}"


@register.filter
def wan(value: Any) -> str:
    """An amount in ten-thousands of yuan (万元) with up to four decimals, for headline figures."""
    if value is None or value == "":
        return "—"
    try:
        amount = Decimal(value) / Decimal(10000)
    except (InvalidOperation, TypeError, ValueError):
        return str(value)
    text = f"{amount.quantize(Decimal('0.0001')):,}"
    return text.rstrip("0").rstrip(".") if "." in text else text


@register.filter
def region(code: str) -> str:
    return region_name(code or "")


def tender_state(tender: Tender) -> LotStatus:
    """The state a tender shows in lists, from its lots (prefetched by the portal selectors)."""
    if tender.status == TenderStatus.CANCELLED:
        return LotStatus.CANCELLED
    statuses = {lot.status_now for lot in tender.lots.all()}
    for status in _STATE_PRECEDENCE:
        if status in statuses:
            return status
    return LotStatus.DRAFT


@register.filter
def status_badge(obj: Lot | Tender | str) -> SafeString:
    """A coloured badge for a lot, a tender (its most pressing lot state) or a lot status value."""
    if isinstance(obj, Tender):
        status = tender_state(obj)
    elif isinstance(obj, Lot):
        status = LotStatus(obj.status_now)
    else:
        try:
            status = LotStatus(obj)
        except ValueError:
            return format_html('<span class="badge">{}</span>', obj)
    return format_html('<span class="badge badge-{}">{}</span>', status.value, status.label)


@register.filter
def next_deadline(tender: Tender) -> dt.datetime | None:
    """The nearest bid deadline still ahead, else the latest one (lots prefetched)."""
    deadlines = sorted(lot.bid_deadline for lot in tender.lots.all())
    if not deadlines:
        return None
    now = timezone.now()
    return next((d for d in deadlines if d > now), deadlines[-1])


@register.filter
def days_left(moment: dt.datetime | None) -> int | None:
    """Whole days from now until ``moment`` (0 on the day itself), None once it has passed."""
    if moment is None:
        return None
    remaining = moment - timezone.now()
    if remaining.total_seconds() <= 0:
        return None
    return remaining.days


@register.filter
def page_numbers(page: Any) -> list[int | str]:
    """Page numbers around the current one, with the paginator's ellipsis for gaps."""
    return list(page.paginator.get_elided_page_range(page.number, on_each_side=2, on_ends=1))
