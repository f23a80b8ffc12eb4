"""Cheap, distinct RSA-3072 keys for the test suite.

Generating an RSA-3072 key costs 0.1 to 1 s (a prime search), and every
published lot needs one, as does every organisation that keeps a share: the
suite would spend minutes on it. Instead, ``keypool_primes.txt`` holds 120
random 1536-bit primes (the p and q of sixty keys made with
``cryptography``), each at least sqrt(2^3071), so the product of any two is a
3072-bit modulus; e = 65537 is prime and the primes came from RSA key
generation, so it is invertible modulo each p - 1. Every pair is a different
valid key: 7,140 keys at the cost of a modular inverse each, more than a
whole run of the suite asks for (each test process has its own pool). Past
that the pool falls back to real generation, so keys never repeat within a
session (the fingerprints are unique in the database).

``KEYRING`` remembers every key handed out, by the fingerprint of its public
half, so a test can find the private key of any registered public key.
These keys are for tests only.
"""

from __future__ import annotations

import hashlib
import itertools
import threading
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

_PRIMES_FILE = Path(__file__).with_name("keypool_primes.txt")
_E = 65537

KEYRING: dict[str, rsa.RSAPrivateKey] = {}


def _primes() -> list[int]:
    lines = _PRIMES_FILE.read_text().splitlines()
    return [int(line, 16) for line in lines if line and not line.startswith("#")]


def _key_from(p: int, q: int) -> rsa.RSAPrivateKey:
    d = pow(_E, -1, (p - 1) * (q - 1))
    numbers = rsa.RSAPrivateNumbers(
        p=p,
        q=q,
        d=d,
        dmp1=rsa.rsa_crt_dmp1(d, p),
        dmq1=rsa.rsa_crt_dmq1(d, q),
        iqmp=rsa.rsa_crt_iqmp(p, q),
        public_numbers=rsa.RSAPublicNumbers(_E, p * q),
    )
    # The primes came out of real key generation: OpenSSL's key check (two
    # primality tests, ~0.1-0.5 s) would cost what the pool is here to save.
    return numbers.private_key(unsafe_skip_rsa_key_validation=True)


def fingerprint(public_key: rsa.RSAPublicKey) -> str:
    spki = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(spki).hexdigest()


class KeyPool:
    def __init__(self) -> None:
        self._pairs = itertools.combinations(_primes(), 2)
        self._lock = threading.Lock()
        self.generated = 0  # keys made by a prime search once the pairs ran out

    def next_key(self) -> rsa.RSAPrivateKey:
        """A fresh RSA-3072 private key, never handed out before in this session."""
        with self._lock:
            pair = next(self._pairs, None)
        if pair is None:
            self.generated += 1
            key = rsa.generate_private_key(public_exponent=_E, key_size=3072)
        else:
            key = _key_from(*pair)
        KEYRING[fingerprint(key.public_key())] = key
        return key


POOL = KeyPool()


def private_key_for(fingerprint_hex: str) -> rsa.RSAPrivateKey:
    """The private key of a public key the pool made, by its fingerprint."""
    return KEYRING[fingerprint_hex]
