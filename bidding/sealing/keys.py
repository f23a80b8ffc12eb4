"""Bidder keys: generation, fingerprints, and the passphrase-protected backup file.

An organisation's key set is an encryption key pair (RSA-OAEP 3072, SHA-256:
bids are sealed to it) and a signing key pair (ECDSA P-256: the bidder signs
its bids with it). The browser (static/js/keystore.js) and the command-line
client write and read the same backup file; its format is in docs/sealing.md §13.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

from . import _strict
from . import errors as E
from ._strict import Invalid
from .errors import SealingError

RSA_BITS = 3072
RSA_EXPONENT = 65537

BACKUP_FORMAT = "sunbid-key-backup"
BACKUP_VERSION = 1
# OWASP's 2023 figure for PBKDF2-HMAC-SHA256. Readers refuse fewer (a file
# claiming 1 iteration would make a stolen backup cheap to brute-force) and more
# than the ceiling (a hostile file must not hang the reader).
ITERATIONS = 600_000
MIN_ITERATIONS = 600_000
MAX_ITERATIONS = 10_000_000
MIN_PASSPHRASE = 12
SALT_SIZE = 16
NONCE_SIZE = 12

PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey
PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey

CREDIT_CODE = re.compile(r"[0-9A-HJ-NPQRTUWXY]{18}")


def _key_refused() -> SealingError:
    return SealingError("seal.key_invalid", E.KEY_WRONG_KIND)


# --- public keys and fingerprints ------------------------------------------------------


def spki_der(public_key: PublicKey | PrivateKey) -> bytes:
    """SubjectPublicKeyInfo DER of the key (of its public half, for a private key)."""
    if isinstance(public_key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        public_key = public_key.public_key()
    return public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def fingerprint(public_key: PublicKey | PrivateKey) -> str:
    """hex(SHA-256(SubjectPublicKeyInfo DER)): 64 lowercase hex characters.

    WebCrypto's ``exportKey("spki")`` gives the same DER bytes, so the browser
    and the server compute the same fingerprint.
    """
    return hashlib.sha256(spki_der(public_key)).hexdigest()


def load_public_spki(der: bytes) -> PublicKey:
    """Load an RSA or EC public key from SPKI DER; ``seal.key_invalid`` otherwise."""
    try:
        key = serialization.load_der_public_key(bytes(der))
    except (ValueError, TypeError):
        raise _key_refused() from None
    if not isinstance(key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey):
        raise _key_refused()
    return key


def require_encryption_public(key: Any) -> rsa.RSAPublicKey:
    """The key is an RSA-3072 public key with exponent 65537, or ``seal.key_invalid``."""
    if isinstance(key, rsa.RSAPrivateKey):
        key = key.public_key()
    if (
        not isinstance(key, rsa.RSAPublicKey)
        or key.key_size != RSA_BITS
        or key.public_numbers().e != RSA_EXPONENT
    ):
        raise _key_refused()
    return key


def require_signing_public(key: Any) -> ec.EllipticCurvePublicKey:
    """The key is an ECDSA P-256 public key, or ``seal.key_invalid``."""
    if isinstance(key, ec.EllipticCurvePrivateKey):
        key = key.public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        raise _key_refused()
    return key


def generate_encryption_key() -> rsa.RSAPrivateKey:
    """A fresh RSA-3072 key (e = 65537) for RSA-OAEP with SHA-256. Takes about a second."""
    return rsa.generate_private_key(public_exponent=RSA_EXPONENT, key_size=RSA_BITS)


def generate_signing_key() -> ec.EllipticCurvePrivateKey:
    """A fresh ECDSA P-256 key."""
    return ec.generate_private_key(ec.SECP256R1())


def pkcs8_der(private_key: PrivateKey) -> bytes:
    return private_key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


# --- key sets and their backup ---------------------------------------------------------


@dataclass(frozen=True)
class KeySet:
    """An organisation's two private keys (``created`` is read from a backup)."""

    organisation: str
    encryption_private: rsa.RSAPrivateKey
    signing_private: ec.EllipticCurvePrivateKey
    created: dt.datetime | None = None

    @property
    def encryption_fingerprint(self) -> str:
        return fingerprint(self.encryption_private)

    @property
    def signing_fingerprint(self) -> str:
        return fingerprint(self.signing_private)

    @classmethod
    def generate(cls, organisation: str) -> KeySet:
        return cls(
            organisation=organisation,
            encryption_private=generate_encryption_key(),
            signing_private=generate_signing_key(),
            created=dt.datetime.now(dt.UTC),
        )


def _normalise_passphrase(passphrase: str) -> bytes:
    # The same passphrase typed on another system may arrive decomposed (NFD);
    # NFC makes it the same bytes for PBKDF2 (the browser does .normalize("NFC")).
    return unicodedata.normalize("NFC", passphrase).encode("utf-8")


def _derive(passphrase: str, salt: bytes, iterations: int) -> bytes:
    kdf = PBKDF2HMAC(algorithm=SHA256(), length=32, salt=salt, iterations=iterations)
    return kdf.derive(_normalise_passphrase(passphrase))


def _backup_aad(organisation: str, encryption_fp: str, signing_fp: str) -> bytes:
    return f"sunbid-key-backup/v1|{organisation}|{encryption_fp}|{signing_fp}".encode()


def _iso(moment: dt.datetime) -> str:
    # The shape JavaScript's Date.prototype.toISOString() writes.
    return moment.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _check_iterations(iterations: int, allow_weak_kdf_for_tests: bool, field: str) -> None:
    low = 1 if allow_weak_kdf_for_tests else MIN_ITERATIONS
    _strict.integer(iterations, field, low, MAX_ITERATIONS)


def backup_dump(
    keyset: KeySet,
    passphrase: str,
    *,
    iterations: int = ITERATIONS,
    allow_weak_kdf_for_tests: bool = False,
) -> bytes:
    """The key backup file (UTF-8 JSON) of ``keyset``, encrypted under ``passphrase``.

    The passphrase must have at least 12 characters (``backup.passphrase_too_short``).
    ``iterations`` below 600,000 are refused unless ``allow_weak_kdf_for_tests``:
    that flag exists only so that test suites need not spend a second per
    backup, and files written with it are refused by every reader that does not
    pass it too.
    """
    if len(unicodedata.normalize("NFC", passphrase)) < MIN_PASSPHRASE:
        raise SealingError(
            "backup.passphrase_too_short", E.BACKUP_PASSPHRASE_TOO_SHORT, minimum=MIN_PASSPHRASE
        )
    try:
        _check_iterations(iterations, allow_weak_kdf_for_tests, "kdf.iterations")
        _strict.pattern(keyset.organisation, "organisation", CREDIT_CODE)
    except Invalid as error:
        raise SealingError("backup.invalid", E.BACKUP_INVALID, field=error.field) from None
    require_encryption_public(keyset.encryption_private)
    require_signing_public(keyset.signing_private)
    encryption_fp = keyset.encryption_fingerprint
    signing_fp = keyset.signing_fingerprint
    salt = os.urandom(SALT_SIZE)
    nonce = os.urandom(NONCE_SIZE)
    plaintext = _strict.dumps(
        {
            "encryption_private_pkcs8": _strict.b64encode(pkcs8_der(keyset.encryption_private)),
            "signing_private_pkcs8": _strict.b64encode(pkcs8_der(keyset.signing_private)),
        }
    )
    aes_key = _derive(passphrase, salt, iterations)
    ciphertext = AESGCM(aes_key).encrypt(
        nonce, plaintext, _backup_aad(keyset.organisation, encryption_fp, signing_fp)
    )
    document = {
        "format": BACKUP_FORMAT,
        "version": BACKUP_VERSION,
        "organisation": keyset.organisation,
        "encryption_fingerprint": encryption_fp,
        "signing_fingerprint": signing_fp,
        "created": _iso(keyset.created or dt.datetime.now(dt.UTC)),
        "kdf": {"name": "PBKDF2-SHA256", "iterations": iterations, "salt": _strict.b64encode(salt)},
        "cipher": {"name": "AES-256-GCM", "nonce": _strict.b64encode(nonce)},
        "ciphertext": _strict.b64encode(ciphertext),
    }
    return _strict.dumps(document)


_BACKUP_KEYS = (
    "format",
    "version",
    "organisation",
    "encryption_fingerprint",
    "signing_fingerprint",
    "created",
    "kdf",
    "cipher",
    "ciphertext",
)
# A backup is a few kilobytes; refuse to parse megabytes of something else.
MAX_BACKUP = 64 * 1024


def _parse_created(value: Any) -> dt.datetime:
    _strict.text(value, "created", 1, 64)
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        raise Invalid("created") from None
    if moment.tzinfo is None:
        raise Invalid("created")
    return moment


def backup_load(data: bytes, passphrase: str, *, allow_weak_kdf_for_tests: bool = False) -> KeySet:
    """Decrypt a key backup file; the keys are checked against the fingerprints it names.

    ``backup.invalid`` for a malformed file (checked before the slow key
    derivation), ``backup.passphrase_invalid`` when the passphrase is wrong or
    the file was altered (AES-GCM cannot tell the two apart).
    """
    try:
        if len(data) > MAX_BACKUP:
            raise Invalid("size")
        doc = _strict.exact_keys(_strict.loads(data, field="json"), _BACKUP_KEYS, "")
        _strict.constant(doc["format"], "format", BACKUP_FORMAT)
        _strict.constant(doc["version"], "version", BACKUP_VERSION)
        organisation = _strict.pattern(doc["organisation"], "organisation", CREDIT_CODE)
        encryption_fp = _strict.pattern(
            doc["encryption_fingerprint"], "encryption_fingerprint", _strict.HEX64
        )
        signing_fp = _strict.pattern(
            doc["signing_fingerprint"], "signing_fingerprint", _strict.HEX64
        )
        created = _parse_created(doc["created"])
        kdf = _strict.exact_keys(doc["kdf"], ("name", "iterations", "salt"), "kdf")
        _strict.constant(kdf["name"], "kdf.name", "PBKDF2-SHA256")
        iterations = kdf["iterations"]
        _check_iterations(iterations, allow_weak_kdf_for_tests, "kdf.iterations")
        salt = _strict.b64(kdf["salt"], "kdf.salt", SALT_SIZE)
        cipher = _strict.exact_keys(doc["cipher"], ("name", "nonce"), "cipher")
        _strict.constant(cipher["name"], "cipher.name", "AES-256-GCM")
        nonce = _strict.b64(cipher["nonce"], "cipher.nonce", NONCE_SIZE)
        ciphertext = _strict.b64(doc["ciphertext"], "ciphertext")
        if len(ciphertext) < 16:
            raise Invalid("ciphertext")
    except Invalid as error:
        raise SealingError("backup.invalid", E.BACKUP_INVALID, field=error.field) from None

    aes_key = _derive(passphrase, salt, iterations)
    try:
        plaintext = AESGCM(aes_key).decrypt(
            nonce, ciphertext, _backup_aad(organisation, encryption_fp, signing_fp)
        )
    except InvalidTag:
        raise SealingError("backup.passphrase_invalid", E.BACKUP_PASSPHRASE_INVALID) from None

    try:
        inner = _strict.exact_keys(
            _strict.loads(plaintext, field="plaintext"),
            ("encryption_private_pkcs8", "signing_private_pkcs8"),
            "plaintext",
        )
        encryption_private = _load_private(
            inner["encryption_private_pkcs8"], "plaintext.encryption_private_pkcs8"
        )
        signing_private = _load_private(
            inner["signing_private_pkcs8"], "plaintext.signing_private_pkcs8"
        )
        if not isinstance(encryption_private, rsa.RSAPrivateKey):
            raise Invalid("plaintext.encryption_private_pkcs8")
        if not isinstance(signing_private, ec.EllipticCurvePrivateKey):
            raise Invalid("plaintext.signing_private_pkcs8")
        try:
            require_encryption_public(encryption_private)
            require_signing_public(signing_private)
        except SealingError:
            raise Invalid("plaintext") from None
        # The writer authenticated the fingerprints (aad), but a buggy or hostile
        # writer could still have put other keys inside: check they match.
        if fingerprint(encryption_private) != encryption_fp:
            raise Invalid("encryption_fingerprint")
        if fingerprint(signing_private) != signing_fp:
            raise Invalid("signing_fingerprint")
    except Invalid as error:
        raise SealingError("backup.invalid", E.BACKUP_INVALID, field=error.field) from None
    return KeySet(
        organisation=organisation,
        encryption_private=encryption_private,
        signing_private=signing_private,
        created=created,
    )


def _load_private(value: Any, field: str) -> PrivateKey:
    der = _strict.b64(value, field)
    try:
        key = serialization.load_der_private_key(der, password=None)
    except (ValueError, TypeError):
        raise Invalid(field) from None
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise Invalid(field)
    return key
