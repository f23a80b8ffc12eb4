"""Random access to a sealed bid's plaintext: ``open_range`` decrypts only the chunks under a byte range.

Most tests shrink the chunk size to 16 bytes (as the fuzz run does with 256),
so that every byte range of a plaintext of a few chunks — starting and ending
inside a chunk, on a boundary, across boundaries, empty, in the short final
chunk — can be read and compared with the plaintext it came from. The last
tests use the real 1 MiB chunks and real bids.
"""

from __future__ import annotations

import functools
import io
import os
from typing import Any

import pytest

from bidding.sealing import format as sealing
from bidding.sealing.errors import SealingError
from tests.bidding.conftest import Collector, seal_plaintext

SMALL_CHUNK = 16
FULL = SMALL_CHUNK + sealing.TAG_SIZE


@pytest.fixture
def small_chunks(monkeypatch):
    monkeypatch.setattr(sealing, "CHUNK_SIZE", SMALL_CHUNK)
    return SMALL_CHUNK


class SpyStream(io.BytesIO):
    """A seekable stream that records every read: (position, bytes asked for)."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.reads: list[tuple[int, int]] = []

    def readinto(self, buffer: Any) -> int:
        self.reads.append((self.tell(), len(memoryview(buffer))))
        return super().readinto(buffer)

    def read(self, size: int | None = -1) -> bytes:
        self.reads.append((self.tell(), -1 if size is None else size))
        return super().read(size)


def chunk_reads(stream: SpyStream, header: sealing.Header) -> list[int]:
    """The chunks the reader fetched, in order: reads are whole chunks at their fixed places."""
    indices = []
    for position, _length in stream.reads:
        offset = position - header.length
        assert offset >= 0 and offset % (header.chunk_size + sealing.TAG_SIZE) == 0, position
        indices.append(offset // (header.chunk_size + sealing.TAG_SIZE))
    return indices


def open_at(data: bytes, file_key: bytes, offset: int, length: int) -> sealing.PlaintextRange:
    return sealing.open_range(
        io.BytesIO(data), len(data), file_key=file_key, offset=offset, length=length
    )


def sealed(sealing_keys, size: int, **kwargs: Any) -> tuple[bytes, bytes, bytes]:
    """A sealed file of ``size`` plaintext bytes (all different): file, file key, plaintext."""
    plaintext = bytes((index * 7 + 3) % 251 for index in range(size))
    data, file_key = seal_plaintext(sealing_keys, plaintext, **kwargs)
    return data, file_key, plaintext


@pytest.mark.parametrize(
    "size",
    [1, SMALL_CHUNK - 1, SMALL_CHUNK, SMALL_CHUNK + 1, 3 * SMALL_CHUNK, 4 * SMALL_CHUNK + 5],
    ids=["one byte", "chunk-1", "one full chunk", "chunk+1", "three full chunks", "short last"],
)
def test_every_byte_range_reads_back_exactly_the_plaintext(small_chunks, sealing_keys, size):
    data, file_key, plaintext = sealed(sealing_keys, size)
    checked = 0
    for start in range(size + 1):
        for end in range(start, size + 1):
            with open_at(data, file_key, start, end - start) as reader:
                assert reader.read() == plaintext[start:end], (start, end)
            checked += 1
    assert checked == (size + 1) * (size + 2) // 2


def test_a_range_decrypts_exactly_the_chunks_that_cover_it_each_once(small_chunks, sealing_keys):
    size = 5 * SMALL_CHUNK + 3  # six chunks, the last one three bytes
    data, file_key, plaintext = sealed(sealing_keys, size)
    header = sealing.read_header(io.BytesIO(data))
    for start in range(size + 1):
        for end in range(start, size + 1):
            stream = SpyStream(data)
            reader = sealing.open_range(
                stream,
                len(data),
                header=header,
                file_key=file_key,
                offset=start,
                length=end - start,
            )
            # Byte by byte, the slowest way through: still one fetch per chunk.
            got = b"".join(iter(functools.partial(reader.read, 1), b""))
            assert got == plaintext[start:end]
            expected = list(range(start // SMALL_CHUNK, (end - 1) // SMALL_CHUNK + 1))
            assert chunk_reads(stream, header) == (expected if end > start else [])


def test_an_empty_range_reads_nothing_at_all(small_chunks, sealing_keys):
    data, file_key, _plaintext = sealed(sealing_keys, 3 * SMALL_CHUNK)
    header = sealing.read_header(io.BytesIO(data))
    for offset in (0, SMALL_CHUNK, 3 * SMALL_CHUNK):
        stream = SpyStream(data)
        reader = sealing.open_range(
            stream, len(data), header=header, file_key=file_key, offset=offset, length=0
        )
        assert reader.read() == b""
        assert reader.read(10) == b""
        assert reader.readinto(bytearray(4)) == 0
        assert stream.reads == []


def test_a_tampered_chunk_is_detected_by_every_range_that_covers_it_and_by_no_other(
    small_chunks, sealing_keys
):
    size = 4 * SMALL_CHUNK + 5
    data, file_key, plaintext = sealed(sealing_keys, size)
    header = sealing.read_header(io.BytesIO(data))
    for tampered in range(5):
        altered = bytearray(data)
        altered[header.length + tampered * FULL + 3] ^= 0x01
        for start in range(0, size + 1, 3):
            for end in range(start, size + 1, 2):
                reader = open_at(bytes(altered), file_key, start, end - start)
                covers = (
                    end > start and start // SMALL_CHUNK <= tampered <= (end - 1) // SMALL_CHUNK
                )
                if covers:
                    with pytest.raises(SealingError) as refused:
                        reader.read()
                    assert refused.value.code == "seal.chunk_invalid"
                    assert refused.value.params == {"index": tampered}
                else:
                    assert reader.read() == plaintext[start:end]


def test_a_tampered_tag_is_detected(small_chunks, sealing_keys):
    data, file_key, _plaintext = sealed(sealing_keys, 2 * SMALL_CHUNK + 1)
    header = sealing.read_header(io.BytesIO(data))
    altered = bytearray(data)
    altered[header.length + FULL - 1] ^= 0x80  # the last byte of chunk 0's tag
    with pytest.raises(SealingError) as refused:
        open_at(bytes(altered), file_key, 0, 1).read()
    assert refused.value.code == "seal.chunk_invalid"


def test_reordered_chunks_are_detected(small_chunks, sealing_keys):
    data, file_key, plaintext = sealed(sealing_keys, 4 * SMALL_CHUNK)
    header = sealing.read_header(io.BytesIO(data))
    first, second = header.length + FULL, header.length + 2 * FULL
    swapped = bytearray(data)
    swapped[first:second], swapped[second : second + FULL] = (
        data[second : second + FULL],
        data[first:second],
    )
    for chunk in (1, 2):
        with pytest.raises(SealingError) as refused:
            open_at(bytes(swapped), file_key, chunk * SMALL_CHUNK, 1).read()
        assert refused.value.params == {"index": chunk}
    # The chunks not moved still read.
    assert open_at(bytes(swapped), file_key, 0, SMALL_CHUNK).read() == plaintext[:SMALL_CHUNK]


def test_a_chunk_spliced_from_another_bid_with_the_same_key_material_is_detected(
    small_chunks, sealing_keys
):
    key, nonce = os.urandom(32), os.urandom(16)
    ours, _key, plaintext = sealed(sealing_keys, 3 * SMALL_CHUNK, file_key=key, nonce=nonce)
    theirs, _key, _other = sealed(
        sealing_keys, 3 * SMALL_CHUNK, file_key=key, nonce=nonce, tender="SB2026000002"
    )
    header = sealing.read_header(io.BytesIO(ours))
    other = sealing.read_header(io.BytesIO(theirs))
    spliced = bytearray(ours)
    at, there = header.length + FULL, other.length + FULL
    spliced[at : at + FULL] = theirs[there : there + FULL]
    with pytest.raises(SealingError) as refused:
        open_at(bytes(spliced), key, SMALL_CHUNK, SMALL_CHUNK).read()
    assert refused.value.code == "seal.chunk_invalid"
    assert open_at(bytes(spliced), key, 0, SMALL_CHUNK).read() == plaintext[:SMALL_CHUNK]


def test_the_last_chunk_reads_only_as_the_final_one(small_chunks, sealing_keys):
    data, file_key, plaintext = sealed(sealing_keys, 3 * SMALL_CHUNK + 4)
    header = sealing.read_header(io.BytesIO(data))
    assert open_at(data, file_key, 3 * SMALL_CHUNK, 4).read() == plaintext[-4:]
    # Cut after chunk 2: chunk 2, sealed as not final, is now the last one and fails.
    cut = data[: header.length + 3 * FULL] + data[-sealing.SIGNATURE_SIZE :]
    with pytest.raises(SealingError) as refused:
        open_at(cut, file_key, 2 * SMALL_CHUNK, 1).read()
    assert refused.value.params == {"index": 2}
    assert open_at(cut, file_key, 0, 2 * SMALL_CHUNK).read() == plaintext[: 2 * SMALL_CHUNK]


def test_a_stream_shorter_than_the_size_given_is_reported_as_truncated(small_chunks, sealing_keys):
    data, file_key, _plaintext = sealed(sealing_keys, 3 * SMALL_CHUNK + 4)
    header = sealing.read_header(io.BytesIO(data))
    short = io.BytesIO(data[: header.length + 2 * FULL + 5])
    reader = sealing.open_range(short, len(data), file_key=file_key, offset=0, length=3 * 16)
    assert len(reader.read(2 * SMALL_CHUNK)) == 2 * SMALL_CHUNK
    with pytest.raises(SealingError) as refused:
        reader.read(1)
    assert refused.value.code == "seal.truncated"


def test_the_file_key_is_checked_against_the_header_mac_before_any_chunk(
    small_chunks, sealing_keys
):
    data, _file_key, _plaintext = sealed(sealing_keys, 2 * SMALL_CHUNK)
    stream = SpyStream(data)
    header = sealing.read_header(io.BytesIO(data))
    with pytest.raises(SealingError) as refused:
        sealing.open_range(
            stream, len(data), header=header, file_key=os.urandom(32), offset=0, length=1
        )
    assert refused.value.code == "seal.header_mac_invalid"
    assert stream.reads == []
    with pytest.raises(SealingError) as short:
        sealing.open_range(io.BytesIO(data), len(data), file_key=b"short", offset=0, length=1)
    assert short.value.code == "seal.key_invalid"


@pytest.mark.parametrize(
    ("offset", "length"), [(-1, 1), (0, -1), (0, 2 * SMALL_CHUNK + 1), (2 * SMALL_CHUNK + 1, 0)]
)
def test_a_range_outside_the_plaintext_is_a_programming_error(
    small_chunks, sealing_keys, offset, length
):
    data, file_key, _plaintext = sealed(sealing_keys, 2 * SMALL_CHUNK)
    with pytest.raises(ValueError, match="not inside the plaintext"):
        open_at(data, file_key, offset, length)


def test_seek_tell_readinto_and_close_behave_like_a_file(small_chunks, sealing_keys):
    data, file_key, plaintext = sealed(sealing_keys, 5 * SMALL_CHUNK + 7)
    start, length = 9, 4 * SMALL_CHUNK
    reader = open_at(data, file_key, start, length)
    expected = plaintext[start : start + length]
    assert (reader.readable(), reader.seekable(), reader.writable()) == (True, True, False)
    assert reader.seek(20) == 20 and reader.tell() == 20
    assert reader.read(5) == expected[20:25]
    assert reader.seek(-3, io.SEEK_CUR) == 22
    buffer = bytearray(30)
    assert reader.readinto(buffer) == 30 and bytes(buffer) == expected[22:52]
    assert reader.seek(-6, io.SEEK_END) == length - 6
    assert reader.read() == expected[-6:]
    assert reader.read(1) == b""
    assert reader.seek(length + 10) == length + 10 and reader.read() == b""
    reader.seek(0)
    assert reader.readall() == expected
    with pytest.raises(ValueError):
        reader.seek(-1)
    with pytest.raises(ValueError):
        reader.seek(0, 7)
    buffered = io.BufferedReader(open_at(data, file_key, start, length), buffer_size=8)
    assert buffered.read(3) + buffered.read() == expected
    reader.close()
    with pytest.raises(ValueError):
        reader.read(1)


def test_a_range_reader_may_own_its_stream_and_start_inside_a_larger_one(
    small_chunks, sealing_keys
):
    data, file_key, plaintext = sealed(sealing_keys, 3 * SMALL_CHUNK)
    stream = io.BytesIO(b"x" * 100 + data + b"y" * 50)
    reader = sealing.open_range(
        stream, len(data), file_key=file_key, offset=5, length=30, start=100, close_stream=True
    )
    assert reader.read() == plaintext[5:35]
    reader.close()
    assert stream.closed


# --- real chunks, real bids ------------------------------------------------------------------------


def test_open_sealed_without_a_sink_verifies_the_bid_and_says_where_each_file_lies(
    three_chunk_bid,
):
    bid = three_chunk_bid
    opened = sealing.open_sealed(
        io.BytesIO(bid.data),
        len(bid.data),
        file_key=bid.file_key(),
        signer_public_key=bid.signer,
        sink=None,
    )
    collector = Collector()
    sealing.open_sealed(
        io.BytesIO(bid.data),
        len(bid.data),
        file_key=bid.file_key(),
        signer_public_key=bid.signer,
        sink=collector,
    )
    assert [entry.name for entry in opened.files] == list(bid.contents)
    assert opened.payload_sha256 == bid.result.payload_sha256
    assert opened.offsets[1] == opened.offsets[0] + opened.files[0].size
    for entry, offset in zip(opened.files, opened.offsets, strict=True):
        reader = open_at(bid.data, bid.file_key(), offset, entry.size)
        assert reader.read() == collector.files[entry.name] == bid.contents[entry.name]


@pytest.mark.parametrize(
    "where", ["flip in the last chunk", "flip in the signature", "cut the last chunk"]
)
def test_open_sealed_without_a_sink_still_refuses_a_tampered_bid(three_chunk_bid, where):
    bid = three_chunk_bid
    data = bytearray(bid.data)
    if where == "flip in the last chunk":
        data[-sealing.SIGNATURE_SIZE - 20] ^= 0x01
    elif where == "flip in the signature":
        data[-5] ^= 0x01
    else:
        del data[-sealing.SIGNATURE_SIZE - 10 : -sealing.SIGNATURE_SIZE]
    with pytest.raises(SealingError) as refused:
        sealing.open_sealed(
            io.BytesIO(bytes(data)),
            len(data),
            file_key=bid.file_key(),
            signer_public_key=bid.signer,
            sink=None,
        )
    expected = (
        "seal.signature_invalid" if where == "flip in the signature" else "seal.chunk_invalid"
    )
    assert refused.value.code == expected


def test_ranges_at_the_real_chunk_boundaries_read_back_exactly(three_chunk_bid):
    bid = three_chunk_bid
    opened = sealing.open_sealed(
        io.BytesIO(bid.data),
        len(bid.data),
        file_key=bid.file_key(),
        signer_public_key=bid.signer,
        sink=None,
    )
    big = bid.contents["工程量清单.xlsx"]
    base = opened.offsets[0]
    chunk = sealing.CHUNK_SIZE
    header = sealing.read_header(io.BytesIO(bid.data))
    for plain_start, plain_end in [
        (chunk - 1, chunk + 1),
        (chunk, chunk),
        (chunk, 2 * chunk),
        (2 * chunk - 5, 2 * chunk + 5),
        (0, base + len(big)),
    ]:
        stream = SpyStream(bid.data)
        reader = sealing.open_range(
            stream,
            len(bid.data),
            header=header,
            file_key=bid.file_key(),
            offset=plain_start,
            length=plain_end - plain_start,
        )
        got = reader.read()
        whole = got if plain_start >= base else got[base - plain_start :]
        assert whole == big[max(0, plain_start - base) : plain_end - base]
        expected = list(range(plain_start // chunk, (plain_end - 1) // chunk + 1))
        assert chunk_reads(stream, header) == (expected if plain_end > plain_start else [])
