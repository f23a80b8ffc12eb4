"""Checking an organisation's public keys before they are registered.

Pure: no ORM, no settings. The browser (``static/js/keystore.js``) and the
command-line client export their public keys as SubjectPublicKeyInfo DER; this
module parses them, insists on the one algorithm and size each key is for
(RSA 3072 with e = 65537 to seal to, ECDSA P-256 to sign with) and computes the
fingerprint every part of Sunbid uses: lowercase hex of SHA-256 over the SPKI
DER — the same definition as ``bidding.sealing.keys.fingerprint``.

The DER given must be exactly the canonical encoding of the key it holds.
Otherwise two encodings of one key would carry two fingerprints, and a header
naming one of them would not match the registered other.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from django.utils.translation import gettext_lazy as _

from core.errors import DomainError

ENCRYPTION_KEY_BITS = 3072
ENCRYPTION_PUBLIC_EXPONENT = 65537
SIGNING_CURVE = "secp256r1"
# A DER SPKI of an RSA 3072 key is 422 bytes, of a P-256 key 91; anything far
# larger is not a key of ours and is refused before parsing.
MAX_SPKI_BYTES = 2048


def spki_fingerprint(der: bytes) -> str:
    """Lowercase hex SHA-256 of a SubjectPublicKeyInfo DER (64 characters)."""
    return hashlib.sha256(der).hexdigest()


@dataclass(frozen=True, kw_only=True)
class CheckedKeys:
    encryption_public: bytes
    encryption_fingerprint: str
    signing_public: bytes
    signing_fingerprint: str


def _load(der: bytes, field: str) -> object:
    if not isinstance(der, bytes | bytearray | memoryview) or not 0 < len(der) <= MAX_SPKI_BYTES:
        raise DomainError(
            "key.invalid",
            _("公钥格式无效：应为 SubjectPublicKeyInfo（DER）格式的公钥。"),
            field=field,
        )
    der = bytes(der)
    try:
        key = serialization.load_der_public_key(der)
    except (ValueError, UnsupportedAlgorithm, TypeError):
        raise DomainError(
            "key.invalid",
            _("公钥格式无效：应为 SubjectPublicKeyInfo（DER）格式的公钥。"),
            field=field,
        ) from None
    canonical = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    if canonical != der:
        raise DomainError("key.invalid", _("公钥编码不规范（不是标准 DER 编码）。"), field=field)
    return key


def check_encryption_public(der: bytes) -> str:
    """The fingerprint of an RSA-3072 (e = 65537) SPKI; ``DomainError`` key.invalid / key.weak otherwise."""
    field = "encryption_public"
    key = _load(der, field)
    if not isinstance(key, rsa.RSAPublicKey):
        raise DomainError(
            "key.invalid", _("加密公钥应为 RSA 公钥（RSA-OAEP 3072 位）。"), field=field
        )
    numbers = key.public_numbers()
    if key.key_size < ENCRYPTION_KEY_BITS or numbers.e != ENCRYPTION_PUBLIC_EXPONENT:
        raise DomainError(
            "key.weak",
            _(
                "加密公钥强度不足：应为 3072 位 RSA 密钥，公开指数 65537（当前为 %(bits)s 位，指数 %(e)s）。"
            ),
            field=field,
            bits=key.key_size,
            e=numbers.e,
        )
    if key.key_size != ENCRYPTION_KEY_BITS:
        raise DomainError(
            "key.invalid",
            _("加密公钥应为 3072 位 RSA 密钥（当前为 %(bits)s 位）。"),
            field=field,
            bits=key.key_size,
        )
    return spki_fingerprint(bytes(der))


def check_signing_public(der: bytes) -> str:
    """The fingerprint of an ECDSA P-256 SPKI; ``DomainError`` key.invalid / key.weak otherwise."""
    field = "signing_public"
    key = _load(der, field)
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise DomainError("key.invalid", _("签名公钥应为 ECDSA P-256 公钥。"), field=field)
    if key.curve.name != SIGNING_CURVE:
        if key.curve.key_size < 256:
            raise DomainError(
                "key.weak",
                _("签名公钥强度不足：应为 P-256 曲线（当前为 %(curve)s）。"),
                field=field,
                curve=key.curve.name,
            )
        raise DomainError(
            "key.invalid",
            _("签名公钥应为 P-256 曲线（当前为 %(curve)s）。"),
            field=field,
            curve=key.curve.name,
        )
    return spki_fingerprint(bytes(der))


def check_key_set(*, encryption_public: bytes, signing_public: bytes) -> CheckedKeys:
    """Both public keys checked, with their fingerprints."""
    encryption_fingerprint = check_encryption_public(encryption_public)
    signing_fingerprint = check_signing_public(signing_public)
    return CheckedKeys(
        encryption_public=bytes(encryption_public),
        encryption_fingerprint=encryption_fingerprint,
        signing_public=bytes(signing_public),
        signing_fingerprint=signing_fingerprint,
    )


def fingerprint_groups(fingerprint: str, size: int = 4) -> str:
    """A fingerprint in groups of ``size`` characters for reading aloud and comparing by eye."""
    return " ".join(fingerprint[i : i + size] for i in range(0, len(fingerprint), size))
