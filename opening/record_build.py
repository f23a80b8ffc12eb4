"""The opening record (开标记录) of a room as it closes: gathered, anchored in the chain, signed, rendered.

``build_record`` runs inside ``room_close``'s transaction with the room
locked. The record covers the room's audit events from its first one up to
an ``opening.room.record`` event appended here, whose chain hash it carries:
anyone holding the record can check that the chain they are shown contains
exactly that history (docs/opening-record.md). The record is then signed
with the platform key (``opening.record.record_sign``) and rendered as a PDF
(``opening.record.record_pdf``).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from accounts.models import User
from audit.services import record
from opening.events import iso, jsonable
from opening.models import Attendance, Objection, Pause, Room, RoomBid, RoomEvent
from opening.record import record_dumps, record_pdf, record_sha256, record_sign


@dataclass(frozen=True, kw_only=True)
class BuiltRecord:
    record: dict[str, Any]
    json_text: str
    pdf: bytes
    # SHA-256 of record.json as served (what the PDF prints on every page).
    record_sha256: str
    audit_from: int
    audit_to: int
    chain_hash: str


def _name(user: User | None) -> str:
    if user is None:
        return ""
    return user.display_name


def _bids(room: Room) -> list[dict[str, Any]]:
    labels = {field["key"]: field["label"] for field in (room.lot.bid_fields or [])}
    rows = []
    entries = RoomBid.objects.filter(room=room).select_related("bid", "organisation").order_by("position")
    for entry in entries:
        bid = entry.bid
        decrypted = entry.outcome == "decrypted"
        rows.append(
            {
                "position": entry.position,
                "bid": str(bid.pk),
                "receipt_no": bid.receipt_no,
                "organisation": entry.organisation_id,
                "organisation_name": entry.organisation.name,
                "credit_code": entry.organisation.credit_code,
                "received_at": iso(bid.received_at),
                "outcome": entry.outcome,
                "key": (bid.decrypted_with or None) if decrypted else None,
                "cause": entry.cause,
                "note": entry.note,
                "price": jsonable(bid.price) if decrypted else None,
                "duration_days": bid.duration_days if decrypted else None,
                "quality": bid.quality if decrypted else "",
                "fields": {labels.get(k, k): v for k, v in (bid.summary_fields or {}).items()} if decrypted else {},
                "invalid": entry.invalid,
                "invalid_reason": entry.invalid_reason,
                "confirmation": {
                    "at": iso(entry.confirmed_at),
                    "silent": entry.confirmed_silently,
                    "signature": (
                        base64.b64encode(bytes(entry.confirmation_signature)).decode("ascii")
                        if entry.confirmation_signature
                        else None
                    ),
                },
            }
        )
    return rows


def build_record(room: Room, *, closed_by: User) -> BuiltRecord:
    """Gather, anchor, sign and render the record of ``room`` (locked, ``closed_at`` set by the caller)."""
    lot = room.lot
    tender = lot.tender
    first = RoomEvent.objects.filter(room=room).order_by("seq").values_list("audit_seq", flat=True).first()
    anchor = record(
        "opening.room.record",
        actor=closed_by,
        obj=room,
        data={"reading_digest": room.reading_digest, "closed_at": room.closed_at, "events": room.last_seq},
    )
    document: dict[str, Any] = {
        "format": "sunbid-opening-record",
        "version": 1,
        "lot": {
            "id": lot.pk,
            "tender_code": tender.code,
            "tender_title": tender.title,
            "number": lot.number,
            "name": lot.name,
            "tenderer": tender.tenderer.name,
            "agency": tender.agency.name,
            "supervising_authority": tender.supervising_authority.name if tender.supervising_authority else "",
            "control_price": jsonable(lot.control_price),
            "min_bidders": lot.min_bidders,
            "evaluation_method": str(lot.get_evaluation_method_display()),
        },
        "opening_time": iso(lot.opening_time),
        "opened_at": iso(room.opened_at),
        "closed_at": iso(room.closed_at),
        "decryption_deadline": iso(room.decryption_deadline),
        "confirmation_deadline": iso(room.confirmation_deadline),
        "bids": _bids(room),
        "objections": [
            {
                "id": objection.pk,
                "organisation_name": objection.organisation.name,
                "user_name": _name(objection.raised_by),
                "text": objection.text,
                "at": iso(objection.raised_at),
                "answer": objection.answer,
                "answered_by": _name(objection.answered_by),
                "answered_at": iso(objection.answered_at),
            }
            for objection in Objection.objects.filter(room=room).select_related(
                "organisation", "raised_by", "answered_by"
            )
        ],
        "pauses": [
            {
                "paused_at": iso(pause.paused_at),
                "paused_by": _name(pause.paused_by),
                "reason": pause.reason,
                "resumed_at": iso(pause.resumed_at),
                "resumed_by": _name(pause.resumed_by),
                "resume_reason": pause.resume_reason,
            }
            for pause in Pause.objects.filter(room=room).select_related("paused_by", "resumed_by")
        ],
        "participants": [
            {
                "role": attendance.role,
                "user_name": _name(attendance.user),
                "organisation_name": attendance.organisation.name if attendance.organisation else "",
                "signed_in_at": iso(attendance.signed_in_at),
            }
            for attendance in Attendance.objects.filter(room=room).select_related("user", "organisation")
        ],
        "reading_digest": room.reading_digest,
        "audit": {"from_seq": first if first is not None else anchor.seq, "to_seq": anchor.seq, "chain_hash": anchor.hash},
    }
    signed = record_sign(document)
    pdf = record_pdf(signed)
    return BuiltRecord(
        record=signed,
        json_text=record_dumps(signed),
        pdf=pdf,
        record_sha256=record_sha256(signed),
        audit_from=document["audit"]["from_seq"],
        audit_to=anchor.seq,
        chain_hash=anchor.hash,
    )
