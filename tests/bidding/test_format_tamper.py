"""Tampering with a sealed bid: every change is detected, each with its precise error code.

Each case is checked twice, as the two readers meet it: the server at upload,
without keys (``inspect``: structure, size, signer, signature), and the
opening, with the file key (``open_sealed``: also the header MAC and every
chunk). ``outcome`` returns the pair of error codes (``"ok"`` if accepted).
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json

import pytest

from bidding.sealing import format as sealing
from bidding.sealing.errors import SealingError
from bidding.sealing.format import CHUNK_SIZE, MAGIC, TAG_SIZE
from tests.bidding.conftest import Collector, plaintext_of, seal_plaintext

FULL = CHUNK_SIZE + TAG_SIZE


def _code(call, *args, **kwargs) -> str:
    try:
        call(*args, **kwargs)
    except SealingError as error:
        return error.code
    return "ok"


def outcome(data: bytes, *, file_key: bytes, signer, size: int | None = None) -> tuple[str, str]:
    size = len(data) if size is None else size
    inspected = _code(sealing.inspect, io.BytesIO(data), size, signer_public_key=signer)
    opened = _code(
        sealing.open_sealed,
        io.BytesIO(data),
        size,
        file_key=file_key,
        signer_public_key=signer,
        sink=Collector(),
    )
    return inspected, opened


def chunk_error(data: bytes, *, file_key: bytes, signer) -> SealingError:
    with pytest.raises(SealingError) as caught:
        sealing.open_sealed(
            io.BytesIO(data),
            len(data),
            file_key=file_key,
            signer_public_key=signer,
            sink=Collector(),
        )
    return caught.value


def split(data: bytes) -> tuple[bytes, list[bytes], bytes]:
    """(MAGIC..HMAC, the chunks, SIGNATURE) of a valid bid."""
    header = sealing.read_header(io.BytesIO(data))
    shape = sealing.layout(len(data), header)
    start = header.length
    chunks = []
    for index in range(shape.chunks):
        length = shape.last_chunk_size if index == shape.chunks - 1 else FULL
        chunks.append(data[start : start + length])
        start += length
    return data[: header.length], chunks, data[-64:]


def with_header_json(data: bytes, raw: bytes, mac: bytes | None = None) -> bytes:
    """The bid with its HEADER replaced (and its HMAC, if given); the rest unchanged."""
    header = sealing.read_header(io.BytesIO(data))
    return (
        MAGIC
        + len(raw).to_bytes(4, "big")
        + raw
        + (mac if mac is not None else header.mac)
        + data[header.length :]
    )


def header_doc(data: bytes) -> dict:
    return json.loads(sealing.read_header(io.BytesIO(data)).raw)


def encode(doc: dict) -> bytes:
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()


def test_the_untouched_bids_are_accepted(small_bid, three_chunk_bid):
    for bid in (small_bid, three_chunk_bid):
        assert outcome(bid.data, file_key=bid.file_key(), signer=bid.signer) == ("ok", "ok")


# --- bit flips -------------------------------------------------------------------------


def _expected_for_length_flip(data: bytes, hlen: int) -> tuple[str, str]:
    if not 2 <= hlen <= 65536:
        return ("seal.header_invalid",) * 2
    start = len(MAGIC) + 4
    if start + hlen > len(data):
        return ("seal.truncated",) * 2
    original = int.from_bytes(data[len(MAGIC) : start], "big")
    if hlen > original and not data[start + original : start + hlen].strip(b" \t\r\n"):
        # The header took in HMAC bytes that happen to be JSON white space: still
        # the same JSON, but the HMAC and everything after it moved.
        return ("seal.signature_invalid", "seal.header_mac_invalid")
    # The JSON is cut short or followed by non-space bytes: not one JSON value.
    return ("seal.header_invalid",) * 2


def test_a_flipped_bit_anywhere_in_the_file_is_detected_with_the_code_of_its_region(make_bid):
    bid = make_bid(contents={"a.txt": b"hello"})  # small: every byte is flipped once
    data = bid.data
    header = bid.header
    hlen = len(header.raw)
    json_start, json_end = len(MAGIC) + 4, len(MAGIC) + 4 + hlen
    key = bid.file_key()
    seen_in_json: set[tuple[str, str]] = set()

    for offset in range(len(data)):
        mutated = bytearray(data)
        mutated[offset] ^= 1 << (offset % 8)
        got = outcome(bytes(mutated), file_key=key, signer=bid.signer)
        if offset < len(MAGIC) - 2:
            assert got == ("seal.not_sealed",) * 2, offset
        elif offset < len(MAGIC):
            assert got == ("seal.unsupported_version",) * 2, offset
        elif offset < json_start:
            expected = _expected_for_length_flip(data, int.from_bytes(mutated[21:25], "big"))
            assert got == expected, offset
        elif offset < json_end:
            # Either the JSON no longer follows the rules, or a value changed: then
            # the signature (no keys) and the header MAC (with the key) catch it.
            assert got in {
                ("seal.header_invalid", "seal.header_invalid"),
                ("seal.unsupported_version", "seal.unsupported_version"),
                ("seal.signature_invalid", "seal.header_mac_invalid"),
                ("seal.signer_unknown", "seal.header_mac_invalid"),
            }, (offset, got)
            seen_in_json.add(got)
        elif offset < header.length:
            assert got == ("seal.signature_invalid", "seal.header_mac_invalid"), offset
        elif offset < len(data) - 64:
            assert got == ("seal.signature_invalid", "seal.chunk_invalid"), offset
        else:
            assert got == ("seal.signature_invalid", "seal.signature_invalid"), offset
    assert {
        ("seal.header_invalid", "seal.header_invalid"),
        ("seal.signature_invalid", "seal.header_mac_invalid"),
        ("seal.signer_unknown", "seal.header_mac_invalid"),
    } <= seen_in_json


def test_a_flipped_bit_in_a_later_chunk_names_that_chunk(three_chunk_bid):
    bid = three_chunk_bid
    head, chunks, _ = split(bid.data)
    for index, inside in ((0, 0), (1, 500), (2, -1), (1, FULL - 1)):
        offset = len(head) + index * FULL + (inside if inside >= 0 else len(chunks[index]) + inside)
        mutated = bytearray(bid.data)
        mutated[offset] ^= 0x80
        error = chunk_error(bytes(mutated), file_key=bid.file_key(), signer=bid.signer)
        assert (error.code, error.params) == ("seal.chunk_invalid", {"index": index})


# --- truncation ------------------------------------------------------------------------


def _cuts(bid) -> list[tuple[str, int, tuple[str, str], int | None]]:
    """(name, bytes kept, expected codes, chunk index named by open_sealed)."""
    header = bid.header
    h = header.length
    size = len(bid.data)
    return [
        ("nothing", 0, ("seal.not_sealed",) * 2, None),
        ("inside magic", 10, ("seal.truncated",) * 2, None),
        ("magic only", 21, ("seal.truncated",) * 2, None),
        ("inside length", 23, ("seal.truncated",) * 2, None),
        ("length only", 25, ("seal.truncated",) * 2, None),
        ("inside header", 25 + len(header.raw) // 2, ("seal.truncated",) * 2, None),
        ("inside hmac", h - 1, ("seal.truncated",) * 2, None),
        ("header only", h, ("seal.size_invalid",) * 2, None),
        ("a bare tag", h + TAG_SIZE + 64, ("seal.size_invalid",) * 2, None),
        (
            "one byte of payload",
            h + TAG_SIZE + 1 + 64,
            ("seal.signature_invalid", "seal.chunk_invalid"),
            0,
        ),
        ("end of chunk 0", h + FULL, ("seal.signature_invalid", "seal.chunk_invalid"), 0),
        (
            "chunk 0 and 64 bytes",
            h + FULL + 64,
            ("seal.signature_invalid", "seal.chunk_invalid"),
            0,
        ),
        ("end of chunk 1", h + 2 * FULL, ("seal.signature_invalid", "seal.chunk_invalid"), 1),
        (
            "chunk 1 and 64 bytes",
            h + 2 * FULL + 64,
            ("seal.signature_invalid", "seal.chunk_invalid"),
            1,
        ),
        (
            "a bare tag after chunk 1",
            h + 2 * FULL + TAG_SIZE + 64,
            ("seal.size_invalid",) * 2,
            None,
        ),
        (
            "inside chunk 2",
            h + 2 * FULL + 1000,
            ("seal.signature_invalid", "seal.chunk_invalid"),
            2,
        ),
        ("no signature", size - 64, ("seal.signature_invalid", "seal.chunk_invalid"), 2),
        ("last byte", size - 1, ("seal.signature_invalid", "seal.chunk_invalid"), 2),
    ]


def test_a_bid_cut_short_anywhere_is_refused(three_chunk_bid):
    bid = three_chunk_bid
    key = bid.file_key()
    assert bid.result.chunks == 3
    for name, kept, expected, index in _cuts(bid):
        cut = bid.data[:kept]
        assert outcome(cut, file_key=key, signer=bid.signer) == expected, name
        if index is not None:
            assert chunk_error(cut, file_key=key, signer=bid.signer).params == {"index": index}, (
                name
            )


def test_dropping_the_final_chunk_at_a_chunk_boundary_is_detected_by_the_final_flag(
    three_chunk_bid,
):
    bid = three_chunk_bid
    head, chunks, signature = split(bid.data)
    dropped = head + chunks[0] + chunks[1] + signature

    assert outcome(dropped, file_key=bid.file_key(), signer=bid.signer) == (
        "seal.signature_invalid",
        "seal.chunk_invalid",
    )
    # Chunk 1 was sealed as "not final"; read as the last chunk, it must be final.
    error = chunk_error(dropped, file_key=bid.file_key(), signer=bid.signer)
    assert error.params == {"index": 1}


def test_a_stream_ending_before_the_declared_size_is_a_truncation(three_chunk_bid):
    bid = three_chunk_bid
    for kept in (bid.header.length + 10, bid.header.length + FULL + 5, len(bid.data) - 1):
        assert outcome(
            bid.data[:kept], file_key=bid.file_key(), signer=bid.signer, size=len(bid.data)
        ) == ("seal.truncated", "seal.truncated")


def test_bytes_appended_after_the_signature_are_detected(small_bid):
    bid = small_bid
    assert outcome(bid.data + b"\x00" * 100, file_key=bid.file_key(), signer=bid.signer) == (
        "seal.signature_invalid",
        "seal.chunk_invalid",
    )


# --- reorder, duplicate, splice --------------------------------------------------------


def test_reordered_chunks_are_detected(three_chunk_bid):
    bid = three_chunk_bid
    head, chunks, signature = split(bid.data)
    swapped = head + chunks[1] + chunks[0] + chunks[2] + signature

    assert outcome(swapped, file_key=bid.file_key(), signer=bid.signer) == (
        "seal.signature_invalid",
        "seal.chunk_invalid",
    )
    assert chunk_error(swapped, file_key=bid.file_key(), signer=bid.signer).params == {"index": 0}


@pytest.mark.parametrize(
    "order, index",
    [((0, 0, 2), 1), ((0, 0, 1, 2), 1), ((0, 1, 1, 2), 2), ((0, 1, 2, 2), 2)],
    ids=["chunk 0 over chunk 1", "chunk 0 twice", "chunk 1 twice", "final chunk twice"],
)
def test_duplicated_chunks_are_detected(three_chunk_bid, order, index):
    bid = three_chunk_bid
    head, chunks, signature = split(bid.data)
    duplicated = head + b"".join(chunks[i] for i in order) + signature

    assert outcome(duplicated, file_key=bid.file_key(), signer=bid.signer) == (
        "seal.signature_invalid",
        "seal.chunk_invalid",
    )
    assert chunk_error(duplicated, file_key=bid.file_key(), signer=bid.signer).params == {
        "index": index
    }


def test_a_chunk_spliced_from_another_bid_is_detected(three_chunk_bid, make_bid):
    bid = three_chunk_bid
    other = make_bid(contents=bid.contents)  # same bidder, lot and files; another file key
    head, chunks, signature = split(bid.data)
    _, other_chunks, _ = split(other.data)
    assert len(other_chunks[1]) == len(chunks[1])
    spliced = head + chunks[0] + other_chunks[1] + chunks[2] + signature

    assert outcome(spliced, file_key=bid.file_key(), signer=bid.signer) == (
        "seal.signature_invalid",
        "seal.chunk_invalid",
    )
    assert chunk_error(spliced, file_key=bid.file_key(), signer=bid.signer).params == {"index": 1}


def _two_chunk_plaintext(fill: bytes) -> bytes:
    manifest = {
        "summary": {"price": "100.00", "duration_days": 30, "quality": "合格", "fields": {}},
        "files": [{"name": "a.bin", "size": CHUNK_SIZE + 1000, "media_type": ""}],
    }
    return plaintext_of(manifest, fill * (CHUNK_SIZE + 1000))


def test_a_chunk_from_a_bid_with_the_same_key_material_is_detected_by_the_header_digest(
    sealing_keys,
):
    # Same file key and nonce (so the same payload key) but another header: the
    # wrapped keys differ (RSA-OAEP is randomised). The chunks' associated data
    # is the header digest, so they do not move between the two.
    file_key, nonce = b"\x11" * 32, b"\x22" * 16
    first, _ = seal_plaintext(
        sealing_keys, _two_chunk_plaintext(b"a"), file_key=file_key, nonce=nonce
    )
    second, _ = seal_plaintext(
        sealing_keys, _two_chunk_plaintext(b"b"), file_key=file_key, nonce=nonce
    )
    head, chunks, signature = split(first)
    _, other_chunks, _ = split(second)
    spliced = head + chunks[0] + other_chunks[1] + signature
    signer = sealing_keys.bob.signing_private.public_key()

    assert outcome(spliced, file_key=file_key, signer=signer) == (
        "seal.signature_invalid",
        "seal.chunk_invalid",
    )
    assert chunk_error(spliced, file_key=file_key, signer=signer).params == {"index": 1}


def test_a_chunk_from_a_bid_with_the_very_same_header_is_caught_by_the_signature(sealing_keys):
    # The one splice the chunk layer cannot see: identical header bytes and file
    # key (only the bidder can make this). The signature over the payload hash can.
    file_key, nonce = b"\x33" * 32, b"\x44" * 16
    first, _ = seal_plaintext(
        sealing_keys, _two_chunk_plaintext(b"a"), file_key=file_key, nonce=nonce
    )
    header = sealing.read_header(io.BytesIO(first))
    out = io.BytesIO()
    plaintext = _two_chunk_plaintext(b"b")
    sealing.write_sealed(
        out,
        header_json=header.raw,
        file_key=file_key,
        plaintext=io.BytesIO(plaintext),
        plaintext_size=len(plaintext),
        signing_key=sealing_keys.bob.signing_private,
    )
    head, chunks, signature = split(first)
    _, other_chunks, _ = split(out.getvalue())
    spliced = head + chunks[0] + other_chunks[1] + signature

    assert outcome(
        spliced, file_key=file_key, signer=sealing_keys.bob.signing_private.public_key()
    ) == (
        "seal.signature_invalid",
        "seal.signature_invalid",
    )


# --- recipient stanzas -----------------------------------------------------------------


def test_swapping_the_two_stanzas_is_refused_as_a_malformed_header(small_bid):
    bid = small_bid
    doc = header_doc(bid.data)
    doc["recipients"].reverse()
    swapped = with_header_json(bid.data, encode(doc))
    with pytest.raises(SealingError) as caught:
        sealing.read_header(io.BytesIO(swapped))
    assert caught.value.code == "seal.header_invalid"
    assert caught.value.params == {"field": "recipients[0].role"}
    assert (
        outcome(swapped, file_key=bid.file_key(), signer=bid.signer) == ("seal.header_invalid",) * 2
    )


def test_swapping_the_stanzas_with_their_roles_relabelled_is_detected(small_bid, sealing_keys):
    bid = small_bid
    doc = header_doc(bid.data)
    first, second = doc["recipients"]
    doc["recipients"] = [{**second, "role": "bidder"}, {**first, "role": "opening"}]
    swapped = with_header_json(bid.data, encode(doc))

    assert outcome(swapped, file_key=bid.file_key(), signer=bid.signer) == (
        "seal.signature_invalid",
        "seal.header_mac_invalid",
    )
    header = sealing.read_header(io.BytesIO(swapped))
    with pytest.raises(SealingError) as caught:
        sealing.unwrap_file_key(header, "bidder", sealing_keys.bob.encryption_private)
    assert caught.value.code == "seal.key_invalid"


def test_swapping_only_the_wrapped_keys_is_detected(small_bid, sealing_keys):
    bid = small_bid
    doc = header_doc(bid.data)
    first, second = doc["recipients"]
    first["wrapped_key"], second["wrapped_key"] = second["wrapped_key"], first["wrapped_key"]
    swapped = with_header_json(bid.data, encode(doc))

    assert outcome(swapped, file_key=bid.file_key(), signer=bid.signer) == (
        "seal.signature_invalid",
        "seal.header_mac_invalid",
    )
    header = sealing.read_header(io.BytesIO(swapped))
    with pytest.raises(SealingError) as caught:
        sealing.unwrap_file_key(header, "bidder", sealing_keys.bob.encryption_private)
    assert (caught.value.code, caught.value.params) == ("seal.key_invalid", {})


def test_a_stanza_taken_from_another_bid_is_detected(small_bid, make_bid, sealing_keys):
    bid = small_bid
    other = make_bid()  # same bidder and lot: the same two public keys, another file key
    doc = header_doc(bid.data)
    doc["recipients"][1] = header_doc(other.data)["recipients"][1]
    grafted = with_header_json(bid.data, encode(doc))
    header = sealing.read_header(io.BytesIO(grafted))
    # The grafted stanza unwraps fine: to the other bid's file key.
    other_key = sealing.unwrap_file_key(header, "opening", sealing_keys.opening)
    assert other_key == other.file_key() != bid.file_key()

    assert outcome(grafted, file_key=bid.file_key(), signer=bid.signer) == (
        "seal.signature_invalid",
        "seal.header_mac_invalid",
    )
    assert outcome(grafted, file_key=other_key, signer=bid.signer) == (
        "seal.signature_invalid",
        "seal.header_mac_invalid",
    )


# --- header edits and signatures -------------------------------------------------------


@pytest.mark.parametrize(
    "field, value",
    [
        ("tender", "SB2026000002"),
        ("lot", 2),
        ("bidder", None),
        ("nonce", "AAAAAAAAAAAAAAAAAAAAAA=="),
    ],
)
def test_editing_tender_lot_bidder_or_nonce_in_the_header_is_detected(
    small_bid, sealing_keys, field, value
):
    bid = small_bid
    doc = header_doc(bid.data)
    doc[field] = value if value is not None else sealing_keys.carol.organisation
    edited = with_header_json(bid.data, encode(doc))
    assert getattr(sealing.read_header(io.BytesIO(edited)), field) != getattr(bid.header, field)

    assert outcome(edited, file_key=bid.file_key(), signer=bid.signer) == (
        "seal.signature_invalid",
        "seal.header_mac_invalid",
    )


def test_a_header_edit_with_the_mac_recomputed_still_breaks_every_chunk(small_bid):
    # Someone holding the file key (the bidder, or anyone after the opening) can
    # recompute the MAC; the chunks are bound to the old header digest.
    bid = small_bid
    doc = header_doc(bid.data)
    doc["lot"] = 2
    raw = encode(doc)
    prefix = MAGIC + len(raw).to_bytes(4, "big") + raw
    mac = hmac.new(sealing.mac_key(bid.file_key()), prefix, "sha256").digest()
    edited = with_header_json(bid.data, raw, mac)

    sealing.verify_file_key(sealing.read_header(io.BytesIO(edited)), bid.file_key())
    assert outcome(edited, file_key=bid.file_key(), signer=bid.signer) == (
        "seal.signature_invalid",
        "seal.chunk_invalid",
    )


def test_a_bid_sealed_for_another_lot_shows_that_lot_to_the_server(make_bid, sealing_keys):
    bid = make_bid(lot=2, opening=sealing_keys.opening_lot2)
    inspection = sealing.inspect(io.BytesIO(bid.data), len(bid.data), signer_public_key=bid.signer)
    assert (inspection.header.lot, inspection.header.opening_fingerprint) == (
        2,
        sealing.fingerprint(sealing_keys.opening_lot2),
    )
    # Lot 1's opening key cannot open it.
    with pytest.raises(SealingError) as caught:
        sealing.unwrap_file_key(bid.header, "opening", sealing_keys.opening)
    assert caught.value.code == "seal.key_invalid"


def test_a_wrong_signer_key_is_refused(small_bid, sealing_keys):
    bid = small_bid
    carol = sealing_keys.carol.signing_private.public_key()
    assert outcome(bid.data, file_key=bid.file_key(), signer=carol) == ("seal.signer_unknown",) * 2


def test_a_bid_re_signed_by_another_organisation_is_caught_by_the_lookup_and_the_mac(
    small_bid, sealing_keys
):
    # Carol names her own signing key in bob's bid and signs it. A lookup that
    # returns only keys registered to the header's bidder (bob) refuses it; the
    # header MAC refuses it at the opening whatever the lookup.
    bid = small_bid
    carol = sealing_keys.carol
    doc = header_doc(bid.data)
    doc["signer"]["fingerprint"] = carol.signing_fingerprint
    raw = encode(doc)
    head, chunks, _ = split(bid.data)
    header = sealing.read_header(io.BytesIO(with_header_json(bid.data, raw)))
    payload = b"".join(chunks)
    message = b"sunbid/v1 signature\n" + header.digest + hashlib.sha256(payload).digest()
    signature = sealing._sign(carol.signing_private, message)  # a valid, low-s signature
    forged = header.prefix + header.mac + payload + signature
    registered = {bid.keyset.organisation: {bid.keyset.signing_fingerprint: bid.signer}}

    def bobs_keys(fingerprint: str):
        return registered[header.bidder].get(fingerprint)

    assert outcome(forged, file_key=bid.file_key(), signer=bobs_keys) == (
        "seal.signer_unknown",
        "seal.header_mac_invalid",
    )
    # A careless lookup (any organisation's key) lets it through inspection: the
    # server must not use one.
    assert outcome(forged, file_key=bid.file_key(), signer=carol.signing_private.public_key()) == (
        "ok",
        "seal.header_mac_invalid",
    )


def test_a_signature_taken_from_another_bid_is_refused(small_bid, make_bid):
    bid = small_bid
    other = make_bid()
    borrowed = bid.data[:-64] + other.data[-64:]
    assert outcome(borrowed, file_key=bid.file_key(), signer=bid.signer) == (
        "seal.signature_invalid",
        "seal.signature_invalid",
    )


def test_a_signature_of_zeros_is_refused(small_bid):
    bid = small_bid
    zeroed = bid.data[:-64] + bytes(64)
    assert outcome(zeroed, file_key=bid.file_key(), signer=bid.signer) == (
        "seal.signature_invalid",
        "seal.signature_invalid",
    )
