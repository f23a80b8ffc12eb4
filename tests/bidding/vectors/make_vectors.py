"""Write the committed test vectors of the sealed bid format (run once; the outputs are committed).

    PYTHONPATH=. .venv/bin/python tests/bidding/vectors/make_vectors.py

bid-v1.sealed   a sealed bid (one chunk, two files, one of them empty)
bid-v1.json     its keys (PKCS8, test only), its file key, every intermediate
                value of docs/sealing.md §14, the expected summary and files
key-backup-v1.json       a key backup of the bidder's keys (600,000 iterations)
key-backup-v1.meta.json  its passphrase and the fingerprints it must yield

RSA-OAEP and ECDSA are randomised, so running this again makes different (but
equally valid) vectors; the tests check whatever is committed. The keys are
test keys: they protect nothing.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import io
import json
from pathlib import Path

from bidding.sealing import format as sealing
from bidding.sealing import keys
from bidding.sealing.manifest import FileEntry, build_manifest

HERE = Path(__file__).resolve().parent
ORGANISATION = "91330100MA0000004Q"  # bob's organisation in tests/conftest.py
PASSPHRASE = "Yángguāng kāibiāo 阳光开标 2026"  # tone marks: NFC and NFD differ
FILE_KEY = bytes(range(32))
NONCE = bytes(range(0xA0, 0xB0))
SUMMARY = {
    "price": "1234567.89",
    "duration_days": 180,
    "quality": "合格",
    "fields": {"project_manager": "张工"},
}
FILES = [
    (
        FileEntry("商务标.txt", 0, "text/plain"),
        "投标函：我方愿以人民币壹佰贰拾叁万肆仟伍佰陆拾柒元捌角玖分承包本标段工程。\n".encode(),
    ),
    (FileEntry("空文件.txt", 0, "text/plain"), b""),
]


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def main() -> None:
    bidder = keys.KeySet(
        ORGANISATION,
        keys.generate_encryption_key(),
        keys.generate_signing_key(),
        created=dt.datetime(2026, 5, 9, 8, 0, tzinfo=dt.UTC),
    )
    opening = keys.generate_encryption_key()
    entries = [FileEntry(entry.name, len(data), entry.media_type) for entry, data in FILES]
    manifest = build_manifest(SUMMARY, entries)
    plaintext = len(manifest).to_bytes(4, "big") + manifest + b"".join(data for _, data in FILES)
    header_json = sealing.build_header(
        tender="SB2026000001",
        lot=1,
        bidder=ORGANISATION,
        nonce=NONCE,
        recipients=(
            (
                bidder.encryption_fingerprint,
                sealing.wrap_file_key(bidder.encryption_private.public_key(), FILE_KEY),
            ),
            (keys.fingerprint(opening), sealing.wrap_file_key(opening.public_key(), FILE_KEY)),
        ),
        signer_fingerprint=bidder.signing_fingerprint,
    )
    out = io.BytesIO()
    result = sealing.write_sealed(
        out,
        header_json=header_json,
        file_key=FILE_KEY,
        plaintext=io.BytesIO(plaintext),
        plaintext_size=len(plaintext),
        signing_key=bidder.signing_private,
    )
    data = out.getvalue()
    (HERE / "bid-v1.sealed").write_bytes(data)
    header = result.header
    vector = {
        "description": "sealed bid format v1 test vector; see docs/sealing.md §14",
        "keys": {
            "bidder_encryption_pkcs8": b64(keys.pkcs8_der(bidder.encryption_private)),
            "bidder_signing_pkcs8": b64(keys.pkcs8_der(bidder.signing_private)),
            "opening_pkcs8": b64(keys.pkcs8_der(opening)),
        },
        "fingerprints": {
            "bidder_encryption": bidder.encryption_fingerprint,
            "bidder_signing": bidder.signing_fingerprint,
            "opening": keys.fingerprint(opening),
        },
        "file_key": FILE_KEY.hex(),
        "nonce": NONCE.hex(),
        "mac_key": sealing.mac_key(FILE_KEY).hex(),
        "payload_key": sealing.payload_key(FILE_KEY, NONCE).hex(),
        "hlen": len(header.raw),
        "hmac": header.mac.hex(),
        "header_digest": header.digest.hex(),
        "plaintext_size": len(plaintext),
        "manifest_length": len(manifest),
        "manifest": manifest.decode("utf-8"),
        "chunks": result.chunks,
        "payload_sha256": result.payload_sha256,
        "signature_message": sealing.signature_message(
            header.digest, bytes.fromhex(result.payload_sha256)
        ).hex(),
        "size": result.size,
        "sha256": result.sha256,
        "summary": SUMMARY,
        "files": [
            {
                "name": entry.name,
                "size": entry.size,
                "media_type": entry.media_type,
                "sha256": hashlib.sha256(content).hexdigest(),
                "content_b64": b64(content),
            }
            for entry, (_, content) in zip(entries, FILES, strict=True)
        ],
    }
    (HERE / "bid-v1.json").write_text(json.dumps(vector, ensure_ascii=False, indent=2) + "\n")

    (HERE / "key-backup-v1.json").write_bytes(keys.backup_dump(bidder, PASSPHRASE))
    meta = {
        "passphrase": PASSPHRASE,
        "organisation": ORGANISATION,
        "encryption_fingerprint": bidder.encryption_fingerprint,
        "signing_fingerprint": bidder.signing_fingerprint,
    }
    (HERE / "key-backup-v1.meta.json").write_text(
        json.dumps(meta, ensure_ascii=False, indent=2) + "\n"
    )


if __name__ == "__main__":
    main()
