"""The supervisors' collusion signals (围标串标): the opened lots, and one lot's signals with their evidence.

Supervisors and platform administrators only (others get 403, anonymous
visitors the login page); a lot whose prices have not been read out is
refused with ``collusion.not_opened`` (EB 21, EB 27). Everything is read
through ``audit.collusion``; docs/collusion.md defines each signal.
"""

from __future__ import annotations

from decimal import Decimal
from typing import cast

from django import forms
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET

from accounts.models import User
from audit import collusion

LOTS_PAGE_SIZE = 50
HUNDRED = Decimal(100)


class ToleranceForm(forms.Form):
    """The relative tolerance for prices, ratios and gaps, in percent (0.05 means 0.05 %)."""

    tolerance = forms.DecimalField(
        label=_("报价接近阈值（%）"),
        required=False,
        min_value=Decimal(0),
        max_value=collusion.MAX_PRICE_TOLERANCE * HUNDRED,
        max_digits=7,
        decimal_places=4,
        help_text=_(
            "两个报价之差不超过较高报价的这一比例即视为接近；也用于标段间的报价比例和等差间隔。0 表示只看完全相同。"
        ),
    )

    def value(self) -> Decimal:
        """The tolerance as a fraction; the default when the field is empty or does not parse."""
        if self.is_valid() and self.cleaned_data["tolerance"] is not None:
            return cast(Decimal, self.cleaned_data["tolerance"]) / HUNDRED
        return collusion.DEFAULT_PRICE_TOLERANCE


def _user(request: HttpRequest) -> User:
    return cast(User, request.user)


@login_required
@require_GET
def lots(request: HttpRequest) -> HttpResponse:
    opened = collusion.opened_lots_for(user=_user(request))
    page = Paginator(opened, LOTS_PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "audit/collusion_lots.html", {"page": page, "query": ""})


@login_required
@require_GET
def lot(request: HttpRequest, lot_id: int) -> HttpResponse:
    form = ToleranceForm(request.GET or None)
    tolerance = form.value()
    report = collusion.lot_collusion_for(
        user=_user(request), lot_id=lot_id, price_tolerance=tolerance
    )
    return render(
        request,
        "audit/collusion.html",
        {
            "report": report,
            "lot": report.lot,
            "form": form,
            "sections": report.by_kind(),
        },
    )
