"""Verify an audit bundle offline: ``python -m audit.verify BUNDLE`` (docs/audit.md §13).

Standard library plus ``cryptography`` only, and free of Django: it imports
nothing of the project but ``audit.merkle`` and ``audit.note``, which are the
same. A supervisor, a court's expert or any outsider can run it on a bundle
written by ``manage.py audit_export`` without the platform.

What it checks (docs/audit.md §13.3), each check naming what fails:

* every record of ``events.jsonl``: its frame, its leaf number (its position),
  the SHA-256 of its record bytes against its stated hash, that hash against
  the tree's leaf at that position (``leaves.txt``), its strand's positions and
  links wherever consecutive positions are in the bundle;
* the tree: the root recomputed from the range proof's subtrees and the
  range's leaves against the signed checkpoint, and against every earlier
  checkpoint inside the range;
* every signature (checkpoints, the manifest) with the bundle's key or the key
  given with ``--key``; the inclusion proofs; the consistency proofs between
  consecutive checkpoints; checkpoints kept elsewhere (``--checkpoint``).

It names the first bad record, by leaf index and seq, for any change,
deletion, insertion, reordering or truncation of ``events.jsonl``. Exit
status 0 when everything holds, 1 when something does not, 2 when the input
cannot be checked (missing files, not a bundle, a bad option).

Speed: the records are checked by worker processes over byte ranges of the
file (``--jobs``); a record's hash is SHA-256 of its bytes as they stand in
the line (the line holds the hashed bytes verbatim), so nothing is parsed or
re-encoded on the way. A range in which every line holds is certified a few
hundred lines at a time by C-level passes over them all (_scan_fast); only a
range in which something does not hold is read line by line, which names it
(_scan_careful). The tree's leaves are hashed in aligned blocks whose roots
the main process merges.
"""

from __future__ import annotations

import argparse
import binascii
import gc
import hashlib
import io
import json
import multiprocessing
import os
import re
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import compress, repeat
from operator import add, itemgetter, not_
from pathlib import Path
from typing import Any, NamedTuple

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from audit import merkle
from audit.note import (
    Checkpoint,
    NoteError,
    Verifier,
    key_id,
    open_checkpoint,
    open_note,
    parse_verifier_key,
    verifier_key,
)

BUNDLE_FORMAT = "sunbid-audit-bundle/1"
MANIFEST = "manifest.json"
MANIFEST_NOTE = "manifest.note"
EVENTS = "events.jsonl"
LEAVES = "leaves.txt"
CHECKPOINTS = "checkpoints.txt"
PROOFS = "proofs.json"
KEY_VKEY = "key.vkey"
KEY_PEM = "key.pem"
FILES = (MANIFEST, MANIFEST_NOTE, EVENTS, LEAVES, CHECKPOINTS, PROOFS, KEY_VKEY, KEY_PEM)

#: What follows every note in checkpoints.txt (and in AUDIT_CHECKPOINT_DIR/checkpoints.log).
NOTE_SEPARATOR = "\f\n"
#: One line of leaves.txt: 64 lowercase hex digits and a newline.
LEAF_LINE = 65

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_UNUSABLE = 2

GENESIS_HEX = b"0" * 64

# The frame of a line (docs/audit.md §13.2). A full record: the prefix, then the
# record's canonical bytes verbatim, then "}". A redacted one: the whole line.
_FULL = re.compile(
    rb'\{"leaf":(0|[1-9][0-9]*),"hash":"([0-9a-f]{64})","record":(\{.*\})\}', re.DOTALL
)
_REDACTED = re.compile(
    rb'\{"leaf":(0|[1-9][0-9]*),"hash":"([0-9a-f]{64})","redacted":true,'
    rb'"seq":(-?[1-9][0-9]*|0),"strand":(0|[1-9][0-9]*),"strand_seq":(-?[1-9][0-9]*|0),'
    rb'"prev_hash":"([0-9a-f]{64})"\}'
)
# The end of a canonical envelope, from its own "prev_hash" key: the keys that
# sort after "payload" hold only strings and integers, and no string of
# canonical JSON holds an unescaped quote, so the last ',"prev_hash":"' of the
# record is the envelope's own even when the payload has such a key. Its value
# is the next 64 bytes; _TAIL reads on from there. (A record these patterns
# misread cannot have the hash of an authentic one: its bytes are checked.)
_PREV_KEY = b',"prev_hash":"'
_TAIL = re.compile(
    rb'","sensitivity":"[^"\\]*(?:\\.[^"\\]*)*",'
    rb'"seq":(0|-?[1-9][0-9]*)(?:,"strand":(0|[1-9][0-9]*),"strand_seq":(0|-?[1-9][0-9]*))?,"tender_id":'
)
_V1_END = b',"v":1}'
_V2_END = b',"v":2}'

# The fast path (_scan_fast) reads format 2 records and redacted lines as the
# careful reading does, with its patterns made stricter in places (format 2
# only, positions from 1, a sensitivity without escapes) and looser only where
# a check of the group is cheaper than the pattern and holds it to the same:
# "." for a hash's hex digits (a record's hash is held to its SHA-256, a
# redacted line's to hex digits), [0-9]+ for a leaf number (held to its place).
# It reads many lines at once with C-level passes, and only ever certifies
# lines in which the careful reading (_scan_careful) would find nothing, with
# the same result; any other chunk is read carefully. _LINE: a line with its
# newline; leaf, hash, then for a full record the record, for a redacted line
# its seq, strand, position and prev_hash.
_LINE = re.compile(
    rb'\{"leaf":([0-9]+),"hash":"(.{64})",(?:"record":(\{.*,"v":2\})\}'
    rb'|"redacted":true,"seq":(-?[1-9][0-9]*|0),"strand":(0|[1-9][0-9]*),"strand_seq":([1-9][0-9]*),'
    rb'"prev_hash":"([0-9a-f]{64})"\})\n',
    re.DOTALL,
)
# _TAIL from the value of a record's last _PREV_KEY on: prev_hash, seq, strand, position.
_TAIL_AFTER_KEY = re.compile(
    rb'(.{64})","sensitivity":"[^"\\]*",'
    rb'"seq":(0|-?[1-9][0-9]*),"strand":(0|[1-9][0-9]*),"strand_seq":([1-9][0-9]*),"tender_id":',
    re.DOTALL,
)
_NO_TAIL = re.compile(b"()()()()").match(b"")  # stands for a redacted line's tail: empty groups
_GROUPS = re.Match.groups
_COLUMN = [itemgetter(k) for k in range(_LINE.groups)]  # the k-th group of a row of groups
# The bytes of lines _scan_fast certifies at a time (about 300 lines), whose
# objects are then still in the processor's cache from one pass to the next.
_BATCH_BYTES = 256 * 1024
_SHA256 = hashlib.sha256()  # copied for each record: cheaper than a new OpenSSL hash
# Whether chunks may be certified by the fast path (tests turn it off to compare).
_FAST_PATH = True

# Aligned blocks of leaves hashed by one task: 2**16 leaves, one perfect subtree.
_BLOCK_LEVEL = 16
_CHUNK_BYTES = 24 * 1024 * 1024
# Below this many bytes of records the pool costs more than it saves.
_PARALLEL_MIN_BYTES = 8 * 1024 * 1024


def full_line(leaf: int, event_hash: str, record: str) -> str:
    """A line of events.jsonl showing a record: ``record`` is the exact text that was hashed."""
    return f'{{"leaf":{leaf},"hash":"{event_hash}","record":{record}}}\n'


def redacted_line(
    leaf: int, event_hash: str, seq: int, strand: int, strand_seq: int, prev_hash: str
) -> str:
    """A line of events.jsonl standing for a record that is not shown: its place, links and hash only."""
    return (
        f'{{"leaf":{leaf},"hash":"{event_hash}","redacted":true,"seq":{seq},'
        f'"strand":{strand},"strand_seq":{strand_seq},"prev_hash":"{prev_hash}"}}\n'
    )


class Unusable(Exception):
    """The input cannot be checked at all (exit status 2)."""


# --- findings and the report ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Finding:
    """Something that does not hold. Record findings carry the line (0-based) they are about."""

    message: str
    line: int | None = None
    leaf: int | None = None
    seq: int | None = None
    code: str = ""
    # An external checkpoint the bundle has nothing to compare with: not evidence
    # of tampering, but the requested check could not be made (exit status 2).
    uncheckable: bool = False

    def where(self) -> str:
        parts = []
        if self.leaf is not None:
            parts.append(f"leaf {self.leaf}")
        if self.seq is not None:
            parts.append(f"seq {self.seq}")
        if self.line is not None:
            parts.append(f"line {self.line + 1} of {EVENTS}")
        return ", ".join(parts)


@dataclass
class Report:
    records: list[Finding] = field(default_factory=list)
    bundle: list[Finding] = field(default_factory=list)
    facts: list[str] = field(default_factory=list)

    @property
    def first_bad(self) -> Finding | None:
        located = [f for f in self.records if f.line is not None]
        if not located:
            return self.records[0] if self.records else None
        return min(located, key=lambda f: f.line)  # min keeps the first of equal lines

    @property
    def ok(self) -> bool:
        return not self.records and not self.bundle

    def exit_status(self) -> int:
        if self.ok:
            return EXIT_OK
        if not self.records and all(f.uncheckable for f in self.bundle):
            return EXIT_UNUSABLE
        return EXIT_FAILED

    def render(self) -> str:
        out = list(self.facts)
        first = self.first_bad
        if first is not None:
            out.append("")
            out.append(f"FIRST BAD RECORD: {first.where()}: {first.message}")
        others = [f for f in self.records if f is not first]
        if others or self.bundle:
            out.append("")
            out.append("Findings:" if first is None else "Other findings:")
            for finding in others[:50]:
                out.append(f"  - {finding.where()}: {finding.message}")
            if len(others) > 50:
                out.append(f"  - … and {len(others) - 50} more record findings")
            for finding in self.bundle:
                out.append(f"  - {finding.message}")
        out.append("")
        status = self.exit_status()
        if status == EXIT_OK:
            out.append("RESULT: OK — every record, proof and signature in the bundle holds.")
        elif status == EXIT_UNUSABLE:
            out.append("RESULT: NOT CHECKED — see the findings above.")
        else:
            count = len(self.records) + len(self.bundle)
            out.append(
                f"RESULT: FAILED — {count} finding(s); the bundle is not an intact copy of the signed log."
            )
        return "\n".join(out) + "\n"


# --- the bundle's small files -----------------------------------------------------------


class Subtree(NamedTuple):
    level: int
    index: int
    hash: bytes


@dataclass(frozen=True, slots=True)
class SignedCheckpoint:
    """A checkpoint note and what it says; ``error`` when it did not open."""

    ordinal: int  # 1-based position in its file
    source: str
    note: str
    checkpoint: Checkpoint | None
    error: str = ""

    @property
    def size(self) -> int | None:
        return self.checkpoint.size if self.checkpoint else None

    def label(self) -> str:
        size = f" (tree size {self.checkpoint.size})" if self.checkpoint else ""
        return f"checkpoint {self.ordinal} of {self.source}{size}"


@dataclass(frozen=True, slots=True)
class Manifest:
    text: str
    origin: str
    first: int
    last: int
    size: int
    root: bytes
    scope: dict[str, Any]
    lines: int
    raw: dict[str, Any]


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise Unusable(
            f"{path.name} is missing: {path.parent} is not a complete audit bundle."
        ) from None
    except UnicodeDecodeError:
        raise Unusable(f"{path.name} is not UTF-8 text.") from None


def _int(value: Any, what: str) -> int:
    if type(value) is not int:
        raise Unusable(f"{what} is not an integer.")
    return value


def _hex32(value: Any, what: str) -> bytes:
    if not isinstance(value, str) or not re.fullmatch(r"[0-9a-f]{64}", value):
        raise Unusable(f"{what} is not 64 lowercase hexadecimal digits.")
    return bytes.fromhex(value)


def load_manifest(bundle: Path) -> Manifest:
    if not bundle.is_dir():
        raise Unusable(
            f"{bundle} is not a directory: a bundle is the directory audit_export wrote."
        )
    text = _read_text(bundle / MANIFEST)
    try:
        raw = json.loads(text)
    except ValueError:
        raise Unusable(f"{MANIFEST} is not JSON: not an audit bundle.") from None
    if not isinstance(raw, dict) or raw.get("format") != BUNDLE_FORMAT:
        found = raw.get("format") if isinstance(raw, dict) else None
        raise Unusable(
            f"{MANIFEST} does not say format {BUNDLE_FORMAT!r} (found {found!r}): not a bundle this verifier reads."
        )
    try:
        leaves = raw["leaves"]
        checkpoint = raw["checkpoint"]
        manifest = Manifest(
            text=text,
            origin=raw["origin"],
            first=_int(leaves["first"], "manifest leaves.first"),
            last=_int(leaves["last"], "manifest leaves.last"),
            size=_int(checkpoint["size"], "manifest checkpoint.size"),
            root=_hex32(checkpoint["root"], "manifest checkpoint.root"),
            scope=raw["scope"],
            lines=_int(raw["records"]["lines"], "manifest records.lines"),
            raw=raw,
        )
    except (KeyError, TypeError):
        raise Unusable(
            f"{MANIFEST} lacks a field of {BUNDLE_FORMAT} (docs/audit.md §13.1)."
        ) from None
    if not isinstance(manifest.origin, str) or not manifest.origin:
        raise Unusable(f"{MANIFEST} has no origin.")
    if not 0 <= manifest.first <= manifest.last < manifest.size:
        raise Unusable(
            f"{MANIFEST}: leaves [{manifest.first}, {manifest.last}] are not inside a tree of {manifest.size}."
        )
    return manifest


def split_notes(text: str, source: str) -> list[str]:
    """The notes of checkpoints.txt: each followed by a line holding one form feed."""
    if not text:
        return []
    if not text.endswith(NOTE_SEPARATOR):
        raise Unusable(f"{source} does not end with the form-feed line that follows every note.")
    return text[: -len(NOTE_SEPARATOR)].split(NOTE_SEPARATOR)


def find_notes(text: str, origin: str) -> list[str]:
    """Every checkpoint note of ``origin`` in a text: a .note file, checkpoints.log, a saved e-mail."""
    text = text.replace("\r\n", "\n")
    pattern = re.compile(r"(?m)^" + re.escape(origin) + r"\n(?:[^\n]+\n){2,}\n(?:\u2014 [^\n]+\n)+")
    return [match.group() for match in pattern.finditer(text)]


def open_checkpoints(
    notes: Sequence[str], source: str, verifier: Verifier, origin: str
) -> list[SignedCheckpoint]:
    opened = []
    for ordinal, note in enumerate(notes, start=1):
        try:
            checkpoint, names = open_checkpoint(note, [verifier])
            if checkpoint.origin != origin:
                raise NoteError(f"its origin is {checkpoint.origin!r}, not the bundle's {origin!r}")
            if origin not in names:
                raise NoteError(f"it is not signed by the key named {origin!r}")
        except NoteError as exc:
            opened.append(SignedCheckpoint(ordinal, source, note, None, str(exc)))
            continue
        opened.append(SignedCheckpoint(ordinal, source, note, checkpoint))
    return opened


def load_key(
    bundle: Path, origin: str, key_file: Path | None
) -> tuple[Verifier, str, list[Finding]]:
    """The key that must have signed: ``--key``'s, else the bundle's own; with how to describe it."""
    findings: list[Finding] = []
    vkey_text = _read_text(bundle / KEY_VKEY).strip()
    pem_text = _read_text(bundle / KEY_PEM)
    try:
        bundle_key = parse_verifier_key(vkey_text)
    except NoteError as exc:
        raise Unusable(f"{KEY_VKEY} is not a verifier key: {exc}") from None
    try:
        pem_key = serialization.load_pem_public_key(pem_text.encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        pem_key = None
    if not isinstance(pem_key, Ed25519PublicKey) or _raw(pem_key) != _raw(bundle_key.public_key):
        findings.append(
            Finding(f"{KEY_PEM} is not the same public key as {KEY_VKEY}.", code="key_mismatch")
        )
    if key_file is None:
        verifier = bundle_key
        how = (
            f"the bundle's own {KEY_VKEY} — this shows the bundle is consistent with itself, not that the "
            "platform made it: compare the fingerprint with the platform's published key, or pass --key"
        )
    else:
        verifier = _key_from_file(key_file, origin)
        how = f"the key given with --key ({key_file})"
        if _raw(verifier.public_key) != _raw(bundle_key.public_key):
            findings.append(
                Finding(
                    f"the bundle's {KEY_VKEY} is not the key given with --key: the bundle claims another signer.",
                    code="key_not_platform",
                )
            )
    if verifier.name != origin:
        raise Unusable(f"the key is named {verifier.name!r}, but the bundle's log is {origin!r}.")
    return verifier, how, findings


def _key_from_file(path: Path, origin: str) -> Verifier:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise Unusable(f"--key {path}: cannot read it ({exc}).") from None
    if "-----BEGIN" in text:
        try:
            public = serialization.load_pem_public_key(text.encode("ascii"))
        except (ValueError, UnicodeEncodeError):
            raise Unusable(f"--key {path} is not a PEM public key.") from None
        if not isinstance(public, Ed25519PublicKey):
            raise Unusable(f"--key {path} is not an Ed25519 public key.")
        return Verifier(origin, key_id(origin, public), public)
    try:
        return parse_verifier_key(text.strip())
    except NoteError as exc:
        raise Unusable(
            f"--key {path} is neither a PEM public key nor a verifier key: {exc}"
        ) from None


def _raw(public: Ed25519PublicKey) -> bytes:
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def fingerprint(public: Ed25519PublicKey) -> str:
    """SHA-256 of the SubjectPublicKeyInfo DER, hex: the platform's published key fingerprint."""
    der = public.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(der).hexdigest()


@dataclass(frozen=True, slots=True)
class Proofs:
    first: int
    last: int
    size: int
    root: bytes
    left: list[Subtree]
    right: list[Subtree]
    inclusion: list[dict[str, Any]]
    consistency: list[dict[str, Any]]


def load_proofs(bundle: Path) -> Proofs:
    try:
        raw = json.loads(_read_text(bundle / PROOFS))
        rng = raw["range"]
        return Proofs(
            first=_int(rng["first"], "proofs range.first"),
            last=_int(rng["last"], "proofs range.last"),
            size=_int(raw["tree_size"], "proofs tree_size"),
            root=_hex32(raw["root"], "proofs root"),
            left=[_subtree(item) for item in rng["left"]],
            right=[_subtree(item) for item in rng["right"]],
            inclusion=list(raw["inclusion"]),
            consistency=list(raw["consistency"]),
        )
    except (ValueError, KeyError, TypeError):
        raise Unusable(
            f"{PROOFS} is not the proofs file of {BUNDLE_FORMAT} (docs/audit.md §13.1)."
        ) from None


def _subtree(item: Any) -> Subtree:
    return Subtree(
        _int(item["level"], "subtree level"),
        _int(item["index"], "subtree index"),
        _hex32(item["hash"], "subtree hash"),
    )


# --- the records: one pass over events.jsonl, in parallel -------------------------------


@dataclass(frozen=True, slots=True)
class _Chunk:
    """A byte range of events.jsonl made of whole lines, checked by one task."""

    path: str
    start: int
    end: int
    wanted: frozenset[int]  # leaves whose seq and hash the inclusion proofs need


# A problem found inside one chunk: (line in the chunk, seq, code, message). "{leaf}"
# in the message stands for the leaf that the line's position in the file holds,
# which only the main process knows (it adds up the chunks' line counts).
_Problem = tuple[int, int | None, str, str]


@dataclass
class _ChunkResult:
    lines: int = 0
    full: int = 0
    redacted: int = 0
    # The leaf number the chunk's lines claim for its first line, and the line that said so.
    base: int | None = None
    base_line: int = 0
    base_seq: int | None = None
    problem: _Problem | None = None
    # Per strand, its first record in the chunk: (position, prev_hash hex, line, seq, format or 0 if redacted);
    # its last: (position, hash hex, line, seq, whether a format 2 record was seen).
    firsts: dict[int, tuple[int, bytes, int, int, int]] = field(default_factory=dict)
    lasts: dict[int, tuple[int, bytes, int, int, bool]] = field(default_factory=dict)
    wanted: dict[int, tuple[int, bytes, bool]] = field(
        default_factory=dict
    )  # leaf: (seq, hash hex, full)
    hashes: bytes = b""  # every line's stated hash in hex, 64 bytes a line, for leaves.txt
    fast: bool = False  # certified by _scan_fast, without reading line by line


def _scan(chunk: _Chunk) -> _ChunkResult:
    """Check the records of one chunk of events.jsonl: certified at once if it holds, else read line by line."""
    with open(chunk.path, "rb") as handle:
        handle.seek(chunk.start)
        data = handle.read(chunk.end - chunk.start)
    # Both readings make hundreds of thousands of objects, none of them in a cycle:
    # the cyclic collector would only walk them again and again.
    collecting = gc.isenabled()
    gc.disable()
    try:
        result = _scan_fast(data, chunk.wanted) if _FAST_PATH else None
        if result is None:
            result = _scan_careful(data, chunk.wanted)
    finally:
        if collecting:
            gc.enable()
    return result


@dataclass
class _Run:
    """What :func:`_scan_fast` carries from one batch of lines to the next."""

    result: _ChunkResult = field(default_factory=lambda: _ChunkResult(fast=True))
    # Per strand (its number as written), its last line so far: (position, hash hex, line, seq as written).
    last: dict[bytes, tuple[int, bytes, int, bytes]] = field(default_factory=dict)
    shown: set[bytes] = field(default_factory=set)  # the strands with a full record so far
    hashes: list[bytes] = field(default_factory=list)


def _scan_fast(data: bytes, wanted: frozenset[int]) -> _ChunkResult | None:
    """The result of :func:`_scan_careful` for a chunk in which it finds nothing; None for any other chunk.

    The chunk is certified in batches of whole lines (:func:`_certify`), small
    enough that the objects each pass makes are still in the processor's
    cache for the next pass; the strands are followed from batch to batch.
    """
    run = _Run()
    lines = io.BytesIO(data).readlines  # memchr-fast, unlike bytes.split
    while batch := lines(_BATCH_BYTES):
        if not _certify(batch, wanted, run):
            return None
    result = run.result
    for strand, (position, stated_hash, line, seq) in run.last.items():
        seen_v2 = strand in run.shown
        result.lasts[int(strand)] = (position, stated_hash, line, int(seq), seen_v2)
    result.hashes = b"".join(run.hashes)
    return result


def _digits(end: int) -> int:
    """How many digits the numbers from 0 to ``end`` (excluded) take, written in decimal."""
    total, low, width = 0, 0, 1
    while low < end:
        high = min(end, 10**width)
        total += (high - low) * width
        low, width = high, width + 1
    return total


def _seq(tail: tuple[bytes, ...], row: tuple[bytes, ...]) -> int:
    return int(tail[1] or row[3])  # a full record's seq, or a redacted line's


def _certify(lines: list[bytes], wanted: frozenset[int], run: _Run) -> bool:
    """Whether the careful reading, run on from the lines before, finds nothing in these lines.

    If so their part of the result is added to ``run``. Each check is made of
    C-level passes over all the lines (``map`` of the patterns' and bytes'
    methods, joins, list operations) or one loop, and holds exactly when the
    careful reading's per-line checks hold on every line:

    * every line is a frame (_LINE), a full record's tail is read after its
      last _PREV_KEY and is format 2's (_TAIL_AFTER_KEY, and the record ends as
      format 2 records do);
    * the SHA-256 of every record is its stated hash (so that hash is lowercase
      hex), a redacted line's hash is lowercase hex;
    * the leaf numbers, as written, are those from the chunk's first line's on;
    * within each strand, every line's position is its strand's previous
      line's plus one and its prev_hash that line's hash; a strand's first line
      at position 1 links to the genesis hash (the others are past position 1).
    """
    n = len(lines)
    frames = list(map(_LINE.fullmatch, lines))
    if None in frames:
        return False  # not a frame, or the chunk's last line has no newline
    rows = list(map(_GROUPS, frames, repeat(b"")))
    leaves = list(map(_COLUMN[0], rows))
    hashes = list(map(_COLUMN[1], rows))
    records = list(map(_COLUMN[2], rows))
    redacted = records.count(b"")
    full = n - redacted
    full_records = list(compress(records, records)) if redacted else records
    keys = list(map(bytes.rfind, full_records, repeat(_PREV_KEY)))
    if -1 in keys:
        return False
    if redacted:  # a redacted line's tail: none, 0 + len(key) on b"" does not match
        keys = list(map(bytes.rfind, records, repeat(_PREV_KEY)))
    tails = list(map(_TAIL_AFTER_KEY.match, records, map(add, keys, repeat(len(_PREV_KEY)))))
    if tails.count(None) != redacted:
        return False
    if redacted:
        tails = list(map({None: _NO_TAIL}.get, tails, tails))
    tail_rows = list(map(_GROUPS, tails))

    # Every record's SHA-256 is its stated hash.
    if redacted:
        stated = b"".join(compress(hashes, records))
        if not _is_hex(b"".join(compress(hashes, map(not_, records)))):
            return False
    else:
        stated = b"".join(hashes)
    digests: list[bytes] = []
    append = digests.append
    fresh = _SHA256.copy
    for record in full_records:
        h = fresh()
        h.update(record)
        append(h.digest())
    if binascii.hexlify(b"".join(digests)) != stated:
        return False

    # The leaf numbers run on from the chunk's first line's, written as numbers are.
    result = run.result
    offset = result.lines
    base = int(leaves[0])
    if not offset:
        result.base, result.base_line, result.base_seq = base, 0, _seq(tail_rows[0], rows[0])
    elif base != result.base + offset:
        return False
    if list(map(int, leaves)) != list(range(base, base + n)):
        return False
    if sum(map(len, leaves)) != _digits(base + n) - _digits(base):
        return False  # a leading zero

    # The strands, as the careful reading follows them: each line's position is
    # its strand's last one plus one, its prev_hash that line's hash.
    prevs = list(map(_COLUMN[0], tail_rows))
    seqs = map(_COLUMN[1], tail_rows)
    strands = list(map(_COLUMN[2], tail_rows))
    positions = map(int, map(_COLUMN[3], tail_rows))
    if redacted:  # a full record's values, or a redacted line's
        prevs = list(map(add, prevs, map(_COLUMN[6], rows)))
        seqs = map(add, map(_COLUMN[1], tail_rows), map(_COLUMN[3], rows))
        strands = list(map(add, strands, map(_COLUMN[4], rows)))
        positions = map(int, map(add, map(_COLUMN[3], tail_rows), map(_COLUMN[5], rows)))
    last = run.last
    heads: list[tuple[int, int]] = []  # (line in the batch, position): the strands new to the chunk
    for j, strand, position, prev, stated_hash, seq in zip(
        range(offset, offset + n), strands, positions, prevs, hashes, seqs, strict=True
    ):
        state = last.get(strand)
        if state is None:
            heads.append((j - offset, position))
        elif position != state[0] + 1 or prev != state[1]:
            return False
        last[strand] = (position, stated_hash, j, seq)
    for k, position in heads:
        prev = prevs[k]
        if position == 1 and prev != GENESIS_HEX:
            return False
        version = 2 if records[k] else 0
        seq = _seq(tail_rows[k], rows[k])
        result.firsts[int(strands[k])] = (position, prev, offset + k, seq, version)
    if redacted:
        run.shown.update(compress(strands, records))
    elif len(run.shown) < len(last):
        run.shown.update(strands)

    if wanted:
        stop = base + n
        hits = (
            [leaf for leaf in wanted if base <= leaf < stop]
            if len(wanted) <= n
            else wanted.intersection(range(base, stop))
        )
        for leaf in sorted(hits):
            k = leaf - base
            result.wanted[leaf] = (_seq(tail_rows[k], rows[k]), hashes[k], bool(records[k]))
    run.hashes.append(stated if not redacted else b"".join(hashes))
    result.lines += n
    result.full += full
    result.redacted += redacted
    return True


def _is_hex(text: bytes) -> bool:
    """Whether ``text`` is lowercase hexadecimal digits, two a byte."""
    try:
        binascii.unhexlify(text)
    except (binascii.Error, ValueError):
        return False
    return text == text.lower()


def _scan_careful(data: bytes, wanted: frozenset[int]) -> _ChunkResult:
    """Check the records of one chunk of events.jsonl line by line, naming the first problem.

    It keeps to C-level operations where it can (one frame match, one short
    anchored match of the envelope's link fields, one SHA-256, byte
    comparisons) and converts numbers only where it compares them. Only the
    first problem of the chunk is kept; no later one can be the first bad
    record.
    """
    lines = data.split(b"\n")
    unterminated = lines.pop()  # b"" when the chunk ends with a newline, as it must
    if unterminated:
        lines.append(unterminated)
    result = _ChunkResult()

    full_match = _FULL.fullmatch
    redacted_match = _REDACTED.match
    tail_match = _TAIL.match
    sha256 = hashlib.sha256
    hexlify = binascii.hexlify
    firsts = result.firsts
    lasts = result.lasts
    keep: list[bytes] = []
    remember = keep.append
    problem: _Problem | None = None
    full = redacted = 0
    base: int | None = None

    def note(j: int, seq: int | bytes | None, code: str, message: str) -> None:
        nonlocal problem
        if problem is None or j < problem[0]:
            problem = (j, None if seq is None else int(seq), code, message)

    if unterminated:
        note(
            len(lines) - 1,
            None,
            "malformed",
            f"the last line of {EVENTS} does not end with a newline (the file was cut short)",
        )

    for j, line in enumerate(lines):
        m = full_match(line)
        if m is not None:
            leaf, claimed_hex, record = m.groups()
            remember(claimed_hex)
            at = record.rfind(_PREV_KEY) + 14
            tail = tail_match(record, at + 64) if at > 14 else None
            if tail is None:
                note(j, None, "malformed", "the record is not a canonical audit envelope")
                continue
            full += 1
            prev_hex = record[at : at + 64]
            seq, strand, position = tail.groups()
            ending = record[-7:]
            if strand is not None and ending == _V2_END:
                is_v2 = True
                strand = int(strand)
                position = int(position)
            elif strand is None and ending == _V1_END:
                is_v2 = False
                strand, position = 0, int(seq)
            else:
                note(j, seq, "bad_format", "unknown record format")
                continue
            if hexlify(sha256(record).digest()) != claimed_hex:
                note(j, seq, "altered", "the record's content does not match its hash (altered)")
        else:
            m = redacted_match(line)
            if m is None or m.end() != len(line):
                remember(b" " * 64)
                note(j, None, "malformed", "the line is not a bundle record (docs/audit.md §13.2)")
                continue
            redacted += 1
            leaf, claimed_hex, seq, strand, position, prev_hex = m.groups()
            remember(claimed_hex)
            strand = int(strand)
            position = int(position)
            is_v2 = None  # unknown: its format is not shown
        if base is None:
            base = int(leaf) - j
            result.base, result.base_line, result.base_seq = base, j, int(seq)
        elif int(leaf) != base + j:
            if int(leaf) > base + j:
                note(
                    j,
                    None,
                    "leaf_missing",
                    f"leaf {{leaf}} is not in its place: the line there is leaf {int(leaf)} (seq {int(seq)}) "
                    "— a record deleted, or records reordered",
                )
            else:
                note(
                    j,
                    seq,
                    "leaf_out_of_place",
                    f"the line in the place of leaf {{leaf}} says leaf {int(leaf)} "
                    "(a record inserted, repeated or moved here)",
                )
        state = lasts.get(strand)
        if state is None:
            firsts[strand] = (
                position,
                prev_hex,
                j,
                int(seq),
                0 if is_v2 is None else (2 if is_v2 else 1),
            )
            seen_v2 = bool(is_v2)
        else:
            last_position, last_hash, _last_line, last_seq, seen_v2 = state
            if position != last_position + 1:
                if position > last_position + 1:
                    note(
                        j,
                        seq,
                        "missing",
                        f"strand {strand} jumps from position {last_position} (seq {int(last_seq)}) to {position}: "
                        "the record(s) between are not here (deleted, or moved)",
                    )
                else:
                    note(
                        j,
                        seq,
                        "unexpected",
                        f"strand {strand} position {position} after position {last_position} (seq {int(last_seq)}): "
                        "a record inserted, repeated or reordered",
                    )
            elif prev_hex != last_hash:
                note(
                    j,
                    seq,
                    "broken_link",
                    f"its previous-hash link does not match the hash of the record before it in strand {strand} "
                    f"(seq {int(last_seq)}): a record deleted, inserted or reordered",
                )
            if is_v2 is False and seen_v2:
                note(j, seq, "bad_format", "a format 1 record after format 2 records in its strand")
            elif is_v2:
                seen_v2 = True
        if position == 1 and prev_hex != GENESIS_HEX:
            note(
                j,
                seq,
                "broken_link",
                f"the first record of strand {strand} does not link to the genesis hash",
            )
        elif position < 1:
            note(j, seq, "unexpected", f"position {position} in strand {strand} is not a position")
        if is_v2 is False and (strand != 0 or position != int(seq)):
            note(
                j,
                seq,
                "bad_format",
                "a format 1 record off strand 0, or with a position other than its seq",
            )
        lasts[strand] = (position, claimed_hex, j, seq, seen_v2)
        if wanted and int(leaf) in wanted:
            result.wanted[int(leaf)] = (int(seq), claimed_hex, is_v2 is not None)
    result.lines = len(lines)
    result.full = full
    result.redacted = redacted
    result.problem = problem
    result.lasts = {k: (v[0], v[1], v[2], int(v[3]), v[4]) for k, v in lasts.items()}
    result.hashes = b"".join(keep)
    return result


def _line_seq(path: Path, start: int, end: int, j: int) -> int | None:
    """The seq line ``j`` of a chunk states, if it can be read: for naming a record on the failure path."""
    with open(path, "rb") as handle:
        handle.seek(start)
        lines = handle.read(end - start).split(b"\n")
    if j >= len(lines):
        return None
    line = lines[j]
    m = _FULL.fullmatch(line)
    if m is not None:
        record = m.group(3)
        at = record.rfind(_PREV_KEY) + 14
        tail = _TAIL.match(record, at + 64) if at > 14 else None
        return int(tail.group(1)) if tail else None
    m = _REDACTED.match(line)
    return int(m.group(3)) if m else None


def _chunks(path: Path, jobs: int) -> list[tuple[int, int]]:
    """Byte ranges of whole lines, at most about _CHUNK_BYTES each, at least one per job."""
    size = path.stat().st_size
    if size == 0:
        return []
    pieces = max(jobs, -(-size // _CHUNK_BYTES))  # bounded memory even with one process
    bounds = [0]
    with open(path, "rb") as handle:
        for k in range(1, pieces):
            target = max(bounds[-1], size * k // pieces)
            handle.seek(target)
            handle.readline()  # to the end of the line the target falls in
            position = handle.tell()
            if position >= size:
                break
            if position > bounds[-1]:
                bounds.append(position)
    bounds.append(size)
    return list(zip(bounds, bounds[1:], strict=False))


# --- the tree: leaves.txt hashed in aligned blocks --------------------------------------


def _leaf_block(
    task: tuple[str, int, int, int, tuple[int, ...]],
) -> tuple[list[Subtree], int | None]:
    """The perfect subtrees of leaves [lo, hi) (positions from ``first``), cut at ``cuts``.

    Returns the subtrees and, if a line of leaves.txt is not a hash, its position.
    """
    path, first, lo, hi, cuts = task
    with open(path, "rb") as handle:
        handle.seek(lo * LEAF_LINE)
        data = handle.read((hi - lo) * LEAF_LINE)
    try:
        raw = binascii.unhexlify(data.replace(b"\n", b""))
    except (binascii.Error, ValueError):
        raw = None
    if raw is None or len(raw) != 32 * (hi - lo) or data[64::LEAF_LINE] != b"\n" * (hi - lo):
        for k in range(hi - lo):
            entry = data[k * LEAF_LINE : (k + 1) * LEAF_LINE]
            if not re.fullmatch(rb"[0-9a-f]{64}\n", entry):
                return [], lo + k
        return [], lo
    subtrees: list[Subtree] = []
    start = first + lo
    bounds = [c for c in cuts if first + lo < c < first + hi]
    for end in [*bounds, first + hi]:
        for level, index in merkle.perfect_subtrees(start, end):
            root = _perfect_root(raw, (index << level) - first - lo, level)
            subtrees.append(Subtree(level, index, root))
        start = end
    return subtrees, None


# Leaves hashed at a time by _perfect_root: their hashes stay in cache for the nodes above.
_LEAF_RUN = 1024
_LEAF_SHA256 = hashlib.sha256(b"\x00")  # copied for each leaf: RFC 9162's leaf prefix


def _perfect_root(data: bytes, offset: int, level: int) -> bytes:
    """The root of the perfect subtree of the ``2**level`` leaves whose data (32 bytes each) start at leaf ``offset`` of ``data``.

    Hashed in aligned runs of _LEAF_RUN leaves, each itself a perfect subtree,
    whose roots are then merged: the same root as ``merkle.root_of`` of all the
    leaf hashes, with every level of a run still in cache when it is hashed.
    """
    run = min(_LEAF_RUN, 1 << level) * 32
    fresh = _LEAF_SHA256.copy
    roots: list[bytes] = []
    begin = offset * 32
    for at in range(begin, begin + (32 << level), run):
        leaves: list[bytes] = []
        append = leaves.append
        for k in range(at, at + run, 32):
            h = fresh()
            h.update(data[k : k + 32])
            append(h.digest())
        roots.append(merkle._root(leaves))
    return merkle._root(roots)


def tree_roots(
    left: Sequence[Subtree],
    middle: Iterable[Subtree],
    right: Sequence[Subtree],
    sizes: Iterable[int],
) -> tuple[bytes, dict[int, bytes]]:
    """The root of the whole tree, and the roots at ``sizes`` reached on the way (ValueError if misaligned)."""
    wanted = set(sizes)
    roots: dict[int, bytes] = {}
    stack = merkle.SubtreeStack()
    if 0 in wanted:
        roots[0] = merkle.EMPTY_ROOT
    for subtree in (
        [*left, *middle, *right]
        if not isinstance(middle, Iterator)
        else _chain(left, middle, right)
    ):
        stack.push(subtree)
        if stack.size in wanted:
            roots[stack.size] = stack.root()
    return stack.root(), roots


def _chain(*parts: Iterable[Subtree]) -> Iterator[Subtree]:
    for part in parts:
        yield from part


def _hash_leaves(hashes: bytes, first: int, sizes: Iterable[int]) -> list[Subtree]:
    """Subtrees of a run of event hashes (32 bytes each) starting at leaf ``first``, cut at ``sizes``."""
    count = len(hashes) // 32
    subtrees = []
    start = first
    for end in [*(s for s in sorted(set(sizes)) if first < s < first + count), first + count]:
        for level, index in merkle.perfect_subtrees(start, end):
            root = _perfect_root(hashes, (index << level) - first, level)
            subtrees.append(Subtree(level, index, root))
        start = end
    return subtrees


# --- the verification ------------------------------------------------------------------


def verify_bundle(
    bundle: Path,
    *,
    key_file: Path | None = None,
    external: Sequence[Path] = (),
    jobs: int | None = None,
) -> Report:
    """Check everything in the bundle; raises :class:`Unusable` when it cannot be checked."""
    report = Report()
    manifest = load_manifest(bundle)
    for name in FILES:
        if not (bundle / name).is_file():
            raise Unusable(f"{name} is missing: {bundle} is not a complete audit bundle.")
    verifier, key_how, key_findings = load_key(bundle, manifest.origin, key_file)
    report.bundle.extend(key_findings)
    proofs = load_proofs(bundle)
    jobs = max(1, jobs if jobs is not None else min(os.cpu_count() or 1, 8))

    scope = manifest.scope
    report.facts.append(
        f"Sunbid audit bundle ({BUNDLE_FORMAT}) of {_describe_scope(scope)}, log {manifest.origin}"
    )
    report.facts.append(
        f"key: {verifier_key(verifier.name, verifier.public_key)} "
        f"(fingerprint {fingerprint(verifier.public_key)}), checked with {key_how}"
    )

    _check_manifest_note(bundle, manifest, verifier, report)
    checkpoints = _check_checkpoints(bundle, manifest, proofs, verifier, report)
    first, last = proofs.first, proofs.last
    if (manifest.first, manifest.last) != (first, last):
        report.bundle.append(
            Finding(
                f"{MANIFEST} says leaves [{manifest.first}, {manifest.last}], the range proof covers "
                f"[{first}, {last}]: one of them was edited.",
                code="range_mismatch",
            )
        )
    if (proofs.size, proofs.root) != (manifest.size, manifest.root):
        report.bundle.append(
            Finding(
                f"{PROOFS} is for another tree than {MANIFEST}'s checkpoint.", code="proof_tree"
            )
        )
    if not 0 <= first <= last < proofs.size:
        raise Unusable(
            f"{PROOFS}: leaves [{first}, {last}] are not inside a tree of {proofs.size}."
        )
    shape_ok = _check_range_shape(proofs, report)

    externals = _open_externals(external, manifest.origin, verifier, report)
    in_range = [c for c in checkpoints if c.checkpoint and first <= c.size <= last + 1]
    sizes = sorted(
        {c.size for c in in_range}
        | {c.size for c in externals if c.checkpoint and first <= c.size <= last + 1}
    )

    # leaves.txt: fixed-width lines, so that any position is found without reading the rest.
    leaves_path = bundle / LEAVES
    leaves_bytes = leaves_path.stat().st_size
    range_count = last - first + 1
    leaves_count = leaves_bytes // LEAF_LINE
    leaves_shape_ok = leaves_bytes % LEAF_LINE == 0 and leaves_count == range_count
    if leaves_bytes % LEAF_LINE:
        report.bundle.append(
            Finding(
                f"{LEAVES} is not made of 65-byte lines (64 hex digits and a newline).",
                code="leaves_malformed",
            )
        )
    elif leaves_count != range_count:
        report.bundle.append(
            Finding(
                f"{LEAVES} holds {leaves_count} leaves, the range [{first}, {last}] has {range_count}.",
                code="leaves_count",
            )
        )

    events_path = bundle / EVENTS
    wanted = frozenset(
        item["leaf_index"]
        for item in proofs.inclusion
        if isinstance(item, dict) and type(item.get("leaf_index")) is int
    )
    leaves_whole = leaves_bytes % LEAF_LINE == 0  # read while the workers work
    spans = _chunks(events_path, jobs if events_path.stat().st_size >= _PARALLEL_MIN_BYTES else 1)
    blocks = _leaf_blocks(first, leaves_count, sizes) if leaves_count else []
    tasks = [_Chunk(str(events_path), a, b, wanted) for a, b in spans]
    block_tasks = [(str(leaves_path), first, lo, hi, tuple(sizes)) for lo, hi in blocks]
    if jobs > 1 and (len(tasks) > 1 or len(block_tasks) > 1):
        with multiprocessing.get_context().Pool(jobs) as pool:
            scanning = pool.map_async(_scan, tasks)
            hashing = pool.map_async(_leaf_block, block_tasks)
            tree_hex = _leaves_hex(leaves_path, leaves_count) if leaves_whole else None
            results, hashed = scanning.get(), hashing.get()
    else:
        jobs = 1
        results = [_scan(task) for task in tasks]
        hashed = [_leaf_block(task) for task in block_tasks]
        tree_hex = _leaves_hex(leaves_path, leaves_count) if leaves_whole else None

    offsets = []
    lines = 0
    for result in results:
        offsets.append(lines)
        lines += result.lines
    full = sum(r.full for r in results)
    redacted = sum(r.redacted for r in results)
    strands = _stitch(results, offsets, first, report)
    _place(results, offsets, spans, events_path, first, report)
    if lines < range_count:
        report.records.append(
            Finding(
                f"leaf {first + lines} is missing: {EVENTS} ends after {lines} records, the range runs to leaf {last} "
                "(records cut off the end, or deleted)",
                line=lines,
                leaf=first + lines,
                code="truncated",
            )
        )
    elif lines > range_count:
        report.records.append(
            Finding(
                f"{EVENTS} holds {lines} records, more than the {range_count} leaves of the range (a record inserted)",
                line=range_count,
                leaf=last + 1,
                code="extra",
            )
        )
    if manifest.lines != lines:
        report.bundle.append(
            Finding(
                f"{MANIFEST} announces {manifest.lines} records, {EVENTS} holds {lines}.",
                code="manifest_lines",
            )
        )
    report.facts.append(
        f"records: {lines} lines for leaves {first}–{last} of {proofs.size} "
        f"({full} in full, {redacted} redacted) in {strands} strand(s), checked in {len(results)} chunk(s) "
        f"by {jobs} process(es)"
    )

    # The records against the tree's leaves, position by position: one comparison per chunk.
    if tree_hex is not None:
        _compare_leaves(results, offsets, spans, events_path, first, tree_hex, report)

    # The tree from leaves.txt, then (only if that fails) from the records' own hashes.
    bad_leaf = next((b for _, b in hashed if b is not None), None)
    if bad_leaf is not None:
        report.bundle.append(
            Finding(f"{LEAVES} line {bad_leaf + 1} is not a hash.", code="leaves_malformed")
        )
    tree_ok = False
    roots: dict[int, bytes] = {}
    if shape_ok and leaves_shape_ok and bad_leaf is None:
        middle = [s for subtrees, _ in hashed for s in subtrees]
        root, roots = tree_roots(proofs.left, middle, proofs.right, sizes)
        tree_ok = root == proofs.root
    if tree_ok:
        report.facts.append(
            f"tree: the root of {proofs.size} leaves, from the range proof and {LEAVES}, is the checkpoint's "
            f"{proofs.root.hex()}"
        )
    else:
        roots = _tree_failed(proofs, results, lines, range_count, sizes, tree_hex, shape_ok, report)

    _check_in_range_checkpoints(in_range, roots, proofs, report)
    _check_inclusion(proofs, results, first, report)
    _check_consistency(checkpoints, proofs, report)
    _check_externals(externals, checkpoints, roots, first, last, proofs, report)
    return report


def _describe_scope(scope: Any) -> str:
    if not isinstance(scope, dict):
        return "an unknown scope"
    kind = scope.get("kind")
    if kind == "lot":
        return f"lot {scope.get('lot_id')} (tender {scope.get('tender_id')})"
    if kind == "tender":
        return f"tender {scope.get('tender_id')}"
    if kind == "period":
        return f"the period {scope.get('from')} to {scope.get('to')} ({scope.get('time_zone')})"
    return f"scope {kind!r}"


def _check_manifest_note(
    bundle: Path, manifest: Manifest, verifier: Verifier, report: Report
) -> None:
    note = _read_text(bundle / MANIFEST_NOTE)
    try:
        body, _names = open_note(note, [verifier])
    except NoteError as exc:
        report.bundle.append(
            Finding(
                f"{MANIFEST_NOTE}: the manifest's signature does not verify ({exc}).",
                code="manifest_signature",
            )
        )
        return
    if body != manifest.text:
        report.bundle.append(
            Finding(
                f"{MANIFEST} is not the text the platform signed in {MANIFEST_NOTE} (edited).",
                code="manifest_edited",
            )
        )


def _check_checkpoints(
    bundle: Path, manifest: Manifest, proofs: Proofs, verifier: Verifier, report: Report
) -> list[SignedCheckpoint]:
    notes = split_notes(_read_text(bundle / CHECKPOINTS), CHECKPOINTS)
    if not notes:
        raise Unusable(f"{CHECKPOINTS} holds no checkpoint.")
    opened = open_checkpoints(notes, CHECKPOINTS, verifier, manifest.origin)
    for item in opened:
        if item.checkpoint is None:
            report.bundle.append(
                Finding(
                    f"{item.label()}: {item.error} (the note was edited or signed by another key).",
                    code="checkpoint_signature",
                )
            )
    good = [c for c in opened if c.checkpoint]
    for before, after in zip(good, good[1:], strict=False):
        if before.size > after.size:
            report.bundle.append(
                Finding(
                    f"{after.label()} is smaller than the one before it: {CHECKPOINTS} is out of order.",
                    code="checkpoint_order",
                )
            )
    used = opened[-1]
    if used.checkpoint is not None:
        if (used.checkpoint.size, used.checkpoint.root) != (manifest.size, manifest.root):
            report.bundle.append(
                Finding(
                    f"{used.label()}, the last, is not the checkpoint {MANIFEST} names (size {manifest.size}).",
                    code="checkpoint_used",
                )
            )
        else:
            when = used.checkpoint.time
            report.facts.append(
                f"checkpoint: tree size {manifest.size}, root {manifest.root.hex()}"
                + (f", signed {when:%Y-%m-%dT%H:%M:%SZ}" if when else "")
                + f"; {len(opened)} checkpoint(s) in {CHECKPOINTS}"
            )
    return opened


def _check_range_shape(proofs: Proofs, report: Report) -> bool:
    want_left = merkle.perfect_subtrees(0, proofs.first)
    want_right = merkle.perfect_subtrees(proofs.last + 1, proofs.size)
    ok = True
    if [(s.level, s.index) for s in proofs.left] != want_left:
        report.bundle.append(
            Finding(
                f"the range proof's left subtrees are not those of leaves [0, {proofs.first}).",
                code="range_proof",
            )
        )
        ok = False
    if [(s.level, s.index) for s in proofs.right] != want_right:
        report.bundle.append(
            Finding(
                f"the range proof's right subtrees are not those of leaves [{proofs.last + 1}, {proofs.size}).",
                code="range_proof",
            )
        )
        ok = False
    return ok


def _open_externals(
    paths: Sequence[Path], origin: str, verifier: Verifier, report: Report
) -> list[SignedCheckpoint]:
    externals: list[SignedCheckpoint] = []
    for path in paths:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise Unusable(f"--checkpoint {path}: cannot read it ({exc}).") from None
        notes = find_notes(text, origin)
        if not notes:
            raise Unusable(f"--checkpoint {path} holds no checkpoint of {origin}.")
        for item in open_checkpoints(notes, str(path), verifier, origin):
            if item.checkpoint is None:
                report.bundle.append(
                    Finding(f"external {item.label()}: {item.error}.", code="external_signature")
                )
            externals.append(item)
    return externals


def _leaf_blocks(first: int, count: int, sizes: Sequence[int]) -> list[tuple[int, int]]:
    """Positions [lo, hi) of leaves.txt, cut at multiples of 2**_BLOCK_LEVEL in leaf index."""
    step = 1 << _BLOCK_LEVEL
    blocks = []
    lo = 0
    while lo < count:
        hi = min(count, ((first + lo) // step + 1) * step - first)
        blocks.append((lo, hi))
        lo = hi
    return blocks


def _stitch(
    results: Sequence[_ChunkResult], offsets: Sequence[int], first: int, report: Report
) -> int:
    """Each chunk's first problem, and the strands' links across chunk boundaries; how many strands."""
    lasts: dict[int, tuple[int, bytes, int, int, bool]] = {}
    for result, offset in zip(results, offsets, strict=True):
        if result.problem is not None:
            line, seq, code, message = result.problem
            leaf = first + offset + line
            report.records.append(
                Finding(
                    message.replace("{leaf}", str(leaf)),
                    line=offset + line,
                    leaf=leaf,
                    seq=seq,
                    code=code,
                )
            )
        for strand, (position, prev_hex, line, seq, version) in result.firsts.items():
            before = lasts.get(strand)
            if before is None:
                continue
            last_position, last_hash, _last_line, last_seq, seen_v2 = before
            where = {"line": offset + line, "leaf": first + offset + line, "seq": seq}
            if position != last_position + 1:
                if position > last_position + 1:
                    report.records.append(
                        Finding(
                            f"strand {strand} jumps from position {last_position} (seq {last_seq}) to {position}: "
                            "the record(s) between are not here (deleted, or moved)",
                            code="missing",
                            **where,
                        )
                    )
                else:
                    report.records.append(
                        Finding(
                            f"strand {strand} position {position} after position {last_position} (seq {last_seq}): "
                            "a record inserted, repeated or reordered",
                            code="unexpected",
                            **where,
                        )
                    )
            elif prev_hex != last_hash:
                report.records.append(
                    Finding(
                        f"its previous-hash link does not match the hash of the record before it in strand {strand} "
                        f"(seq {last_seq}): a record deleted, inserted or reordered",
                        code="broken_link",
                        **where,
                    )
                )
            if version == 1 and seen_v2:
                report.records.append(
                    Finding(
                        "a format 1 record after format 2 records in its strand",
                        code="bad_format",
                        **where,
                    )
                )
        for strand, (position, last_hash, line, seq, seen_v2) in result.lasts.items():
            before = lasts.get(strand)
            lasts[strand] = (
                position,
                last_hash,
                offset + line,
                seq,
                seen_v2 or bool(before and before[4]),
            )
    return len(lasts)


def _place(
    results: Sequence[_ChunkResult],
    offsets: Sequence[int],
    spans: Sequence[tuple[int, int]],
    path: Path,
    first: int,
    report: Report,
) -> None:
    """Each chunk's lines claim leaf numbers from its first readable line on: they must be their positions."""
    for result, offset in zip(results, offsets, strict=True):
        if result.base is None:
            continue
        expected = first + offset
        if result.base == expected:
            continue
        line = offset + result.base_line
        leaf, claimed = first + line, result.base + result.base_line
        if claimed > leaf:
            message = (
                f"leaf {leaf} is not in its place: the line there is leaf {claimed} (seq {result.base_seq}) "
                "— a record deleted, or records reordered"
            )
            report.records.append(Finding(message, line=line, leaf=leaf, code="leaf_missing"))
        else:
            message = f"the line in the place of leaf {leaf} says leaf {claimed} (a record inserted, repeated or moved here)"
            report.records.append(
                Finding(
                    message, line=line, leaf=leaf, seq=result.base_seq, code="leaf_out_of_place"
                )
            )


def _leaves_hex(path: Path, count: int) -> bytes:
    """leaves.txt without its newlines: 64 hex digits per leaf, for comparing with the records' hashes."""
    return path.read_bytes().replace(b"\n", b"")[: 64 * count]


def _compare_leaves(
    results: Sequence[_ChunkResult],
    offsets: Sequence[int],
    spans: Sequence[tuple[int, int]],
    path: Path,
    first: int,
    tree_hex: bytes,
    report: Report,
) -> None:
    """Every record's stated hash must be the tree's leaf at its position; the first that is not is named."""
    for result, offset, (start, end) in zip(results, offsets, spans, strict=True):
        mine = result.hashes
        theirs = tree_hex[offset * 64 : offset * 64 + len(mine)]
        if mine == theirs:
            continue
        j = next(
            (
                k
                for k in range(0, min(len(mine), len(theirs)), 64)
                if mine[k : k + 64] != theirs[k : k + 64]
            ),
            None,
        )
        if j is None:
            continue  # beyond the end of leaves.txt: the counts say so
        line = offset + j // 64
        leaf = first + line
        report.records.append(
            Finding(
                f"its hash is not leaf {leaf} of the tree ({LEAVES}): the record was altered with its hash "
                "recomputed, or records were deleted, inserted or moved here",
                line=line,
                leaf=leaf,
                seq=_line_seq(path, start, end, j // 64),
                code="not_tree_leaf",
            )
        )
        return


def _tree_failed(
    proofs: Proofs,
    results: Sequence[_ChunkResult],
    lines: int,
    range_count: int,
    sizes: Sequence[int],
    tree_hex: bytes | None,
    shape_ok: bool,
    report: Report,
) -> dict[int, bytes]:
    """leaves.txt does not give the checkpoint's root: are the records' own hashes the tree's?

    Returns the roots at ``sizes`` from whichever side could be computed, for the
    checkpoints and external checkpoints to be compared with.
    """
    if not shape_ok:
        report.bundle.append(
            Finding(
                "the tree root cannot be computed: the range proof does not fit the range.",
                code="tree",
            )
        )
        return {}
    leaves_roots: dict[int, bytes] = {}
    if tree_hex is not None and len(tree_hex) == 64 * range_count:
        try:
            hashes = binascii.unhexlify(tree_hex)
        except (binascii.Error, ValueError):
            hashes = None
        if hashes is not None:
            _, leaves_roots = tree_roots(
                proofs.left, _hash_leaves(hashes, proofs.first, sizes), proofs.right, sizes
            )
    records_root = None
    records_roots: dict[int, bytes] = {}
    if lines == range_count:
        try:
            hashes = binascii.unhexlify(b"".join(r.hashes for r in results))
        except (binascii.Error, ValueError):
            hashes = None
        if hashes is not None:
            records_root, records_roots = tree_roots(
                proofs.left, _hash_leaves(hashes, proofs.first, sizes), proofs.right, sizes
            )
    if records_root == proofs.root:
        # The records are the tree's; leaves.txt was changed. Comparisons of the
        # records with leaves.txt say nothing about the records then.
        report.records[:] = [f for f in report.records if f.code != "not_tree_leaf"]
        report.bundle.append(
            Finding(
                f"{LEAVES} was altered: it does not give the checkpoint's root, while the records' own hashes do.",
                code="leaves_altered",
            )
        )
        report.facts.append(
            f"tree: the root from the records' own hashes is the checkpoint's {proofs.root.hex()}"
        )
        return records_roots
    # Neither side gives the signed root. The checkpoints inside the range, compared
    # with the roots of leaves.txt, say between which leaves it went wrong.
    report.bundle.append(
        Finding(
            f"the tree of the bundle's leaves does not have the checkpoint's root {proofs.root.hex()}: the records "
            f"and {LEAVES} were altered alike (hashes recomputed), or the range proof or the checkpoint was.",
            code="tree",
        )
    )
    return leaves_roots or records_roots


def _check_in_range_checkpoints(
    in_range: Sequence[SignedCheckpoint], roots: dict[int, bytes], proofs: Proofs, report: Report
) -> None:
    """Checkpoints inside the range are recomputed from the bundle's own leaves: the first that differs bounds the damage."""
    previous = proofs.first
    for item in in_range:
        assert item.checkpoint is not None
        size = item.checkpoint.size
        if size == proofs.size:
            continue
        root = roots.get(size)
        if root is None:
            continue
        if root != item.checkpoint.root:
            report.bundle.append(
                Finding(
                    f"{item.label()}: the bundle's leaves [0, {size}) do not have its root: a record among leaves "
                    f"[{previous}, {size}) differs from what the platform signed then.",
                    code="checkpoint_root",
                )
            )
            return
        previous = size


def _check_inclusion(
    proofs: Proofs, results: Sequence[_ChunkResult], first: int, report: Report
) -> None:
    """Each inclusion proof verifies against the checkpoint, for the record the bundle holds at that leaf."""
    found: dict[int, tuple[int, bytes, bool]] = {}
    for result in results:
        found.update(result.wanted)
    checked = 0
    for item in proofs.inclusion:
        try:
            seq = _int(item["seq"], "seq")
            leaf = _int(item["leaf_index"], "leaf_index")
            event_hash = _hex32(item["event_hash"], "event_hash")
            path = [_hex32(p, "path entry") for p in item["path"]]
        except (Unusable, KeyError, TypeError):
            report.bundle.append(
                Finding(
                    f"an inclusion proof in {PROOFS} is malformed: {str(item)[:120]}",
                    code="inclusion",
                )
            )
            continue
        where = {"line": leaf - first if leaf >= first else None, "leaf": leaf, "seq": seq}
        if not merkle.verify_inclusion(
            merkle.leaf_hash(event_hash), leaf, proofs.size, path, proofs.root
        ):
            report.records.append(
                Finding(
                    "its inclusion proof does not verify against the checkpoint",
                    code="inclusion",
                    **where,
                )
            )
            continue
        record = found.get(leaf)
        if record is None:
            report.records.append(
                Finding(
                    f"the inclusion proof for seq {seq} is for leaf {leaf}, which is not among the bundle's records "
                    "(records cut off or deleted)",
                    code="inclusion_missing",
                    **where,
                )
            )
            continue
        record_seq, record_hash, is_full = record
        if record_seq != seq or record_hash != event_hash.hex().encode():
            report.records.append(
                Finding(
                    f"the record at leaf {leaf} is not the one its inclusion proof names (seq {seq}, hash {event_hash.hex()[:16]}…)",
                    code="inclusion_mismatch",
                    **where,
                )
            )
            continue
        if not is_full:
            report.bundle.append(
                Finding(f"seq {seq} has an inclusion proof but is redacted.", code="inclusion")
            )
            continue
        checked += 1
    report.facts.append(
        f"inclusion proofs: {checked} of {len(proofs.inclusion)} verified against the checkpoint"
    )


def _check_consistency(
    checkpoints: Sequence[SignedCheckpoint], proofs: Proofs, report: Report
) -> None:
    good = [c for c in checkpoints if c.checkpoint]
    given = {}
    for item in proofs.consistency:
        try:
            key = (_int(item["old_size"], "old_size"), _int(item["new_size"], "new_size"))
            given[key] = [_hex32(p, "path entry") for p in item["path"]]
        except (Unusable, KeyError, TypeError):
            report.bundle.append(
                Finding(
                    f"a consistency proof in {PROOFS} is malformed: {str(item)[:120]}",
                    code="consistency",
                )
            )
    checked = 0
    for old, new in zip(good, good[1:], strict=False):
        assert old.checkpoint is not None and new.checkpoint is not None
        path = given.get((old.checkpoint.size, new.checkpoint.size))
        if path is None:
            report.bundle.append(
                Finding(
                    f"no consistency proof from {old.label()} to {new.label()}.", code="consistency"
                )
            )
            continue
        if not merkle.verify_consistency(
            old.checkpoint.size, new.checkpoint.size, old.checkpoint.root, new.checkpoint.root, path
        ):
            report.bundle.append(
                Finding(
                    f"{new.label()} is not consistent with {old.label()}: the log was rewritten between them.",
                    code="consistency",
                )
            )
            continue
        checked += 1
    report.facts.append(
        f"consistency proofs: {checked} of {max(0, len(good) - 1)} verified between consecutive checkpoints"
    )


def _check_externals(
    externals: Sequence[SignedCheckpoint],
    checkpoints: Sequence[SignedCheckpoint],
    roots: dict[int, bytes],
    first: int,
    last: int,
    proofs: Proofs,
    report: Report,
) -> None:
    """Checkpoints kept elsewhere must be the bundle's, or the roots of its leaves at their sizes."""
    if not externals:
        return
    bundle_roots = {c.checkpoint.size: c.checkpoint.root for c in checkpoints if c.checkpoint}
    agreed_sizes: list[int] = []
    disagreeing: list[tuple[SignedCheckpoint, bytes, str]] = []
    for item in sorted((e for e in externals if e.checkpoint), key=lambda e: e.size or 0):
        assert item.checkpoint is not None
        size, root = item.checkpoint.size, item.checkpoint.root
        if size in bundle_roots:
            theirs, source = bundle_roots[size], "the bundle's checkpoint of the same size"
        elif size in roots:
            theirs, source = roots[size], f"the root of the bundle's leaves [0, {size})"
        else:
            report.bundle.append(
                Finding(
                    f"external {item.label()} cannot be compared with this bundle: it holds leaves "
                    f"[{first}, {last}] of a tree of {proofs.size}; export a bundle whose range reaches leaf {size}.",
                    code="external_uncheckable",
                    uncheckable=True,
                )
            )
            continue
        if theirs == root:
            agreed_sizes.append(size)
        else:
            disagreeing.append((item, theirs, source))
    for item, theirs, source in disagreeing:
        assert item.checkpoint is not None
        size = item.checkpoint.size
        since = max((s for s in agreed_sizes if s < size), default=0)
        when = item.checkpoint.time
        report.bundle.append(
            Finding(
                f"external {item.label()}"
                + (f", signed {when:%Y-%m-%dT%H:%M:%SZ}" if when else "")
                + f", is not consistent with the bundle: its root {item.checkpoint.root.hex()} is not {source} "
                f"({theirs.hex()}): the log was rewritten after that checkpoint was made — a record among leaves "
                f"[{since}, {size}) differs from what was signed then.",
                code="external_inconsistent",
            )
        )
    report.facts.append(
        f"external checkpoints: {len(agreed_sizes)} of {len(externals)} consistent with the bundle"
    )


# --- the command ------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m audit.verify",
        description="Verify a Sunbid audit bundle offline (docs/audit.md §13).",
    )
    parser.add_argument(
        "bundle", type=Path, help="the bundle directory written by manage.py audit_export"
    )
    parser.add_argument(
        "--key",
        type=Path,
        help="the platform's public key (a verifier key line, or an Ed25519 PEM): "
        "without it the bundle's own key.vkey is used, which proves only self-consistency",
    )
    parser.add_argument(
        "--checkpoint",
        type=Path,
        action="append",
        default=[],
        metavar="NOTE_FILE",
        help="a checkpoint kept outside the platform (a .note file, checkpoints.log, a saved e-mail); repeatable",
    )
    parser.add_argument(
        "--jobs", type=int, default=None, help="worker processes (default: the CPUs, at most 8)"
    )
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return EXIT_UNUSABLE if exc.code else EXIT_OK
    if args.jobs is not None and args.jobs < 1:
        print("audit.verify: --jobs must be at least 1.", file=sys.stderr)
        return EXIT_UNUSABLE
    try:
        report = verify_bundle(
            args.bundle, key_file=args.key, external=args.checkpoint, jobs=args.jobs
        )
    except Unusable as exc:
        print(f"audit.verify: cannot check {args.bundle}: {exc}", file=sys.stderr)
        return EXIT_UNUSABLE
    sys.stdout.write(report.render())
    return report.exit_status()


if __name__ == "__main__":
    sys.exit(main())
