"""``{% load complaints %}``: the complaint status badge, and the pieces other apps' pages show.

- ``{{ complaint|complaint_badge }}``
- ``{% complaint_summary user as summary %}``: counts for the supervisor's dashboard;
- ``{% complaints_about user tender as complaints %}``: the complaints about a tender the user may see;
- ``{% may_complain user tender as allowed %}``: whether the user's organisation may complain about it.
- ``{% if lot|lot_is_suspended %}``: the lot's procurement is suspended (a complaint).
"""

from __future__ import annotations

from django import template
from django.db.models import QuerySet
from django.utils.html import format_html
from django.utils.safestring import SafeString

from accounts.models import User
from complaints import selectors
from complaints.models import Complaint, ComplaintStatus
from tendering.models import Lot, Tender

register = template.Library()

_BADGES = {
    ComplaintStatus.SUBMITTED: "badge-warn",
    ComplaintStatus.ACCEPTED: "badge-info",
    ComplaintStatus.NOT_ACCEPTED: "badge-cancelled",
    ComplaintStatus.DECIDED: "badge-ok",
    ComplaintStatus.WITHDRAWN: "badge-draft",
}


@register.filter
def complaint_badge(complaint: Complaint) -> SafeString:
    status = ComplaintStatus(complaint.status)
    return format_html('<span class="badge {}">{}</span>', _BADGES[status], status.label)


@register.simple_tag
def complaint_summary(user: User) -> selectors.Summary:
    return selectors.supervisor_summary(user=user)


@register.simple_tag
def complaints_about(user: User, tender: Tender) -> QuerySet[Complaint]:
    return selectors.complaints_about_tender(user=user, tender=tender)


@register.simple_tag
def may_complain(user: User, tender: Tender) -> bool:
    return tender.published_at is not None and selectors.interested_organisation(
        user=user, tender=tender
    )


@register.filter
def lot_is_suspended(lot: Lot) -> bool:
    """``{% if lot|lot_is_suspended %}``: an order to suspend its procurement is in force."""
    return selectors.lot_suspended(lot)
