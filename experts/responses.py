"""Experts' answers to a draw: by the signed link, by a reply code, and by no answer at all.

Each path checks the credential it was given, then calls the one service
that changes the selection (``experts.services.selection_confirm`` or
``selection_decline``), which locks the rows, re-checks the state and audits.
An answer after ``respond_by`` is refused: by then the invitation counts as
declined (``NO_ANSWER``) and a replacement is being asked.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import unicodedata
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.errors import DomainError
from experts import services
from experts.models import Channel, DrawSelection, OutboundMessage, SelectionStatus
from experts.selectors import selection_for_answer_link

logger = logging.getLogger(__name__)

CONFIRM = "confirm"
DECLINE = "decline"
ANSWERS = (CONFIRM, DECLINE)
# What ``DrawSelection.response_channel`` records for each way of answering.
CHANNEL_LINK = "link"
CHANNEL_SMS = Channel.SMS.value
CHANNEL_VOICE = Channel.VOICE.value
CHANNEL_TIMEOUT = "timeout"

_REPLY = re.compile(r"^([12])\s*(?:[#＃,，.。:：-]\s*)?(\d{6})$")
_KEYPRESS = re.compile(r"^([12])$")


def _require_in_window(selection: DrawSelection, now: dt.datetime) -> None:
    if selection.status in (SelectionStatus.CONFIRMED, SelectionStatus.DECLINED):
        raise DomainError("answer.used", _("您已答复过本次抽取通知，答复不能更改。"), status=409)
    if selection.status == SelectionStatus.NO_ANSWER or (
        selection.respond_by is not None and now > selection.respond_by
    ):
        raise DomainError("answer.expired", _("答复时限已过，逾期未答复视为不参加。"), status=409)
    if selection.status != SelectionStatus.NOTIFIED:
        raise DomainError("answer.not_found", _("没有找到对应的抽取通知。"), status=404)


def _answer(selection: DrawSelection, answer: str, channel: str, now: dt.datetime) -> DrawSelection:
    _require_in_window(selection, now)
    if answer == CONFIRM:
        return services.selection_confirm(selection=selection, channel=channel)
    return services.selection_decline(
        selection=selection, status=SelectionStatus.DECLINED, channel=channel
    )


# --- the signed link ---------------------------------------------------------------------------


def answer_by_link(*, token: str, answer: str, now: dt.datetime | None = None) -> DrawSelection:
    """Confirm or decline through the signed single-use link ``/experts/draws/answer/<token>/``.

    The link works once: after an answer (or after ``respond_by``) it is
    refused with ``answer.used`` (or ``answer.expired``). A link whose
    signature does not hold, or that names no notified selection, is
    ``answer.invalid_link`` (404).
    """
    if answer not in ANSWERS:
        raise DomainError("answer.choice", _("请选择确认参加或不参加。"), field="answer")
    selection = selection_for_answer_link(token=token)
    return _answer(selection, answer, CHANNEL_LINK, now or timezone.now())


# --- replies through the gateway ---------------------------------------------------------------


def normalise_mobile(number: str) -> str:
    """A mainland mobile number as its 11 digits: spaces, dashes and a +86/0086 prefix dropped."""
    digits = "".join(ch for ch in unicodedata.normalize("NFKC", number or "") if ch.isdigit())
    for prefix in ("0086", "86"):
        if digits.startswith(prefix) and len(digits) - len(prefix) == 11:
            return digits[len(prefix) :]
    return digits


@dataclass(frozen=True, kw_only=True)
class ParsedReply:
    answer: str
    reply_code: str
    """Empty for a key pressed during a call (the call's reference names the invitation)."""


def parse_reply(text: str, *, keypress_allowed: bool) -> ParsedReply:
    """ "1 123456" confirms, "2 123456" declines (full-width digits and spaces accepted).

    A single "1"/"2" is accepted only for a key pressed during a call, which
    the gateway reports with the call's reference.
    """
    cleaned = unicodedata.normalize("NFKC", text or "").strip()
    match = _REPLY.match(cleaned)
    if match:
        digit, code = match.groups()
        return ParsedReply(answer=CONFIRM if digit == "1" else DECLINE, reply_code=code)
    if keypress_allowed and _KEYPRESS.match(cleaned):
        return ParsedReply(answer=CONFIRM if cleaned == "1" else DECLINE, reply_code="")
    raise DomainError(
        "answer.unrecognised",
        _("无法识别的答复。确认参加请回复“1 答复码”，不参加请回复“2 答复码”。"),
        status=400,
    )


def _selection_for_reply(
    sender: str, parsed: ParsedReply, reference: str
) -> tuple[DrawSelection, str]:
    not_found = DomainError(
        "answer.no_match", _("没有找到与该手机号码和答复码对应的待答复通知。"), status=404
    )
    if parsed.reply_code:
        candidates = [
            selection
            for selection in DrawSelection.objects.filter(
                reply_code=parsed.reply_code, status=SelectionStatus.NOTIFIED
            ).select_related("expert")
            if normalise_mobile(selection.expert.mobile) == sender
        ]
        if not candidates:
            raise not_found
        if len(candidates) > 1:
            raise DomainError(
                "answer.ambiguous",
                _("该答复码对应多条通知，请通过短信或邮件中的链接答复。"),
                status=409,
            )
        return candidates[0], CHANNEL_SMS
    message = (
        OutboundMessage.objects.filter(channel=Channel.VOICE, gateway_reference=reference)
        .exclude(gateway_reference="")
        .select_related("selection__expert")
        .first()
    )
    if (
        message is None
        or message.selection is None
        or normalise_mobile(message.selection.expert.mobile) != sender
    ):
        raise not_found
    return message.selection, CHANNEL_VOICE


def answer_by_reply(
    *, sender: str, text: str, reference: str = "", now: dt.datetime | None = None
) -> DrawSelection:
    """An answer the gateway received: an SMS reply, or a key pressed during the voice call.

    The caller has verified the gateway's signature. An SMS reply must carry
    the invitation's reply code and come from the expert's own mobile; a key
    press names its call by the gateway's ``reference`` and must come from
    the number that was called. Stable error codes: ``answer.unrecognised``,
    ``answer.no_match``, ``answer.ambiguous``, ``answer.used``,
    ``answer.expired``.
    """
    number = normalise_mobile(sender)
    if not number:
        raise DomainError(
            "answer.no_match", _("没有找到与该手机号码和答复码对应的待答复通知。"), status=404
        )
    parsed = parse_reply(text, keypress_allowed=bool(reference))
    selection, channel = _selection_for_reply(number, parsed, reference)
    return _answer(selection, parsed.answer, channel, now or timezone.now())


# --- no answer --------------------------------------------------------------------------------


def selections_expire_due(*, now: dt.datetime | None = None) -> list[int]:
    """Mark every invitation still open after its ``respond_by`` as NO_ANSWER; returns their ids.

    Idempotent: run by the expiry job at each deadline, and harmless at any
    other time. Each selection is handled in its own transaction through
    ``selection_decline`` (which locks, re-checks and asks the replacement),
    so one failure does not hold up the others, and an expert who answered
    in the meantime is simply skipped.
    """
    now = now or timezone.now()
    due = list(
        DrawSelection.objects.filter(status=SelectionStatus.NOTIFIED, respond_by__lte=now)
        .order_by("respond_by", "request_id", "position")
        .values_list("pk", flat=True)
    )
    expired: list[int] = []
    for pk in due:
        try:
            with transaction.atomic():
                selection = DrawSelection.objects.get(pk=pk)
                services.selection_decline(
                    selection=selection, status=SelectionStatus.NO_ANSWER, channel=CHANNEL_TIMEOUT
                )
        except DomainError as error:
            # Answered or already expired by a concurrent run: nothing left to do for it.
            logger.info("Selection %s not expired: %s", pk, error.code)
            continue
        expired.append(pk)
    return expired
