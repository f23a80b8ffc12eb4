"""Replays for supervisors: an opening, a draw, a tender's whole life, rebuilt from the audit chain alone.

Every step of the platform is an audit record (EB 49); these selectors read
the records of one lot or tender — through ``audit.selectors.events_visible_to``,
so a record the viewer may not browse (a sealed sign-in or bid before the
deadline, EB 21/27) is neither played nor listed nor counted — and give them
back in chain order with who, from which network address and client, and
when, exactly as the chain holds them.

- ``opening_replay``: the room's events (``opening.room.<kind>``, payload
  ``{"seq": <room seq>, **data}``) turned back into the messages the room sent
  (``{"type": "event", "seq", "kind", "at", "data"}``), which the page feeds to
  the room page's own reducer (static/js/room-state.js). The rebuild is
  checked against the room: room seqs 1 to ``Room.last_seq`` each exactly once,
  every record's own hash, and each stored ``RoomEvent`` equal to what the
  chain says. Whatever does not hold is a ``Finding``; the replay still plays
  what the chain has.
- ``draw_replay``: the lot's expert draws (request, approval and the secret's
  commitment, the run with its inputs, the panel's seats, answers,
  replacements, completion, publication), with the draw's own checks (the
  commitment came first; the chain head mixed into the seed is the record
  before the run; once published, the secret matches its commitment and the
  seed is recomputed from the inputs). Experts are never named before the
  result is published (ER 8): an expert who answered signed in is shown as
  "an expert", and names come only from ``experts.selectors.revealed_panel``.
- ``tender_replay``: every record of the tender and its lots, each with its
  phase (``PHASES``).

docs/replay.md describes the pages and the checks.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import User
from audit import chain
from audit.models import AuditEvent, Sensitivity
from audit.selectors import (
    EventFilter,
    action_label,
    events_visible_to,
    experts_unpublished,
    require_auditor,
)
from core.errors import NotFound
from experts import draw as draw_algorithm
from experts.models import DrawRequest, DrawSelection
from experts.selectors import revealed_panel
from opening.events import iso
from opening.models import Room, RoomEvent
from tendering.models import Lot, LotStatus, Tender

ROOM_ACTION = "opening.room."
# Records of the room that are not room events (no room seq): a bidder's sign-in
# held back until the deadline (EB 21) and the record's anchor in the chain.
ROOM_RECORDS_WITHOUT_SEQ = frozenset({"opening.room.signed_in_sealed", "opening.room.record"})
# The room stamps an event with its audit record's time (opening.room_services._emit);
# rooms before that stamped it a moment earlier: a stored event's time may be
# up to this much earlier than its record's, never later.
AT_TOLERANCE = dt.timedelta(seconds=1)
MASKED_EXPERT = _("评标专家（结果公布前保密）")


# --- one record on a timeline ------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class ReplayEvent:
    """One audit record as a replay shows it: the record's own columns (EB 49) and what it meant.

    ``masked``: the actor is an expert not yet published (ER 8); ``actor_name``
    and ``organisation_name`` are then blank and the page says "an expert".
    """

    seq: int
    at: dt.datetime
    action: str
    label: str
    actor_name: str
    organisation_name: str
    ip: str | None
    user_agent: str
    sensitivity: str
    sensitivity_label: str
    hash: str
    lot_id: int | None
    data: dict[str, Any]
    summary: str
    masked: bool = False
    # The opening: the event as the room sent it, when this record is one of the room's events.
    room_event: dict[str, Any] | None = None
    # The opening: a record of a room event that is not played (a duplicate, or without a room seq).
    unplayed: bool = False
    # The draw: the request the record belongs to. The tender: the phase (PHASES).
    request_id: int | None = None
    phase: str = ""
    # Derived from this and earlier records only (the draw's seats after its run).
    derived: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "at": iso(self.at),
            "action": self.action,
            "label": self.label,
            "lot": self.lot_id,
            "summary": self.summary,
            "phase": self.phase,
            "request": self.request_id,
            "room": self.room_event,
            "unplayed": self.unplayed,
            "data": self.data,
            "derived": self.derived,
        }


def _payload(event: AuditEvent) -> dict[str, Any]:
    """The record's payload; ``{}`` when the stored text is not a JSON object (the hash check says why)."""
    try:
        value = json.loads(event.payload)
    except (TypeError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def hash_holds(event: AuditEvent) -> bool:
    """Whether the record's content still gives its stored hash (``audit.chain.hash_holds``)."""
    return chain.hash_holds({name: getattr(event, name) for name in chain.ROW_FIELDS})


# The payload keys a one-line summary shows, in this order. Ids and state codes
# (an organisation's id, a bid's outcome) are left out: the record's page has them.
_SUMMARY_KEYS = (
    "organisation_name",
    "organisation",
    "user_name",
    "title",
    "name",
    "price",
    "cause",
    "text",
    "reason",
    "code",
    "specialty",
    "channel",
    "receipt_no",
    "to",
)
_SUMMARY_LIMIT = 160


def summary_of(data: dict[str, Any]) -> str:
    """A short line of the payload's telling values, for the event list (the record page has it all)."""
    parts: list[str] = []
    for key in _SUMMARY_KEYS:
        value = data.get(key)
        # Only text and amounts: numbers here are ids, and structures belong on the record's page.
        if not isinstance(value, str) or not value:
            continue
        if key == "to" and value in LotStatus.values:
            value = f"→ {LotStatus(value).label}"
        parts.append(value)
    text = " · ".join(parts)
    return text if len(text) <= _SUMMARY_LIMIT else text[: _SUMMARY_LIMIT - 1] + "…"


def _replay_event(event: AuditEvent, *, masked: bool = False, **extra: Any) -> ReplayEvent:
    data = _payload(event)
    return ReplayEvent(
        seq=event.seq,
        at=event.created_at,
        action=event.action,
        label=action_label(event.action),
        actor_name="" if masked else event.actor_name,
        organisation_name="" if masked else event.organisation_name,
        ip=event.ip,
        user_agent=event.user_agent,
        sensitivity=event.sensitivity,
        sensitivity_label=str(Sensitivity(event.sensitivity).label) if event.sensitivity else "",
        hash=event.hash,
        lot_id=event.lot_id,
        data=data,
        summary=summary_of(data),
        masked=masked,
        **extra,
    )


# --- findings ------------------------------------------------------------------------------


FINDING_MESSAGES: dict[str, Any] = {
    "missing": _("开标室第 %(room_seq)s 号事件在审计链中缺失。"),
    "missing_stored": _(
        "开标室第 %(room_seq)s 号事件在审计链中缺失（开标室保存的该事件指向审计记录 #%(audit_seq)s）。"
    ),
    "duplicate": _(
        "审计记录 #%(audit_seq)s 重复记载了开标室第 %(room_seq)s 号事件，回放时未采用。"
    ),
    "extra": _(
        "审计记录 #%(audit_seq)s 记载的开标室第 %(room_seq)s 号事件超出了开标室的事件总数。"
    ),
    "not_stored": _(
        "审计记录 #%(audit_seq)s 记载的开标室第 %(room_seq)s 号事件在开标室中没有保存。"
    ),
    "differs": _("开标室第 %(room_seq)s 号事件与审计记录 #%(audit_seq)s 不一致：%(fields)s。"),
    "no_seq": _("审计记录 #%(audit_seq)s 是开标室事件，但没有开标室事件序号，回放时未采用。"),
    "last_seq": _(
        "开标室记载的事件总数为 %(last_seq)s，审计链中最后一个开标室事件是第 %(room_seq)s 号。"
    ),
    "hash": _("审计记录 #%(audit_seq)s 的内容与其哈希值不符（记录被篡改）。"),
    "draw_no_commitment": _(
        "专家抽取申请 %(request)s 的抽取记录（审计记录 #%(audit_seq)s）之前没有随机秘密承诺记录。"
    ),
    "draw_commitment_differs": _(
        "专家抽取申请 %(request)s 的抽取记录（审计记录 #%(audit_seq)s）中的承诺值与批准时提交的不一致。"
    ),
    "draw_chain_head": _(
        "专家抽取申请 %(request)s 的抽取记录（审计记录 #%(audit_seq)s）中的审计链头哈希不是其前一条审计记录的哈希。"
    ),
    "draw_secret": _(
        "专家抽取申请 %(request)s 公布的随机秘密（审计记录 #%(audit_seq)s）与抽取前提交的承诺值不符。"
    ),
    "draw_seed": _(
        "专家抽取申请 %(request)s 公布的随机种子（审计记录 #%(audit_seq)s）不能由随机秘密、专家库哈希、链头哈希和监督人员随机数重新算出。"
    ),
    "draw_pool_hash": _(
        "专家抽取申请 %(request)s 公布的专家库哈希（审计记录 #%(audit_seq)s）与抽取时记录的不一致。"
    ),
}

# What a stored room event and its record may disagree on.
DIFFERENCE_LABELS: dict[str, Any] = {
    "kind": _("事件类型"),
    "seq": _("事件序号"),
    "data": _("事件内容"),
    "at": _("事件时间"),
    "audit_seq": _("对应的审计序号"),
    "text": _("事件文本无法解析"),
}


@dataclass(frozen=True, kw_only=True)
class Finding:
    """Something the chain and the room (or the draw's own rules) disagree on; shown above the replay."""

    code: str
    room_seq: int | None = None
    audit_seq: int | None = None
    request_id: int | None = None
    differences: tuple[str, ...] = ()
    last_seq: int | None = None

    @property
    def message(self) -> str:
        fields = "、".join(str(DIFFERENCE_LABELS.get(name, name)) for name in self.differences)
        return str(FINDING_MESSAGES[self.code]) % {
            "room_seq": self.room_seq,
            "audit_seq": self.audit_seq,
            "request": self.request_id,
            "fields": fields,
            "last_seq": self.last_seq,
        }

    def as_json(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "room_seq": self.room_seq,
            "audit_seq": self.audit_seq,
            "request": self.request_id,
            "message": self.message,
        }


# --- who the viewer may not see: experts before publication (ER 8) ---------------------------


def _masked_actors(events: list[AuditEvent], lot_ids: Iterable[int]) -> set[int]:
    actor_ids = {
        event.actor_id
        for event in events
        if event.actor_id is not None and event.action.startswith("experts.")
    }
    return experts_unpublished(lot_ids=lot_ids, actor_ids=actor_ids)


def _is_masked(event: AuditEvent, hidden: set[int]) -> bool:
    return event.action.startswith("experts.") and event.actor_id in hidden


# --- the opening ---------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class OpeningReplay:
    """A lot's opening, rebuilt from its audit records.

    ``events``: every record of the replay in chain order — the room's own
    events (``room_event`` set) and the lot's other records between the
    opening of sign-in and the last event (the chain's view of the same
    moments: bidding closing, the bids' decryption, the custodians' shares).
    ``start``/``end``: the span the player runs over; records before
    ``start`` (the room's ``scheduled`` event, at publication) are applied at
    ``start``.
    """

    lot: Lot
    room: Room
    events: list[ReplayEvent]
    findings: list[Finding]
    start: dt.datetime
    end: dt.datetime

    @property
    def room_events(self) -> list[dict[str, Any]]:
        """The room's events as rebuilt from the chain, in room seq order (what the reducer is fed)."""
        rebuilt = [event.room_event for event in self.events if event.room_event is not None]
        return sorted(rebuilt, key=lambda message: message["seq"])

    @property
    def span_seconds(self) -> float:
        return max((self.end - self.start).total_seconds(), 0.0)


def _lot(lot_id: int) -> Lot:
    lot = Lot.objects.select_related("tender").filter(pk=lot_id).first()
    if lot is None:
        raise NotFound("lot.not_found", _("标段不存在。"))
    return lot


def _room_seq(data: dict[str, Any]) -> int | None:
    seq = data.get("seq")
    return seq if isinstance(seq, int) and not isinstance(seq, bool) else None


def _stored_text(text: str) -> dict[str, Any] | None:
    try:
        value = json.loads(text)
    except (TypeError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def _parse_time(value: object) -> dt.datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def _differences(rebuilt: dict[str, Any], record: AuditEvent, stored: RoomEvent) -> list[str]:
    """Where the stored event and the one rebuilt from its record disagree (empty: they agree)."""
    text = _stored_text(stored.text)
    if text is None:
        return ["text"]
    found = []
    if (
        stored.kind != rebuilt["kind"]
        or text.get("kind") != rebuilt["kind"]
        or text.get("type") != "event"
    ):
        found.append("kind")
    if text.get("seq") != rebuilt["seq"]:
        found.append("seq")
    if text.get("data") != rebuilt["data"]:
        found.append("data")
    stored_at = _parse_time(text.get("at"))
    lags = [
        record.created_at - moment
        for moment in (stored_at, stored.created_at)
        if moment is not None
    ]
    if len(lags) < 2 or any(lag < dt.timedelta(0) or lag > AT_TOLERANCE for lag in lags):
        found.append("at")
    if stored.audit_seq != record.seq:
        found.append("audit_seq")
    return found


def _check_room(
    room: Room, records: list[AuditEvent]
) -> tuple[dict[int, dict[str, Any]], list[Finding]]:
    """The room's events rebuilt from ``records`` (its visible room records, chain order), and the findings.

    Returns the rebuilt events keyed by the audit seq of the record each was
    rebuilt from. A room seq claimed by two records is played from the first;
    a record without a room seq is not played. Records hidden from the viewer
    count as missing: no room event carries a sensitivity today (the sealed
    sign-in is recorded outside the room's sequence for that reason), and
    should one ever be hidden the replay says it cannot show it rather than
    play around it.
    """
    findings: list[Finding] = []
    played: dict[int, dict[str, Any]] = {}
    source: dict[int, AuditEvent] = {}  # room seq → the record it is played from
    for record in records:
        if not hash_holds(record):
            findings.append(Finding(code="hash", audit_seq=record.seq))
        data = _payload(record)
        room_seq = _room_seq(data)
        if room_seq is None:
            findings.append(Finding(code="no_seq", audit_seq=record.seq))
            continue
        if room_seq in source:
            findings.append(Finding(code="duplicate", room_seq=room_seq, audit_seq=record.seq))
            continue
        source[room_seq] = record
        played[record.seq] = {
            "type": "event",
            "seq": room_seq,
            "kind": record.action.removeprefix(ROOM_ACTION),
            "at": iso(record.created_at),
            "data": {key: value for key, value in data.items() if key != "seq"},
        }

    stored = {event.seq: event for event in RoomEvent.objects.filter(room=room).order_by("seq")}
    last = room.last_seq
    highest = max([last, *source, *stored], default=0)
    for room_seq in range(1, highest + 1):
        record = source.get(room_seq)
        kept = stored.get(room_seq)
        if record is None:
            if kept is not None:
                findings.append(
                    Finding(code="missing_stored", room_seq=room_seq, audit_seq=kept.audit_seq)
                )
            elif room_seq <= last:
                findings.append(Finding(code="missing", room_seq=room_seq))
            continue
        if room_seq > last:
            findings.append(Finding(code="extra", room_seq=room_seq, audit_seq=record.seq))
            continue
        if kept is None:
            findings.append(Finding(code="not_stored", room_seq=room_seq, audit_seq=record.seq))
            continue
        differences = _differences(played[record.seq], record, kept)
        if differences:
            findings.append(
                Finding(
                    code="differs",
                    room_seq=room_seq,
                    audit_seq=record.seq,
                    differences=tuple(differences),
                )
            )
    chain_last = max(source, default=0)
    if chain_last != last:
        findings.append(Finding(code="last_seq", room_seq=chain_last, last_seq=last))
    return played, findings


def _opening_span(
    room: Room,
    lot: Lot,
    played: dict[int, dict[str, Any]],
    records: list[AuditEvent],
    now: dt.datetime,
) -> tuple[dt.datetime, dt.datetime]:
    """From the opening of sign-in (or the first event after the room was scheduled) to the last event.

    The room is scheduled at publication, weeks before: that event is applied
    at the start rather than stretching the timeline over the weeks between.
    """
    from opening.room_selectors import sign_in_opens_at

    scheduled_seq = next(
        (
            seq
            for seq, message in played.items()
            if message["seq"] == 1 and message["kind"] == "scheduled"
        ),
        None,
    )
    opens = None
    if scheduled_seq is not None:
        opens = _parse_time(played[scheduled_seq]["data"].get("sign_in_opens_at"))
    opens = opens or sign_in_opens_at(lot)
    times = sorted(record.created_at for record in records)
    later = sorted(record.created_at for record in records if record.seq != scheduled_seq)
    start = min(opens, later[0]) if later else opens
    if times:
        start = max(start, times[0])
    end = max([start, *times])
    if not room.is_over:
        # A ceremony still under way: the countdowns run on to the present.
        end = max(end, now)
    return start, end


def opening_replay(*, user: User, lot_id: int, now: dt.datetime | None = None) -> OpeningReplay:
    """The opening of ``lot_id`` rebuilt from the audit records ``user`` may browse.

    Supervisors and platform administrators only (``NotPermitted`` for anyone
    else, before anything about the lot is read). ``NotFound`` when the lot
    does not exist or has no room.
    """
    require_auditor(user)
    now = now or timezone.now()
    lot = _lot(lot_id)
    room = Room.objects.filter(lot=lot).first()
    if room is None:
        raise NotFound("replay.no_room", _("该标段还没有开标室。"))
    visible = events_visible_to(user=user, filters=EventFilter(lot_id=lot.pk), now=now).filter(
        lot_id=lot.pk
    )
    of_room = Q(object_type="opening.room", object_id=str(room.pk))
    room_records = list(visible.filter(of_room).order_by("seq"))
    sequenced = [record for record in room_records if record.action not in ROOM_RECORDS_WITHOUT_SEQ]
    played, findings = _check_room(room, sequenced)
    start, end = _opening_span(room, lot, played, sequenced, now)
    # The chain's view of the same moments: the lot's other records during the ceremony.
    around = list(
        visible.exclude(of_room).filter(created_at__gte=start, created_at__lte=end).order_by("seq")
    )
    records = sorted([*room_records, *around], key=lambda record: record.seq)
    sequenced_seqs = {record.seq for record in sequenced}
    events = [
        _replay_event(
            record,
            room_event=played.get(record.seq),
            unplayed=record.seq in sequenced_seqs and record.seq not in played,
        )
        for record in records
    ]
    return OpeningReplay(lot=lot, room=room, events=events, findings=findings, start=start, end=end)


# --- the draw ------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class PanelMember:
    """A confirmed member of a published panel: the only experts a replay names (ER 8)."""

    position: int
    code: str
    name: str
    specialty: str


@dataclass(frozen=True, kw_only=True)
class DrawTrack:
    """One draw request of the lot: its records' ids, and its panel once published."""

    request_id: int
    revealed: bool
    panel: list[PanelMember]


@dataclass(frozen=True, kw_only=True)
class DrawReplay:
    lot: Lot
    tracks: list[DrawTrack]
    events: list[ReplayEvent]
    findings: list[Finding]
    start: dt.datetime
    end: dt.datetime

    @property
    def span_seconds(self) -> float:
        return max((self.end - self.start).total_seconds(), 0.0)


def initial_seats(created: dict[str, Any], run: dict[str, Any]) -> list[dict[str, Any]]:
    """The panel's first seats as the run left them, from the request's and the run's records alone.

    The draw picks each item's members and reserves in ``initial_order``
    (items by specialty code), positions counting up; a specialty whose pool is
    smaller gives fewer. When the picks per specialty are fully determined by
    the records (each item got ``min(members + reserves, pool size)`` and these
    add up to what the run reports), every seat is known: position,
    specialty, notified (the item's first ``members``) or reserve. Otherwise —
    an expert holding two requested specialties, taken for the first — the
    seats are learnt from the answers as they come, and [] is returned.
    """
    items = created.get("items")
    sizes = run.get("pool_sizes")
    if (
        run.get("status") == "exhausted"
        or not isinstance(items, list)
        or not isinstance(sizes, dict)
    ):
        return []
    try:
        wanted = sorted(
            (str(item["specialty"]), int(item["members"]), int(item["reserves"])) for item in items
        )
        total = int(run.get("members", 0)) + int(run.get("reserves", 0))
    except (KeyError, TypeError, ValueError):
        return []
    takes = [
        (code, members, min(members + reserves, int(sizes.get(code, 0))))
        for code, members, reserves in wanted
    ]
    if sum(take for _code, _members, take in takes) != total:
        return []
    order = draw_algorithm.initial_order((code, take) for code, _members, take in takes)
    members_of = {code: members for code, members, _take in takes}
    seats, seen = [], dict.fromkeys(members_of, 0)
    for position, code in enumerate(order, start=1):
        seen[code] += 1
        seats.append(
            {"position": position, "specialty": code, "notified": seen[code] <= members_of[code]}
        )
    return seats


def _check_draw(request_id: int, records: list[AuditEvent]) -> list[Finding]:
    """The draw's own promises, checked from its records (docs/draw.md): commitment first, honest inputs."""
    findings: list[Finding] = []
    committed = next((r for r in records if r.action == "experts.draw.committed"), None)
    run = next((r for r in records if r.action == "experts.draw.run"), None)
    revealed = next((r for r in records if r.action == "experts.draw.revealed"), None)
    if run is None:
        return findings
    run_data = _payload(run)
    if committed is None or committed.seq > run.seq:
        findings.append(
            Finding(code="draw_no_commitment", request_id=request_id, audit_seq=run.seq)
        )
    elif _payload(committed).get("secret_commitment") != run_data.get("secret_commitment"):
        findings.append(
            Finding(code="draw_commitment_differs", request_id=request_id, audit_seq=run.seq)
        )
    if run_data.get("chain_head") != run.prev_hash:
        findings.append(Finding(code="draw_chain_head", request_id=request_id, audit_seq=run.seq))
    if revealed is None:
        return findings
    shown = _payload(revealed)
    commitment = (
        _payload(committed).get("secret_commitment")
        if committed
        else run_data.get("secret_commitment")
    )
    try:
        secret = bytes.fromhex(str(shown.get("secret", "")))
    except ValueError:
        secret = b""
    if not secret or draw_algorithm.commitment(secret) != commitment:
        findings.append(Finding(code="draw_secret", request_id=request_id, audit_seq=revealed.seq))
    if shown.get("pool_hash") != run_data.get("pool_hash"):
        findings.append(
            Finding(code="draw_pool_hash", request_id=request_id, audit_seq=revealed.seq)
        )
    try:
        seed = draw_algorithm.derive_seed(
            secret=secret,
            pool_hash=str(run_data.get("pool_hash", "")),
            chain_head=str(run_data.get("chain_head", "")),
            supervisor_number=str(run_data.get("supervisor_number", "")),
        ).hex()
    except (UnicodeEncodeError, ValueError):
        seed = ""
    if seed != shown.get("seed"):
        findings.append(Finding(code="draw_seed", request_id=request_id, audit_seq=revealed.seq))
    return findings


def _request_of(records: list[AuditEvent]) -> dict[int, int]:
    """Audit seq → draw request id. A selection's record names the selection; its request is looked up."""
    selection_ids = {
        int(record.object_id)
        for record in records
        if record.object_type == "experts.drawselection" and record.object_id.isdigit()
    }
    request_of_selection = dict(
        DrawSelection.objects.filter(pk__in=selection_ids).values_list("pk", "request_id")
    )
    found: dict[int, int] = {}
    for record in records:
        if not record.object_id.isdigit():
            continue
        if record.object_type == "experts.drawrequest":
            found[record.seq] = int(record.object_id)
        elif record.object_type == "experts.drawselection":
            request_id = request_of_selection.get(int(record.object_id))
            if request_id is not None:
                found[record.seq] = request_id
    return found


def draw_replay(*, user: User, lot_id: int, now: dt.datetime | None = None) -> DrawReplay:
    """The expert draws of ``lot_id``, rebuilt from the audit records ``user`` may browse.

    Supervisors and platform administrators only. ``NotFound`` when the lot
    does not exist or has no draw on record.
    """
    require_auditor(user)
    now = now or timezone.now()
    lot = _lot(lot_id)
    records = list(
        events_visible_to(user=user, filters=EventFilter(lot_id=lot.pk, action="experts."), now=now)
        .filter(lot_id=lot.pk)
        .order_by("seq")
    )
    if not records:
        raise NotFound("replay.no_draw", _("该标段没有专家抽取记录。"))
    request_of = _request_of(records)
    hidden = _masked_actors(records, [lot.pk])
    by_request: dict[int, list[AuditEvent]] = {}
    for record in records:
        if record.seq in request_of:
            by_request.setdefault(request_of[record.seq], []).append(record)

    findings: list[Finding] = []
    for request_id, own in sorted(by_request.items()):
        findings += [
            Finding(code="hash", audit_seq=record.seq) for record in own if not hash_holds(record)
        ]
        findings += _check_draw(request_id, own)

    created: dict[int, dict[str, Any]] = {}
    events: list[ReplayEvent] = []
    for record in records:
        request_id = request_of.get(record.seq)
        derived: dict[str, Any] = {}
        if record.action == "experts.draw_request.created" and request_id is not None:
            created[request_id] = _payload(record)
        if record.action == "experts.draw.run" and request_id is not None:
            derived["seats"] = initial_seats(created.get(request_id, {}), _payload(record))
        events.append(
            _replay_event(
                record, masked=_is_masked(record, hidden), request_id=request_id, derived=derived
            )
        )

    revealed = {
        request.pk: request
        for request in DrawRequest.objects.filter(
            pk__in=list(by_request), revealed_at__isnull=False
        )
    }
    tracks = []
    for request_id in sorted(by_request):
        request = revealed.get(request_id)
        panel = (
            [
                PanelMember(
                    position=selection.position,
                    code=selection.expert.code,
                    name=selection.expert.name,
                    specialty=selection.item.specialty.code,
                )
                for selection in revealed_panel(request=request)
            ]
            if request is not None
            else []
        )
        tracks.append(DrawTrack(request_id=request_id, revealed=request is not None, panel=panel))
    start = records[0].created_at
    end = max(records[-1].created_at, start)
    return DrawReplay(
        lot=lot, tracks=tracks, events=events, findings=findings, start=start, end=end
    )


# --- the tender's whole life ---------------------------------------------------------------


PHASES: dict[str, Any] = {
    "draft": _("编制公告"),
    "published": _("发布公告"),
    "clarifications": _("澄清与修改"),
    "obtained": _("获取招标文件"),
    "bids": _("递交投标文件"),
    "deadline": _("投标截止"),
    "draw": _("抽取评标专家"),
    "opening": _("开标"),
    "record": _("开标记录"),
    "award": _("评标与定标"),
    "ended": _("流标与终止"),
    "other": _("其他"),
}

_PHASE_OF_ACTION = {
    "tendering.tender.created": "draft",
    "tendering.tender.updated": "draft",
    "tendering.lot.created": "draft",
    "tendering.lot.updated": "draft",
    "tendering.lot.deleted": "draft",
    "tendering.tender.published": "published",
    "tendering.lot.published": "published",
    "opening.key.created": "published",
    "tendering.amendment.published": "clarifications",
    "tendering.lot.deadline_moved": "clarifications",
    "tendering.documents.obtained": "obtained",
    "bidding.upload.discarded": "deadline",
    "tendering.lot.bidding_closed": "deadline",
    "tendering.lot.opening_started": "opening",
    "bidding.bid.decrypted": "opening",
    "bidding.bid.decryption_failed": "opening",
    "opening.room.record": "record",
    "opening.room.closed": "record",
    "tendering.lot.opened": "record",
    "tendering.lot.evaluation_started": "award",
    "tendering.lot.awarded": "award",
    "tendering.tender.cancelled": "ended",
    "tendering.lot.cancelled": "ended",
}


def phase_of(action: str, data: dict[str, Any]) -> str:
    """The phase of a tender's life a record belongs to (``PHASES``)."""
    if action == "tendering.document.uploaded":
        return "clarifications" if data.get("amendment") is not None else "draft"
    if action == "tendering.lot.failed":
        # Failing at the opening (TR 44) is part of the opening; any other failure ends the lot.
        return "opening" if data.get("from") == "opening" else "ended"
    if action in _PHASE_OF_ACTION:
        return _PHASE_OF_ACTION[action]
    if action.startswith(("bidding.upload.", "bidding.bid.")):
        return "bids"
    if action.startswith("experts."):
        return "draw"
    if action.startswith("opening."):
        return "opening"
    return "other"


@dataclass(frozen=True, kw_only=True)
class PhaseSummary:
    key: str
    label: str
    count: int
    first: dt.datetime
    last: dt.datetime
    events: list[ReplayEvent]


@dataclass(frozen=True, kw_only=True)
class TenderReplay:
    tender: Tender
    lots: list[Lot]
    events: list[ReplayEvent]
    findings: list[Finding]
    start: dt.datetime
    end: dt.datetime

    @property
    def phases(self) -> list[PhaseSummary]:
        """The phases that have records, in the order of ``PHASES``, each with its records in chain order."""
        grouped: dict[str, list[ReplayEvent]] = {}
        for event in self.events:
            grouped.setdefault(event.phase, []).append(event)
        return [
            PhaseSummary(
                key=key,
                label=str(label),
                count=len(grouped[key]),
                first=grouped[key][0].at,
                last=grouped[key][-1].at,
                events=grouped[key],
            )
            for key, label in PHASES.items()
            if key in grouped
        ]

    @property
    def span_seconds(self) -> float:
        return max((self.end - self.start).total_seconds(), 0.0)


def tender_replay(*, user: User, tender_id: int, now: dt.datetime | None = None) -> TenderReplay:
    """Every record of ``tender_id`` and its lots that ``user`` may browse, in chain order, with its phase.

    Supervisors and platform administrators only. Records sealed until the
    bid deadline are left out exactly as in the audit browser (not listed,
    not counted). ``NotFound`` for a tender that does not exist or has no
    records.
    """
    require_auditor(user)
    now = now or timezone.now()
    tender = Tender.objects.filter(pk=tender_id).first()
    if tender is None:
        raise NotFound("tender.not_found", _("招标项目不存在。"))
    records = list(
        events_visible_to(user=user, filters=EventFilter(tender_id=tender.pk), now=now).order_by(
            "seq"
        )
    )
    if not records:
        raise NotFound("replay.no_records", _("该招标项目没有可查看的审计记录。"))
    lots = list(Lot.objects.filter(tender=tender).order_by("number"))
    hidden = _masked_actors(records, [lot.pk for lot in lots])
    findings = [
        Finding(code="hash", audit_seq=record.seq) for record in records if not hash_holds(record)
    ]
    events = [
        _replay_event(
            record,
            masked=_is_masked(record, hidden),
            phase=phase_of(record.action, _payload(record)),
        )
        for record in records
    ]
    start = records[0].created_at
    end = max(records[-1].created_at, start)
    return TenderReplay(
        tender=tender, lots=lots, events=events, findings=findings, start=start, end=end
    )


# --- picking an opening ---------------------------------------------------------------------


def rooms_for_replay(*, user: User, query: str = "") -> QuerySet[Room]:
    """The rooms a supervisor may pick to replay, latest opening first; ``query`` narrows by project code or title."""
    require_auditor(user)
    rooms = Room.objects.select_related("lot", "lot__tender")
    text = query.strip()
    if text:
        rooms = rooms.filter(
            Q(lot__tender__code__icontains=text) | Q(lot__tender__title__icontains=text)
        )
    return rooms.order_by("-lot__opening_time", "-lot__tender_id", "lot__number")


def lots_with_draws(*, lot_ids: list[int]) -> set[int]:
    """Which of ``lot_ids`` have a draw request, for the links of the picking page."""
    return set(DrawRequest.objects.filter(lot_id__in=lot_ids).values_list("lot_id", flat=True))


def lots_with_rooms(*, lot_ids: list[int]) -> set[int]:
    """Which of ``lot_ids`` have an opening room to replay."""
    return set(Room.objects.filter(lot_id__in=lot_ids).values_list("lot_id", flat=True))
