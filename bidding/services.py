"""Writes of sealed bidding: uploads, bids, replacement, withdrawal, the deadline, decryption.

The rules (RULES.md EB 26, EB 27; docs/bidding.md):

- Only a bidder organisation that obtained the tender documents may bid, and
  only while the lot accepts bids (published, before its deadline).
- A bid arrives as a resumable upload in fixed-size parts, in order, each
  with its SHA-256. Everything that can be checked without keys is checked:
  the header as soon as it has arrived (tender, lot, bidder, the bidder's
  registered key, the lot's opening key), the whole file when the last part is
  in (structure, sizes, the bidder's signature). Anything else is refused with
  a stable code, and the upload is failed.
- The server clock decides. A bid counts from the moment its last part is
  stored (``received_at``), which must be strictly before the lot's deadline.
  A part arriving at or after the deadline is refused, and an upload not
  completely received at the deadline is discarded (it counts as withdrawn).
- One current bid per lot and bidder: a newer complete upload replaces it, a
  withdrawal ends it, each audited. Who bid stays sealed until the deadline:
  every event here carries ``Sensitivity.BIDS_UNTIL_DEADLINE``.
- A receipt, signed by the platform, is issued on completion.
- Decryption runs only at or after the opening time, in constant memory, and
  writes no plaintext: a decrypted bid's files are read from the ciphertext
  with the file key kept at decryption (``bidding.storage.open_bid_file``).

Storage is not transactional: files are written before the transaction that
records them (and deleted again if it fails), and deleted only after the
transaction that forgets them has committed.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives.serialization import load_der_public_key
from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import OrganisationKey, OrganisationKeyStatus, OrganisationKind, Role, User
from accounts.selectors import organisation_key_by_fingerprint
from accounts.services import notify_users
from audit.models import Sensitivity
from audit.services import record
from bidding import receipts, storage
from bidding.models import (
    Bid,
    BidFile,
    BidStatus,
    DecryptionStatus,
    KeySource,
    Upload,
    UploadPart,
    UploadStatus,
)
from bidding.sealing import format as sealing
from bidding.sealing.errors import SealingError
from core.errors import DomainError, NotFound, NotPermitted
from opening.selectors import opening_private_key, opening_public_key
from tendering.models import DocumentObtain, Lot, LotStatus, TenderStatus

if TYPE_CHECKING:
    import datetime as dt

    from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePublicKey
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

logger = logging.getLogger(__name__)

SEALED = Sensitivity.BIDS_UNTIL_DEADLINE
# The smallest file that could be a sealed bid: magic, header length, a
# two-byte header, its MAC, one chunk of one byte with its tag, the signature.
MIN_SEALED_SIZE = 21 + 4 + 2 + 32 + 1 + 16 + 64
SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
# A device id as the browser (crypto.randomUUID) and the command-line client (uuid4) make it.
_DEVICE_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_NIL_DEVICE = "00000000-0000-0000-0000-000000000000"
# Lots in these states still take a bid whose last part was stored in time but
# whose whole-file check finished after the deadline sweep had run.
_LATE_CHECK_STATES = frozenset({LotStatus.PUBLISHED, LotStatus.BIDDING_CLOSED, LotStatus.OPENING})
# Lots that take no bid whatever the clock says.
_NEVER_ACCEPTING = frozenset({LotStatus.DRAFT, LotStatus.CANCELLED, LotStatus.FAILED})


def _sealing_refusal(exc: SealingError) -> DomainError:
    """A format error as a domain error: same code, the Chinese message translated when shown."""
    # The msgids are marked in bidding.sealing.errors (gettext_noop); translated here, lazily.
    return DomainError(exc.code, _(exc.message), **exc.params)


def device_id_clean(raw: object) -> str:
    """The device id a bidder's browser or client sent (``X-Sunbid-Device``), or ``""``.

    A device id is a random UUID the bidder's browser keeps in its local
    storage (the command-line client, in a file of its installation) and sends
    with every upload request; the bidding events of that request record it in
    their payload, so that supervisors can see, after the opening, bids of
    different organisations sent from one machine (docs/collusion.md). It
    identifies nothing but that copy of the browser or client. Anything that is
    not a UUID in its canonical text form (any case; the nil UUID excluded) is
    dropped quietly: a missing or mangled id is recorded as no id, and never
    refuses the upload it came with.
    """
    if not isinstance(raw, str) or len(raw) > 64:
        return ""
    value = raw.strip().lower()
    if not _DEVICE_ID.match(value) or value == _NIL_DEVICE:
        return ""
    return value


def _with_device(data: dict[str, Any], device: str) -> dict[str, Any]:
    """An event's payload with the request's device id, when it sent a valid one."""
    return {**data, "device": device} if device else data


# --- guards -------------------------------------------------------------------------------


def _require_bidder(actor: User) -> None:
    organisation = actor.organisation
    if (
        not actor.has_role(Role.BIDDER)
        or organisation is None
        or organisation.kind != OrganisationKind.BIDDER
    ):
        raise NotPermitted("permission.role", _("只有投标人可以递交投标文件。"))
    if not organisation.is_active:
        raise NotPermitted("permission.organisation_inactive", _("贵单位账户已停用。"))


def _require_own_upload(actor: User, upload: Upload) -> None:
    _require_bidder(actor)
    if upload.organisation_id != actor.organisation_id:
        raise NotFound("upload.not_found", _("上传记录不存在。"))


def _require_obtained(actor: User, lot: Lot) -> None:
    if not DocumentObtain.objects.filter(
        tender_id=lot.tender_id, organisation_id=actor.organisation_id
    ).exists():
        raise DomainError(
            "bid.documents_not_obtained",
            _("贵单位未获取本项目的招标文件，不能投标。"),
            status=403,
        )


def _deadline_passed(lot: Lot) -> DomainError:
    return DomainError(
        "bid.deadline_passed",
        _("投标已截止（截止时间 %(deadline)s，以平台服务器时间为准），不再接收投标文件。"),
        status=409,
        deadline=timezone.localtime(lot.bid_deadline).strftime("%Y-%m-%d %H:%M:%S"),
    )


def _require_accepting(lot: Lot, now: dt.datetime) -> None:
    """The lot takes bids now: published, its tender published, strictly before the deadline (EB 27)."""
    if lot.tender.status != TenderStatus.PUBLISHED or lot.status in _NEVER_ACCEPTING:
        raise DomainError("bid.lot_not_accepting", _("本标段当前不接收投标文件。"), status=409)
    if lot.status != LotStatus.PUBLISHED or now >= lot.bid_deadline:
        raise _deadline_passed(lot)


def _locked_lot(lot_id: int) -> Lot:
    return Lot.objects.select_for_update(of=("self",)).select_related("tender").get(pk=lot_id)


def _locked_upload(upload_id: object) -> Upload:
    return (
        Upload.objects.select_for_update(of=("self",))
        .select_related("lot", "lot__tender", "organisation")
        .get(pk=upload_id)
    )


# --- keys named in a header ------------------------------------------------------------------


def _usable_key(upload: Upload, fingerprint: str) -> OrganisationKey:
    """The bidder's registered key set named by ``fingerprint``, if it may seal this upload's bid.

    Accepted: the organisation's active key set, or one retired after this
    upload began (a rotation during an upload must not fail it). A key set
    retired earlier is refused: rotation is what an organisation does when a
    key is lost or exposed, and a signature by an abandoned key proves nothing.
    Bids sealed earlier to a retired key still open (the key is kept).
    """
    key = organisation_key_by_fingerprint(fingerprint)
    if key is None or key.organisation_id != upload.organisation_id:
        raise DomainError(
            "bid.bidder_key_unknown",
            _("投标文件使用的投标人密钥（指纹 %(fingerprint)s）不是贵单位登记的密钥。"),
            fingerprint=fingerprint[:16],
        )
    if key.status != OrganisationKeyStatus.ACTIVE and (
        key.retired_at is None or key.retired_at <= upload.created_at
    ):
        raise DomainError(
            "bid.bidder_key_retired",
            _(
                "投标文件使用的投标人密钥（指纹 %(fingerprint)s）已停用，请使用本单位当前登记的密钥重新加密。"
            ),
            fingerprint=fingerprint[:16],
        )
    return key


def _check_header(header: sealing.Header, upload: Upload) -> tuple[OrganisationKey, str]:
    """Everything in the header that can be checked without keys; the key set and the opening fingerprint.

    Raises ``DomainError`` with a stable code for the first thing wrong.
    """
    lot = upload.lot
    if header.tender != lot.tender.code:
        raise DomainError(
            "bid.wrong_tender",
            _("投标文件是为项目 %(found)s 封装的，不是本项目（%(expected)s）。"),
            found=str(header.tender)[:40],
            expected=lot.tender.code,
        )
    if header.lot != lot.number:
        raise DomainError(
            "bid.wrong_lot",
            _("投标文件是为第%(found)s标段封装的，不是第%(expected)s标段。"),
            found=header.lot,
            expected=lot.number,
        )
    if header.bidder != upload.organisation.credit_code:
        raise DomainError(
            "bid.wrong_bidder",
            _("投标文件中的投标人（%(found)s）不是贵单位（%(expected)s）。"),
            found=str(header.bidder)[:18],
            expected=upload.organisation.credit_code,
        )
    key = _usable_key(upload, header.bidder_fingerprint)
    if header.signer_fingerprint != key.signing_fingerprint:
        raise DomainError(
            "bid.signer_key_mismatch",
            _("投标文件的签名密钥与加密密钥不属于贵单位同一组登记的密钥。"),
        )
    _public, expected_opening = opening_public_key(lot)
    opening = header.opening_fingerprint
    if opening != expected_opening:
        raise DomainError(
            "bid.opening_key_mismatch",
            _("投标文件不是用本标段的开标公钥加密的（应为指纹 %(expected)s）。"),
            expected=expected_opening[:16],
        )
    return key, opening


# --- uploads ------------------------------------------------------------------------------------


def upload_create(*, actor: User, lot: Lot, size: int, device: str = "") -> Upload:
    """Begin the upload of a sealed bid of ``size`` bytes to ``lot``, for the actor's organisation.

    Refused unless the actor is a bidder whose organisation obtained the
    documents (``bid.documents_not_obtained``), the lot accepts bids
    (``bid.deadline_passed``, ``bid.lot_not_accepting``) and the size is
    possible (``upload.size_invalid``, ``upload.too_large``). The part size is
    fixed now, from ``BID_UPLOAD_PART_SIZE``, for the whole upload.
    ``device`` is the raw ``X-Sunbid-Device`` value (``device_id_clean``).
    """
    _require_bidder(actor)
    device = device_id_clean(device)
    if isinstance(size, bool) or not isinstance(size, int) or size < MIN_SEALED_SIZE:
        raise DomainError("upload.size_invalid", _("投标文件大小无效。"), field="size")
    if size > settings.BID_MAX_SIZE:
        raise DomainError(
            "upload.too_large",
            _("投标文件过大：加密后不得超过 %(limit)s 字节。"),
            field="size",
            status=413,
            limit=settings.BID_MAX_SIZE,
        )
    with transaction.atomic():
        lot = _locked_lot(lot.pk)
        now = timezone.now()
        _require_obtained(actor, lot)
        _require_accepting(lot, now)
        upload = Upload.objects.create(
            lot=lot,
            organisation=actor.organisation,
            created_by=actor,
            size=size,
            part_size=settings.BID_UPLOAD_PART_SIZE,
            created_at=now,
        )
        record(
            "bidding.upload.started",
            actor=actor,
            obj=upload,
            data=_with_device(
                {"upload": upload.pk, "size": size, "part_size": upload.part_size}, device
            ),
            sensitivity=SEALED,
        )
    return upload


@dataclass(frozen=True, kw_only=True)
class PartOutcome:
    """What a part request did: stored it (or found it already stored), and the bid if it was the last."""

    upload: Upload
    stored: bool
    bid: Bid | None = None


def _delete_parts_on_commit(upload: Upload) -> None:
    names = list(upload.parts.values_list("storage_name", flat=True))
    transaction.on_commit(lambda: storage.delete_objects(names))


def _close_upload(
    upload: Upload,
    *,
    status: str,
    error: DomainError | None,
    actor: User | None,
    action: str,
    device: str = "",
) -> None:
    """Fail or discard a locked, open upload and forget its parts. Caller inside atomic()."""
    upload.status = status
    upload.closed_at = timezone.now()
    upload.error_code = error.code if error else ""
    upload.error_message = error.message if error else ""
    upload.save(update_fields=["status", "closed_at", "error_code", "error_message"])
    _delete_parts_on_commit(upload)
    record(
        action,
        actor=actor,
        obj=upload,
        data=_with_device(
            {
                "upload": upload.pk,
                "received": upload.received,
                "size": upload.size,
                "code": upload.error_code,
            },
            device,
        ),
        sensitivity=SEALED,
    )


def _fail(
    upload: Upload, error: DomainError, *, actor: User | None, device: str = ""
) -> DomainError:
    """Record that ``error`` refused the upload (its parts are deleted); return the error to raise."""
    with transaction.atomic():
        locked = _locked_upload(upload.pk)
        if locked.status == UploadStatus.OPEN:
            _close_upload(
                locked,
                status=UploadStatus.FAILED,
                error=error,
                actor=actor,
                action="bidding.upload.failed",
                device=device,
            )
    return error


def _discard_late(upload: Upload, *, actor: User | None, device: str = "") -> DomainError:
    error = _deadline_passed(upload.lot)
    with transaction.atomic():
        locked = _locked_upload(upload.pk)
        if locked.status == UploadStatus.OPEN and (
            locked.received_at is None or locked.received_at >= locked.lot.bid_deadline
        ):
            _close_upload(
                locked,
                status=UploadStatus.DISCARDED,
                error=error,
                actor=actor,
                action="bidding.upload.discarded",
                device=device,
            )
    return error


def _not_open(upload: Upload) -> DomainError:
    return DomainError(
        "upload.not_open",
        _("此次上传已结束（%(state)s），请重新开始递交。"),
        status=409,
        state=str(UploadStatus(upload.status).label),
    )


def upload_part_put(
    *,
    actor: User,
    upload: Upload,
    index: int,
    body: storage.Readable,
    sha256: str,
    length: int | None = None,
    device: str = "",
) -> PartOutcome:
    """Store part ``index`` of an upload, read from ``body``; complete the bid when it is the last.

    Part ``index`` is bytes [index*part_size, min(size, (index+1)*part_size))
    of the sealed file. Parts come in order (``upload.part_out_of_order``); a
    part already stored with the same SHA-256 is a no-op (a client retrying
    after a lost response), with another hash ``upload.part_conflict`` (409).
    The body is checked against ``sha256`` (``upload.checksum_mismatch``,
    nothing stored) and its exact length (``upload.part_size``); a declared
    ``length`` above the part's is refused before the body is read, and the
    body is never read more than one byte past the part's length
    (``upload.part_too_large``, 413). A part arriving at or after the
    deadline is refused (``bid.deadline_passed``) and the upload discarded.
    ``device`` is the raw ``X-Sunbid-Device`` value (``device_id_clean``),
    recorded in whatever event this part causes (the submission, a refusal).
    """
    _require_own_upload(actor, upload)
    device = device_id_clean(device)
    sha256 = (sha256 or "").strip().lower()
    if not SHA256_HEX.match(sha256):
        raise DomainError(
            "upload.checksum_missing",
            _("请在 X-Part-SHA256 中提供该分片的 SHA-256（64位十六进制）。"),
        )
    if isinstance(index, bool) or not 0 <= index < upload.part_count:
        raise DomainError(
            "upload.part_index", _("分片序号无效：应为 0 至 %(last)s。"), last=upload.part_count - 1
        )
    expected = upload.part_length(index)
    if length is not None and length > expected:
        raise DomainError(
            "upload.part_too_large",
            _("分片过大：第%(index)s片应为 %(expected)s 字节。"),
            status=413,
            index=index,
            expected=expected,
        )

    existing = UploadPart.objects.filter(upload=upload, index=index).first()
    if existing is not None:
        if existing.sha256 != sha256:
            raise DomainError(
                "upload.part_conflict",
                _("第%(index)s片已接收，且内容与本次不同。"),
                status=409,
                index=index,
            )
        return _resent(upload, actor=actor, device=device)

    if upload.status != UploadStatus.OPEN:
        raise _not_open(upload)
    if index != upload.parts.count():
        raise DomainError(
            "upload.part_out_of_order",
            _("分片须按顺序上传：下一片应为第%(expected)s片。"),
            status=409,
            expected=upload.parts.count(),
        )
    lot = upload.lot
    now = timezone.now()
    try:
        _require_accepting(lot, now)
    except DomainError as exc:
        if exc.code == "bid.deadline_passed":
            raise _discard_late(upload, actor=actor, device=device) from None
        raise

    try:
        spooled = storage.part_spool(body, limit=expected)
    except storage.PartTooLong:
        raise DomainError(
            "upload.part_too_large",
            _("分片过大：第%(index)s片应为 %(expected)s 字节。"),
            status=413,
            index=index,
            expected=expected,
        ) from None
    try:
        if spooled.size != expected:
            raise DomainError(
                "upload.part_size",
                _("第%(index)s片长度不符：应为 %(expected)s 字节，收到 %(received)s 字节。"),
                index=index,
                expected=expected,
                received=spooled.size,
            )
        if spooled.sha256 != sha256:
            raise DomainError(
                "upload.checksum_mismatch",
                _("第%(index)s片校验失败（SHA-256 不符），请重新上传该片。"),
                index=index,
            )
        name = storage.spooled_save(
            spooled, storage.part_name(lot_id=lot.pk, upload_id=upload.pk, index=index)
        )
    finally:
        spooled.discard()

    late = False
    duplicate = False
    try:
        with transaction.atomic():
            lot = _locked_lot(lot.pk)
            upload = _locked_upload(upload.pk)
            # The clock is read once the locks are held: this is when the part counts as stored.
            now = timezone.now()
            stored_copy = UploadPart.objects.filter(upload=upload, index=index).first()
            if stored_copy is not None and stored_copy.sha256 == sha256:
                # A retry raced its first copy (a client timeout) and lost: the part is in,
                # identical. This copy is dropped and the request answered as a re-send.
                duplicate = True
            elif stored_copy is not None:
                raise DomainError(
                    "upload.part_conflict",
                    _("第%(index)s片已接收，且内容与本次不同。"),
                    status=409,
                    index=index,
                )
            elif upload.status != UploadStatus.OPEN:
                raise _not_open(upload)
            elif upload.parts.count() != index:
                raise DomainError(
                    "upload.part_out_of_order",
                    _("分片须按顺序上传：下一片应为第%(expected)s片。"),
                    status=409,
                    expected=upload.parts.count(),
                )
            else:
                try:
                    _require_accepting(lot, now)
                except DomainError as exc:
                    if exc.code != "bid.deadline_passed":
                        raise
                    late = True
                    raise
                UploadPart.objects.create(
                    upload=upload,
                    index=index,
                    size=expected,
                    sha256=sha256,
                    storage_name=name,
                    stored_at=now,
                )
                upload.received += expected
                fields = ["received"]
                if index == upload.part_count - 1:
                    upload.received_at = now
                    fields.append("received_at")
                upload.save(update_fields=fields)
    except BaseException:
        storage.delete_objects([name])
        if late:
            raise _discard_late(upload, actor=actor, device=device) from None
        raise
    if duplicate:
        storage.delete_objects([name])
        return _resent(upload, actor=actor, device=device)

    if not upload.header_checked:
        _check_header_progress(upload, actor=actor, device=device)
    if upload.received_at is not None:
        return PartOutcome(
            upload=upload, stored=True, bid=_complete(upload, actor=actor, device=device)
        )
    return PartOutcome(upload=upload, stored=True)


def _resent(upload: Upload, *, actor: User, device: str = "") -> PartOutcome:
    """A part already stored came again with the same hash: change nothing, answer as for the first copy."""
    upload.refresh_from_db()
    if upload.status == UploadStatus.OPEN and upload.received_at is not None:
        # Every part is in but the completion did not finish (a lost connection, a restart): finish it now.
        return PartOutcome(
            upload=upload,
            stored=False,
            bid=_finish_received(upload, actor=actor, device=device),
        )
    if upload.status in (UploadStatus.FAILED, UploadStatus.DISCARDED):
        # Not a no-op to report as success: the upload ended (refused, withdrawn, late).
        raise _not_open(upload)
    bid = (
        Bid.objects.filter(upload=upload).first()
        if upload.status == UploadStatus.COMPLETE
        else None
    )
    return PartOutcome(upload=upload, stored=False, bid=bid)


def _finish_received(upload: Upload, *, actor: User | None, device: str = "") -> Bid:
    """Check and complete an upload whose last part is stored (header first if not yet checked)."""
    if not upload.header_checked:
        _check_header_progress(upload, actor=actor, device=device)
    return _complete(upload, actor=actor, device=device)


def _check_header_progress(upload: Upload, *, actor: User | None, device: str = "") -> None:
    """Check the header as soon as the parts stored so far contain it; fail the upload if it is wrong."""
    with storage.open_sealed_stream(upload) as stream:
        try:
            header = sealing.read_header(stream)
        except SealingError as exc:
            if exc.code == "seal.truncated" and upload.received < upload.size:
                return  # the header goes on in the next part
            raise _fail(upload, _sealing_refusal(exc), actor=actor, device=device) from None
    try:
        key, opening = _check_header(header, upload)
    except DomainError as exc:
        raise _fail(upload, exc, actor=actor, device=device) from None
    Upload.objects.filter(pk=upload.pk).update(
        header_checked=True,
        bidder_fingerprint=key.encryption_fingerprint,
        signing_fingerprint=key.signing_fingerprint,
        opening_fingerprint=opening,
    )
    upload.header_checked = True
    upload.bidder_fingerprint = key.encryption_fingerprint
    upload.signing_fingerprint = key.signing_fingerprint
    upload.opening_fingerprint = opening


def _signer_public(key: OrganisationKey) -> EllipticCurvePublicKey:
    return load_der_public_key(bytes(key.signing_public))  # type: ignore[return-value]


def _receipt_no(bid: Bid, lot: Lot) -> str:
    # Random, not a sequence: a receipt number must not tell how many bids came before it.
    return f"{lot.tender.code}-{lot.number:02d}-{bid.pk.hex[:12].upper()}"


def _complete(upload: Upload, *, actor: User | None, device: str = "") -> Bid:
    """Check the whole sealed file and turn the upload into the current bid, with its receipt.

    Runs after the last part is stored (``received_at`` set) and the header
    checked. The check reads the file from storage in constant memory; it may
    finish after the deadline: what counts is ``received_at``. Of two
    uploads completing at once, the one received later is the bid; the other
    is discarded (``bid.superseded``).
    """
    upload = Upload.objects.select_related("lot", "lot__tender", "organisation").get(pk=upload.pk)
    try:
        signer = _signer_public(_usable_key(upload, upload.bidder_fingerprint))
        with storage.open_sealed_stream(upload) as stream:
            inspection = sealing.inspect(stream, upload.size, signer_public_key=signer)
        key, opening = _check_header(inspection.header, upload)
    except SealingError as exc:
        raise _fail(upload, _sealing_refusal(exc), actor=actor, device=device) from None
    except DomainError as exc:
        raise _fail(upload, exc, actor=actor, device=device) from None

    refusal: DomainError | None = None
    with transaction.atomic():
        lot = _locked_lot(upload.lot_id)
        upload = _locked_upload(upload.pk)
        if upload.status == UploadStatus.COMPLETE:
            return Bid.objects.get(upload=upload)
        if upload.status != UploadStatus.OPEN or upload.received_at is None:
            raise _not_open(upload)
        previous = (
            Bid.objects.select_for_update(of=("self",))
            .select_related("upload")
            .filter(lot=lot, organisation_id=upload.organisation_id, status=BidStatus.CURRENT)
            .first()
        )
        withdrawn = _latest_withdrawal(lot, upload.organisation_id)
        if upload.received_at >= lot.bid_deadline:
            refusal = _deadline_passed(lot)
        elif withdrawn is not None and upload.received_at < withdrawn:
            # bid_withdraw discards the open uploads; this is the second line: an upload
            # received before the bidder said "I have no bid" never becomes the bid (EB 27).
            refusal = _withdrawn_refusal()
        elif lot.tender.status != TenderStatus.PUBLISHED or lot.status not in _LATE_CHECK_STATES:
            refusal = DomainError(
                "bid.lot_not_accepting", _("本标段当前不接收投标文件。"), status=409
            )
        elif previous is not None and previous.received_at > upload.received_at:
            refusal = DomainError(
                "bid.superseded",
                _("贵单位另一份更晚接收完成的投标文件已生效，本次上传作废。"),
                status=409,
            )
        if refusal is not None:
            _close_upload(
                upload,
                status=UploadStatus.DISCARDED,
                error=refusal,
                actor=actor,
                action="bidding.upload.discarded",
                device=device,
            )
        else:
            bid = _bid_create(
                upload=upload,
                lot=lot,
                key=key,
                opening=opening,
                inspection=inspection,
                previous=previous,
                actor=actor,
                device=device,
            )
    if refusal is not None:
        raise refusal
    return bid


def _latest_withdrawal(lot: Lot, organisation_id: int) -> dt.datetime | None:
    return (
        Bid.objects.filter(lot=lot, organisation_id=organisation_id, status=BidStatus.WITHDRAWN)
        .order_by("-withdrawn_at")
        .values_list("withdrawn_at", flat=True)
        .first()
    )


def _withdrawn_refusal() -> DomainError:
    return DomainError(
        "bid.withdrawn",
        _("贵单位已撤回本标段的投标，撤回前开始的上传作废；如需投标，请重新递交。"),
        status=409,
    )


def _bid_create(
    *,
    upload: Upload,
    lot: Lot,
    key: OrganisationKey,
    opening: str,
    inspection: sealing.Inspection,
    previous: Bid | None,
    actor: User | None,
    device: str = "",
) -> Bid:
    """Create the current bid from a checked upload, replacing ``previous``. Caller holds the lot lock."""
    now = timezone.now()
    if previous is not None:
        previous.status = BidStatus.REPLACED
        previous.ciphertext_deleted_at = now
        previous.save(update_fields=["status", "ciphertext_deleted_at"])
        # The replaced bid is never opened (EB 27): its ciphertext goes once this commits.
        _delete_parts_on_commit(previous.upload)
    bid = Bid(
        lot=lot,
        organisation=upload.organisation,
        upload=upload,
        # Finished by the deadline sweep (no actor): the bidder who sent it submitted it.
        submitted_by=actor or upload.created_by,
        size=upload.size,
        sha256=inspection.sha256,
        header_sha256=inspection.header.digest.hex(),
        payload_sha256=inspection.payload_sha256,
        bidder_fingerprint=key.encryption_fingerprint,
        signing_fingerprint=key.signing_fingerprint,
        opening_fingerprint=opening,
        received_at=upload.received_at,
        status=BidStatus.CURRENT,
        replaces=previous,
        audit_seq=0,
    )
    bid.receipt_no = _receipt_no(bid, lot)
    bid.save()
    upload.status = UploadStatus.COMPLETE
    upload.closed_at = now
    upload.save(update_fields=["status", "closed_at"])
    received_at = timezone.localtime(bid.received_at)
    event = record(
        "bidding.bid.replaced" if previous is not None else "bidding.bid.submitted",
        actor=actor,
        obj=bid,
        data=_with_device(
            {
                "bid": bid.pk,
                "receipt_no": bid.receipt_no,
                "organisation": upload.organisation.name,
                "credit_code": upload.organisation.credit_code,
                "size": bid.size,
                "sha256": bid.sha256,
                "received_at": received_at.isoformat(timespec="microseconds"),
                "bidder_fingerprint": bid.bidder_fingerprint,
                # The key that signed the bid: the same key across organisations is a
                # collusion signal once the lot is opened (docs/collusion.md).
                "signing_fingerprint": bid.signing_fingerprint,
                "replaces": previous.pk if previous is not None else None,
            },
            device,
        ),
        sensitivity=SEALED,
    )
    receipt = receipts.receipt_sign(
        {
            "receipt_no": bid.receipt_no,
            "tender": lot.tender.code,
            "lot": lot.number,
            "lot_name": lot.name,
            "bidder": upload.organisation.credit_code,
            "bidder_name": upload.organisation.name,
            "bid": str(bid.pk),
            "size": bid.size,
            "ciphertext_sha256": bid.sha256,
            "received_at": received_at.isoformat(timespec="microseconds"),
            "audit_seq": event.seq,
        }
    )
    bid.receipt = receipts.receipt_dumps(receipt)
    bid.audit_seq = event.seq
    bid.save(update_fields=["receipt", "audit_seq"])
    return bid


def upload_abandon(*, actor: User, upload: Upload, device: str = "") -> Upload:
    """The bidder gives up an open upload: it is discarded and its parts deleted.

    Refused once every part is in (``upload.not_open``): the bid is then
    being checked and becomes a bid or fails on its own. ``device`` as for
    ``upload_create``.
    """
    _require_own_upload(actor, upload)
    device = device_id_clean(device)
    with transaction.atomic():
        upload = _locked_upload(upload.pk)
        if upload.status != UploadStatus.OPEN or upload.received_at is not None:
            raise _not_open(upload)
        _close_upload(
            upload,
            status=UploadStatus.DISCARDED,
            error=None,
            actor=actor,
            action="bidding.upload.abandoned",
            device=device,
        )
    return upload


def uploads_discard_unfinished(*, lot: Lot) -> int:
    """Settle every open upload of the lot at its deadline, so that the set of bids is final (EB 27).

    Called by ``tendering.services.lots_advance_due`` in the transaction that
    closes bidding, with the lot's row locked; the lot cannot reach the
    opening before that transaction commits, so no upload is left open when
    it does. An upload not completely received by the deadline is discarded
    (it counts as withdrawn; a replacement that did not complete leaves the
    bidder's previous complete bid standing). An upload whose last part was
    stored before the deadline but whose whole-file check never finished (a
    crash, a lost connection, a check still running) is finished here, on the
    server, whatever the client does: a valid one becomes the bid with its
    receipt, an invalid one fails with its code; either way the bidder is
    told in-app. Holding the lot lock through a check of up to
    ``BID_MAX_SIZE`` is deliberate: nothing else may change the lot's bids
    meanwhile. Returns how many were discarded.
    """
    uploads = list(
        Upload.objects.select_for_update(of=("self",))
        .select_related("lot", "lot__tender", "organisation", "created_by")
        .filter(lot=lot, status=UploadStatus.OPEN)
        .order_by("received_at", "created_at")
    )
    discarded = 0
    for upload in uploads:
        if upload.received_at is None or upload.received_at >= lot.bid_deadline:
            _close_upload(
                upload,
                status=UploadStatus.DISCARDED,
                error=_deadline_passed(lot),
                actor=None,
                action="bidding.upload.discarded",
            )
            discarded += 1
            continue
        _settle_received(upload, lot)
    return discarded


def _settle_received(upload: Upload, lot: Lot) -> None:
    """Finish an upload received in time, at the deadline; tell its sender what became of it."""
    try:
        # The check's own steps are savepoints (_fail, _complete): a refusal is recorded and
        # rolls back nothing of the sweep.
        bid = _finish_received(upload, actor=None)
    except (DomainError, SealingError, OSError) as exc:
        if isinstance(exc, OSError):
            # A part the platform stored can no longer be read (lost disk, deleted object). Letting
            # the error escape would roll back the closing of bidding at every sweep, so the lot
            # would never reach its opening; the failure is recorded as the platform's, loudly.
            logger.exception("upload %s: stored parts unreadable at the deadline", upload.pk)
            error = DomainError(
                "upload.storage_unreadable",
                _(
                    "平台无法读取已接收的投标文件分片（平台存储故障），请联系交易平台并保留回执等凭证。"
                ),
                status=500,
            )
        else:
            error = _sealing_refusal(exc) if isinstance(exc, SealingError) else exc
        upload.refresh_from_db()
        if upload.status == UploadStatus.OPEN:
            # Whatever refused it, the set of bids must be final before the opening.
            _close_upload(
                upload,
                status=UploadStatus.FAILED,
                error=error,
                actor=None,
                action="bidding.upload.failed",
            )
        notify_users(
            [upload.created_by],
            title=str(_("第%(lot)s标段的投标文件未通过校验") % {"lot": lot.number}),
            body=str(
                _(
                    "贵单位在截止前接收完成的投标文件（接收时间 %(time)s）在截止时由平台完成校验，"
                    "未通过：%(message)s（%(code)s）。该文件不是有效投标。"
                )
                % {
                    "time": timezone.localtime(upload.received_at).strftime("%Y-%m-%d %H:%M:%S"),
                    "message": error.message,
                    "code": error.code,
                }
            ),
            url=reverse("bidding:lot", args=[lot.pk]),
        )
        return
    notify_users(
        [upload.created_by],
        title=str(_("第%(lot)s标段的投标文件已生效") % {"lot": lot.number}),
        body=str(
            _(
                "贵单位在截止前接收完成的投标文件（接收时间 %(time)s）在截止时由平台完成校验，"
                "已作为有效投标，回执编号 %(receipt)s。"
            )
            % {
                "time": timezone.localtime(bid.received_at).strftime("%Y-%m-%d %H:%M:%S"),
                "receipt": bid.receipt_no,
            }
        ),
        url=reverse("bidding:lot", args=[lot.pk]),
    )


# --- bids --------------------------------------------------------------------------------------------


def bid_withdraw(*, actor: User, lot: Lot, device: str = "") -> Bid:
    """Withdraw the actor's organisation's current bid on ``lot`` before the deadline (EB 27).

    ``bid.not_found`` (404) when there is none; ``bid.deadline_passed`` at or
    after the deadline. The withdrawn bid's ciphertext is deleted after commit:
    it can never be opened. Audited, sealed until the deadline. ``device`` as
    for ``upload_create``.
    """
    _require_bidder(actor)
    device = device_id_clean(device)
    with transaction.atomic():
        lot = _locked_lot(lot.pk)
        now = timezone.now()
        _require_accepting(lot, now)
        # Withdrawing means "we have no bid": an upload still going on, or received and
        # still being checked, would otherwise become the bid after the bidder was told
        # it had withdrawn (EB 27). _complete refuses one that slips past (received earlier).
        in_progress = list(
            Upload.objects.select_for_update(of=("self",))
            .select_related("lot", "lot__tender")
            .filter(lot=lot, organisation_id=actor.organisation_id, status=UploadStatus.OPEN)
        )
        for upload in in_progress:
            _close_upload(
                upload,
                status=UploadStatus.DISCARDED,
                error=_withdrawn_refusal(),
                actor=actor,
                action="bidding.upload.discarded",
                device=device,
            )
        bid = (
            Bid.objects.select_for_update(of=("self",))
            .select_related("upload")
            .filter(lot=lot, organisation_id=actor.organisation_id, status=BidStatus.CURRENT)
            .first()
        )
        if bid is not None:
            _withdraw_current(bid, actor=actor, now=now, device=device)
    if bid is None:
        # Raised after the commit: the uploads discarded above stay discarded.
        raise NotFound("bid.not_found", _("贵单位在本标段没有有效的投标文件。"))
    return bid


def _withdraw_current(bid: Bid, *, actor: User, now: dt.datetime, device: str = "") -> None:
    """End the current bid (caller holds the lot lock): never opened, its ciphertext deleted after commit."""
    bid.status = BidStatus.WITHDRAWN
    bid.withdrawn_at = now
    bid.withdrawn_by = actor
    bid.ciphertext_deleted_at = now
    bid.save(update_fields=["status", "withdrawn_at", "withdrawn_by", "ciphertext_deleted_at"])
    _delete_parts_on_commit(bid.upload)
    record(
        "bidding.bid.withdrawn",
        actor=actor,
        obj=bid,
        data=_with_device(
            {
                "bid": bid.pk,
                "receipt_no": bid.receipt_no,
                "organisation": actor.organisation.name,
                "credit_code": actor.organisation.credit_code,
                "withdrawn_at": now,
            },
            device,
        ),
        sensitivity=SEALED,
    )


# --- decryption ------------------------------------------------------------------------------------


def _require_openable(bid: Bid, now: dt.datetime) -> None:
    if now < bid.lot.opening_time:
        raise DomainError(
            "bid.before_opening",
            _("开标时间（%(time)s）之前不能解密投标文件。"),
            status=409,
            time=timezone.localtime(bid.lot.opening_time).strftime("%Y-%m-%d %H:%M"),
        )
    if bid.status != BidStatus.CURRENT:
        raise DomainError("bid.not_current", _("该投标文件已被替换或撤回，不能解密。"), status=409)


def _read_header(bid: Bid) -> sealing.Header:
    with storage.open_sealed_stream(bid) as stream:
        try:
            return sealing.read_header(stream)
        except SealingError as exc:
            raise _sealing_refusal(exc) from None


def bid_wrapped_key(*, bid: Bid, role: str = "bidder") -> bytes:
    """The file key of ``bid`` as wrapped to ``role`` ("bidder" or "opening"), for the holder to unwrap.

    The bidder's private key never reaches the server: its browser unwraps
    this and hands the file key to ``bid_decrypt``.
    """
    if role not in sealing.ROLES:
        raise ValueError(f"role must be one of {sealing.ROLES}")
    return bytes(_read_header(bid).recipient(role).wrapped_key)


def file_key_from_private_key(*, bid: Bid, role: str, private_key: RSAPrivateKey) -> bytes:
    """Unwrap the file key of ``bid`` with a private key held in this process (command line, tests)."""
    header = _read_header(bid)
    try:
        return sealing.unwrap_file_key(header, role, private_key)
    except SealingError as exc:
        raise _sealing_refusal(exc) from None


def file_key_from_opening_key(*, bid: Bid) -> bytes:
    """The file key of ``bid`` from the lot's rebuilt opening key (after the opening time, k shares in).

    ``opening.too_early`` / ``opening.not_rebuilt`` from ``opening.selectors``.
    """
    return file_key_from_private_key(
        bid=bid, role="opening", private_key=opening_private_key(bid.lot)
    )


@dataclass(frozen=True, kw_only=True)
class Summary:
    price: Decimal
    duration_days: int
    quality: str
    fields: dict[str, str]


def _summary(raw: dict[str, Any]) -> Summary:
    try:
        price = Decimal(str(raw["price"]))
        duration = int(raw["duration_days"])
        quality = str(raw["quality"])
        fields = {str(k): str(v) for k, v in dict(raw.get("fields") or {}).items()}
    except (KeyError, TypeError, ValueError, InvalidOperation):
        raise DomainError(
            "seal.summary_invalid", _("投标摘要无效（%(field)s）。"), field="summary"
        ) from None
    return Summary(price=price, duration_days=duration, quality=quality, fields=fields)


class _DigestSink:
    """A sink for ``sealing.open_sealed`` that keeps each file's SHA-256, never its bytes.

    Each file's plaintext passes through a hash as it authenticates and is
    dropped: the digests are what identical files in different bids are found
    by (docs/collusion.md), and they are used only if the whole bid verifies.
    """

    def __init__(self) -> None:
        self.digests: list[str] = []

    def __call__(self, entry: sealing.FileEntry) -> _DigestWriter:
        return _DigestWriter(self.digests)


class _DigestWriter(io.RawIOBase):
    def __init__(self, digests: list[str]) -> None:
        super().__init__()
        self._digests = digests
        self._hash = hashlib.sha256()

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:  # a memoryview over the authenticated chunk
        self._hash.update(data)
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self._digests.append(self._hash.hexdigest())
        super().close()


def _verify_whole(
    bid: Bid, file_key: bytes, *, file_sha256: bool = False
) -> tuple[sealing.Opened, Summary, list[str]]:
    """One streaming pass over the stored ciphertext: everything checked, nothing written.

    Returns what was opened, its summary and each file's plaintext SHA-256, in
    manifest order (one more hash over the plaintext, in the same pass). With
    ``file_sha256`` the whole file is hashed too and compared with the
    receipt's SHA-256 (a second SHA-256 over every byte). Raises
    ``SealingError`` or ``DomainError``.
    """
    key = organisation_key_by_fingerprint(bid.signing_fingerprint)
    if key is None:
        raise DomainError("bid.bidder_key_unknown", _("找不到该投标文件的签名公钥。"))
    # Hashing each file's plaintext in this pass costs about a third of the decryption
    # throughput (docs/collusion.md); identical files across bids cannot be found without it.
    digests = _DigestSink()
    with storage.open_sealed_stream(bid) as stream:
        opened = sealing.open_sealed(
            stream,
            bid.size,
            file_key=file_key,
            signer_public_key=_signer_public(key),
            sink=digests,
            file_sha256=file_sha256,
        )
    # The header digest and the payload hash fix every byte the signature covers, and the
    # reader accepts only low-s signatures, so no one but the bidder could have made another
    # valid file with them: at decryption that is enough (a second whole-file hash pass
    # would cost a fifth of the throughput; docs/bidding.md). bid_verify also hashes whole.
    if (
        opened.header.digest.hex() != bid.header_sha256
        or opened.payload_sha256 != bid.payload_sha256
        or (file_sha256 and opened.sha256 != bid.sha256)
    ):
        raise DomainError(
            "bid.ciphertext_changed",
            _("存储中的密文与回执记载的 SHA-256 不一致，投标文件已被改动。"),
        )
    # The reader opens one writer per file, empty ones included: one digest per file.
    return opened, _summary(opened.summary), digests.digests


def bid_decrypt(
    *, bid: Bid, file_key: bytes, actor: User | None = None, source: str = KeySource.BIDDER
) -> Bid:
    """Verify a whole bid with its file key, record its summary and files, and keep the key.

    Refused before the lot's opening time (``bid.before_opening``) and for a
    bid replaced or withdrawn (``bid.not_current``). The whole file is read
    from storage once, chunk by chunk (``bidding.sealing.open_sealed`` without
    a sink): header MAC, every chunk, the manifest and the bidder's signature
    are verified, and no plaintext is written anywhere. The header digest and
    payload hash must be those recorded at upload (``bid.ciphertext_changed``).
    On success the summary (price, duration, quality, the lot's other items),
    the files (``BidFile``: name, size, media type and offset in the
    plaintext, and the SHA-256 of its plaintext) and the file key are stored
    and the bid is ``decrypted``; its
    files are then read with ``bidding.storage.open_bid_file``, which
    decrypts and verifies only the chunks it needs. On failure nothing is
    kept, the bid is ``failed`` with the error's code, and the error is
    raised. Either way audited. Decrypting a decrypted bid again returns it
    unchanged. ``source`` says whose key gave the file key.
    """
    bid = Bid.objects.select_related("lot", "lot__tender", "organisation", "upload").get(pk=bid.pk)
    _require_openable(bid, timezone.now())
    if bid.decryption_status == DecryptionStatus.DECRYPTED:
        return bid
    if source not in KeySource.values:
        raise ValueError(f"unknown key source {source!r}")
    file_key = bytes(file_key)
    try:
        opened, summary, digests = _verify_whole(bid, file_key)
    except (SealingError, DomainError) as exc:
        error = _sealing_refusal(exc) if isinstance(exc, SealingError) else exc
        _record_decryption_failure(bid, error, actor=actor, source=source)
        raise error from None

    with transaction.atomic():
        locked = (
            Bid.objects.select_for_update(of=("self",))
            .select_related("lot", "lot__tender")
            .get(pk=bid.pk)
        )
        if locked.decryption_status == DecryptionStatus.DECRYPTED:
            return locked
        BidFile.objects.filter(bid=locked).delete()
        BidFile.objects.bulk_create(
            [
                BidFile(
                    bid=locked,
                    index=index,
                    name=entry.name,
                    size=entry.size,
                    media_type=entry.media_type,
                    offset=offset,
                    sha256=digest,
                )
                for index, (entry, offset, digest) in enumerate(
                    zip(opened.files, opened.offsets, digests, strict=True)
                )
            ]
        )
        now = timezone.now()
        locked.decryption_status = DecryptionStatus.DECRYPTED
        locked.decrypted_at = now
        locked.decrypted_with = source
        locked.decrypted_by = actor
        locked.decryption_error_code = ""
        locked.decryption_error_message = ""
        locked.price = summary.price
        locked.duration_days = summary.duration_days
        locked.quality = summary.quality
        locked.summary_fields = summary.fields
        # Kept only now, after the opening time, for reading the files from the ciphertext
        # (docs/bidding.md, "After the opening"); never written to the audit chain.
        locked.file_key = file_key
        locked.save()
        # The audit binds the summary by its hash: the price itself is read out at the opening (EB 30).
        canonical = json.dumps(
            opened.summary, sort_keys=True, separators=(",", ":"), ensure_ascii=False
        )
        record(
            "bidding.bid.decrypted",
            actor=actor,
            obj=locked,
            data={
                "bid": locked.pk,
                "receipt_no": locked.receipt_no,
                "key": source,
                # Each file's plaintext digest: identical files in the bids of different
                # organisations are a collusion signal (docs/collusion.md).
                "files": [
                    {"name": entry.name, "size": entry.size, "sha256": digest}
                    for entry, digest in zip(opened.files, digests, strict=True)
                ],
                "summary_sha256": hashlib.sha256(canonical.encode("utf-8")).hexdigest(),
            },
        )
    return locked


def bid_verify(*, bid: Bid) -> None:
    """Check a decrypted bid again, whole, with its kept file key; raise ``DomainError`` if it changed.

    The same streaming pass as ``bid_decrypt`` (header MAC, every chunk, the
    manifest, the bidder's signature, the hashes recorded at upload), with
    nothing written and nothing recorded, plus the whole file's SHA-256 against
    the receipt's (``bid.ciphertext_changed``): this check is not on the
    opening's critical path, so it pays for the second hash. A range read (``open_bid_file``)
    verifies the chunks it reads but not the signature; this is the check
    that needs no trust in the database either: the bidder's signature over
    the payload hash cannot be made by anyone but the bidder. Also the
    summary, the file list and each file's plaintext SHA-256 must be those
    recorded (``bid.decryption_changed``).
    ``bid.not_decrypted`` for a bid without a kept key.
    """
    bid = Bid.objects.select_related("upload").get(pk=bid.pk)
    if bid.decryption_status != DecryptionStatus.DECRYPTED or not bid.file_key:
        raise DomainError(
            "bid.not_decrypted", _("该投标文件尚未解密，不能读取其内容。"), status=409
        )
    try:
        opened, summary, digests = _verify_whole(bid, bytes(bid.file_key), file_sha256=True)
    except SealingError as exc:
        raise _sealing_refusal(exc) from None
    rows = list(BidFile.objects.filter(bid=bid).order_by("index"))
    recorded = [(item.name, item.size, item.media_type, item.offset) for item in rows]
    found = [
        (entry.name, entry.size, entry.media_type, offset)
        for entry, offset in zip(opened.files, opened.offsets, strict=True)
    ]
    # A bid decrypted before the digests were kept has none to compare ("").
    digests_changed = any(
        item.sha256 and item.sha256 != digest for item, digest in zip(rows, digests, strict=False)
    )
    if (
        recorded != found
        or digests_changed
        or (
            bid.price,
            bid.duration_days,
            bid.quality,
            bid.summary_fields,
        )
        != (summary.price, summary.duration_days, summary.quality, summary.fields)
    ):
        raise DomainError(
            "bid.decryption_changed",
            _("记录的投标摘要或文件清单与投标文件的内容不一致。"),
        )


def _record_decryption_failure(
    bid: Bid, error: DomainError, *, actor: User | None, source: str
) -> None:
    with transaction.atomic():
        locked = (
            Bid.objects.select_for_update(of=("self",))
            .select_related("lot", "lot__tender")
            .get(pk=bid.pk)
        )
        if locked.decryption_status == DecryptionStatus.DECRYPTED:
            return
        locked.decryption_status = DecryptionStatus.FAILED
        locked.decryption_error_code = error.code
        locked.decryption_error_message = error.message
        locked.decrypted_with = source
        locked.save(
            update_fields=[
                "decryption_status",
                "decryption_error_code",
                "decryption_error_message",
                "decrypted_with",
            ]
        )
        record(
            "bidding.bid.decryption_failed",
            actor=actor,
            obj=locked,
            data={
                "bid": locked.pk,
                "receipt_no": locked.receipt_no,
                "key": source,
                "code": error.code,
            },
        )


def bid_decrypt_with_opening_key(*, bid: Bid, actor: User | None = None) -> Bid:
    """Decrypt ``bid`` with the lot's rebuilt opening key (the fallback when the bidder cannot)."""
    _require_openable(Bid.objects.select_related("lot").get(pk=bid.pk), timezone.now())
    return bid_decrypt(
        bid=bid, file_key=file_key_from_opening_key(bid=bid), actor=actor, source=KeySource.OPENING
    )
