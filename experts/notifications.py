"""Telling experts they were drawn, and alerting people when a panel cannot be filled.

Called by ``experts.services`` inside the draw's transaction. The messages
are ``OutboundMessage`` rows written in that transaction; they leave, through
Django's e-mail backend and the configured SMS/voice gateway
(``experts.gateway``), only once it has committed, so a draw that rolls back
has told nobody anything. A message the gateway refuses keeps its error on
the row and never undoes the draw.

What an expert is told is the minimum needed to turn up (ER 8, TR 46): time,
place, specialty and how to answer — never the tenderer, the agency, the
project or any bidder, so that nobody can be approached about the lot before
the evaluation.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from django.conf import settings
from django.core import signing
from django.core.mail import EmailMessage
from django.core.mail.message import make_msgid
from django.db import transaction
from django.db.models import prefetch_related_objects
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from accounts.models import Notification, Role, User
from accounts.services import notify_users
from experts.gateway import GatewayError, get_gateway
from experts.models import Channel, DrawRequest, DrawSelection, OutboundMessage

logger = logging.getLogger(__name__)

_LINK_SALT = "experts.answer-link"
_SUBJECT_SEPARATOR = "\n\n"


# --- the answer link -------------------------------------------------------------------------


def answer_link_token(selection: DrawSelection) -> str:
    """The signed form of the selection's random token that goes into the answer link.

    Signed with ``SECRET_KEY``, so a copy of the database alone (which holds
    the raw tokens) cannot be turned into working links.
    """
    return signing.Signer(salt=_LINK_SALT).sign(selection.token)


def answer_link_unsign(value: str) -> str | None:
    """The raw token inside a signed link value, or None if the signature does not hold."""
    try:
        return signing.Signer(salt=_LINK_SALT).unsign(value)
    except signing.BadSignature:
        return None


def answer_url(selection: DrawSelection) -> str:
    path = reverse("experts:answer", kwargs={"token": answer_link_token(selection)})
    return f"{settings.SITE_URL.rstrip('/')}{path}"


# --- what is said ---------------------------------------------------------------------------


def _written_time(moment: dt.datetime) -> str:
    local = timezone.localtime(moment)
    return _("%(year)d年%(month)d月%(day)d日 %(hour)02d:%(minute)02d") % {
        "year": local.year,
        "month": local.month,
        "day": local.day,
        "hour": local.hour,
        "minute": local.minute,
    }


def _spoken_time(moment: dt.datetime) -> str:
    local = timezone.localtime(moment)
    if local.minute:
        template = _("%(month)d月%(day)d日%(hour)d点%(minute)d分")
    else:
        template = _("%(month)d月%(day)d日%(hour)d点整")
    return template % {
        "month": local.month,
        "day": local.day,
        "hour": local.hour,
        "minute": local.minute,
    }


def party_names(request: DrawRequest) -> list[str]:
    """Every name an expert must not learn: tenderer, agency, project, lot, and every (potential) bidder.

    Longest first, so that a name containing another is masked whole.
    """
    from experts.selectors import lot_parties

    lot = request.lot
    tender = lot.tender
    names = {tender.project_name, tender.title, lot.name}
    names.update(lot_parties(lot).values_list("name", flat=True))
    return sorted((name for name in names if name and name.strip()), key=len, reverse=True)


def scrub(text: str, names: Iterable[str]) -> str:
    """``text`` with every party name replaced by a neutral mark.

    The evaluation place is typed by the agent; a place such as "市第一人民医院
    会议室" would name the tenderer to every expert drawn.
    """
    masked, mark = text, _("〔名称已隐去〕")
    for name in names:
        masked = masked.replace(name, mark)
    return masked


@dataclass(frozen=True, kw_only=True)
class Invitation:
    """The facts every message of one selection is made from (and nothing else)."""

    expert_name: str
    start: dt.datetime
    place: str
    specialty: str
    reply_code: str
    respond_by: dt.datetime
    link: str


def invitation_for(selection: DrawSelection, *, names: Sequence[str]) -> Invitation:
    request = selection.request
    assert selection.respond_by is not None, "only a notified selection has an invitation"
    return Invitation(
        expert_name=selection.expert.name,
        start=request.evaluation_start,
        place=scrub(request.evaluation_place, names),
        specialty=selection.item.specialty.name,
        reply_code=selection.reply_code,
        respond_by=selection.respond_by,
        link=answer_url(selection),
    )


def voice_script(invitation: Invitation) -> str:
    """What the gateway reads out: short, in Chinese, the code spelt digit by digit."""
    spelt = " ".join(invitation.reply_code)
    return _(
        "%(name)s专家您好，这里是阳光开标公共资源交易平台。您已被随机抽取为评标专家。"
        "评标时间：%(start)s；评标地点：%(place)s；评标专业：%(specialty)s。"
        "确认参加请按1，不能参加请按2。也可以回复短信：1 空格 %(code)s 表示确认，2 空格 %(code)s 表示不参加。"
        "请在%(deadline)s前答复，逾期未答复视为不参加。请勿向他人透露本次抽取信息。"
    ) % {
        "name": invitation.expert_name,
        "start": _spoken_time(invitation.start),
        "place": invitation.place,
        "specialty": invitation.specialty,
        "code": spelt,
        "deadline": _spoken_time(invitation.respond_by),
    }


def sms_text(invitation: Invitation) -> str:
    return _(
        "【阳光开标】%(name)s专家：您已被随机抽取为评标专家。评标时间%(start)s，地点%(place)s，专业%(specialty)s。"
        "回复“1 %(code)s”确认参加，回复“2 %(code)s”不参加，或打开链接答复：%(link)s 。"
        "请于%(deadline)s前答复，逾期视为不参加。请勿向他人透露。"
    ) % {
        "name": invitation.expert_name,
        "start": _written_time(invitation.start),
        "place": invitation.place,
        "specialty": invitation.specialty,
        "code": invitation.reply_code,
        "link": invitation.link,
        "deadline": _written_time(invitation.respond_by),
    }


def email_subject(invitation: Invitation) -> str:
    return _("评标专家抽取通知：请于%(deadline)s前答复") % {
        "deadline": _written_time(invitation.respond_by)
    }


def email_text(invitation: Invitation) -> str:
    return _(
        "%(name)s专家：\n\n"
        "您已从评标专家库中被随机抽取为评标专家。\n\n"
        "评标时间：%(start)s\n"
        "评标地点：%(place)s\n"
        "评标专业：%(specialty)s\n\n"
        "请在 %(deadline)s 前答复，逾期未答复视为不参加，平台将自动递补其他专家。\n\n"
        "在线答复（仅可使用一次）：%(link)s\n"
        "或回复短信“1 %(code)s”确认参加、“2 %(code)s”不参加；接到语音电话时按1确认、按2不参加。\n\n"
        "项目信息在评标开始时提供。依据《评标委员会和评标方法暂行规定》，评标委员会成员名单在中标结果确定前保密，"
        "请勿向任何人透露您被抽取的情况；与招标人或投标人有利害关系的，请选择不参加。\n\n"
        "阳光开标公共资源交易平台"
    ) % {
        "name": invitation.expert_name,
        "start": _written_time(invitation.start),
        "place": invitation.place,
        "specialty": invitation.specialty,
        "deadline": _written_time(invitation.respond_by),
        "link": invitation.link,
        "code": invitation.reply_code,
    }


# --- queueing and sending ----------------------------------------------------------------------


def selections_notify(selections: Sequence[DrawSelection]) -> None:
    """Queue the messages for experts just made members (status NOTIFIED, respond_by set).

    Creates the OutboundMessage rows and the expiry job in the caller's
    transaction; the gateway sends after commit. ``selections`` are the
    saved rows as the caller holds them (status, ``respond_by``, token and
    reply code are taken from them).

    Per expert: an e-mail when the profile has an address, an SMS and a voice
    call to the mobile, and an in-app message when the expert has a platform
    account. The texts are composed in the platform's language whoever runs
    the draw. One expiry job is queued per distinct answer deadline; the job
    runs the idempotent sweep ``selections_expire_due``.
    """
    from experts.tasks import schedule_expiry

    if not selections:
        return
    rows = sorted(selections, key=lambda selection: selection.position)
    # What the caller has loaded already (the draw: request, lot, tender, items
    # and their specialties) is used as it is; only the rest is read, one query
    # per relation. Re-reading the selections joined to all of it cost the draw
    # more than composing every message (bench/draw.py).
    prefetch_related_objects(rows, "expert", "item__specialty", "request__lot__tender")
    messages: list[OutboundMessage] = []
    in_app: list[Notification] = []
    names_by_request: dict[int, list[str]] = {}
    with translation.override(settings.LANGUAGE_CODE):
        for selection in rows:
            if selection.request_id not in names_by_request:
                names_by_request[selection.request_id] = party_names(selection.request)
            invitation = invitation_for(selection, names=names_by_request[selection.request_id])
            expert = selection.expert
            if expert.email:
                messages.append(
                    OutboundMessage(
                        selection=selection,
                        channel=Channel.EMAIL,
                        recipient=expert.email,
                        body=email_subject(invitation)
                        + _SUBJECT_SEPARATOR
                        + email_text(invitation),
                    )
                )
            if expert.mobile:
                messages.append(
                    OutboundMessage(
                        selection=selection,
                        channel=Channel.SMS,
                        recipient=expert.mobile,
                        body=sms_text(invitation),
                    )
                )
                messages.append(
                    OutboundMessage(
                        selection=selection,
                        channel=Channel.VOICE,
                        recipient=expert.mobile,
                        body=voice_script(invitation),
                    )
                )
            if expert.user_id is not None:
                in_app.append(
                    Notification(
                        recipient_id=expert.user_id,
                        title=email_subject(invitation)[:200],
                        body=_(
                            "评标时间：%(start)s；评标地点：%(place)s；评标专业：%(specialty)s。"
                        )
                        % {
                            "start": _written_time(invitation.start),
                            "place": invitation.place,
                            "specialty": invitation.specialty,
                        },
                        url=reverse("experts:my_invitations"),
                    )
                )
    # bulk_create returns primary keys on both SQLite and PostgreSQL.
    created = OutboundMessage.objects.bulk_create(messages)
    Notification.objects.bulk_create(in_app)
    for respond_by in sorted(
        {selection.respond_by for selection in rows if selection.respond_by is not None}
    ):
        schedule_expiry(respond_by)
    message_ids = [message.pk for message in created]
    transaction.on_commit(lambda: messages_dispatch(message_ids), robust=True)


def messages_dispatch(message_ids: Sequence[int]) -> None:
    """Hand the queued messages to the e-mail backend and the gateway; record each outcome.

    Runs after the draw's transaction committed. A message already sent is
    skipped (so a repeat run sends nothing twice); a failure is written to
    ``OutboundMessage.error`` and the others still go out.
    """
    gateway = None
    for message in OutboundMessage.objects.filter(
        pk__in=list(message_ids), sent_at__isnull=True
    ).order_by("id"):
        try:
            if message.channel == Channel.EMAIL:
                reference = _send_email(message)
            else:
                gateway = gateway or get_gateway()
                if message.channel == Channel.SMS:
                    reference = gateway.send_sms(
                        message.recipient, message.body, message_id=message.pk
                    )
                else:
                    reference = gateway.place_call(
                        message.recipient, message.body, message_id=message.pk
                    )
        except (GatewayError, OSError) as exc:
            logger.warning("Message %s (%s) was not sent: %s", message.pk, message.channel, exc)
            OutboundMessage.objects.filter(pk=message.pk).update(error=str(exc)[:2000])
        except Exception as exc:
            # A bug or a misconfiguration: still recorded on the row, and the other messages still go.
            logger.exception("Message %s (%s) failed", message.pk, message.channel)
            OutboundMessage.objects.filter(pk=message.pk).update(
                error=f"{type(exc).__name__}: {exc}"[:2000]
            )
        else:
            OutboundMessage.objects.filter(pk=message.pk).update(
                sent_at=timezone.now(), gateway_reference=reference[:100], error=""
            )


def _send_email(message: OutboundMessage) -> str:
    subject, body = email_subject_and_body(message)
    message_id = make_msgid(domain="sunbid")
    EmailMessage(
        subject=subject,
        body=body,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[message.recipient],
        headers={"Message-ID": message_id},
    ).send(fail_silently=False)
    return message_id


def email_subject_and_body(message: OutboundMessage) -> tuple[str, str]:
    """An e-mail row's subject and body (stored together, the subject first)."""
    subject, _separator, body = message.body.partition(_SUBJECT_SEPARATOR)
    return subject, body


# --- when the panel cannot be filled --------------------------------------------------------------


def panel_alert(request: DrawRequest, *, reason: str) -> None:
    """Alert the requesting agent and the supervisors that the panel cannot be completed.

    In-app messages now and e-mails after commit (``accounts.services.notify_users``).
    The text names the lot and the reason, never an expert.
    """
    supervisors = list(
        User.objects.filter(role_grants__role=Role.SUPERVISOR, is_active=True)
        .distinct()
        .order_by("pk")
    )
    with translation.override(settings.LANGUAGE_CODE):
        title = _("专家抽取未能组成评标委员会：%(lot)s") % {"lot": str(request.lot)}
        body = _(
            "%(reason)s\n评标时间：%(start)s。符合回避规则的专家已不足，请调整抽取条件后重新申请，或报监督部门处理。"
        ) % {"reason": reason, "start": _written_time(request.evaluation_start)}
        notify_users(
            [request.requested_by],
            title=title,
            body=body,
            url=reverse("experts:draw_status", args=[request.pk]),
        )
        recipients = [user for user in supervisors if user.pk != request.requested_by_id]
        if recipients:
            notify_users(
                recipients,
                title=title,
                body=body,
                url=reverse("experts:draw_watch", args=[request.pk]),
            )
