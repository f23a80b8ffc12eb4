"""Bid security on pages that belong to other apps: the bidder's lot page, the finance dashboard.

``{% load bid_security %}`` then ``{% bidder_security lot as security %}`` (the
signed-in bidder's own security on ``lot``, None for anyone else) or
``{% refund_counts as counts %}`` (refunds due, overdue and their total; None
unless the user is in the finance role).
Both only read, through ``bidding.security_selectors``.
"""

from __future__ import annotations

from typing import Any

from django import template

from bidding.security_selectors import (
    BidderSecurity,
    Queue,
    is_finance,
    refund_queue,
    security_for_bidder,
)
from tendering.models import Lot

register = template.Library()


@register.simple_tag(takes_context=True)
def bidder_security(context: dict[str, Any], lot: Lot) -> BidderSecurity | None:
    user = context.get("user")
    if user is None or lot is None:
        return None
    return security_for_bidder(user=user, lot=lot)


@register.simple_tag(takes_context=True)
def refund_counts(context: dict[str, Any]) -> Queue | None:
    user = context.get("user")
    if user is None or not is_finance(user):
        return None
    return refund_queue(user=user)
