"""``audit.verify``'s fast path: it certifies clean chunks at once, and leaves every finding to the careful reading.

The fast path (``_scan_fast``) may only ever say "this chunk holds, and here is
what the careful reading (``_scan_careful``) would have returned"; for any
chunk with anything wrong it declines, and the careful reading names the
problem. So for every tampering the verifier's report is compared, word for
word, with the report of a verifier forced through the careful reading, and
the first bad record is checked by leaf and seq.

The bundles are written here without a database (as ``bench/audit_bundle.py``
does), small, and read in small chunks so that a tampering falls inside one
chunk among several.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import random
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from audit import merkle
from audit import verify as verifier
from audit.encoding import (
    GENESIS_HASH,
    canonical_json,
    envelope,
    envelope_text_v2,
    format_time,
    text_hash,
)
from audit.note import Checkpoint, key_id, sign_note, verifier_key
from audit.verify import (
    BUNDLE_FORMAT,
    CHECKPOINTS,
    EVENTS,
    FILES,
    KEY_PEM,
    KEY_VKEY,
    LEAVES,
    MANIFEST,
    MANIFEST_NOTE,
    NOTE_SEPARATOR,
    PROOFS,
    Report,
    fingerprint,
    full_line,
    redacted_line,
    verify_bundle,
)

ORIGIN = "fast-path.sunbid.example/audit"
BEFORE = 37  # leaves of the tree before the bundle's range
AFTER = 11  # and after it
CHUNK = 24 * 1024  # bytes of events.jsonl a chunk: about 35 lines
BATCH = 3000  # bytes the fast path certifies at a time: about 4 lines, several batches a chunk


# --- a bundle written without a database -------------------------------------------------


@dataclass(frozen=True)
class Line:
    leaf: int
    seq: int
    strand: int
    position: int
    prev: str
    hash: str
    text: str | None  # the record's text, None when redacted

    def render(self) -> str:
        if self.text is None:
            return redacted_line(
                self.leaf, self.hash, self.seq, self.strand, self.position, self.prev
            )
        return full_line(self.leaf, self.hash, self.text)


def plain_payload(rng: random.Random, n: int) -> str:
    return canonical_json(
        {
            "bid": n,
            "organisation": "浙江建工集团有限公司",
            "price": f"{rng.randrange(10**6, 10**8)}.{rng.randrange(100):02d}",
            "note": 'a "quoted" note — 第' + str(n % 7 + 1) + "标段",
        }
    )


def make_bundle(
    out: Path,
    *,
    events: int = 700,
    strands: int = 5,
    redacted: Callable[[int], bool] = lambda n: False,
    payload: Callable[[random.Random, int], str] = plain_payload,
    sensitivity: Callable[[int], str] = lambda n: "",
    format_1: int = 0,
    seed: int = 7,
) -> list[Line]:
    """A valid period bundle of ``events`` records (the first ``format_1`` of them in format 1)."""
    rng = random.Random(seed)
    private = Ed25519PrivateKey.generate()
    public = private.public_key()
    first, last = BEFORE, BEFORE + events - 1
    size = last + 1 + AFTER
    heads = {s: (0, GENESIS_HASH) for s in range(strands)}
    lines: list[Line] = []
    seq = 0
    when = dt.datetime(2026, 3, 1, 1, 30, tzinfo=dt.UTC)
    for n in range(events):
        when += dt.timedelta(microseconds=rng.randrange(200, 5000))
        fields = {
            "actor_id": rng.randrange(1, 50),
            "actor_name": f"user{rng.randrange(1, 50)}",
            "organisation_id": 4,
            "organisation_name": "浙江建工集团有限公司",
            "ip": f"203.0.113.{rng.randrange(1, 255)}",
            "user_agent": 'Mozilla/5.0 (X11; Linux x86_64) "quoted" Chrome/156.0',
            "action": "bidding.bid.uploaded",
            "object_type": "bidding.bid",
            "object_id": str(rng.randrange(1, 10**6)),
            "tender_id": rng.choice([None, rng.randrange(1, 20)]),
            "lot_id": rng.randrange(1, 60),
            "sensitivity": sensitivity(n),
            "payload": payload(rng, n),
        }
        if n < format_1:
            # Format 1: strand 0, its position its seq, so seqs without gaps.
            seq += 1
            strand, (position, prev) = 0, heads[0]
            text = canonical_json(envelope(format=1, seq=seq, time=when, prev_hash=prev, **fields))
        else:
            seq += 1 + (rng.random() < 0.05)  # a rolled-back transaction's number now and then
            strand = rng.randrange(strands)
            position, prev = heads[strand]
            text = envelope_text_v2(
                seq=seq,
                time=format_time(when),
                prev_hash=prev,
                strand=strand,
                strand_seq=position + 1,
                **fields,
            )
        digest = text_hash(text)
        heads[strand] = (position + 1, digest)
        shown = None if redacted(n) else text
        lines.append(Line(first + n, seq, strand, position + 1, prev, digest, shown))
    write_bundle(out, lines, first=first, size=size, private=private, public=public, rng=rng)
    return lines


def write_bundle(
    out: Path,
    lines: list[Line],
    *,
    first: int,
    size: int,
    private: Ed25519PrivateKey,
    public: object,
    rng: random.Random,
) -> None:
    last = first + len(lines) - 1
    leaves = [merkle.leaf_hash(rng.randbytes(32)) for _ in range(first)]
    leaves += [merkle.leaf_hash(bytes.fromhex(line.hash)) for line in lines]
    leaves += [merkle.leaf_hash(rng.randbytes(32)) for _ in range(size - last - 1)]

    def lookup(level: int, index: int) -> bytes:
        return merkle.root_of(leaves[index << level : (index + 1) << level])

    sizes = sorted({first + len(lines) // 3, first + 2 * len(lines) // 3, size})
    when = dt.datetime(2026, 3, 1, 8, tzinfo=dt.UTC)
    notes = {
        s: sign_note(
            Checkpoint(ORIGIN, s, merkle.root_of(leaves[:s])).with_time(when).body(),
            ORIGIN,
            private,
        )
        for s in sizes
    }
    shown = [line for line in lines if line.text is not None]
    proofs = {
        "format": BUNDLE_FORMAT,
        "tree_size": size,
        "root": merkle.root_of(leaves).hex(),
        "range": {
            "first": first,
            "last": last,
            "left": [
                {"level": lv, "index": i, "hash": lookup(lv, i).hex()}
                for lv, i in merkle.perfect_subtrees(0, first)
            ],
            "right": [
                {"level": lv, "index": i, "hash": lookup(lv, i).hex()}
                for lv, i in merkle.perfect_subtrees(last + 1, size)
            ],
        },
        # A few inclusion proofs, so that the chunks report the records they name.
        "inclusion": [
            {
                "seq": line.seq,
                "leaf_index": line.leaf,
                "event_hash": line.hash,
                "path": [p.hex() for p in merkle.inclusion_proof(line.leaf, size, lookup)],
            }
            for line in shown[:: max(1, len(shown) // 5)]
        ],
        "consistency": [
            {
                "old_size": a,
                "old_root": merkle.root_of(leaves[:a]).hex(),
                "new_size": b,
                "new_root": merkle.root_of(leaves[:b]).hex(),
                "path": [p.hex() for p in merkle.consistency_proof(a, b, lookup)],
            }
            for a, b in zip(sizes, sizes[1:], strict=False)
        ],
    }
    manifest = {
        "format": BUNDLE_FORMAT,
        "origin": ORIGIN,
        "created_at": "2026-03-01T08:00:00.000000Z",
        "scope": {
            "kind": "period",
            "from": "2026-03-01",
            "to": "2026-03-01",
            "time_zone": "Asia/Shanghai",
            "start": "2026-02-28T16:00:00.000000Z",
            "end": "2026-03-01T16:00:00.000000Z",
        },
        "leaves": {"first": first, "last": last},
        "records": {
            "lines": len(lines),
            "full": len(shown),
            "redacted": len(lines) - len(shown),
            "in_scope": len(shown),
        },
        "checkpoint": {
            "size": size,
            "root": merkle.root_of(leaves).hex(),
            "time": "2026-03-01T08:00:00.000000Z",
        },
        "checkpoints": len(sizes),
        "key": {
            "name": ORIGIN,
            "key_id": key_id(ORIGIN, public).hex(),
            "fingerprint": fingerprint(public),
        },
        "files": list(FILES),
    }
    manifest_text = json.dumps(manifest, ensure_ascii=False, indent=2) + "\n"
    files = {
        EVENTS: "".join(line.render() for line in lines),
        LEAVES: "".join(line.hash + "\n" for line in lines),
        MANIFEST: manifest_text,
        MANIFEST_NOTE: sign_note(manifest_text, ORIGIN, private),
        CHECKPOINTS: "".join(notes[s] + NOTE_SEPARATOR for s in sizes),
        PROOFS: json.dumps(proofs, indent=1) + "\n",
        KEY_VKEY: verifier_key(ORIGIN, public) + "\n",
        KEY_PEM: public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode(),
    }
    out.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (out / name).write_text(text, encoding="utf-8", newline="\n")


# --- running the verifier both ways ------------------------------------------------------


@dataclass
class Run:
    report: Report
    fast: list[bool]  # per chunk, in file order: whether the fast path certified it

    @property
    def first_bad(self) -> verifier.Finding | None:
        return self.report.first_bad


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(verifier, "_CHUNK_BYTES", CHUNK)
    monkeypatch.setattr(verifier, "_BATCH_BYTES", BATCH)
    monkeypatch.setattr(verifier, "_PARALLEL_MIN_BYTES", 0)


@pytest.fixture
def run(monkeypatch: pytest.MonkeyPatch) -> Callable[..., Run]:
    """Verify a bundle in one process, noting which chunks the fast path certified."""

    def run(bundle: Path, *, fast: bool = True) -> Run:
        certified: list[tuple[int, bool]] = []
        scan = verifier._scan

        def spy(chunk: verifier._Chunk) -> verifier._ChunkResult:
            result = scan(chunk)
            certified.append((chunk.start, result.fast))
            return result

        with monkeypatch.context() as patch:
            patch.setattr(verifier, "_scan", spy)
            patch.setattr(verifier, "_FAST_PATH", fast)
            report = verify_bundle(bundle, jobs=1)
        return Run(report, [was_fast for _, was_fast in sorted(certified)])

    return run


def both_ways(run: Callable[..., Run], bundle: Path) -> Run:
    """The verifier's run, after checking that its report is word for word the careful reading's."""
    fast, careful = run(bundle), run(bundle, fast=False)
    assert not any(careful.fast)
    assert fast.report.render() == careful.report.render()
    assert fast.report.exit_status() == careful.report.exit_status()
    assert fast.report.records == careful.report.records
    return fast


def lines_of(bundle: Path) -> list[bytes]:
    return (bundle / EVENTS).read_bytes().splitlines(keepends=True)


def write_lines(bundle: Path, lines: list[bytes]) -> None:
    (bundle / EVENTS).write_bytes(b"".join(lines))


def with_leaf(line: bytes, leaf: int) -> bytes:
    return re.sub(rb'^\{"leaf":[0-9]+,', b'{"leaf":%d,' % leaf, line)


def renumbered(lines: list[bytes]) -> list[bytes]:
    return [with_leaf(line, BEFORE + k) for k, line in enumerate(lines)]


def recomputed(line: bytes) -> bytes:
    """The line with its stated hash made the SHA-256 of its (changed) record."""
    head, record = line.rstrip(b"\n").split(b',"record":', 1)
    digest = text_hash(record[:-1].decode())
    return re.sub(rb'"hash":"[0-9a-f]{64}"', f'"hash":"{digest}"'.encode(), head) + (
        b',"record":' + record + b"\n"
    )


@pytest.fixture
def bundle(tmp_path: Path) -> Iterator[tuple[Path, list[Line]]]:
    """700 records on 5 strands, 1 in 13 redacted, read in about 20 chunks."""
    path = tmp_path / "bundle"
    lines = make_bundle(path, redacted=lambda n: n % 13 == 5)
    yield path, lines


# --- clean bundles: certified at once -----------------------------------------------------


def test_a_clean_bundle_is_certified_chunk_by_chunk_by_the_fast_path(run, bundle):
    path, _ = bundle
    done = both_ways(run, path)
    assert done.report.ok
    assert len(done.fast) > 10
    assert all(done.fast)


def test_a_bundle_of_full_records_only_is_certified_too(run, tmp_path):
    path = tmp_path / "bundle"
    make_bundle(path)
    done = both_ways(run, path)
    assert done.report.ok and all(done.fast)


def test_a_bundle_mostly_redacted_is_certified_too(run, tmp_path):
    path = tmp_path / "bundle"
    make_bundle(path, redacted=lambda n: n % 9 != 0)
    done = both_ways(run, path)
    assert done.report.ok and all(done.fast)


def test_one_strand_and_many_strands_are_certified(run, tmp_path):
    for strands in (1, 400):
        path = tmp_path / f"bundle{strands}"
        make_bundle(path, strands=strands)
        done = both_ways(run, path)
        assert done.report.ok and all(done.fast), strands


def test_the_fast_result_of_a_chunk_is_the_careful_one_field_for_field(bundle):
    path, lines = bundle
    data = (path / EVENTS).read_bytes()
    for start, end in verifier._chunks(path / EVENTS, 1):
        chunk = data[start:end]
        wanted = frozenset(line.leaf for line in lines[::7])
        fast = verifier._scan_fast(chunk, wanted)
        careful = verifier._scan_careful(chunk, wanted)
        assert fast is not None and fast.fast and not careful.fast
        for name in (f.name for f in dataclasses.fields(careful) if f.name != "fast"):
            mine, theirs = getattr(fast, name), getattr(careful, name)
            assert mine == theirs, name
            if isinstance(mine, dict):
                assert list(mine.items()) == list(theirs.items()), name  # the same order too


@pytest.mark.parametrize("renumber", [False, True], ids=["leaves_skip", "strand_skips"])
def test_batches_that_hold_alone_but_not_one_after_the_other_are_left_to_the_careful_reading(
    bundle, monkeypatch, renumber
):
    path, lines = bundle
    events = lines_of(path)[:60]
    k = 20
    assert lines[k].strand in {line.strand for line in lines[k + 1 : 60]}
    del events[k]
    data = b"".join(renumbered(events) if renumber else events)
    monkeypatch.setattr(verifier, "_BATCH_BYTES", 1)  # a line a batch
    for line in data.splitlines(keepends=True):
        assert verifier._certify([line], frozenset(), verifier._Run())
    assert verifier._scan_fast(data, frozenset()) is None
    assert verifier._scan_careful(data, frozenset()).problem is not None
    monkeypatch.setattr(verifier, "_BATCH_BYTES", 10**9)  # all in one batch
    assert verifier._scan_fast(data, frozenset()) is None


def test_a_payload_with_its_own_prev_hash_key_is_read_as_the_careful_reading_reads_it(
    run, tmp_path
):
    def tricky(rng: random.Random, n: int) -> str:
        payload = json.loads(plain_payload(rng, n))
        if n % 10 == 3:
            payload["prev_hash"] = "f" * 64  # the envelope's own key comes after: the last
            payload["seq"] = 99
        return canonical_json(payload)

    path = tmp_path / "bundle"
    make_bundle(path, payload=tricky)
    assert b'"payload":{"bid":3,' in (path / EVENTS).read_bytes()
    done = both_ways(run, path)
    assert done.report.ok and all(done.fast)


def test_a_record_with_a_prev_hash_key_after_the_envelope_s_is_left_to_the_careful_reading(bundle):
    path, lines = bundle
    k = full_line_at_or_after(lines, 250)
    line = lines_of(path)[k]
    assert verifier._scan_fast(line, frozenset()) is not None
    forged = recomputed(line.replace(b"Chrome/156.0", b'Chrome/156.0","prev_hash":"', 1))
    assert verifier._scan_fast(forged, frozenset()) is None
    assert verifier._scan_careful(forged, frozenset()).problem is not None


def test_a_sensitivity_with_an_escape_is_left_to_the_careful_reading(run, tmp_path):
    path = tmp_path / "bundle"
    make_bundle(path, sensitivity=lambda n: 'a "sealed" one' if n == 500 else "")
    assert b'"sensitivity":"a \\"sealed\\" one"' in (path / EVENTS).read_bytes()
    done = both_ways(run, path)
    assert done.report.ok
    assert done.fast.count(False) == 1


def test_format_1_records_are_left_to_the_careful_reading(run, tmp_path):
    path = tmp_path / "bundle"
    make_bundle(path, format_1=100)
    done = both_ways(run, path)
    assert done.report.ok
    assert not done.fast[0]  # the first chunk is all format 1
    assert done.fast[-1]  # the last, all format 2


def test_several_processes_give_the_careful_reading_s_report(bundle, monkeypatch):
    path, _ = bundle
    lines = lines_of(path)
    lines[300] = lines[300].replace(b'"bid":', b'"bid":1', 1)
    write_lines(path, lines)
    fast = verify_bundle(path, jobs=2).render()
    monkeypatch.setattr(verifier, "_FAST_PATH", False)  # the workers are forked: they see it
    assert fast == verify_bundle(path, jobs=2).render()
    assert "by 2 process(es)" in fast and "FIRST BAD RECORD: leaf 337," in fast


# --- tampered bundles: every finding is the careful reading's -----------------------------


def full_line_at_or_after(lines: list[Line], k: int) -> int:
    return next(j for j in range(k, len(lines)) if lines[j].text is not None)


def changed_byte(path: Path, lines: list[Line]) -> tuple[int, int | None, str]:
    k = full_line_at_or_after(lines, 250)
    events = lines_of(path)
    events[k] = events[k].replace(b'"bid":', b'"bid":9', 1)
    write_lines(path, events)
    return k, lines[k].seq, "does not match its hash (altered)"


def rewritten_with_its_hash(path: Path, lines: list[Line]) -> tuple[int, int | None, str]:
    k = full_line_at_or_after(lines, 250)
    events = lines_of(path)
    events[k] = recomputed(events[k].replace(b'"bid":', b'"bid":9', 1))
    write_lines(path, events)
    return k, lines[k].seq, f"is not leaf {BEFORE + k} of the tree"


def deleted_line(path: Path, lines: list[Line]) -> tuple[int, int | None, str]:
    events = lines_of(path)
    del events[250]
    write_lines(path, events)
    return 250, None, "a record deleted, or records reordered"


def deleted_line_renumbered(path: Path, lines: list[Line]) -> tuple[int, int | None, str]:
    events = lines_of(path)
    del events[250]
    write_lines(path, renumbered(events))
    return 250, lines[251].seq, ""


def two_lines_swapped(path: Path, lines: list[Line]) -> tuple[int, int | None, str]:
    events = lines_of(path)
    events[250], events[251] = events[251], events[250]
    write_lines(path, events)
    return 250, None, "a record deleted, or records reordered"


def two_lines_swapped_renumbered(path: Path, lines: list[Line]) -> tuple[int, int | None, str]:
    events = lines_of(path)
    events[250], events[251] = events[251], events[250]
    write_lines(path, renumbered(events))
    return 250, lines[251].seq, ""


def two_lines_of_a_strand_swapped_renumbered(
    path: Path, lines: list[Line]
) -> tuple[int, int | None, str]:
    a = 250
    b = next(j for j in range(a + 1, len(lines)) if lines[j].strand == lines[a].strand)
    events = lines_of(path)
    events[a], events[b] = events[b], events[a]
    write_lines(path, renumbered(events))
    return a, lines[b].seq, ""


def duplicate_inserted(path: Path, lines: list[Line]) -> tuple[int, int | None, str]:
    events = lines_of(path)
    events.insert(251, events[250])
    write_lines(path, events)
    return 251, lines[250].seq, "(a record inserted, repeated or moved here)"


def duplicate_inserted_renumbered(path: Path, lines: list[Line]) -> tuple[int, int | None, str]:
    events = lines_of(path)
    events.insert(251, events[250])
    write_lines(path, renumbered(events))
    return 251, lines[250].seq, ""


def truncated(path: Path, lines: list[Line]) -> tuple[int, int | None, str]:
    events = lines_of(path)
    write_lines(path, events[:-40])
    return len(lines) - 40, None, "records cut off the end, or deleted"


def cut_in_a_line(path: Path, lines: list[Line]) -> tuple[int, int | None, str]:
    data = (path / EVENTS).read_bytes()
    (path / EVENTS).write_bytes(data[: len(data) - 300])
    return len(lines) - 1, None, "does not end with a newline"


def moved_to_another_strand_place(path: Path, lines: list[Line]) -> tuple[int, int | None, str]:
    """A line taken out and put back further on, among lines of other strands, renumbered."""
    k = 250
    j = next(j for j in range(k + 3, len(lines)) if lines[j].strand != lines[k].strand)
    events = lines_of(path)
    events.insert(j, events.pop(k))
    write_lines(path, renumbered(events))
    return k, lines[k + 1].seq, ""


def prev_hash_key_after_the_envelope_s(
    path: Path, lines: list[Line]
) -> tuple[int, int | None, str]:
    """A record given a second, later "prev_hash" key (not canonical JSON), its hash recomputed."""
    k = full_line_at_or_after(lines, 250)
    events = lines_of(path)
    line = events[k].replace(b',"time":', b',"prev_hash":"' + b"e" * 64 + b'","time":', 1)
    events[k] = recomputed(line)
    write_lines(path, events)
    return k, None, "not a canonical audit envelope"


def prev_hash_key_in_the_user_agent(path: Path, lines: list[Line]) -> tuple[int, int | None, str]:
    """The same key put raw into a string after the envelope's key, the strand link made to fit."""
    k = full_line_at_or_after(lines, 250)
    events = lines_of(path)
    fake = b',"prev_hash":"' + lines[k].prev.encode() + b'","sensitivity":"","seq":1'
    line = events[k].replace(b"Chrome/156.0", b"Chrome/156.0" + fake, 1)
    events[k] = recomputed(line)
    write_lines(path, events)
    return k, None, "not a canonical audit envelope"


def a_forged_tail_after_the_envelope_s(
    path: Path, lines: list[Line]
) -> tuple[int, int | None, str]:
    """Link fields forged after the envelope's own, which the careful reading takes as the record's."""
    k = full_line_at_or_after(lines, 250)
    events = lines_of(path)
    forged = (
        b'","prev_hash":"' + GENESIS_HASH.encode() + b'","sensitivity":"","seq":5,'
        b'"strand":9,"strand_seq":1,"tender_id":null,"x":"'
    )
    events[k] = recomputed(events[k].replace(b"Chrome/156.0", b"Chrome/156.0" + forged, 1))
    write_lines(path, events)
    return k, 5, f"is not leaf {BEFORE + k} of the tree"


def its_tail_repeated_after_the_envelope_s(
    path: Path, lines: list[Line]
) -> tuple[int, int | None, str]:
    """The record's own link fields written again after its own (the reading takes the last)."""
    k = full_line_at_or_after(lines, 250)
    line = lines[k]
    again = (
        f'","prev_hash":"{line.prev}","sensitivity":"","seq":{line.seq},'
        f'"strand":{line.strand},"strand_seq":{line.position},"tender_id":null,"x":"'
    ).encode()
    events = lines_of(path)
    events[k] = recomputed(events[k].replace(b"Chrome/156.0", b"Chrome/156.0" + again, 1))
    write_lines(path, events)
    return k, line.seq, f"is not leaf {BEFORE + k} of the tree"


def link_to_another_strand(path: Path, lines: list[Line]) -> tuple[int, int | None, str]:
    """A record's prev_hash made another strand's last hash, its own hash recomputed."""
    k = next(
        j
        for j in range(250, len(lines))
        if lines[j].text is not None
        and lines[j - 1].text is not None
        and lines[j - 1].strand != lines[j].strand
    )
    events = lines_of(path)
    events[k] = recomputed(
        events[k].replace(
            f'"prev_hash":"{lines[k].prev}","sensitivity"'.encode(),
            f'"prev_hash":"{lines[k - 1].hash}","sensitivity"'.encode(),
        )
    )
    write_lines(path, events)
    return k, lines[k].seq, ""


def redacted_position_changed(path: Path, lines: list[Line]) -> tuple[int, int | None, str]:
    k = next(j for j in range(250, len(lines)) if lines[j].text is None)
    events = lines_of(path)
    events[k] = events[k].replace(
        b'"strand_seq":%d,' % lines[k].position, b'"strand_seq":%d,' % (lines[k].position + 1)
    )
    write_lines(path, events)
    return k, lines[k].seq, ""


def redacted_hash_in_capitals(path: Path, lines: list[Line]) -> tuple[int, int | None, str]:
    k = next(j for j in range(250, len(lines)) if lines[j].text is None)
    events = lines_of(path)
    events[k] = events[k].replace(lines[k].hash.encode(), lines[k].hash.upper().encode())
    write_lines(path, events)
    return k, None, "not a bundle record"


def leaf_number_with_a_leading_zero(path: Path, lines: list[Line]) -> tuple[int, int | None, str]:
    events = lines_of(path)
    events[250] = events[250].replace(b'{"leaf":', b'{"leaf":0', 1)
    write_lines(path, events)
    return 250, None, ""


@pytest.mark.parametrize(
    "tamper",
    [
        changed_byte,
        rewritten_with_its_hash,
        deleted_line,
        deleted_line_renumbered,
        two_lines_swapped,
        two_lines_swapped_renumbered,
        two_lines_of_a_strand_swapped_renumbered,
        duplicate_inserted,
        duplicate_inserted_renumbered,
        truncated,
        cut_in_a_line,
        moved_to_another_strand_place,
        prev_hash_key_after_the_envelope_s,
        prev_hash_key_in_the_user_agent,
        a_forged_tail_after_the_envelope_s,
        its_tail_repeated_after_the_envelope_s,
        link_to_another_strand,
        redacted_position_changed,
        redacted_hash_in_capitals,
        leaf_number_with_a_leading_zero,
    ],
)
def test_a_tampering_is_named_as_the_careful_reading_names_it(run, bundle, tamper):
    path, lines = bundle
    line, seq, words = tamper(path, lines)
    done = both_ways(run, path)
    assert done.report.exit_status() == verifier.EXIT_FAILED
    first = done.first_bad
    assert first is not None
    assert (first.line, first.leaf) == (line, BEFORE + line), first
    assert first.seq == seq, first
    assert words in first.message
    # No chunk in which the careful reading finds a problem was certified, and
    # the chunks the tampering did not touch were.
    data = (path / EVENTS).read_bytes()
    spans = verifier._chunks(path / EVENTS, 1)
    problems = [verifier._scan_careful(data[a:b], frozenset()).problem for a, b in spans]
    assert len(done.fast) == len(spans) > 10
    assert not any(fast and problem for fast, problem in zip(done.fast, problems, strict=True))
    assert sum(done.fast) >= len(spans) - 2


# --- the tree: leaves hashed in runs ------------------------------------------------------


@pytest.mark.parametrize("run_of", [1, 4, 1024])
def test_a_perfect_subtree_hashed_in_runs_has_the_root_of_all_its_leaves(monkeypatch, run_of):
    monkeypatch.setattr(verifier, "_LEAF_RUN", run_of)
    rng = random.Random(run_of)
    data = rng.randbytes(32 * 3000)
    leaves = [merkle.leaf_hash(data[k : k + 32]) for k in range(0, len(data), 32)]
    for level in range(12):
        for offset in {0, min(1 << level, 3000 - (1 << level)), 3000 - (1 << level)}:
            expected = merkle.root_of(leaves[offset : offset + (1 << level)])
            assert verifier._perfect_root(data, offset, level) == expected, (level, offset)
