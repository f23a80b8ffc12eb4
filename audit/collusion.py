"""Collusion signals (围标串标) across the bids of an opened lot, each with its evidence in the chain.

Read-only. What each signal means, its thresholds and what it does not prove:
docs/collusion.md. In short, for the lot being looked at:

- ``same_address`` / ``same_device``: bidding events (upload started, failed,
  discarded or abandoned; bid submitted, replaced or withdrawn) of different
  organisations recorded from one network address, or carrying one device id;
- ``same_signing_key``: one signing key fingerprint held by different
  organisations (in the lot's bids, its uploads or the registered keys);
  ``keys_same_address``: the key sets that signed the lot's bids registered
  by different organisations from one network address;
- ``identical_file``: the same non-empty file (plaintext SHA-256 recorded at
  decryption) in the bids of different organisations;
- ``close_prices``: prices as read out at the opening, identical or each
  within the relative tolerance of the next;
- ``price_ratio`` / ``price_steps``: across lots, organisations whose prices
  in another opened lot are the same multiple of their prices here (the same
  price ratios), or that rank in the same order with equal gaps in both lots.

Who bid and what they bid are secret until the deadline and the opening (EB
21, EB 27, EB 30): ``lot_collusion_for`` refuses a lot that has not reached
the price reading (``collusion.not_opened``), and the bidding events of a
tender whose bidding is still open (another lot's deadline not passed) are left
out exactly as the audit browser leaves them out, so every evidence link
opens. Nothing here reads who the experts are.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db.models import Count, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import Organisation, OrganisationKey, User
from audit.models import AuditEvent, Sensitivity
from audit.selectors import action_label, require_auditor
from bidding.models import Bid, BidFile, BidStatus, DecryptionStatus, Upload
from core.errors import NotFound, NotPermitted
from opening.models import BidOutcome, RoomBid, RoomStage
from tendering.models import Lot, LotStatus
from tendering.selectors import sealed_tender_ids

# 0.05 %: two prices of ten million yuan within 5,000 yuan of each other.
DEFAULT_PRICE_TOLERANCE = Decimal("0.0005")
MAX_PRICE_TOLERANCE = Decimal("0.05")
# Price patterns compare with at most this many other opened lots, the latest first.
PATTERN_LOTS_MAX = 200

# Every bidding event an organisation's own request records on the lot.
UPLOAD_ACTIONS = (
    "bidding.upload.started",
    "bidding.upload.failed",
    "bidding.upload.discarded",
    "bidding.upload.abandoned",
    "bidding.bid.submitted",
    "bidding.bid.replaced",
    "bidding.bid.withdrawn",
)
DECRYPTED_ACTION = "bidding.bid.decrypted"
READ_ACTION = "opening.room.read"
KEY_REGISTERED_ACTION = "accounts.key.registered"
KEY_OBJECT_TYPE = OrganisationKey._meta.label_lower

# The lot's prices have been read out: the room reached the reading, or the lot moved past the opening.
OPENED_ROOM_STAGES = (RoomStage.READING, RoomStage.CONFIRMING, RoomStage.CLOSED)
OPENED_LOT_STATUSES = (LotStatus.OPENED, LotStatus.EVALUATING, LotStatus.AWARDED)
_SEALED_LEVELS = (Sensitivity.UNTIL_BID_DEADLINE, Sensitivity.BIDS_UNTIL_DEADLINE)


class SignalKind:
    """The kinds of signal, in the order the page shows them."""

    SAME_ADDRESS = "same_address"
    SAME_DEVICE = "same_device"
    SAME_SIGNING_KEY = "same_signing_key"
    KEYS_SAME_ADDRESS = "keys_same_address"
    IDENTICAL_FILE = "identical_file"
    CLOSE_PRICES = "close_prices"
    PRICE_RATIO = "price_ratio"
    PRICE_STEPS = "price_steps"

    LABELS = {
        SAME_ADDRESS: _("不同投标人从同一网络地址上传投标文件"),
        SAME_DEVICE: _("不同投标人从同一设备上传投标文件"),
        SAME_SIGNING_KEY: _("不同投标人使用同一签名密钥"),
        KEYS_SAME_ADDRESS: _("不同投标人的密钥从同一网络地址登记"),
        IDENTICAL_FILE: _("不同投标人的投标文件中有完全相同的文件"),
        CLOSE_PRICES: _("投标报价相同或极为接近"),
        PRICE_RATIO: _("在多个标段中报价比例相同"),
        PRICE_STEPS: _("在多个标段中报价排序相同且等差"),
    }
    ORDER = tuple(LABELS)


def kind_label(kind: str) -> str:
    return str(SignalKind.LABELS.get(kind, kind))


def percent(fraction: Decimal) -> str:
    """A fraction as a percentage with at most four decimals: ``Decimal("0.00018")`` → ``"0.018"``."""
    return format((fraction * 100).quantize(Decimal("0.0001")).normalize(), "f")


# --- what a signal is made of ----------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Party:
    organisation_id: int
    name: str
    credit_code: str


@dataclass(frozen=True, kw_only=True)
class LotRef:
    lot_id: int
    tender_id: int
    tender_code: str
    number: int
    name: str


@dataclass(frozen=True, kw_only=True)
class Evidence:
    """One audit record that shows a piece of the signal (its page: ``audit:event`` with ``seq``)."""

    seq: int
    action: str
    action_label: str
    created_at: dt.datetime
    ip: str | None
    user_agent: str
    device: str = ""


@dataclass(frozen=True, kw_only=True)
class Row:
    """One organisation's part in a signal (in one lot, for the patterns across lots)."""

    party: Party
    evidence: tuple[Evidence, ...]
    lot: LotRef | None = None
    text: str = ""  # file names for identical files
    price: Decimal | None = None
    # The price over the lowest price of the signal's organisations in the same lot.
    ratio: Decimal | None = None


@dataclass(frozen=True, kw_only=True)
class Step:
    lot: LotRef
    gap: Decimal


@dataclass(frozen=True, kw_only=True)
class Signal:
    kind: str
    parties: tuple[Party, ...]
    rows: tuple[Row, ...]
    # The value the organisations share: an address, a device id, a fingerprint, a file digest.
    value: str = ""
    lots: tuple[LotRef, ...] = ()  # the viewed lot first, for the patterns across lots
    # close_prices: (highest − lowest) / highest; price_ratio: the same over the scale factors.
    spread: Decimal | None = None
    steps: tuple[Step, ...] = ()  # price_steps: the common gap in each lot

    @property
    def label(self) -> str:
        return kind_label(self.kind)

    @property
    def spread_percent(self) -> str:
        return percent(self.spread) if self.spread is not None else ""

    @property
    def evidence_seqs(self) -> tuple[int, ...]:
        return tuple(sorted({item.seq for row in self.rows for item in row.evidence}))


@dataclass(frozen=True, kw_only=True)
class Coverage:
    """How much the checks had to work with, so that an empty result can be read for what it is."""

    bidding_events: int  # the organisations' own bidding events on the lot (visible ones)
    with_address: int
    with_device: int
    files: int  # non-empty files of the lot's decrypted bids
    files_with_digest: int
    prices_read: int
    lots_compared: int


@dataclass(frozen=True, kw_only=True)
class CollusionReport:
    lot: Lot
    tolerance: Decimal
    signals: list[Signal]
    coverage: Coverage
    # The tender still takes bids on another lot: its bidding events stay sealed (EB 27).
    bidding_events_sealed: bool

    @property
    def tolerance_percent(self) -> str:
        return percent(self.tolerance)

    def by_kind(self) -> list[tuple[str, str, list[Signal]]]:
        """(kind, label, signals) for every kind, in page order, empty kinds included."""
        return [
            (kind, kind_label(kind), [signal for signal in self.signals if signal.kind == kind])
            for kind in SignalKind.ORDER
        ]


# --- who may look, and when ---------------------------------------------------------------------


def lot_is_opened(lot: Lot) -> bool:
    """The lot's prices have been read out (or it is past its opening): bidders and bids are no longer secret."""
    if lot.status in OPENED_LOT_STATUSES:
        return True
    return Lot.objects.filter(pk=lot.pk, room__stage__in=OPENED_ROOM_STAGES).exists()


def opened_lots() -> QuerySet[Lot]:
    """Every lot whose prices have been read out, the latest opening first."""
    return (
        Lot.objects.filter(
            Q(status__in=OPENED_LOT_STATUSES) | Q(room__stage__in=OPENED_ROOM_STAGES)
        )
        .select_related("tender")
        .distinct()
        .order_by("-opening_time", "-pk")
    )


def opened_lots_for(*, user: User) -> QuerySet[Lot]:
    """The lots whose signals ``user`` may look at: supervisors and platform administrators only."""
    require_auditor(user)
    return opened_lots()


def lot_collusion_for(
    *,
    user: User,
    lot_id: int,
    price_tolerance: Decimal = DEFAULT_PRICE_TOLERANCE,
    now: dt.datetime | None = None,
) -> CollusionReport:
    """The signals of ``lot_id`` for a supervisor or platform administrator.

    ``NotPermitted`` for anyone else (before anything about the lot is
    looked up), ``NotFound`` for a lot that does not exist, and
    ``collusion.not_opened`` (``NotPermitted``, 403) until the lot's prices
    have been read out, as the list of who obtained the documents is refused
    before the deadline (``documents.obtainers_sealed``):
    who bid and what they bid stay secret until then (EB 21, EB 27, EB 30).
    """
    require_auditor(user)
    return collusion_report(lot=_opened_lot(lot_id), price_tolerance=price_tolerance, now=now)


def _opened_lot(lot_id: int) -> Lot:
    lot = Lot.objects.select_related("tender").filter(pk=lot_id).first()
    if lot is None:
        raise NotFound("lot.not_found", _("标段不存在。"))
    if not lot_is_opened(lot):
        raise NotPermitted(
            "collusion.not_opened",
            _(
                "本标段尚未开标唱标。投标截止和开标前，投标人名单和投标文件内容保密"
                "（《电子招标投标办法》第二十一条、第二十七条），开标唱标后方可查看围标串标信号。"
            ),
        )
    return lot


def collusion_report(
    *, lot: Lot, price_tolerance: Decimal = DEFAULT_PRICE_TOLERANCE, now: dt.datetime | None = None
) -> CollusionReport:
    """Every signal of ``lot``, with what the checks had to work with. No permission check: callers do it."""
    if not Decimal(0) <= price_tolerance <= MAX_PRICE_TOLERANCE:
        raise ValueError(f"price_tolerance must lie in [0, {MAX_PRICE_TOLERANCE}]")
    now = now or timezone.now()
    sealed = bool(sealed_tender_ids(tender_ids=[lot.tender_id], now=now))
    context = _Context(lot=lot, bidding_sealed=sealed)
    signals: list[Signal] = []
    signals += _address_signals(context)
    signals += _device_signals(context)
    signals += _signing_key_signals(context)
    signals += _key_registration_signals(context)
    signals += _identical_file_signals(context)
    readings = _readings(context, lot_ids=[lot.pk]).get(lot.pk, {})
    signals += _close_price_signals(readings, price_tolerance)
    others = _other_lots_readings(context, readings)
    signals += _ratio_signals(context, readings, others, price_tolerance)
    signals += _step_signals(context, readings, others, price_tolerance)
    context.fill_parties(signals)
    files = BidFile.objects.filter(_decrypted_files(lot))
    events = context.bidding_events
    return CollusionReport(
        lot=lot,
        tolerance=price_tolerance,
        signals=[context.with_parties(signal) for signal in signals],
        coverage=Coverage(
            bidding_events=len(events),
            with_address=sum(1 for event in events if event.ip),
            with_device=sum(1 for event in events if _device_of(event)),
            files=files.count(),
            files_with_digest=files.exclude(sha256="").count(),
            prices_read=len(readings),
            lots_compared=len(others),
        ),
        bidding_events_sealed=sealed,
    )


def collusion_signals(
    *,
    lot_id: int,
    price_tolerance: Decimal = DEFAULT_PRICE_TOLERANCE,
    now: dt.datetime | None = None,
) -> list[Signal]:
    """The signals of an opened lot, without a permission check (``lot_collusion_for`` has one).

    ``lot.not_found`` and ``collusion.not_opened`` as for ``lot_collusion_for``.
    """
    return collusion_report(
        lot=_opened_lot(lot_id), price_tolerance=price_tolerance, now=now
    ).signals


# --- shared reads -----------------------------------------------------------------------------


def _payload(event: AuditEvent) -> dict[str, Any]:
    try:
        data = json.loads(event.payload)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _device_of(event: AuditEvent) -> str:
    device = _payload(event).get("device")
    return device if isinstance(device, str) else ""


def _evidence(event: AuditEvent) -> Evidence:
    return Evidence(
        seq=event.seq,
        action=event.action,
        action_label=action_label(event.action),
        created_at=event.created_at,
        ip=event.ip,
        user_agent=event.user_agent,
        device=_device_of(event),
    )


def _lot_ref(lot: Lot) -> LotRef:
    return LotRef(
        lot_id=lot.pk,
        tender_id=lot.tender_id,
        tender_code=lot.tender.code,
        number=lot.number,
        name=lot.name,
    )


def _decrypted_files(lot: Lot) -> Q:
    return Q(
        bid__lot=lot,
        bid__status=BidStatus.CURRENT,
        bid__decryption_status=DecryptionStatus.DECRYPTED,
        size__gt=0,  # every empty file has the same digest: that says nothing
    )


class _Context:
    """The lot, the events its signals may cite, and the organisations' names, read once.

    ``visible`` is the chain as the audit browser shows it to supervisors for
    this lot: while the lot's tender still takes bids on another lot, its
    sealed events (who bid) are left out; the other events read here
    (readings, decryptions, key registrations) are public.
    """

    def __init__(self, *, lot: Lot, bidding_sealed: bool) -> None:
        self.lot = lot
        self.lot_ref = _lot_ref(lot)
        self.bidding_sealed = bidding_sealed
        self.parties: dict[int, Party] = {}
        visible = AuditEvent.objects.filter(sensitivity__in=Sensitivity.values)
        if bidding_sealed:
            visible = visible.exclude(sensitivity__in=_SEALED_LEVELS)
        self.visible = visible
        self.bidding_events: list[AuditEvent] = list(
            visible.filter(
                lot_id=lot.pk, action__in=UPLOAD_ACTIONS, organisation_id__isnull=False
            ).order_by("seq")
        )

    def party(self, organisation_id: int) -> Party:
        return self.parties.get(organisation_id) or Party(
            organisation_id=organisation_id, name="", credit_code=""
        )

    def fill_parties(self, signals: Iterable[Signal]) -> None:
        ids = {row.party.organisation_id for signal in signals for row in signal.rows}
        for organisation in Organisation.objects.filter(pk__in=ids):
            self.parties[organisation.pk] = Party(
                organisation_id=organisation.pk,
                name=organisation.name,
                credit_code=organisation.credit_code,
            )

    def with_parties(self, signal: Signal) -> Signal:
        """The signal with its organisations' names filled in and listed once each, by name."""
        rows = tuple(
            Row(
                party=self.party(row.party.organisation_id),
                evidence=row.evidence,
                lot=row.lot,
                text=row.text,
                price=row.price,
                ratio=row.ratio,
            )
            for row in signal.rows
        )
        parties = {row.party.organisation_id: row.party for row in rows}
        return Signal(
            kind=signal.kind,
            parties=tuple(
                sorted(parties.values(), key=lambda party: (party.name, party.organisation_id))
            ),
            rows=rows,
            value=signal.value,
            lots=signal.lots,
            spread=signal.spread,
            steps=signal.steps,
        )


def _stub(organisation_id: int) -> Party:
    return Party(organisation_id=organisation_id, name="", credit_code="")


def _grouped_signals(kind: str, groups: dict[str, dict[int, list[AuditEvent]]]) -> list[Signal]:
    """One signal per shared value held by two or more organisations; each organisation's records as evidence."""
    signals = []
    for value, by_organisation in sorted(groups.items()):
        if len(by_organisation) < 2:
            continue  # one organisation's own uploads from one place are no signal
        signals.append(
            Signal(
                kind=kind,
                parties=(),
                value=value,
                rows=tuple(
                    Row(party=_stub(org), evidence=tuple(_evidence(event) for event in events))
                    for org, events in sorted(by_organisation.items())
                ),
            )
        )
    return signals


# --- 1, 2: one network address, one device --------------------------------------------------------


def _address_signals(context: _Context) -> list[Signal]:
    groups: dict[str, dict[int, list[AuditEvent]]] = defaultdict(lambda: defaultdict(list))
    for event in context.bidding_events:
        if event.ip and event.organisation_id is not None:
            groups[event.ip][event.organisation_id].append(event)
    return _grouped_signals(SignalKind.SAME_ADDRESS, groups)


def _device_signals(context: _Context) -> list[Signal]:
    groups: dict[str, dict[int, list[AuditEvent]]] = defaultdict(lambda: defaultdict(list))
    for event in context.bidding_events:
        device = _device_of(event)
        if device and event.organisation_id is not None:
            groups[device][event.organisation_id].append(event)
    return _grouped_signals(SignalKind.SAME_DEVICE, groups)


# --- 3: signing keys ----------------------------------------------------------------------------


def _signing_key_signals(context: _Context) -> list[Signal]:
    """One signing key fingerprint held by two or more organisations.

    The holders of a fingerprint: the organisations of the lot's bids (any
    status) and header-checked uploads that it signed, and the organisation it
    is registered to. Registration refuses a key registered before by anyone
    (``key.duplicate``) and an upload must be signed by its own organisation's
    key, so this fires only when rows were written around those checks (an
    import, an altered database): it is an integrity alarm as much as a signal.
    """
    lot = context.lot
    # fingerprint → organisation → the records showing it; an organisation holds the
    # fingerprint even when none of its records is visible.
    holders: dict[str, dict[int, list[AuditEvent]]] = defaultdict(dict)
    submission_seqs: dict[int, tuple[str, int]] = {}
    for fingerprint, organisation_id, seq in Bid.objects.filter(lot=lot).values_list(
        "signing_fingerprint", "organisation_id", "audit_seq"
    ):
        holders[fingerprint].setdefault(organisation_id, [])
        submission_seqs[seq] = (fingerprint, organisation_id)
    upload_rows = Upload.objects.filter(lot=lot).exclude(signing_fingerprint="")
    uploads: dict[str, tuple[str, int]] = {}
    for pk, fingerprint, organisation_id in upload_rows.values_list(
        "pk", "signing_fingerprint", "organisation_id"
    ):
        holders[fingerprint].setdefault(organisation_id, [])
        uploads[str(pk)] = (fingerprint, organisation_id)
    keys: dict[str, tuple[str, int]] = {}
    for pk, fingerprint, organisation_id in OrganisationKey.objects.filter(
        signing_fingerprint__in=list(holders)
    ).values_list("pk", "signing_fingerprint", "organisation_id"):
        holders[fingerprint].setdefault(organisation_id, [])
        keys[str(pk)] = (fingerprint, organisation_id)
    shared = {fingerprint for fingerprint, orgs in holders.items() if len(orgs) >= 2}
    if not shared:
        return []
    for event in context.bidding_events:
        if event.seq in submission_seqs:
            fingerprint, organisation_id = submission_seqs[event.seq]
        elif event.action == "bidding.upload.started" and event.object_id in uploads:
            fingerprint, organisation_id = uploads[event.object_id]
        else:
            continue
        if fingerprint in shared:
            holders[fingerprint][organisation_id].append(event)
    for event in context.visible.filter(
        action=KEY_REGISTERED_ACTION, object_type=KEY_OBJECT_TYPE, object_id__in=list(keys)
    ).order_by("seq"):
        fingerprint, organisation_id = keys[event.object_id]
        if fingerprint in shared:
            holders[fingerprint][organisation_id].append(event)
    return _grouped_signals(
        SignalKind.SAME_SIGNING_KEY, {fingerprint: holders[fingerprint] for fingerprint in shared}
    )


def _key_registration_signals(context: _Context) -> list[Signal]:
    """The key sets that signed the lot's bids, registered by different organisations from one address."""
    fingerprints = set(
        Bid.objects.filter(lot=context.lot).values_list("signing_fingerprint", flat=True)
    )
    keys = {
        str(pk): organisation_id
        for pk, organisation_id in OrganisationKey.objects.filter(
            signing_fingerprint__in=fingerprints
        ).values_list("pk", "organisation_id")
    }
    groups: dict[str, dict[int, list[AuditEvent]]] = defaultdict(lambda: defaultdict(list))
    for event in context.visible.filter(
        action=KEY_REGISTERED_ACTION, object_type=KEY_OBJECT_TYPE, object_id__in=list(keys)
    ).order_by("seq"):
        if event.ip:
            groups[event.ip][keys[event.object_id]].append(event)
    return _grouped_signals(SignalKind.KEYS_SAME_ADDRESS, groups)


# --- 4: identical files ---------------------------------------------------------------------------


def _identical_file_signals(context: _Context) -> list[Signal]:
    """The same non-empty file in the decrypted bids of two or more organisations."""
    by_digest: dict[str, dict[int, list[tuple[str, str]]]] = defaultdict(lambda: defaultdict(list))
    for digest, name, bid_id, organisation_id in (
        BidFile.objects.filter(_decrypted_files(context.lot))
        .exclude(sha256="")
        .order_by("bid_id", "index")
        .values_list("sha256", "name", "bid_id", "bid__organisation_id")
    ):
        by_digest[digest][organisation_id].append((name, str(bid_id)))
    shared = {digest: orgs for digest, orgs in by_digest.items() if len(orgs) >= 2}
    if not shared:
        return []
    bid_ids = {
        bid_id for orgs in shared.values() for items in orgs.values() for _n, bid_id in items
    }
    decryptions = {
        event.object_id: event
        for event in context.visible.filter(
            action=DECRYPTED_ACTION, lot_id=context.lot.pk, object_id__in=list(bid_ids)
        )
    }
    signals = []
    for digest, orgs in sorted(shared.items()):
        rows = []
        for organisation_id, items in sorted(orgs.items()):
            events = [
                decryptions[bid_id] for bid_id in {b for _n, b in items} if bid_id in decryptions
            ]
            rows.append(
                Row(
                    party=_stub(organisation_id),
                    text="、".join(name for name, _b in items),
                    evidence=tuple(
                        _evidence(event) for event in sorted(events, key=lambda e: e.seq)
                    ),
                )
            )
        signals.append(
            Signal(kind=SignalKind.IDENTICAL_FILE, parties=(), value=digest, rows=tuple(rows))
        )
    return signals


# --- 5: prices ------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class _Reading:
    organisation_id: int
    price: Decimal
    event: AuditEvent


def _readings(context: _Context, *, lot_ids: list[int]) -> dict[int, dict[int, _Reading]]:
    """The prices read out at the openings of ``lot_ids``: lot → organisation → price and its reading event.

    Taken from the reading events themselves (``opening.room.read``: the bid's
    organisation, outcome and price as read out), so that every price shown is
    the one its evidence records. Bids read out without a price (revoked,
    withdrawn) are left out.
    """
    result: dict[int, dict[int, _Reading]] = defaultdict(dict)
    if not lot_ids:
        return result
    for event in context.visible.filter(action=READ_ACTION, lot_id__in=lot_ids).order_by("seq"):
        data = _payload(event)
        organisation, price = data.get("organisation"), data.get("price")
        if (
            event.lot_id is None
            or data.get("outcome") != BidOutcome.DECRYPTED
            or not isinstance(organisation, int)
            or not isinstance(price, str)
        ):
            continue
        try:
            amount = Decimal(price)
        except InvalidOperation:
            continue
        if amount.is_finite() and amount > 0:
            result[event.lot_id][organisation] = _Reading(
                organisation_id=organisation, price=amount, event=event
            )
    return result


def _price_row(reading: _Reading, lot: LotRef | None, lowest: Decimal | None = None) -> Row:
    return Row(
        party=_stub(reading.organisation_id),
        lot=lot,
        price=reading.price,
        ratio=(reading.price / lowest).quantize(Decimal("0.000001")) if lowest else None,
        evidence=(_evidence(reading.event),),
    )


def _within(low: Decimal, high: Decimal, tolerance: Decimal) -> bool:
    """``high`` exceeds ``low`` by at most ``tolerance`` of ``high`` (both positive, low ≤ high)."""
    return high - low <= tolerance * high


def _close_price_signals(readings: dict[int, _Reading], tolerance: Decimal) -> list[Signal]:
    """Prices identical or close: sorted, each within ``tolerance`` of the next, two or more organisations."""
    ordered = sorted(readings.values(), key=lambda item: (item.price, item.organisation_id))
    clusters: list[list[_Reading]] = []
    for reading in ordered:
        if clusters and _within(clusters[-1][-1].price, reading.price, tolerance):
            clusters[-1].append(reading)
        else:
            clusters.append([reading])
    signals = []
    for cluster in clusters:
        if len(cluster) < 2:
            continue
        lowest, highest = cluster[0].price, cluster[-1].price
        signals.append(
            Signal(
                kind=SignalKind.CLOSE_PRICES,
                parties=(),
                rows=tuple(_price_row(reading, None) for reading in cluster),
                spread=(highest - lowest) / highest,
            )
        )
    return signals


@dataclass(frozen=True, kw_only=True)
class _OtherLot:
    lot: LotRef
    readings: dict[int, _Reading]


def _other_lots_readings(context: _Context, readings: dict[int, _Reading]) -> list[_OtherLot]:
    """Other opened lots where at least two of this lot's read-out organisations were read out too."""
    organisations = list(readings)
    if len(organisations) < 2:
        return []
    candidates = list(
        RoomBid.objects.filter(
            organisation_id__in=organisations,
            read_at__isnull=False,
            outcome=BidOutcome.DECRYPTED,
        )
        .exclude(room__lot_id=context.lot.pk)
        .values("room__lot_id")
        .annotate(common=Count("organisation_id", distinct=True))
        .filter(common__gte=2)
        .order_by("-room__lot__opening_time", "-room__lot_id")
        .values_list("room__lot_id", flat=True)[:PATTERN_LOTS_MAX]
    )
    lots = {lot.pk: lot for lot in Lot.objects.filter(pk__in=candidates).select_related("tender")}
    found = _readings(context, lot_ids=candidates)
    return [
        _OtherLot(lot=_lot_ref(lots[lot_id]), readings=found[lot_id])
        for lot_id in candidates
        if lot_id in lots and len(set(found.get(lot_id, {})) & set(readings)) >= 2
    ]


def _ratio_signals(
    context: _Context,
    readings: dict[int, _Reading],
    others: list[_OtherLot],
    tolerance: Decimal,
) -> list[Signal]:
    """Organisations whose prices in another lot are one common multiple of their prices here.

    For each other lot, each common organisation's scale factor k = price
    there / price here; sorted, factors each within ``tolerance`` of the next
    form a group, and a group of two or more keeps the same price ratios in
    both lots. Groups with the same organisations over several lots are one
    signal listing every lot.
    """
    merged: dict[tuple[int, ...], list[tuple[_OtherLot, Decimal]]] = defaultdict(list)
    for other in others:
        common = set(readings) & set(other.readings)
        factors = sorted((other.readings[org].price / readings[org].price, org) for org in common)
        groups: list[list[tuple[Decimal, int]]] = []
        for factor, org in factors:
            if groups and _within(groups[-1][-1][0], factor, tolerance):
                groups[-1].append((factor, org))
            else:
                groups.append([(factor, org)])
        for group in groups:
            if len(group) >= 2:
                spread = (group[-1][0] - group[0][0]) / group[-1][0]
                merged[tuple(sorted(org for _f, org in group))].append((other, spread))
    signals = []
    for orgs, occurrences in sorted(merged.items()):
        rows = _pattern_rows(context, readings, orgs, [other for other, _s in occurrences])
        signals.append(
            Signal(
                kind=SignalKind.PRICE_RATIO,
                parties=(),
                rows=rows,
                lots=(context.lot_ref, *(other.lot for other, _s in occurrences)),
                spread=max(spread for _o, spread in occurrences),
            )
        )
    return signals


def _pattern_rows(
    context: _Context,
    readings: dict[int, _Reading],
    orgs: Iterable[int],
    others: list[_OtherLot],
) -> tuple[Row, ...]:
    """Each organisation's price in this lot and in each other lot, with its ratio to the group's lowest."""
    orgs = list(orgs)
    rows = []
    for lot, lot_readings in [(context.lot_ref, readings), *[(o.lot, o.readings) for o in others]]:
        lowest = min(lot_readings[org].price for org in orgs)
        ranked = sorted(orgs, key=lambda org: (lot_readings[org].price, org))
        rows += [_price_row(lot_readings[org], lot, lowest) for org in ranked]
    return tuple(rows)


def _equal_gaps(gaps: list[Decimal], tolerance: Decimal) -> bool:
    return all(gap > 0 for gap in gaps) and _within(min(gaps), max(gaps), tolerance)


def _step_runs(
    here: dict[int, Decimal], there: dict[int, Decimal], tolerance: Decimal
) -> list[tuple[int, ...]]:
    """Runs of three or more organisations in the same price order in both lots, with equal gaps in each.

    Among the organisations read out in both lots, ranked by price: a run is
    consecutive in both rankings, in the same order, and in each lot the gaps
    between neighbours are positive and equal within ``tolerance`` of the
    largest gap. Runs are maximal; two runs may share an end organisation.
    """
    ranked = sorted(here, key=lambda org: (here[org], org))
    position = {org: index for index, org in enumerate(sorted(there, key=lambda o: (there[o], o)))}
    runs: list[tuple[int, ...]] = []
    start = 0
    while start + 2 < len(ranked):
        end = start  # the run is ranked[start : end + 1]
        while end + 1 < len(ranked):
            if position[ranked[end + 1]] != position[ranked[end]] + 1:
                break
            candidate = ranked[start : end + 2]
            pairs = list(zip(candidate, candidate[1:], strict=False))
            if not (
                _equal_gaps([here[b] - here[a] for a, b in pairs], tolerance)
                and _equal_gaps([there[b] - there[a] for a, b in pairs], tolerance)
            ):
                break
            end += 1
        if end - start >= 2:
            runs.append(tuple(ranked[start : end + 1]))
            start = end  # the next run may begin where this one ends
        else:
            start += 1
    return runs


def _step_signals(
    context: _Context,
    readings: dict[int, _Reading],
    others: list[_OtherLot],
    tolerance: Decimal,
) -> list[Signal]:
    merged: dict[tuple[int, ...], list[_OtherLot]] = defaultdict(list)
    for other in others:
        common = set(readings) & set(other.readings)
        if len(common) < 3:
            continue
        here = {org: readings[org].price for org in common}
        there = {org: other.readings[org].price for org in common}
        for run in _step_runs(here, there, tolerance):
            merged[run].append(other)
    signals = []
    for run, occurrences in sorted(merged.items()):
        steps = [
            Step(lot=lot, gap=lot_readings[run[1]].price - lot_readings[run[0]].price)
            for lot, lot_readings in [
                (context.lot_ref, readings),
                *[(o.lot, o.readings) for o in occurrences],
            ]
        ]
        signals.append(
            Signal(
                kind=SignalKind.PRICE_STEPS,
                parties=(),
                rows=_pattern_rows(context, readings, run, occurrences),
                lots=(context.lot_ref, *(o.lot for o in occurrences)),
                steps=tuple(steps),
            )
        )
    return signals
