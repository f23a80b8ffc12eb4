"""Property-based tests of the sealed bid readers (hypothesis).

Whatever bytes arrive, ``read_header``, ``inspect`` and ``open_sealed`` either
accept them or raise ``SealingError``: never another exception (a server
error at upload), never a hang. A mutated bid is never accepted. Valid
summaries and files survive a round trip unchanged. The long fuzz run of the
same readers is documented in docs/sealing.md §17 (scripts/fuzz_sealing.py).
"""

from __future__ import annotations

import io
import json
from decimal import Decimal

from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from bidding.sealing import format as sealing
from bidding.sealing.errors import SealingError
from bidding.sealing.format import MAGIC
from bidding.sealing.manifest import FileEntry
from tests.bidding.conftest import Collector, plaintext_of, seal_plaintext

SETTINGS = {
    "deadline": None,
    "database": None,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large],
}


def _read_all(data: bytes, size: int, *, file_key: bytes, signer) -> list[str]:
    """Run the three readers; the outcome of each ("ok" or the error code)."""
    outcomes = []
    for read in (
        lambda: sealing.read_header(io.BytesIO(data)),
        lambda: sealing.inspect(io.BytesIO(data), size, signer_public_key=signer),
        lambda: sealing.open_sealed(
            io.BytesIO(data), size, file_key=file_key, signer_public_key=signer, sink=Collector()
        ),
    ):
        try:
            read()
        except SealingError as error:
            assert error.code.startswith("seal."), error.code
            outcomes.append(error.code)
        else:
            outcomes.append("ok")
    return outcomes


def _headerish() -> st.SearchStrategy[bytes]:
    """Bytes that get past the magic: a length and something JSON-like, or anything."""
    json_values = st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
        lambda children: (
            st.lists(children, max_size=4)
            | st.dictionaries(st.text(max_size=12), children, max_size=6)
        ),
        max_leaves=20,
    )
    as_json = json_values.map(lambda value: json.dumps(value).encode())
    body = st.one_of(st.binary(max_size=300), as_json)
    return st.builds(
        lambda length, raw, rest: MAGIC + length.to_bytes(4, "big") + raw + rest,
        st.one_of(st.integers(0, 70_000), st.just(-1)).map(lambda n: n % 2**32),
        body,
        st.binary(max_size=300),
    )


@hypothesis_settings(max_examples=150, **SETTINGS)
@given(
    data=st.one_of(
        st.binary(max_size=2000), st.binary(max_size=500).map(MAGIC.__add__), _headerish()
    ),
    slack=st.integers(-100, 100),
)
def test_arbitrary_bytes_raise_nothing_but_sealing_errors(small_bid, data, slack):
    size = max(0, len(data) + slack)
    outcomes = _read_all(data, size, file_key=small_bid.file_key(), signer=small_bid.signer)
    assert outcomes[1:] != ["ok", "ok"]


def _mutations(length: int) -> st.SearchStrategy[list[tuple]]:
    position = st.integers(0, length - 1)
    return st.lists(
        st.one_of(
            st.tuples(st.just("flip"), position, st.integers(0, 7)),
            st.tuples(st.just("set"), position, st.integers(0, 255)),
            st.tuples(st.just("insert"), position, st.binary(min_size=1, max_size=20)),
            st.tuples(st.just("delete"), position, st.integers(1, 40)),
            st.tuples(st.just("truncate"), position, st.just(0)),
            st.tuples(st.just("repeat"), position, st.integers(1, 200)),
        ),
        min_size=1,
        max_size=4,
    )


def _apply(data: bytes, mutations: list[tuple]) -> bytes:
    buffer = bytearray(data)
    for kind, position, argument in mutations:
        position = min(position, max(len(buffer) - 1, 0))
        if kind == "flip" and buffer:
            buffer[position] ^= 1 << argument
        elif kind == "set" and buffer:
            buffer[position] = argument
        elif kind == "insert":
            buffer[position:position] = argument
        elif kind == "delete":
            del buffer[position : position + argument]
        elif kind == "truncate":
            del buffer[position:]
        elif kind == "repeat":
            buffer[position:position] = buffer[position : position + argument]
    return bytes(buffer)


@hypothesis_settings(max_examples=150, **SETTINGS)
@given(data=st.data())
def test_a_mutated_bid_is_never_accepted_and_never_raises_anything_else(small_bid, data):
    mutations = data.draw(_mutations(len(small_bid.data)))
    mutated = _apply(small_bid.data, mutations)

    outcomes = _read_all(
        mutated, len(mutated), file_key=small_bid.file_key(), signer=small_bid.signer
    )

    if mutated != small_bid.data:
        assert outcomes[1] != "ok" and outcomes[2] != "ok", (mutations, outcomes)
    else:
        assert outcomes == ["ok", "ok", "ok"]


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=15), children, max_size=5)
    ),
    max_leaves=25,
)


def _manifest_like() -> st.SearchStrategy[object]:
    """Mostly-right manifests: each part either right-shaped or an arbitrary JSON value."""
    file_entry = st.fixed_dictionaries(
        {
            "name": st.one_of(st.text(min_size=0, max_size=20), _json_values),
            "size": st.one_of(st.integers(-5, 50), _json_values),
            "media_type": st.one_of(st.text(max_size=10), _json_values),
        }
    )
    summary = st.fixed_dictionaries(
        {
            "price": st.one_of(
                st.from_regex(r"-?[0-9]{0,16}(\.[0-9]{0,3})?", fullmatch=True), _json_values
            ),
            "duration_days": st.one_of(st.integers(-10, 4000), _json_values),
            "quality": st.one_of(st.text(max_size=5), _json_values),
            "fields": st.one_of(
                st.dictionaries(st.text(max_size=8), st.text(max_size=8), max_size=3), _json_values
            ),
        }
    )
    return st.one_of(
        _json_values,
        st.fixed_dictionaries({"summary": summary, "files": st.lists(file_entry, max_size=4)}),
    )


@hypothesis_settings(max_examples=100, **SETTINGS)
@given(
    manifest=_manifest_like(),
    content=st.binary(max_size=200),
    raw_plaintext=st.one_of(st.none(), st.binary(min_size=1, max_size=300)),
)
def test_any_plaintext_behind_valid_encryption_raises_nothing_but_sealing_errors(
    sealing_keys, manifest, content, raw_plaintext
):
    plaintext = raw_plaintext if raw_plaintext is not None else plaintext_of(manifest, content)
    data, file_key = seal_plaintext(sealing_keys, plaintext)
    sink = Collector()
    try:
        opened = sealing.open_sealed(
            io.BytesIO(data),
            len(data),
            file_key=file_key,
            signer_public_key=sealing_keys.bob.signing_private.public_key(),
            sink=sink,
        )
    except SealingError as error:
        assert error.code in {"seal.manifest_invalid", "seal.summary_invalid"}
    else:
        # Accepted: the files are exactly the plaintext after the manifest.
        length = int.from_bytes(plaintext[:4], "big")
        assert [name for name, _ in sink.closed] == [entry.name for entry in opened.files]
        assert b"".join(content for _, content in sink.closed) == plaintext[4 + length :]


_names = st.text(min_size=1, max_size=40).filter(lambda name: not set(name) & {"/", "\\", "\x00"})
_prices = st.from_regex(r"[0-9]{1,14}(\.[0-9]{1,2})?", fullmatch=True).filter(
    lambda p: Decimal(p) > 0
)
_summaries = st.fixed_dictionaries(
    {
        "price": _prices,
        "duration_days": st.integers(1, 3650),
        "quality": st.text(min_size=1, max_size=200),
        "fields": st.dictionaries(
            st.from_regex(r"[a-z][a-z0-9_]{0,39}", fullmatch=True),
            st.text(max_size=500),
            max_size=8,
        ),
    }
)


@hypothesis_settings(max_examples=40, **SETTINGS)
@given(
    summary=_summaries,
    files=st.lists(
        st.tuples(_names, st.binary(max_size=3000), st.text(max_size=100)),
        min_size=1,
        max_size=6,
        unique_by=lambda item: item[0],
    ),
)
def test_valid_summaries_and_files_round_trip_unchanged(sealing_keys, summary, files):
    bob = sealing_keys.bob
    out = io.BytesIO()
    result = sealing.seal(
        out,
        tender="SB2026000001",
        lot=1,
        bidder=bob.organisation,
        bidder_key=bob.encryption_private.public_key(),
        opening_key=sealing_keys.opening.public_key(),
        signing_key=bob.signing_private,
        summary=summary,
        files=[
            (FileEntry(name, len(data), media), io.BytesIO(data)) for name, data, media in files
        ],
    )
    sink = Collector()
    opened = sealing.open_sealed(
        io.BytesIO(out.getvalue()),
        result.size,
        file_key=sealing.unwrap_file_key(result.header, "opening", sealing_keys.opening),
        signer_public_key=bob.signing_private.public_key(),
        sink=sink,
    )
    assert opened.summary == summary
    assert [(entry.name, entry.media_type) for entry in opened.files] == [
        (n, m) for n, _, m in files
    ]
    assert sink.files == {name: data for name, data, _ in files}
