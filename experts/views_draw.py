"""The draw pages: thin views over ``experts.services``, ``experts.responses`` and ``experts.selectors``.

Who sees what (ER 8) is decided in the selectors: agents and tenderer
representatives follow a draw by counts only; supervisors and platform
administrators watch it with names; an expert sees their own invitations;
everyone sees the panel and the verification record once the draw is
revealed. Another agency's request, like a missing one, is a 404.

Experts answer without signing in, through the signed single-use link
(``answer``) or by replying to the SMS / pressing a key in the voice call,
which the gateway reports to ``gateway_inbound``.
"""

from __future__ import annotations

import json
from typing import Any, cast

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.models import Role, User
from core.errors import DomainError, NotFound, NotPermitted
from experts import gateway, responses, selectors, services
from experts.forms_draw import (
    DrawItemFormSet,
    DrawRequestForm,
    DrawRunForm,
    ReviewForm,
    request_input,
)
from experts.models import DrawRequest, DrawStatus, SelectionStatus
from experts.notifications import answer_link_token, invitation_for, party_names
from experts.verification import draw_record, record_json
from tendering import selectors as tendering_selectors
from tendering.forms import apply_error
from tendering.models import LotStatus

PAGE_SIZE = 20
# A request in one of these states holds the lot: the service refuses a second one.
_HOLDING_STATES = frozenset(
    {DrawStatus.PENDING, DrawStatus.APPROVED, DrawStatus.NOTIFYING, DrawStatus.COMPLETE}
)


def _user(request: HttpRequest) -> User:
    return cast(User, request.user)


def _is_agent_of(user: User, draw: DrawRequest) -> bool:
    return user.has_role(Role.AGENT) and user.organisation_id == draw.lot.tender.agency_id


def _is_watcher(user: User) -> bool:
    return user.has_role(*selectors.DRAW_WATCH_ROLES)


def _run_action(request: HttpRequest, action: Any, done: str) -> bool:
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


# --- the agent's side ------------------------------------------------------------------------


@login_required
@require_GET
def draw_lot(request: HttpRequest, lot_id: int) -> HttpResponse:
    """The lot's draw requests, and for its agents the way to request a panel."""
    user = _user(request)
    lot = selectors.lot_for_draws(user=user, lot_id=lot_id)
    draws = list(selectors.draw_requests_for_lot(lot=lot))
    is_agent = user.has_role(Role.AGENT) and user.organisation_id == lot.tender.agency_id
    open_draw = any(draw.status in _HOLDING_STATES for draw in draws)
    return render(
        request,
        "experts/draw_lot.html",
        {
            "lot": lot,
            "tender": lot.tender,
            "draws": draws,
            "can_request": is_agent and lot.status in services.DRAW_LOT_STATES and not open_draw,
            "lot_in_draw_window": lot.status in services.DRAW_LOT_STATES,
            "is_agent": is_agent,
            "is_watcher": _is_watcher(user),
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def draw_request_create(request: HttpRequest, lot_id: int) -> HttpResponse:
    user = _user(request)
    lot = tendering_selectors.lot_for_agent(user=user, lot_id=lot_id)
    form = DrawRequestForm(request.POST or None)
    items = DrawItemFormSet(request.POST or None, prefix="items")
    if request.method == "POST" and form.is_valid() and items.is_valid():
        try:
            draw = services.draw_request_create(
                actor=user, lot=lot, data=request_input(form, items)
            )
        except (NotFound, NotPermitted):
            raise
        except DomainError as error:
            # A refusal about the specialties ("items") has no field of its own: it shows above the form.
            apply_error(form, error)
        else:
            messages.success(request, _("专家抽取申请已提交，等待监督人员审核。"))
            return redirect("experts:draw_status", pk=draw.pk)
    return render(
        request,
        "experts/draw_request_form.html",
        {"form": form, "items": items, "lot": lot, "tender": lot.tender},
    )


@login_required
@require_GET
def draw_status(request: HttpRequest, pk: int) -> HttpResponse:
    """A request's progress as counts per specialty; the panel's names only once revealed."""
    user = _user(request)
    draw = selectors.draw_request_for_view(user=user, request_id=pk)
    return render(
        request,
        "experts/draw_status.html",
        {
            "draw": draw,
            "lot": draw.lot,
            "tender": draw.lot.tender,
            "counts": selectors.draw_counts(request=draw),
            "panel": list(selectors.revealed_panel(request=draw)),
            "items": list(draw.items.select_related("specialty")),
            "is_agent": _is_agent_of(user, draw),
            "is_watcher": _is_watcher(user),
        },
    )


# --- the supervisor's side ---------------------------------------------------------------------


@login_required
@require_GET
def draw_requests(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    status = request.GET.get("status", "")
    qs = selectors.draw_requests_for_supervisor(user=user, status=status)
    page = Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "experts/draw_requests.html",
        {
            "page": page,
            "status": status if status in DrawStatus.values else "",
            "status_choices": DrawStatus.choices,
            "query": query.urlencode(),
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def draw_review(request: HttpRequest, pk: int) -> HttpResponse:
    user = _user(request)
    draw = selectors.draw_request_for_supervision(user=user, request_id=pk)
    if not user.has_role(Role.SUPERVISOR):
        raise NotPermitted("permission.role", _("只有监督人员可以进行此操作。"))
    form = ReviewForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        decision = form.cleaned_data["decision"]
        try:
            if decision == ReviewForm.APPROVE:
                services.draw_request_approve(actor=user, request=draw)
            else:
                services.draw_request_reject(
                    actor=user, request=draw, reason=form.cleaned_data["reason"]
                )
        except (NotFound, NotPermitted):
            raise
        except DomainError as error:
            apply_error(form, error)
        else:
            if decision == ReviewForm.APPROVE:
                messages.success(request, _("已批准抽取，平台已承诺随机秘密。"))
                return redirect("experts:draw_run", pk=draw.pk)
            messages.success(request, _("申请已驳回。"))
            return redirect("experts:draw_requests")
    return render(
        request,
        "experts/draw_review.html",
        {
            "form": form,
            "draw": draw,
            "lot": draw.lot,
            "tender": draw.lot.tender,
            "items": _items(draw),
        },
    )


def _items(draw: DrawRequest) -> list[Any]:
    return list(draw.items.select_related("specialty").order_by("specialty__code"))


@login_required
@require_http_methods(["GET", "POST"])
def draw_run(request: HttpRequest, pk: int) -> HttpResponse:
    """The supervisor types a number and the draw runs, on this page, under their eyes."""
    user = _user(request)
    draw = selectors.draw_request_for_supervision(user=user, request_id=pk)
    if not user.has_role(Role.SUPERVISOR):
        raise NotPermitted("permission.role", _("只有监督人员可以进行此操作。"))
    if draw.drawn_at is not None:
        return redirect("experts:draw_watch", pk=draw.pk)
    form = DrawRunForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            draw = services.draw_run(
                actor=user, request=draw, supervisor_number=form.cleaned_data["supervisor_number"]
            )
        except (NotFound, NotPermitted):
            raise
        except DomainError as error:
            apply_error(form, error)
        else:
            if draw.status == DrawStatus.EXHAUSTED:
                messages.warning(
                    request,
                    _("符合回避规则的专家不足，未能组成评标委员会，已通知代理机构和监督人员。"),
                )
            else:
                messages.success(request, _("抽取已完成，已通知抽中的专家。"))
            return redirect("experts:draw_watch", pk=draw.pk)
    return render(
        request,
        "experts/draw_run.html",
        {
            "form": form,
            "draw": draw,
            "lot": draw.lot,
            "tender": draw.lot.tender,
            "items": _items(draw),
        },
    )


@login_required
@require_GET
def draw_watch(request: HttpRequest, pk: int) -> HttpResponse:
    """Everything the witnessing supervisor needs: picks with names and deadlines, exclusions, commitments."""
    user = _user(request)
    draw = selectors.draw_request_for_supervision(user=user, request_id=pk)
    return render(
        request,
        "experts/draw_watch.html",
        {
            "draw": draw,
            "lot": draw.lot,
            "tender": draw.lot.tender,
            "watch": selectors.draw_watch(user=user, request=draw),
            "outbound": list(selectors.draw_messages(user=user, request=draw)),
            "now": timezone.now(),
            "is_supervisor": user.has_role(Role.SUPERVISOR),
            "can_reveal": draw.revealed_at is None
            and draw.status == DrawStatus.COMPLETE
            and draw.lot.status == LotStatus.AWARDED,
        },
    )


@login_required
@require_POST
def draw_reveal(request: HttpRequest, pk: int) -> HttpResponse:
    user = _user(request)
    draw = selectors.draw_request_for_supervision(user=user, request_id=pk)
    _run_action(
        request,
        lambda: services.draw_reveal(actor=user, request=draw),
        _("抽取结果已公布，任何人可下载抽取记录进行验证。"),
    )
    return redirect("experts:draw_watch", pk=draw.pk)


@require_GET
def draw_record_download(request: HttpRequest, pk: int) -> HttpResponse:
    """The revealed draw's record for ``python -m experts.verify_draw``: public, like the lot's result."""
    draw = selectors.draw_request_for_record(request_id=pk)
    response = HttpResponse(
        record_json(draw_record(draw)), content_type="application/json; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="draw-{draw.pk}.json"'
    return response


# --- the expert's side -------------------------------------------------------------------------


@login_required
@require_GET
def my_invitations(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    invitations = list(selectors.invitations_for_expert(user=user))
    now = timezone.now()
    names: dict[int, list[str]] = {}
    rows = []
    for selection in invitations:
        if selection.request_id not in names:
            names[selection.request_id] = party_names(selection.request)
        state = selectors.answer_link_state(selection, now=now)
        rows.append(
            {
                "selection": selection,
                "state": state,
                # The place as the messages gave it (party names masked).
                "place": invitation_for(selection, names=names[selection.request_id]).place,
                "link": reverse("experts:answer", kwargs={"token": answer_link_token(selection)})
                if state == selectors.LinkState.OPEN
                else "",
            }
        )
    return render(request, "experts/draw_invitations.html", {"rows": rows})


def _answer_page(
    request: HttpRequest, token: str, *, error: DomainError | None = None
) -> HttpResponse:
    selection = selectors.selection_for_answer_link(token=token)
    state = selectors.answer_link_state(selection)
    invitation = (
        invitation_for(selection, names=party_names(selection.request))
        if selection.respond_by
        else None
    )
    response = render(
        request,
        "experts/answer.html",
        {
            "selection": selection,
            "invitation": invitation,
            "state": state,
            "error": error,
            "token": token,
        },
        status=error.status if error is not None else 200,
    )
    return _private(response)


def _private(response: HttpResponse) -> HttpResponse:
    # The link is a credential: keep it out of referrers, caches and search engines.
    response["Referrer-Policy"] = "no-referrer"
    response["X-Robots-Tag"] = "noindex, nofollow"
    return response


@never_cache
@require_http_methods(["GET", "POST"])
def answer(request: HttpRequest, token: str) -> HttpResponse:
    """The invitation behind a signed link: GET shows it (and changes nothing), POST answers once.

    No sign-in: the link is the credential. Mail and chat apps fetch links to
    preview them, so only the POST of the page's buttons answers.
    """
    if request.method == "GET":
        return _answer_page(request, token)
    choice = request.POST.get("answer", "")
    try:
        selection = responses.answer_by_link(token=token, answer=choice)
    except NotFound:
        raise
    except DomainError as error:
        return _answer_page(request, token, error=error)
    return _private(render(request, "experts/answer_done.html", {"selection": selection}))


@csrf_exempt
@require_POST
def gateway_inbound(request: HttpRequest) -> JsonResponse:
    """The gateway's webhook for replies (docs/expert-notifications.md): signed JSON in, JSON out."""
    body = request.body
    if not gateway.inbound_signature_valid(body, request.headers.get(gateway.SIGNATURE_HEADER, "")):
        return _json_error("gateway.signature", _("签名无效。"), 403)
    try:
        payload = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        payload = None
    if (
        not isinstance(payload, dict)
        or not isinstance(payload.get("from"), str)
        or not isinstance(payload.get("text"), str)
        or not isinstance(payload.get("reference", ""), str)
    ):
        return _json_error(
            "gateway.malformed", _("请求格式错误：需要 JSON 对象，含字符串字段 from 和 text。"), 400
        )
    try:
        selection = responses.answer_by_reply(
            sender=payload["from"], text=payload["text"], reference=payload.get("reference", "")
        )
    except DomainError as error:
        return JsonResponse(
            {"ok": False, "error": error.as_dict(), "reply": error.message}, status=error.status
        )
    confirmed = selection.status == SelectionStatus.CONFIRMED
    reply = (
        _("阳光开标：已收到您的确认，请按时参加评标。")
        if confirmed
        else _("阳光开标：已收到您不参加的答复，感谢您的告知。")
    )
    return JsonResponse({"ok": True, "status": selection.status, "reply": reply})


def _json_error(code: str, message: str, status: int) -> JsonResponse:
    return JsonResponse({"ok": False, "error": {"code": code, "message": message}}, status=status)
