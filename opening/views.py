"""The opening key's pages and the custodians' JSON API: thin views over selectors and services.

- ``public_key``: the lot's opening public key as PEM, for anyone once the
  tender is published (bidders seal to it; anyone may check its fingerprint).
- ``custody``: a custodian organisation's page for one lot (who keeps shares,
  how many are in — never the shares). After the opening time its script
  (static/js/custody.js) decrypts this organisation's share in the browser
  with the key from the key store and posts it to ``api_share``.
- ``api_share``: GET the organisation's encrypted share (after the opening
  time) and the custody status; POST {"share": b64} to submit the decrypted
  share.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any, cast

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from accounts.keys import fingerprint_groups
from accounts.models import User
from accounts.views_keys import KEY_PAGE_TEXTS
from core.errors import DomainError, NotPermitted
from opening import crypto, selectors, services
from opening.selectors import Custody

# Texts custody.js shows, translated here so the page follows the interface language.
CUSTODY_TEXTS: dict[str, Any] = {
    **{code: text for code, text in KEY_PAGE_TEXTS.items() if code.startswith("keystore.")},
    "no_key": _(
        "本浏览器中没有保管该份额所用的本单位密钥（加密公钥指纹 %(fingerprint)s）。"
        "请在“本单位密钥”页面从备份文件恢复该密钥后重试。"
    ),
    "decrypt_failed": _("无法用本浏览器中的密钥解密份额，请确认恢复的是发布时登记的那一把密钥。"),
    "working": _("正在解密并提交密钥份额…"),
    "submitted": _(
        "份额已提交：已有%(submitted)s家保管单位提交，需%(threshold)s家。页面即将刷新。"
    ),
    "rebuilt": _("开标私钥已重建。页面即将刷新。"),
    "network": _("网络错误，请稍后重试。"),
    "failed": _("操作失败：%(message)s"),
}


def _user(request: HttpRequest) -> User:
    return cast(User, request.user)


@require_GET
def public_key(request: HttpRequest, lot_id: int) -> HttpResponse:
    key = selectors.public_key_for_download(lot_id=lot_id)
    lot = key.lot
    response = HttpResponse(
        crypto.public_pem(bytes(key.public_key)), content_type="application/x-pem-file"
    )
    filename = f"{lot.tender.code}-lot{lot.number}-opening-key-{key.fingerprint[:16]}.pem"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@login_required
@never_cache
@require_GET
def custody(request: HttpRequest, lot_id: int) -> HttpResponse:
    user = _user(request)
    custody = selectors.custody_for_user(user=user, lot_id=lot_id)
    mine = custody.mine
    page_data = {
        "shareUrl": reverse("opening_api:share", kwargs={"lot_id": lot_id}),
        "keyFingerprint": mine.key.encryption_fingerprint,
        "texts": CUSTODY_TEXTS,
    }
    return render(
        request,
        "opening/custody.html",
        {
            "custody": custody,
            "lot": custody.lot,
            "tender": custody.lot.tender,
            "opening_key": custody.opening_key,
            "mine": mine,
            "key_groups": fingerprint_groups(mine.key.encryption_fingerprint),
            "opening_groups": fingerprint_groups(custody.opening_key.fingerprint),
            "can_submit": custody.opening_time_passed
            and not mine.has_submitted
            and not custody.opening_key.is_rebuilt,
            "page_data": page_data,
        },
    )


def _require_api_user(request: HttpRequest) -> User:
    if not request.user.is_authenticated:
        # 403, as in the other JSON APIs: a JSON client is never sent to the sign-in page.
        raise NotPermitted("auth.required", _("请先登录，或在请求中提供 API 令牌。"))
    return _user(request)


def _status(custody: Custody) -> dict[str, Any]:
    key, mine = custody.opening_key, custody.mine
    return {
        "lot": custody.lot.pk,
        "opening_fingerprint": key.fingerprint,
        "threshold": key.threshold,
        "custodians": len(custody.custodians),
        "submitted": custody.submitted,
        "rebuilt": key.is_rebuilt,
        "organisation": mine.organisation.credit_code,
        "x": mine.x,
        "key_fingerprint": mine.key.encryption_fingerprint,
        "you_submitted": mine.has_submitted,
    }


@require_http_methods(["GET", "POST"])
def api_share(request: HttpRequest, lot_id: int) -> JsonResponse:
    """GET: the custody status, with this organisation's encrypted share once the opening time has passed.

    POST {"share": "<b64 of the decrypted share>"}: submit it (201; 200 when
    it was submitted before).
    """
    user = _require_api_user(request)
    custody = selectors.custody_for_user(user=user, lot_id=lot_id)
    if request.method == "GET":
        body = _status(custody)
        # Before the opening time a share is of no use to anyone: it is not handed out.
        body["encrypted_share"] = (
            base64.b64encode(bytes(custody.mine.encrypted_share)).decode("ascii")
            if custody.opening_time_passed
            else None
        )
        return JsonResponse(body)
    try:
        payload = json.loads(request.body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise DomainError("request.invalid_json", _("请求内容不是有效的 JSON。")) from None
    if not isinstance(payload, dict):
        raise DomainError("request.invalid_json", _("请求内容不是有效的 JSON。"))
    value = payload.get("share")
    try:
        if not isinstance(value, str) or not value:
            raise ValueError
        share = base64.b64decode(value, validate=True)
    except (ValueError, binascii.Error):
        raise DomainError(
            "opening.share_format", _("share 应为 base64 编码的密钥份额。"), field="share"
        ) from None
    receipt = services.custodian_share_submit(actor=user, lot=custody.lot, share=share)
    return JsonResponse(
        {
            "organisation": custody.mine.organisation.credit_code,
            "submitted": receipt.submitted,
            "threshold": receipt.threshold,
            "rebuilt": receipt.rebuilt,
            "already_submitted": receipt.already_submitted,
        },
        status=200 if receipt.already_submitted else 201,
    )
