"""Writes of the publicity and award step (TR 54, TR 55, EB 40, EB 49). Each is audited in its transaction.

Guard first, then change: every service checks the actor's right to the
object, locks the rows it changes, checks the rules by the server clock
read under the lock, writes, appends to the audit chain, and tells the
people concerned (in-app now, e-mail after commit, in the platform's
language whoever acted).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from accounts.models import Organisation, User
from accounts.services import notify_users
from audit.services import record
from award import letters
from award import selectors as sel
from award.models import (
    AwardLetter,
    AwardResult,
    LetterKind,
    Objection,
    ObjectionOutcome,
    Publicity,
)
from bidding.models import Bid
from core.errors import DomainError, NotFound
from evaluation.models import EvaluationReport
from opening.events import iso
from tendering import services as tendering
from tendering.models import Lot, LotStatus

MAX_NOTE = 2000
MAX_OBJECTION = 5000
MAX_ANSWER = 5000
MAX_REASON = 1000
ATTACHMENT_MAX_BYTES = 20 * 1024 * 1024


# A publicity may be scheduled ahead (published now, open later), but not indefinitely.
MAX_START_AHEAD_DAYS = 30

def _clean(
    value: str, *, field: str, label: Promise, max_length: int, required: bool = True
) -> str:
    value = (value or "").strip()
    if required and not value:
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


def _local(moment: dt.datetime) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M")


def _ceil_to_minute(value: dt.datetime) -> dt.datetime:
    floored = value.replace(second=0, microsecond=0)
    return floored if floored == value else floored + dt.timedelta(minutes=1)


def _notify(
    users: Any, *, title: Promise, params: dict[str, Any], body: Promise | str, url: str
) -> None:
    """In-app now, e-mail after commit; written in the platform's language whoever acted."""
    recipients = list(users)
    if not recipients:
        return
    with translation.override(settings.LANGUAGE_CODE):
        rendered_title = str(title) % params
        rendered_body = str(body) % params if params and not isinstance(body, str) else str(body)
    notify_users(recipients, title=rendered_title, body=rendered_body, url=url)


def _require_agent(actor: User, lot: Lot) -> None:
    if not sel.is_agent_of(actor, lot):
        raise NotFound("lot.not_found", _("标段不存在。"))


def _locked_lot(lot: Lot) -> Lot:
    return (
        Lot.objects.select_for_update()
        .select_related("tender", "tender__agency", "tender__tenderer")
        .get(pk=lot.pk)
    )


def _candidate_rows(report: EvaluationReport) -> list[dict[str, Any]]:
    """The report's candidates as published: exactly the signed document's figures, as strings."""
    return [
        {
            "rank": row["rank"],
            "bid": row["bid"],
            "organisation": row["organisation"],
            "organisation_name": row["organisation_name"],
            "credit_code": row["credit_code"],
            "price": row["price"],
            "score": row["score"],
            "evaluated_price": row["evaluated_price"],
        }
        for row in report.data()["candidates"]
    ]


# --- the publicity (中标候选人公示) ------------------------------------------------------------------


def publicity_publish(
    *,
    actor: User,
    lot: Lot,
    ends_at: dt.datetime,
    starts_at: dt.datetime | None = None,
    note: str = "",
) -> Publicity:
    """Publish the final report's ranked candidates for objections (TR 54).

    The window runs from ``starts_at`` (now when not given; never in the
    past) to ``ends_at``, at least three days later (``publicity.too_short``,
    which names the earliest end). The rule asks for publication within
    three days of the report becoming final: a later start is not refused,
    it is recorded as late (``Publicity.late`` and the audit event). Needs
    the lot *evaluating* with a final report that names candidates, and no
    publicity yet. Tells the lot's bidders and the tenderer.
    """
    _require_agent(actor, lot)
    note = _clean(note, field="note", label=_("公示说明"), max_length=MAX_NOTE, required=False)
    for name, value in (("starts_at", starts_at), ("ends_at", ends_at)):
        if value is not None and timezone.is_naive(value):
            raise DomainError("award.naive_time", _("时间必须带有时区。"), field=name)
    with transaction.atomic():
        lot = _locked_lot(lot)
        now = timezone.now()
        if Publicity.objects.filter(lot=lot).exists():
            raise DomainError(
                "award.already_published", _("该标段的中标候选人已经公示。"), status=409
            )
        if lot.status != LotStatus.EVALUATING:
            raise DomainError(
                "award.lot_not_evaluating",
                _("标段当前状态为“%(state)s”，不能公示中标候选人。"),
                status=409,
                state=LotStatus(lot.status).label,
            )
        report = sel.report_final(lot)
        if report is None:
            raise DomainError(
                "award.no_final_report",
                _("评标报告经全体评标委员会成员签署生效后才能公示中标候选人。"),
                status=409,
            )
        candidates = _candidate_rows(report)
        if not candidates:
            raise DomainError(
                "award.no_candidates",
                _("评标委员会未推荐中标候选人（没有有效投标），不能公示；请按流标处理。"),
                status=409,
            )
        start = now if starts_at is None else starts_at
        # A start typed to the minute is the current minute at best: within it, it means now.
        if start < now:
            if now - start >= dt.timedelta(minutes=1):
                raise DomainError(
                    "publicity.start_past", _("公示开始时间不能早于当前时间。"), field="starts_at"
                )
            start = now
        if start - now > dt.timedelta(days=MAX_START_AHEAD_DAYS):
            raise DomainError(
                "publicity.start_far",
                _("公示开始时间不能晚于%(days)d日之后；公示应在评标报告生效后及时发布。"),
                field="starts_at",
                days=MAX_START_AHEAD_DAYS,
            )
        earliest_end = start + dt.timedelta(days=sel.PUBLICITY_MIN_DAYS)
        if ends_at < earliest_end:
            raise DomainError(
                "publicity.too_short",
                _(
                    "公示期不得少于%(days)d日（《招标投标法实施条例》第五十四条）：结束时间不能早于 %(earliest)s。"
                ),
                field="ends_at",
                days=sel.PUBLICITY_MIN_DAYS,
                # Shown to the minute, rounded up: the time named must itself be allowed.
                earliest=_local(_ceil_to_minute(earliest_end)),
            )
        due = sel.due_after(report.final_at, sel.PUBLICITY_DUE_DAYS)
        publicity = Publicity.objects.create(
            lot=lot,
            report=report,
            report_sha256=report.sha256,
            report_final_at=report.final_at,
            candidates=candidates,
            note=note,
            due_at=due,
            starts_at=start,
            ends_at=ends_at,
            late=start >= due,
            published_at=now,
            published_by=actor,
        )
        record(
            "award.publicity.published",
            actor=actor,
            obj=publicity,
            data={
                "report_sha256": report.sha256,
                "report_final_at": report.final_at,
                "candidates": [
                    {
                        key: row[key]
                        for key in (
                            "rank",
                            "organisation_name",
                            "credit_code",
                            "price",
                            "score",
                            "evaluated_price",
                        )
                    }
                    for row in candidates
                ],
                "starts_at": start,
                "ends_at": ends_at,
                "due_at": due,
                "late": publicity.late,
                "note_sha256": hashlib.sha256(note.encode("utf-8")).hexdigest(),
            },
        )
        params = {"lot": str(lot), "start": _local(start), "end": _local(ends_at)}
        body = _(
            "中标候选人公示期：%(start)s 至 %(end)s。对评标结果有异议的，请在公示期内通过平台提出。"
        )
        _notify(
            sel.bidder_users([bid.organisation_id for bid in sel.bidders_of(lot)]),
            title=_("中标候选人公示：%(lot)s"),
            params=params,
            body=body,
            url=reverse("award:bidder_lot", kwargs={"lot_id": lot.pk}),
        )
        _notify(
            sel.tenderer_reps(lot),
            title=_("中标候选人公示：%(lot)s"),
            params=params,
            body=body,
            url=reverse("award:lot", kwargs={"lot_id": lot.pk}),
        )
    return publicity


# --- objections (异议) -----------------------------------------------------------------------------


def _attachment_digest(upload: UploadedFile) -> tuple[str, str]:
    name = (upload.name or "").rsplit("/", 1)[-1].strip()[:200]
    if not name:
        raise DomainError("document.name", _("文件名不能为空。"), field="attachment")
    if not upload.size:
        raise DomainError("document.empty", _("文件为空，请重新选择。"), field="attachment")
    if upload.size > ATTACHMENT_MAX_BYTES:
        raise DomainError(
            "document.too_large",
            _("文件超过大小上限（%(mb)d MB）。"),
            field="attachment",
            mb=ATTACHMENT_MAX_BYTES // (1024 * 1024),
        )
    digest = hashlib.sha256()
    for chunk in upload.chunks():
        digest.update(chunk)
    upload.seek(0)
    return name, digest.hexdigest()


def objection_file(
    *, actor: User, lot: Lot, text: str, attachment: UploadedFile | None = None
) -> Objection:
    """A bidder of the lot objects to the publicised candidates, while the publicity is open (TR 54).

    Only a bidder user of an organisation with a current bid on the lot (an
    interested party) may object; anyone else gets the 404 of a lot that
    does not exist. Before the window: ``objection.not_started``; after it:
    ``objection.window_closed``. The answer is due by the end of the third
    day after receipt. Tells the lot's agents and the tenderer.
    """
    bid = sel.interested_bid(user=actor, lot=lot)
    if bid is None:
        raise NotFound("lot.not_found", _("标段不存在。"))
    text = _clean(text, field="text", label=_("异议内容"), max_length=MAX_OBJECTION)
    attachment_name, attachment_sha256 = (
        _attachment_digest(attachment) if attachment is not None else ("", "")
    )
    with transaction.atomic():
        lot = _locked_lot(lot)
        now = timezone.now()
        publicity = Publicity.objects.select_for_update().filter(lot=lot).first()
        if publicity is None:
            raise DomainError(
                "objection.no_publicity", _("该标段的中标候选人尚未公示。"), status=409
            )
        if lot.status != LotStatus.EVALUATING or AwardResult.objects.filter(lot=lot).exists():
            raise DomainError(
                "objection.lot_closed", _("该标段已定标或已结束，不能再提出异议。"), status=409
            )
        if now < publicity.starts_at:
            raise DomainError(
                "objection.not_started",
                _("公示期自 %(start)s 开始，开始后才能提出异议。"),
                status=409,
                start=_local(publicity.starts_at),
            )
        if now >= publicity.ends_at:
            raise DomainError(
                "objection.window_closed",
                _(
                    "公示期已于 %(end)s 结束，不能再提出异议（《招标投标法实施条例》第五十四条：异议应当在中标候选人公示期间提出）。"
                ),
                status=409,
                end=_local(publicity.ends_at),
            )
        objection = Objection(
            publicity=publicity,
            organisation_id=bid.organisation_id,
            submitted_by=actor,
            text=text,
            received_at=now,
            answer_due=sel.due_after(now, sel.ANSWER_DUE_DAYS),
            attachment_name=attachment_name,
            attachment_sha256=attachment_sha256,
            attachment_size=attachment.size if attachment is not None else None,
        )
        if attachment is not None:
            objection.attachment.save(attachment_name, attachment, save=False)
        objection.save()
        record(
            "award.objection.filed",
            actor=actor,
            obj=objection,
            data={
                "objection": objection.pk,
                "organisation": bid.organisation.name,
                "credit_code": bid.organisation.credit_code,
                "text_sha256": hashlib.sha256(text.encode("utf-8")).hexdigest(),
                "attachment": {
                    "name": attachment_name,
                    "size": objection.attachment_size,
                    "sha256": attachment_sha256,
                }
                if attachment is not None
                else None,
                "received_at": now,
                "answer_due": objection.answer_due,
            },
        )
        url = reverse("award:objection", kwargs={"pk": objection.pk})
        params = {
            "lot": str(lot),
            "organisation": bid.organisation.name,
            "due": sel.due_label(objection.answer_due),
        }
        _notify(
            [*sel.agency_agents(lot), *sel.tenderer_reps(lot)],
            title=_("收到异议：%(lot)s"),
            params=params,
            body=_(
                "%(organisation)s对中标候选人公示提出异议，请于 %(due)s 前作出答复；答复前应当暂停招标投标活动（《招标投标法实施条例》第五十四条）。"
            ),
            url=url,
        )
    return objection


def objection_answer(
    *,
    actor: User,
    objection: Objection,
    answer: str,
    outcome: str,
    disqualified_rank: int | None = None,
) -> Objection:
    """The lot's agent answers an objection (TR 54: within three days of receipt; a later answer is flagged).

    ``outcome`` is ``maintained`` (the publicised result stands) or
    ``upheld``; an upheld objection may name the publicised candidate it
    disqualifies (``disqualified_rank``), who can then not be chosen as the
    winner. Tells the objecting organisation's users.
    """
    lot = objection.publicity.lot
    _require_agent(actor, lot)
    answer = _clean(answer, field="answer", label=_("答复内容"), max_length=MAX_ANSWER)
    if outcome not in ObjectionOutcome.values:
        raise DomainError("objection.outcome", _("请选择处理结果。"), field="outcome")
    if outcome == ObjectionOutcome.MAINTAINED and disqualified_rank is not None:
        raise DomainError(
            "objection.disqualify_maintained",
            _("异议不成立时不能取消中标候选人资格。"),
            field="disqualified_rank",
        )
    with transaction.atomic():
        _locked_lot(lot)
        objection = (
            Objection.objects.select_for_update()
            .select_related("publicity__lot__tender", "organisation")
            .get(pk=objection.pk)
        )
        if objection.answered_at is not None:
            raise DomainError("objection.already_answered", _("该异议已经答复。"), status=409)
        publicity = objection.publicity
        candidate = None
        if disqualified_rank is not None:
            candidate = publicity.candidate(disqualified_rank)
            if candidate is None:
                raise DomainError(
                    "objection.candidate",
                    _("公示的中标候选人中没有排名第%(rank)s的。"),
                    field="disqualified_rank",
                    rank=disqualified_rank,
                )
        now = timezone.now()
        objection.answer = answer
        objection.outcome = outcome
        objection.disqualified_rank = disqualified_rank
        objection.answered_at = now
        objection.answered_by = actor
        objection.save(
            update_fields=["answer", "outcome", "disqualified_rank", "answered_at", "answered_by"]
        )
        record(
            "award.objection.answered",
            actor=actor,
            obj=objection,
            data={
                "objection": objection.pk,
                "organisation": objection.organisation.name,
                "outcome": outcome,
                "disqualified": None
                if candidate is None
                else {
                    "rank": candidate["rank"],
                    "organisation_name": candidate["organisation_name"],
                },
                "answer_sha256": hashlib.sha256(answer.encode("utf-8")).hexdigest(),
                "answer_due": objection.answer_due,
                "late": now >= objection.answer_due,
            },
        )
        _notify(
            sel.bidder_users([objection.organisation_id]),
            title=_("异议已答复：%(lot)s"),
            params={"lot": str(publicity.lot)},
            body=answer,
            url=reverse("award:objection", kwargs={"pk": objection.pk}),
        )
    return objection


# --- the result (中标结果公告) and its letters -------------------------------------------------------


def result_announce(
    *, actor: User, lot: Lot, winner_rank: int = 1, reason: str = "", note: str = ""
) -> AwardResult:
    """Announce the result once the publicity has ended and every objection is answered: the lot is awarded.

    The winner is the first-ranked candidate still qualified by default;
    another publicised candidate only with ``reason`` recorded (TR 55: the
    first gave up, failed to provide the performance security, an upheld
    objection disqualified it…), never one an upheld objection
    disqualified. Refused while a complaint suspends the lot
    (``award.suspended``, asked of ``complaints.selectors.lot_suspended``),
    before the window's end (``award.publicity_open``) and while an
    objection is unanswered (``award.objections_unanswered``).

    In one transaction: ``tendering.services.lot_award`` (winner, award
    price = the candidate's bid price, the lot *awarded*, the savings fact,
    an audit checkpoint), the result, and a letter signed by the platform for
    every bidder of the lot — the award notice to the winner, the result
    notice to the others. Tells each recipient and the tenderer.
    """
    _require_agent(actor, lot)
    reason = _clean(reason, field="reason", label=_("理由"), max_length=MAX_REASON, required=False)
    note = _clean(note, field="note", label=_("公告说明"), max_length=MAX_NOTE, required=False)
    with transaction.atomic():
        lot = _locked_lot(lot)
        now = timezone.now()
        publicity = Publicity.objects.select_for_update().filter(lot=lot).first()
        if publicity is None:
            raise DomainError(
                "award.no_publicity",
                _("中标候选人公示期满后才能公告中标结果；请先公示中标候选人。"),
                status=409,
            )
        if AwardResult.objects.filter(lot=lot).exists():
            raise DomainError(
                "award.already_announced", _("该标段的中标结果已经公告。"), status=409
            )
        if lot.status != LotStatus.EVALUATING:
            raise DomainError(
                "award.lot_not_evaluating",
                _("标段当前状态为“%(state)s”，不能公告中标结果。"),
                status=409,
                state=LotStatus(lot.status).label,
            )
        if sel.lot_suspended(lot):
            raise DomainError(
                "award.suspended",
                _("本标段因投诉处理已暂停，暂停解除前不能公告中标结果。"),
                status=409,
            )
        if now < publicity.ends_at:
            raise DomainError(
                "award.publicity_open",
                _("公示期至 %(end)s 结束，期满后才能公告中标结果。"),
                status=409,
                end=_local(publicity.ends_at),
            )
        objections = list(publicity.objections.all())
        unanswered = [objection for objection in objections if objection.answered_at is None]
        if unanswered:
            raise DomainError(
                "award.objections_unanswered",
                _(
                    "尚有%(count)d件异议未答复；作出答复前应当暂停招标投标活动（《招标投标法实施条例》第五十四条）。"
                ),
                status=409,
                count=len(unanswered),
            )
        disqualified = {o.disqualified_rank for o in objections if o.disqualified_rank is not None}
        candidate = publicity.candidate(winner_rank)
        if candidate is None:
            raise DomainError(
                "award.candidate",
                _("公示的中标候选人中没有排名第%(rank)s的。"),
                field="winner_rank",
                rank=winner_rank,
            )
        if winner_rank in disqualified:
            raise DomainError(
                "award.candidate_disqualified",
                _("排名第%(rank)s的中标候选人已因异议成立被取消资格，不能确定为中标人。"),
                field="winner_rank",
                rank=winner_rank,
            )
        first = min(
            (row["rank"] for row in publicity.candidates if row["rank"] not in disqualified),
            default=None,
        )
        if winner_rank != first and not reason:
            raise DomainError(
                "award.reason_required",
                _(
                    "确定排名非第一的中标候选人为中标人，须说明理由（如排名第一的中标候选人放弃中标、未按要求提交履约保证金等）。"
                ),
                field="reason",
            )
        winner = Organisation.objects.get(pk=candidate["organisation"])
        bid = Bid.objects.select_related("organisation").get(pk=candidate["bid"])
        award_price = Decimal(candidate["price"])
        lot = tendering.lot_award(actor=actor, lot=lot, winner=winner, award_price=award_price)
        result = AwardResult.objects.create(
            lot=lot,
            publicity=publicity,
            winner=winner,
            bid=bid,
            winner_rank=winner_rank,
            award_price=award_price,
            reason=reason,
            note=note,
            announced_at=now,
            announced_by=actor,
        )
        skipped = [
            {
                "rank": row["rank"],
                "organisation_name": row["organisation_name"],
                "disqualified": row["rank"] in disqualified,
            }
            for row in publicity.candidates
            if row["rank"] < winner_rank
        ]
        record(
            "award.result.announced",
            actor=actor,
            obj=result,
            data={
                "winner": winner.name,
                "winner_credit_code": winner.credit_code,
                "winner_rank": winner_rank,
                "award_price": award_price,
                "reason": reason,
                "skipped": skipped,
                "publicity": {"starts_at": publicity.starts_at, "ends_at": publicity.ends_at},
                "objections": len(objections),
                "report_sha256": publicity.report_sha256,
                "note_sha256": hashlib.sha256(note.encode("utf-8")).hexdigest(),
            },
        )
        issued = _letters_issue(actor=actor, result=result, now=now)
        for letter in issued:
            title = (
                _("中标通知书：%(lot)s")
                if letter.kind == LetterKind.AWARD_NOTICE
                else _("中标结果通知书：%(lot)s")
            )
            body = (
                _("你单位被确定为中标人，中标价 %(price)s 元。请下载中标通知书。")
                if letter.kind == LetterKind.AWARD_NOTICE
                else _("本标段中标人为%(winner)s，中标价 %(price)s 元。请下载中标结果通知书。")
            )
            _notify(
                sel.bidder_users([letter.organisation_id]),
                title=title,
                params={"lot": str(lot), "winner": winner.name, "price": f"{award_price:,}"},
                body=body,
                url=reverse("award:bidder_lot", kwargs={"lot_id": lot.pk}),
            )
        _notify(
            sel.tenderer_reps(lot),
            title=_("中标结果公告：%(lot)s"),
            params={"lot": str(lot), "winner": winner.name, "price": f"{award_price:,}"},
            body=_("中标人为%(winner)s，中标价 %(price)s 元。"),
            url=reverse("award:lot", kwargs={"lot_id": lot.pk}),
        )
    return result


def _letter_document(
    *,
    result: AwardResult,
    bid: Bid,
    kind: str,
    letter_no: str,
    report_bids: dict[str, dict[str, Any]],
    now: dt.datetime,
) -> dict[str, Any]:
    lot, publicity, tender = result.lot, result.publicity, result.lot.tender
    entry = report_bids.get(str(bid.pk), {})
    price = entry.get("price") or (None if bid.price is None else str(bid.price))
    return {
        "format": letters.LETTER_FORMAT,
        "version": letters.LETTER_VERSION,
        "kind": kind,
        "letter_no": letter_no,
        "issued_at": iso(timezone.localtime(now)),
        "lot": {
            "id": lot.pk,
            "tender_code": tender.code,
            "tender_title": tender.title,
            "project_name": tender.project_name,
            "number": lot.number,
            "name": lot.name,
            "tenderer": tender.tenderer.name,
            "agency": tender.agency.name,
            "control_price": str(lot.control_price),
        },
        "recipient": {
            "organisation": bid.organisation_id,
            "name": bid.organisation.name,
            "credit_code": bid.organisation.credit_code,
        },
        "bid": {
            "id": str(bid.pk),
            "receipt_no": bid.receipt_no,
            "price": price,
            "rank": entry.get("rank"),
        },
        "result": {
            "winner": result.winner.name,
            "winner_credit_code": result.winner.credit_code,
            "winner_rank": result.winner_rank,
            "award_price": str(result.award_price),
            "announced_at": iso(timezone.localtime(result.announced_at)),
            "reason": result.reason,
        },
        "publicity": {
            "starts_at": iso(timezone.localtime(publicity.starts_at)),
            "ends_at": iso(timezone.localtime(publicity.ends_at)),
        },
        "evaluation_report_sha256": publicity.report_sha256,
    }


def _letters_issue(*, actor: User, result: AwardResult, now: dt.datetime) -> list[AwardLetter]:
    """Sign, render and store a letter for every bidder of the lot, each audited (runs in the result's transaction)."""
    lot = result.lot
    report_bids = {row["bid"]: row for row in result.publicity.report.data().get("bids", [])}
    bids = list(sel.bidders_of(lot))
    # The winner's letter first, then the others in the order their bids were received.
    bids.sort(key=lambda bid: bid.organisation_id != result.winner_id)
    issued = []
    others = 0
    for bid in bids:
        if bid.organisation_id == result.winner_id:
            kind, letter_no = LetterKind.AWARD_NOTICE, f"{lot.tender.code}-{lot.number:02d}-ZB"
        else:
            others += 1
            kind, letter_no = (
                LetterKind.RESULT_NOTICE,
                f"{lot.tender.code}-{lot.number:02d}-JG{others:03d}",
            )
        signed = letters.letter_sign(
            _letter_document(
                result=result,
                bid=bid,
                kind=kind,
                letter_no=letter_no,
                report_bids=report_bids,
                now=now,
            )
        )
        pdf = letters.letter_pdf(signed)
        letter = AwardLetter.objects.create(
            result=result,
            organisation_id=bid.organisation_id,
            bid=bid,
            kind=kind,
            letter_no=letter_no,
            document=letters.letter_dumps(signed),
            sha256=letters.letter_sha256(signed),
            key_fingerprint=signed["key_fingerprint"],
            signature=signed["signature"],
            pdf=pdf,
            pdf_sha256=hashlib.sha256(pdf).hexdigest(),
            issued_at=now,
        )
        record(
            "award.letter.issued",
            actor=actor,
            obj=letter,
            data={
                "letter_no": letter_no,
                "kind": kind,
                "organisation": bid.organisation.name,
                "credit_code": bid.organisation.credit_code,
                "sha256": letter.sha256,
                "pdf_sha256": letter.pdf_sha256,
                "key_fingerprint": letter.key_fingerprint,
            },
        )
        issued.append(letter)
    return issued
