"""Sealed bid format v1 (docs/sealing.md): keys, key backups, sealing and opening.

Pure library: no Django settings, no ORM. The server (``bidding`` app), the
command-line client and the tests use it; the browser implements the same
format in JavaScript.
"""

from __future__ import annotations

from .errors import SealingError
from .format import (
    CHUNK_SIZE,
    MAGIC,
    MAX_HEADER,
    SIGNATURE_SIZE,
    TAG_SIZE,
    FileEntry,
    Header,
    Inspection,
    Opened,
    Recipient,
    SealResult,
    inspect,
    open_sealed,
    read_header,
    seal,
    unwrap_file_key,
    verify_file_key,
    wrap_file_key,
)
from .keys import (
    KeySet,
    backup_dump,
    backup_load,
    fingerprint,
    generate_encryption_key,
    generate_signing_key,
    load_public_spki,
    spki_der,
)
from .manifest import validate_summary

__all__ = [
    "CHUNK_SIZE",
    "MAGIC",
    "MAX_HEADER",
    "SIGNATURE_SIZE",
    "TAG_SIZE",
    "FileEntry",
    "Header",
    "Inspection",
    "KeySet",
    "Opened",
    "Recipient",
    "SealResult",
    "SealingError",
    "backup_dump",
    "backup_load",
    "fingerprint",
    "generate_encryption_key",
    "generate_signing_key",
    "inspect",
    "load_public_spki",
    "open_sealed",
    "read_header",
    "seal",
    "spki_der",
    "unwrap_file_key",
    "validate_summary",
    "verify_file_key",
    "wrap_file_key",
]
