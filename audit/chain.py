"""Walking the chain: the check behind ``manage.py verify_audit``.

Standard library only (the COPY reader at the end takes a psycopg cursor, or
imports psycopg in a worker process). ``verify_rows`` takes stored rows strand by strand,
in position order, and reports the first record that does not hold: altered
(its hash does not match its content), missing (a gap in its strand: a
deleted record), out of place (its link to the previous record of its strand
is broken: reordered, deleted and renumbered, or inserted), or not in
canonical form. What a chain cannot show — the newest records of a strand
deleted, or every hash rewritten — the Merkle tree and its signed
checkpoints show (``audit.tree``, docs/audit.md §8, §10).
"""

from __future__ import annotations

import binascii
import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import islice
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


# --- the fast walk: rows as PostgreSQL's COPY writes them ------------------------------------
#
# ``verify_rows`` above is the reference. The fast walk below only *certifies* strands: for
# each row whose text fields need no JSON escaping it rebuilds the format 2 envelope from the
# bytes COPY sent, hashes it and checks its place and link; rows it cannot rebuild that way
# (format 1, a field holding a quote, a backslash or a control character) are handed back to
# be hashed by ``_row_hash`` from their database values; a strand where anything does not
# hold, or whose rows arrive out of position order, is handed back whole to be walked by
# ``verify_rows``, which names the failure. So the report is the reference's, always.

#: The columns COPY sends, in order.
COPY_COLUMNS = (
    "strand, strand_seq, format, seq, prev_hash, hash, ip,"
    " COALESCE(actor_id::text, 'null'), COALESCE(organisation_id::text, 'null'),"
    " COALESCE(lot_id::text, 'null'), COALESCE(tender_id::text, 'null'),"
    " action, actor_name, object_id, object_type, organisation_name, sensitivity, user_agent, created_at,"
    " payload"
)
_COPY_NULL = b"\\N"
_GENESIS = GENESIS_HASH.encode()
_MICROSECONDS = b".000000"


@dataclass(slots=True)
class StrandScan:
    """What one pass over a range of rows found in one strand (docs/audit.md §6)."""

    first_position: int
    first_prev: bytes
    last_position: int
    last_hash: bytes
    # The position of its first format 2 record in the range, if any (a format 1 record after it is bad).
    first_v2: int | None = None

    @property
    def count(self) -> int:
        return self.last_position - self.first_position + 1


@dataclass(slots=True)
class RangeScan:
    """The result of ``scan_copy`` over one range of rows."""

    strands: dict[int, StrandScan]
    # Strands where something did not hold: walked again by ``verify_rows``.
    suspect: set[int]
    # Rows to hash from their database values: (seq, strand, position).
    deferred: list[tuple[int, int, int]]
    head_seq: int | None = None
    head_hash: str | None = None


def scan_copy(chunks: Iterable[bytes]) -> RangeScan:
    """Check rows in seq order, as ``COPY (SELECT COPY_COLUMNS … ORDER BY seq) TO STDOUT`` sends them.

    ``chunks`` are pieces of the COPY text stream, cut anywhere. Runs of one
    strand are checked here; where each strand's run starts (position 1 and
    the genesis link, or the end of the run before it) is for the caller to
    check (``stitch``). A row is rebuilt from the bytes as sent: a field that
    JSON would escape (a quote, a control character) gives other bytes than
    the reference, hence a hash that does not match, and such a row — like
    one COPY escaped (a backslash) or one of format 1 — is deferred to be
    hashed from its values. Only a hash that matches certifies a row.
    """
    runs: dict[bytes, list[Any]] = {}  # strand -> [first position, first prev, last position, last hash, first v2]
    suspect: set[bytes] = set()
    deferred: list[tuple[int, int, int]] = []
    defer = deferred.append
    sha256 = hashlib.sha256
    hexlify = binascii.hexlify
    join = b"".join
    last_line = b""
    rest = b""
    for chunk in chunks:
        lines = (rest + chunk).split(b"\n")
        rest = lines.pop()
        if lines:
            last_line = lines[-1]
        for line in lines:
            (strand, position_b, format_b, seq, prev, digest, ip, actor_id, organisation_id, lot_id,
             tender_id, action, actor_name, object_id, object_type, organisation_name, sensitivity,
             user_agent, created, payload) = line.split(b"\t")
            position = int(position_b)
            run = runs.get(strand)
            if run is None:
                runs[strand] = [position, prev, position, digest, position if format_b == b"2" else None]
            elif strand in suspect:
                continue
            elif position != run[2] + 1 or prev != run[3]:
                suspect.add(strand)
                continue
            else:
                run[2] = position
                run[3] = digest
                if run[4] is None and format_b == b"2":
                    run[4] = position
            if format_b != b"2" or (b"\\" in line and (ip != _COPY_NULL or line.count(b"\\") > 1)):
                defer((int(seq), int(strand), position))
                continue
            # created: "2026-11-01 00:00:00.001+00" (UTC, ISO) -> "2026-11-01T00:00:00.001000Z"
            fraction = created[19:-3]
            if len(fraction) != 7:
                fraction = (fraction or b".") + _MICROSECONDS[len(fraction) or 1 :]
            record = join((
                b'{"action":"', action,
                b'","actor_id":', actor_id,
                b',"actor_name":"', actor_name,
                b'","ip":', b"null" if ip == _COPY_NULL else b'"' + ip + b'"',
                b',"lot_id":', lot_id,
                b',"object_id":"', object_id,
                b'","object_type":"', object_type,
                b'","organisation_id":', organisation_id,
                b',"organisation_name":"', organisation_name,
                b'","payload":', payload,
                b',"prev_hash":"', prev,
                b'","sensitivity":"', sensitivity,
                b'","seq":', seq,
                b',"strand":', strand,
                b',"strand_seq":', position_b,
                b',"tender_id":', tender_id,
                b',"time":"', created[:10], b"T", created[11:19], fraction,
                b'Z","user_agent":"', user_agent,
                b'","v":2}',
            ))
            if hexlify(sha256(record).digest()) != digest:
                defer((int(seq), int(strand), position))
    if rest:
        raise ValueError("COPY stream ended inside a row")
    head_seq: int | None = None
    head_hash: str | None = None
    if last_line:  # rows come in seq order: the last is the newest
        fields = last_line.split(b"\t")
        head_seq, head_hash = int(fields[3]), fields[5].decode()
    return RangeScan(
        strands={int(strand): StrandScan(*run) for strand, run in runs.items()},
        suspect={int(strand) for strand in suspect},
        deferred=deferred,
        head_seq=head_seq,
        head_hash=head_hash,
    )


def stitch(scans: Sequence[RangeScan]) -> tuple[dict[int, int], set[int], dict[int, int | None]]:
    """Join the scans of consecutive seq ranges: per strand its row count and first format 2 position, and the suspects.

    A strand's run in each range must carry on from its run in the range
    before (the next position, linked to its last hash) or, where the strand
    first appears, start at position 1 linked to the genesis hash.
    """
    counts: dict[int, int] = {}
    first_v2: dict[int, int | None] = {}
    suspect: set[int] = set()
    last: dict[int, StrandScan] = {}
    for scan in scans:
        suspect |= scan.suspect
        for strand, run in scan.strands.items():
            before = last.get(strand)
            if before is None:
                if run.first_position != 1 or run.first_prev != _GENESIS:
                    suspect.add(strand)
            elif run.first_position != before.last_position + 1 or run.first_prev != before.last_hash:
                suspect.add(strand)
            last[strand] = run
            counts[strand] = counts.get(strand, 0) + run.count
            if first_v2.get(strand) is None:
                first_v2[strand] = run.first_v2
    return counts, suspect, first_v2


def deferred_holds(row: Mapping[str, Any], first_v2: int | None) -> bool:
    """Whether a row the fast walk could not rebuild gives its stored hash (``_row_hash``)."""
    seen_v2 = first_v2 is not None and first_v2 < row["strand_seq"]
    return _row_hash(row, seen_v2) == row["hash"]


# --- reading the rows with COPY (PostgreSQL) -------------------------------------------------

EVENT_TABLE = "audit_auditevent"
_COPY_ROWS = 2048  # rows joined into one block for the scanner


def copy_sql(lo: int, hi: int) -> str:
    """The COPY of the rows with ``lo`` <= seq < ``hi``, in seq order (COPY takes no parameters)."""
    return (
        f"COPY (SELECT {COPY_COLUMNS} FROM {EVENT_TABLE} WHERE seq >= {int(lo)} AND seq < {int(hi)}"
        " ORDER BY seq) TO STDOUT"
    )


def set_copy_session(cursor: Any) -> None:
    """The text forms ``scan_copy`` reads — times in UTC, ISO style — for the rest of the transaction."""
    cursor.execute("SET LOCAL TimeZone = 'UTC'")
    cursor.execute("SET LOCAL DateStyle = 'ISO, YMD'")


def _blocks(copy: Iterable[Any]) -> Iterator[bytes]:
    """psycopg hands COPY data over a row at a time: join them into blocks for the scanner."""
    rows = iter(copy)
    while block := b"".join(islice(rows, _COPY_ROWS)):
        yield block


def scan_copy_range(cursor: Any, lo: int, hi: int) -> RangeScan:
    """``scan_copy`` over the rows ``lo`` <= seq < ``hi``, read with a psycopg cursor in its transaction."""
    with cursor.copy(copy_sql(lo, hi)) as copy:
        return scan_copy(_blocks(copy))


def scan_copy_range_in_process(task: tuple[str, str, int, int]) -> RangeScan:
    """A worker process's range: its own connection, reading in the caller's exported snapshot."""
    import psycopg
    from psycopg import sql

    conninfo, snapshot, lo, hi = task
    with psycopg.connect(conninfo) as conn, conn.cursor() as cursor:
        cursor.execute("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        cursor.execute(sql.SQL("SET TRANSACTION SNAPSHOT {}").format(sql.Literal(snapshot)))
        set_copy_session(cursor)
        scan = scan_copy_range(cursor, lo, hi)
        conn.rollback()
        return scan
