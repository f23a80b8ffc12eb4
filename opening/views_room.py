"""The opening room's pages and its HTTP API: thin views over ``room_selectors`` and ``room_services``.

The ceremony itself runs over the room's WebSocket (``opening.consumers``,
protocol v1); the page (``static/js/room.js``) rebuilds everything it shows
from the room's events. What is too heavy for the socket goes over HTTP:

- ``room``: the page, for participants only (``room_for_participant``:
  everyone else gets 404, exactly as for a lot that does not exist).
- ``api_wrapped_key``: the bidder's own bid's file key as wrapped to its
  encryption key, for its browser to unwrap (only the bidder, from the
  opening time).
- ``api_decrypt``: POST ``{"file_key": b64}`` — the unwrapped 32-byte file
  key; the server verifies the whole bid with it.
- ``api_open_with_custody``: POST — the host opens a bid waiting for the
  custodians with the lot's rebuilt opening key.
- ``record_pdf`` / ``record_json``: the signed opening record, public once
  the room is closed (EB 32), 404 before.

Refusals are ``DomainError`` raised by selectors and services, mapped to a
page or ``{"error": {"code", "message"}}`` by ``core.middleware``.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any, cast

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.middleware.csrf import get_token
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from accounts.models import User
from accounts.views_keys import KEY_PAGE_TEXTS
from core.errors import DomainError, NotPermitted
from opening import room_selectors, room_services
from opening.models import BidCause, BidOutcome, ParticipantRole, Room, RoomStage
from opening.room_selectors import Participation

# A request body here is a 32-byte key in base64 at most; anything longer is not ours.
MAX_JSON_BODY = 4 * 1024
# Stands for the bid id in the open-with-custody URL the page fills in per bid.
BID_PLACEHOLDER = "00000000-0000-0000-0000-000000000000"

# What the stage banner says (the stored stage; "waiting" splits into before and
# during sign-in by the server clock).
STAGE_BANNERS: dict[str, Any] = {
    "waiting": _("等待开标"),
    "signing_in": _("签到中"),
    RoomStage.DECRYPTING: _("解密中"),
    RoomStage.SETTLING: _("解密结束·处理未解密"),
    RoomStage.READING: _("唱标中"),
    RoomStage.CONFIRMING: _("确认中"),
    RoomStage.CLOSED: _("已结束"),
    RoomStage.FAILED: _("流标"),
}

# Texts room.js shows, translated here so the page follows the interface language.
# Keys with a dot are error codes: the key store's (keystore.js, passed on with
# setMessages()), the page's own (room-crypto.js, the socket client) and reasons
# the host's buttons are disabled. The server's refusals arrive translated.
ROOM_TEXTS: dict[str, Any] = {
    **{
        code: text
        for code, text in KEY_PAGE_TEXTS.items()
        if code.startswith(("keystore.", "backup."))
    },
    "choose_file": KEY_PAGE_TEXTS["choose_file"],
    "restoring": KEY_PAGE_TEXTS["restoring"],
    "network": KEY_PAGE_TEXTS["network"],
    "failed": KEY_PAGE_TEXTS["failed"],
    # connection and clock
    "status.connecting": _("正在连接…"),
    "status.connected": _("已连接"),
    "status.reconnecting": _("重新连接中…"),
    "status.reconnecting_in": _("重新连接中…（%(seconds)s 秒后重试）"),
    "status.closed": _("连接已关闭"),
    "clock.measuring": _("正在校准服务器时间…"),
    "clock.offset": _("本机时间与服务器相差 %(offset)s 秒"),
    "clock.help": _("倒计时按服务器时间计算，与本机时钟无关。"),
    "not_connected": _("尚未连接到开标室，请稍候重试。"),
    "connection_lost": _("与开标室的连接中断，该操作可能未完成，请在重新连接后查看结果。"),
    "timeout": _("服务器未及时答复，请稍后查看结果。"),
    "closed.4401": _("请先登录。"),
    "closed.4403": _("您不是本开标室的参与方。"),
    "closed.4404": _("开标室不存在。"),
    # banner and countdown
    "countdown.waiting": _("距开标时间"),
    "countdown.decrypting": _("距解密截止"),
    "countdown.confirming": _("距确认截止"),
    "countdown.days": _("%(days)s 天 "),
    "paused": _("暂停中"),
    "paused_by": _("监督人员 %(user)s 暂停了开标：%(reason)s"),
    "paused_actions": _("暂停期间除交流区外的操作均不可用，恢复后截止时间顺延。"),
    "failed_banner": _("本标段流标：%(reason)s"),
    "failed_count": _("有效投标 %(count)s 家，少于最少投标人数 %(min)s 家。"),
    # sign-in
    "signed_in": _("已签到"),
    "not_signed_in": _("未签到"),
    "sign_in_opens": _("签到将于 %(time)s 开始。"),
    "sign_in_done": _("您已签到。"),
    "participants_count": _("已签到 %(count)s 人"),
    # bidder list
    "bidders_hidden": _("开标时公布投标人名单。"),
    "bidders_count": _("共 %(count)s 家投标人，最少 %(min)s 家"),
    "decryption.pending": _("未解密"),
    "decryption.decrypted.bidder": _("已解密（投标人密钥）"),
    "decryption.decrypted.opening": _("已解密（开标密钥）"),
    "decryption.decrypted": _("已解密"),
    "decryption.failed": _("解密失败：%(message)s"),
    "you": _("本单位"),
    # decryption by the bidder
    "step.key": _("读取本机密钥"),
    "step.unwrap": _("解封文件密钥"),
    "step.verify": _("服务器校验投标文件"),
    "step.done": _("完成"),
    "decrypt.not_yet": _("开标后方可解密。"),
    "decrypt.closed": _("解密时间已结束。"),
    "decrypt.done": _("本单位投标文件已解密并通过校验。"),
    "decrypt.verifying": _("服务器正在校验投标文件，较大的文件需要一些时间…"),
    "decrypt.no_key": _(
        "本浏览器中没有本单位投标时使用的密钥（加密公钥指纹 %(fingerprint)s）。"
        "请选择该密钥的备份文件并输入备份口令，恢复后继续解密。"
    ),
    "decrypt.wrong_backup": _(
        "该备份文件中的密钥不是投标时使用的密钥（需要加密公钥指纹 %(fingerprint)s）。"
    ),
    "decrypt.restored": _("密钥已恢复到本浏览器，正在继续解密…"),
    "room.unwrap_failed": _(
        "无法用本浏览器中的密钥解封文件密钥，请确认恢复的是投标时使用的那一把密钥。"
    ),
    # confirmation and objections
    "confirm.signing": _("正在签名…"),
    "confirm.done": _("本单位已签名确认唱标结果。"),
    "confirm.silent": _("确认时间结束，本单位视为确认。"),
    "confirm.not_read": _("本单位的投标文件未唱标，无需确认。"),
    "confirm.wrong_key": _("本浏览器中的签名密钥与投标时使用的不一致，请恢复投标时使用的密钥。"),
    "room.sign_failed": _("签名失败，请重试。"),
    "confirmed": _("已确认"),
    "confirmed_silent": _("视为确认"),
    "unconfirmed": _("未确认"),
    "objection.sent": _("异议已提交，请等待主持人答复。"),
    "objection.by": _("%(organisation)s · %(user)s"),
    "objection.unanswered": _("待答复"),
    "objection.answer_by": _("%(user)s 答复："),
    "objection.answer_placeholder": _("输入答复内容"),
    "objection.answer_button": _("答复"),
    "objection.none": _("暂无异议。"),
    # reading
    "col.position": _("序号"),
    "col.bidder": _("投标人"),
    "col.price": _("投标报价（元）"),
    "col.duration": _("工期"),
    "col.quality": _("质量承诺"),
    "col.remark": _("备注"),
    "col.confirmation": _("确认"),
    "control_price": _("最高投标限价：%(price)s 元"),
    "invalid": _("报价无效：%(reason)s"),
    "invalid.above_control_price": _("报价超过最高投标限价"),
    "days": _("%(days)s 日历天"),
    "reading.none": _("唱标尚未开始。"),
    "reading.progress": _("已唱标 %(read)s / %(total)s 家"),
    # host console
    "host.settle_none": _("所有投标文件均已解密或已记录原因。"),
    "host.note_placeholder": _("说明（可选）"),
    "host.record_cause": _("记录原因"),
    "host.choose_cause": _("请选择未解密的原因。"),
    "host.custody_progress": _(
        "保管单位已提交 %(submitted)s 份，需 %(threshold)s 份（共 %(count)s 家）。"
    ),
    "host.custody_waiting": _("等待保管单位在各自页面提交开标密钥份额…"),
    "host.custody_rebuilt": _("开标私钥已重建，可用开标密钥解密。"),
    "host.open_with_custody": _("用开标密钥解密"),
    "host.opening": _("正在用开标密钥解密…"),
    "host.read_next": _("唱读下一家：%(name)s"),
    "host.read_next_plain": _("唱读下一家"),
    "host.read_all_done": _("全部投标文件已唱标。"),
    "host.not_reading": _("唱标阶段才能唱读。"),
    "host.not_settling": _("解密结束后才能处理未解密的投标文件。"),
    "blocker.stage": _("确认阶段才能结束开标。"),
    "blocker.paused": _("开标已暂停，恢复后才能继续操作。"),
    "blocker.objection_unanswered": _("还有异议未答复，答复后才能结束开标。"),
    "blocker.confirmation_open": _("确认时限未到，且仍有投标人未确认。"),
    # supervisor
    "supervisor.reason_required": _("请填写原因。"),
    # chat
    "chat.empty": _("暂无消息。"),
    "chat.sent": _("已发送"),
    # record
    "record.pdf": _("开标记录（PDF）"),
    "record.json": _("开标记录（JSON，含平台签名）"),
    "record.sha256": _("开标记录 PDF 的 SHA-256：%(sha)s"),
    "record.audit": _("审计序号 %(from)s–%(to)s，链哈希 %(hash)s"),
    "done": _("已完成"),
}


def _user(request: HttpRequest) -> User:
    return cast(User, request.user)


def _require_api_user(request: HttpRequest) -> User:
    if not request.user.is_authenticated:
        # 403, as in the other JSON APIs: a JSON client is never sent to the sign-in page.
        raise NotPermitted("auth.required", _("请先登录，或在请求中提供 API 令牌。"))
    return _user(request)


def _json_body(request: HttpRequest) -> dict[str, Any]:
    length = request.META.get("CONTENT_LENGTH") or "0"
    if not length.isdigit() or int(length) > MAX_JSON_BODY:
        raise DomainError("request.invalid_json", _("请求内容不是有效的 JSON。"))
    try:
        payload = json.loads(request.body.decode("utf-8") or "{}")
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise DomainError("request.invalid_json", _("请求内容不是有效的 JSON。")) from None
    if not isinstance(payload, dict):
        raise DomainError("request.invalid_json", _("请求内容不是有效的 JSON。"))
    return payload


def _choices(choices: list[tuple[str, Any]]) -> dict[str, str]:
    return {value: str(label) for value, label in choices}


def _page_data(request: HttpRequest, seat: Participation) -> dict[str, Any]:
    lot = seat.lot
    bid = seat.bid
    user = _user(request)
    return {
        "lot": lot.pk,
        "socketPath": f"/ws/opening/lots/{lot.pk}/",
        "user": user.pk,
        "role": seat.role,
        "canPause": seat.can_pause,
        # What the bidder's browser needs to find its keys; nothing secret.
        "bid": {
            "id": str(bid.pk),
            "bidderFingerprint": bid.bidder_fingerprint,
            "signingFingerprint": bid.signing_fingerprint,
            "creditCode": bid.organisation.credit_code,
            "organisation": bid.organisation_id,
        }
        if bid is not None
        else None,
        "organisation": seat.organisation.pk if seat.organisation is not None else None,
        "urls": {
            "wrappedKey": reverse("opening_api:wrapped_key", kwargs={"lot_id": lot.pk}),
            "decrypt": reverse("opening_api:decrypt", kwargs={"lot_id": lot.pk}),
            "openWithCustody": reverse(
                "opening_api:open_with_custody",
                kwargs={"lot_id": lot.pk, "bid_id": BID_PLACEHOLDER},
            ),
            "bidPlaceholder": BID_PLACEHOLDER,
            "keys": reverse("accounts:keys"),
        },
        # The JSON API takes the CSRF token in X-CSRFToken.
        "csrfToken": get_token(request),
        "serverNow": timezone.now().isoformat(timespec="milliseconds"),
        "timeZone": settings.TIME_ZONE,
        "stages": {key: str(label) for key, label in STAGE_BANNERS.items()},
        "causes": _choices(BidCause.choices),
        "outcomes": _choices(BidOutcome.choices),
        "roles": _choices(ParticipantRole.choices),
        "texts": {key: str(text) for key, text in ROOM_TEXTS.items()},
    }


@login_required
@never_cache
@require_GET
def room(request: HttpRequest, lot_id: int) -> HttpResponse:
    """The live opening room of a lot, for its participants (404 for anyone else)."""
    seat = room_selectors.room_for_participant(user=_user(request), lot_id=lot_id)
    lot = seat.lot
    return render(
        request,
        "opening/room.html",
        {
            "seat": seat,
            "lot": lot,
            "tender": lot.tender,
            "is_host": seat.role == ParticipantRole.HOST,
            "is_bidder": seat.role == ParticipantRole.BIDDER,
            "is_supervisor": seat.role == ParticipantRole.SUPERVISOR,
            "is_observer": seat.role == ParticipantRole.OBSERVER,
            "role_label": ParticipantRole(seat.role).label,
            "bid_fields": lot.bid_fields or [],
            "causes": BidCause.choices,
            "is_custodian": room_selectors.is_custodian(user=_user(request), lot=lot),
            "page_data": _page_data(request, seat),
        },
    )


@never_cache
@require_GET
def api_wrapped_key(request: HttpRequest, lot_id: int) -> JsonResponse:
    """The bidder's own bid's wrapped file key (``room.not_found`` for anyone but the lot's bidders)."""
    wrapped = room_selectors.wrapped_key_for_bidder(user=_require_api_user(request), lot_id=lot_id)
    return JsonResponse(wrapped.as_json())


@never_cache
@require_POST
def api_decrypt(request: HttpRequest, lot_id: int) -> JsonResponse:
    """POST ``{"file_key": "<b64 of 32 bytes>"}``: the server decrypts and verifies the bidder's bid with it."""
    user = _require_api_user(request)
    seat = room_selectors.room_for_participant(user=user, lot_id=lot_id)
    value = _json_body(request).get("file_key")
    try:
        if not isinstance(value, str) or not value:
            raise ValueError
        file_key = base64.b64decode(value, validate=True)
    except (ValueError, binascii.Error):
        raise DomainError(
            "room.file_key_format",
            _("file_key 应为 base64 编码的文件密钥。"),
            field="file_key",
        ) from None
    # The length (32 bytes) is the service's rule: room.file_key_invalid.
    bid = room_services.room_decrypt(actor=user, lot=seat.lot, file_key=file_key)
    return JsonResponse({"bid": str(bid.pk), "status": bid.decryption_status})


@never_cache
@require_POST
def api_open_with_custody(request: HttpRequest, lot_id: int, bid_id: str) -> JsonResponse:
    """POST: the host opens a bid waiting for the custodians with the lot's rebuilt opening key."""
    user = _require_api_user(request)
    seat = room_selectors.room_for_participant(user=user, lot_id=lot_id)
    bid = room_services.room_open_with_custody(actor=user, lot=seat.lot, bid_id=bid_id)
    return JsonResponse({"bid": str(bid.pk), "status": bid.decryption_status})


def _closed_room(lot_id: int) -> Room:
    return room_selectors.closed_room(lot_id=lot_id)


def _record_filename(room: Room, extension: str) -> str:
    lot = room.lot
    return f"{lot.tender.code}-lot{lot.number}-opening-record.{extension}"


@require_GET
def record_pdf(request: HttpRequest, lot_id: int) -> HttpResponse:
    """The opening record as PDF, for anyone once the room is closed."""
    room = _closed_room(lot_id)
    response = HttpResponse(bytes(room.record_pdf or b""), content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{_record_filename(room, "pdf")}"'
    return response


@require_GET
def record_json(request: HttpRequest, lot_id: int) -> HttpResponse:
    """The signed opening record exactly as stored (UTF-8 JSON), for anyone once the room is closed."""
    room = _closed_room(lot_id)
    response = HttpResponse(
        room.record_json.encode("utf-8"), content_type="application/json; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="{_record_filename(room, "json")}"'
    return response


@require_GET
def record_proof(request: HttpRequest, lot_id: int) -> JsonResponse:
    """The inclusion proof of the record's anchor event against the latest signed checkpoint (docs/audit.md §12).

    With it, anyone holding the record and a checkpoint kept elsewhere can
    check that the record's event is in the audit tree the platform signed.
    """
    from audit.tree import inclusion_proof_for

    room = _closed_room(lot_id)
    assert room.audit_to is not None  # a closed room always has its anchor
    return JsonResponse({"lot": lot_id, "record_sha256": room.record_sha256, **inclusion_proof_for(seq=room.audit_to).as_json()})
