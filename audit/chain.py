"""Walking the chain: the check behind ``manage.py verify_audit``.

Standard library only. ``verify_rows`` takes stored rows strand by strand,
in position order, and reports the first record that does not hold: altered
(its hash does not match its content), missing (a gap in its strand: a
deleted record), out of place (its link to the previous record of its strand
is broken: reordered, deleted and renumbered, or inserted), or not in
canonical form. What a chain cannot show — the newest records of a strand
deleted, or every hash rewritten — the Merkle tree and its signed
checkpoints show (``audit.tree``, docs/audit.md §8, §10).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from audit.encoding import (
    ENVELOPE_FIELDS,
    GENESIS_HASH,
    canonical_json,
    envelope,
    envelope_text_v2,
    event_hash,
    format_time,
    text_hash,
)


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
    strands: int = 0
    bad_strand: int | None = None
    bad_strand_seq: int | None = None

    def describe(self) -> str:
        if self.ok:
            return (
                f"audit chain intact: {self.checked} records in {self.strands} strand(s), "
                f"newest #{self.head_seq} {self.head_hash}"
            )
        where = f"#{self.bad_seq}"
        if self.bad_strand is not None:
            where += f" (strand {self.bad_strand}, position {self.bad_strand_seq})"
        return f"audit chain broken at {where}: {self.reason} ({self.checked} records checked before it)"


REASONS = {
    "altered": "record content does not match its hash (altered)",
    "missing": "the record(s) before it in its strand are missing (deleted)",
    "unexpected": "position in its strand out of place (record inserted or renumbered)",
    "broken_link": "previous-hash link broken (record deleted, inserted or reordered)",
    "not_canonical": "payload is not in canonical form (altered)",
    "bad_hash": "stored hash is not the hash of a record (altered)",
    "bad_format": "unknown record format, or a format 1 record after format 2 ones (altered)",
}

# What verify_rows reads of each row.
ROW_FIELDS = (*ENVELOPE_FIELDS[:1], "created_at", *ENVELOPE_FIELDS[2:], "strand", "strand_seq", "format", "hash")


def verify_rows(rows: Iterable[Mapping[str, Any]]) -> ChainReport:
    """Verify stored rows given in strand order, then position order (``created_at`` for the time).

    Each strand is a chain of its own: positions 1, 2, 3 … without a gap,
    each record linked to the one before it in the strand (the first to the
    genesis hash), each hash the hash of its record. Format 1 records (before
    strands) are strand 0's first positions, their position equal to their seq.
    """
    strand: int | None = None
    expected = 1
    prev_hash = GENESIS_HASH
    seen_v2 = False
    checked = 0
    strands = 0
    head_seq: int | None = None
    head_hash: str | None = None
    for row in rows:
        if row["strand"] != strand:
            strand, expected, prev_hash, seen_v2 = row["strand"], 1, GENESIS_HASH, False
            strands += 1
        position = row["strand_seq"]
        if position > expected:
            return _broken(checked, row, "missing")
        if position < expected:
            return _broken(checked, row, "unexpected")
        if row["prev_hash"] != prev_hash:
            return _broken(checked, row, "broken_link")
        digest = _row_hash(row, seen_v2)
        if digest is None or digest in REASONS:
            return _broken(checked, row, digest or "altered")
        if digest != row["hash"]:
            return _broken(checked, row, "altered")
        seen_v2 = seen_v2 or row["format"] == 2
        prev_hash = digest
        expected += 1
        checked += 1
        if head_seq is None or row["seq"] > head_seq:
            head_seq, head_hash = row["seq"], digest
    return ChainReport(ok=True, checked=checked, head_seq=head_seq, head_hash=head_hash, strands=strands)


def hash_holds(row: Mapping[str, Any]) -> bool:
    """Whether one stored record (the ``ROW_FIELDS`` of its row) still gives its stored hash."""
    return _row_hash(row, seen_v2=False) == row["hash"]


def _row_hash(row: Mapping[str, Any], seen_v2: bool) -> str | None:
    """The hash the row's record should have, a key of REASONS, or None when it cannot be computed."""
    fields = {name: row[name] for name in ENVELOPE_FIELDS if name != "time"}
    try:
        if row["format"] == 1:
            if seen_v2 or row["strand"] != 0 or row["strand_seq"] != row["seq"]:
                return "bad_format"
            if not _is_canonical_payload(row["payload"]):
                return "not_canonical"
            return event_hash(envelope(time=row["created_at"], **fields))
        if row["format"] == 2:
            if not isinstance(row["payload"], str):
                return "not_canonical"
            return text_hash(
                envelope_text_v2(
                    time=format_time(row["created_at"]), strand=row["strand"], strand_seq=row["strand_seq"], **fields
                )
            )
    except (TypeError, ValueError, AttributeError, UnicodeEncodeError):
        # A field rewritten into something no record can hold (a time that is
        # not a time): report it, never crash the walk.
        return None
    return "bad_format"


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


def _broken(checked: int, row: Mapping[str, Any], reason: str) -> ChainReport:
    return ChainReport(
        ok=False,
        checked=checked,
        head_seq=None,
        head_hash=None,
        bad_seq=row["seq"],
        reason=REASONS[reason],
        code=reason,
        bad_strand=row["strand"],
        bad_strand_seq=row["strand_seq"],
    )
