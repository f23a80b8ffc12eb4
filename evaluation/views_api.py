"""The JSON endpoints of the sign step, used by ``static/js/evaluation-sign.js``.

Session and CSRF as every page's POST; a visitor who is not signed in gets
403 ``auth.required``, never the sign-in page; every refusal is a JSON body
``{"error": {"code", "message"}}`` with the service's status.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from functools import wraps
from typing import Any, cast

from django.http import HttpRequest, JsonResponse
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from accounts.models import User
from core.errors import DomainError, NotPermitted
from evaluation import selectors, services

MAX_JSON_BODY = 16 * 1024


def _json_errors(view: Callable[..., JsonResponse]) -> Callable[..., JsonResponse]:
    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
        try:
            return view(request, *args, **kwargs)
        except DomainError as error:
            body: dict[str, Any] = error.as_dict()
            if error.field:
                body["field"] = error.field
            return JsonResponse({"error": body}, status=error.status)

    return wrapped


def _api_user(request: HttpRequest) -> User:
    if not request.user.is_authenticated:
        raise NotPermitted("auth.required", _("请先登录。"))
    return cast(User, request.user)


def _body(request: HttpRequest) -> dict[str, Any]:
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


@never_cache
@require_POST
@_json_errors
def signing_key(request: HttpRequest) -> JsonResponse:
    """POST ``{"signing_public": "<base64 SPKI DER>"}``: an expert registers a new signing key."""
    user = _api_user(request)
    value = _body(request).get("signing_public")
    try:
        if not isinstance(value, str) or not value:
            raise ValueError
        der = base64.b64decode(value, validate=True)
    except (ValueError, binascii.Error):
        raise DomainError(
            "key.invalid", _("公钥格式无效：应为 SubjectPublicKeyInfo（DER）格式的公钥。"), field="signing_public"
        ) from None
    key = services.signing_key_register(actor=user, public_key=der)
    return JsonResponse({"fingerprint": key.fingerprint, "registered_at": key.registered_at.isoformat()}, status=201)


@never_cache
@require_POST
@_json_errors
def report_sign(request: HttpRequest, lot_id: int) -> JsonResponse:
    """POST ``{"report_sha256": "<hex>", "signature": "<base64 DER>"}``: a member signs the current report."""
    user = _api_user(request)
    member = selectors.member_for(user=user, lot_id=lot_id)
    payload = _body(request)
    digest = payload.get("report_sha256")
    signed = services.report_sign(
        actor=user,
        lot=member.evaluation.lot,
        report_sha256=digest if isinstance(digest, str) else "",
        signature=payload.get("signature"),  # type: ignore[arg-type]
    )
    report = signed.report
    report.refresh_from_db()
    return JsonResponse(
        {
            "seat": member.seat,
            "signed_at": signed.signed_at.isoformat(),
            "key_fingerprint": signed.key.fingerprint,
            "report_status": report.status,
        }
    )
