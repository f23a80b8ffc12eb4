"""Benchmark: the audit log's Merkle tree core (``audit.merkle``), no database.

Run::

    .venv/bin/python bench/merkle.py            # 100,000 and 1,000,000 leaves
    .venv/bin/python bench/merkle.py --sizes 1000000 --repeat 5

What is timed, per tree size ``n`` (leaves are ``leaf_hash`` of distinct
8-byte strings, prepared before any timing):

* ``leaf_hash``: hashing the ``n`` leaf data;
* ``root_of``: the root of ``n`` leaf hashes (best of ``--repeat`` runs);
* ``Frontier.append``: appending the ``n`` leaves one by one, alone, then
  again with the perfect subtrees each append completes stored into a dict
  keyed ``(level, index)`` with the leaves as level 0: the store every proof
  then reads;
* inclusion and consistency proofs at size ``n`` and at random earlier sizes,
  built from that dict store through ``inclusion_proof`` /
  ``consistency_proof`` (mean over ``--proofs`` random requests), and their
  verification with ``verify_inclusion`` / ``verify_consistency``.

Each line gives wall-clock time and this process's CPU time: the machine is
shared, and the load average printed at the end says how much the neighbours
took.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from audit.merkle import (  # noqa: E402
    Frontier,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    root_of,
    tree_root,
    verify_consistency,
    verify_inclusion,
)


class Timer:
    def __enter__(self) -> Timer:
        self.wall = time.perf_counter()
        self.cpu = time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self.wall
        self.cpu = time.process_time() - self.cpu


def line(what: str, timer: Timer, count: int, unit: str) -> None:
    rate = count / timer.wall if timer.wall else float("inf")
    print(
        f"  {what:<34} {timer.wall * 1000:9.1f} ms wall {timer.cpu * 1000:9.1f} ms cpu"
        f"  {rate:>13,.0f} {unit}/s"
    )


def bench(size: int, repeat: int, proofs: int, rng: random.Random) -> None:
    print(f"n = {size:,} leaves")
    data = [i.to_bytes(8, "big") for i in range(size)]
    with Timer() as t:
        leaves = [leaf_hash(d) for d in data]
    line("leaf_hash", t, size, "leaves")
    del data

    best: Timer | None = None
    root = b""
    for _ in range(repeat):
        with Timer() as t:
            root = root_of(leaves)
        if best is None or t.wall < best.wall:
            best = t
    assert best is not None
    line(f"root_of (best of {repeat})", best, size, "leaves")

    frontier = Frontier()
    with Timer() as t:
        append = frontier.append
        for leaf in leaves:
            append(leaf)
    line("Frontier.append alone", t, size, "appends")

    store: dict[tuple[int, int], bytes] = {}
    frontier = Frontier()
    with Timer() as t:
        append = frontier.append
        for i, leaf in enumerate(leaves):
            store[(0, i)] = leaf
            for level, index, h in append(leaf):
                store[(level, index)] = h
    line("Frontier.append + dict store", t, size, "appends")
    assert frontier.root() == root, "frontier and root_of disagree"
    print(f"  root {root.hex()}  ({len(store):,} stored subtrees)")

    def lookup(level: int, index: int) -> bytes:
        return store[(level, index)]

    requests = [(rng.randrange(size), size) for _ in range(proofs // 2)]
    for _ in range(proofs - len(requests)):
        at = rng.randrange(1, size + 1)
        requests.append((rng.randrange(at), at))
    with Timer() as t:
        made = [inclusion_proof(index, at, lookup) for index, at in requests]
    line("inclusion_proof", t, len(requests), "proofs")
    print(
        f"    {t.wall / len(requests) * 1e6:.1f} µs per proof, {max(map(len, made))} hashes at most"
    )
    roots = {at: tree_root(at, lookup) for _, at in requests}
    with Timer() as t:
        ok = all(
            verify_inclusion(leaves[index], index, at, proof, roots[at])
            for (index, at), proof in zip(requests, made, strict=True)
        )
    line("verify_inclusion", t, len(requests), "proofs")
    assert ok

    pairs = []
    for _ in range(proofs):
        new = size if rng.random() < 0.5 else rng.randrange(2, size + 1)
        pairs.append((rng.randrange(1, new), new))
    with Timer() as t:
        made = [consistency_proof(old, new, lookup) for old, new in pairs]
    line("consistency_proof", t, len(pairs), "proofs")
    print(f"    {t.wall / len(pairs) * 1e6:.1f} µs per proof, {max(map(len, made))} hashes at most")
    roots.update({s: tree_root(s, lookup) for pair in pairs for s in pair})
    with Timer() as t:
        ok = all(
            verify_consistency(old, new, roots[old], roots[new], proof)
            for (old, new), proof in zip(pairs, made, strict=True)
        )
    line("verify_consistency", t, len(pairs), "proofs")
    assert ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--repeat", type=int, default=3, help="root_of runs per size (best kept)")
    parser.add_argument("--proofs", type=int, default=2000, help="proofs of each kind per size")
    parser.add_argument("--seed", type=int, default=6962)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    print(f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
    for size in args.sizes:
        bench(size, args.repeat, args.proofs, rng)
    print("load average: " + " ".join(f"{x:.2f}" for x in os.getloadavg()))


if __name__ == "__main__":
    main()
