"""The committed test vectors (tests/bidding/vectors/) against the library and against the spec.

``_read_by_the_spec`` is a second, minimal reader written from docs/sealing.md
with bare primitives (no code from bidding.sealing): when it and the library
agree on the vector, the document and the implementation say the same thing.
The browser's sealing code can be checked against the same files.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import unicodedata
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

from bidding.sealing import format as sealing
from bidding.sealing import keys
from tests.bidding.conftest import Collector

VECTORS = Path(__file__).with_name("vectors")


@pytest.fixture(scope="module")
def vector() -> dict:
    return json.loads((VECTORS / "bid-v1.json").read_text())


@pytest.fixture(scope="module")
def sealed() -> bytes:
    return (VECTORS / "bid-v1.sealed").read_bytes()


_LOADED: dict[str, object] = {}


def _private(vector: dict, name: str):
    # Loading validates the RSA key (a primality check): once per key is enough.
    if name not in _LOADED:
        _LOADED[name] = serialization.load_der_private_key(
            base64.b64decode(vector["keys"][name]), None
        )
    return _LOADED[name]


def _hkdf(ikm: bytes, salt: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=info).derive(ikm)


def _read_by_the_spec(data: bytes, opening_private) -> dict:
    """docs/sealing.md §4–§9, step by step, for a well-formed file (no error paths)."""
    magic = b"sunbid-sealed-bid/v1\n"
    assert data[:21] == magic
    hlen = int.from_bytes(data[21:25], "big")
    header_bytes = data[25 : 25 + hlen]
    mac = data[25 + hlen : 25 + hlen + 32]
    header = json.loads(header_bytes)
    stanza = header["recipients"][1]
    assert stanza["role"] == "opening"
    oaep = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
    file_key = opening_private.decrypt(base64.b64decode(stanza["wrapped_key"]), oaep)
    nonce = base64.b64decode(header["nonce"])
    mac_key = _hkdf(file_key, b"", b"sunbid/v1 header")
    payload_key = _hkdf(file_key, nonce, b"sunbid/v1 payload")
    assert hmac.compare_digest(hmac.new(mac_key, data[: 25 + hlen], "sha256").digest(), mac)
    header_digest = hashlib.sha256(data[: 25 + hlen + 32]).digest()

    payload = data[25 + hlen + 32 : -64]
    signature = data[-64:]
    chunk_size = header["chunk_size"]
    aead = AESGCM(payload_key)
    plaintext = b""
    offset, index = 0, 0
    while offset < len(payload):
        piece = payload[offset : offset + chunk_size + 16]
        final = offset + len(piece) == len(payload)
        chunk_nonce = index.to_bytes(11, "big") + (b"\x01" if final else b"\x00")
        plaintext += aead.decrypt(chunk_nonce, piece, header_digest)
        offset += len(piece)
        index += 1

    payload_sha256 = hashlib.sha256(payload).digest()
    message = b"sunbid/v1 signature\n" + header_digest + payload_sha256
    return {
        "header": header,
        "file_key": file_key,
        "mac_key": mac_key,
        "payload_key": payload_key,
        "header_digest": header_digest,
        "chunks": index,
        "plaintext": plaintext,
        "payload_sha256": payload_sha256,
        "signature_message": message,
        "signature": signature,
    }


def test_the_spec_reader_reproduces_every_intermediate_value_of_the_vector(vector, sealed):
    got = _read_by_the_spec(sealed, _private(vector, "opening_pkcs8"))

    assert got["file_key"].hex() == vector["file_key"]
    assert got["mac_key"].hex() == vector["mac_key"]
    assert got["payload_key"].hex() == vector["payload_key"]
    assert got["header_digest"].hex() == vector["header_digest"]
    assert got["chunks"] == vector["chunks"]
    assert got["payload_sha256"].hex() == vector["payload_sha256"]
    assert got["signature_message"].hex() == vector["signature_message"]
    assert hashlib.sha256(sealed).hexdigest() == vector["sha256"]
    assert len(sealed) == vector["size"]

    plaintext = got["plaintext"]
    assert len(plaintext) == vector["plaintext_size"]
    length = int.from_bytes(plaintext[:4], "big")
    assert length == vector["manifest_length"]
    manifest = json.loads(plaintext[4 : 4 + length])
    assert plaintext[4 : 4 + length].decode() == vector["manifest"]
    assert manifest["summary"] == vector["summary"]
    rest = plaintext[4 + length :]
    for entry, expected in zip(manifest["files"], vector["files"], strict=True):
        content, rest = rest[: entry["size"]], rest[entry["size"] :]
        assert hashlib.sha256(content).hexdigest() == expected["sha256"]
    assert rest == b""

    # The signature is IEEE P1363 r || s, what WebCrypto produces.
    signer = _private(vector, "bidder_signing_pkcs8").public_key()
    r = int.from_bytes(got["signature"][:32], "big")
    s = int.from_bytes(got["signature"][32:], "big")
    signer.verify(encode_dss_signature(r, s), got["signature_message"], ec.ECDSA(hashes.SHA256()))
    assert got["header"]["signer"]["fingerprint"] == vector["fingerprints"]["bidder_signing"]


def test_the_library_opens_the_vector_with_either_key(vector, sealed):
    signer = _private(vector, "bidder_signing_pkcs8").public_key()
    header = sealing.read_header(io.BytesIO(sealed))
    assert len(header.raw) == vector["hlen"]
    assert header.mac.hex() == vector["hmac"]

    for role, name in (("bidder", "bidder_encryption_pkcs8"), ("opening", "opening_pkcs8")):
        file_key = sealing.unwrap_file_key(header, role, _private(vector, name))
        assert file_key.hex() == vector["file_key"]
        sink = Collector()
        opened = sealing.open_sealed(
            io.BytesIO(sealed), len(sealed), file_key=file_key, signer_public_key=signer, sink=sink
        )
        assert opened.summary == vector["summary"]
        assert opened.payload_sha256 == vector["payload_sha256"]
        assert {name: hashlib.sha256(data).hexdigest() for name, data in sink.files.items()} == {
            entry["name"]: entry["sha256"] for entry in vector["files"]
        }

    inspection = sealing.inspect(io.BytesIO(sealed), len(sealed), signer_public_key=signer)
    assert (inspection.sha256, inspection.chunks) == (vector["sha256"], vector["chunks"])


def test_the_vector_fingerprints_are_sha256_of_the_spki(vector):
    for name, fingerprint_name in (
        ("bidder_encryption_pkcs8", "bidder_encryption"),
        ("bidder_signing_pkcs8", "bidder_signing"),
        ("opening_pkcs8", "opening"),
    ):
        spki = (
            _private(vector, name)
            .public_key()
            .public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
        assert hashlib.sha256(spki).hexdigest() == vector["fingerprints"][fingerprint_name]
        assert keys.fingerprint(_private(vector, name)) == vector["fingerprints"][fingerprint_name]


# --- the key backup vector -------------------------------------------------------------


@pytest.fixture(scope="module")
def backup_meta() -> dict:
    return json.loads((VECTORS / "key-backup-v1.meta.json").read_text())


def test_the_backup_vector_decrypts_by_the_spec(backup_meta):
    # docs/sealing.md §13 with bare primitives, at the production iteration count.
    doc = json.loads((VECTORS / "key-backup-v1.json").read_text())
    assert doc["kdf"]["iterations"] == 600_000
    passphrase = unicodedata.normalize("NFC", backup_meta["passphrase"]).encode()
    aes_key = PBKDF2HMAC(
        algorithm=hashes.SHA256(),
        length=32,
        salt=base64.b64decode(doc["kdf"]["salt"]),
        iterations=doc["kdf"]["iterations"],
    ).derive(passphrase)
    aad = "|".join(
        (
            "sunbid-key-backup/v1",
            doc["organisation"],
            doc["encryption_fingerprint"],
            doc["signing_fingerprint"],
        )
    ).encode()
    inner = json.loads(
        AESGCM(aes_key).decrypt(
            base64.b64decode(doc["cipher"]["nonce"]), base64.b64decode(doc["ciphertext"]), aad
        )
    )
    signing = serialization.load_der_private_key(
        base64.b64decode(inner["signing_private_pkcs8"]), None
    )
    assert keys.fingerprint(signing) == backup_meta["signing_fingerprint"]


def test_the_library_loads_the_backup_vector_with_the_passphrase_in_any_normal_form(backup_meta):
    data = (VECTORS / "key-backup-v1.json").read_bytes()
    # Typed on another system, the same passphrase may arrive decomposed (NFD).
    decomposed = unicodedata.normalize("NFD", backup_meta["passphrase"])
    assert decomposed != backup_meta["passphrase"]

    keyset = keys.backup_load(data, decomposed)

    assert keyset.organisation == backup_meta["organisation"]
    assert keyset.encryption_fingerprint == backup_meta["encryption_fingerprint"]
    assert keyset.signing_fingerprint == backup_meta["signing_fingerprint"]
    assert keyset.created is not None and keyset.created.utcoffset().total_seconds() == 0
