"""Bidder keys: fingerprints, public key loading, and the passphrase-protected backup file.

PBKDF2 at the production 600,000 iterations costs about a third of a second;
the round trip runs it for real once, the other tests use a weak count with
the explicit test-only flag (and one test shows the flag is needed).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

from bidding.sealing import keys
from bidding.sealing.errors import SealingError
from bidding.sealing.keys import KeySet

PASSPHRASE = "correct horse battery staple"
WEAK = {"iterations": 1000, "allow_weak_kdf_for_tests": True}


def _error(call, *args, **kwargs) -> SealingError:
    with pytest.raises(SealingError) as caught:
        call(*args, **kwargs)
    return caught.value


def _weak_backup(keyset: KeySet, passphrase: str = PASSPHRASE) -> bytes:
    return keys.backup_dump(keyset, passphrase, **WEAK)


def _load(data: bytes, passphrase: str = PASSPHRASE) -> KeySet:
    return keys.backup_load(data, passphrase, allow_weak_kdf_for_tests=True)


def _edit(data: bytes, **changes) -> bytes:
    doc = json.loads(data)
    for path, value in changes.items():
        target = doc
        *parents, last = path.split("__")
        for part in parents:
            target = target[part]
        if value is None:
            del target[last]
        else:
            target[last] = value
    return json.dumps(doc).encode()


# --- keys and fingerprints -------------------------------------------------------------


def test_generated_keys_are_rsa_3072_with_exponent_65537_and_p256(sealing_keys):
    encryption = sealing_keys.bob.encryption_private
    signing = sealing_keys.bob.signing_private
    assert isinstance(encryption, rsa.RSAPrivateKey)
    assert (encryption.key_size, encryption.public_key().public_numbers().e) == (3072, 65537)
    assert isinstance(signing, ec.EllipticCurvePrivateKey)
    assert isinstance(signing.curve, ec.SECP256R1)


def test_a_fingerprint_is_the_sha256_of_the_spki_der_for_the_public_or_the_private_half(
    sealing_keys,
):
    for private in (sealing_keys.bob.encryption_private, sealing_keys.bob.signing_private):
        spki = private.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        assert keys.spki_der(private) == keys.spki_der(private.public_key()) == spki
        assert keys.fingerprint(private) == keys.fingerprint(private.public_key())
        assert keys.fingerprint(private) == hashlib.sha256(spki).hexdigest()
    assert sealing_keys.bob.encryption_fingerprint != sealing_keys.carol.encryption_fingerprint


def test_public_keys_load_from_spki_and_garbage_is_refused(sealing_keys):
    public = sealing_keys.bob.encryption_private.public_key()
    loaded = keys.load_public_spki(keys.spki_der(public))
    assert keys.fingerprint(loaded) == keys.fingerprint(public)
    for garbage in (b"", b"\x30\x03\x02\x01\x01", os.urandom(300)):
        assert _error(keys.load_public_spki, garbage).code == "seal.key_invalid"


def test_keys_of_the_wrong_kind_or_size_are_refused(sealing_keys):
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    p384 = ec.generate_private_key(ec.SECP384R1())
    assert _error(keys.require_encryption_public, small.public_key()).code == "seal.key_invalid"
    assert _error(keys.require_encryption_public, p384.public_key()).code == "seal.key_invalid"
    assert _error(keys.require_signing_public, p384.public_key()).code == "seal.key_invalid"
    assert _error(keys.require_signing_public, small.public_key()).code == "seal.key_invalid"
    assert keys.require_signing_public(sealing_keys.bob.signing_private) == (
        sealing_keys.bob.signing_private.public_key()
    )


# --- the backup file -------------------------------------------------------------------


def test_a_backup_round_trips_at_the_production_iteration_count(sealing_keys):
    bob = sealing_keys.bob
    data = keys.backup_dump(bob, PASSPHRASE)
    doc = json.loads(data)

    assert doc["kdf"] == {
        "name": "PBKDF2-SHA256",
        "iterations": 600_000,
        "salt": doc["kdf"]["salt"],
    }
    assert (doc["format"], doc["version"], doc["organisation"]) == (
        "sunbid-key-backup",
        1,
        bob.organisation,
    )
    assert doc["encryption_fingerprint"] == bob.encryption_fingerprint
    assert doc["signing_fingerprint"] == bob.signing_fingerprint
    assert doc["created"].endswith("Z")
    assert PASSPHRASE.encode() not in data and b"PRIVATE" not in data

    restored = keys.backup_load(data, PASSPHRASE)

    assert restored.organisation == bob.organisation
    assert restored.encryption_fingerprint == bob.encryption_fingerprint
    assert restored.signing_fingerprint == bob.signing_fingerprint
    message = b"the restored keys work"
    signature = restored.signing_private.sign(message, ec.ECDSA(hashes.SHA256()))
    bob.signing_private.public_key().verify(signature, message, ec.ECDSA(hashes.SHA256()))


def test_a_wrong_passphrase_is_refused(sealing_keys):
    data = _weak_backup(sealing_keys.bob)
    error = _error(_load, data, "correct horse battery stapler")
    assert error.code == "backup.passphrase_invalid"


def test_two_backups_of_the_same_keys_differ_in_salt_and_nonce(sealing_keys):
    first = json.loads(_weak_backup(sealing_keys.bob))
    second = json.loads(_weak_backup(sealing_keys.bob))
    assert first["kdf"]["salt"] != second["kdf"]["salt"]
    assert first["cipher"]["nonce"] != second["cipher"]["nonce"]
    assert first["ciphertext"] != second["ciphertext"]


def test_a_short_passphrase_is_refused_when_writing(sealing_keys):
    error = _error(keys.backup_dump, sealing_keys.bob, "eleven char", **WEAK)
    assert (error.code, error.params) == ("backup.passphrase_too_short", {"minimum": 12})
    # Twelve characters, not twelve bytes: Chinese counts one per character.
    _weak_backup(sealing_keys.bob, "阳光开标阳光开标阳光开标")


def test_fewer_than_600000_iterations_need_the_explicit_test_flag(sealing_keys):
    error = _error(keys.backup_dump, sealing_keys.bob, PASSPHRASE, iterations=599_999)
    assert (error.code, error.params) == ("backup.invalid", {"field": "kdf.iterations"})

    weak = _weak_backup(sealing_keys.bob)
    # A reader without the flag refuses the file before spending anything on it.
    error = _error(keys.backup_load, weak, PASSPHRASE)
    assert (error.code, error.params) == ("backup.invalid", {"field": "kdf.iterations"})


def test_more_than_ten_million_iterations_are_refused_so_a_hostile_file_cannot_hang_the_reader(
    sealing_keys,
):
    data = _edit(_weak_backup(sealing_keys.bob), kdf__iterations=10_000_001)
    error = _error(keys.backup_load, data, PASSPHRASE)
    assert (error.code, error.params) == ("backup.invalid", {"field": "kdf.iterations"})


@pytest.mark.parametrize(
    "field, value",
    [
        ("organisation", "91330100MA0000005A"),
        ("encryption_fingerprint", "0" * 64),
        ("signing_fingerprint", "f" * 64),
    ],
)
def test_editing_the_authenticated_fields_of_a_backup_is_detected(sealing_keys, field, value):
    data = _edit(_weak_backup(sealing_keys.bob), **{field: value})
    assert _error(_load, data).code == "backup.passphrase_invalid"


def test_a_flipped_bit_in_the_ciphertext_is_detected(sealing_keys):
    doc = json.loads(_weak_backup(sealing_keys.bob))
    raw = bytearray(base64.b64decode(doc["ciphertext"]))
    raw[100] ^= 1
    data = _edit(json.dumps(doc).encode(), ciphertext=base64.b64encode(bytes(raw)).decode())
    assert _error(_load, data).code == "backup.passphrase_invalid"


@pytest.mark.parametrize(
    "change, field",
    [
        ({"format": "sunbid-key-backup2"}, "format"),
        ({"version": 2}, "version"),
        ({"organisation": "not a code"}, "organisation"),
        ({"encryption_fingerprint": "AB" * 32}, "encryption_fingerprint"),
        ({"created": "yesterday"}, "created"),
        ({"created": "2026-05-09T08:00:00"}, "created"),
        ({"kdf__name": "scrypt"}, "kdf.name"),
        ({"kdf__iterations": 600000.0}, "kdf.iterations"),
        ({"kdf__salt": "AAAA"}, "kdf.salt"),
        ({"cipher__name": "AES-128-GCM"}, "cipher.name"),
        ({"cipher__nonce": "AAAAAAAAAAAAAAAAAAAA"}, "cipher.nonce"),  # 15 bytes
        ({"ciphertext": "!!!"}, "ciphertext"),
        ({"ciphertext": "AAAA"}, "ciphertext"),
        ({"comment": "extra"}, "comment"),
        ({"kdf": None}, "kdf"),
    ],
)
def test_a_malformed_backup_is_refused_naming_the_field(sealing_keys, change, field):
    data = _edit(_weak_backup(sealing_keys.bob), **change)
    error = _error(_load, data)
    assert (error.code, error.params) == ("backup.invalid", {"field": field})


def test_a_backup_that_is_not_json_is_refused(sealing_keys):
    for data in (b"", b"not json", b"[]", b"\xff\xfe", b" " * 70_000):
        assert _error(_load, data).code == "backup.invalid"


def _hand_made_backup(keyset: KeySet, inner: dict, *, iterations: int = 1000) -> bytes:
    """A backup written from docs/sealing.md §13 with bare primitives."""
    salt, nonce = os.urandom(16), os.urandom(12)
    aes_key = PBKDF2HMAC(
        algorithm=hashes.SHA256(), length=32, salt=salt, iterations=iterations
    ).derive(PASSPHRASE.encode())
    enc_fp, sig_fp = keyset.encryption_fingerprint, keyset.signing_fingerprint
    aad = f"sunbid-key-backup/v1|{keyset.organisation}|{enc_fp}|{sig_fp}".encode()
    ciphertext = AESGCM(aes_key).encrypt(nonce, json.dumps(inner).encode(), aad)
    return json.dumps(
        {
            "format": "sunbid-key-backup",
            "version": 1,
            "organisation": keyset.organisation,
            "encryption_fingerprint": enc_fp,
            "signing_fingerprint": sig_fp,
            "created": "2026-05-09T08:00:00.000Z",
            "kdf": {
                "name": "PBKDF2-SHA256",
                "iterations": iterations,
                "salt": base64.b64encode(salt).decode(),
            },
            "cipher": {"name": "AES-256-GCM", "nonce": base64.b64encode(nonce).decode()},
            "ciphertext": base64.b64encode(ciphertext).decode(),
        }
    ).encode()


def _pkcs8(private) -> str:
    return base64.b64encode(keys.pkcs8_der(private)).decode()


def test_a_backup_written_by_another_implementation_of_the_spec_loads(sealing_keys):
    bob = sealing_keys.bob
    inner = {
        "encryption_private_pkcs8": _pkcs8(bob.encryption_private),
        "signing_private_pkcs8": _pkcs8(bob.signing_private),
    }
    restored = _load(_hand_made_backup(bob, inner))
    assert restored.encryption_fingerprint == bob.encryption_fingerprint
    assert restored.created is not None and restored.created.year == 2026


@pytest.mark.parametrize(
    "inner, field",
    [
        ("carol encryption key", "encryption_fingerprint"),
        ("carol signing key", "signing_fingerprint"),
        ("keys swapped", "plaintext.encryption_private_pkcs8"),
        ("not base64", "plaintext.signing_private_pkcs8"),
        ("extra key", "plaintext.note"),
    ],
)
def test_a_backup_whose_keys_do_not_match_its_fingerprints_is_refused(sealing_keys, inner, field):
    bob, carol = sealing_keys.bob, sealing_keys.carol
    good = {
        "encryption_private_pkcs8": _pkcs8(bob.encryption_private),
        "signing_private_pkcs8": _pkcs8(bob.signing_private),
    }
    content = {
        "carol encryption key": {
            **good,
            "encryption_private_pkcs8": _pkcs8(carol.encryption_private),
        },
        "carol signing key": {**good, "signing_private_pkcs8": _pkcs8(carol.signing_private)},
        "keys swapped": {
            "encryption_private_pkcs8": good["signing_private_pkcs8"],
            "signing_private_pkcs8": good["encryption_private_pkcs8"],
        },
        "not base64": {**good, "signing_private_pkcs8": "%%%"},
        "extra key": {**good, "note": "hello"},
    }[inner]
    error = _error(_load, _hand_made_backup(bob, content))
    assert (error.code, error.params) == ("backup.invalid", {"field": field})
