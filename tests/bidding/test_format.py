"""Sealed bid format v1: round trips, chunk boundaries, and what readers and the writer refuse.

Tampering with a valid bid is in test_format_tamper.py, the property-based
tests in test_format_properties.py, the committed test vector in
test_format_vectors.py.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import tracemalloc
from decimal import Decimal

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from bidding.sealing import format as sealing
from bidding.sealing.errors import SealingError
from bidding.sealing.format import CHUNK_SIZE, MAGIC, TAG_SIZE
from bidding.sealing.keys import fingerprint
from bidding.sealing.manifest import FileEntry
from tests.bidding.conftest import (
    BOB_ORG,
    SUMMARY,
    TENDER,
    Collector,
    inspect_bid,
    open_bid,
    plaintext_of,
    seal_plaintext,
)


def _code(call, *args, **kwargs) -> str:
    with pytest.raises(SealingError) as caught:
        call(*args, **kwargs)
    return caught.value.code


def _error(call, *args, **kwargs) -> SealingError:
    with pytest.raises(SealingError) as caught:
        call(*args, **kwargs)
    return caught.value


# --- round trips -----------------------------------------------------------------------


def test_a_bid_opens_to_the_same_summary_and_files_with_the_bidders_key_and_the_opening_key(
    make_bid,
):
    contents = {"商务标.pdf": b"business" * 1000, "空白页.txt": b"", "技术标.pdf": b"tech" * 3000}
    bid = make_bid(contents=contents)

    for role in ("bidder", "opening"):
        sink = Collector()
        opened = open_bid(bid.data, file_key=bid.file_key(role), signer=bid.signer, sink=sink)
        assert opened.summary == SUMMARY
        assert [entry.name for entry in opened.files] == list(contents)
        assert [entry.size for entry in opened.files] == [len(data) for data in contents.values()]
        assert sink.files == contents
    assert bid.file_key("bidder") == bid.file_key("opening")


def test_the_header_names_tender_lot_bidder_and_the_key_fingerprints(make_bid, sealing_keys):
    bid = make_bid(lot=3)
    header = sealing.read_header(io.BytesIO(bid.data))

    assert (header.tender, header.lot, header.bidder) == (TENDER, 3, BOB_ORG)
    assert header.bidder_fingerprint == sealing_keys.bob.encryption_fingerprint
    assert header.opening_fingerprint == fingerprint(sealing_keys.opening)
    assert header.signer_fingerprint == sealing_keys.bob.signing_fingerprint
    assert [stanza.role for stanza in header.recipients] == ["bidder", "opening"]
    assert header.digest == hashlib.sha256(bid.data[: header.length]).digest()
    assert header == bid.header


def test_inspection_and_sealing_agree_on_size_and_hashes(small_bid):
    inspection = inspect_bid(small_bid.data, signer=small_bid.signer)

    assert inspection.size == small_bid.result.size == len(small_bid.data)
    assert (
        inspection.sha256 == small_bid.result.sha256 == hashlib.sha256(small_bid.data).hexdigest()
    )
    payload = small_bid.data[small_bid.header.length : -64]
    assert inspection.payload_sha256 == hashlib.sha256(payload).hexdigest()
    assert inspection.chunks == small_bid.result.chunks == 1


def test_opening_computes_the_whole_file_hash_only_when_asked(small_bid):
    key = small_bid.file_key()
    plain = open_bid(small_bid.data, file_key=key, signer=small_bid.signer)
    hashed = sealing.open_sealed(
        io.BytesIO(small_bid.data),
        len(small_bid.data),
        file_key=key,
        signer_public_key=small_bid.signer,
        sink=Collector(),
        file_sha256=True,
    )
    assert plain.sha256 is None
    assert hashed.sha256 == small_bid.result.sha256
    assert plain.payload_sha256 == hashed.payload_sha256 == small_bid.result.payload_sha256


def test_the_sink_gets_every_file_in_manifest_order_and_each_writer_is_closed(make_bid):
    contents = {"a.txt": b"", "b.txt": b"bb", "c.txt": b"", "d.txt": b"", "e.txt": b"e"}
    bid = make_bid(contents=contents)
    sink = Collector()

    open_bid(bid.data, file_key=bid.file_key(), signer=bid.signer, sink=sink)

    assert sink.events == [f"{what} {name}" for name in contents for what in ("open", "close")]


def _entries_for(plaintext_size: int, content_sizes: tuple[int, ...]) -> list[FileEntry]:
    """Files whose manifest and content make exactly ``plaintext_size`` bytes of plaintext.

    The last file's size absorbs the difference; its digits change the
    manifest's length, so this settles the size by iterating.
    """
    entries = [
        FileEntry(f"f{i}.bin", size, "application/octet-stream")
        for i, size in enumerate(content_sizes)
    ]
    last = 0
    for _ in range(5):
        entries[-1] = FileEntry("last.bin", last, "application/octet-stream")
        manifest = sealing.build_manifest(SUMMARY, entries)
        need = plaintext_size - 4 - len(manifest) - sum(content_sizes)
        if need == last:
            return entries
        last = need
    raise AssertionError("sizes do not settle")


_BOUNDARY_PLAINTEXTS = [
    (CHUNK_SIZE - 1, 1),
    (CHUNK_SIZE, 1),
    (CHUNK_SIZE + 1, 2),
    (2 * CHUNK_SIZE, 2),
    (2 * CHUNK_SIZE + 1, 3),
]
# Bytes of file content besides the file that fills up to the plaintext size.
_BOUNDARY_CONTENTS = [(0,), (1,), (CHUNK_SIZE - 1,), (CHUNK_SIZE,), (CHUNK_SIZE + 1,), (0, 1)]


@pytest.mark.parametrize(
    "plaintext_size, chunks, content_sizes",
    [
        (size, chunks, contents)
        for size, chunks in _BOUNDARY_PLAINTEXTS
        for contents in _BOUNDARY_CONTENTS
        # the manifest takes a few hundred bytes of the plaintext
        if sum(contents) + 600 <= size
    ],
    ids=str,
)
def test_plaintexts_at_chunk_boundaries_round_trip(
    sealing_keys, plaintext_size, chunks, content_sizes
):
    entries = _entries_for(plaintext_size, (*content_sizes, 0))
    data = {entry.name: bytes([index + 1]) * entry.size for index, entry in enumerate(entries)}
    bob = sealing_keys.bob
    out = io.BytesIO()
    result = sealing.seal(
        out,
        tender=TENDER,
        lot=1,
        bidder=bob.organisation,
        bidder_key=bob.encryption_private.public_key(),
        opening_key=sealing_keys.opening.public_key(),
        signing_key=bob.signing_private,
        summary=SUMMARY,
        files=[(entry, io.BytesIO(data[entry.name])) for entry in entries],
    )
    sealed = out.getvalue()

    assert result.chunks == chunks
    assert len(sealed) == result.header.length + plaintext_size + chunks * TAG_SIZE + 64
    inspection = inspect_bid(sealed, signer=bob.signing_private.public_key())
    assert inspection.chunks == chunks
    sink = Collector()
    file_key = sealing.unwrap_file_key(result.header, "opening", sealing_keys.opening)
    opened = open_bid(sealed, file_key=file_key, signer=bob.signing_private.public_key(), sink=sink)
    assert sink.files == data
    assert opened.chunks == chunks


def test_a_manifest_larger_than_a_chunk_is_read_across_chunks(sealing_keys):
    fields = {f"item_{i}": "值" * 500 for i in range(50)}
    manifest = {
        "summary": {**SUMMARY, "fields": fields},
        "files": [{"name": f"{i:03d}附件.pdf", "size": 1, "media_type": ""} for i in range(100)],
    }
    raw = json.dumps(manifest, ensure_ascii=False).encode()
    # JSON allows trailing white space: pad so that L || MANIFEST ends 2 bytes into chunk 1.
    raw += b" " * (CHUNK_SIZE - 2 - len(raw))
    data, key = seal_plaintext(sealing_keys, plaintext_of(None, b"x" * 100, raw=raw))
    sink = Collector()

    opened = open_bid(
        data, file_key=key, signer=sealing_keys.bob.signing_private.public_key(), sink=sink
    )

    assert opened.chunks == 2
    assert len(opened.files) == 100
    assert opened.summary["fields"] == fields
    assert all(content == b"x" for content in sink.files.values())


class _Trickle(io.RawIOBase):
    """A stream that returns at most 1000 bytes per read, like a slow socket."""

    def __init__(self, data: bytes) -> None:
        self.data = memoryview(data)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        count = min(1000, len(buffer), len(self.data))
        buffer[:count] = self.data[:count]
        self.data = self.data[count:]
        return count


def test_short_reads_from_the_stream_are_read_to_the_end(three_chunk_bid):
    bid = three_chunk_bid
    sink = Collector()
    sealing.open_sealed(
        _Trickle(bid.data),
        len(bid.data),
        file_key=bid.file_key(),
        signer_public_key=bid.signer,
        sink=sink,
    )
    assert sink.files == bid.contents
    inspection = sealing.inspect(_Trickle(bid.data), len(bid.data), signer_public_key=bid.signer)
    assert inspection.sha256 == bid.result.sha256


_BLOCK = memoryview(b"\x5a" * CHUNK_SIZE)


class _Generated(io.RawIOBase):
    """``size`` bytes made up on the fly: a large file that never sits in memory."""

    def __init__(self, size: int) -> None:
        self.left = size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        count = min(len(buffer), self.left)
        buffer[:count] = _BLOCK[:count]
        self.left -= count
        return count


class _Discard(io.RawIOBase):
    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        return len(data)


def test_sealing_inspecting_and_opening_hold_about_one_chunk_in_memory(sealing_keys, tmp_path):
    size = 24 * CHUNK_SIZE
    bob = sealing_keys.bob
    path = tmp_path / "big.sealed"
    tracemalloc.start()
    try:
        with path.open("wb") as out:
            result = sealing.seal(
                out,
                tender=TENDER,
                lot=1,
                bidder=bob.organisation,
                bidder_key=bob.encryption_private.public_key(),
                opening_key=sealing_keys.opening.public_key(),
                signing_key=bob.signing_private,
                summary=SUMMARY,
                files=[(FileEntry("big.bin", size), _Generated(size))],
            )
        _, seal_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        with path.open("rb") as stream:
            sealing.inspect(stream, result.size, signer_public_key=bob.signing_private.public_key())
        _, inspect_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        with path.open("rb") as stream:
            sealing.open_sealed(
                stream,
                result.size,
                file_key=sealing.unwrap_file_key(result.header, "bidder", bob.encryption_private),
                signer_public_key=bob.signing_private.public_key(),
                sink=lambda entry: _Discard(),
            )
        _, open_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.chunks == 25
    # Two chunk buffers (ciphertext and plaintext) and change; the bid is 24 MiB.
    assert seal_peak < 3 * CHUNK_SIZE
    assert inspect_peak < 2 * CHUNK_SIZE
    assert open_peak < 3 * CHUNK_SIZE


# --- what is not a sealed bid ----------------------------------------------------------


@pytest.mark.parametrize(
    "data, code",
    [
        (b"", "seal.not_sealed"),
        (b"%PDF-1.7\n" + b"x" * 200, "seal.not_sealed"),
        (b"PK\x03\x04" + b"x" * 200, "seal.not_sealed"),
        (b"sunbid-sealed-bid/v2\n" + b"x" * 200, "seal.unsupported_version"),
        (b"sunbid-sealed-bid/v10\n" + b"x" * 200, "seal.unsupported_version"),
        (b"sunbid-sealed", "seal.truncated"),
        (MAGIC, "seal.truncated"),
        (MAGIC + b"\x00\x00", "seal.truncated"),
        (MAGIC + b"\x00\x00\x00\x01{", "seal.header_invalid"),
        (MAGIC + b"\x00\x01\x00\x01" + b" " * 70000, "seal.header_invalid"),
        (MAGIC + b"\x00\x00\x00\x10{}", "seal.truncated"),
    ],
    ids=[
        "empty",
        "pdf",
        "zip",
        "v2",
        "v10",
        "half magic",
        "magic only",
        "half length",
        "header length 1",
        "header length 65537",
        "header cut",
    ],
)
def test_what_is_not_a_complete_v1_header_is_refused_with_its_own_code(data, code):
    assert _code(sealing.read_header, io.BytesIO(data)) == code


def test_an_unencrypted_file_is_refused_with_a_message_saying_so():
    error = _error(sealing.read_header, io.BytesIO(b"%PDF-1.7 my bid in the clear"))
    assert error.code == "seal.not_sealed"
    assert "未加密" in error.text


def _header_doc(bid) -> dict:
    return json.loads(bid.header.raw)


def _with_header(raw: bytes) -> io.BytesIO:
    return io.BytesIO(MAGIC + len(raw).to_bytes(4, "big") + raw + b"\x00" * 32 + b"payload")


def _set(doc: dict, path: str, value) -> dict:
    doc = json.loads(json.dumps(doc))
    target = doc
    *parents, last = path.split(".")
    for part in parents:
        target = target[int(part)] if isinstance(target, list) else target[part]
    if value is _DELETE:
        del target[last]
    else:
        target[last] = value
    return doc


_DELETE = object()
_B64_SHORT = "A" * 508 + "AA=="  # 382 bytes


@pytest.mark.parametrize(
    "path, value, field",
    [
        ("signer", _DELETE, "signer"),
        ("comment", "hello", "comment"),
        ("format", "sunbid-sealed-bid2", "format"),
        ("version", "1", "version"),
        ("version", True, "version"),
        ("tender", "", "tender"),
        ("tender", "SB2026\n000001", "tender"),
        ("tender", "S" * 41, "tender"),
        ("tender", 2026000001, "tender"),
        ("lot", 0, "lot"),
        ("lot", 32768, "lot"),
        ("lot", 1.0, "lot"),
        ("lot", "1", "lot"),
        ("lot", True, "lot"),
        ("bidder", BOB_ORG.lower(), "bidder"),
        ("bidder", BOB_ORG[:17], "bidder"),
        ("bidder", "I" + BOB_ORG[1:], "bidder"),
        ("nonce", "AAAAAAAAAAAAAAAAAAAA", "nonce"),  # 15 bytes
        ("nonce", "AAAAAAAAAAAAAAAAAAAAAB==", "nonce"),  # stray bits: not canonical
        ("nonce", "AAAAAAAAAAAAAAAAAAAAAA", "nonce"),  # no padding
        ("nonce", "AAAAAAAAAAAAAAAAAAAA-_==", "nonce"),  # URL-safe alphabet
        ("chunk_size", 65536, "chunk_size"),
        ("recipients", [], "recipients"),
        ("recipients.1.wrapped_key", _DELETE, "recipients[1].wrapped_key"),
        ("recipients.0.alg", "RSA-OAEP-2048-SHA1", "recipients[0].alg"),
        ("recipients.0.role", "opening", "recipients[0].role"),
        ("recipients.0.fingerprint", "A" * 64, "recipients[0].fingerprint"),
        ("recipients.1.fingerprint", "ab" * 31, "recipients[1].fingerprint"),
        ("recipients.1.wrapped_key", _B64_SHORT, "recipients[1].wrapped_key"),
        ("signer.alg", "Ed25519", "signer.alg"),
        ("signer.fingerprint", "0" * 63, "signer.fingerprint"),
    ],
)
def test_a_header_breaking_a_rule_is_refused_naming_the_field(small_bid, path, value, field):
    doc = _set(_header_doc(small_bid), path, value)
    raw = json.dumps(doc, ensure_ascii=False).encode()

    error = _error(sealing.read_header, _with_header(raw))

    assert (error.code, error.params) == ("seal.header_invalid", {"field": field})


def test_a_header_with_the_recipients_in_the_wrong_order_or_number_is_refused(small_bid):
    doc = _header_doc(small_bid)
    swapped = {**doc, "recipients": doc["recipients"][::-1]}
    three = {**doc, "recipients": [*doc["recipients"], doc["recipients"][1]]}
    for bad, field in ((swapped, "recipients[0].role"), (three, "recipients")):
        error = _error(sealing.read_header, _with_header(json.dumps(bad).encode()))
        assert (error.code, error.params["field"]) == ("seal.header_invalid", field)


def test_a_header_of_a_later_version_is_refused_as_unsupported(small_bid):
    raw = json.dumps({**_header_doc(small_bid), "version": 2, "new_field": 1}).encode()
    assert _code(sealing.read_header, _with_header(raw)) == "seal.unsupported_version"


@pytest.mark.parametrize(
    "mangle",
    [
        lambda raw: raw.replace(b'"lot":1,', b'"lot":1,"lot":1,'),
        lambda raw: b"\xef\xbb\xbf" + raw,
        lambda raw: raw.replace(b'"lot":1', b'"lot":NaN'),
        lambda raw: raw.replace(b'"lot":1', b'"lot":Infinity'),
        lambda raw: raw + b"x",
        lambda raw: b"[" + raw + b"]",
        lambda raw: raw.replace(b'"SB2026000001"', b'"SB2026\\ud800"'),
        lambda raw: raw.replace(b'"SB2026000001"', b'"SB2026\xff"'),
        lambda raw: raw.replace(b'"lot":1', b'"lot":' + b"[" * 3000 + b"]" * 3000),
        lambda raw: raw.replace(b'"lot":1', b'"lot":' + b"9" * 5000),
    ],
    ids=[
        "duplicate key",
        "byte order mark",
        "NaN",
        "Infinity",
        "trailing byte",
        "array",
        "lone surrogate",
        "invalid UTF-8",
        "deep nesting",
        "huge integer",
    ],
)
def test_a_header_that_is_not_strict_json_is_refused(small_bid, mangle):
    raw = json.dumps(_header_doc(small_bid), separators=(",", ":")).encode()
    assert b'"lot":1,' in raw
    error = _error(sealing.read_header, _with_header(mangle(raw)))
    assert (error.code, error.params) == ("seal.header_invalid", {"field": "json"})


def test_any_json_spelling_of_a_valid_header_is_read_because_the_bytes_are_authenticated(
    small_bid,
):
    pretty = json.dumps(_header_doc(small_bid), indent=2, ensure_ascii=True).encode()
    header = sealing.read_header(_with_header(pretty))
    assert (header.tender, header.lot) == (small_bid.header.tender, small_bid.header.lot)
    assert header.raw == pretty


# --- sizes ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "payload",
    [-64, 0, TAG_SIZE, CHUNK_SIZE + TAG_SIZE + TAG_SIZE, CHUNK_SIZE + TAG_SIZE + 1],
    ids=["no signature", "no payload", "bare tag", "full chunk and a bare tag", "one byte over"],
)
def test_a_size_that_fits_no_chunk_structure_is_refused(small_bid, payload):
    bid = small_bid
    head = bid.data[: bid.header.length]
    data = head + bytes(payload + 64)
    assert _code(inspect_bid, data, signer=bid.signer) == "seal.size_invalid"
    assert _code(open_bid, data, file_key=bid.file_key(), signer=bid.signer) == "seal.size_invalid"


def test_a_declared_size_longer_than_the_stream_is_a_truncation(small_bid):
    bid = small_bid
    size = len(bid.data) + 100
    assert _code(inspect_bid, bid.data, signer=bid.signer, size=size) == "seal.truncated"
    assert _code(open_bid, bid.data, file_key=bid.file_key(), signer=bid.signer, size=size) == (
        "seal.truncated"
    )


# --- keys ------------------------------------------------------------------------------


def test_unwrapping_with_a_key_the_bid_was_not_sealed_to_is_refused_naming_the_needed_key(
    small_bid, sealing_keys
):
    error = _error(
        sealing.unwrap_file_key, small_bid.header, "bidder", sealing_keys.carol.encryption_private
    )
    assert error.code == "seal.key_invalid"
    assert error.params == {"fingerprint": sealing_keys.bob.encryption_fingerprint}
    assert _code(
        sealing.unwrap_file_key, small_bid.header, "opening", sealing_keys.bob.encryption_private
    ) == ("seal.key_invalid")


def test_a_wrapped_key_that_does_not_decrypt_is_refused(small_bid, sealing_keys):
    header = small_bid.header
    broken = sealing.Recipient(
        "opening", sealing.RECIPIENT_ALG, header.opening_fingerprint, b"\x01" * 384
    )
    tampered = dataclasses.replace(header, recipients=(header.recipients[0], broken))
    error = _error(sealing.unwrap_file_key, tampered, "opening", sealing_keys.opening)
    assert error.code == "seal.key_invalid"
    assert error.params == {}


def test_a_wrong_file_key_fails_the_header_mac(small_bid):
    assert (
        _code(sealing.verify_file_key, small_bid.header, b"\x00" * 32) == "seal.header_mac_invalid"
    )
    assert _code(sealing.verify_file_key, small_bid.header, b"\x00" * 31) == "seal.key_invalid"
    sealing.verify_file_key(small_bid.header, small_bid.file_key())


def test_a_signer_lookup_that_knows_no_key_or_another_key_is_refused(small_bid, sealing_keys):
    fingerprint_asked = []

    def nobody(fp: str):
        fingerprint_asked.append(fp)
        return None

    for signer in (nobody, lambda fp: sealing_keys.carol.signing_private.public_key()):
        error = _error(inspect_bid, small_bid.data, signer=signer)
        assert error.code == "seal.signer_unknown"
        assert error.params == {"fingerprint": sealing_keys.bob.signing_fingerprint}
    assert fingerprint_asked == [sealing_keys.bob.signing_fingerprint]
    # An encryption key returned as signing key is no signing key either.
    rsa_key = sealing_keys.bob.encryption_private.public_key()
    assert _code(inspect_bid, small_bid.data, signer=lambda fp: rsa_key) == "seal.signer_unknown"


# --- what the writer refuses -----------------------------------------------------------


def _seal(sealing_keys, out=None, **overrides):
    bob = sealing_keys.bob
    arguments = {
        "tender": TENDER,
        "lot": 1,
        "bidder": bob.organisation,
        "bidder_key": bob.encryption_private.public_key(),
        "opening_key": sealing_keys.opening.public_key(),
        "signing_key": bob.signing_private,
        "summary": SUMMARY,
        "files": [(FileEntry("a.pdf", 3, "application/pdf"), io.BytesIO(b"abc"))],
    }
    arguments.update(overrides)
    return sealing.seal(out if out is not None else io.BytesIO(), **arguments)


@pytest.mark.parametrize(
    "change, field",
    [
        ({"price": "0"}, "price"),
        ({"price": "0.00"}, "price"),
        ({"price": "1.234"}, "price"),
        ({"price": "1,000"}, "price"),
        ({"price": "1e5"}, "price"),
        ({"price": "１２"}, "price"),
        ({"price": "12.50\n"}, "price"),
        ({"price": "1" * 15}, "price"),
        ({"price": 12.5}, "price"),
        ({"duration_days": 0}, "duration_days"),
        ({"duration_days": 3651}, "duration_days"),
        ({"duration_days": "180"}, "duration_days"),
        ({"duration_days": True}, "duration_days"),
        ({"quality": ""}, "quality"),
        ({"quality": "优" * 201}, "quality"),
        ({"fields": []}, "fields"),
        ({"fields": {f"k{i}": "v" for i in range(51)}}, "fields"),
        ({"fields": {"Bad": "v"}}, "fields"),
        ({"fields": {"1a": "v"}}, "fields"),
        ({"fields": {"a" * 41: "v"}}, "fields"),
        ({"fields": {"a": 1}}, "fields.a"),
        ({"fields": {"a": "v" * 501}}, "fields.a"),
        ({"extra": 1}, "extra"),
    ],
)
def test_the_writer_refuses_a_summary_breaking_a_rule_before_writing(sealing_keys, change, field):
    out = io.BytesIO()
    error = _error(_seal, sealing_keys, out, summary={**SUMMARY, **change})
    assert (error.code, error.params) == ("seal.summary_invalid", {"field": field})
    assert out.getvalue() == b""


def test_a_summary_at_the_limits_is_accepted_and_a_decimal_price_is_written_as_text(sealing_keys):
    summary = {
        "price": Decimal("99999999999999.99"),
        "duration_days": 3650,
        "quality": "优" * 200,
        "fields": {f"k{i}": "" if i else "v" * 500 for i in range(50)},
    }
    out = io.BytesIO()
    result = _seal(sealing_keys, out, summary=summary)
    bob = sealing_keys.bob
    opened = open_bid(
        out.getvalue(),
        file_key=sealing.unwrap_file_key(result.header, "bidder", bob.encryption_private),
        signer=bob.signing_private.public_key(),
    )
    assert opened.summary == {**summary, "price": "99999999999999.99"}


@pytest.mark.parametrize(
    "entry, field",
    [
        (FileEntry("", 3), "files[0].name"),
        (FileEntry("a/b.pdf", 3), "files[0].name"),
        (FileEntry("a\\b.pdf", 3), "files[0].name"),
        (FileEntry("a\x00.pdf", 3), "files[0].name"),
        (FileEntry("n" * 256, 3), "files[0].name"),
        (FileEntry("a.pdf", -1), "files[0].size"),
        (FileEntry("a.pdf", 2**53), "files[0].size"),
        (FileEntry("a.pdf", 3, "x" * 101), "files[0].media_type"),
    ],
)
def test_the_writer_refuses_a_file_entry_breaking_a_rule(sealing_keys, entry, field):
    error = _error(_seal, sealing_keys, files=[(entry, io.BytesIO(b"abc"))])
    assert (error.code, error.params) == ("seal.manifest_invalid", {"field": field})


def test_the_writer_refuses_no_files_or_more_than_a_hundred(sealing_keys):
    many = [(FileEntry(f"{i}.txt", 0), io.BytesIO()) for i in range(101)]
    for files in ([], many):
        error = _error(_seal, sealing_keys, files=files)
        assert (error.code, error.params) == ("seal.manifest_invalid", {"field": "files"})


@pytest.mark.parametrize("content", [b"ab", b"abcd"], ids=["shorter", "longer"])
def test_a_file_that_is_not_its_declared_size_is_refused(sealing_keys, content):
    error = _error(_seal, sealing_keys, files=[(FileEntry("a.pdf", 3), io.BytesIO(content))])
    assert error.code == "seal.file_size_mismatch"
    assert error.params == {"name": "a.pdf", "size": 3}


def test_the_writer_refuses_keys_of_the_wrong_kind_or_size(sealing_keys):
    small_rsa = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    p384 = ec.generate_private_key(ec.SECP384R1())
    for change in (
        {"bidder_key": small_rsa.public_key()},
        {"opening_key": sealing_keys.bob.signing_private.public_key()},
        {"signing_key": p384},
        {"signing_key": sealing_keys.bob.encryption_private},
    ):
        assert _code(_seal, sealing_keys, **change) == "seal.key_invalid"


@pytest.mark.parametrize(
    "change, field",
    [({"tender": ""}, "tender"), ({"lot": 0}, "lot"), ({"bidder": "not a credit code"}, "bidder")],
)
def test_the_writer_refuses_header_values_a_reader_would_refuse(sealing_keys, change, field):
    error = _error(_seal, sealing_keys, **change)
    assert (error.code, error.params) == ("seal.header_invalid", {"field": field})


# --- what the reader refuses inside the payload ----------------------------------------


def _manifest(**changes) -> dict:
    return {
        "summary": SUMMARY,
        "files": [{"name": "a.pdf", "size": 3, "media_type": "application/pdf"}],
        **changes,
    }


@pytest.mark.parametrize(
    "plaintext, code, field",
    [
        (b"\x00\x00", "seal.manifest_invalid", "length"),
        (b"\x00\x00\x00\x00abc", "seal.manifest_invalid", "length"),
        (b"\x00\x00\x01\x00{}", "seal.manifest_invalid", "length"),
        (b"\x00\x10\x00\x01" + b" " * 2000, "seal.manifest_invalid", "length"),
        (plaintext_of(None, b"abc", raw=b"not json"), "seal.manifest_invalid", "json"),
        (
            plaintext_of(None, b"abc", raw=b'{"summary":1,"summary":2}'),
            "seal.manifest_invalid",
            "json",
        ),
        (plaintext_of([1, 2], b"abc"), "seal.manifest_invalid", "json"),
        (plaintext_of(_manifest(signature="x"), b"abc"), "seal.manifest_invalid", "signature"),
        (plaintext_of(_manifest(files=[]), b""), "seal.manifest_invalid", "files"),
        (
            plaintext_of(_manifest(files=[{"name": "../x", "size": 3, "media_type": ""}]), b"abc"),
            "seal.manifest_invalid",
            "files[0].name",
        ),
        (
            plaintext_of(_manifest(files=[{"name": "a", "size": 3.0, "media_type": ""}]), b"abc"),
            "seal.manifest_invalid",
            "files[0].size",
        ),
        (plaintext_of(_manifest(), b"ab"), "seal.manifest_invalid", "sizes"),
        (plaintext_of(_manifest(), b"abcd"), "seal.manifest_invalid", "sizes"),
        (
            plaintext_of(_manifest(summary={**SUMMARY, "price": "-1"}), b"abc"),
            "seal.summary_invalid",
            "price",
        ),
        (
            plaintext_of(_manifest(summary={**SUMMARY, "fields": {"a": None}}), b"abc"),
            "seal.summary_invalid",
            "fields.a",
        ),
    ],
    ids=[
        "no length",
        "length 0",
        "length past the end",
        "length over 1 MiB",
        "not json",
        "duplicate key",
        "not an object",
        "unknown key",
        "no files",
        "path in name",
        "size not an integer",
        "content short",
        "content long",
        "negative price",
        "field not text",
    ],
)
def test_the_reader_refuses_a_bad_manifest_and_writes_nothing(sealing_keys, plaintext, code, field):
    data, key = seal_plaintext(sealing_keys, plaintext)
    sink = Collector()

    error = _error(
        open_bid,
        data,
        file_key=key,
        signer=sealing_keys.bob.signing_private.public_key(),
        sink=sink,
    )

    assert (error.code, error.params) == (code, {"field": field})
    assert sink.events == []
    # Without keys the same bid is well formed: only its contents are wrong.
    inspect_bid(data, signer=sealing_keys.bob.signing_private.public_key())
