"""Pages of complaints (投诉): the bidder's form and list, the supervisor's queue, the detail page with its actions.

Thin: each view reads through ``complaints.selectors`` (404 for a complaint
the user may not see, 403 for a role with no business here) and changes
things through one ``complaints.services`` call on POST. A refused step comes
back as a message on the detail page, or on the form's field.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.models import Role, User
from complaints import rules, services
from complaints import selectors as sel
from complaints.forms import (
    ComplaintForm,
    DecisionForm,
    ReasonForm,
    StatementAnswerForm,
    StatementRequestForm,
)
from complaints.models import Subject
from core.errors import DomainError, NotFound, NotPermitted
from tendering.forms import apply_error


def _user(request: HttpRequest) -> User:
    return cast(User, request.user)


def _form_message(form: Any) -> str:
    for errors in form.errors.values():
        if errors:
            return str(errors[0])
    return _("输入有误，请检查后重试。")


def _act(request: HttpRequest, call: Callable[[], object], done: str) -> None:
    """One service call; its refusal or its success becomes a message on the next page."""
    try:
        call()
    except (NotFound, NotPermitted):
        raise
    except DomainError as error:
        messages.error(request, error.message)
        return
    messages.success(request, done)


@login_required
@require_GET
def index(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    sel.require_complaint_role(user)
    context: dict[str, Any] = {"queue": None, "rows": None, "tenders": None}
    if user.has_role(Role.SUPERVISOR):
        context["queue"] = sel.supervisor_queue(user=user)
    if user.has_role(Role.BIDDER, Role.AGENT, Role.TENDERER_REP):
        rows = sel.complaint_rows(user=user)
        if user.has_role(Role.SUPERVISOR):
            rows = [row for row in rows if row.complaint.authority_id != user.organisation_id]
        context["rows"] = rows
    if user.has_role(Role.BIDDER):
        context["tenders"] = sel.tenders_to_complain_about(user=user)[:50]
    return render(request, "complaints/index.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def complaint_new(request: HttpRequest, tender_id: int) -> HttpResponse:
    user = _user(request)
    tender = sel.tender_for_complaint(user=user, tender_id=tender_id)
    lots = sel.complaint_lots(tender)
    initial = {}
    if request.method == "GET" and request.GET.get("lot", "").isdigit():
        initial["lot"] = lots.filter(pk=int(request.GET["lot"])).first()
    form = ComplaintForm(request.POST or None, request.FILES or None, lots=lots, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            complaint = services.complaint_file(
                actor=user,
                tender=tender,
                data=form.to_input(),
                files=form.cleaned_data["attachments"],
            )
        except (NotFound, NotPermitted):
            raise
        except DomainError as error:
            apply_error(form, error)
        else:
            messages.success(
                request,
                _("投诉已提交，编号 %(number)s。监督部门应在3个工作日内决定是否受理。")
                % {"number": complaint.number},
            )
            return redirect("complaints:detail", pk=complaint.pk)
    return render(
        request,
        "complaints/form.html",
        {
            "form": form,
            "tender": tender,
            "objection_first": [
                Subject(value).label for value in Subject.values if value in rules.OBJECTION_FIRST
            ],
        },
    )


@login_required
@require_GET
def detail(request: HttpRequest, pk: int) -> HttpResponse:
    view = sel.complaint_detail(user=_user(request), complaint_id=pk)
    return render(
        request,
        "complaints/detail.html",
        {
            "d": view,
            "complaint": view.complaint,
            "reason_form": ReasonForm(),
            "statement_form": StatementRequestForm(),
            "answer_form": StatementAnswerForm(),
            "decision_form": DecisionForm(),
        },
    )


def _complaint_action(
    request: HttpRequest,
    pk: int,
    form_class: type[Any] | None,
    call: Callable[[User, Any, dict[str, Any]], object],
    done: str,
) -> HttpResponse:
    user = _user(request)
    complaint = sel.complaint_for(user=user, complaint_id=pk)
    form = form_class(request.POST, request.FILES) if form_class else None
    if form is not None and not form.is_valid():
        messages.error(request, _form_message(form))
    else:
        _act(request, lambda: call(user, complaint, form.cleaned_data if form else {}), done)
    return redirect("complaints:detail", pk=complaint.pk)


@login_required
@require_POST
def accept(request: HttpRequest, pk: int) -> HttpResponse:
    return _complaint_action(
        request,
        pk,
        None,
        lambda user, c, _data: services.complaint_accept(actor=user, complaint=c),
        _("已受理该投诉。"),
    )


@login_required
@require_POST
def not_accept(request: HttpRequest, pk: int) -> HttpResponse:
    return _complaint_action(
        request,
        pk,
        ReasonForm,
        lambda user, c, data: services.complaint_not_accept(
            actor=user, complaint=c, reason=data["reason"]
        ),
        _("已决定不予受理，并通知投诉人。"),
    )


@login_required
@require_POST
def suspend(request: HttpRequest, pk: int) -> HttpResponse:
    return _complaint_action(
        request,
        pk,
        ReasonForm,
        lambda user, c, data: services.complaint_suspend(
            actor=user, complaint=c, reason=data["reason"]
        ),
        _("已责令暂停招标投标活动。"),
    )


@login_required
@require_POST
def lift(request: HttpRequest, pk: int) -> HttpResponse:
    return _complaint_action(
        request,
        pk,
        ReasonForm,
        lambda user, c, data: services.complaint_lift_suspension(
            actor=user, complaint=c, reason=data["reason"]
        ),
        _("已恢复招标投标活动。"),
    )


@login_required
@require_POST
def statement_request(request: HttpRequest, pk: int) -> HttpResponse:
    return _complaint_action(
        request,
        pk,
        StatementRequestForm,
        lambda user, c, data: services.statement_request(
            actor=user, complaint=c, questions=data["questions"], due_on=data["due_on"]
        ),
        _("已要求被投诉人作出书面说明。"),
    )


@login_required
@require_POST
def decide(request: HttpRequest, pk: int) -> HttpResponse:
    return _complaint_action(
        request,
        pk,
        DecisionForm,
        lambda user, c, data: services.complaint_decide(
            actor=user, complaint=c, outcome=data["outcome"], decision=data["decision"]
        ),
        _("已作出处理决定。"),
    )


@login_required
@require_POST
def withdraw(request: HttpRequest, pk: int) -> HttpResponse:
    return _complaint_action(
        request,
        pk,
        ReasonForm,
        lambda user, c, data: services.complaint_withdraw(
            actor=user, complaint=c, reason=data["reason"]
        ),
        _("投诉已撤回。"),
    )


@login_required
@require_POST
def statement_answer(request: HttpRequest, pk: int) -> HttpResponse:
    user = _user(request)
    statement = sel.statement_for_agent(user=user, statement_id=pk)
    form = StatementAnswerForm(request.POST, request.FILES)
    if not form.is_valid():
        messages.error(request, _form_message(form))
    else:
        _act(
            request,
            lambda: services.statement_answer(
                actor=user,
                statement=statement,
                answer=form.cleaned_data["answer"],
                files=form.cleaned_data["attachments"],
            ),
            _("书面说明已提交。"),
        )
    return redirect("complaints:detail", pk=statement.complaint_id)


@login_required
@require_GET
def attachment(request: HttpRequest, pk: int) -> FileResponse:
    item = sel.attachment_for_download(user=_user(request), attachment_id=pk)
    response = FileResponse(
        item.file.open("rb"),
        as_attachment=True,
        filename=item.original_name,
        content_type="application/octet-stream",
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-store"
    return response
