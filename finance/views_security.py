"""Pages of bid security (投标保证金): the finance queue, payments, statements, batches; the agent's lot pages.

Thin: each view reads through ``bidding.security_selectors`` (which refuses
whoever may not see the object: 404 for another agency's lot, 403 for a role
that has no business here) and changes things through one
``bidding.security`` service on POST. The rules and their messages are the
services'.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import content_disposition_header, url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.models import User
from bidding import security as services
from bidding import security_selectors as selectors
from core.errors import DomainError, NotFound, NotPermitted
from finance.forms_security import (
    BatchForm,
    ContractForm,
    ForfeitForm,
    PaymentForm,
    QueueFilterForm,
    RefundPaidForm,
    ReleaseForm,
    StatementForm,
)
from tendering.forms import apply_error

QUEUE_PAGE_SIZE = 100


def _user(request: HttpRequest) -> User:
    return cast(User, request.user)


def _form_message(form: Any) -> str:
    for errors in form.errors.values():
        if errors:
            return str(errors[0])
    return _("输入有误，请检查后重试。")


def _post_action(request: HttpRequest, call: Callable[[], object], *, done: Callable[[Any], str]) -> bool:
    """One service call: its refusal or its success becomes a message on the next page."""
    try:
        result = call()
    except (NotFound, NotPermitted):
        raise
    except DomainError as error:
        messages.error(request, error.message)
        return False
    messages.success(request, done(result))
    return True


# --- the finance queue and batches -----------------------------------------------------------------


@login_required
@require_GET
def security_queue(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    selectors.require_finance(user)
    form = QueueFilterForm(request.GET or None)
    queue = selectors.refund_queue(user=user, filters=form.to_filter())
    page = Paginator(queue.lines, QUEUE_PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "finance/security_queue.html",
        {
            "form": form,
            "queue": queue,
            "page": page,
            "query": query.urlencode(),
            "batches": selectors.recent_batches(user=user),
            "paid_form": RefundPaidForm(),
        },
    )


@login_required
@require_POST
def security_batch_create(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    selectors.require_finance(user)
    form = BatchForm(request.POST)
    if not form.is_valid():
        messages.error(request, _form_message(form))
        return redirect("finance:security_queue")
    try:
        batch = services.refund_batch_create(actor=user, payment_ids=form.cleaned_data["payments"])
    except (NotFound, NotPermitted):
        raise
    except DomainError as error:
        messages.error(request, error.message)
        return redirect("finance:security_queue")
    messages.success(
        request,
        _("已生成退付批次 %(number)s：%(count)s 笔，合计 %(total)s 元。请下载批量文件，在网银中提交。")
        % {"number": batch.number, "count": batch.count, "total": f"{batch.total:,.2f}"},
    )
    return redirect("finance:security_batch", pk=batch.pk)


@login_required
@require_GET
def security_batch(request: HttpRequest, pk: int) -> HttpResponse:
    batch, refunds, summary = selectors.batch_detail(user=_user(request), batch_id=pk)
    return render(
        request,
        "finance/security_batch.html",
        {
            "batch": batch,
            "refunds": refunds,
            "summary": summary,
            "paid_form": RefundPaidForm(),
            "release_form": ReleaseForm(),
            "columns": selectors.BATCH_COLUMNS,
        },
    )


_FILE_TYPES = {
    "csv": ("text/csv; charset=utf-8", selectors.batch_csv),
    "xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", selectors.batch_xlsx),
}


@login_required
@require_GET
def security_batch_file(request: HttpRequest, pk: int, fmt: str) -> HttpResponse:
    batch = selectors.batch_for_finance(user=_user(request), batch_id=pk)
    if fmt not in _FILE_TYPES:
        raise NotFound("security.batch_format", _("只能下载 CSV 或 XLSX 格式的批量文件。"))
    content_type, build = _FILE_TYPES[fmt]
    response = HttpResponse(build(batch), content_type=content_type)
    response["Content-Disposition"] = content_disposition_header(True, f"保证金退付{batch.number}.{fmt}")
    return response


@login_required
@require_POST
def security_batch_paid(request: HttpRequest, pk: int) -> HttpResponse:
    user = _user(request)
    batch = selectors.batch_for_finance(user=user, batch_id=pk)
    form = RefundPaidForm(request.POST)
    if not form.is_valid():
        messages.error(request, _form_message(form))
    else:
        _post_action(
            request,
            lambda: services.refund_batch_mark_paid(
                actor=user, batch=batch, paid_on=form.cleaned_data["paid_on"],
                bank_reference=form.cleaned_data["bank_reference"],
            ),
            done=lambda count: _("已确认退付 %(count)s 笔。") % {"count": count},
        )
    return redirect("finance:security_batch", pk=batch.pk)


@login_required
@require_POST
def security_batch_release(request: HttpRequest, pk: int) -> HttpResponse:
    user = _user(request)
    batch = selectors.batch_for_finance(user=user, batch_id=pk)
    form = ReleaseForm(request.POST)
    if not form.is_valid():
        messages.error(request, _form_message(form))
    else:
        _post_action(
            request,
            lambda: services.refund_batch_release(actor=user, batch=batch, reason=form.cleaned_data["reason"]),
            done=lambda count: _("已将 %(count)s 笔撤出批次，重新列为待退还。") % {"count": count},
        )
    return redirect("finance:security_batch", pk=batch.pk)


@login_required
@require_POST
def security_refund_paid(request: HttpRequest, pk: int) -> HttpResponse:
    user = _user(request)
    payment = selectors.payment_for_finance(user=user, payment_id=pk)
    form = RefundPaidForm(request.POST)
    if not form.is_valid():
        messages.error(request, _form_message(form))
    else:
        _post_action(
            request,
            lambda: services.refund_mark_paid(
                actor=user, payment=payment, paid_on=form.cleaned_data["paid_on"],
                bank_reference=form.cleaned_data["bank_reference"],
            ),
            done=lambda refund: _("已记录退还 %(amount)s 元至 %(name)s（%(account)s）。")
            % {"amount": f"{refund.amount:,.2f}", "name": refund.payee_name, "account": refund.payee_account},
        )
    target = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        target = reverse("finance:security_queue")
    return redirect(target)


# --- payments in --------------------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def security_payment_create(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    selectors.require_finance(user)
    form = PaymentForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            payment = services.payment_record(actor=user, data=form.to_input())
        except (NotFound, NotPermitted):
            raise
        except DomainError as error:
            apply_error(form, error)
        else:
            messages.success(
                request,
                _("已登记 %(amount)s 元（%(reference)s）。")
                % {"amount": f"{payment.amount:,.2f}", "reference": payment.security.reference},
            )
            return redirect("finance:security_lot", lot_id=payment.security.lot_id)
    return render(request, "finance/security_payment_form.html", {"form": form})


@login_required
@require_http_methods(["GET", "POST"])
def security_import(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    selectors.require_finance(user)
    form = StatementForm(request.POST or None, request.FILES or None)
    report = None
    if request.method == "POST" and form.is_valid():
        report = services.statement_import(actor=user, file=form.cleaned_data["file"])
    return render(request, "finance/security_import.html", {"form": form, "report": report})


@login_required
@require_GET
def security_import_template(request: HttpRequest) -> HttpResponse:
    selectors.require_finance(_user(request))
    response = HttpResponse(services.statement_template_csv(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = content_disposition_header(True, "保证金交易明细示例.csv")
    return response


# --- a lot's securities, the contract, forfeiture -------------------------------------------------------


@login_required
@require_GET
def security_lot(request: HttpRequest, lot_id: int) -> HttpResponse:
    user = _user(request)
    result = selectors.lot_securities(user=user, lot_id=lot_id)
    return render(
        request,
        "finance/security_lot.html",
        {
            "result": result,
            "lot": result.lot,
            "is_finance": selectors.is_finance(user),
            "is_agent": selectors.is_agent_of(user, result.lot),
            "paid_form": RefundPaidForm(),
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def security_contract(request: HttpRequest, lot_id: int) -> HttpResponse:
    user = _user(request)
    lot = selectors.lot_for_contract(user=user, lot_id=lot_id)
    contract = selectors.contract_of(lot=lot)
    form = ContractForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.contract_record(actor=user, lot=lot, signed_on=form.cleaned_data["signed_on"])
        except (NotFound, NotPermitted):
            raise
        except DomainError as error:
            apply_error(form, error)
        else:
            messages.success(request, _("合同签订日期已登记，各投标人的保证金应在5日内退还（TR 57）。"))
            return redirect("finance:security_lot", lot_id=lot.pk)
    return render(request, "finance/security_contract.html", {"form": form, "lot": lot, "contract": contract})


@login_required
@require_http_methods(["GET", "POST"])
def security_forfeit(request: HttpRequest, pk: int) -> HttpResponse:
    user = _user(request)
    security = selectors.security_for_decision(user=user, security_id=pk)
    form = ForfeitForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.security_forfeit(actor=user, security=security, reason=form.cleaned_data["reason"])
        except (NotFound, NotPermitted):
            raise
        except DomainError as error:
            apply_error(form, error)
        else:
            messages.success(request, _("没收决定已记录。"))
            return redirect("finance:security_lot", lot_id=security.lot_id)
    view = selectors.security_views([security])[0]
    return render(request, "finance/security_forfeit.html", {"form": form, "view": view, "lot": security.lot})
