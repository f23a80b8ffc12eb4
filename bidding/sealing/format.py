"""Sealed bid format v1: writer and readers (normative text: docs/sealing.md).

    MAGIC (21) | HLEN (4) | HEADER (HLEN, JSON) | HMAC (32) | PAYLOAD (chunks) | SIGNATURE (64)

A fresh 32-byte file key per bid is wrapped (RSA-OAEP) to the bidder and to
the lot's opening key; the header is authenticated with a key derived from the
file key (which commits the file key); the payload is AES-256-GCM in 1 MiB
chunks, nonce = chunk counter || final flag, associated data = the header
digest; the bidder signs the header digest and the payload hash.

Everything streams: readers and the writer hold one chunk (plus the manifest,
at most 1 MiB) in memory whatever the bid's size. Chunks decrypt independently
(their nonce is their index and final flag), so ``open_range`` reads any byte
range of the plaintext by decrypting only the chunks that cover it.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import hmac
import io
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, BinaryIO

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from . import _strict
from . import errors as E
from ._strict import Invalid
from .errors import SealingError
from .keys import (
    CREDIT_CODE,
    fingerprint,
    require_encryption_public,
    require_signing_public,
)
from .manifest import MAX_MANIFEST, FileEntry, Manifest, build_manifest, parse_manifest

__all__ = [
    "CHUNK_SIZE",
    "MAGIC",
    "MAX_HEADER",
    "SIGNATURE_SIZE",
    "TAG_SIZE",
    "FileEntry",
    "Header",
    "Inspection",
    "Opened",
    "PlaintextRange",
    "Recipient",
    "SealResult",
    "Signer",
    "build_header",
    "chunk_nonce",
    "inspect",
    "layout",
    "mac_key",
    "open_range",
    "open_sealed",
    "payload_key",
    "read_header",
    "seal",
    "signature_message",
    "unwrap_file_key",
    "verify_file_key",
    "wrap_file_key",
    "write_sealed",
]

MAGIC = b"sunbid-sealed-bid/v1\n"
MAGIC_STEM = b"sunbid-sealed-bid/v"
HLEN_SIZE = 4
MIN_HEADER = 2
MAX_HEADER = 65536
MAC_SIZE = 32
CHUNK_SIZE = 1024 * 1024
TAG_SIZE = 16
SIGNATURE_SIZE = 64
NONCE_SIZE = 16
FILE_KEY_SIZE = 32
WRAPPED_KEY_SIZE = 384
COUNTER_SIZE = 11

FORMAT_NAME = "sunbid-sealed-bid"
VERSION = 1
ROLES = ("bidder", "opening")
RECIPIENT_ALG = "RSA-OAEP-3072-SHA256"
SIGNER_ALG = "ECDSA-P256-SHA256"
HEADER_INFO = b"sunbid/v1 header"
PAYLOAD_INFO = b"sunbid/v1 payload"
SIGNATURE_CONTEXT = b"sunbid/v1 signature\n"
HEADER_KEYS = (
    "format",
    "version",
    "tender",
    "lot",
    "bidder",
    "nonce",
    "chunk_size",
    "recipients",
    "signer",
)
STANZA_KEYS = ("role", "alg", "fingerprint", "wrapped_key")
MAX_LOT = 32767
# A tender code: 1..40 characters, none of them a control character.
TENDER = re.compile(r"[^\x00-\x1f\x7f-\x9f]{1,40}")

_OAEP = padding.OAEP(
    mgf=padding.MGF1(algorithm=hashes.SHA256()), algorithm=hashes.SHA256(), label=None
)
_FINAL = b"\x01"
_NOT_FINAL = b"\x00"


# --- data ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Recipient:
    """One recipient stanza of the header: the file key wrapped to one public key."""

    role: str
    alg: str
    fingerprint: str
    wrapped_key: bytes


@dataclass(frozen=True)
class Signer:
    alg: str
    fingerprint: str


@dataclass(frozen=True)
class Header:
    """A structurally valid header, with the exact bytes it was read from."""

    tender: str
    lot: int
    bidder: str
    nonce: bytes
    chunk_size: int
    recipients: tuple[Recipient, Recipient]
    signer: Signer
    raw: bytes  # the HEADER JSON bytes, as read
    mac: bytes  # the HMAC field
    format: str = FORMAT_NAME
    version: int = VERSION

    @property
    def prefix(self) -> bytes:
        """MAGIC || HLEN || HEADER: the bytes the HMAC covers."""
        return MAGIC + len(self.raw).to_bytes(HLEN_SIZE, "big") + self.raw

    @property
    def length(self) -> int:
        """Bytes from MAGIC to the end of HMAC."""
        return len(MAGIC) + HLEN_SIZE + len(self.raw) + MAC_SIZE

    @functools.cached_property
    def digest(self) -> bytes:
        """header_digest = SHA-256(MAGIC || HLEN || HEADER || HMAC)."""
        return hashlib.sha256(self.prefix + self.mac).digest()

    def recipient(self, role: str) -> Recipient:
        return self.recipients[ROLES.index(role)]

    @property
    def bidder_fingerprint(self) -> str:
        return self.recipients[0].fingerprint

    @property
    def opening_fingerprint(self) -> str:
        return self.recipients[1].fingerprint

    @property
    def signer_fingerprint(self) -> str:
        return self.signer.fingerprint


@dataclass(frozen=True)
class Layout:
    chunks: int
    payload_size: int
    last_chunk_size: int  # ciphertext bytes of the final chunk, tag included
    plaintext_size: int


@dataclass(frozen=True)
class SealResult:
    size: int
    sha256: str  # of the whole file, MAGIC..SIGNATURE: the receipt's "ciphertext SHA-256"
    header: Header
    payload_sha256: str
    chunks: int


@dataclass(frozen=True)
class Inspection:
    header: Header
    size: int
    sha256: str
    payload_sha256: str
    chunks: int


@dataclass(frozen=True)
class Opened:
    header: Header
    summary: dict[str, Any]
    files: list[FileEntry]
    sha256: str | None  # whole-file hash, only when open_sealed(file_sha256=True)
    payload_sha256: str
    chunks: int
    # Where each file's bytes begin in the plaintext (L || MANIFEST || files), in manifest
    # order: with ``open_range`` a file is read later without decrypting the others.
    offsets: tuple[int, ...] = ()


SignerLookup = Callable[[str], ec.EllipticCurvePublicKey | None]


# --- errors ----------------------------------------------------------------------------


def _header_invalid(field: str) -> SealingError:
    return SealingError("seal.header_invalid", E.HEADER_INVALID, field=field)


def _truncated() -> SealingError:
    return SealingError("seal.truncated", E.TRUNCATED)


def _size_invalid() -> SealingError:
    return SealingError("seal.size_invalid", E.SIZE_INVALID)


# --- primitives ------------------------------------------------------------------------


def _hkdf(ikm: bytes, salt: bytes, info: bytes) -> bytes:
    # An empty salt is the same as RFC 5869's default (HashLen zero bytes): HMAC
    # pads short keys with zeros. WebCrypto accepts an empty salt as well.
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=info).derive(ikm)


def mac_key(file_key: bytes) -> bytes:
    return _hkdf(file_key, b"", HEADER_INFO)


def payload_key(file_key: bytes, nonce: bytes) -> bytes:
    return _hkdf(file_key, nonce, PAYLOAD_INFO)


def chunk_nonce(index: int, final: bool) -> bytes:
    """The 12-byte AES-GCM nonce: 11-byte big-endian counter || final flag."""
    return index.to_bytes(COUNTER_SIZE, "big") + (_FINAL if final else _NOT_FINAL)


def signature_message(header_digest: bytes, payload_sha256: bytes) -> bytes:
    return SIGNATURE_CONTEXT + header_digest + payload_sha256


# The order of the P-256 group. (r, s) and (r, n - s) verify alike; v1 accepts only the
# one with s <= n/2 ("low-s", docs/sealing.md), so that nobody but the signer can make a
# second valid file from a bid (a changed whole-file SHA-256 for the same signed content).
P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
_HALF_ORDER = P256_ORDER // 2


def _sign(signing_key: ec.EllipticCurvePrivateKey, message: bytes) -> bytes:
    r, s = decode_dss_signature(signing_key.sign(message, ec.ECDSA(hashes.SHA256())))
    if s > _HALF_ORDER:
        s = P256_ORDER - s  # writers MUST normalise to low-s
    # IEEE P1363 r || s, 32 bytes each: what WebCrypto's ECDSA sign() returns (then normalised).
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def _verify(public_key: ec.EllipticCurvePublicKey, signature: bytes, message: bytes) -> bool:
    r = int.from_bytes(signature[:32], "big")
    s = int.from_bytes(signature[32:], "big")
    if not (0 < r < P256_ORDER and 0 < s <= _HALF_ORDER):
        return False
    try:
        public_key.verify(encode_dss_signature(r, s), message, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return False
    return True


def _fill(stream: Any, view: memoryview) -> int:
    """Read into ``view`` until it is full or the stream ends; the count read."""
    total = len(view)
    got = 0
    readinto = getattr(stream, "readinto", None)
    while got < total:
        if readinto is not None:
            count = readinto(view[got:])
        else:
            data = stream.read(total - got)
            count = len(data)
            view[got : got + count] = data
        if not count:
            break
        got += count
    return got


def _read_exact(stream: Any, size: int) -> bytes:
    buffer = bytearray(size)
    if _fill(stream, memoryview(buffer)) != size:
        raise _truncated()
    return bytes(buffer)


def _read_upto(stream: Any, size: int) -> bytes:
    buffer = bytearray(size)
    got = _fill(stream, memoryview(buffer))
    return bytes(buffer[:got])


# --- the header ------------------------------------------------------------------------


def _parse_header_json(raw: bytes, mac: bytes) -> Header:
    try:
        obj = _strict.loads(raw, field="json")
        if not isinstance(obj, dict):
            raise Invalid("json")
        version = obj.get("version")
        if type(version) is int and version != VERSION:
            raise SealingError("seal.unsupported_version", E.UNSUPPORTED_VERSION)
        _strict.exact_keys(obj, HEADER_KEYS, "")
        _strict.constant(obj["format"], "format", FORMAT_NAME)
        _strict.constant(obj["version"], "version", VERSION)
        tender = _strict.pattern(obj["tender"], "tender", TENDER)
        lot = _strict.integer(obj["lot"], "lot", 1, MAX_LOT)
        bidder = _strict.pattern(obj["bidder"], "bidder", CREDIT_CODE)
        nonce = _strict.b64(obj["nonce"], "nonce", NONCE_SIZE)
        chunk_size = _strict.constant(obj["chunk_size"], "chunk_size", CHUNK_SIZE)
        stanzas = obj["recipients"]
        if not isinstance(stanzas, list) or len(stanzas) != len(ROLES):
            raise Invalid("recipients")
        recipients = []
        for index, (stanza, role) in enumerate(zip(stanzas, ROLES, strict=True)):
            where = f"recipients[{index}]"
            _strict.exact_keys(stanza, STANZA_KEYS, where)
            recipients.append(
                Recipient(
                    role=_strict.constant(stanza["role"], f"{where}.role", role),
                    alg=_strict.constant(stanza["alg"], f"{where}.alg", RECIPIENT_ALG),
                    fingerprint=_strict.pattern(
                        stanza["fingerprint"], f"{where}.fingerprint", _strict.HEX64
                    ),
                    wrapped_key=_strict.b64(
                        stanza["wrapped_key"], f"{where}.wrapped_key", WRAPPED_KEY_SIZE
                    ),
                )
            )
        signer_obj = _strict.exact_keys(obj["signer"], ("alg", "fingerprint"), "signer")
        signer = Signer(
            alg=_strict.constant(signer_obj["alg"], "signer.alg", SIGNER_ALG),
            fingerprint=_strict.pattern(
                signer_obj["fingerprint"], "signer.fingerprint", _strict.HEX64
            ),
        )
    except Invalid as error:
        raise _header_invalid(error.field) from None
    return Header(
        tender=tender,
        lot=lot,
        bidder=bidder,
        nonce=nonce,
        chunk_size=chunk_size,
        recipients=(recipients[0], recipients[1]),
        signer=signer,
        raw=bytes(raw),
        mac=bytes(mac),
    )


def read_header(stream: BinaryIO) -> Header:
    """Read MAGIC..HMAC from ``stream`` and check the header's structure (no keys needed).

    Raises ``seal.not_sealed``, ``seal.unsupported_version``, ``seal.truncated``
    or ``seal.header_invalid``. The HMAC is returned unchecked: checking it needs
    the file key (``verify_file_key``).
    """
    magic = _read_upto(stream, len(MAGIC))
    if magic != MAGIC:
        if magic and MAGIC.startswith(magic):
            raise _truncated()
        if magic.startswith(MAGIC_STEM):
            raise SealingError("seal.unsupported_version", E.UNSUPPORTED_VERSION)
        raise SealingError("seal.not_sealed", E.NOT_SEALED)
    hlen = int.from_bytes(_read_exact(stream, HLEN_SIZE), "big")
    if not MIN_HEADER <= hlen <= MAX_HEADER:
        raise _header_invalid("length")
    raw = _read_exact(stream, hlen)
    # Parse before reading the HMAC, so that a malformed header is reported as
    # such even when the file also ends early.
    header = _parse_header_json(raw, b"")
    mac = _read_exact(stream, MAC_SIZE)
    return dataclasses.replace(header, mac=mac)


def build_header(
    *,
    tender: str,
    lot: int,
    bidder: str,
    nonce: bytes,
    recipients: list[tuple[str, bytes]] | tuple[tuple[str, bytes], ...],
    signer_fingerprint: str,
) -> bytes:
    """The HEADER JSON bytes; ``recipients`` = ((fingerprint, wrapped_key) of bidder, of opening).

    The result is parsed back with the reader's rules, so that the writer never
    produces a header a reader refuses (``seal.header_invalid``).
    """
    stanzas = [
        {
            "role": role,
            "alg": RECIPIENT_ALG,
            "fingerprint": fp,
            "wrapped_key": _strict.b64encode(wrapped),
        }
        for role, (fp, wrapped) in zip(ROLES, recipients, strict=True)
    ]
    raw = _strict.dumps(
        {
            "format": FORMAT_NAME,
            "version": VERSION,
            "tender": tender,
            "lot": lot,
            "bidder": bidder,
            "nonce": _strict.b64encode(nonce),
            "chunk_size": CHUNK_SIZE,
            "recipients": stanzas,
            "signer": {"alg": SIGNER_ALG, "fingerprint": signer_fingerprint},
        }
    )
    if len(raw) > MAX_HEADER:
        raise _header_invalid("length")
    _parse_header_json(raw, b"")
    return raw


# --- keys ------------------------------------------------------------------------------


def wrap_file_key(public_key: rsa.RSAPublicKey, file_key: bytes) -> bytes:
    """RSA-OAEP (SHA-256, MGF1-SHA-256, no label) of the file key: a stanza's 384 bytes."""
    return require_encryption_public(public_key).encrypt(file_key, _OAEP)


def unwrap_file_key(header: Header, role: str, private_key: rsa.RSAPrivateKey) -> bytes:
    """The file key, unwrapped from the ``role`` stanza ("bidder" or "opening").

    ``seal.key_invalid`` when the key is not the one the stanza names (its
    fingerprint differs) or the unwrapping fails. A file key that unwraps is
    not yet proven right: ``verify_file_key`` (or ``open_sealed``) checks it
    against the header MAC.
    """
    if role not in ROLES:
        raise ValueError(f"role must be one of {ROLES}, not {role!r}")
    stanza = header.recipient(role)
    if (
        not isinstance(private_key, rsa.RSAPrivateKey)
        or fingerprint(private_key) != stanza.fingerprint
    ):
        raise SealingError("seal.key_invalid", E.KEY_MISMATCH, fingerprint=stanza.fingerprint)
    try:
        file_key = private_key.decrypt(stanza.wrapped_key, _OAEP)
    except ValueError:
        raise SealingError("seal.key_invalid", E.KEY_UNWRAP_FAILED) from None
    if len(file_key) != FILE_KEY_SIZE:
        raise SealingError("seal.key_invalid", E.KEY_UNWRAP_FAILED)
    return file_key


def verify_file_key(header: Header, file_key: bytes) -> None:
    """Check ``file_key`` against the header MAC: ``seal.header_mac_invalid`` if wrong.

    The MAC key is derived from the file key, so a right MAC proves both that
    the header is intact and that this is the file key the bid was sealed with.
    """
    if len(file_key) != FILE_KEY_SIZE:
        raise SealingError("seal.key_invalid", E.FILE_KEY_LENGTH)
    expected = hmac.new(mac_key(file_key), header.prefix, hashlib.sha256).digest()
    if not hmac.compare_digest(expected, header.mac):
        raise SealingError("seal.header_mac_invalid", E.HEADER_MAC_INVALID)


def _resolve_signer(
    header: Header, signer_public_key: ec.EllipticCurvePublicKey | SignerLookup
) -> ec.EllipticCurvePublicKey:
    expected = header.signer.fingerprint
    key: Any = signer_public_key
    if not isinstance(key, ec.EllipticCurvePublicKey) and callable(key):
        key = key(expected)

    def unknown() -> SealingError:
        return SealingError("seal.signer_unknown", E.SIGNER_UNKNOWN, fingerprint=expected)

    if key is None:
        raise unknown()
    try:
        key = require_signing_public(key)
    except SealingError:
        raise unknown() from None
    if fingerprint(key) != expected:
        raise unknown()
    return key


# --- layout ----------------------------------------------------------------------------


def layout(size: int, header: Header) -> Layout:
    """The chunk structure a file of ``size`` bytes must have; ``seal.size_invalid`` if none."""
    if type(size) is not int:
        raise TypeError("size must be an int")
    payload = size - header.length - SIGNATURE_SIZE
    full = header.chunk_size + TAG_SIZE
    if payload < TAG_SIZE + 1:
        raise _size_invalid()
    chunks = -(-payload // full)
    last = payload - (chunks - 1) * full
    # The final chunk carries 1..chunk_size bytes of plaintext: a payload that
    # ends on a chunk boundary plus a bare tag, or less, cannot be a v1 payload.
    if last < TAG_SIZE + 1:
        raise _size_invalid()
    return Layout(
        chunks=chunks,
        payload_size=payload,
        last_chunk_size=last,
        plaintext_size=payload - chunks * TAG_SIZE,
    )


# --- inspection without keys -----------------------------------------------------------


def inspect(
    stream: BinaryIO,
    size: int,
    *,
    signer_public_key: ec.EllipticCurvePublicKey | SignerLookup,
) -> Inspection:
    """Check everything that can be checked without a private key, streaming.

    ``size`` is the file's length in bytes from the stream's position. Checks,
    in order: header structure (``read_header``), the size against the chunk
    structure (``seal.size_invalid``), the signer key (``seal.signer_unknown``:
    ``signer_public_key`` is the key, or a function from the header's signer
    fingerprint to the bidder's registered key or None), every byte present
    (``seal.truncated``), the bidder's signature (``seal.signature_invalid``).
    Recipient fingerprints, tender, lot and bidder are for the caller to compare.
    """
    header = read_header(stream)
    shape = layout(size, header)
    signer = _resolve_signer(header, signer_public_key)
    file_hash = hashlib.sha256(header.prefix)
    file_hash.update(header.mac)
    payload_hash = hashlib.sha256()
    buffer = bytearray(min(header.chunk_size + TAG_SIZE, shape.payload_size))
    view = memoryview(buffer)
    remaining = shape.payload_size
    while remaining:
        part = view[: min(len(buffer), remaining)]
        if _fill(stream, part) != len(part):
            raise _truncated()
        file_hash.update(part)
        payload_hash.update(part)
        remaining -= len(part)
    signature = _read_exact(stream, SIGNATURE_SIZE)
    file_hash.update(signature)
    payload_digest = payload_hash.digest()
    if not _verify(signer, signature, signature_message(header.digest, payload_digest)):
        raise SealingError("seal.signature_invalid", E.SIGNATURE_INVALID)
    return Inspection(
        header=header,
        size=size,
        sha256=file_hash.hexdigest(),
        payload_sha256=payload_digest.hex(),
        chunks=shape.chunks,
    )


# --- opening ---------------------------------------------------------------------------


class _PlaintextReader:
    """Splits the plaintext stream into L || MANIFEST || files, writing files to sinks.

    Only authenticated plaintext is fed in, so what the manifest says is what
    the bidder sealed. Whether it fits the plaintext length, though, depends on
    the file's size, which an attacker controls by cutting the file: that
    verdict waits for the final chunk to authenticate (a cut file fails there,
    with ``seal.chunk_invalid``), and meanwhile nothing reaches the sinks.
    Without a sink (``None``) the files' bytes are authenticated and dropped.
    """

    def __init__(self, plaintext_size: int, sink: Callable[[FileEntry], BinaryIO] | None) -> None:
        self.plaintext_size = plaintext_size
        self.sink = sink
        self.head = bytearray()  # L, then the manifest: at most 4 + 1 MiB
        self.manifest_size: int | None = None
        self.manifest: Manifest | None = None
        self.misfit: str | None = None  # the field to blame once the final chunk is in
        self.index = 0
        self.out: BinaryIO | None = None
        self.remaining = 0

    def feed(self, data: memoryview) -> None:
        if self.manifest is None:
            data = self._feed_head(data)
            if self.manifest is None:
                return
        if self.misfit is not None or self.sink is None:
            return
        while len(data):
            if self.out is None:
                # Unreachable once the sizes matched plaintext_size; kept so that a
                # miscount could never write past the last file.
                raise SealingError("seal.manifest_invalid", E.MANIFEST_INVALID, field="sizes")
            take = min(self.remaining, len(data))
            self.out.write(data[:take])
            self.remaining -= take
            data = data[take:]
            if not self.remaining:
                self._next_file()

    def _feed_head(self, data: memoryview) -> memoryview:
        if self.manifest_size is None:
            take = min(4 - len(self.head), len(data))
            self.head += data[:take]
            data = data[take:]
            if len(self.head) < 4:
                return data
            self.manifest_size = int.from_bytes(self.head, "big")
            self.head.clear()
            if not 1 <= self.manifest_size <= MAX_MANIFEST:
                raise SealingError("seal.manifest_invalid", E.MANIFEST_INVALID, field="length")
            if 4 + self.manifest_size > self.plaintext_size:
                self.misfit = "length"
                self.manifest = Manifest(summary={}, files=())
                return data[:0]
        take = min(self.manifest_size - len(self.head), len(data))
        self.head += data[:take]
        data = data[take:]
        if len(self.head) == self.manifest_size:
            manifest = parse_manifest(self.head)
            self.head = bytearray()
            self.manifest = manifest
            if 4 + self.manifest_size + manifest.content_size != self.plaintext_size:
                self.misfit = "sizes"
                return data[:0]
            if self.sink is None:
                # The sizes add up to the plaintext: every file is accounted for.
                self.index = len(manifest.files)
                return data[:0]
            self._next_file(first=True)
        return data

    def offsets(self) -> tuple[int, ...]:
        """Each file's first byte in the plaintext: 4 + L, then the sizes before it."""
        assert self.manifest is not None and self.manifest_size is not None
        offsets = []
        position = 4 + self.manifest_size
        for entry in self.manifest.files:
            offsets.append(position)
            position += entry.size
        return tuple(offsets)

    def _next_file(self, *, first: bool = False) -> None:
        assert self.manifest is not None
        if self.out is not None:
            out, self.out = self.out, None
            out.close()
            self.index += 1
        elif not first:
            return
        files = self.manifest.files
        sink = self.sink
        assert sink is not None  # without a sink no file is ever opened (see feed)
        # Zero-length files get their (empty) writer at once, in manifest order.
        while self.index < len(files):
            self.out = sink(files[self.index])
            self.remaining = files[self.index].size
            if self.remaining:
                return
            out, self.out = self.out, None
            out.close()
            self.index += 1

    def finish(self) -> Manifest:
        """Called after the final chunk authenticated: the plaintext is all there."""
        if self.manifest is None:
            raise SealingError("seal.manifest_invalid", E.MANIFEST_INVALID, field="length")
        if self.misfit is not None:
            raise SealingError("seal.manifest_invalid", E.MANIFEST_INVALID, field=self.misfit)
        if self.out is not None or self.index != len(self.manifest.files):
            raise SealingError("seal.manifest_invalid", E.MANIFEST_INVALID, field="sizes")
        return self.manifest

    def abort(self) -> None:
        if self.out is not None:
            out, self.out = self.out, None
            out.close()


def open_sealed(
    stream: BinaryIO,
    size: int,
    *,
    file_key: bytes,
    signer_public_key: ec.EllipticCurvePublicKey | SignerLookup,
    sink: Callable[[FileEntry], BinaryIO] | None,
    file_sha256: bool = False,
) -> Opened:
    """Decrypt and verify a whole bid, one chunk at a time.

    Order: header structure, size, header MAC with ``file_key``
    (``seal.header_mac_invalid``), signer key, then per chunk its authentication
    (``seal.chunk_invalid``) and, as the plaintext arrives, the manifest and
    summary (``seal.manifest_invalid`` / ``seal.summary_invalid``), and last the
    bidder's signature (``seal.signature_invalid``).

    Each file's plaintext goes to the writer ``sink(entry)`` returns, in manifest
    order, and that writer is closed when the file is complete. Chunks are
    released as soon as they authenticate (as in age and Tink), so when this
    raises, whatever the sinks received must be discarded by the caller.
    With ``sink=None`` nothing is written: the whole bid is verified and the
    result says where each file lies in the plaintext (``Opened.offsets``),
    for reading it later with ``open_range``.

    The whole-file SHA-256 costs a second hash pass over the ciphertext; it is
    computed only with ``file_sha256=True``. To tie the opened bid to its
    receipt without it, compare ``header.digest`` and ``payload_sha256`` with
    what ``inspect`` returned at upload (they determine the file up to the
    signature bytes).
    """
    header = read_header(stream)
    shape = layout(size, header)
    verify_file_key(header, file_key)
    signer = _resolve_signer(header, signer_public_key)

    aead = AESGCM(payload_key(file_key, header.nonce))
    aad = header.digest
    payload_hash = hashlib.sha256()
    file_hash = None
    if file_sha256:
        file_hash = hashlib.sha256(header.prefix)
        file_hash.update(header.mac)
    full = header.chunk_size + TAG_SIZE
    ciphertext = memoryview(bytearray(min(full, shape.payload_size)))
    plaintext = memoryview(bytearray(len(ciphertext) - TAG_SIZE))
    reader = _PlaintextReader(shape.plaintext_size, sink)
    last = shape.chunks - 1
    try:
        for index in range(shape.chunks):
            length = shape.last_chunk_size if index == last else full
            chunk = ciphertext[:length]
            if _fill(stream, chunk) != length:
                raise _truncated()
            payload_hash.update(chunk)
            if file_hash is not None:
                file_hash.update(chunk)
            out = plaintext[: length - TAG_SIZE]
            try:
                aead.decrypt_into(chunk_nonce(index, index == last), chunk, aad, out)
            except InvalidTag:
                raise SealingError("seal.chunk_invalid", E.CHUNK_INVALID, index=index) from None
            reader.feed(out)
        manifest = reader.finish()
        signature = _read_exact(stream, SIGNATURE_SIZE)
    except BaseException:
        reader.abort()
        raise
    if file_hash is not None:
        file_hash.update(signature)
    payload_digest = payload_hash.digest()
    if not _verify(signer, signature, signature_message(aad, payload_digest)):
        raise SealingError("seal.signature_invalid", E.SIGNATURE_INVALID)
    return Opened(
        header=header,
        summary=manifest.summary,
        files=list(manifest.files),
        sha256=file_hash.hexdigest() if file_hash is not None else None,
        payload_sha256=payload_digest.hex(),
        chunks=shape.chunks,
        offsets=reader.offsets(),
    )


# --- random access ---------------------------------------------------------------------


class PlaintextRange(io.RawIOBase):
    """Bytes [offset, offset + length) of a bid's plaintext, decrypted chunk by chunk on demand.

    Chunk ``i`` carries plaintext bytes [i·chunk_size, (i+1)·chunk_size) and
    sits at a fixed place in the file (``header.length + i·(chunk_size+16)``);
    its nonce is its index and final flag and its associated data the header
    digest, so it decrypts and authenticates on its own. A read decrypts only
    the chunks under the bytes asked for, each one verified (a changed,
    moved or foreign chunk gives ``seal.chunk_invalid``, a missing one
    ``seal.truncated``); the last chunk decrypted is kept, so reading through
    the range decrypts each chunk once. Positions (``seek``, ``tell``) are
    relative to the range. Memory: one ciphertext and one plaintext chunk.

    What a range read does not re-check is the bidder's signature, which
    covers every chunk: that takes a whole pass (``open_sealed``).
    """

    def __init__(
        self,
        stream: BinaryIO,
        size: int,
        *,
        header: Header,
        file_key: bytes,
        offset: int,
        length: int,
        start: int = 0,
        close_stream: bool = False,
    ) -> None:
        super().__init__()
        shape = layout(size, header)
        if (
            type(offset) is not int
            or type(length) is not int
            or offset < 0
            or length < 0
            or offset + length > shape.plaintext_size
        ):
            raise ValueError(
                f"range [{offset}, {offset}+{length}) is not inside the plaintext"
                f" of {shape.plaintext_size} bytes"
            )
        verify_file_key(header, file_key)
        self.header = header
        self._stream = stream
        self._close_stream = close_stream
        self._start = start
        self._shape = shape
        self._offset = offset
        self._length = length
        self._position = 0
        self._aead = AESGCM(payload_key(file_key, header.nonce))
        self._full = header.chunk_size + TAG_SIZE
        self._cipher: memoryview | None = None
        self._plain: memoryview | None = None
        self._cached = -1  # index of the chunk in _plain, -1 for none

    # io.RawIOBase

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_SET:
            position = offset
        elif whence == io.SEEK_CUR:
            position = self._position + offset
        elif whence == io.SEEK_END:
            position = self._length + offset
        else:
            raise ValueError(f"invalid whence {whence!r}")
        if position < 0:
            raise ValueError("negative seek position")
        self._position = position
        return position

    def readinto(self, buffer: Any) -> int:
        self._require_open()
        view = memoryview(buffer).cast("B")
        filled = 0
        while filled < len(view):
            piece = self._piece(len(view) - filled)
            if piece is None:
                break
            view[filled : filled + len(piece)] = piece
            filled += len(piece)
        return filled

    def read(self, size: int | None = -1) -> bytes:
        self._require_open()
        if size is None or size < 0:
            size = max(0, self._length - self._position)
        pieces = []
        while size:
            piece = self._piece(size)
            if piece is None:
                break
            pieces.append(bytes(piece))
            size -= len(piece)
        return pieces[0] if len(pieces) == 1 else b"".join(pieces)

    def readall(self) -> bytes:
        return self.read(-1)

    def close(self) -> None:
        if not self.closed:
            self._cipher = self._plain = None
            self._cached = -1
            if self._close_stream:
                self._stream.close()
        super().close()

    def _require_open(self) -> None:
        if self.closed:
            raise ValueError("I/O operation on a closed PlaintextRange")

    # chunks

    def _piece(self, most: int) -> memoryview | None:
        """Up to ``most`` bytes from the position on, within one chunk (advancing); None at the end."""
        left = self._length - self._position
        if left <= 0 or most <= 0:
            return None
        index, within = divmod(self._offset + self._position, self.header.chunk_size)
        plain = self._chunk(index)
        take = min(most, left, len(plain) - within)
        self._position += take
        return plain[within : within + take]

    def _chunk(self, index: int) -> memoryview:
        """Chunk ``index``'s authenticated plaintext (read, decrypted and verified unless kept)."""
        if index == self._cached:
            assert self._plain is not None
            return self._plain[: self._chunk_plain_size(index)]
        if self._cipher is None:
            capacity = min(self._full, self._shape.payload_size)
            self._cipher = memoryview(bytearray(capacity))
            self._plain = memoryview(bytearray(capacity - TAG_SIZE))
        assert self._plain is not None
        last = self._shape.chunks - 1
        length = self._shape.last_chunk_size if index == last else self._full
        chunk = self._cipher[:length]
        self._cached = -1
        self._stream.seek(self._start + self.header.length + index * self._full)
        if _fill(self._stream, chunk) != length:
            raise _truncated()
        out = self._plain[: length - TAG_SIZE]
        try:
            self._aead.decrypt_into(
                chunk_nonce(index, index == last), chunk, self.header.digest, out
            )
        except InvalidTag:
            raise SealingError("seal.chunk_invalid", E.CHUNK_INVALID, index=index) from None
        self._cached = index
        return out

    def _chunk_plain_size(self, index: int) -> int:
        if index == self._shape.chunks - 1:
            return self._shape.last_chunk_size - TAG_SIZE
        return self.header.chunk_size


def open_range(
    stream: BinaryIO,
    size: int,
    *,
    file_key: bytes,
    offset: int,
    length: int,
    header: Header | None = None,
    start: int = 0,
    close_stream: bool = False,
) -> PlaintextRange:
    """A reader of plaintext bytes [offset, offset + length) of the sealed file in ``stream``.

    ``stream`` must be seekable; the sealed file (``size`` bytes) starts at
    position ``start``. The header is read from it unless given (the caller
    compares ``reader.header.digest`` with what it recorded). The file key is
    checked against the header MAC at once (``seal.key_invalid``,
    ``seal.header_mac_invalid``); each chunk is checked when the reader first
    needs it (``seal.chunk_invalid``, ``seal.truncated``). A range outside the
    plaintext is a ``ValueError``. A file of a bid is the range
    ``(Opened.offsets[i], Opened.files[i].size)``. With ``close_stream`` the
    reader closes ``stream`` when it is closed.
    """
    if header is None:
        stream.seek(start)
        header = read_header(stream)
    return PlaintextRange(
        stream,
        size,
        header=header,
        file_key=file_key,
        offset=offset,
        length=length,
        start=start,
        close_stream=close_stream,
    )


# --- sealing ---------------------------------------------------------------------------


class _PlaintextSource:
    """L || MANIFEST || the files, read on demand; each file must have its declared size."""

    def __init__(self, manifest: bytes, files: list[tuple[FileEntry, Any]]) -> None:
        self.head = memoryview(len(manifest).to_bytes(4, "big") + manifest)
        self.files = files
        self.index = 0
        self.remaining = files[0][0].size if files else 0

    def readinto(self, view: memoryview) -> int:
        if len(self.head):
            take = min(len(self.head), len(view))
            view[:take] = self.head[:take]
            self.head = self.head[take:]
            return take
        while self.index < len(self.files):
            entry, stream = self.files[self.index]
            if self.remaining:
                want = min(self.remaining, len(view))
                got = _fill(stream, view[:want])
                if got == 0:
                    raise _size_mismatch(entry)
                self.remaining -= got
                return got
            # The file gave exactly its declared size: it must end there.
            if _read_upto(stream, 1):
                raise _size_mismatch(entry)
            self.index += 1
            if self.index < len(self.files):
                self.remaining = self.files[self.index][0].size
        return 0


def _size_mismatch(entry: FileEntry) -> SealingError:
    return SealingError(
        "seal.file_size_mismatch", E.FILE_SIZE_MISMATCH, name=entry.name, size=entry.size
    )


def write_sealed(
    out: BinaryIO,
    *,
    header_json: bytes,
    file_key: bytes,
    plaintext: Any,
    plaintext_size: int,
    signing_key: ec.EllipticCurvePrivateKey,
) -> SealResult:
    """Write MAGIC..SIGNATURE around a given plaintext stream (``readinto`` or ``read``).

    The building block of ``seal``, public for test vectors and tools: it
    encrypts whatever plaintext it is given, so it can make bids whose manifest
    a reader refuses. Bids are made with ``seal``.
    """
    if len(file_key) != FILE_KEY_SIZE:
        raise SealingError("seal.key_invalid", E.FILE_KEY_LENGTH)
    if plaintext_size < 1:
        raise ValueError("the plaintext of a sealed bid is never empty")
    header = _parse_header_json(header_json, b"")
    prefix = header.prefix
    mac = hmac.new(mac_key(file_key), prefix, hashlib.sha256).digest()
    header = dataclasses.replace(header, mac=mac)
    digest = header.digest
    file_hash = hashlib.sha256(prefix)
    file_hash.update(mac)
    payload_hash = hashlib.sha256()
    out.write(prefix)
    out.write(mac)
    size = header.length

    aead = AESGCM(payload_key(file_key, header.nonce))
    chunk_size = header.chunk_size
    chunks = -(-plaintext_size // chunk_size)
    clear = memoryview(bytearray(min(chunk_size, plaintext_size)))
    sealed = memoryview(bytearray(len(clear) + TAG_SIZE))
    for index in range(chunks):
        length = min(chunk_size, plaintext_size - index * chunk_size)
        part = clear[:length]
        if _fill(plaintext, part) != length:
            raise ValueError("the plaintext stream ended before plaintext_size bytes")
        cipher = sealed[: length + TAG_SIZE]
        aead.encrypt_into(chunk_nonce(index, index == chunks - 1), part, digest, cipher)
        out.write(cipher)
        file_hash.update(cipher)
        payload_hash.update(cipher)
        size += len(cipher)
    # Whatever is left of the source (a file that grew) must be refused, not dropped.
    if _read_upto(plaintext, 1):
        raise ValueError("the plaintext stream is longer than plaintext_size bytes")
    payload_digest = payload_hash.digest()
    signature = _sign(signing_key, signature_message(digest, payload_digest))
    out.write(signature)
    file_hash.update(signature)
    size += len(signature)
    return SealResult(
        size=size,
        sha256=file_hash.hexdigest(),
        header=header,
        payload_sha256=payload_digest.hex(),
        chunks=chunks,
    )


def seal(
    out: BinaryIO,
    *,
    tender: str,
    lot: int,
    bidder: str,
    bidder_key: rsa.RSAPublicKey,
    opening_key: rsa.RSAPublicKey,
    signing_key: ec.EllipticCurvePrivateKey,
    summary: dict[str, Any],
    files: list[tuple[FileEntry, BinaryIO]],
) -> SealResult:
    """Seal a bid to ``out``, streaming: one chunk in memory whatever the files' sizes.

    ``files`` pairs each entry with a stream giving exactly ``entry.size`` bytes
    (``seal.file_size_mismatch`` otherwise). The summary and entries are checked
    with the reader's rules first (``seal.summary_invalid``,
    ``seal.manifest_invalid``), the keys must be RSA-3072 / P-256
    (``seal.key_invalid``), and tender, lot and bidder must fit the header
    (``seal.header_invalid``).
    """
    entries = [entry for entry, _ in files]
    manifest = build_manifest(summary, entries)
    bidder_key = require_encryption_public(bidder_key)
    opening_key = require_encryption_public(opening_key)
    if not isinstance(signing_key, ec.EllipticCurvePrivateKey):
        raise SealingError("seal.key_invalid", E.KEY_WRONG_KIND)
    require_signing_public(signing_key)
    file_key = os.urandom(FILE_KEY_SIZE)
    nonce = os.urandom(NONCE_SIZE)
    header_json = build_header(
        tender=tender,
        lot=lot,
        bidder=bidder,
        nonce=nonce,
        recipients=(
            (fingerprint(bidder_key), wrap_file_key(bidder_key, file_key)),
            (fingerprint(opening_key), wrap_file_key(opening_key, file_key)),
        ),
        signer_fingerprint=fingerprint(signing_key),
    )
    source = _PlaintextSource(manifest, list(files))
    plaintext_size = 4 + len(manifest) + sum(entry.size for entry in entries)
    return write_sealed(
        out,
        header_json=header_json,
        file_key=file_key,
        plaintext=source,
        plaintext_size=plaintext_size,
        signing_key=signing_key,
    )
