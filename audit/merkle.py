"""The Merkle tree over the audit log: RFC 9162 (RFC 6962) hashing, proofs and their checks.

Standard library only and free of Django, so that ``audit.verify`` and any
independent verifier can share it.

Hashing (RFC 9162 §2.1.1, identical to RFC 6962 §2.1), with SHA-256 and
``||`` for byte concatenation:

* a leaf hash is ``SHA-256(0x00 || leaf data)`` (:func:`leaf_hash`);
* an interior node is ``SHA-256(0x01 || left hash || right hash)``
  (:func:`node_hash`), each child hash 32 bytes, so 65 bytes are hashed;
* the Merkle Tree Hash of ``n`` leaves ``D[0:n]`` is ``SHA-256()`` (the hash
  of no bytes, :data:`EMPTY_ROOT`) for ``n = 0``, the leaf hash for ``n = 1``,
  and otherwise ``node_hash(MTH(D[0:k]), MTH(D[k:n]))`` where ``k`` is the
  largest power of two smaller than ``n``.

Every hash in this module is the raw 32-byte digest (``bytes``), never hex.

Storage model. Leaves are numbered from 0 in the order they are appended.
A *perfect subtree* ``(level, index)`` is the complete binary tree over the
``2**level`` leaves ``[index * 2**level, (index + 1) * 2**level)``; its hash
is the Merkle Tree Hash of those leaves. Level 0 is a leaf: ``(0, i)`` is the
leaf hash of leaf ``i``. Once a log holds all the leaves of a perfect
subtree, that subtree never changes, so an append-only log can store each one
once (:class:`Frontier` reports them as they complete) and answer every proof
of RFC 9162 from those stored hashes alone: a range of leaves that is not a
perfect subtree is hashed from its decomposition into perfect subtrees
(:func:`perfect_subtrees`), O(log n) lookups.

Proofs are the exact PATH (RFC 9162 §2.1.3.1) and PROOF/SUBPROOF (§2.1.4.1)
lists, ordered as the RFC orders them (from the leaf upwards), so that any
RFC 6962/9162 verifier accepts them; :func:`verify_inclusion` and
:func:`verify_consistency` are the verification algorithms of §2.1.3.2 and
§2.1.4.2.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence

HASH_SIZE = 32

#: The Merkle Tree Hash of the empty tree: SHA-256 of no bytes.
EMPTY_ROOT = hashlib.sha256(b"").digest()

# Hashing objects already fed their one-byte domain prefix: copying one is
# markedly cheaper than constructing a fresh OpenSSL hash per node (measured
# in bench/merkle.py). They are never updated after this point, so sharing
# them between threads is safe.
_LEAF_PREFIX = hashlib.sha256(b"\x00")
_NODE_PREFIX = hashlib.sha256(b"\x01")

#: ``subtree(level, index)`` returns the stored 32-byte hash of the perfect
#: subtree over leaves ``[index * 2**level, (index + 1) * 2**level)``; level 0
#: is the leaf hash of leaf ``index``.
SubtreeLookup = Callable[[int, int], bytes]

#: A perfect subtree completed by :meth:`Frontier.append`: ``(level, index, hash)``.
Node = tuple[int, int, bytes]


def leaf_hash(data: bytes) -> bytes:
    """``SHA-256(0x00 || data)``: the RFC 9162 hash of one leaf's data (any length)."""
    h = _LEAF_PREFIX.copy()
    h.update(data)
    return h.digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """``SHA-256(0x01 || left || right)``: the RFC 9162 hash of an interior node.

    ``left`` and ``right`` are the 32-byte hashes of the two children; they are
    not checked here (this is the innermost loop), the public entry points that
    take hashes from outside check them.
    """
    h = _NODE_PREFIX.copy()
    h.update(left)
    h.update(right)
    return h.digest()


def root_of(leaves: Sequence[bytes]) -> bytes:
    """The Merkle Tree Hash of a list of leaf hashes (RFC 9162 §2.1.1).

    ``leaves`` holds leaf *hashes* (``leaf_hash(data)``, 32 bytes each), not leaf
    data. Returns :data:`EMPTY_ROOT` for no leaves. Raises ``ValueError`` if an
    element is not 32 bytes.

    Computed level by level: adjacent pairs are hashed and an odd last node is
    carried up unchanged, which yields exactly the RFC's recursive split at the
    largest power of two (the left subtree is always perfect).
    """
    level = list(leaves)
    if not level:
        return EMPTY_ROOT
    if set(map(type, level)) != {bytes} or set(map(len, level)) != {HASH_SIZE}:
        raise ValueError("root_of takes leaf hashes: bytes of length 32.")
    return _root(level)


def _root(level: list[bytes]) -> bytes:
    """:func:`root_of` of a non-empty list of hashes already known to be 32-byte ``bytes``.

    For callers that hash many leaves themselves (``audit.verify``): no copy
    of the list and no check of its elements.
    """
    copy = _NODE_PREFIX.copy
    while len(level) > 1:
        parents: list[bytes] = []
        append = parents.append
        pairs = iter(level)
        for left, right in zip(pairs, pairs, strict=False):
            h = copy()
            h.update(left)
            h.update(right)
            append(h.digest())
        if len(level) & 1:
            append(level[-1])
        level = parents
    return level[0]


def perfect_subtrees(start: int, end: int) -> list[tuple[int, int]]:
    """Decompose the leaf range ``[start, end)`` into maximal perfect subtrees.

    Returns ``(level, index)`` pairs, left to right, that cover the range exactly
    and without overlap, each as large as its alignment allows: at most about
    ``2 * log2(end - start)`` of them. For a range that starts at 0 (a whole
    tree) they are the subtrees of the set bits of ``end``, largest first.
    Raises ``ValueError`` unless ``0 <= start <= end``.
    """
    _check_int(start, "start")
    _check_int(end, "end")
    if not 0 <= start <= end:
        raise ValueError(f"perfect_subtrees needs 0 <= start <= end, got [{start}, {end}).")
    out: list[tuple[int, int]] = []
    while start < end:
        level = (end - start).bit_length() - 1
        if start:
            # A subtree at this level must start on a multiple of its size.
            level = min(level, (start & -start).bit_length() - 1)
        out.append((level, start >> level))
        start += 1 << level
    return out


def subtree_root(start: int, end: int, subtree: SubtreeLookup) -> bytes:
    """The Merkle Tree Hash of the leaves ``[start, end)`` from stored perfect subtrees.

    The range must be a node of some RFC 9162 tree: non-empty, and ``start`` a
    multiple of the smallest power of two that is at least ``end - start``
    (so any ``[0, n)`` with ``n >= 1``, and every range the proofs use). Its
    hash is then ``node_hash(P1, node_hash(P2, ... node_hash(Pk-1, Pk)))`` over
    its perfect subtrees ``P1 .. Pk`` (:func:`perfect_subtrees`, largest
    first), which is what the RFC's recursive definition gives. Raises
    ``ValueError`` for any other range, or if ``subtree`` returns something
    that is not 32 bytes.
    """
    _check_int(start, "start")
    _check_int(end, "end")
    if not 0 <= start < end:
        raise ValueError(f"subtree_root needs 0 <= start < end, got [{start}, {end}).")
    if start % (1 << (end - start - 1).bit_length()):
        raise ValueError(
            f"[{start}, {end}) is not a node of an RFC 9162 tree: its start must be a "
            "multiple of the smallest power of two at least as large as the range."
        )
    return _fold(perfect_subtrees(start, end), subtree)


def tree_root(size: int, subtree: SubtreeLookup) -> bytes:
    """The root of the tree of the first ``size`` leaves: :data:`EMPTY_ROOT` for 0.

    ``popcount(size)`` lookups. Raises ``ValueError`` for a negative size.
    """
    _check_int(size, "size")
    if size < 0:
        raise ValueError(f"tree size must not be negative, got {size}.")
    if size == 0:
        return EMPTY_ROOT
    return _fold(perfect_subtrees(0, size), subtree)


class SubtreeStack:
    """The tree of the leaves ``[0, size)`` built from aligned perfect subtrees pushed left to right.

    Each pushed ``(level, index, hash)`` must start where the tree ends (its
    first leaf ``index << level`` is ``size``); equal levels merge as they
    meet, so the stack holds at most one subtree per level, and :meth:`root`
    folds them into the RFC 9162 root. Used by the offline verifier and by
    ``tree_verify`` to grow a tree from blocks of leaves.
    """

    def __init__(self) -> None:
        self.size = 0
        self.nodes: list[tuple[int, bytes]] = []

    def push(self, subtree: tuple[int, int, bytes]) -> None:
        level, index, value = subtree
        if index << level != self.size:
            raise ValueError(f"subtree ({level}, {index}) does not start at leaf {self.size}")
        self.size += 1 << level
        while self.nodes and self.nodes[-1][0] == level:
            _, left = self.nodes.pop()
            value = node_hash(left, value)
            level += 1
        self.nodes.append((level, value))

    def root(self) -> bytes:
        if not self.nodes:
            return EMPTY_ROOT
        root = self.nodes[-1][1]
        for _, value in reversed(self.nodes[:-1]):
            root = node_hash(value, root)
        return root


class Frontier:
    """The compact range of an append-only tree: what is needed to extend it and hash it.

    For a tree of ``size`` leaves the frontier holds the hashes of the perfect
    subtrees of the set bits of ``size``, largest (leftmost) first: ``hashes[j]``
    is subtree ``(level, (size >> level) - 1)`` for the ``j``-th set bit from the
    top, as :meth:`nodes` lists them. That is at most ``log2(size) + 1`` hashes,
    and they are all the state an appender needs.

    Persisting: store ``size`` and :meth:`to_hex` (or :attr:`hashes`), resume
    with ``Frontier.from_hex(size, hexes)`` (or ``Frontier(size, hashes)``); or
    rebuild it from the stored subtrees with :meth:`from_subtrees`.

    Not thread-safe: one appender at a time (the caller holds the log's lock).
    """

    __slots__ = ("_hashes", "_size")

    def __init__(self, size: int = 0, hashes: Iterable[bytes] = ()) -> None:
        """Resume a frontier; raises ``ValueError`` if ``hashes`` cannot be one of ``size``.

        ``hashes`` must be ``popcount(size)`` hashes of 32 bytes, in the order of
        :attr:`hashes`. Their values cannot be checked without the leaves.
        """
        _check_int(size, "size")
        if size < 0:
            raise ValueError(f"tree size must not be negative, got {size}.")
        stored = list(hashes)
        if len(stored) != size.bit_count():
            raise ValueError(
                f"a frontier of {size} leaves holds {size.bit_count()} hashes, not {len(stored)}."
            )
        for h in stored:
            _check_hash(h, "frontier hash")
        self._size = size
        self._hashes = stored

    @property
    def size(self) -> int:
        """The number of leaves appended so far."""
        return self._size

    @property
    def hashes(self) -> tuple[bytes, ...]:
        """The frontier's subtree hashes, largest (leftmost) subtree first."""
        return tuple(self._hashes)

    def nodes(self) -> list[Node]:
        """The frontier as ``(level, index, hash)`` triples, largest subtree first."""
        levels = [
            level for level in range(self._size.bit_length() - 1, -1, -1) if self._size >> level & 1
        ]
        return [
            (level, (self._size >> level) - 1, h)
            for level, h in zip(levels, self._hashes, strict=True)
        ]

    def append(self, leaf: bytes) -> list[Node]:
        """Append one leaf hash; return the perfect subtrees this append completes.

        ``leaf`` is the 32-byte leaf *hash* (``leaf_hash(data)``) of leaf number
        ``size`` (the size before the call). Returns ``(level, index, hash)`` for
        every perfect subtree of level >= 1 whose last leaf this is, lowest
        level first: as many as the trailing one bits of the leaf's number (none
        for an even number). The leaf itself, subtree ``(0, number)``, is *not*
        included: the caller stores it with the leaf. Storing the leaf and these
        nodes for every append stores every perfect subtree of the tree exactly
        once, which is all :func:`inclusion_proof` and
        :func:`consistency_proof` need.
        """
        if type(leaf) is not bytes or len(leaf) != HASH_SIZE:
            _check_hash(leaf, "leaf hash")
        hashes = self._hashes
        number = self._size
        completed: list[Node] = []
        h = leaf
        level = 0
        while number & 1:
            node = _NODE_PREFIX.copy()
            node.update(hashes.pop())
            node.update(h)
            h = node.digest()
            level += 1
            number >>= 1
            completed.append((level, number, h))
        hashes.append(h)
        self._size += 1
        return completed

    def extend(self, leaves: Iterable[bytes]) -> list[Node]:
        """Append leaf hashes in order; return all the subtrees they complete, in order."""
        completed: list[Node] = []
        for leaf in leaves:
            completed.extend(self.append(leaf))
        return completed

    def root(self) -> bytes:
        """The Merkle Tree Hash of the leaves appended so far (:data:`EMPTY_ROOT` for none)."""
        if not self._hashes:
            return EMPTY_ROOT
        root = self._hashes[-1]
        for h in reversed(self._hashes[:-1]):
            root = node_hash(h, root)
        return root

    def to_hex(self) -> list[str]:
        """The frontier hashes as lowercase hex strings, in the order of :attr:`hashes`."""
        return [h.hex() for h in self._hashes]

    @classmethod
    def from_hex(cls, size: int, hashes: Iterable[str]) -> Frontier:
        """The inverse of :meth:`to_hex`; raises ``ValueError`` on anything malformed."""
        decoded = []
        for text in hashes:
            if not isinstance(text, str) or len(text) != 2 * HASH_SIZE:
                raise ValueError("frontier hashes are 64 hexadecimal digits.")
            decoded.append(bytes.fromhex(text))
        return cls(size, decoded)

    @classmethod
    def from_subtrees(cls, size: int, subtree: SubtreeLookup) -> Frontier:
        """Rebuild the frontier of the first ``size`` leaves from stored subtrees.

        ``popcount(size)`` lookups, the subtrees of :meth:`nodes`.
        """
        _check_int(size, "size")
        if size < 0:
            raise ValueError(f"tree size must not be negative, got {size}.")
        return cls(
            size, [_lookup(subtree, level, index) for level, index in perfect_subtrees(0, size)]
        )

    def copy(self) -> Frontier:
        return Frontier(self._size, self._hashes)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Frontier):
            return NotImplemented
        return self._size == other._size and self._hashes == other._hashes

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        return f"Frontier(size={self._size}, root={self.root().hex()})"


def inclusion_proof_nodes(index: int, size: int) -> list[tuple[int, int]]:
    """The perfect subtrees :func:`inclusion_proof` looks up, in lookup order.

    For fetching them in one query before the proof is built. At most one proof
    entry is not itself a perfect subtree, so this is O(log size) pairs.
    Raises ``ValueError`` unless ``0 <= index < size``.
    """
    return [pair for entry in _inclusion_plan(index, size) for pair in entry]


def inclusion_proof(index: int, size: int, subtree: SubtreeLookup) -> list[bytes]:
    """The RFC 9162 §2.1.3.1 inclusion proof ``PATH(index, D[0:size])``.

    The list of sibling hashes from the leaf's sibling up to the root's child
    (empty for a tree of one leaf); its length is that of the leaf's path to the
    root. Each entry is a stored perfect subtree or, at most once, the hash of a
    range computed from its perfect subtrees. Raises ``ValueError`` unless
    ``0 <= index < size``, or if ``subtree`` returns something that is not 32
    bytes; ``subtree``'s own exceptions (a missing node) propagate.
    """
    return [_fold(entry, subtree) for entry in _inclusion_plan(index, size)]


def consistency_proof_nodes(old_size: int, new_size: int) -> list[tuple[int, int]]:
    """The perfect subtrees :func:`consistency_proof` looks up, in lookup order.

    Raises ``ValueError`` unless ``0 <= old_size <= new_size``.
    """
    return [pair for entry in _consistency_plan(old_size, new_size) for pair in entry]


def consistency_proof(old_size: int, new_size: int, subtree: SubtreeLookup) -> list[bytes]:
    """The RFC 9162 §2.1.4.1 consistency proof ``PROOF(old_size, D[0:new_size])``.

    That is ``SUBPROOF(old_size, D[0:new_size], true)``. The RFC defines it for
    ``0 < old_size < new_size``; for ``old_size == 0`` or ``old_size ==
    new_size`` the proof is the empty list (the empty tree is a prefix of
    every tree, and a tree of itself), as the reference implementations do.
    Raises ``ValueError`` unless ``0 <= old_size <= new_size``, or if
    ``subtree`` returns something that is not 32 bytes.
    """
    return [_fold(entry, subtree) for entry in _consistency_plan(old_size, new_size)]


def verify_inclusion(
    leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> bool:
    """Whether ``proof`` shows the leaf hash ``leaf`` at ``index`` in the tree ``root`` of ``size``.

    The algorithm of RFC 9162 §2.1.3.2. ``leaf`` is the 32-byte leaf *hash*
    (``leaf_hash(data)``), ``root`` the tree's 32-byte root. Never raises:
    anything malformed is simply not a proof, and returns ``False`` — ``index``
    not in ``[0, size)``, non-integer sizes, hashes that are not 32-byte
    ``bytes``, or a proof of the wrong length for ``(index, size)``.

    What it proves: the leaf is at ``index`` in the tree whose root is ``root``.
    The tree size enters only through the shape of the leaf's path, so sizes
    in which that path has the same shape accept the same proof (leaf 0 of a
    tree of 5 leaves has the same path as in trees of 6, 7 or 8). That is
    inherent in RFC 9162, not a weakness of this check, but it means ``size``
    must be the one signed together with ``root`` (the same checkpoint), never
    a size taken from the proof's sender.
    """
    if not (_is_int(index) and _is_int(size) and 0 <= index < size):
        return False
    if not (_is_hash(leaf) and _is_hash(root)):
        return False
    path = _hash_list(proof)
    if path is None:
        return False
    fn, sn = index, size - 1
    r = leaf
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> bool:
    """Whether ``proof`` shows the tree ``old_root`` of ``old_size`` is a prefix of ``new_root``.

    The algorithm of RFC 9162 §2.1.4.2 for ``0 < old_size < new_size``. The
    cases the RFC leaves out are decided as follows: ``old_size ==
    new_size`` holds only with an empty proof and equal roots;
    ``old_size == 0`` holds only with an empty proof and ``old_root ==
    EMPTY_ROOT`` (stricter than accepting any root: a tree of no leaves has
    exactly that root). Never raises: negative or non-integer sizes,
    ``old_size > new_size``, hashes that are not 32-byte ``bytes`` and proofs
    of the wrong length return ``False``.

    As with :func:`verify_inclusion`, sizes enter only through the shape of
    the proof: each size must be the one signed with its root.
    """
    if not (_is_int(old_size) and _is_int(new_size) and 0 <= old_size <= new_size):
        return False
    if not (_is_hash(old_root) and _is_hash(new_root)):
        return False
    path = _hash_list(proof)
    if path is None:
        return False
    if old_size == 0:
        return not path and old_root == EMPTY_ROOT and (new_size > 0 or new_root == EMPTY_ROOT)
    if old_size == new_size:
        return not path and old_root == new_root
    if not path:
        return False
    if old_size & (old_size - 1) == 0:
        # A power of two: the old tree is a perfect subtree the proof leaves out.
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == old_root and sr == new_root


# A proof plan: per proof entry, the perfect subtrees (largest first) whose
# fold is that entry. Planning apart from fetching lets a caller batch the
# lookups (inclusion_proof_nodes) and keeps the RFC recursion free of I/O.
_Plan = list[list[tuple[int, int]]]


def _inclusion_plan(index: int, size: int) -> _Plan:
    _check_int(index, "index")
    _check_int(size, "size")
    if not 0 <= index < size:
        raise ValueError(f"leaf index {index} is not in a tree of {size} leaves.")
    # PATH(m, D[lo:lo+n]) unrolled: entries are found from the root down and
    # listed from the leaf up. Going right, the sibling is the perfect left
    # half; going left, the sibling is the rest of the range [lo+k, lo+n),
    # which is perfect except (at most once) on the tree's right edge.
    top_down: _Plan = []
    lo, n, m = 0, size, index
    while n > 1:
        k = 1 << ((n - 1).bit_length() - 1)  # largest power of two < n
        if m < k:
            top_down.append(perfect_subtrees(lo + k, lo + n))
            n = k
        else:
            level = k.bit_length() - 1
            top_down.append([(level, lo >> level)])
            lo, n, m = lo + k, n - k, m - k
    top_down.reverse()
    return top_down


def _consistency_plan(old_size: int, new_size: int) -> _Plan:
    _check_int(old_size, "old_size")
    _check_int(new_size, "new_size")
    if not 0 <= old_size <= new_size:
        raise ValueError(f"no consistency proof from a tree of {old_size} to one of {new_size}.")
    if old_size == 0 or old_size == new_size:
        return []
    # SUBPROOF(m, D[lo:lo+n], b) unrolled; each step appends its entry after
    # the sub-proof, so entries found top-down are listed in reverse, after the
    # node where the recursion stops (included only if b is false by then).
    top_down: _Plan = []
    lo, m, n, whole = 0, old_size, new_size, True
    while m != n:
        k = 1 << ((n - 1).bit_length() - 1)
        if m <= k:
            top_down.append(perfect_subtrees(lo + k, lo + n))
            n = k
        else:
            level = k.bit_length() - 1
            top_down.append([(level, lo >> level)])
            lo, m, n, whole = lo + k, m - k, n - k, False
    top_down.reverse()
    if whole:
        return top_down
    return [perfect_subtrees(lo, lo + m), *top_down]


def _fold(pairs: Sequence[tuple[int, int]], subtree: SubtreeLookup) -> bytes:
    hashes = [_lookup(subtree, level, index) for level, index in pairs]
    root = hashes[-1]
    for h in reversed(hashes[:-1]):
        root = node_hash(h, root)
    return root


def _lookup(subtree: SubtreeLookup, level: int, index: int) -> bytes:
    h = subtree(level, index)
    if not _is_hash(h):
        raise ValueError(f"subtree({level}, {index}) did not return a 32-byte hash (bytes).")
    return h


def _hash_list(proof: object) -> list[bytes] | None:
    if isinstance(proof, bytes | bytearray | str):
        return None
    try:
        path = list(proof)  # type: ignore[call-overload]
    except TypeError:
        return None
    return path if all(_is_hash(p) for p in path) else None


def _is_hash(value: object) -> bool:
    return type(value) is bytes and len(value) == HASH_SIZE


def _is_int(value: object) -> bool:
    return type(value) is int  # not bool, not float


def _check_int(value: object, name: str) -> None:
    if not _is_int(value):
        raise ValueError(f"{name} must be an int, got {type(value).__name__}.")


def _check_hash(value: object, what: str) -> None:
    if not _is_hash(value):
        raise ValueError(f"a {what} is 32 bytes (bytes), got {type(value).__name__} {value!r:.80}.")
