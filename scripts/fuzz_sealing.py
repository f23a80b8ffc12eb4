"""Coverage-guided fuzzing of the sealed bid readers with atheris (libFuzzer for Python).

atheris is not a project dependency: install it for the run only.

    .venv/bin/pip install atheris
    PYTHONPATH=. .venv/bin/python scripts/fuzz_sealing.py -max_total_time=600 -max_len=4096 /tmp/fuzz-corpus
    .venv/bin/pip uninstall -y atheris

The first input byte picks a target, the rest is its input:

0  a whole sealed file: read_header, inspect and open_sealed (with the seeds' file key)
1  a plaintext, sealed properly, then opened: the manifest and summary parser
   behind valid encryption, which mutations of ciphertext never reach
2  a header JSON text behind MAGIC and HLEN: the header parser alone
3  a key backup file: backup_load (iteration counts above 1000 are skipped, so
   that the fuzzer measures parsing, not PBKDF2)

Every target must either succeed or raise SealingError; anything else is a
finding (atheris stops and writes the input as crash-*). The chunk size is
shrunk to 256 bytes for the run (it is a module constant), so that inputs of a
few kilobytes have several chunks, final flags and chunk boundaries to break.
Results of the documented run: docs/sealing.md §17.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import os
import sys
from pathlib import Path

import atheris
from cryptography.hazmat.primitives import serialization

with atheris.instrument_imports(include=["bidding.sealing"]):
    from bidding.sealing import format as sealing
    from bidding.sealing import keys
    from bidding.sealing.errors import SealingError
    from bidding.sealing.manifest import FileEntry, build_manifest

FUZZ_CHUNK = 256
sealing.CHUNK_SIZE = FUZZ_CHUNK

VECTORS = Path(__file__).resolve().parents[1] / "tests" / "bidding" / "vectors"
_vector = json.loads((VECTORS / "bid-v1.json").read_text())


def _private(name: str):
    return serialization.load_der_private_key(base64.b64decode(_vector["keys"][name]), None)


BIDDER = _private("bidder_encryption_pkcs8")
SIGNING = _private("bidder_signing_pkcs8")
OPENING = _private("opening_pkcs8")
SIGNER = SIGNING.public_key()
FILE_KEY = bytes.fromhex(_vector["file_key"])
NONCE = bytes.fromhex(_vector["nonce"])
HEADER_JSON = sealing.build_header(
    tender="SB2026000001",
    lot=1,
    bidder="91330100MA0000004Q",
    nonce=NONCE,
    recipients=(
        (keys.fingerprint(BIDDER), sealing.wrap_file_key(BIDDER.public_key(), FILE_KEY)),
        (keys.fingerprint(OPENING), sealing.wrap_file_key(OPENING.public_key(), FILE_KEY)),
    ),
    signer_fingerprint=keys.fingerprint(SIGNING),
)


class _Sink(io.RawIOBase):
    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        return len(data)


def _seal(plaintext: bytes) -> bytes:
    out = io.BytesIO()
    sealing.write_sealed(
        out,
        header_json=HEADER_JSON,
        file_key=FILE_KEY,
        plaintext=io.BytesIO(plaintext),
        plaintext_size=len(plaintext),
        signing_key=SIGNING,
    )
    return out.getvalue()


def _open(data: bytes) -> None:
    sealing.open_sealed(
        io.BytesIO(data),
        len(data),
        file_key=FILE_KEY,
        signer_public_key=SIGNER,
        sink=lambda entry: _Sink(),
    )


def _whole_file(data: bytes) -> None:
    for read in (
        lambda: sealing.read_header(io.BytesIO(data)),
        lambda: sealing.inspect(io.BytesIO(data), len(data), signer_public_key=SIGNER),
        lambda: _open(data),
    ):
        with contextlib.suppress(SealingError):
            read()


def _plaintext(data: bytes) -> None:
    if not data:
        return
    try:
        _open(_seal(data))
    except SealingError as error:
        if error.code not in {"seal.manifest_invalid", "seal.summary_invalid"}:
            raise AssertionError(f"a properly sealed plaintext failed with {error.code}") from None


def _header(data: bytes) -> None:
    framed = sealing.MAGIC + len(data).to_bytes(4, "big") + data + bytes(32)
    with contextlib.suppress(SealingError):
        sealing.read_header(io.BytesIO(framed))


def _claimed_iterations(data: bytes) -> int | None:
    try:
        return int(json.loads(data)["kdf"]["iterations"])
    except (ValueError, TypeError, KeyError, IndexError, RecursionError, OverflowError):
        return None


def _backup(data: bytes) -> None:
    claimed = _claimed_iterations(data)
    if claimed is not None and claimed > 1000:
        return
    with contextlib.suppress(SealingError):
        keys.backup_load(data, "correct horse battery staple", allow_weak_kdf_for_tests=True)


TARGETS = (_whole_file, _plaintext, _header, _backup)


def test_one_input(data: bytes) -> None:
    if not data:
        return
    TARGETS[data[0] % len(TARGETS)](data[1:])


def _seeds(corpus: Path) -> None:
    """Valid inputs for every target: the fuzzer mutates from there."""
    corpus.mkdir(parents=True, exist_ok=True)
    summary = {
        "price": "1234567.89",
        "duration_days": 180,
        "quality": "合格",
        "fields": {"pm": "张工"},
    }
    for index, sizes in enumerate(((0,), (5,), (300, 0, 70), (600,))):
        entries = [
            FileEntry(f"文件{i}.pdf", size, "application/pdf") for i, size in enumerate(sizes)
        ]
        manifest = build_manifest(summary, entries)
        plaintext = (
            len(manifest).to_bytes(4, "big") + manifest + b"".join(os.urandom(s) for s in sizes)
        )
        (corpus / f"seed-file-{index}").write_bytes(b"\x00" + _seal(plaintext))
        (corpus / f"seed-plaintext-{index}").write_bytes(b"\x01" + plaintext)
    (corpus / "seed-header").write_bytes(b"\x02" + HEADER_JSON)
    keyset = keys.KeySet("91330100MA0000004Q", BIDDER, SIGNING)
    backup = keys.backup_dump(
        keyset, "correct horse battery staple", iterations=1000, allow_weak_kdf_for_tests=True
    )
    (corpus / "seed-backup").write_bytes(b"\x03" + backup)


def main() -> None:
    corpus_dirs = [argument for argument in sys.argv[1:] if not argument.startswith("-")]
    for directory in corpus_dirs:
        _seeds(Path(directory))
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
