"""Display helpers of the savings reports: ``{% load savings %}`` then ``{{ figure.rate|rate }}``."""

from __future__ import annotations

from decimal import Decimal

from django import template

register = template.Library()


@register.filter
def rate(value: Decimal | None) -> str:
    """A savings rate in per cent as the reports print it: ``6.13%``; a dash for an empty slice."""
    if value is None:
        return "—"
    return f"{value}%"
