"""Walking the chain: the check behind ``manage.py verify_audit``.

Standard library only. ``verify_rows`` takes stored rows in the order the
database returns them by sequence number and reports the first record that
does not hold: altered (its hash does not match its content), missing (a gap
in the sequence: a deleted record), out of place (its link to the previous
record is broken: reordered, deleted and renumbered, or inserted), or not in
canonical form.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from audit.encoding import ENVELOPE_FIELDS, GENESIS_HASH, canonical_json, envelope, event_hash


@dataclass(frozen=True, slots=True)
class ChainReport:
    ok: bool
    checked: int
    head_seq: int | None
    head_hash: str | None
    bad_seq: int | None = None
    reason: str = ""
    # The key of REASONS, for callers that word the reason themselves (the UI).
    code: str = ""

    def describe(self) -> str:
        if self.ok:
            return f"audit chain intact: {self.checked} records, head #{self.head_seq} {self.head_hash}"
        return f"audit chain broken at #{self.bad_seq}: {self.reason} ({self.checked} records checked before it)"


REASONS = {
    "altered": "record content does not match its hash (altered)",
    "missing": "sequence number missing (record deleted)",
    "unexpected": "sequence number out of place (record inserted or renumbered)",
    "broken_link": "previous-hash link broken (record deleted, inserted or reordered)",
    "not_canonical": "payload is not in canonical form (altered)",
    "bad_hash": "stored hash is not the hash of a record (altered)",
}


def verify_rows(rows: Iterable[Mapping[str, Any]]) -> ChainReport:
    """Verify rows holding the stored fields (``created_at`` for the time)."""
    expected_seq = 1
    prev_hash = GENESIS_HASH
    checked = 0
    for row in rows:
        seq = row["seq"]
        if seq > expected_seq:
            return _broken(checked, expected_seq, "missing", prev_hash)
        if seq < expected_seq:
            return _broken(checked, seq, "unexpected", prev_hash)
        if row["prev_hash"] != prev_hash:
            return _broken(checked, seq, "broken_link", prev_hash)
        if not _is_canonical_payload(row["payload"]):
            return _broken(checked, seq, "not_canonical", prev_hash)
        fields = {name: row[name] for name in ENVELOPE_FIELDS if name != "time"}
        try:
            digest = event_hash(envelope(time=row["created_at"], **fields))
        except (TypeError, ValueError, AttributeError):
            # A field rewritten into something no record can hold (a time
            # that is not a time): report it, never crash the walk.
            return _broken(checked, seq, "altered", prev_hash)
        if digest != row["hash"]:
            return _broken(checked, seq, "altered", prev_hash)
        prev_hash = digest
        expected_seq += 1
        checked += 1
    head = expected_seq - 1 if checked else None
    return ChainReport(ok=True, checked=checked, head_seq=head, head_hash=prev_hash if checked else None)


def _refuse_number(text: str) -> Any:
    raise ValueError(f"non-integer number {text} in a payload")


def _is_canonical_payload(payload: Any) -> bool:
    """A JSON object with integers only, stored exactly as ``canonical_json`` writes it.

    Anything else was not written by ``record`` (tampered text that is not
    JSON, a float, a lone surrogate): a finding, never an exception.
    """
    if not isinstance(payload, str):
        return False
    try:
        value = json.loads(payload, parse_float=_refuse_number, parse_constant=_refuse_number)
        return isinstance(value, dict) and canonical_json(value).encode("utf-8") == payload.encode("utf-8")
    except (ValueError, RecursionError):
        return False


def _broken(checked: int, seq: int, reason: str, prev_hash: str) -> ChainReport:
    return ChainReport(
        ok=False,
        checked=checked,
        head_seq=None,
        head_hash=None,
        bad_seq=seq,
        reason=REASONS[reason],
        code=reason,
    )
