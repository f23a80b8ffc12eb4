"""Reads of sealed bidding, with who may see what applied here (EB 21, EB 27).

Before a lot's deadline nobody but the bidder organisation itself learns that
it has bid: bids, uploads and receipts are read only through the bidder's own
organisation, and no function here counts or lists another organisation's bids
before the deadline. After the deadline, those who manage the tender (its
agents, its tenderer's representatives, supervisors, platform administrators)
see how many bids the lot received and, once bidding has closed for the whole
tender, which organisations sent them, with sizes, hashes and times — never
contents. Anything the user may not see is ``NotFound``, like what does not exist.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import uuid
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db.models import QuerySet
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import Role, User
from accounts.selectors import organisation_key_active
from bidding.models import Bid, BidStatus, Upload, UploadStatus
from core.errors import NotFound, NotPermitted
from opening.selectors import opening_key_of
from tendering.models import DocumentObtain, Lot, LotStatus, TenderStatus
from tendering.selectors import bidding_closed_for, tender_for_manage


def _is_bidder(user: User) -> bool:
    return bool(user.is_authenticated and user.has_role(Role.BIDDER) and user.organisation_id)


def lot_for_bidder(*, user: User, lot_id: int) -> Lot:
    """A published lot for a bidder whose organisation obtained the tender documents; ``NotFound`` otherwise."""
    lot = (
        Lot.objects.select_related("tender", "tender__agency", "tender__tenderer")
        .filter(pk=lot_id, tender__published_at__isnull=False)
        .exclude(status=LotStatus.DRAFT)
        .first()
    )
    if (
        lot is None
        or not _is_bidder(user)
        or not DocumentObtain.objects.filter(
            tender_id=lot.tender_id, organisation_id=user.organisation_id
        ).exists()
    ):
        raise NotFound("lot.not_found", _("标段不存在，或贵单位未获取该项目的招标文件。"))
    return lot


def accepting_bids(lot: Lot, *, now: dt.datetime | None = None) -> bool:
    """Whether the lot takes bids now by the server clock (services decide again under the lock)."""
    now = now or timezone.now()
    return (
        lot.tender.status == TenderStatus.PUBLISHED
        and lot.status == LotStatus.PUBLISHED
        and now < lot.bid_deadline
    )


def lot_for_bidding(*, user: User, lot_id: int) -> Lot:
    """A lot the bidder may seal and submit to now (the sealing page); ``NotFound`` otherwise."""
    lot = lot_for_bidder(user=user, lot_id=lot_id)
    if not accepting_bids(lot):
        raise NotFound("bid.lot_not_accepting", _("本标段当前不接收投标文件。"))
    return lot


def upload_for(*, user: User, upload_id: uuid.UUID | str) -> Upload:
    """One of the user's organisation's uploads; anyone else's is ``NotFound``."""
    try:
        key = uuid.UUID(str(upload_id))
    except ValueError:
        key = None
    upload = (
        Upload.objects.select_related("lot", "lot__tender", "organisation").filter(pk=key).first()
        if key is not None and _is_bidder(user)
        else None
    )
    if upload is None or upload.organisation_id != user.organisation_id:
        raise NotFound("upload.not_found", _("上传记录不存在。"))
    return upload


def bid_for_owner(*, user: User, bid_id: uuid.UUID | str) -> Bid:
    """One of the user's organisation's bids (any status), for its receipt; ``NotFound`` otherwise."""
    try:
        key = uuid.UUID(str(bid_id))
    except ValueError:
        key = None
    bid = (
        Bid.objects.select_related("lot", "lot__tender", "organisation").filter(pk=key).first()
        if key is not None and _is_bidder(user)
        else None
    )
    if bid is None or bid.organisation_id != user.organisation_id:
        raise NotFound("bid.not_found", _("投标文件不存在。"))
    return bid


def current_bid(*, user: User, lot: Lot) -> Bid | None:
    """The user's organisation's current bid on ``lot``, if any."""
    if not _is_bidder(user):
        return None
    return Bid.objects.filter(
        lot=lot, organisation_id=user.organisation_id, status=BidStatus.CURRENT
    ).first()


def own_bids_on_lot(*, user: User, lot: Lot) -> QuerySet[Bid]:
    """Every bid the user's organisation made on ``lot`` (current, replaced, withdrawn), newest first."""
    if not _is_bidder(user):
        return Bid.objects.none()
    return Bid.objects.filter(lot=lot, organisation_id=user.organisation_id).order_by(
        "-received_at"
    )


def own_open_uploads(*, user: User, lot: Lot) -> QuerySet[Upload]:
    """The user's organisation's unfinished uploads to ``lot`` (to resume), newest first."""
    if not _is_bidder(user):
        return Upload.objects.none()
    return Upload.objects.filter(
        lot=lot, organisation_id=user.organisation_id, status=UploadStatus.OPEN
    ).order_by("-created_at")


@dataclass(frozen=True, kw_only=True)
class MyLot:
    lot: Lot
    current: Bid | None
    accepting: bool


def my_bidding(*, user: User) -> list[MyLot]:
    """The lots the user's organisation can bid on or has bid on, with its current bid on each.

    The lots of every tender whose documents it obtained (published, not
    draft), newest deadline first.
    """
    if not user.is_authenticated or not user.has_role(Role.BIDDER):
        raise NotPermitted("permission.role", _("只有投标人可以查看投标文件。"))
    tender_ids = DocumentObtain.objects.filter(organisation_id=user.organisation_id).values(
        "tender_id"
    )
    lots = list(
        Lot.objects.select_related("tender")
        .filter(tender_id__in=tender_ids, tender__published_at__isnull=False)
        .exclude(status=LotStatus.DRAFT)
        .order_by("-bid_deadline", "tender_id", "number")
    )
    current = {
        bid.lot_id: bid
        for bid in Bid.objects.filter(
            lot__in=lots, organisation_id=user.organisation_id, status=BidStatus.CURRENT
        )
    }
    now = timezone.now()
    return [
        MyLot(lot=lot, current=current.get(lot.pk), accepting=accepting_bids(lot, now=now))
        for lot in lots
    ]


# --- after the deadline: what the lot received ----------------------------------------------


@dataclass(frozen=True, kw_only=True)
class ReceivedBids:
    lot: Lot
    count: int
    # Empty until bidding has closed for every lot of the tender: who obtained
    # the documents stays sealed till then (EB 21), and a bidder list would tell.
    bids: list[Bid]
    names_sealed: bool


def received_bids(*, user: User, lot_id: int, now: dt.datetime | None = None) -> ReceivedBids:
    """How many bids ``lot`` received, and from whom, for those managing its tender, after the deadline.

    ``NotFound`` for anyone who does not manage the tender; ``NotPermitted``
    (``bid.list_sealed``) before the lot's deadline by the server clock.
    Only current bids count: replaced and withdrawn ones are not bids.
    """
    now = now or timezone.now()
    lot = (
        Lot.objects.select_related("tender")
        .filter(pk=lot_id)
        .exclude(status=LotStatus.DRAFT)
        .first()
    )
    if lot is None:
        raise NotFound("lot.not_found", _("标段不存在。"))
    tender_for_manage(user=user, tender_id=lot.tender_id)
    if now < lot.bid_deadline:
        raise NotPermitted("bid.list_sealed", _("投标截止前，投标单位名单和数量均保密。"))
    current = Bid.objects.filter(lot=lot, status=BidStatus.CURRENT)
    names_sealed = not bidding_closed_for(tender=lot.tender, now=now)
    bids = (
        [] if names_sealed else list(current.select_related("organisation").order_by("received_at"))
    )
    return ReceivedBids(lot=lot, count=current.count(), bids=bids, names_sealed=names_sealed)


# --- JSON shapes -----------------------------------------------------------------------------------


def receipt_urls(bid: Bid) -> dict[str, str]:
    return {
        "receipt_json": reverse("bidding_api:receipt_json", args=[bid.pk]),
        "receipt_pdf": reverse("bidding_api:receipt_pdf", args=[bid.pk]),
    }


def bid_as_json(bid: Bid) -> dict[str, Any]:
    return {
        "bid": str(bid.pk),
        "status": bid.status,
        "size": bid.size,
        "ciphertext_sha256": bid.sha256,
        "received_at": timezone.localtime(bid.received_at).isoformat(timespec="microseconds"),
        "receipt_no": bid.receipt_no,
        "receipt": json.loads(bid.receipt),
        "withdrawn_at": timezone.localtime(bid.withdrawn_at).isoformat()
        if bid.withdrawn_at
        else None,
        **receipt_urls(bid),
    }


def upload_as_json(upload: Upload) -> dict[str, Any]:
    data: dict[str, Any] = {
        "upload": str(upload.pk),
        "lot": upload.lot_id,
        "size": upload.size,
        "part_size": upload.part_size,
        "received": upload.received,
        "parts": [
            {"index": part.index, "size": part.size, "sha256": part.sha256}
            for part in upload.parts.order_by("index")
        ],
        "status": upload.status,
        "created_at": timezone.localtime(upload.created_at).isoformat(),
    }
    if upload.status in (UploadStatus.FAILED, UploadStatus.DISCARDED) and upload.error_code:
        data["error"] = {"code": upload.error_code, "message": upload.error_message}
    if upload.status == UploadStatus.COMPLETE:
        bid = Bid.objects.filter(upload=upload).first()
        if bid is not None:
            data["bid"] = str(bid.pk)
            data["receipt"] = bid_as_json(bid)["receipt"]
            data["receipt_pdf"] = receipt_urls(bid)["receipt_pdf"]
    return data


def lot_as_json(*, user: User, lot: Lot) -> dict[str, Any]:
    """What a sealing client needs to know about a lot (``GET /api/lots/<id>/``)."""
    opening = opening_key_of(lot=lot)
    key = organisation_key_active(user.organisation_id) if user.organisation_id else None
    return {
        "lot": lot.pk,
        "tender": lot.tender.code,
        "lot_number": lot.number,
        "name": lot.name,
        "bidder": user.organisation.credit_code if user.organisation else None,
        "bid_deadline": timezone.localtime(lot.bid_deadline).isoformat(timespec="microseconds"),
        "opening_time": timezone.localtime(lot.opening_time).isoformat(timespec="microseconds"),
        "server_time": timezone.localtime().isoformat(timespec="microseconds"),
        "accepting_bids": accepting_bids(lot),
        "opening_key": (
            {
                "spki": base64.b64encode(bytes(opening.public_key)).decode("ascii"),
                "fingerprint": opening.fingerprint,
            }
            if opening is not None
            else None
        ),
        "bid_fields": list(getattr(lot, "bid_fields", None) or []),
        "max_size": settings.BID_MAX_SIZE,
        "part_size": settings.BID_UPLOAD_PART_SIZE,
        "your_key": (
            {
                "encryption_fingerprint": key.encryption_fingerprint,
                "signing_fingerprint": key.signing_fingerprint,
            }
            if key is not None
            else None
        ),
    }
