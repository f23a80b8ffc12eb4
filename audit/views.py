"""The supervisors' audit browser: the chain, one record, and verification on demand.

Supervisors and platform administrators only (others get 403, anonymous
visitors the login page). Everything is read through ``audit.selectors``,
which hides the confidential records (EB 21) from all but platform
administrators until bidding has closed for their tender.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import cast

from django.apps import apps
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_http_methods

from accounts.models import Role, User
from audit import selectors
from audit.chain import ChainReport
from audit.forms import EventFilterForm
from audit.models import AuditEvent
from audit.tree import checkpoint_latest, tree_verify

PAGE_SIZE = 50

REASON_LABELS = {
    "altered": _("记录内容与其哈希值不符（记录被篡改）"),
    "missing": _("分链中此前的记录缺失（记录被删除）"),
    "unexpected": _("在分链中的位置异常（记录被插入或重新编号）"),
    "broken_link": _("与分链中前一条记录的哈希链接断开（记录被删除、插入或调换顺序）"),
    "not_canonical": _("记录内容不是规范编码（记录被篡改）"),
    "bad_hash": _("存储的哈希值无效（记录被篡改）"),
    "bad_format": _("记录格式版本无效（记录被篡改）"),
}


def _user(request: HttpRequest) -> User:
    return cast(User, request.user)


def object_type_label(object_type: str) -> str:
    """The model's Chinese name for ``app.model``; the label itself when unknown."""
    if not object_type:
        return ""
    try:
        return str(apps.get_model(object_type)._meta.verbose_name)
    except (LookupError, ValueError):
        return object_type


@dataclass(frozen=True, slots=True)
class EventRow:
    event: AuditEvent
    action_label: str
    object_label: str
    # The operator is an expert not yet published (ER 8): shown as such, never by name.
    masked: bool = False


def _row(event: AuditEvent, masked: set[int] | frozenset[int] = frozenset()) -> EventRow:
    return EventRow(
        event=event,
        action_label=selectors.action_label(event.action),
        object_label=object_type_label(event.object_type),
        masked=event.seq in masked,
    )


@login_required
@require_GET
def events(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    form = EventFilterForm(request.GET)
    valid = form.is_valid()
    if valid:
        visible: QuerySet[AuditEvent] | list[AuditEvent] = selectors.events_visible_to(
            user=user, filters=form.filters()
        )
    else:
        selectors.require_auditor(user)
        visible = []  # the form shows what to correct; no results for a filter that did not parse
    page = Paginator(visible, PAGE_SIZE).get_page(request.GET.get("page"))
    masked = selectors.masked_event_seqs(page.object_list)
    query = request.GET.copy()
    query.pop("page", None)
    tender_id = form.cleaned_data.get("tender") if valid else None
    return render(
        request,
        "audit/events.html",
        {
            "form": form,
            "page": page,
            "rows": [_row(event, masked) for event in page.object_list],
            "query": query.urlencode(),
            "filtered": valid
            and any(value not in (None, "") for value in form.cleaned_data.values()),
            "lots": selectors.lots_of_tender(tender_id=tender_id) if tender_id else [],
            "action_choices": sorted(selectors.ACTION_LABELS.items()),
            "is_platform_admin": user.has_role(Role.PLATFORM_ADMIN),
        },
    )


@login_required
@require_GET
def event(request: HttpRequest, seq: int) -> HttpResponse:
    detail = selectors.event_detail_for(user=_user(request), seq=seq)
    record = detail.event
    return render(
        request,
        "audit/event.html",
        {
            "detail": detail,
            "row": _row(record, selectors.masked_event_seqs([record])),
            "payload": json.dumps(record.data, ensure_ascii=False, indent=2, sort_keys=True),
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def verify(request: HttpRequest) -> HttpResponse:
    """GET explains and offers the check; POST walks the whole chain and shows the outcome."""
    user = _user(request)
    report: ChainReport | None = None
    tree_findings: list[str] = []
    bad_visible = False
    if request.method == "POST":
        report = selectors.chain_verify_for(user=user)
        if not report.ok and report.bad_seq is not None:
            bad_visible = selectors.event_is_visible(user=user, seq=report.bad_seq)
        tree_findings = tree_verify()
    else:
        selectors.require_auditor(user)
    return render(
        request,
        "audit/verify.html",
        {
            "report": report,
            "reason": REASON_LABELS.get(report.code, report.reason)
            if report and not report.ok
            else "",
            "bad_visible": bad_visible,
            "tree_findings": tree_findings,
            "latest_checkpoint": checkpoint_latest(),
        },
    )
