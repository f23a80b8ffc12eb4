"""Writes of complaints (TR 60–61). Every step is audited in its transaction.

Guard first, then change: each service checks that the actor may see the
complaint (``NotFound`` otherwise, as for one that does not exist) and may
take this step (``NotPermitted``), locks the complaint's row, checks its
state, writes, appends to the audit chain and creates the in-app
notifications — all in one transaction; e-mails leave after commit
(``accounts.services.notify_users``).

States::

    submitted ──accept──▶ accepted ──decide──▶ decided
        │                    │
        ├──not accept──▶ not_accepted
        └──withdraw──▶ withdrawn ◀──withdraw──┘

While accepted the authority may order the procurement suspended and lift
the order (one order in force at a time), and ask the agency for written
statements, which the agency's agents answer. Deciding or withdrawing lifts
an order still in force.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.db.models import QuerySet
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from accounts.models import Role, User
from accounts.services import notify_users
from audit.models import Sensitivity
from audit.services import record
from complaints import rules
from complaints import selectors as sel
from complaints.models import (
    CalendarDay,
    Complaint,
    ComplaintAttachment,
    ComplaintStatus,
    Outcome,
    StatementRequest,
    Subject,
    Suspension,
)
from complaints.workdays import WorkCalendar
from core.errors import DomainError, NotFound, NotPermitted
from tendering.models import FINAL_LOT_STATUSES, DocumentObtain, Lot, LotStatus, Tender
from tendering.selectors import bidding_closed_for

ATTACHMENT_MAX_BYTES = 50 * 1024 * 1024
ATTACHMENTS_MAX = 20
TEXT_MAX = 20_000
REASON_MAX = 5_000


@dataclass(frozen=True, kw_only=True)
class ComplaintInput:
    subject: str
    facts: str
    claims: str
    known_on: dt.date
    # None: the complaint concerns the whole tender.
    lot_id: int | None = None
    objection_raised: bool = False
    objected_on: dt.date | None = None
    objection_answered_on: dt.date | None = None


# --- small guards -------------------------------------------------------------------------------


def _clean_text(value: str, field: str, label: Any, max_length: int) -> str:
    value = (value or "").strip()
    if not value:
        raise DomainError("field.required", _("请填写%(label)s。"), field=field, label=label)
    if len(value) > max_length:
        raise DomainError(
            "field.too_long",
            _("%(label)s不能超过%(max)d个字符。"),
            field=field,
            label=label,
            max=max_length,
        )
    return value


@dataclass(frozen=True)
class _File:
    upload: UploadedFile
    name: str
    size: int
    sha256: str


def _check_files(files: Sequence[UploadedFile], *, field: str) -> list[_File]:
    if len(files) > ATTACHMENTS_MAX:
        raise DomainError(
            "attachment.too_many",
            _("一次最多上传%(max)d个文件。"),
            field=field,
            max=ATTACHMENTS_MAX,
        )
    checked = []
    for upload in files:
        name = (upload.name or "").replace("\\", "/").rsplit("/", 1)[-1].strip()
        if not name:
            raise DomainError("attachment.name", _("文件名不能为空。"), field=field)
        if not upload.size:
            raise DomainError(
                "attachment.empty", _("文件“%(name)s”为空，请重新选择。"), field=field, name=name
            )
        if upload.size > ATTACHMENT_MAX_BYTES:
            raise DomainError(
                "attachment.too_large",
                _("文件“%(name)s”超过大小上限（%(mb)d MB）。"),
                field=field,
                name=name,
                mb=ATTACHMENT_MAX_BYTES // (1024 * 1024),
            )
        digest = hashlib.sha256()
        for chunk in upload.chunks():
            digest.update(chunk)
        upload.seek(0)
        checked.append(
            _File(upload=upload, name=name[:200], size=upload.size, sha256=digest.hexdigest())
        )
    return checked


def _store_files(
    complaint: Complaint,
    files: list[_File],
    *,
    actor: User,
    stored: list[ComplaintAttachment],
    statement: StatementRequest | None = None,
) -> list[ComplaintAttachment]:
    """Save the files under MEDIA_ROOT, in the caller's transaction, appending each row to ``stored``.

    The caller removes the files (``_delete_files``) if its transaction fails.
    """
    now = timezone.now()
    for item in files:
        attachment = ComplaintAttachment(
            complaint=complaint,
            statement=statement,
            original_name=item.name,
            size=item.size,
            sha256=item.sha256,
            uploaded_by=actor,
            uploaded_at=now,
        )
        # The name on disk is never shown (downloads use original_name); a long Chinese name
        # would pass the file system's 255-byte limit.
        attachment.file.save("file" + os.path.splitext(item.name)[1][:16], item.upload, save=False)
        stored.append(attachment)
        attachment.save()
    return stored


def _delete_files(attachments: Iterable[ComplaintAttachment]) -> None:
    """Remove the stored files of rows whose transaction did not commit."""
    for attachment in attachments:
        if attachment.file.name:
            attachment.file.storage.delete(attachment.file.name)


def _files_audit(attachments: Iterable[ComplaintAttachment]) -> list[dict[str, Any]]:
    return [{"name": a.original_name, "size": a.size, "sha256": a.sha256} for a in attachments]


def _sensitivity(complaint: Complaint) -> str:
    """Who complains shows who obtained the documents: sealed like the obtain records until bidding closes (EB 21)."""
    return (
        Sensitivity.PUBLIC
        if bidding_closed_for(tender=complaint.tender)
        else Sensitivity.UNTIL_BID_DEADLINE
    )


def _locked(complaint: Complaint) -> Complaint:
    return (
        Complaint.objects.select_for_update(of=("self",))
        .select_related("tender", "lot", "authority", "complainant")
        .get(pk=complaint.pk)
    )


def _require_visible(actor: User, complaint: Complaint) -> None:
    if not sel.complaints_for(user=actor).filter(pk=complaint.pk).exists():
        raise NotFound("complaint.not_found", _("投诉不存在。"))


def _require_supervisor(actor: User, complaint: Complaint) -> None:
    _require_visible(actor, complaint)
    if not sel.is_supervisor_of(actor, complaint):
        raise NotPermitted("permission.role", _("只有受理投诉的监督部门可以进行此操作。"))


def _require_submitted(complaint: Complaint) -> None:
    if complaint.status == ComplaintStatus.SUBMITTED:
        return
    if complaint.status == ComplaintStatus.WITHDRAWN:
        raise DomainError("complaint.closed", _("投诉已撤回，不能再处理。"), status=409)
    raise DomainError("complaint.already_reviewed", _("已对该投诉作出是否受理的决定。"), status=409)


def _require_accepted(complaint: Complaint) -> None:
    if complaint.status == ComplaintStatus.ACCEPTED:
        return
    if complaint.status == ComplaintStatus.SUBMITTED:
        raise DomainError("complaint.not_accepted", _("投诉受理后才能进行此操作。"), status=409)
    raise DomainError("complaint.closed", _("投诉已办结或已撤回，不能再进行此操作。"), status=409)


# --- notifications ------------------------------------------------------------------------------


def _users(organisation_id: int | None, role: str) -> QuerySet[User]:
    return User.objects.filter(
        organisation_id=organisation_id, role_grants__role=role, is_active=True
    ).distinct()


def _complainants(c: Complaint) -> QuerySet[User]:
    return _users(c.complainant_id, Role.BIDDER)


def _supervisors(c: Complaint) -> QuerySet[User]:
    return _users(c.authority_id, Role.SUPERVISOR)


def _respondents(c: Complaint) -> list[User]:
    return list(_users(c.tender.agency_id, Role.AGENT)) + list(
        _users(c.tender.tenderer_id, Role.TENDERER_REP)
    )


def _subject_line(c: Complaint) -> str:
    where = str(c.lot) if c.lot is not None else c.tender.title
    return f"{c.number} · {where}"


def _notify(
    users: Iterable[User], complaint: Complaint, title: Any, body: Any = "", **params: Any
) -> None:
    """Tell ``users`` about a step, in the platform's language whoever acted; e-mail after commit."""
    recipients = list(users)
    if not recipients:
        return
    with translation.override(settings.LANGUAGE_CODE):
        params = {"what": _subject_line(complaint), **params}
        notify_users(
            recipients,
            title=str(title) % params,
            body=str(body) % params if body else "",
            url=reverse("complaints:detail", args=[complaint.pk]),
        )


def _notify_participants_of_suspension(complaint: Complaint, *, lifted: bool) -> None:
    """Every bidder that obtained the documents learns that the procurement is paused or resumed.

    The complainant is not named: the link goes to the public announcement.
    """
    organisation_ids = DocumentObtain.objects.filter(tender_id=complaint.tender_id).values_list(
        "organisation_id", flat=True
    )
    recipients = (
        User.objects.filter(
            organisation_id__in=organisation_ids, role_grants__role=Role.BIDDER, is_active=True
        )
        .exclude(organisation_id=complaint.complainant_id)
        .distinct()
    )
    users = list(recipients)
    if not users:
        return
    where = str(complaint.lot) if complaint.lot is not None else complaint.tender.title
    with translation.override(settings.LANGUAGE_CODE):
        if lifted:
            title = gettext("恢复招标投标活动：%(where)s") % {"where": where}
            body = gettext("监督部门已决定恢复该项目的招标投标活动。")
        else:
            title = gettext("暂停招标投标活动：%(where)s") % {"where": where}
            body = gettext("监督部门在处理投诉期间责令暂停该项目的招标投标活动，恢复时将另行通知。")
        notify_users(
            users,
            title=title,
            body=body,
            url=reverse("portal:announcement", kwargs={"pk": complaint.tender_id}),
        )


# --- filing (TR 60) -----------------------------------------------------------------------------


def _validate_input(tender: Tender, data: ComplaintInput, today: dt.date) -> ComplaintInput:
    if data.subject not in Subject.values:
        raise DomainError("complaint.subject", _("请选择投诉事项。"), field="subject")
    facts = _clean_text(data.facts, "facts", _("事实和理由"), TEXT_MAX)
    claims = _clean_text(data.claims, "claims", _("请求事项"), TEXT_MAX)
    if data.lot_id is not None and not sel.complaint_lots(tender).filter(pk=data.lot_id).exists():
        raise DomainError("complaint.lot", _("请选择本项目的标段。"), field="lot")
    if data.known_on > today:
        raise DomainError(
            "complaint.known_on_future", _("知道或者应当知道之日不能晚于今天。"), field="known_on"
        )
    objected_on = answered_on = None
    if data.objection_raised:
        objected_on, answered_on = data.objected_on, data.objection_answered_on
        if objected_on is None:
            raise DomainError(
                "complaint.objected_on_required", _("请填写提出异议的日期。"), field="objected_on"
            )
        if objected_on > today:
            raise DomainError(
                "complaint.objected_on_future",
                _("提出异议的日期不能晚于今天。"),
                field="objected_on",
            )
        if answered_on is not None and not (objected_on <= answered_on <= today):
            raise DomainError(
                "complaint.answered_on",
                _("异议答复日期应在提出异议之日与今天之间。"),
                field="objection_answered_on",
            )
    return ComplaintInput(
        subject=data.subject,
        facts=facts,
        claims=claims,
        known_on=data.known_on,
        lot_id=data.lot_id,
        objection_raised=data.objection_raised,
        objected_on=objected_on,
        objection_answered_on=answered_on,
    )


def complaint_file(
    *, actor: User, tender: Tender, data: ComplaintInput, files: Sequence[UploadedFile]
) -> Complaint:
    """A bidder files a complaint about ``tender`` (or one of its lots) to its supervising authority (TR 60).

    The actor must be a bidder user of an organisation that obtained the
    documents or bid (``NotFound`` otherwise). Facts, claims and at least one
    piece of evidence are required (TR 60: 明确的请求和必要的证明材料). The
    complaint is refused as late (``complaint.late``) after the 10-day period
    of ``rules.filing_deadline``. Whether an objection came first, where TR 60
    wants one, is recorded for the authority, which may not accept a complaint
    without it; it is not refused here. Audited as
    ``complaints.complaint.filed``; the authority's supervisors are told.
    """
    tender = sel.tender_for_complaint(user=actor, tender_id=tender.pk)
    today = timezone.localdate()
    data = _validate_input(tender, data, today)
    if not files:
        raise DomainError(
            "complaint.evidence_required", _("请上传必要的证明材料（TR 60）。"), field="attachments"
        )
    checked = _check_files(files, field="attachments")
    deadline = rules.filing_deadline(
        known_on=data.known_on,
        objected_on=data.objected_on,
        answered_on=data.objection_answered_on,
        today=today,
        calendar=WorkCalendar(),
    )
    if today > deadline.on:
        raise DomainError(
            "complaint.late",
            _(
                "投诉应当自知道或者应当知道之日起10日内提出（TR 60）。按您填写的日期，投诉期限已于%(deadline)s届满，"
                "监督部门不能受理逾期的投诉。"
            ),
            field="known_on",
            deadline=deadline.on.isoformat(),
        )
    authority = tender.supervising_authority
    if authority is None:
        raise DomainError(
            "complaint.no_authority", _("该项目未指定监督部门，无法在线投诉。"), status=409
        )
    stored: list[ComplaintAttachment] = []
    try:
        with transaction.atomic():
            now = timezone.now()
            complaint = Complaint.objects.create(
                tender=tender,
                lot_id=data.lot_id,
                authority=authority,
                complainant_id=actor.organisation_id,
                filed_by=actor,
                subject=data.subject,
                facts=data.facts,
                claims=data.claims,
                known_on=data.known_on,
                objection_raised=data.objection_raised,
                objected_on=data.objected_on,
                objection_answered_on=data.objection_answered_on,
                received_at=now,
            )
            complaint.number = f"TS{timezone.localdate(now):%Y}{complaint.pk:06d}"
            complaint.save(update_fields=["number"])
            attachments = _store_files(complaint, checked, actor=actor, stored=stored)
            record(
                "complaints.complaint.filed",
                actor=actor,
                obj=complaint,
                sensitivity=_sensitivity(complaint),
                data={
                    "number": complaint.number,
                    "authority": authority.name,
                    "complainant": complaint.complainant.name,
                    "subject": data.subject,
                    "lot": complaint.lot.number if complaint.lot is not None else None,
                    "facts": data.facts,
                    "claims": data.claims,
                    "known_on": data.known_on,
                    "objection_raised": data.objection_raised,
                    "objected_on": data.objected_on,
                    "objection_answered_on": data.objection_answered_on,
                    "filing_deadline": deadline.on,
                    "attachments": _files_audit(attachments),
                },
            )
            due = rules.acceptance_due(received_on=timezone.localdate(now), calendar=WorkCalendar())
            _notify(
                _supervisors(complaint),
                complaint,
                _("收到投诉：%(what)s"),
                _("%(complainant)s提起投诉（%(subject)s）。请于%(due)s前决定是否受理（TR 61）。"),
                complainant=complaint.complainant.name,
                subject=Subject(complaint.subject).label,
                due=due.on.isoformat(),
            )
    except BaseException:
        _delete_files(stored)
        raise
    return complaint


# --- acceptance (TR 61: within 3 working days) ------------------------------------------------------


def _acceptance_audit(complaint: Complaint, now: dt.datetime) -> dict[str, Any]:
    due = rules.acceptance_due(
        received_on=timezone.localdate(complaint.received_at), calendar=WorkCalendar()
    )
    return {
        "number": complaint.number,
        "acceptance_due": due.on,
        "on_time": timezone.localdate(now) <= due.on,
    }


def complaint_accept(*, actor: User, complaint: Complaint) -> Complaint:
    """The authority's supervisor accepts (受理) a submitted complaint (TR 61).

    Accepting after the 3-working-day period is allowed (the complaint does not
    lapse) but the queue flags it and the audit record says ``on_time: false``.
    From now on the tender's agency and tenderer see the complaint. Audited as
    ``complaints.complaint.accepted``.
    """
    _require_supervisor(actor, complaint)
    with transaction.atomic():
        complaint = _locked(complaint)
        _require_submitted(complaint)
        now = timezone.now()
        complaint.status = ComplaintStatus.ACCEPTED
        complaint.reviewed_at = now
        complaint.reviewed_by = actor
        complaint.save(update_fields=["status", "reviewed_at", "reviewed_by"])
        due = rules.decision_due(accepted_on=timezone.localdate(now), calendar=WorkCalendar())
        record(
            "complaints.complaint.accepted",
            actor=actor,
            obj=complaint,
            data={**_acceptance_audit(complaint, now), "decision_due": due.on},
        )
        _notify(
            list(_complainants(complaint)) + _respondents(complaint),
            complaint,
            _("投诉已受理：%(what)s"),
            _("%(authority)s已受理该投诉，将于%(due)s前作出处理决定（TR 61）。"),
            authority=complaint.authority.name,
            due=due.on.isoformat(),
        )
    return complaint


def complaint_not_accept(*, actor: User, complaint: Complaint, reason: str) -> Complaint:
    """The authority's supervisor decides not to accept (不予受理) a submitted complaint, with the reason.

    Audited as ``complaints.complaint.not_accepted``; the complainant is told
    the reason. The agency and the tenderer never see such a complaint.
    """
    _require_supervisor(actor, complaint)
    reason = _clean_text(reason, "reason", _("不予受理理由"), REASON_MAX)
    with transaction.atomic():
        complaint = _locked(complaint)
        _require_submitted(complaint)
        now = timezone.now()
        complaint.status = ComplaintStatus.NOT_ACCEPTED
        complaint.reviewed_at = now
        complaint.reviewed_by = actor
        complaint.not_accepted_reason = reason
        complaint.save(
            update_fields=["status", "reviewed_at", "reviewed_by", "not_accepted_reason"]
        )
        record(
            "complaints.complaint.not_accepted",
            actor=actor,
            obj=complaint,
            data={**_acceptance_audit(complaint, now), "reason": reason},
        )
        _notify(
            _complainants(complaint),
            complaint,
            _("投诉不予受理：%(what)s"),
            _("不予受理的理由：%(reason)s"),
            reason=reason,
        )
    return complaint


# --- suspension (暂停招标投标活动) -----------------------------------------------------------------


def complaint_suspend(*, actor: User, complaint: Complaint, reason: str) -> Suspension:
    """The supervisor orders the procurement suspended while an accepted complaint is handled.

    From now until the order is lifted (``complaint_lift_suspension``), the
    complaint is decided or withdrawn, ``selectors.lot_suspended`` is true for
    the complaint's lot (every lot of the tender when none is named). One
    order in force per complaint (``complaint.already_suspended``); refused
    when every lot concerned has failed or been cancelled
    (``complaint.nothing_to_suspend``). Audited as
    ``complaints.suspension.ordered``.
    """
    _require_supervisor(actor, complaint)
    reason = _clean_text(reason, "reason", _("暂停理由"), REASON_MAX)
    with transaction.atomic():
        complaint = _locked(complaint)
        _require_accepted(complaint)
        if complaint.suspensions.filter(lifted_at__isnull=True).exists():
            raise DomainError(
                "complaint.already_suspended", _("已责令暂停招标投标活动，尚未恢复。"), status=409
            )
        # Locked: the award checks lot_suspended under the lot's row lock, so the two cannot cross.
        lots = list(
            Lot.objects.select_for_update().filter(pk=complaint.lot_id)
            if complaint.lot_id
            else complaint.tender.lots.select_for_update().order_by("pk")
        )
        ended = FINAL_LOT_STATUSES - {LotStatus.AWARDED}
        if all(lot.status in ended for lot in lots):
            raise DomainError(
                "complaint.nothing_to_suspend", _("相关标段已流标或终止，无需暂停。"), status=409
            )
        suspension = Suspension.objects.create(
            complaint=complaint, ordered_at=timezone.now(), ordered_by=actor, reason=reason
        )
        record(
            "complaints.suspension.ordered",
            actor=actor,
            obj=suspension,
            data={
                "number": complaint.number,
                "reason": reason,
                "lots": [lot.number for lot in lots],
            },
        )
        _notify(
            list(_complainants(complaint)) + _respondents(complaint),
            complaint,
            _("暂停招标投标活动：%(what)s"),
            _("监督部门责令暂停招标投标活动。理由：%(reason)s"),
            reason=reason,
        )
        _notify_participants_of_suspension(complaint, lifted=False)
    return suspension


def _lift(complaint: Complaint, *, actor: User, reason: str) -> Suspension | None:
    """Lift the order in force on the locked ``complaint``, if any (caller's transaction)."""
    suspension = complaint.suspensions.select_for_update().filter(lifted_at__isnull=True).first()
    if suspension is None:
        return None
    suspension.lifted_at = timezone.now()
    suspension.lifted_by = actor
    suspension.lift_reason = reason
    suspension.save(update_fields=["lifted_at", "lifted_by", "lift_reason"])
    record(
        "complaints.suspension.lifted",
        actor=actor,
        obj=suspension,
        data={"number": complaint.number, "reason": reason},
    )
    _notify_participants_of_suspension(complaint, lifted=True)
    return suspension


def complaint_lift_suspension(*, actor: User, complaint: Complaint, reason: str) -> Suspension:
    """The supervisor lifts the order to suspend, before deciding (``complaint.not_suspended`` when none).

    Audited as ``complaints.suspension.lifted``.
    """
    _require_supervisor(actor, complaint)
    reason = _clean_text(reason, "reason", _("恢复理由"), REASON_MAX)
    with transaction.atomic():
        complaint = _locked(complaint)
        _require_accepted(complaint)
        suspension = _lift(complaint, actor=actor, reason=reason)
        if suspension is None:
            raise DomainError("complaint.not_suspended", _("招标投标活动未被暂停。"), status=409)
        _notify(
            list(_complainants(complaint)) + _respondents(complaint),
            complaint,
            _("恢复招标投标活动：%(what)s"),
            _("监督部门决定恢复招标投标活动。理由：%(reason)s"),
            reason=reason,
        )
    return suspension


# --- written statements from the agency ----------------------------------------------------------


def statement_request(
    *, actor: User, complaint: Complaint, questions: str, due_on: dt.date
) -> StatementRequest:
    """The supervisor asks the tender's agency for a written statement by ``due_on`` (today or later).

    Audited as ``complaints.statement.requested``; the agency's agents are told.
    """
    _require_supervisor(actor, complaint)
    questions = _clean_text(questions, "questions", _("需说明的事项"), TEXT_MAX)
    if due_on < timezone.localdate():
        raise DomainError("statement.due_past", _("答复期限不能早于今天。"), field="due_on")
    with transaction.atomic():
        complaint = _locked(complaint)
        _require_accepted(complaint)
        statement = StatementRequest.objects.create(
            complaint=complaint,
            requested_at=timezone.now(),
            requested_by=actor,
            questions=questions,
            due_on=due_on,
        )
        record(
            "complaints.statement.requested",
            actor=actor,
            obj=statement,
            data={"number": complaint.number, "questions": questions, "due_on": due_on},
        )
        _notify(
            _users(complaint.tender.agency_id, Role.AGENT),
            complaint,
            _("请就投诉作出书面说明：%(what)s"),
            _("%(authority)s要求贵单位于%(due)s前就以下事项作出书面说明：%(questions)s"),
            authority=complaint.authority.name,
            due=due_on.isoformat(),
            questions=questions,
        )
    return statement


def statement_answer(
    *, actor: User, statement: StatementRequest, answer: str, files: Sequence[UploadedFile] = ()
) -> StatementRequest:
    """An agent of the tender's agency answers a statement request, with optional attachments.

    Once per request (``statement.already_answered``), while the complaint is
    being handled (``complaint.closed`` after the decision or a withdrawal).
    Audited as ``complaints.statement.answered``; the supervisors are told.
    """
    statement = sel.statement_for_agent(user=actor, statement_id=statement.pk)
    answer = _clean_text(answer, "answer", _("说明内容"), TEXT_MAX)
    checked = _check_files(files, field="attachments")
    stored: list[ComplaintAttachment] = []
    try:
        with transaction.atomic():
            complaint = _locked(statement.complaint)
            _require_accepted(complaint)
            statement = StatementRequest.objects.select_for_update().get(pk=statement.pk)
            if statement.answered_at is not None:
                raise DomainError(
                    "statement.already_answered", _("已就该事项提交书面说明。"), status=409
                )
            statement.answered_at = timezone.now()
            statement.answered_by = actor
            statement.answer = answer
            statement.save(update_fields=["answered_at", "answered_by", "answer"])
            attachments = _store_files(
                complaint, checked, actor=actor, stored=stored, statement=statement
            )
            record(
                "complaints.statement.answered",
                actor=actor,
                obj=statement,
                data={
                    "number": complaint.number,
                    "answer": answer,
                    "on_time": timezone.localdate() <= statement.due_on,
                    "attachments": _files_audit(attachments),
                },
            )
            _notify(
                _supervisors(complaint),
                complaint,
                _("被投诉人已提交书面说明：%(what)s"),
                _("%(agency)s已提交书面说明。"),
                agency=complaint.tender.agency.name,
            )
    except BaseException:
        _delete_files(stored)
        raise
    return statement


# --- the decision (TR 61: within 30 working days of acceptance) ----------------------------------


def complaint_decide(
    *, actor: User, complaint: Complaint, outcome: str, decision: str
) -> Complaint:
    """The supervisor decides an accepted complaint (处理决定): dismissed, or upheld with the remedy.

    ``decision`` carries the reasons and, when upheld, the remedy ordered
    (e.g. 责令改正, 重新评标, 重新招标). An order to suspend still in force is
    lifted in the same transaction. Deciding after the 30 working days is
    allowed and recorded with ``on_time: false``. Audited as
    ``complaints.complaint.decided``; the complainant, the agency and the
    tenderer are told.
    """
    _require_supervisor(actor, complaint)
    if outcome not in Outcome.values:
        raise DomainError("complaint.outcome", _("请选择处理结果。"), field="outcome")
    decision = _clean_text(decision, "decision", _("处理决定"), TEXT_MAX)
    with transaction.atomic():
        complaint = _locked(complaint)
        _require_accepted(complaint)
        now = timezone.now()
        due = rules.decision_due(
            accepted_on=timezone.localdate(complaint.reviewed_at), calendar=WorkCalendar()
        )
        complaint.status = ComplaintStatus.DECIDED
        complaint.decided_at = now
        complaint.decided_by = actor
        complaint.outcome = outcome
        complaint.decision = decision
        complaint.save(update_fields=["status", "decided_at", "decided_by", "outcome", "decision"])
        record(
            "complaints.complaint.decided",
            actor=actor,
            obj=complaint,
            data={
                "number": complaint.number,
                "outcome": outcome,
                "decision": decision,
                "decision_due": due.on,
                "on_time": timezone.localdate(now) <= due.on,
            },
        )
        _lift(
            complaint,
            actor=actor,
            reason=gettext_in_platform_language(_("作出处理决定，暂停自动解除。")),
        )
        _notify(
            list(_complainants(complaint)) + _respondents(complaint),
            complaint,
            _("投诉处理决定：%(what)s"),
            _("处理结果：%(outcome)s。%(decision)s"),
            outcome=Outcome(complaint.outcome).label,
            decision=decision,
        )
    return complaint


# --- withdrawal -----------------------------------------------------------------------------------


def complaint_withdraw(*, actor: User, complaint: Complaint, reason: str) -> Complaint:
    """The complainant withdraws its complaint before the decision (or before acceptance).

    A bidder user of the complainant organisation only. An order to suspend
    still in force is lifted. Audited as ``complaints.complaint.withdrawn``;
    the supervisors (and, once accepted, the agency and the tenderer) are told.
    """
    _require_visible(actor, complaint)
    if not sel.is_complainant(actor, complaint):
        raise NotPermitted("permission.role", _("只有投诉人可以撤回投诉。"))
    reason = _clean_text(reason, "reason", _("撤回理由"), REASON_MAX)
    with transaction.atomic():
        complaint = _locked(complaint)
        if not complaint.is_open:
            raise DomainError("complaint.closed", _("投诉已办结或已撤回，不能再撤回。"), status=409)
        complaint.status = ComplaintStatus.WITHDRAWN
        complaint.withdrawn_at = timezone.now()
        complaint.withdrawn_by = actor
        complaint.withdraw_reason = reason
        complaint.save(update_fields=["status", "withdrawn_at", "withdrawn_by", "withdraw_reason"])
        record(
            "complaints.complaint.withdrawn",
            actor=actor,
            obj=complaint,
            sensitivity=_sensitivity(complaint),
            data={"number": complaint.number, "reason": reason, "accepted": complaint.was_accepted},
        )
        _lift(
            complaint,
            actor=actor,
            reason=gettext_in_platform_language(_("投诉人撤回投诉，暂停自动解除。")),
        )
        recipients = list(_supervisors(complaint))
        if complaint.was_accepted:
            recipients += _respondents(complaint)
        _notify(
            recipients,
            complaint,
            _("投诉已撤回：%(what)s"),
            _("撤回理由：%(reason)s"),
            reason=reason,
        )
    return complaint


def gettext_in_platform_language(message: Any) -> str:
    """A text stored for everyone (an audit record, a timeline entry) is written in the platform's language."""
    with translation.override(settings.LANGUAGE_CODE):
        return str(message)


# --- the platform's holiday table -----------------------------------------------------------------


def calendar_day_save(*, actor: User, day: CalendarDay) -> CalendarDay:
    """Save one day of the holiday table (from the Django admin); due dates follow at once.

    Only platform administrators (and superusers) keep the table. Audited as
    ``complaints.calendar_day.saved``.
    """
    if not (actor.is_superuser or actor.has_role(Role.PLATFORM_ADMIN)):
        raise NotPermitted("permission.role", _("只有平台管理员可以维护节假日安排。"))
    with transaction.atomic():
        day.save()
        record(
            "complaints.calendar_day.saved",
            actor=actor,
            obj=day,
            data={"date": day.date, "is_workday": day.is_workday, "name": day.name},
        )
    return day


def calendar_day_delete(*, actor: User, day: CalendarDay) -> None:
    """Remove one day from the holiday table. Audited as ``complaints.calendar_day.deleted``."""
    if not (actor.is_superuser or actor.has_role(Role.PLATFORM_ADMIN)):
        raise NotPermitted("permission.role", _("只有平台管理员可以维护节假日安排。"))
    with transaction.atomic():
        record(
            "complaints.calendar_day.deleted",
            actor=actor,
            obj=day,
            data={"date": day.date, "is_workday": day.is_workday, "name": day.name},
        )
        day.delete()
