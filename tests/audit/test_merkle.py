"""``audit.merkle``: RFC 9162 hashes, proofs from stored subtrees, their checks, the frontier.

No database: the tree is pure computation. The published vectors come from
the reference implementation transparency-dev/merkle (the successor of
certificate-transparency-go's ``merkle`` package):
https://github.com/transparency-dev/merkle/blob/main/proof/verify_test.go (the
eight leaves, the roots of sizes 1..8, the inclusion and consistency proofs)
and https://github.com/transparency-dev/merkle/blob/main/proof/proof_test.go
(which stored nodes make up each proof, for trees up to 95 leaves).
"""

from __future__ import annotations

import hashlib
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from audit.merkle import (
    EMPTY_ROOT,
    Frontier,
    consistency_proof,
    consistency_proof_nodes,
    inclusion_proof,
    inclusion_proof_nodes,
    leaf_hash,
    node_hash,
    perfect_subtrees,
    root_of,
    subtree_root,
    tree_root,
    verify_consistency,
    verify_inclusion,
)

# --- the reference tree of transparency-dev/merkle proof/verify_test.go -----------------

REFERENCE_LEAVES = [
    bytes.fromhex(h)
    for h in (
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    )
]
REFERENCE_ROOTS = [  # roots[i] is the root of the first i + 1 leaves
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
# (leaf index, tree size, proof). The Go file numbers leaves from 1; these are from 0.
REFERENCE_INCLUSION = [
    (0, 1, []),
    (
        0,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        5,
        8,
        [
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (
        1,
        5,
        [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
]
# (old size, new size, proof)
REFERENCE_CONSISTENCY = [
    (1, 1, []),
    (
        1,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        5,
        [
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
    (
        6,
        7,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
]


class Store:
    """A dict-backed subtree store fed by a frontier, as the log's table will be."""

    def __init__(self, leaves: list[bytes]):
        self.nodes: dict[tuple[int, int], bytes] = {}
        self.frontier = Frontier()
        self.lookups: list[tuple[int, int]] = []
        for i, leaf in enumerate(leaves):
            self.nodes[(0, i)] = leaf
            for level, index, h in self.frontier.append(leaf):
                self.nodes[(level, index)] = h

    def __call__(self, level: int, index: int) -> bytes:
        self.lookups.append((level, index))
        return self.nodes[(level, index)]


def hashed_leaves(count: int, seed: int = 0) -> list[bytes]:
    return [leaf_hash(f"event {seed}:{i}".encode()) for i in range(count)]


REFERENCE_HASHES = [leaf_hash(d) for d in REFERENCE_LEAVES]
REFERENCE_STORE = Store(REFERENCE_HASHES)
LEAVES = hashed_leaves(128)
STORE = Store(LEAVES)
SMALL_SIZES = range(1, 71)


def flip(value: bytes, bit: int) -> bytes:
    changed = bytearray(value)
    changed[bit // 8] ^= 1 << (bit % 8)
    return bytes(changed)


# Flipping any bit of a SHA-256 input is equally fatal; these cover both ends and the middle.
HASH_BITS = (0, 7, 131, 255)


# --- independent reference: RFC 9162 §2.1 written out recursively over lists ------------


def rfc_mth(d: list[bytes]) -> bytes:
    n = len(d)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return d[0]
    k = 1
    while k * 2 < n:
        k *= 2
    return hashlib.sha256(b"\x01" + rfc_mth(d[:k]) + rfc_mth(d[k:])).digest()


def rfc_path(m: int, d: list[bytes]) -> list[bytes]:
    n = len(d)
    if n == 1:
        return []
    k = 1
    while k * 2 < n:
        k *= 2
    if m < k:
        return [*rfc_path(m, d[:k]), rfc_mth(d[k:])]
    return [*rfc_path(m - k, d[k:]), rfc_mth(d[:k])]


def rfc_subproof(m: int, d: list[bytes], b: bool) -> list[bytes]:
    n = len(d)
    if m == n:
        return [] if b else [rfc_mth(d)]
    k = 1
    while k * 2 < n:
        k *= 2
    if m <= k:
        return [*rfc_subproof(m, d[:k], b), rfc_mth(d[k:])]
    return [*rfc_subproof(m - k, d[k:], False), rfc_mth(d[:k])]


def rfc_path_shape(index: int, size: int) -> tuple[str, ...]:
    """Which side each entry of PATH(index, D[0:size]) sits on, from the leaf up."""
    if size == 1:
        return ()
    k = 1
    while k * 2 < size:
        k *= 2
    if index < k:
        return (*rfc_path_shape(index, k), "right")
    return (*rfc_path_shape(index - k, size - k), "left")


def rfc_subproof_shape(m: int, n: int, b: bool) -> tuple[object, ...]:
    """The steps SUBPROOF(m, D[0:n], b) takes: the verifier computes from these alone."""
    if m == n:
        return ("stop", b)
    k = 1
    while k * 2 < n:
        k *= 2
    if m <= k:
        return (*rfc_subproof_shape(m, k, b), "right")
    return (*rfc_subproof_shape(m - k, n - k, False), "left")


# --- hashing -----------------------------------------------------------------------------


def test_leaf_and_node_hashes_are_sha256_with_the_rfc_domain_prefixes():
    assert leaf_hash(b"abc") == hashlib.sha256(b"\x00abc").digest()
    left, right = leaf_hash(b"l"), leaf_hash(b"r")
    assert node_hash(left, right) == hashlib.sha256(b"\x01" + left + right).digest()
    assert hashlib.sha256(b"").digest() == EMPTY_ROOT
    assert EMPTY_ROOT.hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def test_roots_of_the_reference_tree_match_the_published_roots_at_every_size():
    for size, expected in enumerate(REFERENCE_ROOTS, start=1):
        assert root_of(REFERENCE_HASHES[:size]).hex() == expected
        assert tree_root(size, REFERENCE_STORE).hex() == expected


def test_root_of_no_leaves_is_the_hash_of_nothing():
    assert root_of([]) == EMPTY_ROOT
    assert tree_root(0, REFERENCE_STORE) == EMPTY_ROOT
    assert Frontier().root() == EMPTY_ROOT


def test_root_of_matches_the_recursive_rfc_definition_at_every_size():
    for size in range(1, 129):
        assert root_of(LEAVES[:size]) == rfc_mth(LEAVES[:size]), size


def test_root_of_refuses_leaf_data_in_place_of_leaf_hashes():
    with pytest.raises(ValueError, match="leaf hashes"):
        root_of([b"event data"])
    with pytest.raises(ValueError, match="leaf hashes"):
        root_of([LEAVES[0], LEAVES[1].hex()])  # type: ignore[list-item]


# --- published proofs --------------------------------------------------------------------


@pytest.mark.parametrize(("index", "size", "proof"), REFERENCE_INCLUSION)
def test_inclusion_proofs_match_the_published_proofs_and_verify(index, size, proof):
    expected = [bytes.fromhex(h) for h in proof]
    assert inclusion_proof(index, size, REFERENCE_STORE) == expected
    root = bytes.fromhex(REFERENCE_ROOTS[size - 1])
    assert verify_inclusion(REFERENCE_HASHES[index], index, size, expected, root)


@pytest.mark.parametrize(("old", "new", "proof"), REFERENCE_CONSISTENCY)
def test_consistency_proofs_match_the_published_proofs_and_verify(old, new, proof):
    expected = [bytes.fromhex(h) for h in proof]
    assert consistency_proof(old, new, REFERENCE_STORE) == expected
    old_root = bytes.fromhex(REFERENCE_ROOTS[old - 1])
    new_root = bytes.fromhex(REFERENCE_ROOTS[new - 1])
    assert verify_consistency(old, new, old_root, new_root, expected)


# proof_test.go lists each proof as stored node IDs (level, index); a "rehash"
# group is one proof entry hashed from several nodes, the later ones on the left.
def _node(level, index):
    return ((level, index),)


def _group(*ids):
    return tuple(ids)


PUBLISHED_INCLUSION_SHAPES = [
    (1, 0, []),
    (2, 0, [_node(0, 1)]),
    (2, 1, [_node(0, 0)]),
    (3, 1, [_node(0, 0), _node(0, 2)]),
    (7, 0, [_node(0, 1), _node(1, 1), _group((0, 6), (1, 2))]),
    (7, 1, [_node(0, 0), _node(1, 1), _group((0, 6), (1, 2))]),
    (7, 2, [_node(0, 3), _node(1, 0), _group((0, 6), (1, 2))]),
    (7, 3, [_node(0, 2), _node(1, 0), _group((0, 6), (1, 2))]),
    (7, 4, [_node(0, 5), _node(0, 6), _node(2, 0)]),
    (7, 5, [_node(0, 4), _node(0, 6), _node(2, 0)]),
    (7, 6, [_node(1, 2), _node(2, 0)]),
    (4, 2, [_node(0, 3), _node(1, 0)]),
    (5, 3, [_node(0, 2), _node(1, 0), _node(0, 4)]),
    (6, 3, [_node(0, 2), _node(1, 0), _node(1, 2)]),
    (6, 4, [_node(0, 5), _node(2, 0)]),
    (15, 10, [_node(0, 11), _node(1, 4), _group((0, 14), (1, 6)), _node(3, 0)]),
    (31, 24, [_node(0, 25), _node(1, 13), _group((0, 30), (1, 14)), _node(3, 2), _node(4, 0)]),
    (
        95,
        81,
        [
            _node(0, 80),
            _node(1, 41),
            _node(2, 21),
            _group((0, 94), (1, 46), (2, 22)),
            _node(4, 4),
            _node(6, 0),
        ],
    ),
]
PUBLISHED_CONSISTENCY_SHAPES = [
    (1, 2, [_node(0, 1)]),
    (1, 4, [_node(0, 1), _node(1, 1)]),
    (1, 6, [_node(0, 1), _node(1, 1), _node(1, 2)]),
    (2, 3, [_node(0, 2)]),
    (2, 8, [_node(1, 1), _node(2, 1)]),
    (3, 7, [_node(0, 2), _node(0, 3), _node(1, 0), _group((0, 6), (1, 2))]),
    (4, 7, [_group((0, 6), (1, 2))]),
    (5, 7, [_node(0, 4), _node(0, 5), _node(0, 6), _node(2, 0)]),
    (6, 7, [_node(1, 2), _node(0, 6), _node(2, 0)]),
    (7, 8, [_node(0, 6), _node(0, 7), _node(1, 2), _node(2, 0)]),
    (1, 1, []),
    (2, 2, []),
    (3, 3, []),
    (8, 8, []),
    (2, 4, [_node(1, 1)]),
    (3, 5, [_node(0, 2), _node(0, 3), _node(1, 0), _node(0, 4)]),
    (3, 6, [_node(0, 2), _node(0, 3), _node(1, 0), _node(1, 2)]),
    (4, 6, [_node(1, 2)]),
    (1, 7, [_node(0, 1), _node(1, 1), _group((0, 6), (1, 2))]),
    (10, 15, [_node(1, 4), _node(1, 5), _group((0, 14), (1, 6)), _node(3, 0)]),
    (24, 31, [_node(3, 2), _group((0, 30), (1, 14), (2, 6)), _node(4, 0)]),
    (
        81,
        95,
        [
            _node(0, 80),
            _node(0, 81),
            _node(1, 41),
            _node(2, 21),
            _group((0, 94), (1, 46), (2, 22)),
            _node(4, 4),
            _node(6, 0),
        ],
    ),
]


def _expected_from_shape(shape, leaves):
    def perfect(level, index):
        return root_of(leaves[index << level : (index + 1) << level])

    out = []
    for entry in shape:
        h = perfect(*entry[0])
        for later in entry[1:]:
            h = node_hash(perfect(*later), h)
        out.append(h)
    return out


@pytest.mark.parametrize(("size", "index", "shape"), PUBLISHED_INCLUSION_SHAPES)
def test_inclusion_proofs_are_made_of_the_published_nodes(size, index, shape):
    assert inclusion_proof(index, size, STORE) == _expected_from_shape(shape, LEAVES)


@pytest.mark.parametrize(("old", "new", "shape"), PUBLISHED_CONSISTENCY_SHAPES)
def test_consistency_proofs_are_made_of_the_published_nodes(old, new, shape):
    assert consistency_proof(old, new, STORE) == _expected_from_shape(shape, LEAVES)


# --- every small tree: proofs equal the RFC's, verify, and refuse any change -------------


def test_inclusion_proofs_equal_the_rfc_path_for_every_index_of_every_small_tree():
    for size in SMALL_SIZES:
        for index in range(size):
            assert inclusion_proof(index, size, STORE) == rfc_path(index, LEAVES[:size]), (
                index,
                size,
            )


def test_consistency_proofs_equal_the_rfc_subproof_for_every_pair_of_small_trees():
    for new in SMALL_SIZES:
        for old in range(1, new):
            expected = rfc_subproof(old, LEAVES[:new], True)
            assert consistency_proof(old, new, STORE) == expected, (old, new)
        assert consistency_proof(new, new, STORE) == []
        assert consistency_proof(0, new, STORE) == []


def _inclusion_forgeries(leaf, index, size, proof, root):
    for bit in HASH_BITS:
        yield f"leaf bit {bit}", (flip(leaf, bit), index, size, proof, root)
        yield f"root bit {bit}", (leaf, index, size, proof, flip(root, bit))
        for i in range(len(proof)):
            changed = list(proof)
            changed[i] = flip(proof[i], bit)
            yield f"proof[{i}] bit {bit}", (leaf, index, size, changed, root)
    for bit in range(9):
        yield f"index bit {bit}", (leaf, index ^ (1 << bit), size, proof, root)
        yield f"size bit {bit}", (leaf, index, size ^ (1 << bit), proof, root)
    yield "index + 1", (leaf, index + 1, size, proof, root)
    yield "index - 1", (leaf, index - 1, size, proof, root)
    yield "size * 2", (leaf, index, size * 2, proof, root)
    yield "size // 2", (leaf, index, size // 2, proof, root)
    yield "trailing root", (leaf, index, size, [*proof, root], root)
    yield "preceding root", (leaf, index, size, [root, *proof], root)
    yield "trailing empty hash", (leaf, index, size, [*proof, EMPTY_ROOT], root)
    if proof:
        yield "truncated", (leaf, index, size, proof[:-1], root)
        yield "first dropped", (leaf, index, size, proof[1:], root)
        yield "doubled", (leaf, index, size, [proof[0], *proof], root)
    if len(proof) > 1:
        yield "swapped", (leaf, index, size, [proof[1], proof[0], *proof[2:]], root)


def test_inclusion_proofs_verify_and_any_single_change_is_refused():
    # A changed size is accepted exactly where RFC 9162 cannot tell the trees
    # apart: the leaf's path has the same shape in both (see the next test).
    indistinguishable = 0
    for size in SMALL_SIZES:
        root = root_of(LEAVES[:size])
        for index in range(size):
            shape = rfc_path_shape(index, size)
            proof = inclusion_proof(index, size, STORE)
            assert verify_inclusion(LEAVES[index], index, size, proof, root), (index, size)
            for what, args in _inclusion_forgeries(LEAVES[index], index, size, proof, root):
                _, forged_index, forged_size, forged_proof, _ = args
                same_shape = (
                    args[0] == LEAVES[index]
                    and args[4] == root
                    and forged_proof == proof
                    and 0 <= forged_index < forged_size
                    and rfc_path_shape(forged_index, forged_size) == shape
                )
                indistinguishable += same_shape
                assert verify_inclusion(*args) == same_shape, f"{what}, leaf {index} of {size}"
    assert indistinguishable > 0


def test_an_inclusion_proof_binds_the_size_only_through_the_shape_of_the_path():
    # Leaf 0's path in any tree of 5 to 8 leaves is right, right, right: the
    # proof against the 5-leaf root also "verifies" as a proof in 7 or 8 leaves.
    # The index is bound (for a given size the shape is the path to the leaf),
    # the size is not: it must come with the root from one signed checkpoint.
    assert rfc_path_shape(0, 5) == rfc_path_shape(0, 7) == ("right", "right", "right")
    proof, root = inclusion_proof(0, 5, STORE), root_of(LEAVES[:5])
    assert verify_inclusion(LEAVES[0], 0, 7, proof, root)
    assert verify_inclusion(LEAVES[0], 0, 8, proof, root)
    assert not verify_inclusion(LEAVES[0], 0, 4, proof, root)
    assert not verify_inclusion(LEAVES[0], 0, 9, proof, root)
    assert not verify_inclusion(LEAVES[0], 1, 5, proof, root)


def _consistency_forgeries(old, new, old_root, new_root, proof):
    for bit in HASH_BITS:
        yield f"old root bit {bit}", (old, new, flip(old_root, bit), new_root, proof)
        yield f"new root bit {bit}", (old, new, old_root, flip(new_root, bit), proof)
        for i in range(len(proof)):
            changed = list(proof)
            changed[i] = flip(proof[i], bit)
            yield f"proof[{i}] bit {bit}", (old, new, old_root, new_root, changed)
    for bit in range(9):
        yield f"old size bit {bit}", (old ^ (1 << bit), new, old_root, new_root, proof)
        yield f"new size bit {bit}", (old, new ^ (1 << bit), old_root, new_root, proof)
    yield "old + 1", (old + 1, new, old_root, new_root, proof)
    yield "old - 1", (old - 1, new, old_root, new_root, proof)
    yield "new * 2", (old, new * 2, old_root, new_root, proof)
    yield "new // 2", (old, new // 2, old_root, new_root, proof)
    yield "swapped roots", (old, new, new_root, old_root, proof)
    yield "empty proof", (old, new, old_root, new_root, [])
    yield "trailing old root", (old, new, old_root, new_root, [*proof, old_root])
    yield "trailing new root", (old, new, old_root, new_root, [*proof, new_root])
    yield "preceding old root", (old, new, old_root, new_root, [old_root, *proof])
    yield "preceding new root", (old, new, old_root, new_root, [new_root, *proof])
    yield "doubled first", (old, new, old_root, new_root, [proof[0], *proof])
    yield "truncated", (old, new, old_root, new_root, proof[:-1])
    if len(proof) > 1:
        yield "first dropped", (old, new, old_root, new_root, proof[1:])
        yield "swapped", (old, new, old_root, new_root, [proof[1], proof[0], *proof[2:]])


def test_consistency_proofs_verify_and_any_single_change_is_refused():
    indistinguishable = 0
    for new in SMALL_SIZES:
        new_root = root_of(LEAVES[:new])
        for old in range(1, new):
            old_root = root_of(LEAVES[:old])
            shape = rfc_subproof_shape(old, new, True)
            proof = consistency_proof(old, new, STORE)
            assert verify_consistency(old, new, old_root, new_root, proof), (old, new)
            for what, args in _consistency_forgeries(old, new, old_root, new_root, proof):
                forged_old, forged_new, forged_old_root, forged_new_root, forged_proof = args
                same_shape = (
                    (forged_old_root, forged_new_root, forged_proof) == (old_root, new_root, proof)
                    and 0 < forged_old < forged_new
                    and rfc_subproof_shape(forged_old, forged_new, True) == shape
                )
                indistinguishable += same_shape
                assert verify_consistency(*args) == same_shape, f"{what}, {old} -> {new}"
    assert indistinguishable > 0


def test_a_consistency_proof_binds_the_new_size_only_through_its_shape():
    proof = consistency_proof(1, 5, STORE)
    old_root, new_root = root_of(LEAVES[:1]), root_of(LEAVES[:5])
    assert rfc_subproof_shape(1, 5, True) == rfc_subproof_shape(1, 7, True)
    assert verify_consistency(1, 7, old_root, new_root, proof)
    assert not verify_consistency(2, 5, old_root, new_root, proof)


def test_a_tree_is_consistent_with_itself_only_with_an_empty_proof_and_the_same_root():
    root = root_of(LEAVES[:5])
    assert verify_consistency(5, 5, root, root, [])
    assert not verify_consistency(5, 5, root, root, [root])
    assert not verify_consistency(5, 5, root, root_of(LEAVES[:4]), [])
    assert verify_consistency(0, 0, EMPTY_ROOT, EMPTY_ROOT, [])
    assert not verify_consistency(0, 0, root, root, [])


def test_the_empty_tree_is_consistent_with_any_tree_but_only_under_the_empty_root():
    root = root_of(LEAVES[:5])
    assert verify_consistency(0, 5, EMPTY_ROOT, root, [])
    assert not verify_consistency(0, 5, EMPTY_ROOT, root, [root])
    assert not verify_consistency(0, 5, root, root, [])
    assert not verify_consistency(0, 0, EMPTY_ROOT, root, [])


def test_a_tree_cannot_be_proven_consistent_with_a_different_history():
    other = hashed_leaves(20, seed=1)
    forked = LEAVES[:9] + other[9:20]  # same first 9 leaves, different after
    store = Store(forked)
    proof = consistency_proof(9, 20, store)
    assert verify_consistency(9, 20, root_of(LEAVES[:9]), root_of(forked), proof)
    assert not verify_consistency(
        10, 20, root_of(LEAVES[:10]), root_of(forked), consistency_proof(10, 20, store)
    )
    assert not verify_consistency(9, 20, root_of(LEAVES[:9]), root_of(LEAVES[:20]), proof)


def test_an_inclusion_proof_for_one_leaf_does_not_prove_another():
    root = root_of(LEAVES[:13])
    proof = inclusion_proof(6, 13, STORE)
    assert not verify_inclusion(LEAVES[7], 6, 13, proof, root)
    assert not verify_inclusion(leaf_hash(b"forged event"), 6, 13, proof, root)


GARBAGE = [
    None,
    "",
    "ab",
    b"",
    b"\x00" * 31,
    b"\x00" * 33,
    bytearray(32),
    3.0,
    "3",
    [b"\x00" * 32],
    object(),
]


def test_verify_inclusion_returns_false_for_malformed_input_and_never_raises():
    leaf, root = LEAVES[3], root_of(LEAVES[:10])
    proof = inclusion_proof(3, 10, STORE)
    assert verify_inclusion(leaf, 3, 10, proof, root)
    for junk in GARBAGE:
        assert not verify_inclusion(junk, 3, 10, proof, root)  # type: ignore[arg-type]
        assert not verify_inclusion(leaf, 3, 10, proof, junk)  # type: ignore[arg-type]
        assert not verify_inclusion(leaf, junk, 10, proof, root)  # type: ignore[arg-type]
        assert not verify_inclusion(leaf, 3, junk, proof, root)  # type: ignore[arg-type]
        assert not verify_inclusion(leaf, 3, 10, [*proof[:-1], junk], root)  # type: ignore[list-item]
        assert not verify_inclusion(leaf, 3, 10, junk, root)  # type: ignore[arg-type]
    for index, size in ((0, 0), (10, 10), (11, 10), (-1, 10), (3, -10), (True, 10)):
        assert not verify_inclusion(leaf, index, size, proof, root)
    assert not verify_inclusion(leaf, 3, 10, b"".join(proof), root)  # type: ignore[arg-type]
    assert verify_inclusion(leaf, 3, 10, tuple(proof), root)  # any sequence of hashes
    assert not verify_inclusion(leaf, 3, 2**70, proof, root)


def test_verify_consistency_returns_false_for_malformed_input_and_never_raises():
    old_root, new_root = root_of(LEAVES[:6]), root_of(LEAVES[:10])
    proof = consistency_proof(6, 10, STORE)
    assert verify_consistency(6, 10, old_root, new_root, proof)
    for junk in GARBAGE:
        assert not verify_consistency(junk, 10, old_root, new_root, proof)  # type: ignore[arg-type]
        assert not verify_consistency(6, junk, old_root, new_root, proof)  # type: ignore[arg-type]
        assert not verify_consistency(6, 10, junk, new_root, proof)  # type: ignore[arg-type]
        assert not verify_consistency(6, 10, old_root, junk, proof)  # type: ignore[arg-type]
        assert not verify_consistency(6, 10, old_root, new_root, junk)  # type: ignore[arg-type]
        assert not verify_consistency(6, 10, old_root, new_root, [junk, *proof[1:]])  # type: ignore[list-item]
    for old, new in ((10, 6), (-1, 10), (6, -1), (True, 10), (6, 2**70)):
        assert not verify_consistency(old, new, old_root, new_root, proof)


# --- proofs from storage: few lookups, only of stored nodes -------------------------------


def test_proofs_only_look_up_complete_subtrees_inside_the_proven_tree():
    for size in SMALL_SIZES:
        for index in range(size):
            for level, i in inclusion_proof_nodes(index, size):
                assert (i + 1) << level <= size, (index, size, level, i)
        for old in range(size + 1):
            for level, i in consistency_proof_nodes(old, size):
                assert (i + 1) << level <= size, (old, size, level, i)


def test_proofs_look_up_exactly_the_nodes_they_announce():
    store = Store(LEAVES[:100])
    for size, index in ((100, 37), (77, 76), (64, 0), (1, 0)):
        store.lookups.clear()
        inclusion_proof(index, size, store)
        assert store.lookups == inclusion_proof_nodes(index, size)
    for old, new in ((37, 100), (64, 100), (99, 100), (5, 5), (0, 9)):
        store.lookups.clear()
        consistency_proof(old, new, store)
        assert store.lookups == consistency_proof_nodes(old, new)


@pytest.mark.parametrize("size", [2**20, 2**20 - 1, 10**6, 2**40 + 2**39 - 1, 2**62 - 1])
def test_proofs_in_huge_trees_need_about_two_lookups_per_level(size):
    levels = size.bit_length()
    rng = random.Random(size)
    for index in [0, size - 1, size // 2, *(rng.randrange(size) for _ in range(50))]:
        nodes = inclusion_proof_nodes(index, size)
        assert len(nodes) <= 2 * levels
        assert all((i + 1) << level <= size for level, i in nodes)
    for old in [1, size - 1, size // 3, *(rng.randrange(1, size) for _ in range(50))]:
        nodes = consistency_proof_nodes(old, size)
        assert len(nodes) <= 3 * levels
        assert all((i + 1) << level <= size for level, i in nodes)


def test_a_missing_or_corrupt_stored_node_is_reported_not_turned_into_a_proof():
    store = Store(LEAVES[:20])
    del store.nodes[(2, 0)]
    assert (2, 0) in inclusion_proof_nodes(5, 20)
    assert (2, 0) in consistency_proof_nodes(5, 20)
    with pytest.raises(KeyError):
        consistency_proof(5, 20, store)
    store.nodes[(2, 0)] = b"short"
    with pytest.raises(ValueError, match=r"subtree\(2, 0\)"):
        inclusion_proof(5, 20, store)


def test_proof_requests_outside_the_tree_are_refused():
    for index, size in ((0, 0), (5, 5), (-1, 3), (6, 5)):
        with pytest.raises(ValueError):
            inclusion_proof(index, size, STORE)
    for old, new in ((6, 5), (-1, 5)):
        with pytest.raises(ValueError):
            consistency_proof(old, new, STORE)
    with pytest.raises(ValueError, match="int"):
        inclusion_proof(1.0, 5, STORE)  # type: ignore[arg-type]


# --- ranges and subtrees -----------------------------------------------------------------


def test_perfect_subtrees_cover_a_range_exactly_with_aligned_subtrees():
    for start in range(0, 70):
        for end in range(start, 70):
            covered = []
            for level, index in perfect_subtrees(start, end):
                covered.extend(range(index << level, (index + 1) << level))
            assert covered == list(range(start, end)), (start, end)
    assert perfect_subtrees(0, 13) == [(3, 0), (2, 2), (0, 12)]
    assert perfect_subtrees(5, 13) == [(0, 5), (1, 3), (2, 2), (0, 12)]


def test_subtree_root_of_every_tree_node_range_is_its_rfc_hash():
    checked = 0
    for start in range(0, 128):
        for end in range(start + 1, 129):
            span = 1 << (end - start - 1).bit_length()
            if start % span:
                with pytest.raises(ValueError, match="not a node"):
                    subtree_root(start, end, STORE)
            else:
                assert subtree_root(start, end, STORE) == rfc_mth(LEAVES[start:end]), (start, end)
                checked += 1
    assert checked > 500
    with pytest.raises(ValueError):
        subtree_root(4, 4, STORE)


# --- the frontier --------------------------------------------------------------------------


def test_the_frontier_root_equals_root_of_at_every_size_and_reports_exactly_the_perfect_subtrees():
    leaves = hashed_leaves(300, seed=2)
    frontier = Frontier()
    reported: dict[tuple[int, int], bytes] = {}
    for size in range(1, 301):
        for level, index, h in frontier.append(leaves[size - 1]):
            assert level >= 1
            assert (level, index) not in reported
            reported[(level, index)] = h
        assert frontier.size == size
        assert frontier.root() == root_of(leaves[:size])
        expected = {
            (level, index)
            for level in range(1, size.bit_length())
            for index in range(size >> level)
        }
        assert set(reported) == expected, size
    for (level, index), h in reported.items():
        assert h == root_of(leaves[index << level : (index + 1) << level])


def test_append_returns_nodes_lowest_level_first_and_nothing_for_an_even_leaf():
    frontier = Frontier()
    assert frontier.extend(LEAVES[:7]) == [
        (1, 0, root_of(LEAVES[0:2])),
        (1, 1, root_of(LEAVES[2:4])),
        (2, 0, root_of(LEAVES[0:4])),
        (1, 2, root_of(LEAVES[4:6])),
    ]
    assert frontier.append(LEAVES[7]) == [
        (1, 3, root_of(LEAVES[6:8])),
        (2, 1, root_of(LEAVES[4:8])),
        (3, 0, root_of(LEAVES[0:8])),
    ]
    assert frontier.append(LEAVES[8]) == []


def test_the_frontier_holds_one_hash_per_set_bit_of_its_size():
    frontier = Frontier()
    frontier.extend(LEAVES[:13])
    assert frontier.nodes() == [
        (3, 0, root_of(LEAVES[0:8])),
        (2, 2, root_of(LEAVES[8:12])),
        (0, 12, LEAVES[12]),
    ]
    assert frontier.hashes == tuple(h for _, _, h in frontier.nodes())


def test_a_saved_frontier_resumes_exactly_where_it_stopped():
    for size in range(0, 70):
        frontier = Frontier()
        frontier.extend(LEAVES[:size])
        saved = (frontier.size, frontier.to_hex())
        resumed = Frontier.from_hex(*saved)
        assert resumed == frontier
        assert Frontier(frontier.size, frontier.hashes) == frontier
        assert Frontier.from_subtrees(size, STORE) == frontier
        assert resumed.extend(LEAVES[size:100]) == frontier.extend(LEAVES[size:100])
        assert resumed.root() == root_of(LEAVES[:100])


def test_a_frontier_that_cannot_be_refuses_to_load():
    frontier = Frontier()
    frontier.extend(LEAVES[:6])
    with pytest.raises(ValueError, match="holds 2 hashes, not 1"):
        Frontier(6, frontier.hashes[:1])
    with pytest.raises(ValueError, match="32 bytes"):
        Frontier(6, [frontier.hashes[0], frontier.hashes[1][:31]])
    with pytest.raises(ValueError, match="64 hexadecimal"):
        Frontier.from_hex(6, [*frontier.to_hex()[:1], "00"])
    with pytest.raises(ValueError):
        Frontier.from_hex(6, [*frontier.to_hex()[:1], "zz" * 32])
    with pytest.raises(ValueError, match="negative"):
        Frontier(-1)
    with pytest.raises(ValueError, match="32 bytes"):
        frontier.append(b"raw event data, not its leaf hash")
    assert frontier.size == 6  # the refused append changed nothing


def test_a_copied_frontier_grows_independently():
    frontier = Frontier()
    frontier.extend(LEAVES[:5])
    copy = frontier.copy()
    copy.append(LEAVES[5])
    assert frontier.size == 5
    assert frontier.root() == root_of(LEAVES[:5])
    assert copy.root() == root_of(LEAVES[:6])


# --- larger random trees -------------------------------------------------------------------

BIG = hashed_leaves(3000, seed=3)
BIG_STORE = Store(BIG)


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_random_inclusion_proofs_in_larger_trees_verify_and_equal_the_rfc_path(data):
    size = data.draw(st.integers(min_value=1, max_value=len(BIG)))
    index = data.draw(st.integers(min_value=0, max_value=size - 1))
    proof = inclusion_proof(index, size, BIG_STORE)
    root = tree_root(size, BIG_STORE)
    assert root == root_of(BIG[:size])
    assert verify_inclusion(BIG[index], index, size, proof, root)
    assert proof == rfc_path(index, BIG[:size])
    same_shape = rfc_path_shape(index, size + 1) == rfc_path_shape(index, size)
    assert verify_inclusion(BIG[index], index, size + 1, proof, root) == same_shape


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_random_consistency_proofs_in_larger_trees_verify_and_equal_the_rfc_subproof(data):
    new = data.draw(st.integers(min_value=2, max_value=len(BIG)))
    old = data.draw(st.integers(min_value=1, max_value=new - 1))
    proof = consistency_proof(old, new, BIG_STORE)
    old_root, new_root = tree_root(old, BIG_STORE), tree_root(new, BIG_STORE)
    assert verify_consistency(old, new, old_root, new_root, proof)
    assert proof == rfc_subproof(old, BIG[:new], True)
    same_shape = rfc_subproof_shape(old, new + 1, True) == rfc_subproof_shape(old, new, True)
    assert verify_consistency(old, new + 1, old_root, new_root, proof) == same_shape
    assert not verify_consistency(old, new, new_root, old_root, proof)
