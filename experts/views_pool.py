"""The expert pool pages and the expert's own page ("我的专家信息").

Thin views: the role check and every read go through ``experts.selectors_pool``
(supervisors read, platform administrators maintain, everyone else is refused
with 403 before anything is looked up); every change is one call into
``experts.pool`` on POST, whose refusal is put back on the form.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods, require_POST

from accounts.models import User
from core.errors import DomainError, NotFound, NotPermitted
from experts import pool
from experts import selectors_pool as selectors
from experts.forms_pool import (
    AccountForm,
    ConflictForm,
    ContactForm,
    ExpertForm,
    ImportForm,
    StatusForm,
    UnavailabilityForm,
)
from experts.id_number import mask
from experts.models import Expert, ExpertStatus
from tendering.forms import apply_error
from tendering.regions import REGIONS

PAGE_SIZE = 20
T = TypeVar("T")


def _user(request: HttpRequest) -> User:
    return cast(User, request.user)


def _attempt(form: forms.Form, service: Callable[..., T], **arguments: Any) -> T | None:
    """Call one service; its refusal goes on the form (None), a permission refusal propagates."""
    try:
        return service(**arguments)
    except (NotFound, NotPermitted):
        raise
    except DomainError as error:
        apply_error(form, error)
        return None


# --- the pool (supervisors and platform administrators) ------------------------------------


@login_required
def pool_list(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    selectors.pool_require_view(user)
    filters = selectors.PoolFilters.parse(request.GET)
    experts = selectors.experts_for_pool(user=user, filters=filters)
    page = Paginator(experts, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "experts/pool_list.html",
        {
            "page": page,
            "filters": filters,
            "query": query.urlencode(),
            "specialty_choices": selectors.specialty_filter_choices(),
            "region_choices": REGIONS,
            "status_choices": ExpertStatus.choices,
            "can_manage": selectors.pool_can_manage(user),
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def pool_import(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    selectors.pool_require_manage(user)
    form = ImportForm(request.POST or None, request.FILES or None)
    report = None
    if request.method == "POST" and form.is_valid():
        report = pool.experts_import(actor=user, file=form.cleaned_data["file"])
        if report.imported:
            messages.success(
                request,
                _("导入完成：新增 %(created)s 名专家，更新 %(updated)s 名专家。")
                % {"created": report.created, "updated": report.updated},
            )
    return render(
        request,
        "experts/pool_import.html",
        {"form": form, "report": report, "columns": pool.IMPORT_COLUMNS},
    )


@login_required
def pool_import_template(request: HttpRequest) -> HttpResponse:
    selectors.pool_require_manage(_user(request))
    response = HttpResponse(pool.import_template_csv(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = content_disposition_header(True, "专家导入模板.csv")
    return response


@sensitive_post_parameters("id_number")
@login_required
@require_http_methods(["GET", "POST"])
def pool_create(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    selectors.pool_require_manage(user)
    form = ExpertForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        expert = _attempt(form, pool.expert_create, actor=user, data=form.to_input())
        if expert is not None:
            messages.success(request, _("专家已登记入库。"))
            return redirect("experts:pool_detail", pk=expert.pk)
    return render(request, "experts/pool_form.html", {"form": form, "expert": None})


@sensitive_post_parameters("id_number")
@login_required
@require_http_methods(["GET", "POST"])
def pool_edit(request: HttpRequest, pk: int) -> HttpResponse:
    user = _user(request)
    selectors.pool_require_manage(user)
    expert = selectors.expert_for_pool(user=user, expert_id=pk)
    form = ExpertForm(request.POST or None, expert=expert, initial=ExpertForm.initial_for(expert))
    if (
        request.method == "POST"
        and form.is_valid()
        and _attempt(form, pool.expert_update, actor=user, expert=expert, data=form.to_input())
        is not None
    ):
        messages.success(request, _("专家信息已保存。"))
        return redirect("experts:pool_detail", pk=expert.pk)
    return render(request, "experts/pool_form.html", {"form": form, "expert": expert})


def _detail(request: HttpRequest, expert: Expert, **bound: forms.Form) -> HttpResponse:
    """The detail page, with a form that failed (``bound``) shown with its errors."""
    user = _user(request)
    can_manage = selectors.pool_can_manage(user)
    context: dict[str, Any] = {"expert": expert, "can_manage": can_manage}
    if can_manage:
        context.update(
            status_form=bound.get("status_form") or StatusForm(),
            account_form=bound.get("account_form")
            or AccountForm(initial={"username": expert.user.get_username() if expert.user else ""}),
            conflict_form=bound.get("conflict_form") or ConflictForm(),
            unavailability_form=bound.get("unavailability_form") or UnavailabilityForm(),
        )
    return render(request, "experts/pool_detail.html", context)


@login_required
def pool_detail(request: HttpRequest, pk: int) -> HttpResponse:
    expert = selectors.expert_for_pool(user=_user(request), expert_id=pk)
    return _detail(request, expert)


def _managed_expert(request: HttpRequest, pk: int) -> tuple[User, Expert]:
    user = _user(request)
    selectors.pool_require_manage(user)
    return user, selectors.expert_for_pool(user=user, expert_id=pk)


@login_required
@require_POST
def pool_status(request: HttpRequest, pk: int) -> HttpResponse:
    user, expert = _managed_expert(request, pk)
    form = StatusForm(request.POST)
    if (
        form.is_valid()
        and _attempt(form, pool.expert_set_status, actor=user, expert=expert, **form.cleaned_data)
        is not None
    ):
        messages.success(request, _("专家状态已变更。"))
        return redirect("experts:pool_detail", pk=expert.pk)
    return _detail(request, expert, status_form=form)


@login_required
@require_POST
def pool_account(request: HttpRequest, pk: int) -> HttpResponse:
    user, expert = _managed_expert(request, pk)
    form = AccountForm(request.POST)
    if (
        form.is_valid()
        and _attempt(form, pool.expert_account_link, actor=user, expert=expert, **form.cleaned_data)
        is not None
    ):
        messages.success(request, _("平台账户关联已保存。"))
        return redirect("experts:pool_detail", pk=expert.pk)
    return _detail(request, expert, account_form=form)


@login_required
@require_POST
def pool_conflict_add(request: HttpRequest, pk: int) -> HttpResponse:
    user, expert = _managed_expert(request, pk)
    form = ConflictForm(request.POST)
    if (
        form.is_valid()
        and _attempt(
            form, pool.expert_conflict_declare, actor=user, expert=expert, **form.cleaned_data
        )
        is not None
    ):
        messages.success(request, _("回避申报已登记。"))
        return redirect("experts:pool_detail", pk=expert.pk)
    return _detail(request, expert, conflict_form=form)


@login_required
@require_POST
def pool_conflict_remove(request: HttpRequest, pk: int, conflict_pk: int) -> HttpResponse:
    user, expert = _managed_expert(request, pk)
    conflict = selectors.conflict_for_pool(user=user, expert=expert, conflict_id=conflict_pk)
    pool.expert_conflict_remove(actor=user, conflict=conflict)
    messages.success(request, _("回避申报已撤销。"))
    return redirect("experts:pool_detail", pk=expert.pk)


@login_required
@require_POST
def pool_unavailability_add(request: HttpRequest, pk: int) -> HttpResponse:
    user, expert = _managed_expert(request, pk)
    form = UnavailabilityForm(request.POST)
    if (
        form.is_valid()
        and _attempt(
            form, pool.expert_unavailability_add, actor=user, expert=expert, **form.cleaned_data
        )
        is not None
    ):
        messages.success(request, _("不可参评日期已登记。"))
        return redirect("experts:pool_detail", pk=expert.pk)
    return _detail(request, expert, unavailability_form=form)


@login_required
@require_POST
def pool_unavailability_remove(request: HttpRequest, pk: int, item_pk: int) -> HttpResponse:
    user, expert = _managed_expert(request, pk)
    period = selectors.unavailability_for_pool(user=user, expert=expert, unavailability_id=item_pk)
    pool.expert_unavailability_remove(actor=user, unavailability=period)
    messages.success(request, _("不可参评日期已撤销。"))
    return redirect("experts:pool_detail", pk=expert.pk)


# --- the expert's own page ---------------------------------------------------------------------


def _profile(
    request: HttpRequest,
    expert: Expert | None,
    *,
    contact_form: ContactForm | None = None,
    unavailability_form: UnavailabilityForm | None = None,
) -> HttpResponse:
    context: dict[str, Any] = {"expert": expert}
    if expert is not None:
        context.update(
            masked_id_number=mask(expert.id_number),
            contact_form=contact_form
            or ContactForm(initial={"mobile": expert.mobile, "email": expert.email}),
            unavailability_form=unavailability_form or UnavailabilityForm(),
        )
    return render(request, "experts/profile.html", context)


def _own_expert(request: HttpRequest) -> tuple[User, Expert]:
    user = _user(request)
    expert = selectors.expert_for_self(user=user)
    if expert is None:
        raise NotFound("experts.no_profile", _("您的账户尚未关联专家档案，请联系交易中心。"))
    return user, expert


@login_required
@require_http_methods(["GET", "POST"])
def profile(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        return _profile(request, selectors.expert_for_self(user=_user(request)))
    user, expert = _own_expert(request)
    form = ContactForm(request.POST)
    if (
        form.is_valid()
        and _attempt(
            form, pool.expert_contact_update, actor=user, expert=expert, **form.cleaned_data
        )
        is not None
    ):
        messages.success(request, _("联系方式已更新。"))
        return redirect("experts:profile")
    return _profile(request, expert, contact_form=form)


@login_required
@require_POST
def profile_unavailability_add(request: HttpRequest) -> HttpResponse:
    user, expert = _own_expert(request)
    form = UnavailabilityForm(request.POST)
    if (
        form.is_valid()
        and _attempt(
            form, pool.expert_unavailability_add, actor=user, expert=expert, **form.cleaned_data
        )
        is not None
    ):
        messages.success(request, _("不可参评日期已登记。"))
        return redirect("experts:profile")
    return _profile(request, expert, unavailability_form=form)


@login_required
@require_POST
def profile_unavailability_remove(request: HttpRequest, item_pk: int) -> HttpResponse:
    user = _user(request)
    period = selectors.unavailability_for_self(user=user, unavailability_id=item_pk)
    pool.expert_unavailability_remove(actor=user, unavailability=period)
    messages.success(request, _("不可参评日期已撤销。"))
    return redirect("experts:profile")
