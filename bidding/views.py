"""The bidder's pages (my bids, one lot: status, receipts, withdrawal) and the list of received bids.

Sealing and uploading happen on the sealing page (``bidding.views_browser``)
and through the JSON API (``bidding.views_api``); these pages only read, and
withdraw.
"""

from __future__ import annotations

from typing import cast

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from accounts.models import User
from accounts.selectors import organisation_key_active
from bidding import selectors, services
from core.errors import DomainError


def _user(request: HttpRequest) -> User:
    return cast(User, request.user)


@login_required
@require_GET
def my_bids(request: HttpRequest) -> HttpResponse:
    """Every lot the organisation may bid on or has bid on, with its current bid."""
    rows = selectors.my_bidding(user=_user(request))
    return render(request, "bidding/my_bids.html", {"rows": rows})


def _lot_context(request: HttpRequest, lot_id: int) -> dict[str, object]:
    user = _user(request)
    lot = selectors.lot_for_bidder(user=user, lot_id=lot_id)
    return {
        "lot": lot,
        "current": selectors.current_bid(user=user, lot=lot),
        "history": list(selectors.own_bids_on_lot(user=user, lot=lot)),
        "uploads": list(selectors.own_open_uploads(user=user, lot=lot)),
        "accepting": selectors.accepting_bids(lot),
        "deadline_passed": timezone.now() >= lot.bid_deadline,
        "active_key": organisation_key_active(user.organisation_id),
    }


@login_required
@never_cache
@require_GET
def lot(request: HttpRequest, lot_id: int) -> HttpResponse:
    return render(request, "bidding/lot.html", _lot_context(request, lot_id))


@login_required
@require_POST
def withdraw(request: HttpRequest, lot_id: int) -> HttpResponse:
    """Withdraw the organisation's current bid after an explicit confirmation."""
    user = _user(request)
    found = selectors.lot_for_bidder(user=user, lot_id=lot_id)
    if request.POST.get("confirm") != "yes":
        context = _lot_context(request, lot_id)
        context["withdraw_error"] = _("请勾选确认后再撤回投标文件。")
        return render(request, "bidding/lot.html", context, status=400)
    try:
        services.bid_withdraw(actor=user, lot=found)
    except DomainError as exc:
        context = _lot_context(request, lot_id)
        context["withdraw_error"] = exc.message
        return render(request, "bidding/lot.html", context, status=exc.status)
    messages.success(request, _("投标文件已撤回。截止前仍可重新递交。"))
    return redirect("bidding:lot", lot_id=found.pk)


@login_required
@require_GET
def received(request: HttpRequest, lot_id: int) -> HttpResponse:
    """After the deadline: how many bids the lot received and, once the tender is unsealed, from whom."""
    result = selectors.received_bids(user=_user(request), lot_id=lot_id)
    return render(request, "bidding/received.html", {"result": result, "lot": result.lot})
