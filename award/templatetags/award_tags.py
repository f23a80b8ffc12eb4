"""Display helpers of the award pages: ``{% load award_tags %}`` then ``{{ objection.answer_due|due_label }}``."""

from __future__ import annotations

import datetime as dt

from django import template

from award.selectors import due_label as _due_label

register = template.Library()


@register.filter
def due_label(value: dt.datetime | None) -> str:
    """A TR 54 due time as people write it: the last day at 24:00."""
    return "—" if value is None else _due_label(value)
