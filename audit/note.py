"""Signed notes and checkpoints: the C2SP signed-note and tlog-checkpoint formats, Ed25519.

Standard library plus ``cryptography``, free of Django, for ``audit.verify``
and independent tools. Implements https://c2sp.org/signed-note (v1.0.0) and
https://c2sp.org/tlog-checkpoint, the formats of golang.org/x/mod/sumdb/note
and of the Certificate Transparency "static" logs, with Ed25519 signatures
(signature type ``0x01``) only. Strings are Python ``str``; on the wire they
are UTF-8. Errors are :class:`NoteError` with an English reason: this module
serves tools, not the UI.

Signed note (text, then a blank line, then signature lines)::

    <body: one or more lines, each ending in U+000A>
    <U+000A>
    — <key name> <base64(key ID || signature)><U+000A>      (one line per signature)

* The body (the "note text") is what is signed: its exact UTF-8 bytes,
  final newline included, separating blank line excluded. A note must be
  valid UTF-8 with no character below U+0020 other than U+000A.
* A signature line is U+2014 (em dash), U+0020, the key name, U+0020, and the
  standard base64 (RFC 4648 §4, padded) of the 4-byte key ID followed by the
  64-byte Ed25519 signature (RFC 8032) of the body: 68 bytes, 92 characters.
* A key name is non-empty and contains no Unicode space and no ``+``.
* Ed25519 key ID = the first 4 bytes of ``SHA-256(key name (UTF-8) || 0x0A
  || 0x01 || 32-byte public key)``.
* A verifier key ("vkey") is ``<name>+<key ID as 8 lowercase hex digits>+
  <base64(0x01 || 32-byte public key)>``, e.g.
  ``PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW``.

Checkpoint (the body of a signed note)::

    <origin><U+000A>
    <tree size: ASCII decimal, no leading zero (0 for the empty tree)><U+000A>
    <root hash: base64 of the 32-byte RFC 6962 Merkle tree root><U+000A>
    [<extension line><U+000A> ...]

Sunbid's checkpoints carry their time in one extension line (see
:meth:`Checkpoint.with_time`)::

    time 2026-11-23T09:00:00Z

``time``, U+0020, then the UTC time as ``YYYY-MM-DDTHH:MM:SSZ`` (RFC 3339,
always UTC with ``Z``, whole seconds, no fraction): exactly 25 characters.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

#: Signature type identifier byte of Ed25519 in key IDs and verifier keys.
ED25519 = 0x01
KEY_ID_SIZE = 4
PUBLIC_KEY_SIZE = 32
SIGNATURE_SIZE = 64
ROOT_HASH_SIZE = 32
#: The most signatures a note may carry (the spec asks verifiers to accept at
#: least 16; golang.org/x/mod/sumdb/note stops at 100 too).
MAX_SIGNATURES = 100
#: The largest tree size a checkpoint may state (an unsigned 64-bit integer).
MAX_TREE_SIZE = 2**64 - 1

SIGNATURE_PREFIX = "\u2014 "  # em dash, space
TIME_PREFIX = "time "

_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f]")
_DECIMAL = re.compile(r"0|[1-9][0-9]*")
_TIME = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})Z")
_KEY_ID_HEX = re.compile(r"[0-9a-f]{8}")


class NoteError(ValueError):
    """A note, checkpoint or key that does not hold; the message says why, in English."""


class Verifier(NamedTuple):
    """A known signer: its key name, 4-byte key ID and Ed25519 public key."""

    name: str
    key_id: bytes
    public_key: Ed25519PublicKey


def key_id(name: str, public_key: Ed25519PublicKey | bytes) -> bytes:
    """The 4-byte Ed25519 key ID: ``SHA-256(name || 0x0A || 0x01 || public key)[:4]``.

    ``public_key`` is a ``cryptography`` Ed25519 public key or its 32 raw bytes.
    Raises :class:`NoteError` for an invalid key name or key.
    """
    _check_name(name)
    raw = _raw_public_key(public_key)
    return hashlib.sha256(name.encode() + b"\n" + bytes([ED25519]) + raw).digest()[:KEY_ID_SIZE]


def verifier_key(name: str, public_key: Ed25519PublicKey | bytes) -> str:
    """The verifier key string ``<name>+<hex key ID>+<base64(0x01 || public key)>``."""
    raw = _raw_public_key(public_key)
    encoded = base64.b64encode(bytes([ED25519]) + raw).decode()
    return f"{name}+{key_id(name, raw).hex()}+{encoded}"


def parse_verifier_key(vkey: str) -> Verifier:
    """Parse a verifier key string; raises :class:`NoteError` unless it is exact.

    Refused: a missing part, an invalid key name, a key ID that is not 8
    lowercase hex digits or does not match the name and key, base64 that is
    not canonical standard padded base64, a signature type other than
    Ed25519 (``0x01``), a key that is not 32 bytes.
    """
    if not isinstance(vkey, str):
        raise NoteError("a verifier key is a string")
    name, sep1, rest = vkey.partition("+")
    id_hex, sep2, key64 = rest.partition("+")
    if not (sep1 and sep2):
        raise NoteError("a verifier key has the form <name>+<key ID>+<key>")
    _check_name(name)
    if not _KEY_ID_HEX.fullmatch(id_hex):
        raise NoteError(f"verifier key ID {id_hex!r} is not 8 lowercase hexadecimal digits")
    key = _b64decode(key64, "verifier key")
    if not key:
        raise NoteError("verifier key has no key")
    if key[0] != ED25519:
        raise NoteError(
            f"verifier key has signature type 0x{key[0]:02x}, only Ed25519 (0x01) is supported"
        )
    if len(key) != 1 + PUBLIC_KEY_SIZE:
        raise NoteError(f"Ed25519 verifier key has {len(key) - 1} bytes, not {PUBLIC_KEY_SIZE}")
    raw = key[1:]
    expected = key_id(name, raw)
    if bytes.fromhex(id_hex) != expected:
        raise NoteError(
            f"verifier key ID {id_hex} does not match its name and key ({expected.hex()})"
        )
    return Verifier(name, expected, Ed25519PublicKey.from_public_bytes(raw))


def sign_note(body: str, name: str, private_key: Ed25519PrivateKey) -> str:
    """Sign ``body`` as ``name``: return ``body + "\\n" + "— <name> <base64(key ID || sig)>\\n"``.

    ``body`` must be a valid note text: non-empty, ending in a newline, without
    control characters other than newline, encodable as UTF-8. The signature
    is Ed25519 (deterministic, RFC 8032) over the body's UTF-8 bytes. Raises
    :class:`NoteError` otherwise, or for an invalid key name.
    """
    if not isinstance(private_key, Ed25519PrivateKey):
        raise NoteError("notes are signed with an Ed25519 private key")
    data = _check_text(body, "note text")
    ident = key_id(name, private_key.public_key())
    signature = base64.b64encode(ident + private_key.sign(data)).decode()
    return f"{body}\n{SIGNATURE_PREFIX}{name} {signature}\n"


def open_note(text: str | bytes, verifiers: Iterable[Verifier | str]) -> tuple[str, list[str]]:
    """Check a signed note; return its body and the names of the keys that signed it.

    ``verifiers`` are the known keys (:class:`Verifier` tuples or verifier key
    strings). The rules are those of the signed-note spec:

    * the note is split at its *last* blank line: the body before it (ending
      in a newline) and one or more signature lines after it, the last ending
      in a newline;
    * a signature whose (key name, key ID) matches no known key is ignored,
      even if the name or the ID alone matches one;
    * every signature whose (key name, key ID) matches a known key is
      verified, and one that fails makes the whole note refused;
    * at least one signature from a known key must verify.

    Returns ``(body, names)``: ``names`` in order of first appearance, each
    once. Raises :class:`NoteError` for invalid UTF-8, a control character
    other than newline, no blank line before the signatures, a malformed
    signature line (prefix, key name, base64, fewer than 5 bytes), more than
    :data:`MAX_SIGNATURES` signatures, two different known keys with the same
    name and key ID used by a signature, an invalid signature from a known key,
    or no valid signature from a known key; and for a known key that is not a
    valid verifier key or whose :class:`Verifier` key ID does not match it.
    """
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise NoteError(f"note is not valid UTF-8 (byte {exc.start})") from None
    if not isinstance(text, str):
        raise NoteError("a note is text (str or UTF-8 bytes)")
    _check_characters(text, "note")
    known = _known_keys(verifiers)

    split = text.rfind("\n\n")
    if split < 0:
        raise NoteError("note has no blank line between its text and its signatures")
    body, block = text[: split + 1], text[split + 2 :]
    if not block:
        raise NoteError("note has no signature after its blank line")
    if not block.endswith("\n"):
        raise NoteError("note's last signature line does not end with a newline")
    lines = block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise NoteError(
            f"note has {len(lines)} signatures, more than the {MAX_SIGNATURES} accepted"
        )

    data = body.encode()
    names: list[str] = []
    for number, line in enumerate(lines, start=1):
        if not line.startswith(SIGNATURE_PREFIX):
            raise NoteError(f"signature line {number} does not start with an em dash and a space")
        name, space, encoded = line[len(SIGNATURE_PREFIX) :].partition(" ")
        if not space:
            raise NoteError(f"signature line {number} has no space between key name and signature")
        if not _is_valid_name(name):
            raise NoteError(f"signature line {number} has an invalid key name {name!r}")
        if " " in encoded:
            raise NoteError(
                f"signature line {number} has more than two fields (key names have no spaces)"
            )
        raw = _b64decode(encoded, f"signature line {number}")
        if len(raw) < KEY_ID_SIZE + 1:
            raise NoteError(
                f"signature line {number} holds {len(raw)} bytes, fewer than a key ID and a signature"
            )
        ident, signature = raw[:KEY_ID_SIZE], raw[KEY_ID_SIZE:]
        candidates = known.get((name, ident))
        if not candidates:
            continue  # an unknown key: ignored, as the spec requires
        if len(candidates) > 1:
            raise NoteError(
                f"ambiguous key {name}+{ident.hex()}: two known keys have this name and key ID"
            )
        try:
            Ed25519PublicKey.from_public_bytes(candidates[0]).verify(signature, data)
        except InvalidSignature:
            raise NoteError(f"invalid signature for key {name}+{ident.hex()}") from None
        if name not in names:
            names.append(name)
    if not names:
        raise NoteError("note has no valid signature from a known key")
    return body, names


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A tlog-checkpoint: the log's origin, tree size and root hash, then extension lines.

    Construction checks every field (raising :class:`NoteError`): ``origin``
    non-empty, one line, no control characters; ``size`` an ``int`` in
    ``[0, 2**64 - 1]``; ``root`` 32 ``bytes``; ``extensions`` a tuple of
    non-empty single lines without control characters, of which at most one
    starts with ``"time "`` and that one well-formed (see :attr:`time`).
    """

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.origin, str) or not self.origin:
            raise NoteError("checkpoint origin must be a non-empty string")
        _check_line(self.origin, "checkpoint origin")
        if type(self.size) is not int or not 0 <= self.size <= MAX_TREE_SIZE:
            raise NoteError(
                f"checkpoint tree size must be an integer from 0 to 2^64 - 1, got {self.size!r}"
            )
        if type(self.root) is not bytes or len(self.root) != ROOT_HASH_SIZE:
            raise NoteError(f"checkpoint root hash must be {ROOT_HASH_SIZE} bytes")
        if isinstance(self.extensions, str) or not isinstance(self.extensions, Iterable):
            raise NoteError("checkpoint extensions must be a sequence of lines")
        extensions = tuple(self.extensions)
        object.__setattr__(self, "extensions", extensions)
        for number, line in enumerate(extensions, start=1):
            if not isinstance(line, str) or not line:
                raise NoteError(f"checkpoint extension line {number} is empty")
            _check_line(line, f"checkpoint extension line {number}")
        time_lines = [line for line in extensions if line.startswith(TIME_PREFIX)]
        if len(time_lines) > 1:
            raise NoteError("checkpoint has more than one time line")
        if time_lines:
            _parse_time(time_lines[0])

    def body(self) -> str:
        """The note text: origin, size, base64 root, extensions, each line ending in a newline."""
        lines = [
            self.origin,
            str(self.size),
            base64.b64encode(self.root).decode(),
            *self.extensions,
        ]
        return "".join(line + "\n" for line in lines)

    @classmethod
    def parse(cls, body: str) -> Checkpoint:
        """Parse a checkpoint body (the text of an opened note); strict, raises :class:`NoteError`.

        Refused: not ending in a newline, fewer than three lines, any empty line,
        a control character, a size with a sign, spaces, leading zeros or non-ASCII
        digits or above 2^64 - 1, a root hash that is not canonical padded
        standard base64 of 32 bytes, a malformed or repeated time line.
        """
        if not isinstance(body, str):
            raise NoteError("a checkpoint body is text")
        _check_characters(body, "checkpoint")
        if not body.endswith("\n"):
            raise NoteError("checkpoint body does not end with a newline")
        lines = body[:-1].split("\n")
        if len(lines) < 3:
            raise NoteError("checkpoint has fewer than three lines (origin, tree size, root hash)")
        for number, line in enumerate(lines, start=1):
            if not line:
                raise NoteError(f"checkpoint line {number} is empty")
        origin, size_text, root_text, *extensions = lines
        if not _DECIMAL.fullmatch(size_text):
            raise NoteError(
                f"checkpoint tree size {size_text!r} is not a decimal number without leading zeros"
            )
        size = int(size_text)
        if size > MAX_TREE_SIZE:
            raise NoteError("checkpoint tree size is larger than 2^64 - 1")
        root = _b64decode(root_text, "checkpoint root hash")
        if len(root) != ROOT_HASH_SIZE:
            raise NoteError(f"checkpoint root hash has {len(root)} bytes, not {ROOT_HASH_SIZE}")
        return cls(origin, size, root, tuple(extensions))

    @property
    def time(self) -> dt.datetime | None:
        """The time of the ``time`` extension line (timezone-aware UTC), or ``None`` if absent."""
        for line in self.extensions:
            if line.startswith(TIME_PREFIX):
                return _parse_time(line)
        return None

    def with_time(self, when: dt.datetime) -> Checkpoint:
        """A copy stating ``when`` in a ``time`` line, first among the extensions.

        ``when`` must be timezone-aware; it is converted to UTC and truncated to
        the whole second (the line has no fraction). A previous time line is
        replaced. Raises :class:`NoteError` for a naive datetime.
        """
        if not isinstance(when, dt.datetime) or when.tzinfo is None or when.utcoffset() is None:
            raise NoteError("a checkpoint time must be a timezone-aware datetime")
        line = TIME_PREFIX + format_checkpoint_time(when)
        others = tuple(x for x in self.extensions if not x.startswith(TIME_PREFIX))
        return Checkpoint(self.origin, self.size, self.root, (line, *others))


def format_checkpoint_time(when: dt.datetime) -> str:
    """``YYYY-MM-DDTHH:MM:SSZ`` in UTC, truncated to the second: the time line's value."""
    t = when.astimezone(dt.UTC)
    return f"{t.year:04d}-{t.month:02d}-{t.day:02d}T{t.hour:02d}:{t.minute:02d}:{t.second:02d}Z"


def open_checkpoint(
    text: str | bytes, verifiers: Iterable[Verifier | str]
) -> tuple[Checkpoint, list[str]]:
    """:func:`open_note` then :meth:`Checkpoint.parse`: the checkpoint and who signed it.

    The caller decides which names it requires (normally the platform key,
    whose name should equal the checkpoint's origin).
    """
    body, names = open_note(text, verifiers)
    return Checkpoint.parse(body), names


def _parse_time(line: str) -> dt.datetime:
    match = _TIME.fullmatch(line[len(TIME_PREFIX) :])
    if not match:
        raise NoteError(
            f"checkpoint time line {line!r} is not of the form 'time YYYY-MM-DDTHH:MM:SSZ'"
        )
    try:
        return dt.datetime(*(int(part) for part in match.groups()), tzinfo=dt.UTC)
    except ValueError:
        raise NoteError(f"checkpoint time line {line!r} is not a real date and time") from None


def _known_keys(verifiers: Iterable[Verifier | str]) -> dict[tuple[str, bytes], list[bytes]]:
    known: dict[tuple[str, bytes], list[bytes]] = {}
    for item in verifiers:
        verifier = parse_verifier_key(item) if isinstance(item, str) else item
        if not isinstance(verifier, Verifier):
            raise NoteError("known keys are Verifier tuples or verifier key strings")
        raw = _raw_public_key(verifier.public_key)
        if key_id(verifier.name, raw) != verifier.key_id:
            raise NoteError(
                f"known key {verifier.name}+{verifier.key_id.hex()} has the wrong key ID"
            )
        keys = known.setdefault((verifier.name, verifier.key_id), [])
        if raw not in keys:  # the same key given twice is the same key
            keys.append(raw)
    return known


def _raw_public_key(public_key: Ed25519PublicKey | bytes) -> bytes:
    if isinstance(public_key, Ed25519PublicKey):
        return public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)
    if type(public_key) is bytes and len(public_key) == PUBLIC_KEY_SIZE:
        return public_key
    raise NoteError("an Ed25519 public key is a cryptography Ed25519PublicKey or 32 bytes")


def _is_valid_name(name: str) -> bool:
    return (
        bool(name)
        and "+" not in name
        and not any(ch.isspace() for ch in name)
        and not _CONTROL.search(name)
    )


def _check_name(name: object) -> None:
    if not isinstance(name, str) or not _is_valid_name(name):
        raise NoteError(f"invalid key name {name!r}: it must be non-empty, without spaces or '+'")


def _check_characters(text: str, what: str) -> None:
    try:
        text.encode()
    except UnicodeEncodeError:
        raise NoteError(f"{what} is not valid Unicode text (it holds a lone surrogate)") from None
    control = _CONTROL.search(text)
    if control:
        raise NoteError(
            f"{what} contains the control character U+{ord(control.group()):04X} "
            f"at position {control.start()}; only newline is allowed"
        )


def _check_text(text: object, what: str) -> bytes:
    if not isinstance(text, str) or not text:
        raise NoteError(f"{what} must be non-empty text")
    _check_characters(text, what)
    if not text.endswith("\n"):
        raise NoteError(f"{what} does not end with a newline")
    return text.encode()


def _check_line(line: str, what: str) -> None:
    if "\n" in line:
        raise NoteError(f"{what} holds a newline")
    _check_characters(line, what)


def _b64decode(text: str, what: str) -> bytes:
    # Strict: the standard alphabet, padding, and only the canonical encoding
    # (no stray bits in the last character), so that one value has one text.
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (UnicodeEncodeError, binascii.Error):
        raise NoteError(f"{what} is not valid base64") from None
    if base64.b64encode(raw).decode() != text:
        raise NoteError(f"{what} is not canonical base64")
    return raw
