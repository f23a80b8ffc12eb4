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

FORMAT_VERSION = 1
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
) -> dict[str, Any]:
    return {
        "v": FORMAT_VERSION,
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


def event_hash(env: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical_json(env).encode("utf-8")).hexdigest()
