"""Benchmark: ``python -m audit.verify`` over a bundle of 1,000,000 events (no database).

Run::

    .venv/bin/python bench/audit_bundle.py                      # 1,000,000 events, jobs 1 and all CPUs
    .venv/bin/python bench/audit_bundle.py --events 200000 --jobs 1,2,4 --keep /tmp/bundle

It first writes a valid bundle (docs/audit.md §13) as ``manage.py
audit_export`` would for a period, without Django or a database: format 2
events spread over ``--strands`` strands, each strand its own hash chain
(``audit.encoding.envelope_text_v2``), global seqs with the gaps PostgreSQL's
sequence leaves, realistic envelopes (Chinese organisation names, amounts,
network addresses, a browser's User-Agent, ~800 bytes a line) and 1 in 100
sealed events redacted; leaves before and after the range, so that the range
proof has subtrees on both sides; a checkpoint every quarter of the range and
one at the end, signed with a fresh Ed25519 key, with their consistency
proofs.

Then it times ``python -I -m audit.verify BUNDLE --jobs J`` as a separate
process (start-up included) for each ``--jobs``, and prints events per second
(records in the bundle divided by wall-clock time) and the machine's load
average, which says how much the neighbours took. Target (issue 6): 500,000
events per second.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))

from cryptography.hazmat.primitives import serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey  # noqa: E402

from audit import merkle  # noqa: E402
from audit.encoding import GENESIS_HASH, canonical_json, envelope_text_v2, text_hash  # noqa: E402
from audit.note import Checkpoint, key_id, sign_note, verifier_key  # noqa: E402
from audit.verify import (  # noqa: E402
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
    fingerprint,
    full_line,
    redacted_line,
)

ORIGIN = "bench.sunbid.example/audit"
ORGANISATIONS = [
    (4, "浙江建工集团有限公司"),
    (5, "杭州市政建设有限公司"),
    (6, "宁波远大建设有限公司"),
    (1, "华信招标代理有限公司"),
    (7, "市公共资源交易监督管理局"),
]
USER_AGENT = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"
ACTIONS = [
    ("bidding.bid.uploaded", "bidding.bid"),
    ("bidding.bid.submitted", "bidding.bid"),
    ("opening.room.signed_in", "opening.attendance"),
    ("opening.bid.decrypted", "bidding.bid"),
    ("tendering.documents.obtained", "tendering.documentobtain"),
    ("tendering.lot.updated", "tendering.lot"),
    ("accounts.login.succeeded", "accounts.user"),
]
# Leaves of the tree outside the bundle's range, on each side.
BEFORE = 123_457
AFTER = 4_321
# Stored subtrees from this level up; lower ones are recomputed from the leaves.
STORE_LEVEL = 6


def payload(rng: random.Random, n: int) -> str:
    org = rng.choice(ORGANISATIONS)
    return canonical_json(
        {
            "bid": n,
            "organisation": org[1],
            "price": f"{rng.randrange(1_000_000, 99_999_999)}.{rng.randrange(100):02d}",
            "ciphertext_sha256": f"{rng.getrandbits(256):064x}",
            "files": [
                {"name": "技术标.pdf", "size": rng.randrange(10**5, 10**8)},
                {"name": "商务标.pdf", "size": rng.randrange(10**5, 10**7)},
            ],
            "note": "开标现场 — 第" + str(n % 7 + 1) + "标段",
        }
    )


def generate(out: Path, events: int, strands: int, seed: int) -> dict[str, float]:
    rng = random.Random(seed)
    private = Ed25519PrivateKey.generate()
    public = private.public_key()
    first, last = BEFORE, BEFORE + events - 1
    size = last + 1 + AFTER
    checkpoint_sizes = sorted({first + events * k // 4 for k in range(1, 4)} | {size})

    frontier = merkle.Frontier()
    leaves: list[bytes] = []
    store: dict[tuple[int, int], bytes] = {}
    roots: dict[int, bytes] = {}

    def append(leaf: bytes) -> None:
        leaves.append(leaf)
        for level, index, value in frontier.append(leaf):
            if level >= STORE_LEVEL:
                store[(level, index)] = value
        if frontier.size in checkpoint_sizes:
            roots[frontier.size] = frontier.root()

    started = time.perf_counter()
    for _ in range(first):
        append(merkle.leaf_hash(rng.randbytes(32)))
    heads = {s: (0, GENESIS_HASH) for s in range(strands)}
    seq = first + 1
    sealed_count = 0
    when = 1_772_000_000_000_000  # microseconds since the epoch
    with (
        open(out / EVENTS, "w", encoding="utf-8", newline="\n") as lines,
        open(out / LEAVES, "w", encoding="ascii") as tree,
    ):
        for n in range(events):
            strand = rng.randrange(strands)
            position, prev = heads[strand]
            seq += 1 + (rng.random() < 0.02)  # a rolled-back transaction's number now and then
            when += rng.randrange(200, 5000)
            action, object_type = rng.choice(ACTIONS)
            org_id, org_name = rng.choice(ORGANISATIONS)
            sealed = rng.random() < 0.01
            seconds, micros = divmod(when, 1_000_000)
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{micros:06d}Z"
            text = envelope_text_v2(
                seq=seq,
                time=stamp,
                actor_id=rng.randrange(1, 5000),
                actor_name=f"user{rng.randrange(1, 5000)}",
                organisation_id=org_id,
                organisation_name=org_name,
                ip=f"203.0.{rng.randrange(256)}.{rng.randrange(1, 255)}",
                user_agent=USER_AGENT,
                action=action,
                object_type=object_type,
                object_id=str(rng.randrange(1, 10**6)),
                tender_id=rng.randrange(1, 2000),
                lot_id=rng.randrange(1, 6000),
                sensitivity="bids_until_deadline" if sealed else "",
                payload=payload(rng, n),
                prev_hash=prev,
                strand=strand,
                strand_seq=position + 1,
            )
            digest = text_hash(text)
            heads[strand] = (position + 1, digest)
            leaf = first + n
            if sealed:
                sealed_count += 1
                lines.write(redacted_line(leaf, digest, seq, strand, position + 1, prev))
            else:
                lines.write(full_line(leaf, digest, text))
            tree.write(digest + "\n")
            append(merkle.leaf_hash(bytes.fromhex(digest)))
    for _ in range(AFTER):
        append(merkle.leaf_hash(rng.randbytes(32)))
    assert frontier.size == size

    def lookup(level: int, index: int) -> bytes:
        if level >= STORE_LEVEL:
            return store[(level, index)]
        return merkle.root_of(leaves[index << level : (index + 1) << level])

    notes = []
    for s in checkpoint_sizes:
        body = (
            Checkpoint(ORIGIN, s, roots[s])
            .with_time(
                __import__("datetime").datetime.fromtimestamp(
                    when // 1_000_000, tz=__import__("datetime").UTC
                )
            )
            .body()
        )
        notes.append(sign_note(body, ORIGIN, private))
    bundle_checkpoints = [s for s in checkpoint_sizes if first < s <= last + 1] + [size]
    proofs = {
        "format": BUNDLE_FORMAT,
        "tree_size": size,
        "root": roots[size].hex(),
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
        "inclusion": [],
        "consistency": [
            {
                "old_size": a,
                "old_root": roots[a].hex(),
                "new_size": b,
                "new_root": roots[b].hex(),
                "path": [p.hex() for p in merkle.consistency_proof(a, b, lookup)],
            }
            for a, b in zip(bundle_checkpoints, bundle_checkpoints[1:], strict=False)
        ],
    }
    manifest = {
        "format": BUNDLE_FORMAT,
        "origin": ORIGIN,
        "created_at": "2026-03-01T00:00:00.000000Z",
        "scope": {
            "kind": "period",
            "from": "2026-02-25",
            "to": "2026-03-01",
            "time_zone": "Asia/Shanghai",
            "start": "2026-02-24T16:00:00.000000Z",
            "end": "2026-03-01T16:00:00.000000Z",
        },
        "leaves": {"first": first, "last": last},
        "records": {
            "lines": events,
            "full": events - sealed_count,
            "redacted": sealed_count,
            "in_scope": events - sealed_count,
        },
        "checkpoint": {
            "size": size,
            "root": roots[size].hex(),
            "time": "2026-03-01T00:00:00.000000Z",
        },
        "checkpoints": len(bundle_checkpoints),
        "key": {
            "name": ORIGIN,
            "key_id": key_id(ORIGIN, public).hex(),
            "fingerprint": fingerprint(public),
        },
        "files": list(FILES),
    }
    manifest_text = json.dumps(manifest, ensure_ascii=False, indent=2) + "\n"
    by_size = dict(zip(checkpoint_sizes, notes, strict=True))
    files = {
        MANIFEST: manifest_text,
        MANIFEST_NOTE: sign_note(manifest_text, ORIGIN, private),
        CHECKPOINTS: "".join(by_size[s] + NOTE_SEPARATOR for s in bundle_checkpoints),
        PROOFS: json.dumps(proofs, indent=1) + "\n",
        KEY_VKEY: verifier_key(ORIGIN, public) + "\n",
        KEY_PEM: public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode(),
    }
    for name, text in files.items():
        (out / name).write_text(text, encoding="utf-8")
    return {"seconds": time.perf_counter() - started, "bytes": (out / EVENTS).stat().st_size}


def time_verify(bundle: Path, jobs: int) -> tuple[float, int, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO")}
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-I", "-m", "audit.verify", str(bundle), "--jobs", str(jobs)],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
    )
    return time.perf_counter() - started, done.returncode, done.stdout + done.stderr


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--strands", type=int, default=16)
    parser.add_argument(
        "--jobs", default=f"1,{os.cpu_count() or 1}", help="comma-separated worker counts to time"
    )
    parser.add_argument(
        "--repeat", type=int, default=2, help="runs per worker count (best is reported)"
    )
    parser.add_argument("--seed", type=int, default=6)
    parser.add_argument(
        "--keep",
        type=Path,
        help="write the bundle here and keep it (default: a temporary directory)",
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="sunbid-bundle-") as scratch:
        out = args.keep or Path(scratch) / "bundle"
        out.mkdir(parents=True, exist_ok=False)
        made = generate(out, args.events, args.strands, args.seed)
        print(
            f"bundle: {args.events:,} events over {args.strands} strands, events.jsonl {made['bytes'] / 1e6:,.0f} MB "
            f"({made['bytes'] / args.events:,.0f} bytes a line), written in {made['seconds']:.1f} s"
        )
        for jobs in sorted({int(j) for j in args.jobs.split(",")}):
            runs = [time_verify(out, jobs) for _ in range(args.repeat)]
            best = min(r[0] for r in runs)
            status = {r[1] for r in runs}
            if status != {0}:
                print(runs[0][2])
                raise SystemExit(f"verification failed (exit {status})")
            print(
                f"verify --jobs {jobs}: best of {args.repeat} {best:.2f} s wall, "
                f"{args.events / best:,.0f} events/s (runs: {', '.join(f'{r[0]:.2f}' for r in runs)})"
            )
    load = os.getloadavg()
    print(f"load average: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
