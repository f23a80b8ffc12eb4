"""The JSON API of sealed bidding (docs/sealing.md "Upload protocol", docs/bidding.md).

Used by the browser's sealing page (session cookie + ``X-CSRFToken``) and by
``python -m bidding.client`` (``Authorization: Bearer sbt_…``, see
``accounts.middleware``). Refusals are ``{"error": {"code", "message"}}`` with
the error's status (``core.middleware``); a visitor who is not signed in gets
403 ``auth.required``, never the sign-in page.

A part's body is never read whole: ``upload_part`` hands the request itself,
a stream, to the service, which copies it to storage in blocks.

Every request that changes an upload or a bid may carry the sender's device
id in ``X-Sunbid-Device`` (a random UUID kept by the browser or the client's
installation); the service records a well-formed one in the event's payload
and ignores anything else (``bidding.services.device_id_clean``).
"""

from __future__ import annotations

import json
from typing import Any, cast

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.models import User
from bidding import receipts, selectors, services
from core.errors import DomainError, NotPermitted

# A request body other than a part (``{"size": …}``) is tiny; anything longer is not ours.
MAX_JSON_BODY = 16 * 1024
DEVICE_HEADER = "X-Sunbid-Device"


def _user(request: HttpRequest) -> User:
    if not request.user.is_authenticated:
        raise NotPermitted("auth.required", _("请先登录，或在请求中提供 API 令牌。"))
    return cast(User, request.user)


def _json_body(request: HttpRequest) -> dict[str, Any]:
    length = request.META.get("CONTENT_LENGTH") or "0"
    if not length.isdigit() or int(length) > MAX_JSON_BODY:
        raise DomainError("request.invalid", _("请求内容不是有效的 JSON 对象。"))
    try:
        data = json.loads(request.body or b"{}")
    except (ValueError, UnicodeDecodeError):
        raise DomainError("request.invalid", _("请求内容不是有效的 JSON 对象。")) from None
    if not isinstance(data, dict):
        raise DomainError("request.invalid", _("请求内容不是有效的 JSON 对象。"))
    return data


def _device(request: HttpRequest) -> str:
    """The raw device id the request sent; the service decides whether it is one."""
    return request.headers.get(DEVICE_HEADER, "")


def _completion(outcome: services.PartOutcome) -> dict[str, Any]:
    assert outcome.bid is not None
    bid = selectors.bid_as_json(outcome.bid)
    return {
        "bid": bid["bid"],
        "receipt": bid["receipt"],
        "receipt_pdf": bid["receipt_pdf"],
        "receipt_json": bid["receipt_json"],
        "upload": selectors.upload_as_json(outcome.upload),
    }


@never_cache
@require_GET
def lot(request: HttpRequest, lot_id: int) -> JsonResponse:
    user = _user(request)
    found = selectors.lot_for_bidder(user=user, lot_id=lot_id)
    return JsonResponse(selectors.lot_as_json(user=user, lot=found))


@never_cache
@require_POST
def upload_create(request: HttpRequest, lot_id: int) -> JsonResponse:
    user = _user(request)
    found = selectors.lot_for_bidder(user=user, lot_id=lot_id)
    size = _json_body(request).get("size")
    upload = services.upload_create(
        actor=user,
        lot=found,
        size=size,  # type: ignore[arg-type]
        device=_device(request),
    )
    return JsonResponse(selectors.upload_as_json(upload), status=201)


@never_cache
@require_http_methods(["GET", "DELETE"])
def upload(request: HttpRequest, upload_id: str) -> JsonResponse:
    user = _user(request)
    found = selectors.upload_for(user=user, upload_id=upload_id)
    if request.method == "DELETE":
        found = services.upload_abandon(actor=user, upload=found, device=_device(request))
    return JsonResponse(selectors.upload_as_json(found))


@never_cache
@require_http_methods(["PUT"])
def upload_part(request: HttpRequest, upload_id: str, index: int) -> JsonResponse:
    """Store one part: raw body, ``X-Part-SHA256``; the last part answers 201 with the bid and receipt."""
    user = _user(request)
    found = selectors.upload_for(user=user, upload_id=upload_id)
    declared = request.META.get("CONTENT_LENGTH") or ""
    length = int(declared) if declared.isdigit() else None
    outcome = services.upload_part_put(
        actor=user,
        upload=found,
        index=index,
        body=request,
        sha256=request.headers.get("X-Part-SHA256", ""),
        length=length,
        device=_device(request),
    )
    if outcome.bid is not None:
        return JsonResponse(_completion(outcome), status=201 if outcome.stored else 200)
    return JsonResponse(selectors.upload_as_json(outcome.upload))


@never_cache
@require_GET
def lot_bid(request: HttpRequest, lot_id: int) -> JsonResponse:
    """The organisation's own current bid on the lot (or null) and its unfinished uploads."""
    user = _user(request)
    found = selectors.lot_for_bidder(user=user, lot_id=lot_id)
    bid = selectors.current_bid(user=user, lot=found)
    return JsonResponse(
        {
            "bid": selectors.bid_as_json(bid) if bid is not None else None,
            "uploads": [
                selectors.upload_as_json(item)
                for item in selectors.own_open_uploads(user=user, lot=found)
            ],
        }
    )


@never_cache
@require_POST
def bid_withdraw(request: HttpRequest, lot_id: int) -> JsonResponse:
    user = _user(request)
    found = selectors.lot_for_bidder(user=user, lot_id=lot_id)
    bid = services.bid_withdraw(actor=user, lot=found, device=_device(request))
    return JsonResponse(selectors.bid_as_json(bid))


@never_cache
@require_GET
def receipt_json(request: HttpRequest, bid_id: str) -> HttpResponse:
    """The signed receipt exactly as issued."""
    bid = selectors.bid_for_owner(user=_user(request), bid_id=bid_id)
    response = HttpResponse(
        bid.receipt.encode("utf-8"), content_type="application/json; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="receipt-{bid.receipt_no}.json"'
    return response


@never_cache
@require_GET
def receipt_pdf(request: HttpRequest, bid_id: str) -> HttpResponse:
    bid = selectors.bid_for_owner(user=_user(request), bid_id=bid_id)
    response = HttpResponse(
        receipts.receipt_pdf(json.loads(bid.receipt)), content_type="application/pdf"
    )
    response["Content-Disposition"] = f'attachment; filename="receipt-{bid.receipt_no}.pdf"'
    return response


@require_GET
def receipt_key(request: HttpRequest) -> JsonResponse:
    """The platform's receipt public key, for anyone verifying a receipt (no sign-in needed)."""
    key = receipts.receipt_key()
    return JsonResponse(
        {"public_key_pem": key.public_pem, "fingerprint": key.fingerprint, "algorithm": "Ed25519"}
    )
