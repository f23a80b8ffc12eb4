"""The organisation's keys (page and JSON API) and the user's API tokens.

The key page does its cryptography in the browser (``static/js/keys-page.js``
with ``static/js/keystore.js``): private keys are generated there and never
sent here. The server only receives the two public keys, through
``POST /api/keys/``, and shows the organisation's key history.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any, cast

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.http.request import split_domain_port
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from accounts import selectors, services
from accounts.forms import ApiTokenForm
from accounts.keys import fingerprint_groups
from accounts.models import OrganisationKey, User
from core.errors import DomainError, NotPermitted

# Two base64 SPKI keys are under a kilobyte; anything much longer is not ours.
MAX_JSON_BODY = 16 * 1024
LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "[::1]"})

# Texts the key page's script shows, translated here so the page follows the
# interface language. Keys starting with a code (``backup.invalid``) are the
# keystore's own error messages (static/js/keystore.js carries the Chinese
# defaults for pages that do not pass these).
KEY_PAGE_TEXTS: dict[str, Any] = {
    "keystore.insecure_context": _(
        "当前页面不是安全连接，浏览器不提供密钥生成和加密功能。请通过 https:// 地址访问本平台"
        "（本机开发时可使用 http://localhost）。"
    ),
    "keystore.unavailable": _(
        "本浏览器不支持本地密钥存储（IndexedDB），请换用最新版 Chrome、Edge 或 Firefox。"
    ),
    "backup.passphrase_too_short": _("备份口令至少12个字符。"),
    "backup.passphrase_mismatch": _("两次输入的备份口令不一致。"),
    "backup.passphrase_invalid": _("备份口令错误，或备份文件已被改动。"),
    "backup.invalid": _("这不是有效的阳光开标密钥备份文件。"),
    "backup.organisation": _(
        "该备份文件属于其他单位（统一社会信用代码 %(organisation)s），不能在本单位使用。"
    ),
    "generating": _("正在生成密钥（RSA 3072 位密钥可能需要数秒）…"),
    "encrypting": _("正在用口令加密备份文件…"),
    "backup_ready": _("密钥已生成。请先下载备份文件并妥善保存，然后登记公钥。"),
    "registering": _("正在登记公钥…"),
    "registered": _("新密钥已登记并保存在本浏览器中。页面即将刷新。"),
    "restoring": _("正在从备份文件恢复密钥…"),
    "restored": _("密钥已恢复到本浏览器。"),
    "restored_unregistered": _(
        "密钥已恢复到本浏览器，但该密钥尚未登记到本单位。如需使用，请登记。"
    ),
    "held": _("本浏览器持有"),
    "not_held": _("本浏览器未持有"),
    "choose_file": _("请选择备份文件。"),
    "network": _("网络错误，请稍后重试。"),
    "failed": _("操作失败：%(message)s"),
}


@dataclass(frozen=True, kw_only=True)
class KeyRow:
    key: OrganisationKey
    encryption_groups: str
    signing_groups: str


def _user(request: HttpRequest) -> User:
    return cast(User, request.user)


def _insecure_origin(request: HttpRequest) -> bool:
    """Whether browsers will refuse WebCrypto on this page: plain http on a host other than localhost."""
    if request.is_secure():
        return False
    domain, _port = split_domain_port(request.get_host())
    domain = domain.lower()
    # The hosts browsers treat as potentially trustworthy without https.
    local = domain in LOCAL_HOSTS or domain.endswith(".localhost") or domain.startswith("127.")
    return not local


def _key_json(key: OrganisationKey) -> dict[str, Any]:
    return {
        "encryption_fingerprint": key.encryption_fingerprint,
        "signing_fingerprint": key.signing_fingerprint,
        "encryption_public": base64.b64encode(bytes(key.encryption_public)).decode("ascii"),
        "signing_public": base64.b64encode(bytes(key.signing_public)).decode("ascii"),
        "status": key.status,
        "registered_at": key.registered_at.isoformat(),
        "retired_at": key.retired_at.isoformat() if key.retired_at else None,
    }


# --- the key page ------------------------------------------------------------------------


@login_required
@never_cache
@require_http_methods(["GET", "HEAD"])
def keys_page(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    keys = selectors.organisation_keys_for(user=user)
    rows = [
        KeyRow(
            key=key,
            encryption_groups=fingerprint_groups(key.encryption_fingerprint),
            signing_groups=fingerprint_groups(key.signing_fingerprint),
        )
        for key in keys
    ]
    active = next((row for row in rows if row.key.is_active), None)
    page_data = {
        "organisation": user.organisation.credit_code,
        "registerUrl": reverse("accounts_api:keys"),
        "registered": {key.encryption_fingerprint: key.status for key in keys},
        "texts": KEY_PAGE_TEXTS,
    }
    return render(
        request,
        "accounts/keys.html",
        {
            "rows": rows,
            "active": active,
            "organisation": user.organisation,
            "insecure_origin": _insecure_origin(request),
            "page_data": page_data,
        },
    )


# --- JSON API: /api/keys/ ------------------------------------------------------------------


def _require_api_user(request: HttpRequest) -> User:
    # 403 auth.required, as in the bidding API: a JSON client is never sent to the sign-in page.
    if not request.user.is_authenticated:
        raise NotPermitted("auth.required", _("请先登录，或在请求中提供 API 令牌。"))
    return _user(request)


def _b64_field(payload: dict[str, Any], name: str) -> bytes:
    value = payload.get(name)
    try:
        if not isinstance(value, str) or not value:
            raise ValueError
        return base64.b64decode(value, validate=True)
    except (ValueError, binascii.Error):
        raise DomainError(
            "key.invalid",
            _("%(name)s 应为 base64 编码的 SubjectPublicKeyInfo（DER）公钥。"),
            field=name,
            status=400,
            name=name,
        ) from None


@require_http_methods(["GET", "POST"])
def api_keys(request: HttpRequest) -> JsonResponse:
    """GET: the organisation's key history. POST {encryption_public, signing_public}: register a new key set."""
    user = _require_api_user(request)
    if request.method == "GET":
        keys = selectors.organisation_keys_for(user=user)
        active = next((key for key in keys if key.is_active), None)
        return JsonResponse(
            {
                "organisation": user.organisation.credit_code,
                "active": _key_json(active) if active else None,
                "keys": [_key_json(key) for key in keys],
            }
        )
    length = request.META.get("CONTENT_LENGTH") or "0"
    if not length.isdigit() or int(length) > MAX_JSON_BODY:
        raise DomainError("request.invalid", _("请求内容不是有效的 JSON 对象。"))
    try:
        payload = json.loads(request.body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise DomainError("request.invalid", _("请求内容不是有效的 JSON 对象。")) from None
    if not isinstance(payload, dict):
        raise DomainError("request.invalid", _("请求内容不是有效的 JSON 对象。"))
    key = services.organisation_key_register(
        actor=user,
        encryption_public=_b64_field(payload, "encryption_public"),
        signing_public=_b64_field(payload, "signing_public"),
    )
    return JsonResponse(
        {
            "encryption_fingerprint": key.encryption_fingerprint,
            "signing_fingerprint": key.signing_fingerprint,
            "status": key.status,
            "registered_at": key.registered_at.isoformat(),
        },
        status=201,
    )


# --- API tokens ------------------------------------------------------------------------------


@login_required
@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
def tokens_page(request: HttpRequest) -> HttpResponse:
    """List the user's tokens; POST creates one and shows its secret on this response only."""
    user = _user(request)
    form = ApiTokenForm(request.POST or None)
    secret: str | None = None
    created = None
    if request.method == "POST" and form.is_valid():
        try:
            created, secret = services.api_token_create(actor=user, name=form.cleaned_data["name"])
        except DomainError as error:
            form.add_error("name" if error.field == "name" else None, error.message)
        else:
            form = ApiTokenForm()
    return render(
        request,
        "accounts/tokens.html",
        {
            "form": form,
            "tokens": selectors.api_tokens_for(user=user),
            "secret": secret,
            "created": created,
        },
    )


@login_required
@require_POST
def token_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    user = _user(request)
    token = selectors.api_token_for(user=user, token_id=pk)
    services.api_token_revoke(actor=user, token_id=token.pk)
    return redirect("accounts:tokens")
