"""Signing in and out, the 工作台 (dashboard) and the message list.

Sign-in is throttled by django-axes: ``authenticate`` consults
``AxesStandaloneBackend`` first, which refuses a locked-out username and
address outright; a failed attempt is counted by axes' own signal receiver,
which marks the request ``axes_locked_out`` when this attempt reached the
limit or came while locked. ``AxesMiddleware`` then replaces the response
with ``AXES_LOCKOUT_TEMPLATE``. This view reads that mark only to audit the
attempt correctly; the audit itself is done by ``accounts.services``.
"""

from __future__ import annotations

from typing import cast

from django.conf import settings
from django.contrib.auth import authenticate, login, logout
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render, resolve_url
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods, require_POST

from accounts import selectors, services
from accounts.forms import FinancePeriodForm, LoginForm
from accounts.models import Role, User

NOTIFICATIONS_PAGE_SIZE = 20


def _user(request: HttpRequest) -> User:
    return cast(User, request.user)


def _safe_next(request: HttpRequest, candidate: str | None) -> str | None:
    """``candidate`` if it points into this site, else None (no open redirects)."""
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return None


# --- signing in and out -----------------------------------------------------------


@sensitive_post_parameters("password")
@csrf_protect
@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
def login_view(request: HttpRequest) -> HttpResponse:
    next_url = _safe_next(request, request.POST.get("next") or request.GET.get("next"))
    form = LoginForm(request.POST or None)
    remaining: int | None = None
    if request.method == "POST" and form.is_valid():
        username = form.cleaned_data["username"]
        user = authenticate(request, username=username, password=form.cleaned_data["password"])
        if user is not None:
            login(request, user)
            services.login_succeeded(user=cast(User, user))
            return redirect(next_url or resolve_url(settings.LOGIN_REDIRECT_URL))
        locked_out = bool(getattr(request, "axes_locked_out", False))
        services.login_failed(username=username, locked_out=locked_out)
        # When locked out, AxesMiddleware answers with the lockout page instead of this form.
        form.add_error(None, _("用户名或密码错误。"))
        failures = getattr(request, "axes_failures_since_start", None)
        if failures is not None:
            remaining = max(settings.AXES_FAILURE_LIMIT - failures, 0)
    return render(
        request,
        "accounts/login.html",
        {
            "form": form,
            "next": next_url or "",
            "remaining_attempts": remaining,
            "failure_limit": settings.AXES_FAILURE_LIMIT,
            "cooloff_minutes": round(settings.AXES_COOLOFF_TIME * 60),
        },
    )


@require_POST
def logout_view(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        user = _user(request)
        logout(request)
        services.logged_out(user=user)
    return redirect(settings.LOGOUT_REDIRECT_URL)


# --- the 工作台 ------------------------------------------------------------------------


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    """One section for each role the user holds, each read through its selector."""
    user = _user(request)
    context: dict[str, object] = {}
    if user.has_role(Role.AGENT):
        context["agent"] = selectors.dashboard_agent(user=user)
    if user.has_role(Role.TENDERER_REP):
        context["tenderer"] = selectors.dashboard_tenderer(user=user)
    if user.has_role(Role.BIDDER):
        context["bidder"] = selectors.dashboard_bidder(user=user)
    if user.has_role(Role.SUPERVISOR):
        context["supervisor"] = selectors.dashboard_supervisor(user=user)
    if user.has_role(Role.FINANCE):
        period_form = FinancePeriodForm(
            request.GET if "start" in request.GET or "end" in request.GET else None,
            initial=FinancePeriodForm.default_period(timezone.localdate()),
        )
        period = (
            period_form.cleaned_data
            if period_form.is_bound and period_form.is_valid()
            else FinancePeriodForm.default_period(timezone.localdate())
        )
        context["finance"] = selectors.dashboard_finance(user=user, start=period["start"], end=period["end"])
        context["period_form"] = period_form
    if user.has_role(Role.EXPERT):
        context["expert"] = selectors.dashboard_expert(user=user)
    if user.has_role(Role.PLATFORM_ADMIN):
        context["platform_admin"] = selectors.dashboard_platform_admin(user=user)
    context["has_sections"] = bool(context)
    # A bidder without registered keys cannot seal a bid; a custodian cannot receive a share.
    context["keys_missing"] = (
        selectors.may_hold_keys(user) and selectors.organisation_key_active(user.organisation_id) is None
    )
    return render(request, "accounts/dashboard.html", context)


# --- messages -----------------------------------------------------------------------------


@login_required
def notifications(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    page = Paginator(selectors.notifications_for(user=user), NOTIFICATIONS_PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    return render(request, "accounts/notifications.html", {"page": page})


@login_required
@require_POST
def notification_read(request: HttpRequest, pk: int) -> HttpResponse:
    """Mark one of the user's own messages read; ``open`` then follows its link."""
    user = _user(request)
    notification = selectors.notification_for(user=user, notification_id=pk)
    services.notification_mark_read(actor=user, notification_id=notification.pk)
    if request.POST.get("open"):
        target = _safe_next(request, notification.url)
        if target:
            return redirect(target)
    return redirect("accounts:notifications")


@login_required
@require_POST
def notifications_read_all(request: HttpRequest) -> HttpResponse:
    services.notifications_mark_all_read(actor=_user(request))
    return redirect("accounts:notifications")
