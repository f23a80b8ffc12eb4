"""Keys and bids for the sealed bid format tests.

RSA-3072 key generation costs up to a second each, so the keys are made once
per session. Two bidder organisations (bob's and carol's, as in
tests/conftest.py) and the opening keys of two lots.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from accounts.credit_code import make as make_code
from bidding.sealing import format as sealing
from bidding.sealing.keys import KeySet, generate_encryption_key, generate_signing_key
from bidding.sealing.keys import fingerprint as sealing_fingerprint
from bidding.sealing.manifest import FileEntry
from tests.opening.keypool import POOL

BOB_ORG = make_code("91330100MA0000004")
CAROL_ORG = make_code("91330100MA0000005")
TENDER = "SB2026000001"
SUMMARY = {
    "price": "1234567.89",
    "duration_days": 180,
    "quality": "合格",
    "fields": {"project_manager": "张工", "warranty_years": "2"},
}


@dataclass(frozen=True)
class SealingKeys:
    bob: KeySet
    carol: KeySet
    opening: rsa.RSAPrivateKey  # lot 1's opening key
    opening_lot2: rsa.RSAPrivateKey


@pytest.fixture(scope="session")
def sealing_keys() -> SealingKeys:
    # Bob's encryption key comes from a real RSA-3072 generation (so the
    # generator is exercised); the others from the suite's pool of ready-made
    # keys (tests/opening/keypool.py): a prime search per key costs up to a second.
    return SealingKeys(
        bob=KeySet(BOB_ORG, generate_encryption_key(), generate_signing_key()),
        carol=KeySet(CAROL_ORG, POOL.next_key(), generate_signing_key()),
        opening=POOL.next_key(),
        opening_lot2=POOL.next_key(),
    )


@dataclass
class Bid:
    """A sealed bid in memory, with what it was made from."""

    data: bytes
    result: sealing.SealResult
    keyset: KeySet
    opening: rsa.RSAPrivateKey
    contents: dict[str, bytes] = field(default_factory=dict)
    _file_keys: dict[str, bytes] = field(default_factory=dict, repr=False)

    @property
    def header(self) -> sealing.Header:
        return self.result.header

    @property
    def signer(self) -> ec.EllipticCurvePublicKey:
        return self.keyset.signing_private.public_key()

    def file_key(self, role: str = "bidder") -> bytes:
        """Unwrapped once per role: an RSA-3072 decryption costs milliseconds."""
        if role not in self._file_keys:
            private = self.keyset.encryption_private if role == "bidder" else self.opening
            self._file_keys[role] = sealing.unwrap_file_key(self.header, role, private)
        return self._file_keys[role]


class Collector:
    """A sink: every file's plaintext in memory, with the order files were opened and closed."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.closed: list[tuple[str, bytes]] = []  # in order, duplicates kept
        self.events: list[str] = []

    def __call__(self, entry: FileEntry) -> Any:
        collector = self
        self.events.append(f"open {entry.name}")

        class Writer(io.BytesIO):
            def close(self) -> None:
                collector.files[entry.name] = self.getvalue()
                collector.closed.append((entry.name, self.getvalue()))
                collector.events.append(f"close {entry.name}")
                super().close()

        return Writer()


@pytest.fixture(scope="session")
def make_bid(sealing_keys: SealingKeys) -> Callable[..., Bid]:
    """Seal a bid in memory; by default bob's bid for lot 1 with two files."""

    def make(
        *,
        contents: dict[str, bytes] | None = None,
        keyset: KeySet | None = None,
        opening: rsa.RSAPrivateKey | None = None,
        tender: str = TENDER,
        lot: int = 1,
        summary: dict[str, Any] | None = None,
    ) -> Bid:
        keyset = keyset or sealing_keys.bob
        opening = opening or sealing_keys.opening
        if contents is None:
            contents = {
                "商务标.pdf": b"%PDF-1.7 business part" * 50,
                "技术标.pdf": b"technical" * 80,
            }
        out = io.BytesIO()
        result = sealing.seal(
            out,
            tender=tender,
            lot=lot,
            bidder=keyset.organisation,
            bidder_key=keyset.encryption_private.public_key(),
            opening_key=opening.public_key(),
            signing_key=keyset.signing_private,
            summary=summary or SUMMARY,
            files=[
                (FileEntry(name, len(data), "application/pdf"), io.BytesIO(data))
                for name, data in contents.items()
            ],
        )
        return Bid(out.getvalue(), result, keyset, opening, dict(contents))

    return make


@pytest.fixture(scope="session")
def small_bid(make_bid: Callable[..., Bid]) -> Bid:
    """One chunk: cheap enough to tamper with at every byte."""
    return make_bid()


@pytest.fixture(scope="session")
def three_chunk_bid(make_bid: Callable[..., Bid]) -> Bid:
    """Two full chunks and a short final one: 2.5 MiB of plaintext."""
    big = bytes(range(256)) * (10 * 1024)  # 2.5 MiB, every chunk different
    return make_bid(contents={"工程量清单.xlsx": big, "说明.txt": b"see the list"})


def open_bid(
    data: bytes,
    *,
    file_key: bytes,
    signer: Any,
    size: int | None = None,
    sink: Collector | None = None,
) -> sealing.Opened:
    return sealing.open_sealed(
        io.BytesIO(data),
        len(data) if size is None else size,
        file_key=file_key,
        signer_public_key=signer,
        sink=sink or Collector(),
    )


def inspect_bid(data: bytes, *, signer: Any, size: int | None = None) -> sealing.Inspection:
    return sealing.inspect(
        io.BytesIO(data), len(data) if size is None else size, signer_public_key=signer
    )


def seal_plaintext(
    keys: SealingKeys,
    plaintext: bytes,
    *,
    file_key: bytes | None = None,
    nonce: bytes | None = None,
    tender: str = TENDER,
    lot: int = 1,
) -> tuple[bytes, bytes]:
    """Seal arbitrary plaintext (a manifest a writer would refuse, say) as bob for lot 1.

    Returns the file and its file key. ``file_key`` and ``nonce`` may be fixed
    to make two bids with the same key material.
    """
    file_key = file_key or os.urandom(32)
    nonce = nonce or os.urandom(16)
    bob = keys.bob
    header_json = sealing.build_header(
        tender=tender,
        lot=lot,
        bidder=bob.organisation,
        nonce=nonce,
        recipients=(
            (
                bob.encryption_fingerprint,
                sealing.wrap_file_key(bob.encryption_private.public_key(), file_key),
            ),
            (
                sealing_fingerprint(keys.opening),
                sealing.wrap_file_key(keys.opening.public_key(), file_key),
            ),
        ),
        signer_fingerprint=bob.signing_fingerprint,
    )
    out = io.BytesIO()
    sealing.write_sealed(
        out,
        header_json=header_json,
        file_key=file_key,
        plaintext=io.BytesIO(plaintext),
        plaintext_size=len(plaintext),
        signing_key=bob.signing_private,
    )
    return out.getvalue(), file_key


def plaintext_of(manifest: Any, content: bytes = b"", *, raw: bytes | None = None) -> bytes:
    """L || MANIFEST || content, the manifest given as an object or as raw bytes."""
    body = raw if raw is not None else json.dumps(manifest, ensure_ascii=False).encode()
    return len(body).to_bytes(4, "big") + body + content


@pytest.fixture(autouse=True)
def _device_file(tmp_path, monkeypatch):
    """The command-line client keeps its device id in a file: the test's own, never the user's."""
    monkeypatch.setenv("SUNBID_DEVICE_FILE", str(tmp_path / "device-id"))
