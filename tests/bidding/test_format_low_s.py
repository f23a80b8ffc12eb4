"""ECDSA signatures must be low-s: (r, n - s) is the same signature to a lax verifier, and the format forbids it."""

from __future__ import annotations

import hashlib

import pytest

from bidding.sealing import format as sealing
from bidding.sealing.errors import SealingError
from tests.bidding.conftest import inspect_bid, open_bid

# The order of the P-256 group.
N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def split(data: bytes) -> tuple[int, int]:
    signature = data[-sealing.SIGNATURE_SIZE :]
    return int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")


def with_signature(data: bytes, r: int, s: int) -> bytes:
    return data[: -sealing.SIGNATURE_SIZE] + r.to_bytes(32, "big") + s.to_bytes(32, "big")


def high_s_twin(data: bytes) -> bytes:
    """The same bid with the other one of the two signatures (r, s) and (r, n - s): the high one."""
    r, s = split(data)
    return with_signature(data, r, s if s > N // 2 else N - s)


def test_the_python_writer_always_produces_a_low_s_signature(make_bid):
    # Half of raw ECDSA signatures have a high s: thirty in a row low is no accident.
    for _ in range(30):
        _r, s = split(make_bid(contents={"a.txt": b"x"}).data)
        assert 0 < s <= N // 2


def test_a_high_s_signature_is_refused_by_the_checks_without_keys(small_bid):
    with pytest.raises(SealingError) as refused:
        inspect_bid(high_s_twin(small_bid.data), signer=small_bid.signer)
    assert refused.value.code == "seal.signature_invalid"


def test_a_high_s_signature_is_refused_when_the_bid_is_opened(small_bid):
    with pytest.raises(SealingError) as refused:
        open_bid(
            high_s_twin(small_bid.data), file_key=small_bid.file_key(), signer=small_bid.signer
        )
    assert refused.value.code == "seal.signature_invalid"


def test_the_low_s_original_still_verifies(small_bid):
    r, s = split(small_bid.data)
    low = with_signature(small_bid.data, r, min(s, N - s))
    assert inspect_bid(low, signer=small_bid.signer).sha256 == hashlib.sha256(low).hexdigest()
