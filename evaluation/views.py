"""The evaluation pages, under /evaluation/: thin views over ``evaluation.services`` and ``evaluation.selectors``.

Who sees what is the selectors' (docs/evaluation.md): the workspace and
everything under it only for a member of that lot's committee (a 404 for
anyone else, like a lot that does not exist); the scheme for the lot's
agent to edit and, once the tender is published, for everyone to read; the
progress for those managing the tender, by seat; the final report for them
and the members. A refused action comes back as a message on the page it
came from; the rules and their Chinese texts are the services'.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any, cast

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, HttpRequest, HttpResponse
from django.middleware.csrf import get_token
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.models import Role, User
from bidding.storage import open_bid_file
from core.errors import DomainError, NotFound, NotPermitted
from evaluation import selectors, services
from evaluation.forms import (
    ItemFormSet,
    ReasonForm,
    SchemeForm,
    SignInForm,
    VoteForm,
    item_initial,
    scheme_input,
)
from evaluation.models import EvaluationStatus, ItemKind, Member
from evaluation.report_pdf import report_pdf as render_report_pdf
from experts.selectors import revealed_panel
from tendering.forms import apply_error
from tendering.models import EvaluationMethod, LotStatus


def _user(request: HttpRequest) -> User:
    return cast(User, request.user)


def _act(request: HttpRequest, action: Callable[[], Any], done: str) -> bool:
    """One service call from a button: a refusal becomes an error message, success a confirmation."""
    try:
        action()
    except (NotFound, NotPermitted):
        raise
    except DomainError as error:
        messages.error(request, error.message)
        return False
    messages.success(request, done)
    return True


# --- the index ------------------------------------------------------------------------------------------


@login_required
@require_GET
def index(request: HttpRequest) -> HttpResponse:
    """What the user has to do with evaluations: an expert's seats, a manager's lots, an agent's schemes."""
    user = _user(request)
    if not user.has_role(Role.EXPERT, Role.AGENT, Role.TENDERER_REP, Role.SUPERVISOR, Role.PLATFORM_ADMIN):
        raise NotPermitted("permission.role", _("您没有查看评标的权限。"))
    context: dict[str, Any] = {}
    if user.has_role(Role.EXPERT):
        context["seats"] = list(selectors.evaluations_for_expert(user=user))
    if user.has_role(Role.AGENT, Role.TENDERER_REP, Role.SUPERVISOR, Role.PLATFORM_ADMIN):
        context["lots"] = list(selectors.lots_for_evaluation_manage(user=user)[:100])
    if user.has_role(Role.AGENT):
        context["scheme_lots"] = list(selectors.lots_for_scheme(user=user)[:100])
    return render(request, "evaluation/index.html", context)


# --- the scheme ------------------------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def scheme_edit(request: HttpRequest, lot_id: int) -> HttpResponse:
    """The lot's agent configures the evaluation scheme, until the bid deadline."""
    user = _user(request)
    lot = selectors.lot_for_manage(user=user, lot_id=lot_id)
    if not selectors.is_agent_of(user, lot):
        raise NotFound("lot.not_found", _("标段不存在。"))
    scheme = selectors.scheme_of(lot)
    current = services.scheme_as_input(scheme)
    comprehensive = lot.evaluation_method == EvaluationMethod.COMPREHENSIVE
    frozen = selectors.scheme_frozen(lot)
    if request.method == "POST" and not frozen:
        form = SchemeForm(request.POST)
        items = ItemFormSet(request.POST, prefix="items") if comprehensive else None
    else:
        form = SchemeForm(initial=SchemeForm.initial_of(scheme, current))
        items = ItemFormSet(initial=item_initial(scheme, current), prefix="items") if comprehensive else None
    if not comprehensive:
        form.drop_price_fields()
    if request.method == "POST":
        if frozen:
            messages.error(request, _("投标截止后评标办法不得修改：投标人依据已公布的评标办法编制投标文件。"))
            return redirect("evaluation:scheme", lot_id=lot.pk)
        if form.is_valid() and (items is None or items.is_valid()):
            try:
                services.scheme_save(actor=user, lot=lot, data=scheme_input(form, items, fallback=current))
            except (NotFound, NotPermitted):
                raise
            except DomainError as error:
                if error.field == "items" and items is not None:
                    items._non_form_errors = items.error_class([error.message])  # type: ignore[attr-defined]
                else:
                    apply_error(form, error)
            else:
                messages.success(request, _("评标办法已保存。"))
                return redirect("evaluation:scheme", lot_id=lot.pk)
    return render(
        request,
        "evaluation/scheme_form.html",
        {"lot": lot, "tender": lot.tender, "form": form, "items": items, "frozen": frozen, "comprehensive": comprehensive},
    )


@require_GET
def scheme(request: HttpRequest, lot_id: int) -> HttpResponse:
    """The scheme of a lot of a published tender, for everyone: the bidders bid against it."""
    lot = selectors.lot_for_scheme_public(lot_id=lot_id)
    saved = selectors.scheme_of(lot)
    shown = services.scheme_as_input(saved)
    user = _user(request)
    return render(
        request,
        "evaluation/scheme.html",
        {
            "lot": lot,
            "tender": lot.tender,
            "scheme": shown,
            "is_default": saved is None,
            "frozen": selectors.scheme_frozen(lot),
            "comprehensive": lot.evaluation_method == EvaluationMethod.COMPREHENSIVE,
            "technical": [item for item in shown.items if item.kind == ItemKind.TECHNICAL],
            "business": [item for item in shown.items if item.kind == ItemKind.BUSINESS],
            "can_edit": user.is_authenticated and selectors.is_agent_of(user, lot) and not selectors.scheme_frozen(lot),
        },
    )


# --- those managing the tender --------------------------------------------------------------------------------


@login_required
@require_GET
def lot(request: HttpRequest, lot_id: int) -> HttpResponse:
    """The evaluation of a lot as its agent, tenderer, supervisors and the platform follow it: by seat."""
    user = _user(request)
    lot = selectors.lot_for_manage(user=user, lot_id=lot_id)
    evaluation = selectors.evaluation_of(lot)
    report = selectors.current_report(evaluation) if evaluation is not None else None
    final = report if report is not None and report.is_final else None
    context: dict[str, Any] = {
        "lot": lot,
        "tender": lot.tender,
        "evaluation": evaluation,
        "is_agent": selectors.is_agent_of(user, lot),
        "room_closed": selectors.closed_room(lot) is not None,
        "final": final,
        "candidates": final.candidates() if final is not None else [],
    }
    if evaluation is not None:
        context["progress"] = selectors.progress(user=user, evaluation=evaluation)
        context["names_visible"] = selectors.names_visible(user=user, evaluation=evaluation)
        context["extensions"] = list(evaluation.extensions.order_by("round"))
        if evaluation.draw_request.revealed_at is not None:
            context["panel"] = revealed_panel(request=evaluation.draw_request)
    return render(request, "evaluation/lot.html", context)


@login_required
@require_POST
def start(request: HttpRequest, lot_id: int) -> HttpResponse:
    user = _user(request)
    lot = selectors.lot_for_manage(user=user, lot_id=lot_id)
    if not selectors.is_agent_of(user, lot):
        raise NotFound("lot.not_found", _("标段不存在。"))
    _act(request, lambda: services.evaluation_start(actor=user, lot=lot), _("评标已开始，已通知评标委员会成员。"))
    return redirect("evaluation:lot", lot_id=lot.pk)


# --- the committee's workspace ------------------------------------------------------------------------------


def _member(request: HttpRequest, lot_id: int) -> Member:
    return selectors.member_for(user=_user(request), lot_id=lot_id)


@login_required
@require_GET
def workspace(request: HttpRequest, lot_id: int) -> HttpResponse:
    """The member's workspace: the bids as read, the opening record, the election, progress, the summary."""
    member = _member(request, lot_id)
    evaluation = member.evaluation
    bids = selectors.committee_bids(evaluation)
    context: dict[str, Any] = {
        "member": member,
        "evaluation": evaluation,
        "lot": evaluation.lot,
        "tender": evaluation.lot.tender,
        "bids": bids,
        "room": selectors.closed_room(evaluation.lot),
        "scheme": evaluation.scheme(),
        "members": list(evaluation.members.order_by("seat")),
        "is_chair": evaluation.chair_id == member.pk,
        "election": selectors.election_for(member=member),
        "requests": selectors.extension_requests_open(evaluation),
        "extensions": list(evaluation.extensions.order_by("round")),
        "report": selectors.current_report(evaluation),
        "signin_form": SignInForm(),
        "now": timezone.now(),
        "lot_open": evaluation.lot.status == LotStatus.EVALUATING,
    }
    context["requested"] = any(request_.member_id == member.pk for request_ in context["requests"])
    if selectors.scores_open(evaluation):
        context["summary"] = selectors.evaluation_summary(evaluation)
    return render(request, "evaluation/workspace.html", context)


@login_required
@require_POST
def sign_in(request: HttpRequest, lot_id: int) -> HttpResponse:
    member = _member(request, lot_id)
    form = SignInForm(request.POST)
    form.is_valid()
    _act(
        request,
        lambda: services.member_sign_in(
            actor=_user(request), lot=member.evaluation.lot, no_conflict=bool(form.cleaned_data.get("no_conflict"))
        ),
        _("已签到。"),
    )
    return redirect("evaluation:workspace", lot_id=lot_id)


@login_required
@require_POST
def vote(request: HttpRequest, lot_id: int) -> HttpResponse:
    member = _member(request, lot_id)
    form = VoteForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("请选择评标委员会的一名成员。"))
        return redirect("evaluation:workspace", lot_id=lot_id)
    _act(
        request,
        lambda: services.chair_vote(
            actor=_user(request), lot=member.evaluation.lot, candidate_seat=form.cleaned_data["candidate"]
        ),
        _("已投票。"),
    )
    return redirect("evaluation:workspace", lot_id=lot_id)


@login_required
@require_POST
def extension(request: HttpRequest, lot_id: int) -> HttpResponse:
    member = _member(request, lot_id)
    form = ReasonForm(request.POST)
    form.is_valid()
    _act(
        request,
        lambda: services.extension_request(
            actor=_user(request), lot=member.evaluation.lot, reason=form.cleaned_data.get("reason", "")
        ),
        _("已提交延长评标时间的申请。"),
    )
    return redirect("evaluation:workspace", lot_id=lot_id)


@login_required
@require_POST
def reject(request: HttpRequest, lot_id: int, bid_id: str) -> HttpResponse:
    member = _member(request, lot_id)
    view = selectors.bid_for_member(member=member, bid_id=bid_id)
    form = ReasonForm(request.POST)
    form.is_valid()
    _act(
        request,
        lambda: services.bid_reject(
            actor=_user(request), lot=member.evaluation.lot, bid_id=view.key, reason=form.cleaned_data.get("reason", "")
        ),
        _("已否决该投标。"),
    )
    return redirect("evaluation:workspace", lot_id=lot_id)


@login_required
@require_POST
def reinstate(request: HttpRequest, lot_id: int, bid_id: str) -> HttpResponse:
    member = _member(request, lot_id)
    view = selectors.bid_for_member(member=member, bid_id=bid_id)
    _act(
        request,
        lambda: services.bid_reinstate(actor=_user(request), lot=member.evaluation.lot, bid_id=view.key),
        _("已撤销对该投标的否决。"),
    )
    return redirect("evaluation:workspace", lot_id=lot_id)


@login_required
@require_GET
def bid(request: HttpRequest, lot_id: int, bid_id: str) -> HttpResponse:
    """One bid of the member's lot: its summary as read and its files."""
    member = _member(request, lot_id)
    view = selectors.bid_for_member(member=member, bid_id=bid_id)
    return render(
        request,
        "evaluation/bid.html",
        {
            "member": member,
            "evaluation": member.evaluation,
            "lot": member.evaluation.lot,
            "view": view,
            "files": selectors.bid_files(bid=view.bid),
        },
    )


@login_required
@require_GET
def bid_file(request: HttpRequest, lot_id: int, bid_id: str, index: int) -> HttpResponse:
    """One file of a bid of the member's lot, decrypted from the ciphertext as it is read."""
    member = _member(request, lot_id)
    bid_file = selectors.bid_file_for_member(member=member, bid_id=bid_id, index=index)
    reader = open_bid_file(bid_file)
    response = FileResponse(
        reader,
        as_attachment=True,
        filename=bid_file.name,
        content_type=bid_file.media_type or "application/octet-stream",
    )
    response["Content-Length"] = str(bid_file.size)
    return response


# --- the score sheet ---------------------------------------------------------------------------------------


def _parse_sheet(request: HttpRequest, evaluation: Any, bids: list[selectors.BidView]) -> tuple[services.SheetInput, dict[str, str]]:
    """The posted sheet, and the fields that are not numbers (left out of the input, shown as errors)."""
    errors: dict[str, str] = {}
    scores: dict[tuple[str, int], Decimal | None] = {}
    adjustments: dict[str, tuple[Decimal | None, str]] = {}
    items = selectors.frozen_items(evaluation)
    for view in bids:
        if not view.decrypted:
            continue
        if evaluation.method == EvaluationMethod.COMPREHENSIVE:
            for item in items:
                name = services.score_field(view.key, item["id"])
                if name not in request.POST:
                    continue
                try:
                    scores[(view.key, item["id"])] = services.parse_decimal(request.POST.get(name))
                except (InvalidOperation, ValueError):
                    errors[name] = _("请输入数字。")
        else:
            name = services.adjustment_field(view.key)
            if name not in request.POST:
                continue
            try:
                amount = services.parse_decimal(request.POST.get(name))
            except (InvalidOperation, ValueError):
                errors[name] = _("请输入数字。")
                continue
            adjustments[view.key] = (amount, request.POST.get(services.adjustment_reason_field(view.key), ""))
    return services.SheetInput(scores=scores, adjustments=adjustments), errors


@login_required
@require_http_methods(["GET", "POST"])
def sheet(request: HttpRequest, lot_id: int) -> HttpResponse:
    """The member's own score sheet: save as a draft, or submit (final for them)."""
    member = _member(request, lot_id)
    evaluation = member.evaluation
    bids = [view for view in selectors.committee_bids(evaluation) if view.decrypted]
    errors: dict[str, str] = {}
    posted: dict[str, str] = {}
    if request.method == "POST":
        parsed, errors = _parse_sheet(request, evaluation, bids)
        posted = {key: value for key, value in request.POST.items() if key.startswith(("s-", "a-", "r-"))}
        if not errors:
            submit = request.POST.get("action") == "submit"
            try:
                services.scores_save(actor=_user(request), lot=evaluation.lot, sheet=parsed, submit=submit)
            except (NotFound, NotPermitted):
                raise
            except DomainError as error:
                errors[error.field or ""] = error.message
            else:
                messages.success(request, _("评审意见已提交。") if submit else _("评分已暂存。"))
                return redirect("evaluation:workspace" if submit else "evaluation:sheet", lot_id=lot_id)
    own = selectors.sheet_of(member)
    items = selectors.frozen_items(evaluation)
    rows = []
    for view in bids:
        if evaluation.method == EvaluationMethod.COMPREHENSIVE:
            cells = []
            for item in items:
                name = services.score_field(view.key, item["id"])
                value = posted.get(name, own.scores.get((view.key, item["id"]), ""))
                cells.append({"item": item, "name": name, "value": value, "error": errors.get(name)})
            rows.append({"view": view, "cells": cells})
        else:
            name = services.adjustment_field(view.key)
            reason_name = services.adjustment_reason_field(view.key)
            amount, reason = own.adjustments.get(view.key, ("", ""))
            rows.append(
                {
                    "view": view,
                    "name": name,
                    "value": posted.get(name, amount),
                    "reason_name": reason_name,
                    "reason": posted.get(reason_name, reason),
                    "error": errors.get(name) or errors.get(reason_name),
                }
            )
    return render(
        request,
        "evaluation/sheet.html",
        {
            "member": member,
            "evaluation": evaluation,
            "lot": evaluation.lot,
            "items": items,
            "rows": rows,
            "general_error": errors.get(""),
            "has_errors": bool(errors),
            "editable": evaluation.status == EvaluationStatus.SCORING
            and member.submitted_at is None
            and member.signed_in_at is not None,
            "comprehensive": evaluation.method == EvaluationMethod.COMPREHENSIVE,
        },
    )


# --- the report ------------------------------------------------------------------------------------------------

# The texts the sign step's script shows, in the page's language (static/js/evaluation-sign.js).
SIGN_MESSAGES = {
    "key.none": gettext_lazy("本浏览器中没有您已登记的签名密钥，请生成新的签名密钥。"),
    "key.held": gettext_lazy("已就绪（指纹 %s）"),
    "key.generating": gettext_lazy("正在生成签名密钥……"),
    "key.registered": gettext_lazy("新的签名密钥已登记。"),
    "report.fetching": gettext_lazy("正在下载并核对评标报告……"),
    "report.mismatch": gettext_lazy("下载的评标报告与页面显示的 SHA-256 不一致，请刷新页面后重试。"),
    "report.signing": gettext_lazy("正在签署……"),
    "report.signed": gettext_lazy("已签署。"),
    "error": gettext_lazy("操作失败：%s"),
    "keystore.insecure_context": gettext_lazy(
        "当前页面不是安全连接，浏览器不提供密钥功能。请通过 https:// 地址访问本平台。"
    ),
    "keystore.unavailable": gettext_lazy("本浏览器不支持本地密钥存储（IndexedDB），请换用最新版浏览器。"),
}


@login_required
@require_POST
def report_draft(request: HttpRequest, lot_id: int) -> HttpResponse:
    member = _member(request, lot_id)
    if _act(
        request,
        lambda: services.report_draft(actor=_user(request), lot=member.evaluation.lot),
        _("评标报告已生成，请全体成员核对并签署。"),
    ):
        return redirect("evaluation:report", lot_id=lot_id)
    return redirect("evaluation:workspace", lot_id=lot_id)


@login_required
@require_POST
def report_discard(request: HttpRequest, lot_id: int) -> HttpResponse:
    member = _member(request, lot_id)
    form = ReasonForm(request.POST)
    form.is_valid()
    _act(
        request,
        lambda: services.report_discard(
            actor=_user(request), lot=member.evaluation.lot, reason=form.cleaned_data.get("reason", "")
        ),
        _("评标报告草稿已撤回。"),
    )
    return redirect("evaluation:workspace", lot_id=lot_id)


@login_required
@require_GET
def report(request: HttpRequest, lot_id: int) -> HttpResponse:
    """The report: members check and sign it; once final, those managing the tender read it too."""
    user = _user(request)
    current, member = selectors.report_for_reader(user=user, lot_id=lot_id)
    evaluation = current.evaluation
    signatures = selectors.signatures_by_seat(current)
    key = selectors.active_signing_key(user) if member is not None else None
    data = current.data()
    page_data = None
    if member is not None:
        page_data = {
            "lot": evaluation.lot_id,
            "seat": member.seat,
            "report_sha256": current.sha256,
            "report_json_url": reverse("evaluation:report_json", args=[evaluation.lot_id]),
            "sign_url": reverse("evaluation:report_sign", args=[evaluation.lot_id]),
            "key_url": reverse("evaluation:signing_key"),
            "key_fingerprint": key.fingerprint if key is not None else None,
            "csrf_token": get_token(request),
            "messages": {code: str(text) for code, text in SIGN_MESSAGES.items()},
        }
    return render(
        request,
        "evaluation/report.html",
        {
            "report": current,
            "data": data,
            "evaluation": evaluation,
            "lot": evaluation.lot,
            "tender": evaluation.lot.tender,
            "member": member,
            "is_chair": member is not None and evaluation.chair_id == member.pk,
            "signatures": [(seat, signatures.get(seat)) for seat in data["committee"]["seats"]],
            "signed": member is not None and member.seat in signatures,
            "signing_key": key,
            "comprehensive": data["lot"]["evaluation_method"] == EvaluationMethod.COMPREHENSIVE,
            "page_data": page_data,
        },
    )


@login_required
@require_GET
def report_json(request: HttpRequest, lot_id: int) -> HttpResponse:
    """The report's canonical JSON, byte for byte what the members sign (its SHA-256 is the report's)."""
    current, _member_seat = selectors.report_for_reader(user=_user(request), lot_id=lot_id)
    response = HttpResponse(current.document.encode("utf-8"), content_type="application/json; charset=utf-8")
    response["Content-Disposition"] = (
        f'attachment; filename="{current.evaluation.lot.tender.code}-lot{current.evaluation.lot.number}'
        f'-evaluation-report-v{current.version}.json"'
    )
    return response


@login_required
@require_GET
def report_pdf(request: HttpRequest, lot_id: int) -> HttpResponse:
    """The report as PDF: stored when final; a draft is rendered with the signatures it has so far."""
    current, _member_seat = selectors.report_for_reader(user=_user(request), lot_id=lot_id)
    content = bytes(current.pdf) if current.pdf else render_report_pdf(current, selectors.signatures_by_seat(current))
    response = HttpResponse(content, content_type="application/pdf")
    response["Content-Disposition"] = (
        f'attachment; filename="{current.evaluation.lot.tender.code}-lot{current.evaluation.lot.number}'
        f'-evaluation-report-v{current.version}.pdf"'
    )
    return response
