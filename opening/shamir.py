"""Shamir's secret sharing over GF(2^8), byte by byte, as HashiCorp Vault's ``shamir`` package does it.

Pure Python, standard library only (``secrets``). Why not a library: the
maintained one with a reviewed implementation, pycryptodome's
``Crypto.Protocol.SecretSharing``, shares exactly 16 bytes, and our key
encryption key has 32; the packages that share longer secrets are either
unmaintained (``secretsharing``, ``sslib``, ``pyseltongue``), one-person
ports with little use (``pyshamir``), or wrap the split in a mnemonic-word
format (``shamir-mnemonic``, SLIP-39). The arithmetic below is small enough
to read whole and is pinned by the FIPS-197 multiplication examples and by
property tests (tests/opening/test_shamir.py).

The field is AES's: GF(2^8) modulo x^8 + x^4 + x^3 + x + 1 (0x11B). Each byte
of the secret is the constant term of its own random polynomial of degree
k - 1; share ``x`` holds that polynomial's value at ``x`` for every byte. Any
k shares give the secret back by Lagrange interpolation at 0; k - 1 shares
are consistent with every possible secret, so they say nothing about it.

Shamir alone cannot tell a wrong share from a right one: combining a wrong
share yields a wrong secret without complaint. The opening key therefore
keeps a commitment to every share (``opening.crypto.share_commitment``) and
authenticates what the secret unlocks (AES-256-GCM), so a wrong share is
named on submission and a wrong result is refused, never used.

Timing: Python offers no constant-time table lookups. Splitting runs once,
at publication, on the server; combining runs once, after the opening time,
when the shares are no longer secret from the server anyway.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

MAX_SHARES = 255  # x runs over the non-zero field elements


def _tables() -> tuple[list[int], list[int]]:
    """Exponent and logarithm tables of GF(2^8) with the generator 0x03."""
    exp = [0] * 510
    log = [0] * 256
    value = 1
    for power in range(255):
        exp[power] = value
        log[value] = power
        # value * 3 = value * 2 + value; multiplying by 2 is a shift reduced by 0x11B.
        doubled = value << 1
        if doubled & 0x100:
            doubled ^= 0x11B
        value = doubled ^ value
    for power in range(255, 510):
        exp[power] = exp[power - 255]
    return exp, log


_EXP, _LOG = _tables()


def gf_mul(a: int, b: int) -> int:
    """The product of two field elements."""
    if a == 0 or b == 0:
        return 0
    return _EXP[_LOG[a] + _LOG[b]]


def gf_div(a: int, b: int) -> int:
    """``a / b`` in the field; ``b`` must not be zero."""
    if b == 0:
        raise ZeroDivisionError("division by zero in GF(256)")
    if a == 0:
        return 0
    return _EXP[_LOG[a] + 255 - _LOG[b]]


@dataclass(frozen=True)
class Share:
    """One share: the x coordinate (1..255) and the polynomials' values there, one byte per secret byte."""

    x: int
    y: bytes

    def __post_init__(self) -> None:
        if not 1 <= self.x <= MAX_SHARES:
            raise ValueError("a share's x coordinate must be between 1 and 255")

    def to_bytes(self) -> bytes:
        """``x`` (one byte) followed by ``y``: the form a share is encrypted and submitted in."""
        return bytes([self.x]) + self.y

    @classmethod
    def from_bytes(cls, data: bytes) -> Share:
        if len(data) < 2:
            raise ValueError("a share has an x byte and at least one value byte")
        return cls(x=data[0], y=bytes(data[1:]))


def _evaluate(coefficients: bytes | bytearray, x: int) -> int:
    """Horner's rule: the polynomial with these coefficients (constant first) at ``x``."""
    result = 0
    for coefficient in reversed(coefficients):
        result = gf_mul(result, x) ^ coefficient
    return result


def split(secret: bytes | bytearray, *, threshold: int, xs: list[int]) -> list[Share]:
    """Split ``secret`` into one share per x in ``xs``, any ``threshold`` of which rebuild it.

    ``xs`` are distinct values in 1..255 (the caller numbers its custodians);
    ``2 <= threshold <= len(xs)``. Every call draws fresh random polynomials.
    """
    if not secret:
        raise ValueError("the secret must not be empty")
    if len(set(xs)) != len(xs):
        raise ValueError("x coordinates must be distinct")
    if any(not 1 <= x <= MAX_SHARES for x in xs):
        raise ValueError("x coordinates must be between 1 and 255")
    if not 2 <= threshold <= len(xs):
        raise ValueError("the threshold must be at least 2 and at most the number of shares")
    values = [bytearray(len(secret)) for _ in xs]
    coefficients = bytearray(threshold)
    try:
        for index, byte in enumerate(secret):
            coefficients[0] = byte
            coefficients[1:] = secrets.token_bytes(threshold - 1)
            for value, x in zip(values, xs, strict=True):
                value[index] = _evaluate(coefficients, x)
    finally:
        # The coefficients determine the secret: do not leave the last ones lying in memory.
        coefficients[:] = bytes(len(coefficients))
    return [Share(x=x, y=bytes(value)) for x, value in zip(xs, values, strict=True)]


def combine(shares: list[Share]) -> bytearray:
    """The secret the shares were split from, by Lagrange interpolation at x = 0.

    Needs at least the threshold's number of shares, from one split, with
    distinct x. Fewer shares, or a wrong one, give a wrong result, not an
    error: the caller must authenticate the result. Returns a bytearray so
    the caller can wipe it after use.
    """
    if len(shares) < 2:
        raise ValueError("at least two shares are needed")
    xs = [share.x for share in shares]
    if len(set(xs)) != len(xs):
        raise ValueError("shares must have distinct x coordinates")
    length = len(shares[0].y)
    if length == 0 or any(len(share.y) != length for share in shares):
        raise ValueError("shares must be non-empty and of one length")
    # Lagrange basis at 0: l_i(0) = prod_{j != i} x_j / (x_j - x_i); subtraction is XOR here.
    basis = []
    for i, xi in enumerate(xs):
        weight = 1
        for j, xj in enumerate(xs):
            if i != j:
                weight = gf_mul(weight, gf_div(xj, xj ^ xi))
        basis.append(weight)
    secret = bytearray(length)
    for index in range(length):
        byte = 0
        for share, weight in zip(shares, basis, strict=True):
            byte ^= gf_mul(share.y[index], weight)
        secret[index] = byte
    return secret
