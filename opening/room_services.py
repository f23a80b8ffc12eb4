"""The opening ceremony (不见面开标): every step of a lot's room, as services.

Each step locks the room row, checks the actor's part (``room_selectors``),
the stage, the pause and the server clock, changes what it changes, and
appends one or more room events (``_emit``): the event takes the room's next
sequence number, is written to the audit chain in the same transaction, and
is broadcast to every participant only after commit. The stages and the
rules behind them (EB 29–32, 39, 40; TR 44, 51) are in docs/opening-room.md.

Timed steps — the opening itself, the end of the decryption window, the end
of the confirmation window — run from the database task queue whether or not
anyone is watching (``opening.tasks``), and are idempotent sweeps.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import json
import uuid
from collections.abc import Callable
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_der_public_key
from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import User
from accounts.selectors import organisation_key_by_fingerprint
from audit.models import CheckpointReason, Sensitivity
from audit.services import record
from audit.tree import checkpoint_request
from bidding.models import Bid, BidStatus, KeySource
from core.errors import DomainError, NotFound, NotPermitted
from opening import events
from opening.models import (
    Attendance,
    BidCause,
    BidOutcome,
    Objection,
    OpeningKey,
    ParticipantRole,
    Pause,
    Room,
    RoomBid,
    RoomEvent,
    RoomStage,
)
from opening.room_selectors import Participation, participation, sign_in_opens_at
from tendering.models import Lot, LotStatus

FILE_KEY_BYTES = 32
MAX_CHAT = 500
MAX_OBJECTION = 2000
MAX_NOTE = 500
MAX_REASON = 500
CONFIRMATION_CONTEXT = "sunbid-opening-confirmation-v1"
INVALID_ABOVE_CONTROL = "above_control_price"


# --- events -------------------------------------------------------------------------------------


def _emit(
    room: Room,
    kind: str,
    data: dict[str, Any],
    *,
    actor: User | None,
    sensitivity: str = Sensitivity.PUBLIC,
) -> RoomEvent:
    """Append one event to ``room`` (locked by the caller), audit it, broadcast it after commit.

    The event's time is its audit record's: one time in the chain and on the
    wire, so the replay rebuilt from the chain shows exactly what was sent.
    """
    payload = events.jsonable(data)
    audit_event = record(
        f"opening.room.{kind}",
        actor=actor,
        obj=room,
        data={"seq": room.last_seq + 1, **payload},
        sensitivity=sensitivity,
    )
    now = audit_event.created_at
    room.last_seq += 1
    room.save(update_fields=["last_seq"])
    text = events.event_text(seq=room.last_seq, kind=kind, at=now, data=payload)
    event = RoomEvent.objects.create(
        room=room,
        seq=room.last_seq,
        kind=kind,
        text=text,
        created_at=now,
        actor=actor,
        audit_seq=audit_event.seq,
    )
    lot_id, seq = room.lot_id, room.last_seq
    transaction.on_commit(lambda: events.broadcast(lot_id, seq, text))
    return event


def _locked_room(lot: Lot) -> Room:
    room = Room.objects.select_for_update().select_related("lot", "lot__tender").filter(lot_id=lot.pk).first()
    if room is None:
        raise NotFound("room.not_found", _("开标室不存在。"))
    return room


def _lot_identity(lot: Lot) -> dict[str, Any]:
    return {
        "id": lot.pk,
        "tender_code": lot.tender.code,
        "tender_title": lot.tender.title,
        "number": lot.number,
        "name": lot.name,
    }


def room_ensure(*, lot: Lot) -> Room:
    """The lot's room, made on first need with its ``scheduled`` event (idempotent).

    Made at publication, and by the first participant or timed step that
    needs it for a lot published before rooms existed.
    """
    existing = Room.objects.filter(lot_id=lot.pk).first()
    if existing is not None:
        return existing
    with transaction.atomic():
        locked = Lot.objects.select_for_update().select_related("tender").get(pk=lot.pk)
        existing = Room.objects.filter(lot=locked).first()
        if existing is not None:
            return existing
        room = Room.objects.create(lot=locked, created_at=timezone.now())
        room.lot = locked
        _emit(
            room,
            "scheduled",
            {
                "lot": _lot_identity(locked),
                "opening_time": locked.opening_time,
                "sign_in_opens_at": sign_in_opens_at(locked),
                "bid_deadline": locked.bid_deadline,
                "decryption_minutes": locked.decryption_minutes,
                "min_bidders": locked.min_bidders,
                "control_price": locked.control_price,
                "fallback": locked.custodian_fallback,
                "fields": [{"key": f["key"], "label": f["label"]} for f in (locked.bid_fields or [])],
            },
            actor=None,
        )
    return room


# --- guards -------------------------------------------------------------------------------------


def _seat(actor: User, room: Room) -> Participation:
    return participation(user=actor, lot=room.lot)


def _require(seat: Participation, *roles: str) -> None:
    if seat.role not in roles:
        raise NotPermitted("room.not_permitted", _("您在开标室中的身份不能进行此操作。"))


def _require_running(room: Room) -> None:
    if room.lot.status == LotStatus.CANCELLED:
        raise DomainError("room.lot_cancelled", _("标段已终止，开标不再进行。"), status=409)
    if room.is_over:
        raise DomainError("room.over", _("开标已结束。"), status=409)
    if room.is_paused:
        raise DomainError("room.paused", _("监督人员已暂停开标，请等待恢复。"), status=409)


def _require_stage(room: Room, *stages: str) -> None:
    if room.stage not in stages:
        raise DomainError(
            "room.wrong_stage",
            _("当前阶段（%(stage)s）不能进行此操作。"),
            status=409,
            stage=RoomStage(room.stage).label,
        )


def _text(value: object, *, field: str, limit: int, label: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise DomainError("room.text_required", _("请填写%(label)s。"), field=field, label=label)
    text = value.strip()
    if len(text) > limit:
        raise DomainError(
            "room.text_too_long",
            _("%(label)s不能超过 %(limit)s 个字。"),
            field=field,
            label=label,
            limit=limit,
        )
    return text


def _org_name(seat: Participation) -> str:
    return seat.organisation.name if seat.organisation is not None else ""


# --- sign-in, chat ------------------------------------------------------------------------------


def room_sign_in(*, actor: User, lot: Lot) -> Attendance:
    """Sign ``actor`` in (签到): from ``SIGN_IN_MINUTES`` before the opening time until the room ends.

    Idempotent. A bidder's sign-in before the bid deadline is recorded but not
    announced (EB 21: nobody may learn who bid before the deadline); the
    ``opened`` event lists every bidder's sign-in.
    """
    room_ensure(lot=lot)
    with transaction.atomic():
        room = _locked_room(lot)
        seat = _seat(actor, room)
        now = timezone.now()
        if now < sign_in_opens_at(room.lot):
            raise DomainError(
                "room.sign_in_not_open",
                _("签到将于 %(time)s 开始。"),
                status=409,
                time=timezone.localtime(sign_in_opens_at(room.lot)).strftime("%Y-%m-%d %H:%M"),
            )
        if room.is_over:
            raise DomainError("room.over", _("开标已结束。"), status=409)
        existing = Attendance.objects.filter(room=room, user=actor).first()
        if existing is not None:
            return existing
        attendance = Attendance.objects.create(
            room=room, user=actor, organisation=seat.organisation, role=seat.role, signed_in_at=now
        )
        data = {
            "organisation": seat.organisation.pk if seat.organisation else None,
            "organisation_name": _org_name(seat),
            "user_name": actor.display_name,
            "role": seat.role,
        }
        if seat.is_bidder and now < room.lot.bid_deadline:
            record(
                "opening.room.signed_in_sealed",
                actor=actor,
                obj=room,
                data=data,
                sensitivity=Sensitivity.BIDS_UNTIL_DEADLINE,
            )
        else:
            _emit(room, "signed_in", data, actor=actor)
        return attendance


def room_chat(*, actor: User, lot: Lot, text: object) -> RoomEvent:
    """A line in the room's text channel, for questions; every participant but observers."""
    body = _text(text, field="text", limit=MAX_CHAT, label=_("消息"))
    with transaction.atomic():
        room = _locked_room(lot)
        seat = _seat(actor, room)
        if seat.role == ParticipantRole.OBSERVER:
            raise NotPermitted("room.not_permitted", _("您在开标室中的身份不能进行此操作。"))
        if room.is_over:
            raise DomainError("room.over", _("开标已结束。"), status=409)
        if timezone.now() < sign_in_opens_at(room.lot):
            raise DomainError("room.not_open", _("开标室尚未开放。"), status=409)
        if seat.is_bidder and timezone.now() < room.lot.bid_deadline:
            # A bidder's words before the deadline would tell the room who bid.
            raise DomainError("room.chat_after_deadline", _("投标截止后方可发言。"), status=409)
        return _emit(
            room,
            "chat",
            {
                "user_name": actor.display_name,
                "organisation_name": _org_name(seat),
                "role": seat.role,
                "text": body,
            },
            actor=actor,
        )


# --- the opening (timed) ------------------------------------------------------------------------


def room_open(*, lot: Lot, now: dt.datetime | None = None) -> Room:
    """At the opening time: announce the bids received before the deadline, or fail the lot (TR 44).

    Called by ``tendering.services.lots_advance_due`` in the transaction that
    moves the lot to ``opening`` (the lot row is locked). Every current bid
    joins the reading in the order it was received. Fewer than the lot's
    minimum: the lot fails (流标) and the room says so. Otherwise decryption
    opens for ``lot.decryption_minutes`` (EB 30) and its end is queued.
    """
    from opening.tasks import schedule_room_deadline
    from tendering.services import lot_fail

    room_ensure(lot=lot)
    room = _locked_room(lot)
    if room.stage != RoomStage.WAITING:
        return room
    # The sweep's clock: the moment it found the opening due (the server's now when run by the worker).
    now = now or timezone.now()
    bids = list(
        Bid.objects.filter(lot=room.lot, status=BidStatus.CURRENT)
        .select_related("organisation")
        .order_by("received_at", "id")
    )
    bidder_attendance = list(
        Attendance.objects.filter(room=room, role=ParticipantRole.BIDDER)
        .select_related("user", "organisation")
        .order_by("signed_in_at")
    )
    signed_in = {attendance.organisation_id for attendance in bidder_attendance}
    room.opened_at = now
    if len(bids) < room.lot.min_bidders:
        reason = _("投标人少于%(minimum)s个（%(count)s个），不得开标，本标段流标。") % {
            "minimum": room.lot.min_bidders,
            "count": len(bids),
        }
        room.stage = RoomStage.FAILED
        room.closed_at = now
        room.save(update_fields=["stage", "opened_at", "closed_at"])
        _emit(
            room,
            "failed",
            {"reason": str(reason), "count": len(bids), "min_bidders": room.lot.min_bidders},
            actor=None,
        )
        lot_fail(actor=None, lot=room.lot, reason=str(reason))
        return room
    RoomBid.objects.bulk_create(
        [
            RoomBid(room=room, bid=bid, organisation=bid.organisation, position=position)
            for position, bid in enumerate(bids, start=1)
        ]
    )
    room.stage = RoomStage.DECRYPTING
    room.decryption_deadline = now + dt.timedelta(minutes=room.lot.decryption_minutes)
    room.save(update_fields=["stage", "opened_at", "decryption_deadline"])
    _emit(
        room,
        "opened",
        {
            "bidders": [
                {
                    "bid": str(bid.pk),
                    "organisation": bid.organisation_id,
                    "organisation_name": bid.organisation.name,
                    "received_at": bid.received_at,
                    "signed_in": bid.organisation_id in signed_in,
                }
                for bid in bids
            ],
            "count": len(bids),
            "min_bidders": room.lot.min_bidders,
            "decryption_deadline": room.decryption_deadline,
            # The bidders' sign-ins held back until the deadline (EB 21), now announced.
            "attendance": [
                {
                    "organisation": attendance.organisation_id,
                    "organisation_name": attendance.organisation.name if attendance.organisation else "",
                    "user_name": attendance.user.display_name,
                    "role": attendance.role,
                    "at": attendance.signed_in_at,
                }
                for attendance in bidder_attendance
            ],
        },
        actor=None,
    )
    schedule_room_deadline(room.decryption_deadline)
    return room


def rooms_advance_due(*, now: dt.datetime | None = None) -> list[tuple[int, str]]:
    """End the decryption and confirmation windows that are due by the server clock (idempotent).

    A paused room waits: its deadline moves when it is resumed. Returns the
    (lot id, step) pairs it took.
    """
    now = now or timezone.now()
    taken: list[tuple[int, str]] = []
    due = Room.objects.filter(
        paused_at__isnull=True, stage=RoomStage.DECRYPTING, decryption_deadline__lte=now
    ).values_list("lot_id", flat=True)
    for lot_id in list(due):
        with transaction.atomic():
            room = Room.objects.select_for_update().select_related("lot", "lot__tender").get(lot_id=lot_id)
            if room.stage == RoomStage.DECRYPTING and not room.is_paused and room.decryption_deadline <= now:
                _end_decryption(room)
                taken.append((lot_id, "decryption_ended"))
    due = Room.objects.filter(
        paused_at__isnull=True,
        stage=RoomStage.CONFIRMING,
        silent_confirmed_at__isnull=True,
        confirmation_deadline__lte=now,
    ).values_list("lot_id", flat=True)
    for lot_id in list(due):
        with transaction.atomic():
            room = Room.objects.select_for_update().select_related("lot", "lot__tender").get(lot_id=lot_id)
            if (
                room.stage == RoomStage.CONFIRMING
                and not room.is_paused
                and room.silent_confirmed_at is None
                and room.confirmation_deadline <= now
            ):
                _confirm_silent(room, now)
                taken.append((lot_id, "confirmation_ended"))
    return taken


def _end_decryption(room: Room) -> None:
    """The window is over: settle what is decrypted; the host records a cause for the rest."""
    pending = RoomBid.objects.filter(room=room).exclude(outcome=BidOutcome.DECRYPTED).exists()
    if pending:
        room.stage = RoomStage.SETTLING
        room.save(update_fields=["stage"])
        _emit(room, "stage", {"stage": RoomStage.SETTLING, "deadline": None}, actor=None)
    else:
        _start_reading(room, actor=None)


def _start_reading(room: Room, *, actor: User | None) -> None:
    """Every bid is decrypted or settled (EB 30): the reading (唱标) may begin."""
    room.stage = RoomStage.READING
    room.reading_started_at = timezone.now()
    room.save(update_fields=["stage", "reading_started_at"])
    order = list(RoomBid.objects.filter(room=room).order_by("position").values_list("bid_id", flat=True))
    _emit(
        room,
        "reading_started",
        {"control_price": room.lot.control_price, "order": [str(bid) for bid in order]},
        actor=actor,
    )


def _maybe_start_reading(room: Room, *, actor: User | None) -> None:
    if room.stage == RoomStage.SETTLING and all(
        entry.is_settled for entry in RoomBid.objects.filter(room=room)
    ):
        _start_reading(room, actor=actor)


# --- decryption ---------------------------------------------------------------------------------


def _require_decryption_open(room: Room, now: dt.datetime) -> None:
    _require_running(room)
    if room.stage != RoomStage.DECRYPTING or room.decryption_deadline is None or now >= room.decryption_deadline:
        if room.stage == RoomStage.WAITING:
            raise DomainError("room.not_opened", _("尚未开标，不能解密。"), status=409)
        raise DomainError("room.decryption_closed", _("解密时限已过，不能再解密。"), status=409)


# A verification that has not finished after this long died with its process (a restart, a
# crash): it no longer blocks a retry or the host's cause. A 1 GiB bid verifies in seconds.
DECRYPTION_STALE_AFTER = dt.timedelta(minutes=10)


def _in_progress(entry: RoomBid) -> bool:
    return entry.decrypting_since is not None and timezone.now() - entry.decrypting_since < DECRYPTION_STALE_AFTER


def _start_decrypting(lot: Lot, entry_filter: dict[str, Any], check: Callable[[Room, RoomBid], None]) -> RoomBid:
    with transaction.atomic():
        room = _locked_room(lot)
        entry = (
            RoomBid.objects.select_for_update()
            .select_related("bid", "organisation")
            .filter(room=room, **entry_filter)
            .first()
        )
        if entry is None:
            raise NotFound("room.bid_not_found", _("开标室中没有这份投标文件。"))
        check(room, entry)
        if _in_progress(entry):
            raise DomainError("room.decryption_in_progress", _("这份投标文件正在解密，请稍候。"), status=409)
        entry.decrypting_since = timezone.now()
        entry.save(update_fields=["decrypting_since"])
    return entry


def _finish_decrypting(
    lot: Lot, entry: RoomBid, *, actor: User | None, error: DomainError | None, source: str
) -> None:
    with transaction.atomic():
        room = _locked_room(lot)
        locked = RoomBid.objects.select_for_update().select_related("bid", "organisation").get(pk=entry.pk)
        locked.decrypting_since = None
        base = {
            "bid": str(locked.bid_id),
            "organisation": locked.organisation_id,
            "organisation_name": locked.organisation.name,
        }
        if error is None:
            locked.outcome = BidOutcome.DECRYPTED
            locked.settled_at = timezone.now()
            locked.save(update_fields=["decrypting_since", "outcome", "settled_at"])
            _emit(room, "decrypted", {**base, "key": source}, actor=actor)
            if room.stage == RoomStage.DECRYPTING and not RoomBid.objects.filter(room=room).exclude(
                outcome=BidOutcome.DECRYPTED
            ).exists():
                _start_reading(room, actor=None)
            else:
                _maybe_start_reading(room, actor=None)
        else:
            locked.save(update_fields=["decrypting_since"])
            _emit(
                room,
                "decryption_failed",
                {**base, "code": error.code, "message": error.message, "key": source},
                actor=actor,
            )


def _decrypt_entry(lot: Lot, entry: RoomBid, *, actor: User | None, source: str, run: Callable[[], Bid]) -> Bid:
    """Run the verification ``run`` for a bid marked as being decrypted, then tell the room how it went.

    A refusal is announced with its code and raised; anything unexpected is
    announced as ``room.decryption_error`` and raised; either way the mark is lifted.
    """
    try:
        bid = run()
    except DomainError as error:
        _finish_decrypting(lot, entry, actor=actor, error=error, source=source)
        raise
    except BaseException:
        _finish_decrypting(
            lot,
            entry,
            actor=actor,
            error=DomainError("room.decryption_error", _("解密时发生内部错误，请重试。")),
            source=source,
        )
        raise
    _finish_decrypting(lot, entry, actor=actor, error=None, source=source)
    return bid


def room_decrypt(*, actor: User, lot: Lot, file_key: bytes) -> Bid:
    """A bidder hands in its bid's file key (unwrapped in its browser); the server verifies the whole bid.

    Only the bidder, for its own bid, within the decryption window (server
    clock at the moment the key arrives). The verification itself
    (``bidding.services.bid_decrypt``) runs outside the room's lock — a large
    bid takes seconds — while the bid is marked as being decrypted; if it
    fails (wrong key, changed ciphertext), the room hears the error code and
    the bidder may try again until the window ends.
    """
    from bidding.services import bid_decrypt

    if not isinstance(file_key, bytes | bytearray) or len(file_key) != FILE_KEY_BYTES:
        raise DomainError("room.file_key_invalid", _("文件密钥必须是 32 字节。"), field="file_key")
    seat = participation(user=actor, lot=lot)
    _require(seat, ParticipantRole.BIDDER)
    assert seat.bid is not None  # a bidder participant always has its bid
    if seat.room is None or seat.room.stage == RoomStage.WAITING:
        raise DomainError("room.not_opened", _("尚未开标，不能解密。"), status=409)

    def check(room: Room, entry: RoomBid) -> None:
        _require_decryption_open(room, timezone.now())
        if entry.outcome == BidOutcome.DECRYPTED:
            raise DomainError("room.already_decrypted", _("您的投标文件已解密。"), status=409)

    entry = _start_decrypting(lot, {"bid_id": seat.bid.pk}, check)
    return _decrypt_entry(
        lot,
        entry,
        actor=actor,
        source=KeySource.BIDDER,
        run=lambda: bid_decrypt(bid=entry.bid, file_key=bytes(file_key), actor=actor, source=KeySource.BIDDER),
    )


def room_record_cause(*, actor: User, lot: Lot, bid_id: object, cause: object, note: object = "") -> RoomBid:
    """The host records why a bid was not decrypted in time (EB 31), once the window is over.

    ``bidder_fault``: revoked (撤销). ``custodians``: the custodians open it
    with the lot's opening key — only where the lot allows the fallback. ``other_fault``:
    withdrawn (撤回). A bid waiting for the custodians may still be withdrawn
    if they cannot open it. When every bid is settled the reading begins.
    """
    if cause not in BidCause.values:
        raise DomainError("room.cause_invalid", _("请选择未解密的原因。"), field="cause")
    note_text = "" if note in (None, "") else _text(note, field="note", limit=MAX_NOTE, label=_("说明"))
    with transaction.atomic():
        room = _locked_room(lot)
        _require(_seat(actor, room), ParticipantRole.HOST)
        _require_running(room)
        _require_stage(room, RoomStage.SETTLING)
        entry = (
            RoomBid.objects.select_for_update()
            .select_related("organisation")
            .filter(room=room, bid_id=_bid_pk(bid_id))
            .first()
        )
        if entry is None:
            raise NotFound("room.bid_not_found", _("开标室中没有这份投标文件。"))
        if _in_progress(entry):
            raise DomainError("room.decryption_in_progress", _("这份投标文件正在解密，请稍候。"), status=409)
        allowed = {BidOutcome.PENDING, BidOutcome.AWAITING_CUSTODIANS}
        if entry.outcome not in allowed or (
            entry.outcome == BidOutcome.AWAITING_CUSTODIANS and cause == BidCause.CUSTODIANS
        ):
            raise DomainError("room.bid_settled", _("这份投标文件的解密结果已确定。"), status=409)
        if cause == BidCause.CUSTODIANS:
            if not room.lot.custodian_fallback or not hasattr(room.lot, "opening_key"):
                raise DomainError(
                    "room.fallback_not_allowed",
                    _("本标段不允许由保管单位代为解密，只能按撤销或撤回处理。"),
                    status=409,
                )
            outcome = BidOutcome.AWAITING_CUSTODIANS
        elif cause == BidCause.BIDDER_FAULT:
            outcome = BidOutcome.REVOKED
        else:
            outcome = BidOutcome.WITHDRAWN
        entry.cause = str(cause)
        entry.note = note_text
        entry.outcome = outcome
        entry.settled_by = actor
        entry.settled_at = timezone.now()
        entry.save(update_fields=["cause", "note", "outcome", "settled_by", "settled_at"])
        _emit(
            room,
            "cause",
            {
                "bid": str(entry.bid_id),
                "organisation": entry.organisation_id,
                "organisation_name": entry.organisation.name,
                "cause": entry.cause,
                "outcome": outcome,
                "note": note_text,
            },
            actor=actor,
        )
        _maybe_start_reading(room, actor=actor)
        return entry


def _bid_pk(value: object) -> str:
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        raise NotFound("room.bid_not_found", _("开标室中没有这份投标文件。")) from None


def room_open_with_custody(*, actor: User, lot: Lot, bid_id: object) -> Bid:
    """The host opens a bid waiting for the custodians with the lot's rebuilt opening key (EB 31)."""
    from bidding.services import bid_decrypt_with_opening_key

    seat = participation(user=actor, lot=lot)
    _require(seat, ParticipantRole.HOST)

    def check(room: Room, entry: RoomBid) -> None:
        _require_running(room)
        _require_stage(room, RoomStage.SETTLING)
        if entry.outcome != BidOutcome.AWAITING_CUSTODIANS:
            raise DomainError(
                "room.not_awaiting_custodians", _("这份投标文件不在等待保管单位解密。"), status=409
            )
        key = OpeningKey.objects.filter(lot_id=room.lot_id).first()
        if key is None or not key.is_rebuilt:
            # Refused before anything is tried: nothing failed, so the room hears nothing.
            raise DomainError(
                "opening.not_rebuilt",
                _("保管单位提交的份额尚不足以重建开标私钥，请等待。"),
                status=409,
            )

    entry = _start_decrypting(lot, {"bid_id": _bid_pk(bid_id)}, check)
    return _decrypt_entry(
        lot,
        entry,
        actor=actor,
        source=KeySource.OPENING,
        run=lambda: bid_decrypt_with_opening_key(bid=entry.bid, actor=actor),
    )


def room_custody_changed(*, lot: Lot, organisation_name: str, submitted: int, threshold: int, count: int, rebuilt_now: bool) -> None:
    """Tell the room that a custodian submitted its share (and that the key is rebuilt), in the caller's transaction."""
    room = Room.objects.select_for_update().select_related("lot", "lot__tender").filter(lot_id=lot.pk).first()
    if room is None or room.is_over:
        return
    _emit(
        room,
        "custody",
        {"submitted": submitted, "threshold": threshold, "count": count, "organisation_name": organisation_name},
        actor=None,
    )
    if rebuilt_now:
        _emit(room, "custody_rebuilt", {}, actor=None)


# --- reading, confirmation, objections ----------------------------------------------------------


def _reading_entry(entry: RoomBid, lot: Lot) -> dict[str, Any]:
    bid = entry.bid
    labels = {field["key"]: field["label"] for field in (lot.bid_fields or [])}
    decrypted = entry.outcome == BidOutcome.DECRYPTED
    invalid = bool(decrypted and bid.price is not None and bid.price > lot.control_price)
    return {
        "bid": str(bid.pk),
        "position": entry.position,
        "organisation": entry.organisation_id,
        "organisation_name": entry.organisation.name,
        "price": bid.price if decrypted else None,
        "duration_days": bid.duration_days if decrypted else None,
        "quality": bid.quality if decrypted else "",
        "fields": {labels.get(key, key): value for key, value in (bid.summary_fields or {}).items()}
        if decrypted
        else {},
        "outcome": entry.outcome,
        "invalid": invalid,
        "invalid_reason": INVALID_ABOVE_CONTROL if invalid else "",
    }


def reading_digest(*, lot: Lot, readings: list[dict[str, Any]]) -> str:
    """SHA-256 of the reading as read: the lot, its control price and every bid's entry, in order."""
    document = {
        "lot": lot.pk,
        "control_price": events.jsonable(lot.control_price),
        "readings": events.jsonable(readings),
    }
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def room_readings(room: Room) -> list[dict[str, Any]]:
    entries = RoomBid.objects.filter(room=room, read_at__isnull=False).select_related("bid", "organisation")
    return [_reading_entry(entry, room.lot) for entry in entries.order_by("position")]


def room_read_next(*, actor: User, lot: Lot) -> RoomBid | None:
    """The host reads out (唱标) the next bid in order; after the last, confirmation opens.

    A decrypted bid's price above the maximum price is flagged invalid (TR
    51(5)). Revoked and withdrawn bids are read with their outcome and no
    content. Returns the entry read (None only when nothing was left to read, which the
    stage check makes impossible: after the last bid the stage is already ``confirming``).
    """
    from opening.tasks import schedule_room_deadline

    with transaction.atomic():
        room = _locked_room(lot)
        _require(_seat(actor, room), ParticipantRole.HOST)
        _require_running(room)
        _require_stage(room, RoomStage.READING)
        entry = (
            RoomBid.objects.select_for_update()
            .select_related("bid", "organisation")
            .filter(room=room, read_at__isnull=True)
            .order_by("position")
            .first()
        )
        if entry is not None:
            reading = _reading_entry(entry, room.lot)
            entry.read_at = timezone.now()
            entry.invalid = reading["invalid"]
            entry.invalid_reason = reading["invalid_reason"]
            entry.save(update_fields=["read_at", "invalid", "invalid_reason"])
            _emit(room, "read", reading, actor=actor)
        if not RoomBid.objects.filter(room=room, read_at__isnull=True).exists():
            now = timezone.now()
            room.reading_digest = reading_digest(lot=room.lot, readings=room_readings(room))
            room.stage = RoomStage.CONFIRMING
            room.confirmation_deadline = now + dt.timedelta(minutes=settings.OPENING_ROOM["CONFIRM_MINUTES"])
            room.save(update_fields=["reading_digest", "stage", "confirmation_deadline"])
            _emit(
                room,
                "reading_finished",
                {"reading_digest": room.reading_digest, "confirmation_deadline": room.confirmation_deadline},
                actor=actor,
            )
            schedule_room_deadline(room.confirmation_deadline)
        return entry


def confirmation_text(*, lot_id: int, digest: str, credit_code: str) -> bytes:
    """What a bidder signs to confirm the reading (docs/opening-room.md)."""
    return f"{CONFIRMATION_CONTEXT}\n{lot_id}\n{digest}\n{credit_code}".encode()


def room_confirm(*, actor: User, lot: Lot, signature: object) -> RoomBid:
    """A bidder confirms the reading with its signing key (EB 40), within the confirmation window.

    ``signature``: base64 of a DER ECDSA P-256 SHA-256 signature over
    ``confirmation_text`` by the signing key that signed the bid.
    """
    try:
        raw = base64.b64decode(signature, validate=True) if isinstance(signature, str) else b""
    except (binascii.Error, ValueError):
        raw = b""
    if not raw or len(raw) > 80:
        raise DomainError("room.signature_invalid", _("确认签名无效。"), field="signature")
    with transaction.atomic():
        room = _locked_room(lot)
        seat = _seat(actor, room)
        _require(seat, ParticipantRole.BIDDER)
        _require_running(room)
        _require_stage(room, RoomStage.CONFIRMING)
        if room.silent_confirmed_at is not None or timezone.now() >= room.confirmation_deadline:
            raise DomainError("room.confirmation_closed", _("确认时限已过。"), status=409)
        entry = RoomBid.objects.select_for_update().select_related("bid", "organisation").get(
            room=room, organisation_id=seat.organisation.pk
        )
        if entry.confirmed_at is not None:
            raise DomainError("room.already_confirmed", _("您已确认开标结果。"), status=409)
        key = organisation_key_by_fingerprint(entry.bid.signing_fingerprint)
        if key is None or key.organisation_id != entry.organisation_id:
            raise DomainError("room.signature_invalid", _("确认签名无效。"), field="signature")
        message = confirmation_text(
            lot_id=room.lot_id, digest=room.reading_digest, credit_code=entry.organisation.credit_code
        )
        public = load_der_public_key(bytes(key.signing_public))
        try:
            assert isinstance(public, ec.EllipticCurvePublicKey)
            public.verify(raw, message, ec.ECDSA(hashes.SHA256()))
        except (InvalidSignature, ValueError, AssertionError):
            raise DomainError("room.signature_invalid", _("确认签名无效。"), field="signature") from None
        entry.confirmed_at = timezone.now()
        entry.confirmed_by = actor
        entry.confirmation_signature = raw
        entry.save(update_fields=["confirmed_at", "confirmed_by", "confirmation_signature"])
        _emit(
            room,
            "confirmed",
            {
                "organisation": entry.organisation_id,
                "organisation_name": entry.organisation.name,
                "silent": False,
                "signature": base64.b64encode(raw).decode("ascii"),
            },
            actor=actor,
        )
        return entry


def _confirm_silent(room: Room, now: dt.datetime) -> None:
    """The window is over: every bidder that neither confirmed nor objected is taken to confirm."""
    entries = RoomBid.objects.select_for_update().select_related("organisation").filter(
        room=room, confirmed_at__isnull=True
    )
    for entry in entries.order_by("position"):
        entry.confirmed_at = now
        entry.confirmed_silently = True
        entry.save(update_fields=["confirmed_at", "confirmed_silently"])
        _emit(
            room,
            "confirmed",
            {"organisation": entry.organisation_id, "organisation_name": entry.organisation.name, "silent": True},
            actor=None,
        )
    room.silent_confirmed_at = now
    room.save(update_fields=["silent_confirmed_at"])


def room_object(*, actor: User, lot: Lot, text: object) -> Objection:
    """A bidder raises an objection (异议) to the opening, in the room (TR 44, EB 39)."""
    body = _text(text, field="text", limit=MAX_OBJECTION, label=_("异议内容"))
    with transaction.atomic():
        room = _locked_room(lot)
        seat = _seat(actor, room)
        _require(seat, ParticipantRole.BIDDER)
        _require_running(room)
        _require_stage(room, RoomStage.DECRYPTING, RoomStage.SETTLING, RoomStage.READING, RoomStage.CONFIRMING)
        objection = Objection.objects.create(
            room=room, organisation=seat.organisation, raised_by=actor, text=body, raised_at=timezone.now()
        )
        _emit(
            room,
            "objection",
            {
                "id": objection.pk,
                "organisation": seat.organisation.pk,
                "organisation_name": seat.organisation.name,
                "user_name": actor.display_name,
                "text": body,
            },
            actor=actor,
        )
        return objection


def room_answer(*, actor: User, lot: Lot, objection_id: object, text: object) -> Objection:
    """The host answers an objection on the spot; the answer is final and recorded."""
    body = _text(text, field="text", limit=MAX_OBJECTION, label=_("答复"))
    with transaction.atomic():
        room = _locked_room(lot)
        _require(_seat(actor, room), ParticipantRole.HOST)
        if room.is_over:
            raise DomainError("room.over", _("开标已结束。"), status=409)
        try:
            pk = int(objection_id)  # type: ignore[call-overload]
        except (TypeError, ValueError):
            pk = 0
        objection = Objection.objects.select_for_update().filter(room=room, pk=pk).first()
        if objection is None:
            raise NotFound("room.objection_not_found", _("没有这条异议。"))
        if objection.answered_at is not None:
            raise DomainError("room.objection_answered", _("这条异议已经答复。"), status=409)
        objection.answer = body
        objection.answered_by = actor
        objection.answered_at = timezone.now()
        objection.save(update_fields=["answer", "answered_by", "answered_at"])
        _emit(
            room,
            "answered",
            {"id": objection.pk, "text": body, "user_name": actor.display_name},
            actor=actor,
        )
        return objection


# --- pause --------------------------------------------------------------------------------------


def _require_pauser(seat: Participation) -> None:
    if not seat.can_pause:
        raise NotPermitted("room.not_permitted", _("只有本项目的监督部门可以暂停或恢复开标。"))


def room_pause(*, actor: User, lot: Lot, reason: object) -> Pause:
    """A supervisor of the tender's supervising authority pauses the ceremony, with a recorded reason."""
    why = _text(reason, field="reason", limit=MAX_REASON, label=_("暂停原因"))
    with transaction.atomic():
        room = _locked_room(lot)
        _require_pauser(_seat(actor, room))
        if room.is_over:
            raise DomainError("room.over", _("开标已结束。"), status=409)
        if room.is_paused:
            raise DomainError("room.paused", _("监督人员已暂停开标，请等待恢复。"), status=409)
        now = timezone.now()
        pause = Pause.objects.create(room=room, paused_at=now, paused_by=actor, reason=why)
        room.paused_at = now
        room.save(update_fields=["paused_at"])
        _emit(room, "paused", {"reason": why, "user_name": actor.display_name}, actor=actor)
        return pause


def room_unpause(*, actor: User, lot: Lot, reason: object) -> Pause:
    """Resume the ceremony; the running window (decryption or confirmation) is extended by the pause."""
    from opening.tasks import schedule_room_deadline

    why = _text(reason, field="reason", limit=MAX_REASON, label=_("恢复原因"))
    with transaction.atomic():
        room = _locked_room(lot)
        _require_pauser(_seat(actor, room))
        if not room.is_paused:
            raise DomainError("room.not_paused", _("开标没有暂停。"), status=409)
        now = timezone.now()
        pause = Pause.objects.select_for_update().filter(room=room, resumed_at__isnull=True).latest("paused_at")
        pause.resumed_at = now
        pause.resumed_by = actor
        pause.resume_reason = why
        pause.save(update_fields=["resumed_at", "resumed_by", "resume_reason"])
        paused_for = now - room.paused_at
        room.paused_at = None
        deadline = None
        if room.stage == RoomStage.DECRYPTING and room.decryption_deadline is not None:
            room.decryption_deadline = max(room.decryption_deadline, room.decryption_deadline + paused_for)
            deadline = room.decryption_deadline
        elif room.stage == RoomStage.CONFIRMING and room.silent_confirmed_at is None:
            room.confirmation_deadline = room.confirmation_deadline + paused_for
            deadline = room.confirmation_deadline
        room.save(update_fields=["paused_at", "decryption_deadline", "confirmation_deadline"])
        _emit(
            room,
            "unpaused",
            {"reason": why, "user_name": actor.display_name, "deadline": deadline},
            actor=actor,
        )
        if deadline is not None:
            schedule_room_deadline(deadline)
        return pause


# --- close --------------------------------------------------------------------------------------


def room_close(*, actor: User, lot: Lot) -> Room:
    """The host closes the opening: the signed opening record is made and published (EB 32, EB 40).

    Only in the confirmation stage, when every bidder has confirmed or the
    window is over (silence then counts as confirmation, and the record says
    so), and never while an objection is unanswered. The record covers the
    room's audit events up to the one that announces it, with that event's
    chain hash; the lot becomes ``opened``.
    """
    from opening.record_build import build_record

    with transaction.atomic():
        room = _locked_room(lot)
        _require(_seat(actor, room), ParticipantRole.HOST)
        _require_running(room)
        _require_stage(room, RoomStage.CONFIRMING)
        now = timezone.now()
        unconfirmed = RoomBid.objects.filter(room=room, confirmed_at__isnull=True).exists()
        if unconfirmed and now < room.confirmation_deadline:
            raise DomainError(
                "room.confirmation_open",
                _("确认时限（%(time)s）未到，且仍有投标人未确认。"),
                status=409,
                time=timezone.localtime(room.confirmation_deadline).strftime("%H:%M:%S"),
            )
        if Objection.objects.filter(room=room, answered_at__isnull=True).exists():
            raise DomainError("room.objection_unanswered", _("还有异议未答复，不能结束开标。"), status=409)
        if unconfirmed:
            _confirm_silent(room, room.confirmation_deadline)
        room.closed_at = now
        built = build_record(room, closed_by=actor)
        room.stage = RoomStage.CLOSED
        room.record_json = built.json_text
        room.record_pdf = built.pdf
        room.record_sha256 = built.record_sha256
        room.audit_from = built.audit_from
        room.audit_to = built.audit_to
        room.chain_hash = built.chain_hash
        room.save(
            update_fields=[
                "closed_at",
                "stage",
                "record_json",
                "record_pdf",
                "record_sha256",
                "audit_from",
                "audit_to",
                "chain_hash",
            ]
        )
        from tendering.services import lot_mark_opened_by_room

        lot_mark_opened_by_room(lot=room.lot, actor=actor)
        checkpoint_request(reason=CheckpointReason.OPENING_CLOSED, tender_id=room.lot.tender_id, lot_id=room.lot_id)
        _emit(
            room,
            "closed",
            {
                "record_url": reverse("opening:record_pdf", kwargs={"lot_id": room.lot_id}),
                "record_json_url": reverse("opening:record_json", kwargs={"lot_id": room.lot_id}),
                "record_sha256": room.record_sha256,
                "audit_from": room.audit_from,
                "audit_to": room.audit_to,
                "chain_hash": room.chain_hash,
            },
            actor=actor,
        )
        return room


