"""The savings reports (节约率报表): the page, the drill-down to the lots, the exports.

Thin views: the filter form reads the parameters, ``finance.selectors``
applies who sees what (finance staff and platform administrators everything,
an agent their own agency's lots, anyone else ``savings.not_permitted``) and
computes the figures; the exports and charts only lay those figures out.
The scope is checked before anything else, so a refused user learns nothing,
not even whether the parameters were valid.
"""

from __future__ import annotations

from typing import cast
from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET

from accounts.models import User
from core.errors import DomainError
from finance import charts, exports, selectors
from finance.forms import SavingsFilterForm
from finance.periods import Period

CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pdf": "application/pdf",
}
LOT_EXPORTS = ("csv", "xlsx")


def _user(request: HttpRequest) -> User:
    return cast(User, request.user)


def _filter(request: HttpRequest) -> tuple[SavingsFilterForm, Period | None, str | None]:
    """The form, and the period and breakdown it selects (None when its parameters are wrong)."""
    form = SavingsFilterForm(request.GET)
    if form.is_bound and not form.is_valid():
        return form, None, None
    return form, form.chosen_period(), form.chosen_by()


def _valid_filter(request: HttpRequest) -> tuple[Period, str]:
    """For the drill-down and the exports, which have no form to show: wrong parameters are refused."""
    form, period, by = _filter(request)
    if period is None or by is None:
        first = next(iter(form.errors.values()))[0]
        raise DomainError("savings.filter", gettext_lazy("统计条件有误：%(error)s"), error=first)
    return period, by


def _query(period: Period, by: str, **extra: str) -> str:
    return urlencode({**period.query(), "by": by, **extra})


def _attachment(content: bytes, fmt: str, name: str) -> HttpResponse:
    response = HttpResponse(content, content_type=CONTENT_TYPES[fmt])
    response["Content-Disposition"] = content_disposition_header(True, f"{name}.{fmt}")
    response["Cache-Control"] = "private, no-store"
    return response


@login_required
@require_GET
def savings(request: HttpRequest) -> HttpResponse:
    """The report page: filter, totals, the breakdown table, the two charts, links to the lots and exports."""
    user = _user(request)
    scope = selectors.savings_scope(user=user)
    form, period, by = _filter(request)
    context: dict[str, object] = {"form": form, "scope": scope}
    if period is not None and by is not None:
        report = selectors.savings_report(user=user, period=period, by=by)
        context.update(
            report=report,
            month_chart=charts.savings_by_month(report.months),
            category_chart=charts.rate_by_category(report.categories),
            query=_query(period, by),
            # The month bars drill down by month, the category bars by category, whatever the table shows.
            month_query=_query(period, "month"),
            category_query=_query(period, "category"),
        )
    return render(request, "finance/savings.html", context)


@login_required
@require_GET
def savings_lots(request: HttpRequest) -> HttpResponse:
    """The lots behind one figure, as an account book: carried forward, page total, running total."""
    user = _user(request)
    selectors.savings_scope(user=user)
    period, by = _valid_filter(request)
    key = request.GET.get("key") or None
    lots = selectors.savings_slice(user=user, period=period, by=by if key else None, key=key)
    ledger = selectors.savings_ledger(lots, page=request.GET.get("page"), per_page=selectors.DRILL_PAGE_SIZE)
    slice_query = _query(period, by, **({"key": key} if key else {}))
    return render(
        request,
        "finance/savings_lots.html",
        {
            "lots": lots,
            "ledger": ledger,
            "page": ledger.page,
            "query": slice_query,
            "report_query": _query(period, by),
        },
    )


@login_required
@require_GET
def savings_export(request: HttpRequest, fmt: str) -> HttpResponse:
    """The report as CSV, XLSX or PDF, with the figures of the page for the same parameters."""
    user = _user(request)
    selectors.savings_scope(user=user)
    if fmt not in CONTENT_TYPES:
        raise Http404
    period, by = _valid_filter(request)
    report = selectors.savings_report(user=user, period=period, by=by)
    document = exports.report_document(report)
    name = _("节约资金统计报表-%(period)s") % {"period": period.label}
    if fmt == "csv":
        return _attachment(exports.to_csv(document), fmt, name)
    if fmt == "xlsx":
        return _attachment(exports.to_xlsx(document), fmt, name)
    from finance.pdf import report_pdf

    return _attachment(report_pdf(document, report), fmt, name)


@login_required
@require_GET
def savings_lots_export(request: HttpRequest, fmt: str) -> HttpResponse:
    """Every lot behind one figure, as CSV or XLSX, with the figure as the total row."""
    user = _user(request)
    selectors.savings_scope(user=user)
    if fmt not in LOT_EXPORTS:
        raise Http404
    period, by = _valid_filter(request)
    key = request.GET.get("key") or None
    lots = selectors.savings_slice(user=user, period=period, by=by if key else None, key=key)
    document = exports.lots_document(lots)
    name = _("节约资金明细-%(period)s-%(label)s") % {"period": lots.period.label, "label": lots.label}
    content = exports.to_csv(document) if fmt == "csv" else exports.to_xlsx(document)
    return _attachment(content, fmt, name)
