"""The verifiable expert draw: a deterministic function of a seed and a frozen pool.

Standard library only: ``experts.verify_draw`` and any independent verifier
use exactly this code (docs/draw.md specifies it byte for byte).

- The pool is frozen as ``{specialty code: [expert code, …]}``, each list
  sorted, and hashed (``pool_hash``).
- Before the draw the platform commits to a 32-byte random secret by
  publishing ``commitment(secret)``; nobody can choose the secret after
  seeing the other inputs.
- The seed mixes the secret with entropy nobody controls in advance: the
  audit chain head at the moment of the draw and a number the witnessing
  supervisor types in (``derive_seed``).
- The stream is HMAC-SHA256(seed, domain ‖ counter) blocks, read as
  big-endian 64-bit integers; ``Stream.below(n)`` rejects values at or above
  the largest multiple of n below 2^64, so every index is equally likely (no
  modulo bias).
- Each pick takes ``remaining[below(len(remaining))]`` of the specialty's
  list and removes it; an expert already picked for another specialty is
  skipped (the stream value is still consumed). Replacements continue the
  same stream, so the whole sequence of picks — members, reserves and
  replacements — is reproducible from the published record.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping, Sequence

VERSION = 1
_STREAM_DOMAIN = b"sunbid-draw-stream/1"
_SEED_DOMAIN = b"sunbid-draw-seed/1"
_COMMIT_DOMAIN = b"sunbid-draw-commit/1"
_TWO_64 = 1 << 64

Pool = Mapping[str, Sequence[str]]


def canonical_pool(pool: Pool) -> bytes:
    """The pool's canonical bytes: JSON, keys sorted, lists sorted, no spaces, UTF-8."""
    normalised = {specialty: sorted(codes) for specialty, codes in pool.items()}
    return json.dumps(
        {"v": VERSION, "pool": normalised},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    ).encode("utf-8")


def pool_hash(pool: Pool) -> str:
    return hashlib.sha256(canonical_pool(pool)).hexdigest()


def freeze(pool: Pool) -> tuple[bytes, str]:
    """The pool's canonical bytes and ``pool_hash``, encoding the pool once for both."""
    canonical = canonical_pool(pool)
    return canonical, hashlib.sha256(canonical).hexdigest()


def commitment(secret: bytes) -> str:
    return hashlib.sha256(_COMMIT_DOMAIN + secret).hexdigest()


def derive_seed(*, secret: bytes, pool_hash: str, chain_head: str, supervisor_number: str) -> bytes:
    message = b"\n".join(
        [
            _SEED_DOMAIN,
            pool_hash.encode("ascii"),
            chain_head.encode("ascii"),
            supervisor_number.encode("utf-8"),
        ]
    )
    return hmac.new(secret, message, hashlib.sha256).digest()


class Stream:
    """An endless stream of uniform 64-bit integers from HMAC-SHA256(seed, domain ‖ counter)."""

    def __init__(self, seed: bytes) -> None:
        self._seed = seed
        self._counter = 0
        self._buffer = b""

    def _next_u64(self) -> int:
        if len(self._buffer) < 8:
            block = hmac.new(
                self._seed, _STREAM_DOMAIN + self._counter.to_bytes(8, "big"), hashlib.sha256
            ).digest()
            self._counter += 1
            self._buffer += block
        value, self._buffer = int.from_bytes(self._buffer[:8], "big"), self._buffer[8:]
        return value

    def below(self, n: int) -> int:
        """A uniform integer in [0, n), by rejection sampling."""
        if not 0 < n <= _TWO_64:
            raise ValueError("below() needs a bound between 1 and 2**64")
        limit = _TWO_64 - (_TWO_64 % n)
        while True:
            value = self._next_u64()
            if value < limit:
                return value % n


class Drawing:
    """The state of one draw: what is left of each specialty's pool, and who is taken."""

    def __init__(self, *, seed: bytes, pool: Pool) -> None:
        self._stream = Stream(seed)
        self._remaining = {specialty: sorted(codes) for specialty, codes in pool.items()}
        self._taken: set[str] = set()
        self.picks: list[tuple[str, str]] = []

    def pick(self, specialty: str) -> str | None:
        """The next expert of ``specialty``, or None when its pool is exhausted."""
        remaining = self._remaining.get(specialty, [])
        while remaining:
            code = remaining.pop(self._stream.below(len(remaining)))
            if code not in self._taken:
                self._taken.add(code)
                self.picks.append((specialty, code))
                return code
        return None

    def replay(self, specialties: Iterable[str]) -> list[str | None]:
        return [self.pick(specialty) for specialty in specialties]


def initial_order(items: Iterable[tuple[str, int]]) -> list[str]:
    """The specialties of the first picks: each item's members and reserves, items by specialty code."""
    order: list[str] = []
    for specialty, count in sorted(items):
        order.extend([specialty] * count)
    return order
