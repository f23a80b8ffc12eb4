"""The working area (工作区) for tenders: thin views over the services and selectors.

Every object is read through ``tendering.selectors`` (another agency's tender
is a 404, like a missing one); every change is one service call on POST; the
business rules and their Chinese messages come from the services.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from accounts.models import Organisation, Role, User
from audit.selectors import can_browse_audit
from core.errors import DomainError, NotFound, NotPermitted
from opening import room_selectors
from opening import selectors as opening_selectors
from opening.models import OpeningKey
from tendering import selectors, services
from tendering.forms import (
    AmendmentForm,
    DocumentUploadForm,
    LotForm,
    ReasonForm,
    TenderForm,
    apply_error,
)
from tendering.models import Lot, LotStatus, Tender, TenderStatus

MANAGE_ROLES = (Role.AGENT, Role.TENDERER_REP, Role.SUPERVISOR, Role.PLATFORM_ADMIN)
PAGE_SIZE = 20


def _user(request: HttpRequest) -> User:
    return cast(User, request.user)


def _is_agent_of(user: User, tender: Tender) -> bool:
    return user.has_role(Role.AGENT) and user.organisation_id == tender.agency_id


def _up_to_minute(moment: dt.datetime) -> dt.datetime:
    # Shown to the minute, so round up: a truncated minute would be earlier than the rule allows.
    floored = moment.replace(second=0, microsecond=0)
    return floored if floored == moment else floored + dt.timedelta(minutes=1)


def _not_draft_redirect(request: HttpRequest, tender: Tender) -> HttpResponse:
    messages.warning(request, _("公告已发布，不能再修改；请发布澄清或补遗。"))
    return redirect("tendering:tender_detail", pk=tender.pk)


@dataclass(frozen=True)
class LotRow:
    """A lot with the actions its state allows, as the service's state machine says.

    ``custodians`` are the opening key's custodians (planned on a draft, as
    made once published); ``is_custodian`` when the user acts for one of them.
    """

    lot: Lot
    can_edit: bool
    can_cancel: bool
    can_fail: bool
    custodians: list[Organisation]
    opening_key: OpeningKey | None
    is_custodian: bool
    # The opening room's record is published (the room closed).
    has_record: bool = False


def _lot_rows(tender: Tender, user: User) -> list[LotRow]:
    draft = tender.status == TenderStatus.DRAFT
    lots = list(tender.lots.all())
    keys = opening_selectors.opening_keys_by_lot(lot_ids=[lot.pk for lot in lots])
    records = room_selectors.lots_with_published_record(lot_ids=[lot.pk for lot in lots])
    rows = []
    for lot in lots:
        allowed = services.LOT_TRANSITIONS[lot.status]
        key = keys.get(lot.pk)
        if key is not None:
            custodians = [custodian.organisation for custodian in key.custodians.all()]
        else:
            custodians = opening_selectors.custodians_planned(lot=lot)
        rows.append(
            LotRow(
                lot=lot,
                can_edit=draft,
                can_cancel=not draft and LotStatus.CANCELLED in allowed,
                can_fail=LotStatus.FAILED in allowed,
                custodians=custodians,
                opening_key=key,
                is_custodian=key is not None
                and any(opening_selectors.acts_for_custodian(user, org) for org in custodians),
                has_record=lot.pk in records,
            )
        )
    return rows


# --- tenders -----------------------------------------------------------------------


@login_required
def tender_list(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    if not user.has_role(*MANAGE_ROLES):
        raise NotPermitted("permission.role", _("您没有管理招标项目的权限。"))
    tenders = selectors.tenders_for_manage(user=user)
    status = request.GET.get("status", "")
    if status in TenderStatus.values:
        tenders = tenders.filter(status=status)
    else:
        status = ""
    keyword = request.GET.get("q", "").strip()
    if keyword:
        tenders = tenders.filter(
            Q(title__icontains=keyword)
            | Q(project_name__icontains=keyword)
            | Q(code__icontains=keyword)
        )
    page = Paginator(tenders, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "tendering/tender_list.html",
        {
            "page": page,
            "status": status,
            "keyword": keyword,
            "status_choices": TenderStatus.choices,
            "query": query.urlencode(),
            "can_create": user.has_role(Role.AGENT),
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def tender_create(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    if not user.has_role(Role.AGENT):
        raise NotPermitted("permission.role", _("只有招标代理机构经办人可以创建招标公告。"))
    form = TenderForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            tender = services.tender_create(actor=user, data=form.to_input())
        except DomainError as error:
            apply_error(form, error)
        else:
            messages.success(request, _("招标公告草稿已创建，请添加标段并上传招标文件。"))
            return redirect("tendering:tender_detail", pk=tender.pk)
    return render(request, "tendering/tender_form.html", {"form": form, "tender": None})


@login_required
@require_http_methods(["GET", "POST"])
def tender_edit(request: HttpRequest, pk: int) -> HttpResponse:
    user = _user(request)
    tender = selectors.tender_for_agent(user=user, tender_id=pk)
    if request.method == "GET" and tender.status != TenderStatus.DRAFT:
        return _not_draft_redirect(request, tender)
    form = TenderForm(request.POST or None, initial=TenderForm.initial_for(tender))
    if request.method == "POST" and form.is_valid():
        try:
            services.tender_update(actor=user, tender=tender, data=form.to_input())
        except DomainError as error:
            apply_error(form, error)
        else:
            messages.success(request, _("招标公告已保存。"))
            return redirect("tendering:tender_detail", pk=tender.pk)
    return render(request, "tendering/tender_form.html", {"form": form, "tender": tender})


@login_required
def tender_detail(request: HttpRequest, pk: int) -> HttpResponse:
    user = _user(request)
    tender = selectors.tender_for_manage(user=user, tender_id=pk)
    now = timezone.now()
    lots = _lot_rows(tender, user)
    is_agent = _is_agent_of(user, tender)
    draft = tender.status == TenderStatus.DRAFT
    return render(
        request,
        "tendering/tender_detail.html",
        {
            "tender": tender,
            "lots": lots,
            "documents": selectors.portal_documents(tender=tender),
            "amendments": selectors.portal_amendments(tender=tender),
            "is_agent": is_agent,
            "is_draft": draft,
            "can_browse_audit": can_browse_audit(request.user),
            "can_amend": tender.status == TenderStatus.PUBLISHED
            and any(
                row.lot.status == LotStatus.PUBLISHED and row.lot.bid_deadline > now for row in lots
            ),
            # The service refuses once every lot has ended (awarded, failed or cancelled).
            "can_cancel": tender.status != TenderStatus.CANCELLED
            and not (lots and all(row.lot.is_final for row in lots)),
            "obtainers_open": selectors.bidding_closed_for(tender=tender, now=now),
        },
    )


@login_required
def tender_preview(request: HttpRequest, pk: int) -> HttpResponse:
    """The announcement exactly as the portal's page shows it, to its agents, before or after publication."""
    user = _user(request)
    tender = selectors.tender_for_agent(user=user, tender_id=pk)
    window_start, window_end = selectors.documents_window(tender=tender)
    now = timezone.now()
    # The window as it will read once published: a draft is previewed as if it were out.
    window_open = (
        window_start is not None and window_end is not None and window_start <= now < window_end
    )
    # The portal page's own context, as an agent (not a bidder) would see it there.
    context: dict[str, Any] = {
        "tender": tender,
        "lots": list(tender.lots.order_by("number")),
        "amendments": list(selectors.portal_amendments(tender=tender)),
        "documents": list(selectors.portal_documents(tender=tender)),
        "window_start": window_start,
        "window_end": window_end,
        "window_open": window_open,
        "window_not_yet": window_start is not None and now < window_start,
        "is_bidder": False,
        "obtained": False,
        "can_obtain": False,
        "is_draft": tender.status == TenderStatus.DRAFT,
    }
    return render(request, "tendering/tender_preview.html", context)


def _post_action(request: HttpRequest, call: Callable[[], object], *, done: str) -> None:
    """Run a POST action's one service call: success and refusal become messages on the next page.

    ``NotFound`` and ``NotPermitted`` are not refusals to report but answers
    (404/403), left to the error middleware.
    """
    try:
        call()
    except (NotFound, NotPermitted):
        raise
    except DomainError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, done)


@login_required
@require_POST
def tender_publish(request: HttpRequest, pk: int) -> HttpResponse:
    user = _user(request)
    tender = selectors.tender_for_agent(user=user, tender_id=pk)
    _post_action(request, lambda: services.tender_publish(actor=user, tender=tender), done=_("招标公告已发布。"))
    return redirect("tendering:tender_detail", pk=tender.pk)


def _reason_view(
    request: HttpRequest,
    *,
    tender: Tender,
    lot: Lot | None,
    label: str,
    heading: str,
    action: Any,
    done: str,
    danger_note: str,
) -> HttpResponse:
    """A reason form (terminate a tender or lot, declare a lot failed) and its one service call."""
    form = ReasonForm(request.POST or None, label=label)
    if request.method == "POST" and form.is_valid():
        try:
            action(form.cleaned_data["reason"])
        except (NotFound, NotPermitted):
            raise
        except DomainError as error:
            apply_error(form, error)
        else:
            messages.success(request, done)
            return redirect("tendering:tender_detail", pk=tender.pk)
    return render(
        request,
        "tendering/reason_form.html",
        {
            "form": form,
            "tender": tender,
            "lot": lot,
            "heading": heading,
            "danger_note": danger_note,
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def tender_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    user = _user(request)
    tender = selectors.tender_for_agent(user=user, tender_id=pk)
    return _reason_view(
        request,
        tender=tender,
        lot=None,
        label=_("终止原因"),
        heading=_("终止招标"),
        action=lambda reason: services.tender_cancel(actor=user, tender=tender, reason=reason),
        done=_("招标已终止，已通知获取招标文件的投标人。"),
        danger_note=_("终止后，所有尚未结束的标段一并终止，且不可恢复。"),
    )


# --- lots ----------------------------------------------------------------------------


def _lot_form_view(
    request: HttpRequest, *, user: User, tender: Tender, lot: Lot | None
) -> HttpResponse:
    if request.method == "GET" and tender.status != TenderStatus.DRAFT:
        return _not_draft_redirect(request, tender)
    initial = LotForm.initial_for(lot) if lot is not None else None
    form = LotForm(request.POST or None, initial=initial, tender=tender)
    if request.method == "POST" and form.is_valid():
        try:
            services.lot_save(actor=user, tender=tender, data=form.to_input(), lot=lot)
        except (NotFound, NotPermitted):
            raise
        except DomainError as error:
            apply_error(form, error, aliases=LotForm.ERROR_ALIASES)
        else:
            messages.success(request, _("标段已保存。"))
            return redirect("tendering:tender_detail", pk=tender.pk)
    return render(request, "tendering/lot_form.html", {"form": form, "tender": tender, "lot": lot})


@login_required
@require_http_methods(["GET", "POST"])
def lot_create(request: HttpRequest, pk: int) -> HttpResponse:
    user = _user(request)
    tender = selectors.tender_for_agent(user=user, tender_id=pk)
    return _lot_form_view(request, user=user, tender=tender, lot=None)


@login_required
@require_http_methods(["GET", "POST"])
def lot_edit(request: HttpRequest, pk: int) -> HttpResponse:
    user = _user(request)
    lot = selectors.lot_for_agent(user=user, lot_id=pk)
    return _lot_form_view(request, user=user, tender=lot.tender, lot=lot)


@login_required
@require_POST
def lot_delete(request: HttpRequest, pk: int) -> HttpResponse:
    user = _user(request)
    lot = selectors.lot_for_agent(user=user, lot_id=pk)
    _post_action(request, lambda: services.lot_delete(actor=user, lot=lot), done=_("标段已删除。"))
    return redirect("tendering:tender_detail", pk=lot.tender_id)


@login_required
@require_http_methods(["GET", "POST"])
def lot_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    user = _user(request)
    lot = selectors.lot_for_agent(user=user, lot_id=pk)
    return _reason_view(
        request,
        tender=lot.tender,
        lot=lot,
        label=_("终止原因"),
        heading=_("终止标段"),
        action=lambda reason: services.lot_cancel(actor=user, lot=lot, reason=reason),
        done=_("标段已终止。"),
        danger_note=_("终止后该标段不可恢复，其他标段照常进行。"),
    )


@login_required
@require_http_methods(["GET", "POST"])
def lot_fail(request: HttpRequest, pk: int) -> HttpResponse:
    user = _user(request)
    lot = selectors.lot_for_agent(user=user, lot_id=pk)
    return _reason_view(
        request,
        tender=lot.tender,
        lot=lot,
        label=_("流标原因"),
        heading=_("宣布流标"),
        action=lambda reason: services.lot_fail(actor=user, lot=lot, reason=reason),
        done=_("标段已宣布流标。"),
        danger_note=_(
            "仅投标截止后至定标前可宣布流标，例如投标人不足或所有投标均被否决；流标结果将公开。"
        ),
    )


# --- documents and amendments ------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def document_upload(request: HttpRequest, pk: int) -> HttpResponse:
    user = _user(request)
    tender = selectors.tender_for_agent(user=user, tender_id=pk)
    if request.method == "GET" and tender.status != TenderStatus.DRAFT:
        return _not_draft_redirect(request, tender)
    form = DocumentUploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        try:
            document = services.document_upload(
                actor=user, tender=tender, upload=form.cleaned_data["file"]
            )
        except (NotFound, NotPermitted):
            raise
        except DomainError as error:
            apply_error(form, error)
        else:
            messages.success(
                request, _("文件“%(name)s”已上传。") % {"name": document.original_name}
            )
            return redirect("tendering:tender_detail", pk=tender.pk)
    return render(request, "tendering/document_form.html", {"form": form, "tender": tender})


@login_required
@require_http_methods(["GET", "POST"])
def amendment_create(request: HttpRequest, pk: int) -> HttpResponse:
    user = _user(request)
    tender = selectors.tender_for_agent(user=user, tender_id=pk)
    form = AmendmentForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            amendment = services.amendment_publish(
                actor=user,
                tender=tender,
                title=data["title"],
                body=data["body"],
                affects_preparation=data["affects_preparation"],
                new_deadline=data["new_deadline"],
                extend_to_minimum=data["extend_to_minimum"],
                files=data["attachments"],
            )
        except (NotFound, NotPermitted):
            raise
        except DomainError as error:
            apply_error(form, error, aliases={"file": "attachments"})
        else:
            messages.success(
                request,
                _("第%(number)d号澄清/补遗已发布，已通知获取招标文件的投标人。")
                % {"number": amendment.number},
            )
            return redirect("tendering:tender_detail", pk=tender.pk)
    now = timezone.now()
    return render(
        request,
        "tendering/amendment_form.html",
        {
            "form": form,
            "tender": tender,
            "open_lots": tender.lots.filter(
                status=LotStatus.PUBLISHED, bid_deadline__gt=now
            ).order_by("number"),
            "earliest_deadline": _up_to_minute(services.amendment_earliest_deadline(now=now)),
            "min_days": settings.SUNBID["AMENDMENT_MIN_DAYS"],
        },
    )


# --- obtaining the documents (EB 21) ------------------------------------------------------


@login_required
def obtainers(request: HttpRequest, pk: int) -> HttpResponse:
    user = _user(request)
    tender = selectors.tender_for_manage(user=user, tender_id=pk)
    context: dict[str, Any] = {"tender": tender, "obtains": None, "sealed_message": ""}
    status = 200
    try:
        context["obtains"] = list(selectors.tender_obtainers(user=user, tender=tender))
    except NotPermitted as error:
        if error.code != "documents.obtainers_sealed":
            raise
        context["sealed_message"] = error.message
        status = error.status
    return render(request, "tendering/obtainers.html", context, status=status)


@login_required
@require_POST
def obtain(request: HttpRequest, pk: int) -> HttpResponse:
    user = _user(request)
    tender = selectors.portal_tender(tender_id=pk)
    _post_action(request, lambda: services.documents_obtain(actor=user, tender=tender), done=_("已登记获取招标文件，现在可以下载。"))
    return redirect("portal:announcement", pk=tender.pk)


@login_required
def document_download(request: HttpRequest, pk: int) -> FileResponse:
    document = selectors.document_for_download(user=_user(request), document_id=pk)
    return FileResponse(
        document.file.open("rb"), as_attachment=True, filename=document.original_name
    )


@login_required
def my_obtained(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    if not user.has_role(Role.BIDDER):
        raise NotPermitted("permission.role", _("只有投标人可以查看已获取招标文件的项目。"))
    tenders = selectors.obtained_by(user=user).prefetch_related("documents")
    page = Paginator(tenders, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "tendering/my_obtained.html", {"page": page})
