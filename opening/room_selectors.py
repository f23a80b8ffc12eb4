"""Reads of the opening room, with who-may-take-part decided here.

Participants of a lot's room: the host (agents of the tender's agency), the
bidders (bidder-role users of an organisation with a current bid in the lot),
supervisors (any supervisor watches; only the tender's supervising authority
may pause), the tenderer's representatives, and platform administrators as
observers. To everyone else the room does not exist (``room.not_found``,
exactly as for a lot that does not exist), so that being refused reveals
nothing about who bid.
"""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import Organisation, Role, User
from bidding.models import Bid, BidStatus
from core.errors import DomainError, NotFound
from opening.models import Attendance, ParticipantRole, Room, RoomEvent, RoomStage
from tendering.models import Lot, LotStatus


@dataclass(frozen=True, kw_only=True)
class Participation:
    lot: Lot
    room: Room | None
    role: str
    organisation: Organisation | None
    bid: Bid | None
    can_pause: bool

    @property
    def is_host(self) -> bool:
        return self.role == ParticipantRole.HOST

    @property
    def is_bidder(self) -> bool:
        return self.role == ParticipantRole.BIDDER


def _room_not_found() -> NotFound:
    return NotFound("room.not_found", _("开标室不存在。"))


def _current_bid(lot: Lot, organisation_id: int | None) -> Bid | None:
    if organisation_id is None:
        return None
    return (
        Bid.objects.filter(lot=lot, organisation_id=organisation_id, status=BidStatus.CURRENT)
        .select_related("organisation")
        .first()
    )


def participation(*, user: User, lot: Lot) -> Participation:
    """The part ``user`` takes in the room of ``lot``, or ``room.not_found``.

    Roles are tried in a fixed order (host, supervisor, tenderer, bidder,
    observer): a user holding several takes the first that applies.
    """
    if not user.is_authenticated or not user.is_active:
        raise _room_not_found()
    tender = lot.tender
    if lot.status == LotStatus.DRAFT or tender.published_at is None:
        raise _room_not_found()
    room = Room.objects.filter(lot=lot).first()
    organisation = user.organisation
    org_id = user.organisation_id

    def made(role: str, *, bid: Bid | None = None, can_pause: bool = False) -> Participation:
        return Participation(
            lot=lot, room=room, role=role, organisation=organisation, bid=bid, can_pause=can_pause
        )

    if user.has_role(Role.AGENT) and org_id == tender.agency_id:
        return made(ParticipantRole.HOST)
    if user.has_role(Role.SUPERVISOR):
        return made(
            ParticipantRole.SUPERVISOR,
            can_pause=org_id is not None and org_id == tender.supervising_authority_id,
        )
    if user.has_role(Role.TENDERER_REP) and org_id == tender.tenderer_id:
        return made(ParticipantRole.TENDERER)
    if user.has_role(Role.BIDDER):
        bid = _current_bid(lot, org_id)
        if bid is not None:
            return made(ParticipantRole.BIDDER, bid=bid)
    if user.has_role(Role.PLATFORM_ADMIN):
        return made(ParticipantRole.OBSERVER)
    raise _room_not_found()


def room_for_participant(*, user: User, lot_id: int) -> Participation:
    """The lot's room as ``user`` takes part in it (``room.not_found`` for non-participants)."""
    lot = (
        Lot.objects.select_related(
            "tender", "tender__agency", "tender__tenderer", "tender__supervising_authority"
        )
        .filter(pk=lot_id)
        .first()
    )
    if lot is None:
        raise _room_not_found()
    return participation(user=user, lot=lot)


def room_events_after(*, room_id: int, after: int, until: int | None = None, batch: int = 500) -> Iterator[tuple[int, str]]:
    """The room's events with ``after < seq (<= until)``, in order, as (seq, text), read in batches."""
    cursor = after
    while True:
        qs = RoomEvent.objects.filter(room_id=room_id, seq__gt=cursor)
        if until is not None:
            qs = qs.filter(seq__lte=until)
        rows = list(qs.order_by("seq").values_list("seq", "text")[:batch])
        yield from rows
        if len(rows) < batch:
            return
        cursor = rows[-1][0]


def sign_in_opens_at(lot: Lot) -> dt.datetime:
    """When sign-in (签到) opens: ``OPENING_ROOM["SIGN_IN_MINUTES"]`` before the opening time."""
    return lot.opening_time - dt.timedelta(minutes=settings.OPENING_ROOM["SIGN_IN_MINUTES"])


def closed_room(*, lot_id: int) -> Room:
    """The room of a closed opening, with its record — public to anyone (EB 32).

    Before the room is closed the record does not exist for anyone:
    ``room.record_not_found``, the same 404 as for a lot that does not exist.
    """
    room = (
        Room.objects.select_related("lot", "lot__tender")
        .filter(lot_id=lot_id, stage=RoomStage.CLOSED)
        .exclude(record_json="")
        .first()
    )
    if room is None:
        raise NotFound("room.record_not_found", _("开标记录尚未生成。"))
    return room


def lots_with_published_record(*, lot_ids: list[int]) -> set[int]:
    """Which of ``lot_ids`` have a closed room and so a published opening record (EB 32)."""
    return set(
        Room.objects.filter(lot_id__in=lot_ids, stage=RoomStage.CLOSED)
        .exclude(record_json="")
        .values_list("lot_id", flat=True)
    )


def is_custodian(*, user: User, lot: Lot) -> bool:
    """Whether ``user`` acts for one of the custodians of the lot's opening key (the room links to the custody page)."""
    from opening.models import Custodian
    from opening.selectors import acts_for_custodian

    custodian = (
        Custodian.objects.filter(opening_key__lot=lot, organisation_id=user.organisation_id)
        .select_related("organisation")
        .first()
    )
    return custodian is not None and acts_for_custodian(user, custodian.organisation)


def signed_in(*, room: Room, user: User) -> bool:
    return Attendance.objects.filter(room=room, user=user).exists()


@dataclass(frozen=True, kw_only=True)
class WrappedKey:
    bid: Bid
    wrapped_key: bytes

    def as_json(self) -> dict[str, str]:
        return {
            "bid": str(self.bid.pk),
            "bidder_fingerprint": self.bid.bidder_fingerprint,
            "signing_fingerprint": self.bid.signing_fingerprint,
            "wrapped_key": base64.b64encode(self.wrapped_key).decode("ascii"),
            "credit_code": self.bid.organisation.credit_code,
        }


def wrapped_key_for_bidder(*, user: User, lot_id: int) -> WrappedKey:
    """The bidder's own bid's file key as wrapped to its encryption key, from the opening time on.

    Only a bidder participant gets one (``room.not_found`` for everyone
    else), only for its own current bid, and not before the opening time
    (``bid.before_opening``): until then there is nothing to decrypt.
    """
    from bidding.services import bid_wrapped_key

    seat = room_for_participant(user=user, lot_id=lot_id)
    if not seat.is_bidder or seat.bid is None:
        raise _room_not_found()
    if timezone.now() < seat.lot.opening_time:
        raise DomainError(
            "bid.before_opening",
            _("开标时间（%(time)s）之前不能解密投标文件。"),
            status=409,
            time=timezone.localtime(seat.lot.opening_time).strftime("%Y-%m-%d %H:%M"),
        )
    return WrappedKey(bid=seat.bid, wrapped_key=bid_wrapped_key(bid=seat.bid, role="bidder"))
