"""The cryptography of the opening key, with no Django in it (docs/opening-keys.md).

- The opening key is RSA-OAEP 3072 (e = 65537, SHA-256, MGF1-SHA256, no
  label), the same kind and padding as the bidder keys of the sealed bid
  format (docs/sealing.md §1), so one unwrap routine serves both recipients.
- Its private half, as PKCS#8 DER, is sealed with AES-256-GCM under a fresh
  random 32-byte key encryption key (KEK). The associated data binds the
  ciphertext to its lot and key fingerprint, so a sealed key cannot be moved
  to another lot's row unnoticed.
- The KEK is split with Shamir (``opening.shamir``); each share goes to its
  custodian under RSA-OAEP to the custodian organisation's registered
  encryption key, and the server keeps an HMAC commitment to it so that a
  wrong share is named at once (the share has 256 bits of entropy, so the
  commitment reveals nothing about it).

``generate_opening_key`` is the one place keys are made: the test suite
replaces it with a pool of pre-computed keys (RSA-3072 generation costs up to
a second).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

ALGORITHM = "RSA-OAEP-3072-SHA256"
KEY_BITS = 3072
PUBLIC_EXPONENT = 65537
KEK_BYTES = 32
NONCE_BYTES = 12
SALT_BYTES = 32
SHARE_BYTES = 1 + KEK_BYTES  # x coordinate, then one value byte per KEK byte
_SEAL_LABEL = b"sunbid/opening-key/v1"
_COMMIT_LABEL = b"sunbid/opening-share/v1"


class CustodianKeyInvalid(ValueError):
    """A custodian's registered encryption key is not an RSA-3072 public key."""


def generate_opening_key() -> rsa.RSAPrivateKey:
    """A fresh RSA-3072 key pair (e = 65537), made in memory.

    Every opening key comes from here; so do the demo organisations' encryption
    keys (tendering/demo.py), which are the same kind of key.
    """
    return rsa.generate_private_key(public_exponent=PUBLIC_EXPONENT, key_size=KEY_BITS)


def new_kek() -> bytearray:
    """A fresh random key encryption key, as a bytearray so it can be wiped after use."""
    return bytearray(secrets.token_bytes(KEK_BYTES))


def wipe(buffer: bytearray) -> None:
    """Overwrite a secret held in a bytearray. Best effort: copies Python made elsewhere are out of reach."""
    buffer[:] = bytes(len(buffer))


def spki_der(public_key: rsa.RSAPublicKey) -> bytes:
    return public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def fingerprint_of_der(spki: bytes) -> str:
    """The fingerprint of a public key: hex SHA-256 of its SubjectPublicKeyInfo DER (docs/sealing.md)."""
    return hashlib.sha256(spki).hexdigest()


def public_pem(spki: bytes) -> bytes:
    """The PEM text of a SubjectPublicKeyInfo DER."""
    key = serialization.load_der_public_key(spki)
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def load_public(spki: bytes) -> rsa.RSAPublicKey:
    key = serialization.load_der_public_key(spki)
    if not isinstance(key, rsa.RSAPublicKey) or key.key_size != KEY_BITS:
        raise CustodianKeyInvalid("not an RSA-3072 public key")
    return key


def _oaep() -> padding.OAEP:
    return padding.OAEP(
        mgf=padding.MGF1(algorithm=hashes.SHA256()), algorithm=hashes.SHA256(), label=None
    )


def wrap(public_key: rsa.RSAPublicKey, data: bytes | bytearray) -> bytes:
    """RSA-OAEP (SHA-256) encryption of a short secret to a public key."""
    return public_key.encrypt(bytes(data), _oaep())


def unwrap(private_key: rsa.RSAPrivateKey, data: bytes) -> bytes:
    """RSA-OAEP decryption; raises ``ValueError`` when the key or the data is wrong."""
    return private_key.decrypt(data, _oaep())


def private_key_aad(*, lot_id: int, fingerprint: str) -> bytes:
    """What the sealed private key is bound to: its lot and its public key's fingerprint."""
    return b"%s|lot=%d|%s" % (_SEAL_LABEL, lot_id, fingerprint.encode("ascii"))


def seal_private_key(
    private_key: rsa.RSAPrivateKey, *, kek: bytes | bytearray, aad: bytes
) -> bytes:
    """nonce (12 bytes) || AES-256-GCM(kek, nonce, PKCS#8 DER of the key, aad) with its 16-byte tag."""
    der = private_key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    nonce = secrets.token_bytes(NONCE_BYTES)
    return nonce + AESGCM(kek).encrypt(nonce, der, aad)


def open_private_key_der(sealed: bytes, *, kek: bytes | bytearray, aad: bytes) -> bytes:
    """The PKCS#8 DER sealed by ``seal_private_key``; raises ``cryptography.exceptions.InvalidTag``
    when the KEK, the associated data or the ciphertext is wrong."""
    return AESGCM(kek).decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], aad)


def load_private_der(der: bytes) -> rsa.RSAPrivateKey:
    key = serialization.load_der_private_key(der, password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("not an RSA private key")
    return key


def private_der(private_key: rsa.RSAPrivateKey) -> bytes:
    return private_key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def new_salt() -> bytes:
    return secrets.token_bytes(SALT_BYTES)


def share_commitment(
    *, salt: bytes, lot_id: int, fingerprint: str, share: bytes | bytearray
) -> str:
    """HMAC-SHA256, keyed with the share's own random salt, over the share and what it belongs to.

    Binding the lot and the opening key's fingerprint means a share of another
    lot's key never passes for this one.
    """
    message = b"%s|lot=%d|%s|" % (_COMMIT_LABEL, lot_id, fingerprint.encode("ascii")) + bytes(share)
    return hmac.new(salt, message, hashlib.sha256).hexdigest()


def share_matches(
    *, salt: bytes, lot_id: int, fingerprint: str, share: bytes | bytearray, commitment: str
) -> bool:
    expected = share_commitment(salt=salt, lot_id=lot_id, fingerprint=fingerprint, share=share)
    return hmac.compare_digest(expected, commitment)
