"""The evaluation report's canonical encoding and the members' signatures over it.

The report (评标报告) is a JSON document (fields in docs/evaluation.md). Its
**canonical bytes** are the UTF-8 encoding of

    json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)

— the encoding of the opening record and the receipts — and its digest is
SHA-256 of those bytes, in lowercase hex. Every member signs, with their own
ECDSA P-256 key, the UTF-8 text

    sunbid-evaluation-report-v1
    <lot id>
    <report SHA-256, hex>
    <the member's seat>

(lines joined by a single LF, no trailing newline), hashed with SHA-256, the
signature encoded as DER (SEQUENCE of two INTEGERs) with s ≤ n/2 ("low-s",
as the sealed bids and the opening confirmations), then base64. The browser
signs with WebCrypto (``static/js/evaluation-sign.js``): IEEE P1363 r‖s,
normalised to low-s and re-encoded as DER by the functions the opening room
uses (``sealing.js`` ``lowS``, ``room-crypto.js`` ``p1363ToDer``).

Pure apart from ``cryptography``: no ORM here.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

REPORT_FORMAT = "sunbid-evaluation-report"
REPORT_VERSION = 1
SCHEME_FORMAT = "sunbid-evaluation-scheme"
SCHEME_VERSION = 1
SIGNATURE_CONTEXT = "sunbid-evaluation-report-v1"

# The order of the P-256 group; a signature (r, s) and (r, n − s) verify alike, and only the
# low-s one is accepted, so nobody but the signer can make a second valid signature.
P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
_HALF_ORDER = P256_ORDER // 2
MAX_SIGNATURE_BYTES = 72  # a DER P-256 signature is at most 72 bytes


def canonical(document: dict[str, Any]) -> str:
    """The canonical JSON text of a report or scheme document (sorted keys, no spaces, UTF-8 as is)."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def digest(text: str) -> str:
    """Lowercase hex SHA-256 of the UTF-8 bytes of ``text``."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def signature_message(*, lot_id: int, report_sha256: str, seat: int) -> bytes:
    """The exact bytes a member signs to confirm the report (see the module docstring)."""
    return f"{SIGNATURE_CONTEXT}\n{lot_id}\n{report_sha256}\n{seat}".encode()


def is_low_s_der(signature: bytes) -> bool:
    """A strictly DER-encoded P-256 ECDSA signature with 0 < r < n and 0 < s ≤ n/2."""
    if not 8 <= len(signature) <= MAX_SIGNATURE_BYTES:
        return False
    try:
        r, s = decode_dss_signature(signature)
    except ValueError:
        return False
    if not (0 < r < P256_ORDER and 0 < s <= _HALF_ORDER):
        return False
    # Only the one canonical encoding of (r, s): no padding, no long-form lengths.
    return encode_dss_signature(r, s) == signature


def verify_signature(*, public_key_der: bytes, signature: bytes, message: bytes) -> bool:
    """Whether ``signature`` (DER, low-s) by the P-256 key ``public_key_der`` (SPKI DER) covers ``message``."""
    if not is_low_s_der(signature):
        return False
    try:
        key = serialization.load_der_public_key(public_key_der)
    except (ValueError, UnsupportedAlgorithm, TypeError):
        return False
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
        return False
    try:
        key.verify(signature, message, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return False
    return True
