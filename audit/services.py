"""Writes to the audit chain. ``record`` is the only way in."""

from __future__ import annotations

import ipaddress
import secrets
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connection, connections, models, transaction
from django.utils import timezone

from audit import context
from audit.encoding import (
    FORMAT_VERSION,
    GENESIS_HASH,
    canonical_json,
    envelope_parts_v2,
    format_time,
    join_parts_v2,
    text_hash,
    to_jsonable,
)
from audit.models import AuditEvent, Sensitivity

if TYPE_CHECKING:
    from django.db.backends.base.base import BaseDatabaseWrapper

    from accounts.models import User

# The first key of the strands' two-key advisory locks ("SBUA"); the second is the strand.
_PG_STRAND_LOCK = int.from_bytes(b"SBUA", "big") & 0x7FFF_FFFF


@dataclass(frozen=True, slots=True)
class _Claim:
    """A strand held by the caller's transaction, its head and the next global seq."""

    strand: int
    strand_seq: int  # of the head: 0 when the strand is empty
    prev_hash: str
    seq: int | None


def _claim(*, want_seq: bool) -> _Claim:
    """Hold a strand until the caller's transaction ends and read its head.

    PostgreSQL: ``sunbid_audit_claim`` (migration 0003) tries the strands'
    transaction-scoped advisory locks from the one this connection used
    last — which it still holds inside the same transaction, advisory locks
    being re-entrant, so one transaction's events stay on one strand —
    and takes the first free one, or queues on that one when all are busy;
    the global seq comes from a sequence (so it has gaps where a transaction
    rolled back; strand_seq never does). One round trip.
    SQLite: every atomic block starts with BEGIN IMMEDIATE (settings), so the
    one writer already holds the database; one strand, seq without gaps.
    """
    if connection.vendor == "postgresql":
        strands = settings.AUDIT_STRANDS
        preferred = getattr(connection, "_sunbid_audit_strand", None)
        if preferred is None or preferred >= strands:
            preferred = secrets.randbelow(strands)
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT strand, strand_seq, prev_hash, seq FROM sunbid_audit_claim(%s, %s, %s, %s)",
                [_PG_STRAND_LOCK, strands, preferred, want_seq],
            )
            strand, strand_seq, prev_hash, seq = cursor.fetchone()
        connection._sunbid_audit_strand = strand
        return _Claim(strand=strand, strand_seq=strand_seq, prev_hash=prev_hash, seq=seq)
    head = AuditEvent.objects.filter(strand=0).order_by("-strand_seq").values_list("seq", "strand_seq", "hash").first()
    if head is None:
        return _Claim(strand=0, strand_seq=0, prev_hash=GENESIS_HASH, seq=1)
    return _Claim(strand=0, strand_seq=head[1], prev_hash=head[2], seq=head[0] + 1)


def network_address(value: str | None) -> str | None:
    """The address in the one text form both databases store and return unchanged.

    The hash covers the address as stored, and the database rewrites what it
    receives (``2001:0DB8::0001`` comes back as ``2001:db8::1``; PostgreSQL
    and Django spell IPv4-in-IPv6 differently), so a record hashed over the
    raw value would later look altered. IPv4-mapped and IPv4-compatible
    addresses are recorded as the IPv4 address they carry; a value that is no
    address at all is recorded as unknown rather than failing the change.
    """
    if not value:
        return None
    try:
        address = ipaddress.ip_address(value.strip().split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        if int(address) >> 32 == 0 and int(address) > 1:
            return str(ipaddress.IPv4Address(int(address)))
    return str(address)


_USER_AGENT_LENGTH = AuditEvent._meta.get_field("user_agent").max_length


def record(
    action: str,
    *,
    actor: User | None,
    obj: models.Model | None = None,
    data: Mapping[str, Any] | None = None,
    tender_id: int | None = None,
    lot_id: int | None = None,
    sensitivity: str = Sensitivity.PUBLIC,
) -> AuditEvent:
    """Append one event to the chain, in the caller's transaction.

    The caller must be inside ``transaction.atomic()``: the event commits or
    rolls back with the change it describes. ``action`` is dotted
    (``tendering.lot.published``). The tender and lot the event belongs to
    are taken from ``obj.audit_scope()`` when the object has one. Network
    address and client come from ``audit.context``.
    """
    db = connections[DEFAULT_DB_ALIAS]
    if not db.in_atomic_block and not _standalone_ok():
        raise RuntimeError("audit.record must run inside transaction.atomic() with the change it records.")
    if obj is not None and hasattr(obj, "audit_scope"):
        scope_tender, scope_lot = obj.audit_scope()
        tender_id = tender_id if tender_id is not None else scope_tender
        lot_id = lot_id if lot_id is not None else scope_lot
    payload = canonical_json(to_jsonable(dict(data or {})))
    ctx = context.current()
    organisation = getattr(actor, "organisation", None) if actor is not None else None

    now = timezone.now()
    fields: dict[str, Any] = {
        "actor_id": actor.pk if actor is not None else None,
        "actor_name": actor.get_username() if actor is not None else "",
        "organisation_id": organisation.pk if organisation is not None else None,
        "organisation_name": organisation.name if organisation is not None else "",
        "ip": network_address(ctx.ip),
        # Cut to the column's length here, before hashing: PostgreSQL would
        # refuse a longer value, SQLite would keep it in full.
        "user_agent": ctx.user_agent[:_USER_AGENT_LENGTH],
        "action": action,
        "object_type": obj._meta.label_lower if obj is not None else "",
        "object_id": str(obj.pk) if obj is not None else "",
        "tender_id": tender_id,
        "lot_id": lot_id,
        "sensitivity": str(sensitivity),
        "payload": payload,
    }
    head, middle, tail = envelope_parts_v2(time=format_time(now), **fields)
    if db.vendor == "postgresql":
        return _append_postgresql(db, now, fields, head, middle, tail)
    claim = _claim(want_seq=True)
    assert claim.seq is not None
    place = {"seq": claim.seq, "strand": claim.strand, "strand_seq": claim.strand_seq + 1}
    digest = text_hash(join_parts_v2(head, middle, tail, prev_hash=claim.prev_hash, **place))
    return AuditEvent.objects.create(
        created_at=now, format=FORMAT_VERSION, prev_hash=claim.prev_hash, hash=digest, **place, **fields
    )


# Explicit casts: the statement is sent with server-side binding (and prepared by psycopg where
# DB_PREPARE_THRESHOLD allows), so the parameters' types must not depend on the values.
_APPEND_SQL = (
    "SELECT seq, strand, strand_seq, prev_hash, hash FROM sunbid_audit_append("
    "%s::integer, %s::integer, %s::integer, %s::timestamptz, %s::bigint, %s::varchar, %s::bigint, %s::varchar,"
    " %s::inet, %s::varchar, %s::varchar, %s::varchar, %s::varchar, %s::bigint, %s::bigint, %s::varchar,"
    " %s::text, %s::text, %s::text, %s::text)"
)
# The model's columns in their order, for building the returned event positionally (``from_db``).
_COLUMNS = tuple(field.attname for field in AuditEvent._meta.concrete_fields)


def _append_postgresql(
    db: BaseDatabaseWrapper, now: Any, fields: dict[str, Any], head: str, middle: str, tail: str
) -> AuditEvent:
    """Claim, hash and insert in one statement (``sunbid_audit_append``, migrations 0005, 0006).

    The database joins the text exactly as ``join_parts_v2`` does and hashes
    it: the same bytes, one round trip. The statement goes through a
    server-side-binding cursor of the connection's own psycopg connection —
    the same session and transaction as the ORM's — so its values are sent
    as parameters rather than quoted into the text, and where
    ``DB_PREPARE_THRESHOLD`` is set it is prepared once per connection
    (docs/audit.md §5). The returned event is the row as stored.
    """
    import psycopg

    strands = settings.AUDIT_STRANDS
    preferred = getattr(db, "_sunbid_audit_strand", None)
    if preferred is None or preferred >= strands:
        preferred = secrets.randbelow(strands)
    params = (
        _PG_STRAND_LOCK, strands, preferred, now,
        fields["actor_id"], fields["actor_name"], fields["organisation_id"], fields["organisation_name"],
        fields["ip"], fields["user_agent"], fields["action"], fields["object_type"], fields["object_id"],
        fields["tender_id"], fields["lot_id"], fields["sensitivity"], fields["payload"],
        head, middle, tail,
    )
    db.ensure_connection()
    db.validate_no_broken_transaction()
    raw = db.connection
    cached = getattr(db, "_sunbid_audit_cursor", None)
    if cached is None or cached.connection is not raw or cached.closed:
        # One cursor per psycopg connection, kept: the same query object each time lets
        # psycopg reuse its adaptation set-up.
        cached = db._sunbid_audit_cursor = psycopg.Cursor(raw)
    with db.wrap_database_errors:
        cached.execute(_APPEND_SQL, params)
        seq, strand, strand_seq, prev_hash, digest = cached.fetchone()
    db._sunbid_audit_strand = strand
    stored = {**fields, "seq": seq, "created_at": now, "strand": strand, "strand_seq": strand_seq,
              "format": FORMAT_VERSION, "prev_hash": prev_hash, "hash": digest}
    return AuditEvent.from_db(db.alias, None, [stored[name] for name in _COLUMNS])


def chain_head_for_update() -> str:
    """The head of the strand this transaction appends to, held until the transaction ends.

    For a service that mixes the head into something it then records (the
    expert draw's seed): the transaction keeps the strand, and no other
    transaction can append to it meanwhile, so its own next event's
    ``prev_hash`` is the head it read. Caller inside ``transaction.atomic()``.
    """
    if not connection.in_atomic_block:
        raise RuntimeError("chain_head_for_update must run inside transaction.atomic().")
    return _claim(want_seq=False).prev_hash


_standalone = threading.local()


def _standalone_ok() -> bool:
    return getattr(_standalone, "active", False)


def record_standalone(action: str, **kwargs: Any) -> AuditEvent:
    """``record`` in a transaction of its own, for events with no other change (a sign-in, a sign-out).

    On PostgreSQL, outside any transaction, the append is one statement in
    autocommit mode — ``sunbid_audit_append`` claims, hashes and inserts, and
    a single statement is its own transaction — so the event costs one round
    trip instead of three (BEGIN, the append, COMMIT). Elsewhere, or inside a
    caller's transaction, it runs in ``transaction.atomic()``.
    """
    if connection.vendor == "postgresql" and not connection.in_atomic_block and connection.get_autocommit():
        _standalone.active = True
        try:
            return record(action, **kwargs)
        finally:
            _standalone.active = False
    with transaction.atomic():
        return record(action, **kwargs)

