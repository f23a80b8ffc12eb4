"""API token secrets: their format and how they are stored.

A secret is ``sbt_`` followed by 32 random bytes in unpadded base64url (43
characters). The database keeps only its SHA-256: the secret has 256 bits of
entropy, so a plain hash cannot be brute-forced and lets the middleware find
the token with one indexed lookup (a slow password hash would cost every API
request).
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets

PREFIX = "sbt_"
SECRET_BYTES = 32
SECRET_RE = re.compile(r"^sbt_[A-Za-z0-9_-]{43}$")
# Shown next to the token's name so the owner can tell tokens apart.
DISPLAY_PREFIX_LENGTH = 8


def new_secret() -> str:
    """A fresh secret, shown to its owner once and never stored."""
    return PREFIX + base64.urlsafe_b64encode(secrets.token_bytes(SECRET_BYTES)).rstrip(b"=").decode(
        "ascii"
    )


def is_well_formed(secret: str) -> bool:
    return bool(SECRET_RE.fullmatch(secret))


def secret_hash(secret: str) -> str:
    """Lowercase hex SHA-256 of the secret's ASCII bytes: what the database stores."""
    return hashlib.sha256(secret.encode("ascii")).hexdigest()


def display_prefix(secret: str) -> str:
    return secret[: len(PREFIX) + DISPLAY_PREFIX_LENGTH]
