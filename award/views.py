"""The award pages, under /award/: thin views over ``award.services`` and ``award.selectors``.

Who sees what is the selectors' (docs/award.md): the lot's award page for
those managing its tender, the forms for its agents, the bidder's page and
the objection form for bidder users of an organisation with a bid on the
lot, an objection for its organisation and the managers, a letter for its
recipient, the lot's agents, its tenderer and supervisors; the publicities
and result announcements for everyone on the portal. A refused action comes
back as a message on its form; the rules and their Chinese texts are the
services'.
"""

from __future__ import annotations

from typing import Any, cast

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from accounts.models import Role, User
from award import selectors, services
from award.forms import AnnounceForm, AnswerForm, ObjectionForm, PublicityForm
from award.letters import letter_title
from award.models import AwardLetter, ObjectionOutcome
from core.errors import DomainError, NotFound, NotPermitted
from tendering.forms import apply_error

PAGE_SIZE = 20


def _user(request: HttpRequest) -> User:
    return cast(User, request.user)


def _posted(request: HttpRequest) -> Any:
    return request.POST if request.method == "POST" else None


def _submit(form: Any, action: Any) -> bool:
    """Call one service with the form's data: a refusal goes on the form (or its field), success is True."""
    try:
        action()
    except (NotFound, NotPermitted):
        raise
    except DomainError as error:
        apply_error(form, error)
        return False
    return True


# --- the working area -----------------------------------------------------------------------------


@login_required
@require_GET
def index(request: HttpRequest) -> HttpResponse:
    """The award step as the user meets it: an agent's queue, a manager's publicities, a bidder's lots."""
    user = _user(request)
    if not user.has_role(
        Role.AGENT, Role.TENDERER_REP, Role.SUPERVISOR, Role.PLATFORM_ADMIN, Role.BIDDER
    ):
        raise NotPermitted("permission.role", _("您没有查看中标候选人公示与定标的权限。"))
    context: dict[str, Any] = {"now": timezone.now()}
    if user.has_role(Role.AGENT):
        context["queue"] = selectors.agent_queue(user=user)
    if user.has_role(Role.TENDERER_REP, Role.SUPERVISOR, Role.PLATFORM_ADMIN):
        context["managed"] = list(selectors.publicities_for_manage(user=user)[:100])
    if user.has_role(Role.BIDDER):
        context["mine"] = list(selectors.publicities_for_bidder(user=user)[:100])
    return render(request, "award/index.html", context)


@login_required
@require_GET
def lot(request: HttpRequest, lot_id: int) -> HttpResponse:
    """One lot's award step: stage, due dates, candidates, the objection queue, the result and its letters."""
    user = _user(request)
    lot_ = selectors.lot_for_manage(user=user, lot_id=lot_id)
    state = selectors.award_state(lot_)
    return render(
        request,
        "award/lot.html",
        {
            "lot": lot_,
            "tender": lot_.tender,
            "state": state,
            "is_agent": selectors.is_agent_of(user, lot_),
            "letters": selectors.letters_for(user=user, result=state.result)
            if state.result
            else [],
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def publish(request: HttpRequest, lot_id: int) -> HttpResponse:
    """The lot's agent publishes the final report's candidates (TR 54)."""
    user = _user(request)
    lot_ = selectors.lot_for_agent(user=user, lot_id=lot_id)
    state = selectors.award_state(lot_)
    form = PublicityForm(_posted(request))
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        if _submit(
            form,
            lambda: services.publicity_publish(
                actor=user,
                lot=lot_,
                starts_at=data["starts_at"],
                ends_at=data["ends_at"],
                note=data["note"],
            ),
        ):
            messages.success(request, _("中标候选人公示已发布。"))
            return redirect("award:lot", lot_id=lot_.pk)
    candidates = (
        state.report.candidates()
        if state.report is not None and state.stage == selectors.Stage.WAITING
        else []
    )
    return render(
        request,
        "award/publish.html",
        {
            "lot": lot_,
            "tender": lot_.tender,
            "state": state,
            "form": form,
            "candidates": candidates,
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def announce(request: HttpRequest, lot_id: int) -> HttpResponse:
    """The lot's agent announces the result once the window has closed and every objection is answered."""
    user = _user(request)
    lot_ = selectors.lot_for_agent(user=user, lot_id=lot_id)
    state = selectors.award_state(lot_)
    initial = {"winner_rank": state.default_winner_rank}
    form = AnnounceForm(_posted(request), initial=initial, candidates=state.candidates)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        if _submit(
            form,
            lambda: services.result_announce(
                actor=user,
                lot=lot_,
                winner_rank=data["winner_rank"],
                reason=data["reason"],
                note=data["note"],
            ),
        ):
            messages.success(request, _("中标结果已公告，中标通知书和中标结果通知书已发出。"))
            return redirect("award:lot", lot_id=lot_.pk)
    return render(
        request,
        "award/announce.html",
        {"lot": lot_, "tender": lot_.tender, "state": state, "form": form},
    )


@login_required
@require_GET
def objection(request: HttpRequest, pk: int) -> HttpResponse:
    user = _user(request)
    objection_ = selectors.objection_for_reader(user=user, objection_id=pk)
    lot_ = objection_.publicity.lot
    return render(
        request,
        "award/objection.html",
        {
            "objection": objection_,
            "lot": lot_,
            "tender": lot_.tender,
            "publicity": objection_.publicity,
            "is_agent": selectors.is_agent_of(user, lot_),
            "now": timezone.now(),
            "disqualified": objection_.publicity.candidate(objection_.disqualified_rank)
            if objection_.disqualified_rank
            else None,
        },
    )


@login_required
@require_GET
def objection_file(request: HttpRequest, pk: int) -> FileResponse:
    objection_ = selectors.objection_for_reader(user=_user(request), objection_id=pk)
    if not objection_.attachment:
        raise NotFound("objection.no_attachment", _("该异议没有附件。"))
    return FileResponse(
        objection_.attachment.open("rb"), as_attachment=True, filename=objection_.attachment_name
    )


@login_required
@require_http_methods(["GET", "POST"])
def answer(request: HttpRequest, pk: int) -> HttpResponse:
    """The lot's agent answers an objection (TR 54: within three days of receipt)."""
    user = _user(request)
    objection_ = selectors.objection_for_agent(user=user, objection_id=pk)
    publicity = objection_.publicity
    form = AnswerForm(_posted(request), candidates=publicity.candidates)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        if _submit(
            form,
            lambda: services.objection_answer(
                actor=user,
                objection=objection_,
                answer=data["answer"],
                outcome=data["outcome"],
                disqualified_rank=data["disqualified_rank"]
                if data["outcome"] == ObjectionOutcome.UPHELD
                else None,
            ),
        ):
            messages.success(request, _("异议答复已发送给异议人。"))
            return redirect("award:objection", pk=objection_.pk)
    return render(
        request,
        "award/answer.html",
        {
            "objection": objection_,
            "lot": publicity.lot,
            "tender": publicity.lot.tender,
            "publicity": publicity,
            "form": form,
        },
    )


# --- the bidder's side --------------------------------------------------------------------------------


@login_required
@require_GET
def bidder_lot(request: HttpRequest, lot_id: int) -> HttpResponse:
    """A bidder's view of its lot: the publicity, its own objections and their answers, its letter."""
    user = _user(request)
    lot_, bid = selectors.lot_for_bidder(user=user, lot_id=lot_id)
    state = selectors.award_state(lot_)
    own = [o for o in state.objections if o.organisation_id == user.organisation_id]
    return render(
        request,
        "award/bidder_lot.html",
        {
            "lot": lot_,
            "tender": lot_.tender,
            "bid": bid,
            "state": state,
            "objections": own,
            "letters": selectors.letters_for(user=user, result=state.result)
            if state.result
            else [],
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def object_(request: HttpRequest, lot_id: int) -> HttpResponse:
    """A bidder of the lot files an objection while the publicity is open (TR 54)."""
    user = _user(request)
    lot_, _bid = selectors.lot_for_bidder(user=user, lot_id=lot_id)
    state = selectors.award_state(lot_)
    form = ObjectionForm(_posted(request), request.FILES if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        created: list[Any] = []
        if _submit(
            form,
            lambda: created.append(
                services.objection_file(
                    actor=user, lot=lot_, text=data["text"], attachment=data["attachment"]
                )
            ),
        ):
            messages.success(
                request, _("异议已提交，招标人（代理机构）应当在收到异议之日起3日内作出答复。")
            )
            return redirect("award:objection", pk=created[0].pk)
    return render(
        request,
        "award/object.html",
        {"lot": lot_, "tender": lot_.tender, "state": state, "form": form},
    )


# --- letters ------------------------------------------------------------------------------------------


def _letter_filename(letter: AwardLetter, extension: str) -> str:
    return f"{letter_title(letter.kind)}-{letter.letter_no}.{extension}"


@login_required
@require_GET
def letter_pdf(request: HttpRequest, pk: int) -> HttpResponse:
    letter = selectors.letter_for_reader(user=_user(request), letter_id=pk)
    response = HttpResponse(bytes(letter.pdf), content_type="application/pdf")
    response["Content-Disposition"] = _attachment(_letter_filename(letter, "pdf"))
    return response


@login_required
@require_GET
def letter_json(request: HttpRequest, pk: int) -> HttpResponse:
    letter = selectors.letter_for_reader(user=_user(request), letter_id=pk)
    response = HttpResponse(
        letter.document.encode("utf-8"), content_type="application/json; charset=utf-8"
    )
    response["Content-Disposition"] = _attachment(_letter_filename(letter, "json"))
    return response


def _attachment(filename: str) -> str:
    return content_disposition_header(True, filename) or "attachment"


# --- the public portal ------------------------------------------------------------------------------


@require_GET
def portal_publicities(request: HttpRequest) -> HttpResponse:
    past = request.GET.get("tab") == "past"
    page = Paginator(selectors.portal_publicities(current=not past), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    return render(
        request,
        "award/portal_publicities.html",
        {"page": page, "past": past, "now": timezone.now()},
    )


@require_GET
def portal_publicity(request: HttpRequest, pk: int) -> HttpResponse:
    publicity = selectors.portal_publicity(publicity_id=pk)
    lot_ = publicity.lot
    result = selectors.result_of(lot_)
    user = _user(request)
    return render(
        request,
        "award/portal_publicity.html",
        {
            "publicity": publicity,
            "lot": lot_,
            "tender": lot_.tender,
            "result": result,
            "now": timezone.now(),
            "may_object": user.is_authenticated
            and selectors.interested_bid(user=user, lot=lot_) is not None
            and publicity.is_open()
            and result is None,
        },
    )


@require_GET
def portal_result(request: HttpRequest, lot_id: int) -> HttpResponse:
    result = selectors.portal_result(lot_id=lot_id)
    return render(
        request,
        "award/portal_result.html",
        {
            "result": result,
            "lot": result.lot,
            "tender": result.lot.tender,
            "publicity": result.publicity,
        },
    )
