"""Writes to the audit chain. ``record`` is the only way in."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from django.db import connection, models, transaction
from django.utils import timezone

from audit import context
from audit.encoding import GENESIS_HASH, canonical_json, envelope, event_hash, to_jsonable
from audit.models import AuditEvent, Sensitivity

if TYPE_CHECKING:
    from accounts.models import User

# pg_advisory_xact_lock key: "SUNBIDAU" as a 64-bit integer.
_PG_LOCK_KEY = int.from_bytes(b"SUNBIDAU", "big") & 0x7FFF_FFFF_FFFF_FFFF


def _lock_head() -> None:
    """Serialise appenders until the caller's transaction ends.

    PostgreSQL: a transaction-scoped advisory lock. SQLite: every atomic block
    starts with BEGIN IMMEDIATE (settings), so the write lock is already held.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_PG_LOCK_KEY])


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
    if not connection.in_atomic_block:
        raise RuntimeError("audit.record must run inside transaction.atomic() with the change it records.")
    if obj is not None and hasattr(obj, "audit_scope"):
        scope_tender, scope_lot = obj.audit_scope()
        tender_id = tender_id if tender_id is not None else scope_tender
        lot_id = lot_id if lot_id is not None else scope_lot
    payload = canonical_json(to_jsonable(dict(data or {})))
    ctx = context.current()
    organisation = getattr(actor, "organisation", None) if actor is not None else None

    _lock_head()
    head = AuditEvent.objects.order_by("-seq").values_list("seq", "hash").first()
    seq, prev_hash = (head[0] + 1, head[1]) if head else (1, GENESIS_HASH)
    fields: dict[str, Any] = {
        "seq": seq,
        "time": timezone.now(),
        "actor_id": actor.pk if actor is not None else None,
        "actor_name": actor.get_username() if actor is not None else "",
        "organisation_id": organisation.pk if organisation is not None else None,
        "organisation_name": organisation.name if organisation is not None else "",
        "ip": network_address(ctx.ip),
        # Cut to the column's length here, before hashing: PostgreSQL would
        # refuse a longer value, SQLite would keep it in full.
        "user_agent": ctx.user_agent[: AuditEvent._meta.get_field("user_agent").max_length],
        "action": action,
        "object_type": obj._meta.label_lower if obj is not None else "",
        "object_id": str(obj.pk) if obj is not None else "",
        "tender_id": tender_id,
        "lot_id": lot_id,
        "sensitivity": str(sensitivity),
        "payload": payload,
        "prev_hash": prev_hash,
    }
    digest = event_hash(envelope(**fields))
    fields["created_at"] = fields.pop("time")
    return AuditEvent.objects.create(hash=digest, **fields)


def chain_head_for_update() -> str:
    """The hash of the newest event, with other appenders held off until the caller's transaction ends.

    For a service that mixes the head into something it then records (the
    expert draw's seed): no event can slip in between, so its own event's
    ``prev_hash`` is the head it read. Caller inside ``transaction.atomic()``.
    """
    if not connection.in_atomic_block:
        raise RuntimeError("chain_head_for_update must run inside transaction.atomic().")
    _lock_head()
    head = AuditEvent.objects.order_by("-seq").values_list("hash", flat=True).first()
    return head or GENESIS_HASH


def record_standalone(action: str, **kwargs: Any) -> AuditEvent:
    """``record`` in a transaction of its own, for events with no other change (a failed login)."""
    with transaction.atomic():
        return record(action, **kwargs)

