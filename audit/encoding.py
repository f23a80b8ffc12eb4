"""The canonical encoding and hash of an audit event (docs/audit.md).

Standard library only, so that ``audit.verify`` and independent verifiers can
share it. An event's hash is SHA-256 over the UTF-8 bytes of the canonical
JSON of its envelope: keys sorted, no insignificant white space, non-ASCII
characters as themselves, no floats (amounts are decimal strings).
"""

from __future__ import annotations

import datetime as dt
import decimal
import hashlib
import json
import uuid
from collections.abc import Mapping
from typing import Any

# Format 1: one chain (every event linked to the one before it by seq).
# Format 2: the events are spread over strands (docs/audit.md §5), each its own
# chain; the envelope adds ``strand`` and ``strand_seq``. Rows keep the format
# they were written in; new rows are format 2.
FORMAT_VERSION = 2
FORMATS = (1, 2)
GENESIS_HASH = "0" * 64

ENVELOPE_FIELDS = (
    "seq",
    "time",
    "actor_id",
    "actor_name",
    "organisation_id",
    "organisation_name",
    "ip",
    "user_agent",
    "action",
    "object_type",
    "object_id",
    "tender_id",
    "lot_id",
    "sensitivity",
    "payload",
    "prev_hash",
)
STRAND_FIELDS = ("strand", "strand_seq")


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def to_jsonable(value: Any) -> Any:
    """Turn a payload into plain JSON types, refusing what has no exact form."""
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, str):
        value.encode("utf-8")  # refuses lone surrogates, which have no canonical bytes
        return value
    if isinstance(value, float):
        raise TypeError("Audit payloads take no floats: pass Decimal or str for amounts.")
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            raise TypeError("Audit payloads take only timezone-aware datetimes.")
        return format_time(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = [to_jsonable(v) for v in value]
        return sorted(items, key=canonical_json) if isinstance(value, set | frozenset) else items
    raise TypeError(f"Audit payloads cannot hold {type(value).__name__}.")


def format_time(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def envelope(
    *,
    seq: int,
    time: dt.datetime,
    actor_id: int | None,
    actor_name: str,
    organisation_id: int | None,
    organisation_name: str,
    ip: str | None,
    user_agent: str,
    action: str,
    object_type: str,
    object_id: str,
    tender_id: int | None,
    lot_id: int | None,
    sensitivity: str,
    payload: str,
    prev_hash: str,
    format: int = 1,
    strand: int | None = None,
    strand_seq: int | None = None,
) -> dict[str, Any]:
    """The object whose canonical JSON is hashed: format 1, or format 2 with the strand fields."""
    if format not in FORMATS:
        raise ValueError(f"unknown audit format {format!r}")
    env = {
        "v": format,
        "seq": seq,
        "time": format_time(time),
        "actor_id": actor_id,
        "actor_name": actor_name,
        "organisation_id": organisation_id,
        "organisation_name": organisation_name,
        "ip": ip,
        "user_agent": user_agent,
        "action": action,
        "object_type": object_type,
        "object_id": object_id,
        "tender_id": tender_id,
        "lot_id": lot_id,
        "sensitivity": sensitivity,
        "payload": json.loads(payload),
        "prev_hash": prev_hash,
    }
    if format >= 2:
        if not isinstance(strand, int) or not isinstance(strand_seq, int):
            raise TypeError("a format 2 envelope needs its strand and strand_seq")
        env["strand"] = strand
        env["strand_seq"] = strand_seq
    return env


def event_hash(env: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical_json(env).encode("utf-8")).hexdigest()


_quote = json.encoder.encode_basestring  # what json.dumps(ensure_ascii=False) writes for a str


def _text(value: str) -> str:
    return _quote(value)


def _int(value: int | None) -> str:
    if value is None:
        return "null"
    if type(value) is not int:
        raise TypeError("an integer field holds an integer or null")
    return str(value)


def _nullable_text(value: str | None) -> str:
    return "null" if value is None else _quote(value)


def envelope_text_v2(
    *,
    seq: int,
    time: str,
    actor_id: int | None,
    actor_name: str,
    organisation_id: int | None,
    organisation_name: str,
    ip: str | None,
    user_agent: str,
    action: str,
    object_type: str,
    object_id: str,
    tender_id: int | None,
    lot_id: int | None,
    sensitivity: str,
    payload: str,
    prev_hash: str,
    strand: int,
    strand_seq: int,
) -> str:
    """The canonical JSON of a format 2 envelope, written field by field.

    ``time`` is already formatted (``format_time``) and ``payload`` is the
    stored canonical JSON text, placed as it is: for a canonical payload the
    result is exactly ``canonical_json(envelope(format=2, ...))`` — keys in
    code point order — without parsing and re-encoding the payload, which
    makes the writer and the verifiers several times faster. A payload that
    is not canonical gives other bytes, hence another hash: never the
    stored one, unless that hash was forged too (which the signed
    checkpoints catch, docs/audit.md §8).
    """
    head, middle, tail = envelope_parts_v2(
        time=time,
        actor_id=actor_id,
        actor_name=actor_name,
        organisation_id=organisation_id,
        organisation_name=organisation_name,
        ip=ip,
        user_agent=user_agent,
        action=action,
        object_type=object_type,
        object_id=object_id,
        tender_id=tender_id,
        lot_id=lot_id,
        sensitivity=sensitivity,
        payload=payload,
    )
    return join_parts_v2(head, middle, tail, prev_hash=prev_hash, seq=seq, strand=strand, strand_seq=strand_seq)


def envelope_parts_v2(
    *,
    time: str,
    actor_id: int | None,
    actor_name: str,
    organisation_id: int | None,
    organisation_name: str,
    ip: str | None,
    user_agent: str,
    action: str,
    object_type: str,
    object_id: str,
    tender_id: int | None,
    lot_id: int | None,
    sensitivity: str,
    payload: str,
) -> tuple[str, str, str]:
    """A format 2 envelope's text around the four fields only the append itself knows.

    ``head + prev_hash + middle + seq + ',"strand":' + strand +
    ',"strand_seq":' + strand_seq + tail`` (``join_parts_v2``) is the
    canonical text: on PostgreSQL the database joins and hashes it in the
    same statement that claims the strand (docs/audit.md §5).
    """
    head = (
        '{"action":' + _text(action)
        + ',"actor_id":' + _int(actor_id)
        + ',"actor_name":' + _text(actor_name)
        + ',"ip":' + _nullable_text(ip)
        + ',"lot_id":' + _int(lot_id)
        + ',"object_id":' + _text(object_id)
        + ',"object_type":' + _text(object_type)
        + ',"organisation_id":' + _int(organisation_id)
        + ',"organisation_name":' + _text(organisation_name)
        + ',"payload":' + payload
        + ',"prev_hash":"'
    )
    middle = '","sensitivity":' + _text(sensitivity) + ',"seq":'
    tail = (
        ',"tender_id":' + _int(tender_id)
        + ',"time":' + _text(time)
        + ',"user_agent":' + _text(user_agent)
        + ',"v":2}'
    )
    return head, middle, tail


def join_parts_v2(head: str, middle: str, tail: str, *, prev_hash: str, seq: int, strand: int, strand_seq: int) -> str:
    return (
        head + prev_hash + middle + _int(seq)
        + ',"strand":' + _int(strand)
        + ',"strand_seq":' + _int(strand_seq)
        + tail
    )


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
